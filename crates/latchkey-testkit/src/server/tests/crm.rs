//! CRM dialect: portal login, code exchange, refresh rotation, revoke, password + MFA.

use serde_json::json;

use super::*;
use crate::MfaState;
use crate::totp::{base32_decode, totp_code};

#[test]
fn login_redirects_with_code_and_state_and_code_is_percent_encoded() {
    let mut s = server();
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url(CRM_CLIENT_ID, CRM_REDIRECT_URI, CHALLENGE, "abc"),
    );
    assert_eq!(resp.status, 302);
    let location = resp.location().unwrap();
    assert!(
        location.starts_with(&format!("{CRM_REDIRECT_URI}?code=crm.code%2F")),
        "{location}"
    );
    assert_eq!(resp.location_param("state").as_deref(), Some("abc"));
    assert_eq!(resp.location_param("iss"), None, "CRM sends no iss");
    assert_eq!(
        s.is_code_used(&resp.location_param("code").unwrap()),
        Some(false)
    );
}

#[test]
fn login_validation_errors_redirect_or_show_a_page() {
    let mut s = server();
    // Unknown client, redirect URI registered for another CRM client → redirect.
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url("nobody", CRM_REDIRECT_URI, CHALLENGE, "s1"),
    );
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        resp.location_param("error_description").as_deref(),
        Some("invalid client id")
    );
    assert_eq!(resp.location_param("state").as_deref(), Some("s1"));
    // Unknown client and unknown redirect URI → a 400 page, no redirect.
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url("nobody", "https://evil.example/cb", CHALLENGE, "s"),
    );
    assert_eq!((resp.status, resp.location()), (400, None));
    // Known client, unregistered redirect URI → a 400 page (no open redirector).
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url(CRM_CLIENT_ID, "https://evil.example/cb", CHALLENGE, "s"),
    );
    assert_eq!((resp.status, resp.location()), (400, None));
    assert!(resp.body_str().contains("invalid redirect uri"));
    // Bad challenge → redirect with invalid_request.
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url(CRM_CLIENT_ID, CRM_REDIRECT_URI, "short", "s2"),
    );
    assert_eq!(
        resp.location_param("error_description").as_deref(),
        Some("invalid code challenge")
    );
    // plain method → refused.
    let url =
        crm_login_url(CRM_CLIENT_ID, CRM_REDIRECT_URI, CHALLENGE, "s").replace("S256", "plain");
    let resp = get(&mut s, NOW, &url);
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("invalid_request")
    );
    // Duplicated parameter → invalid_request on the redirect.
    let url = format!(
        "{}&state=again",
        crm_login_url(CRM_CLIENT_ID, CRM_REDIRECT_URI, CHALLENGE, "s")
    );
    let resp = get(&mut s, NOW, &url);
    assert_eq!(
        resp.location_param("error_description").as_deref(),
        Some("duplicate parameter: state")
    );
    // Bad percent-escape → 400 page.
    let resp = get(&mut s, NOW, &format!("{CRM_PORTAL}/login?client_id=%zz"));
    assert_eq!(resp.status, 400);
    // Loopback redirect with any port is accepted (RFC 8252).
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url(
            CRM_PUBLIC_CLIENT_ID,
            "http://127.0.0.1:41234/callback",
            CHALLENGE,
            "s",
        ),
    );
    assert_eq!(resp.status, 302);
    assert!(
        resp.location()
            .unwrap()
            .starts_with("http://127.0.0.1:41234/callback?code=")
    );
    assert_eq!(s.grant_count(), 0);
}

#[test]
fn code_exchange_returns_php_escaped_bearer_tokens() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(resp.status, 200);
    assert!(
        resp.body_str().contains(r#""access_token":"crm.access\/"#),
        "{}",
        resp.body_str()
    );
    let v = json(&resp);
    let access = v["access_token"].as_str().unwrap();
    assert!(access.contains('/'));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(s.is_access_token_live(access, NOW));
    assert!(!s.is_access_token_live(access, NOW + 3600));
    assert!(s.is_refresh_token_live(v["refresh_token"].as_str().unwrap(), NOW));
    let grant = s.grant_of_token(access).unwrap();
    let info = s.grant(grant).unwrap();
    assert_eq!(
        (info.client_id.as_str(), info.username.as_deref()),
        (CRM_CLIENT_ID, Some(USER_ALICE))
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    // The access token works at the resource endpoint.
    let bearer = format!("Bearer {access}");
    let me = s.handle(
        NOW,
        &HttpRequest {
            method: "GET",
            url: &format!("{CRM_API}/me"),
            headers: &[("Authorization", &bearer)],
            body: &[],
        },
    );
    assert_eq!(json(&me)["sub"], USER_ALICE);
    let me = s.handle(NOW, &HttpRequest::get(&format!("{CRM_API}/me")));
    assert_eq!(me.status, 401);
}

#[test]
fn pkce_is_verified_with_the_rfc7636_vector() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, OTHER_VERIFIER, Some(&crm_basic()));
    assert_eq!(resp.status, 400);
    assert_eq!(
        error_of(&resp),
        (
            "invalid_grant".into(),
            "Code verifier does not match code challenge".into()
        )
    );
    // The failed attempt consumed the code.
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(
        error_of(&resp).1,
        "Authorization code is invalid or does not exist"
    );
    // A malformed verifier is an invalid_request.
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, "too-short", Some(&crm_basic()));
    assert_eq!(error_of(&resp).0, "invalid_request");
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    assert_eq!(
        crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic())).status,
        200
    );
}

#[test]
fn code_reuse_is_refused_and_revokes_the_tokens_issued_from_it() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let v = json(&crm_exchange(
        &mut s,
        NOW,
        &code,
        VERIFIER,
        Some(&crm_basic()),
    ));
    let (access, refresh) = (
        v["access_token"].as_str().unwrap(),
        v["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(s.live_grants(), 1);
    let resp = crm_exchange(&mut s, NOW + 1, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(
        error_of(&resp),
        (
            "invalid_grant".into(),
            "Authorization code is invalid or does not exist".into()
        )
    );
    assert!(!s.is_access_token_live(access, NOW + 1));
    assert!(!s.is_refresh_token_live(refresh, NOW + 1));
    assert_eq!(s.live_grants(), 0);
    assert_eq!(s.is_code_used(&code), Some(true));
}

#[test]
fn codes_expire_after_600_seconds() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW + 600, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(error_of(&resp).1, "Authorization code has expired");
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    assert_eq!(
        crm_exchange(&mut s, NOW + 599, &code, VERIFIER, Some(&crm_basic())).status,
        200
    );
}

#[test]
fn confidential_client_must_authenticate_with_raw_basic() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, None);
    assert_eq!(resp.status, 401);
    assert_eq!(error_of(&resp).0, "invalid_client");
    assert!(
        resp.header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let wrong = encode_basic_raw(CRM_CLIENT_ID, "nope");
    assert_eq!(
        crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&wrong)).status,
        401
    );
    // Another client's credentials cannot redeem this client's code.
    let code = crm_code(&mut s, NOW, CRM_PUBLIC_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(error_of(&resp).0, "invalid_grant");
    assert_eq!(s.grant_count(), 0);
}

#[test]
fn public_client_exchanges_and_refreshes_without_credentials() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_PUBLIC_CLIENT_ID);
    let v = json(&crm_exchange(&mut s, NOW, &code, VERIFIER, None));
    let refresh = v["refresh_token"].as_str().unwrap();
    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh});
    let resp = post_json(&mut s, NOW, &crm_token_url(), None, &body);
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    // A confidential client's refresh token cannot be used without credentials.
    let (_, conf_refresh) = crm_tokens(&mut s, NOW);
    let body = json!({"grant_type": "refresh_token", "refresh_token": conf_refresh});
    assert_eq!(
        post_json(&mut s, NOW, &crm_token_url(), None, &body).status,
        401
    );
    assert!(s.is_refresh_token_live(&conf_refresh, NOW));
}

#[test]
fn request_encoding_is_strict() {
    let mut s = server();
    let url = crm_token_url();
    let basic = crm_basic();
    let body = br#"{"grant_type":"authorization_code","code":"x","code_verifier":"y"}"#;
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", basic.as_str()),
    ];
    let resp = post(&mut s, NOW, &url, &form, body);
    assert_eq!(
        error_of(&resp),
        (
            "invalid_request".into(),
            "Content-Type must be application/json".into()
        )
    );
    let headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Authorization", basic.as_str()),
    ];
    let resp = post(
        &mut s,
        NOW,
        &url,
        &headers,
        br#"{"grant_type":"authorization_code""#,
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
    let resp = post(
        &mut s,
        NOW,
        &url,
        &headers,
        br#"{"grant_type":"password","grant_type":"refresh_token"}"#,
    );
    assert_eq!(error_of(&resp).1, "duplicate JSON member: grant_type");
    let resp = post(
        &mut s,
        NOW,
        &url,
        &headers,
        br#"{"grant_type":"client_credentials"}"#,
    );
    assert_eq!(
        error_of(&resp),
        ("invalid_grant".into(), "invalid grant type".into())
    );
    let resp = post(&mut s, NOW, &url, &headers, br#"{"grant_type":7}"#);
    assert_eq!(error_of(&resp).0, "invalid_request");
    let resp = s.handle(NOW, &HttpRequest::get(&url));
    assert_eq!(resp.status, 405);
    let resp = post(
        &mut s,
        NOW,
        &format!("{url}?client_secret=x"),
        &headers,
        b"{}",
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
}

#[test]
fn refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_grant() {
    let mut s = server();
    let (access1, rt1) = crm_tokens(&mut s, NOW);
    let v = json(&crm_refresh(&mut s, NOW + 10, &rt1));
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    let access2 = v["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert!(!s.is_refresh_token_live(&rt1, NOW + 10));
    assert!(s.is_refresh_token_live(&rt2, NOW + 10));
    assert!(
        s.is_access_token_live(&access1, NOW + 10),
        "old access tokens live until expiry"
    );
    // Replay of the rotated-out token: refused, and the whole grant dies.
    let resp = crm_refresh(&mut s, NOW + 20, &rt1);
    assert_eq!(
        error_of(&resp),
        (
            "invalid_grant".into(),
            "Refresh token is invalid or expired".into()
        )
    );
    assert!(!s.is_refresh_token_live(&rt2, NOW + 20));
    assert!(!s.is_access_token_live(&access2, NOW + 20));
    assert!(!s.is_access_token_live(&access1, NOW + 20));
    assert!(s.is_grant_revoked(s.grant_of_token(&rt2).unwrap()));
    assert_eq!(
        error_of(&crm_refresh(&mut s, NOW + 30, &rt2)).0,
        "invalid_grant"
    );
    assert_eq!(s.refresh_token_presentations(&rt1), 2);
    assert_eq!(s.refresh_token_presentations(&rt2), 1);
}

#[test]
fn revoke_ends_the_grant_and_answers_200_for_unknown_tokens() {
    let mut s = server();
    let (access, refresh) = crm_tokens(&mut s, NOW);
    let url = format!("{CRM_API}/oauth/revoke");
    let resp = post_json(
        &mut s,
        NOW,
        &url,
        Some(&crm_basic()),
        &json!({"refresh_token": refresh}),
    );
    assert_eq!(resp.status, 200);
    assert!(!s.is_refresh_token_live(&refresh, NOW));
    assert!(!s.is_access_token_live(&access, NOW));
    assert_eq!(
        error_of(&crm_refresh(&mut s, NOW, &refresh)).1,
        "Refresh token is invalid or expired"
    );
    let resp = post_json(
        &mut s,
        NOW,
        &url,
        Some(&crm_basic()),
        &json!({"refresh_token": "unknown"}),
    );
    assert_eq!(resp.status, 200);
    let resp = post_json(&mut s, NOW, &url, Some(&crm_basic()), &json!({}));
    assert_eq!(resp.status, 400);
}

fn password(s: &mut Server, now: u64, user: &str, pass: &str) -> HttpResponse {
    let body = json!({"grant_type": "password", "username": user, "password": pass});
    post_json(s, now, &crm_token_url(), Some(&crm_basic()), &body)
}

fn mfa(s: &mut Server, now: u64, step: &str, body: &Value) -> HttpResponse {
    post_json(
        s,
        now,
        &format!("{CRM_API}/oauth/mfa/{step}"),
        Some(&crm_basic()),
        body,
    )
}

fn mfa_token(s: &mut Server, now: u64, user: &str, pass: &str) -> String {
    let resp = password(s, now, user, pass);
    assert_eq!(resp.status, 400);
    assert_eq!(
        error_of(&resp),
        (
            "invalid_grant".into(),
            "Multi-factor authentication required".into()
        )
    );
    assert!(resp.body_str().contains(r#""mfa_token":"crm.mfa\/"#));
    json(&resp)["mfa_token"].as_str().unwrap().to_owned()
}

#[test]
fn password_grant_without_mfa() {
    let mut s = server();
    let resp = password(&mut s, NOW, USER_ALICE, ALICE_PASSWORD);
    assert_eq!(resp.status, 200);
    assert!(s.is_access_token_live(json(&resp)["access_token"].as_str().unwrap(), NOW));
    let resp = password(&mut s, NOW, USER_ALICE, "wrong");
    assert_eq!(
        error_of(&resp),
        (
            "invalid_grant".into(),
            "Invalid username or password".into()
        )
    );
    let resp = password(&mut s, NOW, "mallory", "x");
    assert_eq!(error_of(&resp).1, "Invalid username or password");
    let body =
        json!({"grant_type": "password", "username": USER_ALICE, "password": ALICE_PASSWORD});
    let resp = post_json(&mut s, NOW, &crm_token_url(), None, &body);
    assert_eq!(error_of(&resp).0, "unauthorized_client");
    assert_eq!(s.live_grants(), 1);
}

#[test]
fn mfa_with_totp_verifies_real_rfc6238_codes_once() {
    let mut s = server();
    let token = mfa_token(&mut s, NOW, USER_BOB, BOB_PASSWORD);
    let good = s.totp_now(USER_BOB, NOW).unwrap();
    assert_eq!(good, totp_code(BOB_TOTP_SECRET, NOW));
    let wrong = if good == "000000" { "000001" } else { "000000" };
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": wrong}),
    );
    assert_eq!(
        error_of(&resp),
        ("invalid_grant".into(), "Invalid or expired OTP code".into())
    );
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": "bogus", "otp_code": good}),
    );
    assert_eq!(error_of(&resp).1, "Invalid Mfa token");
    // The code of the previous 30 s step is still accepted (±1 window)...
    let previous = totp_code(BOB_TOTP_SECRET, NOW - 30);
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": previous}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    assert_eq!(
        s.grant(
            s.grant_of_token(json(&resp)["access_token"].as_str().unwrap())
                .unwrap()
        )
        .unwrap()
        .username
        .as_deref(),
        Some(USER_BOB)
    );
    // ...the mfa_token is single-use...
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": good}),
    );
    assert_eq!(error_of(&resp).1, "Invalid Mfa token");
    // ...a step at or before the last accepted one is a replay, a code two steps old is stale.
    let token = mfa_token(&mut s, NOW, USER_BOB, BOB_PASSWORD);
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": previous}),
    );
    assert_eq!(error_of(&resp).1, "Invalid or expired OTP code");
    let stale = totp_code(BOB_TOTP_SECRET, NOW - 60);
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": stale}),
    );
    assert_eq!(resp.status, 400);
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": good}),
    );
    assert_eq!(resp.status, 200);
    // Bob's MFA is active: no new secret.
    let token = mfa_token(&mut s, NOW, USER_BOB, BOB_PASSWORD);
    let resp = mfa(&mut s, NOW, "secret", &json!({"mfa_token": token}));
    assert_eq!(error_of(&resp).1, "Mfa Activated");
    // MFA endpoints need the client's Basic credentials.
    let url = format!("{CRM_API}/oauth/mfa/verify");
    let resp = post_json(
        &mut s,
        NOW,
        &url,
        None,
        &json!({"mfa_token": token, "otp_code": good}),
    );
    assert_eq!(resp.status, 401);
    // mfa_tokens expire.
    let resp = mfa(
        &mut s,
        NOW + 600,
        "verify",
        &json!({"mfa_token": token, "otp_code": totp_code(BOB_TOTP_SECRET, NOW + 600)}),
    );
    assert_eq!(error_of(&resp).1, "Invalid Mfa token");
}

#[test]
fn mfa_by_email() {
    let mut s = server();
    let token = mfa_token(&mut s, NOW, USER_CAROL, CAROL_PASSWORD);
    assert_eq!(s.last_email_otp(USER_CAROL), None);
    let resp = mfa(&mut s, NOW, "email/send", &json!({"mfa_token": token}));
    assert_eq!(resp.status, 200);
    let otp = s.last_email_otp(USER_CAROL).unwrap();
    assert_eq!(otp.len(), 6);
    let resp = mfa(
        &mut s,
        NOW + 301,
        "verify",
        &json!({"mfa_token": token, "otp_code": otp}),
    );
    assert_eq!(
        error_of(&resp).1,
        "Invalid or expired OTP code",
        "email OTPs expire"
    );
    mfa(&mut s, NOW, "email/send", &json!({"mfa_token": token}));
    let otp = s.last_email_otp(USER_CAROL).unwrap();
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": otp}),
    );
    assert_eq!(resp.status, 200);
    // Authenticator users get no email codes.
    let bob = mfa_token(&mut s, NOW, USER_BOB, BOB_PASSWORD);
    assert_eq!(
        error_of(&mfa(&mut s, NOW, "email/send", &json!({"mfa_token": bob}))).1,
        "Invalid Mfa Type"
    );
}

#[test]
fn mfa_setup_secret_bind_then_verify() {
    let mut s = server();
    let token = mfa_token(&mut s, NOW, USER_DAVE, DAVE_PASSWORD);
    let resp = mfa(
        &mut s,
        NOW,
        "verify",
        &json!({"mfa_token": token, "otp_code": "123456"}),
    );
    assert_eq!(
        error_of(&resp).1,
        "Invalid or expired OTP code",
        "nothing bound yet"
    );
    let resp = mfa(&mut s, NOW, "secret", &json!({"mfa_token": token}));
    let secret = json(&resp)["mfa_secret"].as_str().unwrap().to_owned();
    let raw = base32_decode(&secret).unwrap();
    assert_eq!(raw.len(), 20);
    let code = totp_code(&raw, NOW);
    assert_eq!(s.totp_now(USER_DAVE, NOW).as_deref(), Some(code.as_str()));
    let resp = mfa(
        &mut s,
        NOW,
        "bind",
        &json!({"mfa_token": token, "mfa_type": "sms", "otp_code": code}),
    );
    assert_eq!(error_of(&resp).1, "Invalid Mfa Type");
    let bad = if code == "111111" { "222222" } else { "111111" };
    let resp = mfa(
        &mut s,
        NOW,
        "bind",
        &json!({"mfa_token": token, "mfa_type": "authenticator", "otp_code": bad}),
    );
    assert_eq!(error_of(&resp).1, "Invalid Otp code");
    let resp = mfa(
        &mut s,
        NOW,
        "bind",
        &json!({"mfa_token": token, "mfa_type": "authenticator", "otp_code": code}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    assert_eq!(
        s.mfa_state(USER_DAVE),
        Some(&MfaState::Authenticator {
            secret: raw.clone()
        })
    );
    let resp = mfa(
        &mut s,
        NOW,
        "bind",
        &json!({"mfa_token": token, "mfa_type": "email", "otp_code": code}),
    );
    assert_eq!(error_of(&resp).1, "Mfa Activated");
    let resp = mfa(
        &mut s,
        NOW + 30,
        "verify",
        &json!({"mfa_token": token, "otp_code": totp_code(&raw, NOW + 30)}),
    );
    assert_eq!(resp.status, 200);
    // Deactivation request is recorded.
    let token = mfa_token(&mut s, NOW + 60, USER_DAVE, DAVE_PASSWORD);
    assert!(!s.mfa_deactivation_requested(USER_DAVE));
    assert_eq!(
        mfa(
            &mut s,
            NOW + 60,
            "deactivation/request",
            &json!({"mfa_token": token})
        )
        .status,
        200
    );
    assert!(s.mfa_deactivation_requested(USER_DAVE));
}

#[test]
fn forget_is_rate_limited_per_user() {
    let mut s = server();
    let url = format!("{CRM_API}/oauth/forget");
    let body = json!({"username": USER_ALICE});
    assert_eq!(
        post_json(&mut s, NOW, &url, Some(&crm_basic()), &body).status,
        200
    );
    let resp = post_json(&mut s, NOW + 59, &url, Some(&crm_basic()), &body);
    assert_eq!(
        (resp.status, error_of(&resp).0.as_str()),
        (400, "rate_limit_exceeded")
    );
    assert_eq!(
        post_json(
            &mut s,
            NOW + 59,
            &url,
            Some(&crm_basic()),
            &json!({"username": USER_BOB})
        )
        .status,
        200
    );
    assert_eq!(
        post_json(&mut s, NOW + 60, &url, Some(&crm_basic()), &body).status,
        200
    );
    assert_eq!(s.password_reset_requests(USER_ALICE), 2);
    assert_eq!(post_json(&mut s, NOW + 500, &url, None, &body).status, 401);
}

#[test]
fn postmessage_parent_answers_with_a_code_the_token_endpoint_accepts() {
    let mut s = server();
    let message = json!({
        "type": "GET_CLIENT_OAUTH_CODE", "source": "iframe",
        "payload": {"client_id": CRM_PUBLIC_CLIENT_ID, "redirect_uri": CRM_REDIRECT_URI, "scope": CRM_SCOPE,
                    "response_type": "code", "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": "st8"}
    });
    let reply: Value =
        serde_json::from_str(&s.answer_postmessage(NOW, &message.to_string()).unwrap()).unwrap();
    assert_eq!(reply["type"], "CLIENT_OAUTH_CODE");
    assert_eq!(reply["payload"]["state"], "st8");
    let code = reply["payload"]["code"].as_str().unwrap();
    assert_eq!(crm_exchange(&mut s, NOW, code, VERIFIER, None).status, 200);
    // Other message types are ignored; invalid payloads get an error reply.
    assert_eq!(
        s.answer_postmessage(NOW, r#"{"type":"PING","payload":{}}"#),
        None
    );
    assert_eq!(s.answer_postmessage(NOW, "not json"), None);
    let mut bad = message.clone();
    bad["payload"]["code_challenge"] = json!("x");
    let reply: Value =
        serde_json::from_str(&s.answer_postmessage(NOW, &bad.to_string()).unwrap()).unwrap();
    assert_eq!(
        reply["payload"]["error_description"],
        "invalid code challenge"
    );
    // Typed API and the state-echo switches.
    let request = crate::PostMessageRequest {
        client_id: CRM_PUBLIC_CLIENT_ID.into(),
        redirect_uri: CRM_REDIRECT_URI.into(),
        scope: CRM_SCOPE.into(),
        response_type: "code".into(),
        code_challenge: CHALLENGE.into(),
        code_challenge_method: "S256".into(),
        state: Some("st9".into()),
    };
    s.misbehave().callback_wrong_state = true;
    assert_eq!(
        s.authorize_postmessage(NOW, &request)
            .unwrap()
            .state
            .as_deref(),
        Some(crate::WRONG_STATE)
    );
    assert_eq!(
        s.authorize_postmessage(NOW, &request)
            .unwrap()
            .state
            .as_deref(),
        Some("st9")
    );
    s.misbehave().deny_consent = true;
    assert_eq!(
        s.authorize_postmessage(NOW, &request).unwrap_err().error,
        "access_denied"
    );
}

#[test]
fn the_client_secret_is_visible_in_the_log_only_where_it_was_sent() {
    let mut s = server();
    crm_tokens(&mut s, NOW);
    let token_requests: Vec<_> = s.log().iter().filter(|r| r.method == "POST").collect();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].host(), "api.crm.example");
    assert!(
        token_requests[0].carries(CRM_CLIENT_SECRET),
        "Basic credentials are decoded"
    );
    assert!(token_requests[0].carries(VERIFIER));
    assert!(
        s.log()
            .iter()
            .filter(|r| r.method == "GET")
            .all(|r| !r.carries(CRM_CLIENT_SECRET))
    );
}
