//! Shared helpers for the adapter's integration tests.
#![allow(dead_code, unreachable_pub)] // reason: each test binary uses a subset

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use latchkey::{Client, FileStore, Transport};
use latchkey_core::session::Config;
use latchkey_core::{Client as Registration, Profile};
use latchkey_testkit::{CRM_CLIENT_ID, CRM_CLIENT_SECRET, CRM_SCOPE, MockServer};

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "latchkey-test-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CRM confidential client on `mock` with this redirect URI.
pub fn crm_config(mock: &MockServer, redirect_uri: &str) -> Config {
    let profile = Profile::crm(&mock.crm_portal(), &mock.crm_api()).expect("profile");
    let client = Registration::new(CRM_CLIENT_ID, redirect_uri)
        .and_then(|c| c.with_secret(CRM_CLIENT_SECRET))
        .and_then(|c| c.with_scope(CRM_SCOPE))
        .expect("client");
    Config::new(profile, client)
}

/// A CRM client on `mock` storing into `dir/name`.
pub fn crm_client(
    mock: &MockServer,
    dir: &TempDir,
    name: &str,
    redirect_uri: &str,
) -> Client<FileStore> {
    Client::open(
        crm_config(mock, redirect_uri),
        Transport::default(),
        FileStore::new(&dir.0, name).expect("store"),
    )
    .expect("client")
}

/// The browser's part: GET `url` without following redirects; the `Location`.
pub fn browse(url: &str) -> String {
    let reply = Transport::default()
        .get(url, None)
        .expect("authorization page");
    assert!(
        (300..400).contains(&reply.status),
        "status {}",
        reply.status
    );
    reply.location.expect("Location")
}

/// Signs `client` in with the password grant (alice has no MFA).
pub fn password_sign_in(client: &mut Client<FileStore>) {
    let ev = client
        .password_login(
            latchkey_testkit::USER_ALICE,
            latchkey_testkit::ALICE_PASSWORD,
        )
        .expect("password login");
    assert!(matches!(ev, latchkey::Event::Authorized), "{ev:?}");
}
