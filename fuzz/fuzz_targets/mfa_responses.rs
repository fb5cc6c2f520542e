//! CRM MFA responses: `/oauth/mfa/secret`, the acks (email send, bind, deactivation,
//! forgot password) and the MFA-required token reply. Input: 2 bytes of status, then body.
#![no_main]

use latchkey_core::Error;
use latchkey_core::http::Response;
use latchkey_core::token::{
    Reply, TokenReply, parse_ack_response, parse_mfa_secret_response, parse_token_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 1000;
    let body = &data[2..];
    let resp = Response::new(status, body);

    let mut scratch = vec![0u8; body.len()];
    match parse_mfa_secret_response(resp, &mut scratch) {
        Ok(Reply::Success(s)) => {
            assert_eq!(status, 200);
            assert!(!s.secret().is_empty());
            // SEC-1: the Debug text is fixed, whatever the secret (a secret may of course
            // happen to be a substring of that fixed text).
            assert_eq!(format!("{s:?}"), "MfaSecretResponse([redacted])");
        }
        Ok(_) => assert!(!(200..300).contains(&status)),
        Err(e) => assert!(!matches!(e, Error::BufferTooSmall { .. })),
    }

    let mut scratch = vec![0u8; body.len()];
    match parse_ack_response(resp, &mut scratch) {
        Ok(Reply::Success(())) => assert!((200..300).contains(&status)),
        Ok(_) => assert!(!(200..300).contains(&status)),
        Err(e) => assert!(!matches!(e, Error::BufferTooSmall { .. })),
    }

    let mut scratch = vec![0u8; body.len()];
    if let Ok(TokenReply::MfaRequired(m)) = parse_token_response(resp, &mut scratch) {
        assert!(!m.mfa_token_secret().is_empty());
        let _ = (m.code(), m.description(), m.status());
        let _ = m.mfa_token::<32>();
    }
});
