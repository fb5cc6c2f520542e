//! Session tests: snapshots (`save`/`restore`, `Action::Persist`) — round trips against the
//! server, and LIFE-7: truncated, corrupt, future-version and foreign data give typed errors
//! and never panic.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::{Phase, Session};
use latchkey_core::snapshot::{MAGIC, VERSION};
use latchkey_core::{
    ApiMisuse, Capacity, CheckFailed, Client, Error, InvalidMessage, Len, Profile,
};
use latchkey_testkit::{KommoAccount, ServerConfig};
use proptest::prelude::*;
use util::*;

fn signed_in(cfg: latchkey_core::session::Config) -> Pair {
    let mut p = Pair::new(cfg);
    p.sign_in();
    p
}

fn snapshot() -> (latchkey_core::session::Config, Vec<u8>) {
    let p = signed_in(crm_confidential());
    (p.config.clone(), p.disk.clone().unwrap())
}

fn restore(cfg: &latchkey_core::session::Config, bytes: &[u8]) -> Result<Session, Error> {
    Session::restore(cfg.clone(), bytes)
}

#[test]
fn round_trip_restore_then_refresh_works() {
    for cfg in [rfc_public(), rfc_basic(), crm_confidential(), kommo()] {
        let mut p = signed_in(cfg);
        let token = p.access_token().unwrap();
        let disk = p.disk.clone().unwrap();
        // save() writes exactly what Persist handed out.
        let mut buf = vec![0u8; BUF_LEN];
        let n = p.session.save(&mut buf).unwrap();
        assert_eq!(&buf[..n], &disk[..]);
        assert_eq!(&disk[..4], MAGIC);
        assert_eq!(disk[4], VERSION);

        p.restore_from_disk().unwrap();
        assert_eq!(p.session.phase(), Phase::Authorized);
        assert_eq!(p.access_token().unwrap(), token);
        assert_eq!(p.call_api(), 200);
        assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
        assert_eq!(p.call_api(), 200);
        // And the new snapshot restores too.
        p.restore_from_disk().unwrap();
        assert_eq!(p.call_api(), 200);
    }
}

#[test]
fn save_is_all_or_nothing_and_only_when_signed_in() {
    let p = signed_in(crm_confidential());
    let len = p.disk.as_ref().unwrap().len();
    let mut small = vec![7u8; len - 1];
    assert_eq!(
        p.session.save(&mut small),
        Err(Error::BufferTooSmall {
            required: Len::new(len)
        })
    );
    assert!(small.iter().all(|&b| b == 7), "nothing written");
    let idle: Session = Session::new(crm_confidential());
    assert_eq!(idle.save(&mut [0u8; 64]), Err(ApiMisuse::WrongState.into()));
}

#[test]
fn s_life_7_truncated_snapshots_are_bad_snapshot() {
    let (cfg, bytes) = snapshot();
    for n in 0..bytes.len() {
        assert_eq!(
            restore(&cfg, &bytes[..n]).err(),
            Some(InvalidMessage::BadSnapshot.into()),
            "truncated to {n}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        restore(&cfg, &longer).err(),
        Some(InvalidMessage::BadSnapshot.into())
    );
}

#[test]
fn s_life_7_every_bit_flip_is_detected() {
    let (cfg, bytes) = snapshot();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let want: Error = if i == 4 {
                InvalidMessage::SnapshotVersion.into()
            } else {
                InvalidMessage::BadSnapshot.into()
            };
            assert_eq!(restore(&cfg, &b).err(), Some(want), "byte {i} bit {bit}");
        }
    }
}

#[test]
fn s_life_7_future_version_is_snapshot_version() {
    let (cfg, mut bytes) = snapshot();
    bytes[4] = VERSION + 1;
    assert_eq!(
        restore(&cfg, &bytes).err(),
        Some(InvalidMessage::SnapshotVersion.into())
    );
}

#[test]
fn s_life_7_foreign_snapshot() {
    let (_, crm) = snapshot();
    // Another CRM client, another API host, another dialect.
    let other_client = {
        let mut c = crm_confidential();
        c.client = Client::new("another-app", latchkey_testkit::CRM_REDIRECT_URI).unwrap();
        c
    };
    let other_host = {
        let mut c = crm_confidential();
        c.profile =
            Profile::crm(latchkey_testkit::CRM_PORTAL, "https://api.other.example").unwrap();
        c
    };
    for cfg in [other_client, other_host, rfc_basic(), kommo()] {
        assert_eq!(
            restore(&cfg, &crm).err(),
            Some(CheckFailed::ForeignSnapshot.into())
        );
    }
}

#[test]
fn s_life_7_tokens_larger_than_the_capacity_are_refused() {
    let (cfg, bytes) = snapshot();
    let small = Session::<16, 16>::restore(cfg.clone(), &bytes);
    assert!(
        matches!(
            small,
            Err(Error::CapacityExceeded {
                what: Capacity::Token,
                ..
            })
        ),
        "{small:?}"
    );
}

#[test]
fn s_ref_3_restore_checks_the_kommo_account_against_the_allowlist_again() {
    // Signed in to an account under an extra allowed suffix...
    let amo = "example.amocrm.ru";
    let server = ServerConfig {
        kommo_accounts: vec![KommoAccount::new(amo)],
        kommo_referer: amo.to_owned(),
        ..ServerConfig::default()
    };
    let mut cfg = kommo();
    cfg.profile = cfg
        .profile
        .clone()
        .with_referer_suffix(".amocrm.ru")
        .unwrap();
    let mut p = Pair::with_server(cfg, server);
    p.sign_in();
    assert_eq!(p.session.kommo_account().unwrap().host(), amo);
    assert_eq!(p.call_api(), 200);
    // ... the snapshot does not restore into a profile that no longer allows it.
    let disk = p.disk.clone().unwrap();
    assert_eq!(
        restore(&kommo(), &disk).err(),
        Some(CheckFailed::RefererNotAllowed.into())
    );
}

proptest! {
    #[test]
    fn s_life_7_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let cfg = crm_confidential();
        match restore(&cfg, &bytes) {
            Ok(_) => {}
            Err(e) => prop_assert!(matches!(
                e,
                Error::InvalidMessage(_) | Error::CheckFailed(_) | Error::CapacityExceeded { .. }
            ), "{e:?}"),
        }
    }

    #[test]
    fn s_life_7_corrupted_snapshots_are_typed_errors(
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<proptest::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (cfg, mut bytes) = SNAP.with(Clone::clone);
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        match restore(&cfg, &bytes) {
            Ok(s) => prop_assert_eq!(s.phase(), Phase::Authorized),
            Err(e) => prop_assert!(matches!(
                e,
                Error::InvalidMessage(InvalidMessage::BadSnapshot | InvalidMessage::SnapshotVersion)
                    | Error::CheckFailed(CheckFailed::ForeignSnapshot)
            ), "{e:?}"),
        }
    }
}

thread_local! {
    static SNAP: (latchkey_core::session::Config, Vec<u8>) = snapshot();
}
