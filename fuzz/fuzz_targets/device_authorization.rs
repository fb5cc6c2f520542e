//! RFC 8628 device authorization responses. Input: 2 bytes of status, then the body.
#![no_main]

use latchkey_core::Error;
use latchkey_core::http::Response;
use latchkey_core::token::{Reply, parse_device_authorization_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 1000;
    let body = &data[2..];
    let mut scratch = vec![0u8; body.len()];
    let parsed = parse_device_authorization_response(Response::new(status, body), &mut scratch);
    assert!(!matches!(parsed, Err(Error::BufferTooSmall { .. })));
    match parsed {
        Ok(Reply::Success(d)) => {
            assert_eq!(status, 200);
            assert!(!d.device_code_secret().is_empty());
            let _ = d.device_code::<64>();
            let _ = (
                d.user_code(),
                d.verification_uri(),
                d.verification_uri_complete(),
            );
            let _ = (d.expires_in(), d.interval());
            let dbg = format!("{d:?}");
            // SEC-1: the device code field is redacted. (The code itself may appear by
            // coincidence inside the user code or a URI, which Debug shows, so check the
            // field, not the substring.)
            assert!(dbg.contains("device_code: [redacted]"), "{dbg}");
        }
        Ok(Reply::Error(e)) => {
            assert!(!(200..300).contains(&status));
            let _ = e.to_error();
        }
        Err(_) => {}
    }
});
