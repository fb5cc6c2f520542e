//! Unit tests of the server's own strictness, one file per dialect.

use serde_json::Value;

use crate::config::*;
use crate::http::{HttpRequest, HttpResponse, encode_basic_raw, encode_basic_rfc6749};
use crate::server::Server;

mod crm;
mod device;
mod kommo;
mod misbehaviour;
mod rfc;

/// A fixed "now" for the tests.
const NOW: u64 = 1_700_000_000;
/// RFC 7636 App. B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Another valid verifier whose challenge differs.
const OTHER_VERIFIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn server() -> Server {
    Server::new(ServerConfig::default())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn get(server: &mut Server, now: u64, url: &str) -> HttpResponse {
    server.handle(now, &HttpRequest::get(url))
}

fn post(
    server: &mut Server,
    now: u64,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    server.handle(now, &HttpRequest::post(url, headers, body))
}

fn post_json(
    server: &mut Server,
    now: u64,
    url: &str,
    auth: Option<&str>,
    body: &Value,
) -> HttpResponse {
    let body = body.to_string();
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    post(server, now, url, &headers, body.as_bytes())
}

fn post_form(
    server: &mut Server,
    now: u64,
    url: &str,
    auth: Option<&str>,
    pairs: &[(&str, &str)],
) -> HttpResponse {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        body.append_pair(k, v);
    }
    let body = body.finish();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    post(server, now, url, &headers, body.as_bytes())
}

/// `(error, error_description)` of an error response.
fn error_of(resp: &HttpResponse) -> (String, String) {
    let v = resp.json().unwrap_or_default();
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    (s("error"), s("error_description"))
}

fn json(resp: &HttpResponse) -> Value {
    resp.json()
        .unwrap_or_else(|| panic!("not JSON: {} {}", resp.status, resp.body_str()))
}

fn crm_basic() -> String {
    encode_basic_raw(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
}

fn rfc_basic() -> String {
    encode_basic_rfc6749(RFC_CONFIDENTIAL_CLIENT_ID, RFC_CONFIDENTIAL_CLIENT_SECRET)
}

fn crm_token_url() -> String {
    format!("{CRM_API}/oauth/token")
}

fn rfc_token_url() -> String {
    format!("{ISSUER}/token")
}

fn crm_login_url(client_id: &str, redirect_uri: &str, challenge: &str, state: &str) -> String {
    format!(
        "{CRM_PORTAL}/login?client_id={}&scope={}&response_type=code&code_challenge={}\
         &code_challenge_method=S256&redirect_uri={}&state={}",
        enc(client_id),
        enc(CRM_SCOPE),
        enc(challenge),
        enc(redirect_uri),
        enc(state)
    )
}

/// A fresh CRM code for `client_id` (challenge of [`VERIFIER`]).
fn crm_code(server: &mut Server, now: u64, client_id: &str) -> String {
    let resp = get(
        server,
        now,
        &crm_login_url(client_id, CRM_REDIRECT_URI, CHALLENGE, "st"),
    );
    assert_eq!(resp.status, 302, "{}", resp.body_str());
    resp.location_param("code").unwrap()
}

fn crm_exchange(
    server: &mut Server,
    now: u64,
    code: &str,
    verifier: &str,
    auth: Option<&str>,
) -> HttpResponse {
    let body = serde_json::json!({"grant_type": "authorization_code", "code": code, "code_verifier": verifier});
    post_json(server, now, &crm_token_url(), auth, &body)
}

fn crm_refresh(server: &mut Server, now: u64, refresh: &str) -> HttpResponse {
    let body = serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh});
    post_json(server, now, &crm_token_url(), Some(&crm_basic()), &body)
}

/// Signs in through the CRM confidential client; returns `(access, refresh)`.
fn crm_tokens(server: &mut Server, now: u64) -> (String, String) {
    let code = crm_code(server, now, CRM_CLIENT_ID);
    let resp = crm_exchange(server, now, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let v = json(&resp);
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn rfc_authorize_url(client_id: &str, redirect_uri: &str, state: &str) -> String {
    format!(
        "{ISSUER}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read+write\
         &state={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        enc(client_id),
        enc(redirect_uri),
        enc(state)
    )
}

fn rfc_code(server: &mut Server, now: u64, client_id: &str) -> String {
    let resp = get(
        server,
        now,
        &rfc_authorize_url(client_id, RFC_REDIRECT_URI, "xyz"),
    );
    assert_eq!(resp.status, 302, "{}", resp.body_str());
    resp.location_param("code").unwrap()
}

/// Signs in through the RFC 6749 public client; returns `(access, refresh)`.
fn rfc_tokens(server: &mut Server, now: u64) -> (String, String) {
    let code = rfc_code(server, now, RFC_PUBLIC_CLIENT_ID);
    let resp = post_form(
        server,
        now,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RFC_REDIRECT_URI),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let v = json(&resp);
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn rfc_refresh(server: &mut Server, now: u64, refresh: &str) -> HttpResponse {
    post_form(
        server,
        now,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
        ],
    )
}
