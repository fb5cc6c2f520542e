//! `parse_callback` + `Callback::verify` on arbitrary queries, for every profile.
#![no_main]

use latchkey_core::callback::{Callback, parse_callback};
use latchkey_core::state::StateToken;
use latchkey_core::{Error, Profile};
use libfuzzer_sys::fuzz_target;

const STATE: &str = "ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI";

fuzz_target!(|data: &[u8]| {
    let Some((&which, query)) = data.split_first() else {
        return;
    };
    let cfg = latchkey_fuzz::config(which);
    let expected = StateToken::parse(STATE).unwrap();

    // A scratch as long as the query always suffices (documented).
    let mut scratch = vec![0u8; query.len()];
    let parsed = parse_callback(query, &mut scratch);
    assert!(
        !matches!(parsed, Err(Error::BufferTooSmall { .. })),
        "a query-sized scratch must suffice"
    );
    if let Ok(cb) = &parsed {
        if let Ok(v) = cb.verify(&expected, &cfg.profile) {
            // Only a callback carrying exactly our state passes (STATE-2).
            assert_eq!(cb.state(), Some(STATE));
            assert!(matches!(cb, Callback::Code(_)));
            assert!(!v.code().secret().is_empty());
            if let Profile::Kommo(_) = cfg.profile {
                let host = v.kommo_account().unwrap().host();
                assert!(latchkey_fuzz::host_allowed(
                    host,
                    &latchkey_fuzz::allowlist(&cfg)
                ));
            } else {
                assert!(v.kommo_account().is_none());
            }
            if let (Some(iss), Callback::Code(c)) = (cfg.profile.issuer(), cb) {
                assert_eq!(c.iss(), Some(iss));
            }
        }
        if let Ok(v) = cb.verify_widget_install(&cfg.profile) {
            let host = v.kommo_account().unwrap().host();
            assert!(latchkey_fuzz::host_allowed(
                host,
                &latchkey_fuzz::allowlist(&cfg)
            ));
        }
    }

    // Too small a scratch: an error, never a panic; the required size is the query's.
    if !query.is_empty() {
        let mut small = vec![0u8; query.len() / 2];
        if let Err(Error::BufferTooSmall { required }) = parse_callback(query, &mut small) {
            assert!(required.get() > small.len());
        }
    }
});
