//! FileStore: mode 0600, atomic replace, and clear errors for unusable files (LIFE-6/7).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod common;

use latchkey::{Client, Error, FileStore, MemoryStore, StoreProblem, TokenStore, Transport};
use latchkey_testkit::MockServer;

use common::{TempDir, crm_config, password_sign_in};

#[cfg(unix)]
#[test]
fn s_life_6_token_file_is_mode_0600_and_dir_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    let store = FileStore::new(dir.0.join("nested"), "p").unwrap();
    store.save(b"snapshot-1").unwrap();
    let mode = std::fs::metadata(store.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let dmode = std::fs::metadata(store.dir()).unwrap().permissions().mode();
    assert_eq!(dmode & 0o777, 0o700, "{dmode:o}");
    // Replacing keeps 0600 (a fresh temp file is renamed over it).
    store.save(b"snapshot-2").unwrap();
    let mode = std::fs::metadata(store.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn s_life_6_atomic_replace_ignores_a_leftover_temp_file() {
    let dir = TempDir::new("atomic");
    let store = FileStore::new(&dir.0, "p").unwrap();
    store.save(b"old snapshot").unwrap();
    // A crash mid-write leaves a partial temp file beside the real one.
    std::fs::write(dir.0.join(".p.999.1.tmp"), b"partial").unwrap();
    assert_eq!(store.load().unwrap().unwrap(), b"old snapshot");
    store.save(b"new snapshot").unwrap();
    assert_eq!(store.load().unwrap().unwrap(), b"new snapshot");
    // No temp file of ours is left behind after a successful save.
    let ours: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != ".p.999.1.tmp")
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
    store.erase().unwrap();
    assert!(store.load().unwrap().is_none());
    store.erase().unwrap(); // erasing nothing is fine
}

#[test]
fn profile_names_cannot_escape_the_directory() {
    for bad in ["", "../x", "a/b", "a.b", &"x".repeat(65)] {
        assert!(
            matches!(
                FileStore::new("/tmp", bad),
                Err(Error::Store {
                    problem: StoreProblem::BadProfileName,
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}

/// Signs in, then returns the snapshot bytes and the directory.
fn signed_in_snapshot(mock: &MockServer, dir: &TempDir) -> Vec<u8> {
    let store = FileStore::new(&dir.0, "p").unwrap();
    let mut c = Client::open(
        crm_config(mock, "http://127.0.0.1/callback"),
        Transport::default(),
        store.clone(),
    )
    .unwrap();
    password_sign_in(&mut c);
    store.load().unwrap().unwrap()
}

fn open_error(mock: &MockServer, dir: &TempDir) -> Error {
    Client::open(
        crm_config(mock, "http://127.0.0.1/callback"),
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap_err()
}

#[test]
fn s_life_7_malformed_truncated_and_foreign_files_name_the_file() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("malformed");
    let good = signed_in_snapshot(&mock, &dir);
    let path = FileStore::new(&dir.0, "p").unwrap().path();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"this is not a snapshot".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let i = b.len() - 12;
            b[i] ^= 0xff;
            b
        }),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let e = open_error(&mock, &dir);
        assert!(
            matches!(&e, Error::Store { problem: StoreProblem::Malformed(_), path: p } if *p == path),
            "{what}: {e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
        assert!(msg.contains("latchkey login"), "{what}: {msg}");
    }
    // Foreign: a snapshot made for another client id.
    std::fs::write(&path, &good).unwrap();
    let mut other = crm_config(&mock, "http://127.0.0.1/callback");
    other.client = latchkey_core::Client::new("someone-else", "http://127.0.0.1/callback").unwrap();
    let e = Client::open(
        other,
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Store {
                problem: StoreProblem::Malformed(latchkey_core::Error::CheckFailed(
                    latchkey_core::CheckFailed::ForeignSnapshot
                )),
                ..
            }
        ),
        "{e:?}"
    );
    // The good snapshot still opens.
    std::fs::write(&path, &good).unwrap();
    assert!(
        Client::open(
            crm_config(&mock, "http://127.0.0.1/callback"),
            Transport::default(),
            FileStore::new(&dir.0, "p").unwrap()
        )
        .unwrap()
        .is_signed_in()
    );
}

#[test]
fn oversize_file_is_refused_with_its_path() {
    let dir = TempDir::new("big");
    let store = FileStore::new(&dir.0, "p").unwrap();
    std::fs::write(store.path(), vec![0u8; 70 * 1024]).unwrap();
    let e = store.load().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Store {
                problem: StoreProblem::TooLarge(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&store.path().display().to_string()));
}

#[test]
fn s_life_4_lock_is_exclusive_across_handles() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = TempDir::new("lock");
    let store = FileStore::new(&dir.0, "p").unwrap();
    let guard = store.lock().unwrap();
    let (tx, rx) = mpsc::channel();
    let other = store.clone();
    let t = std::thread::spawn(move || {
        let _g = other.lock().unwrap(); // a separate open file description: blocks
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "second lock must wait"
    );
    drop(guard);
    rx.recv_timeout(Duration::from_secs(2)).expect("released");
    t.join().unwrap();
}

#[test]
fn memory_store_round_trip() {
    let s = MemoryStore::new();
    assert!(s.load().unwrap().is_none());
    s.save(b"x").unwrap();
    assert_eq!(s.load().unwrap().unwrap(), b"x");
    s.erase().unwrap();
    assert!(s.load().unwrap().is_none());
}
