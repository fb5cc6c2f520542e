//! `Session::restore` on arbitrary bytes. Input: a config byte, a mode byte, then data:
//! mode even = the data is the snapshot as is; mode odd = the data replaces everything after
//! a real snapshot's header (magic, version, dialect, binding) and a valid check is appended,
//! so the fuzzer reaches the field parser behind the checksum.
#![no_main]

use std::sync::OnceLock;

use latchkey_core::session::{Phase, Session};
use libfuzzer_sys::fuzz_target;

fn headers() -> &'static Vec<Vec<u8>> {
    static H: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    H.get_or_init(|| {
        (0..latchkey_fuzz::CONFIGS)
            .map(|i| latchkey_fuzz::authorized_snapshot(&latchkey_fuzz::config(i))[..14].to_vec())
            .collect()
    })
}

fn check(which: u8, bytes: &[u8]) {
    let cfg = latchkey_fuzz::config(which);
    let Ok(s) = Session::<256, 128>::restore(cfg.clone(), bytes) else {
        return;
    };
    assert_eq!(s.phase(), Phase::Authorized);
    let fields = latchkey_fuzz::read_snapshot(bytes).expect("restored an unreadable snapshot");
    assert!(!fields.access.is_empty());
    assert_eq!(s.expires_at(), Some(fields.expires_at));
    assert_eq!(s.has_refresh_token(), fields.refresh.is_some());
    if let Some(account) = s.kommo_account() {
        assert!(latchkey_fuzz::host_allowed(
            account.host(),
            &latchkey_fuzz::allowlist(&cfg)
        ));
    }
    // Save → restore → save is a fixed point.
    let mut buf = vec![0u8; bytes.len() + 64];
    let n = s.save(&mut buf).unwrap();
    let again = Session::<256, 128>::restore(cfg, &buf[..n]).unwrap();
    let mut buf2 = vec![0u8; n];
    let m = again.save(&mut buf2).unwrap();
    assert_eq!(&buf[..n], &buf2[..m]);
}

fuzz_target!(|data: &[u8]| {
    let [which, mode, rest @ ..] = data else {
        return;
    };
    let which = which % latchkey_fuzz::CONFIGS;
    if mode % 2 == 0 {
        check(which, rest);
    } else {
        let mut body = headers()[usize::from(which)].clone();
        body.extend_from_slice(rest);
        check(which, &latchkey_fuzz::seal_snapshot(body));
    }
});
