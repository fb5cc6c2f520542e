//! Every misbehaviour switch does what it says, once.

use super::*;
use crate::{
    EVIL_TOKEN_URL, ExpiresInQuirk, Misbehaviour, OVERSIZE_BODY_LEN, WRONG_ISSUER, WRONG_STATE,
};

fn rfc_callback(s: &mut Server) -> HttpResponse {
    get(
        s,
        NOW,
        &rfc_authorize_url(RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI, "good"),
    )
}

fn values(resp: &HttpResponse, name: &str) -> Vec<String> {
    resp.location_params()
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn callback_state_iss_and_code_switches_apply_once() {
    let mut s = server();
    s.misbehave().callback_wrong_state = true;
    assert_eq!(values(&rfc_callback(&mut s), "state"), [WRONG_STATE]);
    assert_eq!(values(&rfc_callback(&mut s), "state"), ["good"], "one-shot");
    s.misbehave().callback_missing_state = true;
    assert!(values(&rfc_callback(&mut s), "state").is_empty());
    s.misbehave().callback_duplicate_state = true;
    assert_eq!(values(&rfc_callback(&mut s), "state"), ["good", "good"]);
    s.misbehave().callback_wrong_iss = true;
    assert_eq!(values(&rfc_callback(&mut s), "iss"), [WRONG_ISSUER]);
    s.misbehave().callback_missing_iss = true;
    assert!(values(&rfc_callback(&mut s), "iss").is_empty());
    s.misbehave().callback_duplicate_code = true;
    let codes = values(&rfc_callback(&mut s), "code");
    assert_eq!(codes.len(), 2);
    assert_ne!(codes[0], codes[1]);
    assert_eq!(
        s.is_code_used(&codes[1]),
        None,
        "the second code is a decoy"
    );
    // CRM callbacks honour the state switches but never carry iss.
    s.misbehave().callback_wrong_state = true;
    s.misbehave().callback_wrong_iss = true;
    let resp = get(
        &mut s,
        NOW,
        &crm_login_url(CRM_CLIENT_ID, CRM_REDIRECT_URI, CHALLENGE, "c"),
    );
    assert_eq!(values(&resp, "state"), [WRONG_STATE]);
    assert!(values(&resp, "iss").is_empty());
    assert!(
        s.misbehave().callback_wrong_iss,
        "an iss switch waits for an RFC callback"
    );
}

#[test]
fn hostile_kommo_referers_are_sent_verbatim() {
    let mut s = server();
    for hostile in [
        "evil.com",
        "example.kommo.com.evil.com",
        "kommo.com@evil.com",
    ] {
        s.misbehave().kommo_hostile_referer = Some(hostile.to_owned());
        let resp = get(
            &mut s,
            NOW,
            &format!("{KOMMO_CONSENT_URL}?client_id={KOMMO_CLIENT_ID}&state=s"),
        );
        assert_eq!(resp.location_param("referer").as_deref(), Some(hostile));
    }
    let resp = get(
        &mut s,
        NOW,
        &format!("{KOMMO_CONSENT_URL}?client_id={KOMMO_CLIENT_ID}&state=s"),
    );
    assert_eq!(
        resp.location_param("referer").as_deref(),
        Some(KOMMO_ACCOUNT_HOST)
    );
}

#[test]
fn redirect_307_and_html_500_do_not_process_the_request() {
    let mut s = server();
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    s.misbehave().redirect_307 = Some(EVIL_TOKEN_URL.to_owned());
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!((resp.status, resp.location()), (307, Some(EVIL_TOKEN_URL)));
    assert_eq!(s.is_code_used(&code), Some(false));
    s.misbehave().html_500 = true;
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(resp.status, 500);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.json().is_none());
    assert_eq!(s.is_code_used(&code), Some(false));
    assert_eq!(
        crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic())).status,
        200
    );
    // 307 also guards revocation.
    s.misbehave().redirect_307 = Some(EVIL_TOKEN_URL.to_owned());
    let resp = post_form(
        &mut s,
        NOW,
        &format!("{ISSUER}/revoke"),
        None,
        &[("token", "x"), ("client_id", RFC_PUBLIC_CLIENT_ID)],
    );
    assert_eq!(resp.status, 307);
}

#[test]
fn lost_response_after_rotation_leaves_the_old_token_rotated_out() {
    let mut s = server();
    let (_, rt1) = crm_tokens(&mut s, NOW);
    s.misbehave().lose_response_after_rotation = true;
    let resp = crm_refresh(&mut s, NOW, &rt1);
    assert_eq!(resp.status, 504);
    assert!(resp.is_simulated_timeout());
    let grant = s.grant_of_token(&rt1).unwrap();
    let current = s.grant(grant).unwrap().current_refresh_token.unwrap();
    assert_ne!(current, rt1);
    assert!(s.is_refresh_token_live(&current, NOW));
    // A client that retries with the old token trips reuse detection.
    assert_eq!(error_of(&crm_refresh(&mut s, NOW, &rt1)).0, "invalid_grant");
    assert!(s.is_grant_revoked(grant));
}

#[test]
fn accept_rotated_once_then_revoke() {
    let mut s = server();
    let (_, rt1) = rfc_tokens(&mut s, NOW);
    let rt2 = json(&rfc_refresh(&mut s, NOW, &rt1))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.misbehave().accept_rotated_once = true;
    let resp = rfc_refresh(&mut s, NOW, &rt1);
    assert_eq!(
        resp.status, 200,
        "grace: the rotated-out token is accepted once"
    );
    let rt3 = json(&resp)["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        !s.is_refresh_token_live(&rt2, NOW),
        "the grace refresh rotated rt2 out too"
    );
    assert!(s.is_refresh_token_live(&rt3, NOW));
    assert_eq!(error_of(&rfc_refresh(&mut s, NOW, &rt1)).0, "invalid_grant");
    assert!(
        !s.is_refresh_token_live(&rt3, NOW),
        "second replay revoked the grant"
    );
}

#[test]
fn revoke_503_keeps_the_token_live() {
    let mut s = server();
    let (_, refresh) = crm_tokens(&mut s, NOW);
    s.misbehave().revoke_503 = Some(30);
    let url = format!("{CRM_API}/oauth/revoke");
    let body = serde_json::json!({"refresh_token": refresh});
    let resp = post_json(&mut s, NOW, &url, Some(&crm_basic()), &body);
    assert_eq!((resp.status, resp.header("retry-after")), (503, Some("30")));
    assert!(s.is_refresh_token_live(&refresh, NOW));
    assert_eq!(
        post_json(&mut s, NOW, &url, Some(&crm_basic()), &body).status,
        200
    );
    assert!(!s.is_refresh_token_live(&refresh, NOW));
}

#[test]
fn token_body_switches_distort_a_real_response() {
    let mut s = server();
    let (_, rt) = rfc_tokens(&mut s, NOW);
    *s.misbehave() = Misbehaviour {
        error_in_200: true,
        token_type: Some("example".to_owned()),
        expires_in: Some(ExpiresInQuirk::U64Max),
        unknown_nested_fields: true,
        ..Misbehaviour::default()
    };
    let resp = rfc_refresh(&mut s, NOW, &rt);
    assert_eq!(resp.status, 200);
    let v = json(&resp);
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["token_type"], "example");
    assert_eq!(v["expires_in"].as_u64(), Some(u64::MAX));
    assert!(v["x_testkit_extension"]["nested"].is_object());
    let access = v["access_token"].as_str().unwrap();
    assert!(
        s.is_access_token_live(access, NOW),
        "the server did its job before distorting"
    );
    assert_eq!(*s.misbehave(), Misbehaviour::default(), "all consumed");

    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    s.misbehave().oversize_body = true;
    let resp = rfc_refresh(&mut s, NOW, &rt);
    assert!(resp.body.len() > OVERSIZE_BODY_LEN);
    let rt = json(&resp)["refresh_token"].as_str().unwrap().to_owned();
    s.misbehave().expires_in = Some(ExpiresInQuirk::AsString);
    s.misbehave().duplicate_members = true;
    let resp = rfc_refresh(&mut s, NOW, &rt);
    assert!(resp.body_str().contains(r#""expires_in":"3600""#));
    assert_eq!(resp.body_str().matches("\"access_token\"").count(), 2);
    s.misbehave().malformed_json = true;
    let code = crm_code(&mut s, NOW, CRM_CLIENT_ID);
    let resp = crm_exchange(&mut s, NOW, &code, VERIFIER, Some(&crm_basic()));
    assert_eq!(resp.status, 200);
    assert!(resp.json().is_none());
}
