//! Shared helpers for the fuzz targets: the configurations every target picks from, a
//! reader for the documented snapshot format, and the invariant checks on URLs and hosts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: a fuzz harness fails by panicking

use latchkey_core::http::Response;
use latchkey_core::profile::KommoMode;
use latchkey_core::session::{Action, Config, Session};
use latchkey_core::{Client, Profile};

/// The RFC 6749 issuer used by the RFC profiles.
pub const ISSUER: &str = "https://as.example";
/// The CRM parent page origin for the iframe flow.
pub const PARENT_ORIGIN: &str = "https://crm.example";
/// The Kommo account the well-formed callbacks name.
pub const KOMMO_HOST: &str = "example.kommo.com";
/// The number of configurations [`config`] knows.
pub const CONFIGS: u8 = 7;

/// One of [`CONFIGS`] configurations, covering every dialect, client kind and endpoint set.
pub fn config(which: u8) -> Config {
    let (profile, client) = match which % CONFIGS {
        0 => (
            Profile::crm("https://portal.crm.example", "https://api.crm.example").unwrap(),
            Client::new("crm-app", "https://app.example/cb")
                .unwrap()
                .with_secret("crm-secret")
                .unwrap()
                .with_scope("user-portal:user:*")
                .unwrap(),
        ),
        1 => (
            Profile::crm("https://portal.crm.example/", "https://api.crm.example/v1").unwrap(),
            Client::new("crm-public", "http://127.0.0.1:8123/cb").unwrap(),
        ),
        2 => (
            Profile::rfc6749("https://as.example/authorize", "https://as.example/token")
                .unwrap()
                .with_revocation("https://as.example/revoke")
                .unwrap()
                .with_device_authorization("https://as.example/device_authorization")
                .unwrap()
                .with_issuer(ISSUER)
                .unwrap()
                .with_client_auth(latchkey_core::profile::ClientAuth::None)
                .unwrap(),
            Client::new("rfc-public", "com.example.app:/cb")
                .unwrap()
                .with_scope("openid profile")
                .unwrap(),
        ),
        3 => (
            Profile::rfc6749(
                "https://as.example/authorize?x=1",
                "https://as.example/token",
            )
            .unwrap()
            .with_revocation("https://as.example/revoke")
            .unwrap(),
            Client::new("rfc:conf", "https://client.example/cb")
                .unwrap()
                .with_secret("s3cr3t +/%:£")
                .unwrap(),
        ),
        4 => (
            Profile::rfc6749(
                "http://127.0.0.1:8080/authorize",
                "http://localhost:8080/token",
            )
            .unwrap()
            .with_device_authorization("http://[::1]:8080/device")
            .unwrap()
            .with_client_auth(latchkey_core::profile::ClientAuth::Post)
            .unwrap(),
            Client::new("rfc-post", "http://[::1]:9/cb")
                .unwrap()
                .with_secret("post-secret&x=1")
                .unwrap(),
        ),
        5 => (
            Profile::kommo(),
            Client::new(
                "0b6e4b0a-kommo",
                "https://integration.example/kommo/callback",
            )
            .unwrap()
            .with_secret("kommoSecret")
            .unwrap(),
        ),
        _ => (
            Profile::kommo()
                .with_referer_suffix(".amocrm.ru")
                .unwrap()
                .with_kommo_mode(KommoMode::PostMessage)
                .unwrap(),
            Client::new("kommo-2", "https://integration.example/kommo/callback")
                .unwrap()
                .with_secret("kommoSecret2")
                .unwrap(),
        ),
    };
    let mut cfg = Config::new(profile, client);
    if matches!(cfg.profile, Profile::Crm(_)) {
        cfg = cfg.with_parent_origin(PARENT_ORIGIN).unwrap();
    }
    cfg
}

/// The allowlisted `referer` suffixes of a configuration (empty for non-Kommo ones).
pub fn allowlist(cfg: &Config) -> Vec<String> {
    match &cfg.profile {
        Profile::Kommo(k) => k.referer_allowlist.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Whether `url` is `https://…` or `http://` to a loopback host (TOK-1).
pub fn is_secure_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return host_of(url).is_some_and(|h| !h.is_empty());
    }
    if url.starts_with("http://") {
        return matches!(
            host_of(url).as_deref(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        );
    }
    false
}

/// The host of an absolute URL (lowercase, without port), if it has one.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    if auth.contains('@') {
        return None;
    }
    let host = if auth.starts_with('[') {
        &auth[..auth.find(']')? + 1]
    } else {
        auth.split(':').next()?
    };
    Some(host.to_ascii_lowercase())
}

/// Whether `host` is a bare DNS name strictly under one of the `.suffix`es (REF-2).
pub fn host_allowed(host: &str, allowlist: &[String]) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !host.contains("..")
        && allowlist
            .iter()
            .any(|s| s.starts_with('.') && host.len() > s.len() && host.ends_with(s.as_str()))
}

/// The fields of a snapshot in the documented version-1 format (`latchkey_core::snapshot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFields {
    /// `expires_at`.
    pub expires_at: u64,
    /// The access token.
    pub access: Vec<u8>,
    /// The refresh token (`None` when its length is 0).
    pub refresh: Option<Vec<u8>>,
    /// The granted scope.
    pub scope: Vec<u8>,
    /// The Kommo account host (`None` when its length is 0).
    pub account: Option<Vec<u8>>,
}

/// Reads a snapshot's fields without checking the check or binding (the harness's own,
/// independent reader of the documented format).
pub fn read_snapshot(bytes: &[u8]) -> Option<SnapshotFields> {
    if bytes.len() < 22 + 8 + 8 || &bytes[..4] != b"LKSS" {
        return None;
    }
    let expires_at = u64::from_be_bytes(bytes[14..22].try_into().ok()?);
    let body = &bytes[..bytes.len() - 8];
    let mut rest = &body[22..];
    let mut str16 = || -> Option<Vec<u8>> {
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let v = rest.get(2..2 + len)?.to_vec();
        rest = &rest[2 + len..];
        Some(v)
    };
    let access = str16()?;
    let refresh = str16()?;
    let scope = str16()?;
    let account = str16()?;
    Some(SnapshotFields {
        expires_at,
        access,
        refresh: (!refresh.is_empty()).then_some(refresh),
        scope,
        account: (!account.is_empty()).then_some(account),
    })
}

/// Appends the 8-byte check (first 8 bytes of SHA-256 over everything before it).
pub fn seal_snapshot(mut body: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&body);
    body.extend_from_slice(&digest[..8]);
    body
}

/// The value of query parameter `name` in a URL (raw, not decoded).
pub fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

/// The value of a JSON string member `"name":"…"` as written (escapes kept).
pub fn json_member<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = json.find(&key)? + key.len();
    let rest = &json[start..];
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(&rest[..i]),
            _ => escaped = false,
        }
    }
    None
}

/// A signed-in session's snapshot for `cfg`, made by driving a code flow by hand.
pub fn authorized_snapshot(cfg: &Config) -> Vec<u8> {
    let mut s: Session = Session::new(cfg.clone());
    let now = 1_700_000_000;
    let (mut buf, mut scratch) = (vec![0u8; 8192], vec![0u8; 8192]);
    s.start_authorization(&[7u8; 48], now).unwrap();
    let state = match s.poll_action(now, &mut buf).unwrap() {
        Action::OpenUrl(url) => query_param(url, "state").unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    let mut query = format!("code=c0de&state={state}");
    if cfg.profile.issuer().is_some() {
        query.push_str("&iss=https%3A%2F%2Fas.example");
    }
    if matches!(cfg.profile, Profile::Kommo(_)) {
        query.push_str("&referer=");
        query.push_str(KOMMO_HOST);
    }
    s.handle_callback(query.as_bytes(), now, &mut scratch)
        .unwrap();
    assert!(matches!(
        s.poll_action(now, &mut buf).unwrap(),
        Action::Send(_)
    ));
    let body = br#"{"access_token":"at\/1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"a b"}"#;
    s.handle_response(Response::new(200, body), now, &mut scratch)
        .unwrap();
    match s.poll_action(now, &mut buf).unwrap() {
        Action::Persist(bytes) => bytes.to_vec(),
        other => panic!("{other:?}"),
    }
}
