//! Every flow of the demo, through the library, against the mock server over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use latchkey::{
    Client, Error, Event, FileStore, HostOverride, LoopbackListener, TokenStore, Transport,
    TransportConfig, Ui, unix_now,
};
use latchkey_core::session::Config;
use latchkey_core::{Client as Registration, Profile};
use latchkey_testkit::{
    BOB_PASSWORD, KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET, KOMMO_REDIRECT_URI,
    MockServer, RFC_PUBLIC_CLIENT_ID, USER_ALICE, USER_BOB,
};

use common::{TempDir, browse, crm_client, password_sign_in};

#[test]
fn crm_code_pkce_login_api_refresh_rotation_and_logout() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("crm");
    let listener = LoopbackListener::bind(0).unwrap();
    let mut client = crm_client(&mock, &dir, "crm", &listener.redirect_uri());
    let mut agent = None;
    client
        .login(listener, Duration::from_secs(5), |url| {
            assert!(url.contains("code_challenge_method=S256"));
            let url = url.to_owned();
            agent = Some(thread::spawn(move || {
                let callback = browse(&url);
                assert!(callback.starts_with("http://127.0.0.1:"));
                Transport::default().get(&callback, None).unwrap().status
            }));
            Ok(())
        })
        .unwrap();
    assert_eq!(agent.unwrap().join().unwrap(), 200, "success page");
    assert!(client.store().path().exists(), "tokens persisted");

    // API call.
    let reply = client.api_get(&format!("{}/me", mock.crm_api())).unwrap();
    assert_eq!(reply.status, 200);
    let me: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(me["sub"], USER_ALICE);

    // Refresh: the access token changes, the stored snapshot is replaced, the old access
    // token is no longer what we hand out.
    let before = client.token().unwrap();
    let snap_before = std::fs::read(client.store().path()).unwrap();
    client.refresh().unwrap();
    let after = client.token().unwrap();
    assert_ne!(before, after);
    assert_ne!(std::fs::read(client.store().path()).unwrap(), snap_before);
    assert!(mock.with_server(|s| s.is_access_token_live(after.secret(), unix_now())));

    // A second process (a new client on the same store) sees the rotated tokens.
    let mut other = crm_client(&mock, &dir, "crm", "http://127.0.0.1/callback");
    assert_eq!(other.token().unwrap(), after);

    // Logout revokes and erases.
    assert_eq!(mock.with_server(|s| s.live_grants()), 1);
    assert!(client.logout().unwrap().is_none());
    assert_eq!(mock.with_server(|s| s.live_grants()), 0);
    assert!(!client.store().path().exists());
    assert!(matches!(client.token(), Err(Error::NotSignedIn { .. })));
}

#[test]
fn s_life_2_due_token_is_refreshed_and_persisted_before_it_is_returned() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("due");
    // The first token comes without `expires_in` and the client assumes 30 s, less than
    // the 60 s skew: it is due at once. The refreshed one lives 3600 s.
    let config = common::crm_config(&mock, "http://127.0.0.1/callback").with_default_expires_in(30);
    let store = FileStore::new(&dir.0, "due").unwrap();
    let mut client = Client::open(config, Transport::default(), store.clone()).unwrap();
    mock.with_server(|s| {
        s.misbehave().expires_in = Some(latchkey_testkit::ExpiresInQuirk::Missing);
    });
    password_sign_in(&mut client);
    let first = client.session().expires_at().unwrap();
    assert!(first <= unix_now() + 30);
    let first_snapshot = store.load().unwrap().unwrap();
    let token = client.token().unwrap();
    // The token handed out is the refreshed one, and the store already holds it.
    let stored = store.load().unwrap().unwrap();
    assert_ne!(stored, first_snapshot, "refresh persisted");
    assert!(
        stored
            .windows(token.secret().len())
            .any(|w| w == token.secret().as_bytes()),
        "the stored snapshot holds the token handed out"
    );
    assert!(mock.with_server(|s| s.is_access_token_live(token.secret(), unix_now())));
    assert!(client.session().expires_at().unwrap() > first + 3000);
}

#[test]
fn password_login_with_totp_mfa() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("mfa");
    let mut client = crm_client(&mock, &dir, "bob", "http://127.0.0.1/callback");
    let ev = client.password_login(USER_BOB, BOB_PASSWORD).unwrap();
    assert!(matches!(ev, Event::MfaRequired), "{ev:?}");
    assert!(!client.store().path().exists(), "nothing stored before MFA");
    // A wrong code is refused and the user may try again.
    let ev = client.submit_otp("000000").unwrap();
    assert!(matches!(ev, Event::MfaRejected(_)), "{ev:?}");
    let otp = mock
        .with_server(|s| s.totp_now(USER_BOB, unix_now()))
        .unwrap();
    let ev = client.submit_otp(&otp).unwrap();
    assert!(matches!(ev, Event::Authorized), "{ev:?}");
    assert!(client.store().path().exists());
    let reply = client.api_get(&format!("{}/me", mock.crm_api())).unwrap();
    assert_eq!(reply.status, 200);
}

fn kommo_client(mock: &MockServer, dir: &TempDir, name: &str) -> Client<FileStore> {
    let profile = Profile::kommo()
        .with_consent_url(&mock.kommo_consent_url())
        .unwrap();
    let client = Registration::new(KOMMO_CLIENT_ID, KOMMO_REDIRECT_URI)
        .and_then(|c| c.with_secret(KOMMO_CLIENT_SECRET))
        .unwrap();
    let transport = Transport::new(TransportConfig {
        overrides: vec![HostOverride::new(KOMMO_ACCOUNT_HOST, &mock.kommo_account_base()).unwrap()],
        ..TransportConfig::default()
    });
    Client::open(
        Config::new(profile, client),
        transport,
        FileStore::new(&dir.0, name).unwrap(),
    )
    .unwrap()
}

fn token_requests(mock: &MockServer) -> usize {
    mock.with_server(|s| {
        s.log()
            .iter()
            .filter(|r| r.url.contains("/oauth2/access_token"))
            .count()
    })
}

#[test]
fn kommo_sign_in_uses_the_referer_account_host() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("kommo");
    let mut client = kommo_client(&mock, &dir, "kommo");
    let url = client.begin_authorization().unwrap();
    let callback = browse(&url);
    assert!(callback.contains("referer=example.kommo.com"), "{callback}");
    client.finish_authorization(&callback).unwrap();
    assert_eq!(
        client.session().kommo_account().unwrap().host(),
        KOMMO_ACCOUNT_HOST
    );
    assert_eq!(token_requests(&mock), 1);
    let reply = client
        .api_get("https://example.kommo.com/api/v4/account")
        .unwrap();
    assert_eq!(reply.status, 200);
    // Refresh goes to the same account host.
    client.refresh().unwrap();
    assert_eq!(token_requests(&mock), 2);
}

#[test]
fn s_ref_3_hostile_referer_is_refused_before_any_token_request() {
    let mock = MockServer::start().unwrap();
    let dir = TempDir::new("hostile");
    for hostile in ["evil.com", "example.kommo.com.evil.com", "127.0.0.1"] {
        let mut client = kommo_client(&mock, &dir, "hostile");
        mock.with_server(|s| s.misbehave().kommo_hostile_referer = Some(hostile.into()));
        let url = client.begin_authorization().unwrap();
        let result = client.finish_authorization(&browse(&url));
        assert!(
            matches!(
                result,
                Err(Error::Core(latchkey_core::Error::CheckFailed(_)))
            ),
            "{hostile}: {result:?}"
        );
        assert_eq!(token_requests(&mock), 0, "{hostile}: no token request");
        assert!(!client.store().path().exists());
    }
}

struct ApproveOnMock(Arc<MockServer>);

impl Ui for ApproveOnMock {
    fn show_user_code(&mut self, user_code: &str, uri: &str, _complete: Option<&str>) {
        assert!(uri.ends_with("/device"));
        assert!(self.0.with_server(|s| s.approve_device(user_code)));
    }
}

#[test]
fn device_grant_is_approved_and_polled() {
    let mock = Arc::new(MockServer::start().unwrap());
    let dir = TempDir::new("device");
    let issuer = mock.issuer();
    let profile = Profile::rfc6749(&format!("{issuer}/authorize"), &format!("{issuer}/token"))
        .and_then(|p| p.with_device_authorization(&format!("{issuer}/device_authorization")))
        .and_then(|p| p.with_client_auth(latchkey_core::profile::ClientAuth::None))
        .unwrap();
    let client = Registration::new(RFC_PUBLIC_CLIENT_ID, "http://127.0.0.1/callback").unwrap();
    let mut client = Client::open(
        Config::new(profile, client),
        Transport::default(),
        FileStore::new(&dir.0, "device").unwrap(),
    )
    .unwrap()
    .with_ui(Box::new(ApproveOnMock(Arc::clone(&mock))));
    client.device_login().unwrap();
    let reply = client.api_get(&format!("{issuer}/userinfo")).unwrap();
    assert_eq!(reply.status, 200);
}
