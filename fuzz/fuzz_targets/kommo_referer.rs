//! `validate_referer` (REF-1/2) on hostile hosts, and Kommo token URLs from what passes.
#![no_main]

use latchkey_core::callback::validate_referer;
use latchkey_core::token::TokenRequest;
use latchkey_core::{Client, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(referer) = core::str::from_utf8(data) else {
        return;
    };
    let cfg = latchkey_fuzz::config(6); // Kommo with `.kommo.com` and `.amocrm.ru`
    let allow = latchkey_fuzz::allowlist(&cfg);
    match validate_referer(referer, &cfg.profile) {
        Ok(account) => {
            let host = account.host();
            assert!(host.len() <= latchkey_core::MAX_HOST_LEN);
            assert!(latchkey_fuzz::host_allowed(host, &allow), "{host:?} passed");
            assert_eq!(host, referer.to_ascii_lowercase());
            // The last label is never numeric (no IPv4 look-alike).
            let last = host.rsplit('.').next().unwrap();
            assert!(!last.bytes().all(|b| b.is_ascii_digit()));
            let mut buf = [0u8; 512];
            let n = account.token_url(&mut buf).unwrap();
            let url = core::str::from_utf8(&buf[..n]).unwrap();
            assert_eq!(url, format!("https://{host}/oauth2/access_token"));
            assert!(TokenRequest::kommo(&cfg.profile, &cfg.client, &account).is_ok());
            // The default profile (`.kommo.com` only) agrees on `.kommo.com` hosts.
            let default = Profile::kommo();
            assert_eq!(
                validate_referer(referer, &default).is_ok(),
                host.ends_with(".kommo.com")
            );
            let client = Client::new("x", "https://a.example/cb")
                .unwrap()
                .with_secret("s")
                .unwrap();
            let _ = TokenRequest::kommo(&default, &client, &account);
        }
        Err(_) => {
            assert!(validate_referer(referer, &Profile::kommo()).is_err());
        }
    }
    // The same text as a configured suffix: accepted only with a leading dot.
    if let Ok(p) = Profile::kommo().with_referer_suffix(referer) {
        assert!(referer.starts_with('.'));
        let _ = p;
    }
});
