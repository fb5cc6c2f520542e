//! Token-endpoint responses: success, RFC 6749 errors, MFA-required, plus the ack and
//! revocation parsers on the same bytes. Input: 2 bytes of status, then the body.
#![no_main]

use latchkey_core::http::Response;
use latchkey_core::token::{
    RevocationReply, TokenReply, parse_ack_response, parse_revocation_response,
    parse_token_response,
};
use latchkey_core::{Error, MAX_TOKEN_LEN, ServerMisbehaved};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 1000;
    let body = &data[2..];
    let resp = Response::new(status, body);
    let mut scratch = vec![0u8; body.len()];

    let parsed = parse_token_response(resp, &mut scratch);
    // A body-sized scratch always suffices (documented on `Session::handle_response`).
    assert!(
        !matches!(parsed, Err(Error::BufferTooSmall { .. })),
        "{parsed:?}"
    );
    if (300..400).contains(&status) {
        assert_eq!(parsed.err(), Some(ServerMisbehaved::Redirect.into()));
    } else if let Ok(reply) = parsed {
        match reply {
            TokenReply::Token(t) => {
                assert_eq!(status, 200);
                let at = t.access_token_secret();
                assert!(!at.is_empty() && at.len() <= MAX_TOKEN_LEN);
                // Escapes are decoded: no JSON escape survives in the token.
                assert!(!at.bytes().any(|b| b < 0x20));
                if let Some(rt) = t.refresh_token_secret() {
                    assert!(!rt.is_empty() && rt.len() <= MAX_TOKEN_LEN);
                }
                let _ = t.access_token::<64>();
                let _ = t.refresh_token::<64>();
                let _ = t.require_bearer();
                let _ = format!("{t:?}");
            }
            TokenReply::Error(e) => {
                assert!(!(200..300).contains(&status));
                let _ = e.to_error();
            }
            TokenReply::MfaRequired(m) => {
                assert!(!m.mfa_token_secret().is_empty());
                let _ = m.mfa_token::<64>();
            }
            #[allow(unreachable_patterns)] // reason: TokenReply may grow
            _ => {}
        }
    }

    let mut scratch = vec![0u8; body.len()];
    let ack = parse_ack_response(resp, &mut scratch);
    assert!(!matches!(ack, Err(Error::BufferTooSmall { .. })));
    let mut scratch = vec![0u8; body.len()];
    let retry = status.is_multiple_of(7).then_some(u64::from(status));
    match parse_revocation_response(resp, retry, &mut scratch) {
        Ok(RevocationReply::Revoked) => assert!((200..300).contains(&status)),
        Ok(RevocationReply::Unavailable { retry_after }) => {
            assert_eq!(status, 503);
            assert_eq!(retry_after, retry);
        }
        Ok(_) => assert!(!(200..300).contains(&status)),
        Err(e) => assert!(!matches!(e, Error::BufferTooSmall { .. })),
    }
});
