//! The CRM parent's `CLIENT_OAUTH_CODE` postMessage reply.
#![no_main]

use latchkey_core::message::parse_code_reply;
use latchkey_core::state::StateToken;
use latchkey_core::{Error, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

const STATE: &str = "ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI";

fuzz_target!(|json: &[u8]| {
    // A MAX_MESSAGE_LEN scratch always suffices (documented).
    let mut scratch = vec![0u8; MAX_MESSAGE_LEN];
    let parsed = parse_code_reply(json, &mut scratch);
    assert!(!matches!(parsed, Err(Error::BufferTooSmall { .. })));
    if let Ok(reply) = parsed {
        let code = reply.code.secret();
        assert!(!code.is_empty());
        assert!(
            !code.chars().any(char::is_control),
            "control character in code"
        );
        if let Some(state) = reply.state {
            assert!(!state.chars().any(char::is_control));
        }
        let expected = StateToken::parse(STATE).unwrap();
        if reply.verify_state(&expected).is_ok() {
            assert!(reply.state.is_none() || reply.state == Some(STATE));
        }
        let dbg = format!("{reply:?}");
        assert!(!dbg.contains(code) || code.len() < 4 || dbg.contains("redacted"));
    }
    // A tiny scratch: an error, not a panic.
    let mut tiny = [0u8; 3];
    let _ = parse_code_reply(json, &mut tiny);
});
