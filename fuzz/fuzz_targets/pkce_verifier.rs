//! `CodeVerifier::parse` / `from_entropy` and `CodeChallenge::s256`, differentially checked
//! against a plain sha2 + base64 S256 (RFC 7636 §4.2).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::pkce::{ChallengeMethod, CodeChallenge, CodeVerifier};
use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fn reference(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let ok = (43..=128).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        match CodeVerifier::parse(text) {
            Ok(v) => {
                assert!(ok, "accepted {text:?}");
                assert_eq!(v.secret(), text);
                let c = CodeChallenge::s256(&v);
                assert_eq!(c.as_str(), reference(text));
                assert_eq!(c.method(), ChallengeMethod::S256);
                assert_eq!(v.challenge(ChallengeMethod::S256).as_str(), c.as_str());
                assert!(!format!("{v:?}").contains(text));
            }
            Err(_) => assert!(!ok, "rejected {text:?}"),
        }
    }
    match CodeVerifier::from_entropy(data) {
        Ok(v) => {
            assert!((32..=96).contains(&data.len()));
            assert_eq!(v.secret(), URL_SAFE_NO_PAD.encode(data));
            let again = CodeVerifier::parse(v.secret()).unwrap();
            assert_eq!(CodeChallenge::s256(&again).as_str(), reference(v.secret()));
        }
        Err(_) => assert!(!(32..=96).contains(&data.len())),
    }
});
