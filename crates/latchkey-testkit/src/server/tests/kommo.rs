//! Kommo dialect: consent redirect with `referer`, per-account token endpoint.

use serde_json::json;

use super::*;
use crate::KommoAccount;

fn consent_url(state: &str, mode: &str) -> String {
    format!(
        "{KOMMO_CONSENT_URL}?client_id={KOMMO_CLIENT_ID}&state={}&mode={mode}",
        enc(state)
    )
}

fn kommo_code(s: &mut Server, now: u64) -> String {
    let resp = get(s, now, &consent_url("k-state", "popup"));
    assert_eq!(resp.status, 302, "{}", resp.body_str());
    resp.location_param("code").unwrap()
}

fn token_url(host: &str) -> String {
    format!("https://{host}/oauth2/access_token")
}

fn exchange(s: &mut Server, now: u64, url: &str, code: &str) -> HttpResponse {
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": KOMMO_CLIENT_SECRET,
                      "grant_type": "authorization_code", "code": code, "redirect_uri": KOMMO_REDIRECT_URI});
    post_json(s, now, url, None, &body)
}

fn refresh(s: &mut Server, now: u64, token: &str) -> HttpResponse {
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": KOMMO_CLIENT_SECRET,
                      "grant_type": "refresh_token", "refresh_token": token, "redirect_uri": KOMMO_REDIRECT_URI});
    post_json(s, now, &token_url(KOMMO_ACCOUNT_HOST), None, &body)
}

#[test]
fn consent_redirects_with_code_state_and_referer() {
    let mut s = server();
    for mode in ["popup", "post_message"] {
        let resp = get(&mut s, NOW, &consent_url("k1", mode));
        assert_eq!(resp.status, 302);
        assert!(
            resp.location()
                .unwrap()
                .starts_with(&format!("{KOMMO_REDIRECT_URI}?code=def50200"))
        );
        assert_eq!(resp.location_param("state").as_deref(), Some("k1"));
        assert_eq!(
            resp.location_param("referer").as_deref(),
            Some(KOMMO_ACCOUNT_HOST)
        );
    }
    assert_eq!(get(&mut s, NOW, &consent_url("k1", "iframe")).status, 400);
    assert_eq!(
        get(
            &mut s,
            NOW,
            &format!("{KOMMO_CONSENT_URL}?client_id=unknown&state=x")
        )
        .status,
        400
    );
    s.misbehave().deny_consent = true;
    let resp = get(&mut s, NOW, &consent_url("k2", "popup"));
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(resp.location_param("state").as_deref(), Some("k2"));
}

#[test]
fn exchange_gives_jwt_sized_tokens_that_rotate() {
    let mut s = server();
    let code = kommo_code(&mut s, NOW);
    let resp = exchange(&mut s, NOW, &token_url(KOMMO_ACCOUNT_HOST), &code);
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let v = json(&resp);
    let access = v["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "JWT-shaped");
    assert!(
        (900..1400).contains(&access.len()),
        "about 1 KB: {}",
        access.len()
    );
    assert_eq!(v["expires_in"], 86_400);
    let rt1 = v["refresh_token"].as_str().unwrap().to_owned();
    let v = json(&refresh(&mut s, NOW + 5, &rt1));
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    assert!(s.is_refresh_token_live(&rt2, NOW + 5));
    assert!(!s.is_refresh_token_live(&rt1, NOW + 5));
    assert_eq!(error_of(&refresh(&mut s, NOW + 6, &rt1)).0, "invalid_grant");
    assert!(
        !s.is_refresh_token_live(&rt2, NOW + 6),
        "reuse revoked the grant"
    );
    // The secret went only to the account host.
    assert!(
        s.log()
            .iter()
            .filter(|r| r.carries(KOMMO_CLIENT_SECRET))
            .all(|r| r.host() == KOMMO_ACCOUNT_HOST)
    );
}

#[test]
fn codes_are_bound_to_account_client_redirect_and_live_20_minutes() {
    let mut config = ServerConfig::default();
    config
        .kommo_accounts
        .push(KommoAccount::new("other.kommo.com"));
    let mut s = Server::new(config);
    let code = kommo_code(&mut s, NOW);
    assert_eq!(
        error_of(&exchange(&mut s, NOW, &token_url("other.kommo.com"), &code)).0,
        "invalid_grant"
    );
    let code = kommo_code(&mut s, NOW);
    let resp = exchange(&mut s, NOW + 20 * 60, &token_url(KOMMO_ACCOUNT_HOST), &code);
    assert_eq!(error_of(&resp).1, "Authorization code has expired");
    let code = kommo_code(&mut s, NOW);
    assert_eq!(
        exchange(
            &mut s,
            NOW + 20 * 60 - 1,
            &token_url(KOMMO_ACCOUNT_HOST),
            &code
        )
        .status,
        200
    );
    // Wrong secret, wrong redirect, missing field, unknown host.
    let code = kommo_code(&mut s, NOW);
    let url = token_url(KOMMO_ACCOUNT_HOST);
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": "nope", "grant_type": "authorization_code", "code": code, "redirect_uri": KOMMO_REDIRECT_URI});
    assert_eq!(post_json(&mut s, NOW, &url, None, &body).status, 401);
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": KOMMO_CLIENT_SECRET, "grant_type": "authorization_code", "code": code, "redirect_uri": "https://evil.example/"});
    assert_eq!(
        error_of(&post_json(&mut s, NOW, &url, None, &body)).0,
        "invalid_grant"
    );
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": KOMMO_CLIENT_SECRET, "grant_type": "authorization_code", "code": code});
    assert_eq!(
        error_of(&post_json(&mut s, NOW, &url, None, &body)).1,
        "missing member: redirect_uri"
    );
    assert_eq!(
        exchange(&mut s, NOW, &token_url("evil.com"), &code).status,
        404
    );
    assert_eq!(s.live_grants(), 1);
}

#[test]
fn an_account_can_be_served_from_a_loopback_base_url() {
    let config = ServerConfig {
        kommo_accounts: vec![KommoAccount {
            host: KOMMO_ACCOUNT_HOST.to_owned(),
            base_url: "http://127.0.0.1:8080/kommo".to_owned(),
        }],
        ..ServerConfig::default()
    };
    let mut s = Server::new(config);
    let code = kommo_code(&mut s, NOW);
    let resp = exchange(
        &mut s,
        NOW,
        "http://127.0.0.1:8080/kommo/oauth2/access_token",
        &code,
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let bearer = format!("Bearer {}", json(&resp)["access_token"].as_str().unwrap());
    let account = s.handle(
        NOW,
        &HttpRequest {
            method: "GET",
            url: "http://127.0.0.1:8080/kommo/api/v4/account",
            headers: &[("Authorization", &bearer)],
            body: &[],
        },
    );
    assert_eq!(account.status, 200);
}
