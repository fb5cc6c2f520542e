//! Failure tests: server down, garbage or 500 answers, private Kommo hosts — each a clear
//! error, never a panic and never a lost grant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod common;

use std::net::TcpListener;
use std::time::Duration;

use latchkey::{Client, Error, FileStore, Guard, TokenStore, Transport, TransportConfig};
use latchkey_testkit::MockServer;

use common::{TempDir, crm_config, password_sign_in};

/// A port nothing listens on.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn server_down_is_a_clear_error_naming_the_url() {
    let port = dead_port();
    let dir = TempDir::new("down");
    let base = format!("http://127.0.0.1:{port}");
    let profile = latchkey_core::Profile::crm(&base, &base).unwrap();
    let client = latchkey_core::Client::new("id", "http://127.0.0.1/callback")
        .and_then(|c| c.with_secret("s"))
        .unwrap();
    let mut c = Client::open(
        latchkey_core::session::Config::new(profile, client),
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap();
    let e = c.password_login("u", "p").unwrap_err();
    assert!(
        matches!(&e, Error::Unreachable { url, .. } if url.contains(&port.to_string())),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains(&format!("{base}/oauth/token")), "{msg}");
    assert!(msg.contains("server is running"), "{msg}");
}

#[test]
fn server_down_during_refresh_keeps_the_grant() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("down-refresh");
    let store = FileStore::new(&dir.0, "p").unwrap();
    let config = crm_config(&mock, "http://127.0.0.1/callback");
    let mut c = Client::open(config.clone(), Transport::default(), store.clone()).unwrap();
    password_sign_in(&mut c);
    let before = store.load().unwrap().unwrap();
    drop(mock); // the server goes away
    let e = c.refresh().unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert_eq!(
        store.load().unwrap().unwrap(),
        before,
        "the grant is still stored"
    );
    assert!(c.is_signed_in(), "the session is back to the stored one");
}

#[test]
fn server_answering_500_html_is_an_error_not_a_crash() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("500");
    let store = FileStore::new(&dir.0, "p").unwrap();
    let mut c = Client::open(
        crm_config(&mock, "http://127.0.0.1/callback"),
        Transport::default(),
        store.clone(),
    )
    .unwrap();
    mock.with_server(|s| s.misbehave().html_500 = true);
    let e = c
        .password_login(
            latchkey_testkit::USER_ALICE,
            latchkey_testkit::ALICE_PASSWORD,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Core(
                latchkey_core::Error::ServerMisbehaved(_) | latchkey_core::Error::ServerError(_)
            )
        ),
        "{e:?}"
    );
    assert!(store.load().unwrap().is_none());
}

#[test]
fn server_answering_garbage_is_an_error_not_a_crash() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("garbage");
    let mut c = Client::open(
        crm_config(&mock, "http://127.0.0.1/callback"),
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap();
    mock.with_server(|s| s.misbehave().malformed_json = true);
    let e = c
        .password_login(
            latchkey_testkit::USER_ALICE,
            latchkey_testkit::ALICE_PASSWORD,
        )
        .unwrap_err();
    assert!(matches!(e, Error::Core(_)), "{e:?}");
    // A raw socket that answers nonsense instead of HTTP.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"\x00\x01 this is not HTTP\r\n\r\n");
    });
    let e = Transport::default()
        .get(&format!("http://127.0.0.1:{port}/x"), None)
        .unwrap_err();
    assert!(
        matches!(e, Error::NoAnswer { .. } | Error::Unreachable { .. }),
        "{e:?}"
    );
    t.join().unwrap();
}

#[test]
fn s_tok_6_redirects_are_not_followed() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("redirect");
    let mut c = Client::open(
        crm_config(&mock, "http://127.0.0.1/callback"),
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap();
    mock.with_server(|s| {
        s.misbehave().redirect_307 = Some(latchkey_testkit::EVIL_TOKEN_URL.into())
    });
    let e = c
        .password_login(
            latchkey_testkit::USER_ALICE,
            latchkey_testkit::ALICE_PASSWORD,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Core(latchkey_core::Error::ServerMisbehaved(
                latchkey_core::ServerMisbehaved::Redirect
            ))
        ),
        "{e:?}"
    );
}

#[test]
fn s_tok_6_public_only_guard_refuses_a_host_resolving_to_loopback() {
    let port = dead_port();
    let t = Transport::new(TransportConfig {
        connect_timeout: Duration::from_secs(2),
        ..TransportConfig::default()
    });
    let url = format!("https://localhost:{port}/oauth2/access_token");
    let e = t.get_guarded(&url, None, Guard::PublicOnly).unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("private"), "{e}");
    // Without the guard the same URL is merely unreachable (nothing listens there).
    let e = t.get_guarded(&url, None, Guard::Any).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
}

#[test]
fn s_tok_5_oversize_body_is_capped_and_rejected() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("oversize");
    let mut c = Client::open(
        crm_config(&mock, "http://127.0.0.1/callback"),
        Transport::default(),
        FileStore::new(&dir.0, "p").unwrap(),
    )
    .unwrap();
    mock.with_server(|s| s.misbehave().oversize_body = true);
    let e = c
        .password_login(
            latchkey_testkit::USER_ALICE,
            latchkey_testkit::ALICE_PASSWORD,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Core(latchkey_core::Error::ServerMisbehaved(
                latchkey_core::ServerMisbehaved::ResponseTooLarge
            ))
        ),
        "{e:?}"
    );
}
