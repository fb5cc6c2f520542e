//! RFC 6749 dialect: authorize (+ RFC 9207 iss), client authentication, grants, RFC 7009.

use super::*;
use crate::ClientRegistration;

#[test]
fn authorize_sends_code_state_and_iss_and_codes_need_url_decoding() {
    let mut s = server();
    let resp = get(
        &mut s,
        NOW,
        &rfc_authorize_url(RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI, "xyz"),
    );
    assert_eq!(resp.status, 302);
    let location = resp.location().unwrap();
    assert!(
        location.starts_with("https://client.example/cb?code=rfc.code%2B%2F"),
        "{location}"
    );
    assert!(location.contains("&iss=https%3A%2F%2Fas.example"));
    assert_eq!(resp.location_param("state").as_deref(), Some("xyz"));
    assert_eq!(resp.location_param("iss").as_deref(), Some(ISSUER));
    assert!(
        resp.location_param("code")
            .unwrap()
            .starts_with("rfc.code+/")
    );
}

#[test]
fn authorize_validation() {
    let mut s = server();
    let base = rfc_authorize_url(RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI, "s");
    // PKCE is required.
    let no_pkce = base.split("&code_challenge=").next().unwrap().to_owned();
    let resp = get(&mut s, NOW, &no_pkce);
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        resp.location_param("iss").as_deref(),
        Some(ISSUER),
        "errors carry iss too"
    );
    let resp = get(&mut s, NOW, &base.replace("S256", "plain"));
    assert_eq!(
        resp.location_param("error_description").as_deref(),
        Some("code_challenge_method must be S256")
    );
    let resp = get(
        &mut s,
        NOW,
        &base.replace("response_type=code", "response_type=token"),
    );
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("unsupported_response_type")
    );
    let resp = get(&mut s, NOW, &format!("{base}&scope=again"));
    assert_eq!(
        resp.location_param("error_description").as_deref(),
        Some("duplicate parameter: scope")
    );
    // Unknown client / unregistered redirect: a page, never a redirect.
    let resp = get(
        &mut s,
        NOW,
        &rfc_authorize_url("nobody", RFC_REDIRECT_URI, "s"),
    );
    assert_eq!((resp.status, resp.location()), (400, None));
    let resp = get(
        &mut s,
        NOW,
        &rfc_authorize_url(RFC_PUBLIC_CLIENT_ID, "https://client.example/cb2", "s"),
    );
    assert_eq!((resp.status, resp.location()), (400, None));
    // Two registered URIs: redirect_uri is required.
    let resp = get(
        &mut s,
        NOW,
        &base.replace("redirect_uri=https%3A%2F%2Fclient.example%2Fcb&", ""),
    );
    assert_eq!(resp.status, 400);
    // Loopback: any port.
    let resp = get(
        &mut s,
        NOW,
        &rfc_authorize_url(RFC_PUBLIC_CLIENT_ID, "http://127.0.0.1:50000/callback", "s"),
    );
    assert!(
        resp.location()
            .unwrap()
            .starts_with("http://127.0.0.1:50000/callback?code=")
    );
    // Consent denied.
    s.misbehave().deny_consent = true;
    let resp = get(&mut s, NOW, &base);
    assert_eq!(
        resp.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(resp.location_param("code"), None);
    assert_eq!(resp.location_param("state").as_deref(), Some("s"));
}

#[test]
fn code_grant_checks_redirect_uri_pkce_and_client() {
    let mut s = server();
    let url = rfc_token_url();
    let exchange = |s: &mut Server, code: &str, redirect: Option<&str>, verifier: &str| {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
            ("code_verifier", verifier),
        ];
        if let Some(r) = redirect {
            pairs.push(("redirect_uri", r));
        }
        post_form(s, NOW, &url, None, &pairs)
    };
    let code = rfc_code(&mut s, NOW, RFC_PUBLIC_CLIENT_ID);
    assert_eq!(
        error_of(&exchange(&mut s, &code, None, VERIFIER)).0,
        "invalid_grant",
        "redirect_uri was in the request"
    );
    let code = rfc_code(&mut s, NOW, RFC_PUBLIC_CLIENT_ID);
    assert_eq!(
        error_of(&exchange(
            &mut s,
            &code,
            Some("https://client.example/cb/"),
            VERIFIER
        ))
        .0,
        "invalid_grant"
    );
    let code = rfc_code(&mut s, NOW, RFC_PUBLIC_CLIENT_ID);
    assert_eq!(
        error_of(&exchange(
            &mut s,
            &code,
            Some(RFC_REDIRECT_URI),
            OTHER_VERIFIER
        ))
        .1,
        "PKCE verification failed"
    );
    let code = rfc_code(&mut s, NOW, RFC_PUBLIC_CLIENT_ID);
    let resp = exchange(&mut s, &code, Some(RFC_REDIRECT_URI), VERIFIER);
    assert_eq!(resp.status, 200);
    let v = json(&resp);
    assert_eq!(v["scope"], "read write");
    assert!(
        !resp.body_str().contains("\\/"),
        "the RFC dialect does not PHP-escape"
    );
    // Another client cannot redeem it, even with valid credentials.
    let code = rfc_code(&mut s, NOW, RFC_PUBLIC_CLIENT_ID);
    let resp = post_form(
        &mut s,
        NOW,
        &url,
        Some(&rfc_basic()),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RFC_REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(error_of(&resp).0, "invalid_grant");
}

#[test]
fn client_secret_basic_needs_rfc6749_form_encoding() {
    let mut s = server();
    let code = rfc_code(&mut s, NOW, RFC_CONFIDENTIAL_CLIENT_ID);
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RFC_REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    // Unencoded credentials (the id holds ':' and the secret '+', '%', ' ') are refused.
    let raw = encode_basic_raw(RFC_CONFIDENTIAL_CLIENT_ID, RFC_CONFIDENTIAL_CLIENT_SECRET);
    let resp = post_form(&mut s, NOW, &rfc_token_url(), Some(&raw), &pairs);
    assert_eq!(resp.status, 401);
    assert_eq!(error_of(&resp).0, "invalid_client");
    assert!(resp.header("www-authenticate").is_some());
    let code = rfc_code(&mut s, NOW, RFC_CONFIDENTIAL_CLIENT_ID);
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RFC_REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let resp = post_form(&mut s, NOW, &rfc_token_url(), Some(&rfc_basic()), &pairs);
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    // The secret in the body instead of Basic: refused for this client.
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", RFC_CONFIDENTIAL_CLIENT_ID),
            ("client_secret", RFC_CONFIDENTIAL_CLIENT_SECRET),
        ],
    );
    assert_eq!(
        error_of(&resp),
        (
            "invalid_client".into(),
            "client must use client_secret_basic".into()
        )
    );
    // Two methods at once: refused.
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        Some(&rfc_basic()),
        &[("grant_type", "client_credentials"), ("client_secret", "x")],
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
}

#[test]
fn rfc6749_section_2_3_1_example_credentials_authenticate() {
    let mut s = server();
    let mut client = ClientRegistration::confidential(
        "s6BhdRkqt3",
        "7Fjfp0ZBr1KtDRbnfVdmIw",
        Dialect::Rfc6749,
        &[],
    );
    client.auth_method = ClientAuthMethod::ClientSecretBasic;
    s.register_client(client);
    let header = "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3";
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        Some(header),
        &[("grant_type", "client_credentials"), ("scope", "a")],
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let v = json(&resp);
    assert!(
        v.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    let grant = s
        .grant_of_token(v["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(s.grant(grant).unwrap().username, None);
    let wrong = "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl4";
    assert_eq!(
        post_form(
            &mut s,
            NOW,
            &rfc_token_url(),
            Some(wrong),
            &[("grant_type", "client_credentials")]
        )
        .status,
        401
    );
}

#[test]
fn client_secret_post_and_public_clients() {
    let mut s = server();
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", RFC_POST_CLIENT_ID),
        ("client_secret", RFC_POST_CLIENT_SECRET),
    ];
    assert_eq!(
        post_form(&mut s, NOW, &rfc_token_url(), None, &pairs).status,
        200
    );
    let basic = encode_basic_rfc6749(RFC_POST_CLIENT_ID, RFC_POST_CLIENT_SECRET);
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        Some(&basic),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(error_of(&resp).1, "client must use client_secret_post");
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
        ],
    );
    assert_eq!(error_of(&resp).0, "unauthorized_client");
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "password"),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
        ],
    );
    assert_eq!(error_of(&resp).0, "unsupported_grant_type");
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        None,
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(
        error_of(&resp),
        (
            "invalid_request".into(),
            "missing parameter: client_id".into()
        )
    );
}

#[test]
fn form_requests_are_strict() {
    let mut s = server();
    let url = rfc_token_url();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let resp = post(
        &mut s,
        NOW,
        &url,
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
    let resp = post(
        &mut s,
        NOW,
        &url,
        &form,
        b"grant_type=refresh_token&grant_type=refresh_token&client_id=rfc-public-cli",
    );
    assert_eq!(error_of(&resp).1, "duplicate parameter: grant_type");
    let resp = post(
        &mut s,
        NOW,
        &url,
        &form,
        b"grant_type=refresh_token&refresh_token=%E0%A4&client_id=rfc-public-cli",
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
    let resp = post(
        &mut s,
        NOW,
        &url,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Type", "text/plain"),
        ],
        b"a=b",
    );
    assert_eq!(error_of(&resp).0, "invalid_request");
}

#[test]
fn refresh_tokens_must_be_form_encoded_and_rotate() {
    let mut s = server();
    let (_, rt1) = rfc_tokens(&mut s, NOW);
    assert!(rt1.contains('+') && rt1.contains('/') && rt1.contains('='));
    // A client that forgets to encode '+' sends a different token.
    let body =
        format!("grant_type=refresh_token&client_id={RFC_PUBLIC_CLIENT_ID}&refresh_token={rt1}");
    let resp = post(
        &mut s,
        NOW,
        &rfc_token_url(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(error_of(&resp).0, "invalid_grant");
    assert!(s.is_refresh_token_live(&rt1, NOW));
    let resp = rfc_refresh(&mut s, NOW, &rt1);
    assert_eq!(resp.status, 200);
    let rt2 = json(&resp)["refresh_token"].as_str().unwrap().to_owned();
    // Narrowing scope is allowed, widening is not.
    let wider = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
            ("scope", "admin"),
        ],
    );
    assert_eq!(error_of(&wider).0, "invalid_scope");
    let resp = rfc_refresh(&mut s, NOW, &rt1);
    assert_eq!(
        error_of(&resp).1,
        "refresh token reuse detected; the grant has been revoked"
    );
    assert!(!s.is_refresh_token_live(&rt2, NOW));
    assert_eq!(s.live_grants(), 0);
}

#[test]
fn rfc7009_revocation() {
    let mut s = server();
    let url = format!("{ISSUER}/revoke");
    let revoke = |s: &mut Server, token: &str| {
        let pairs = [
            ("token", token),
            ("token_type_hint", "refresh_token"),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
        ];
        post_form(s, NOW, &url, None, &pairs)
    };
    assert_eq!(
        revoke(&mut s, "45ghiukldjahdnhzdauz").status,
        200,
        "unknown tokens: 200"
    );
    let (access, refresh) = rfc_tokens(&mut s, NOW);
    // Revoking the access token kills only it.
    assert_eq!(revoke(&mut s, &access).status, 200);
    assert!(!s.is_access_token_live(&access, NOW));
    assert!(s.is_refresh_token_live(&refresh, NOW));
    // Revoking the refresh token kills the grant.
    let (access2, refresh2) = rfc_tokens(&mut s, NOW);
    assert_eq!(revoke(&mut s, &refresh2).status, 200);
    assert!(!s.is_access_token_live(&access2, NOW));
    assert!(!s.is_refresh_token_live(&refresh2, NOW));
    // Another client cannot revoke it.
    let basic = rfc_basic();
    let resp = post_form(
        &mut s,
        NOW,
        &url,
        Some(&basic),
        &[("token", refresh.as_str())],
    );
    assert_eq!(error_of(&resp).0, "unauthorized_client");
    assert!(s.is_refresh_token_live(&refresh, NOW));
}

#[test]
fn userinfo_accepts_only_live_bearer_tokens() {
    let mut s = server();
    let (access, _) = rfc_tokens(&mut s, NOW);
    let url = format!("{ISSUER}/userinfo");
    let bearer = format!("Bearer {access}");
    let call = |s: &mut Server, now: u64, auth: &str| {
        s.handle(
            now,
            &HttpRequest {
                method: "GET",
                url: &url,
                headers: &[("Authorization", auth)],
                body: &[],
            },
        )
    };
    assert_eq!(json(&call(&mut s, NOW, &bearer))["sub"], USER_ALICE);
    let resp = call(&mut s, NOW + 3600, &bearer);
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(call(&mut s, NOW, "Basic abc").status, 401);
}

#[test]
fn header_injection_and_odd_urls_are_refused() {
    let mut s = server();
    let url = rfc_token_url();
    let resp = post(
        &mut s,
        NOW,
        &url,
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded\r\nX-Evil: 1",
        )],
        b"a=b",
    );
    assert_eq!(
        (resp.status, error_of(&resp).0.as_str()),
        (400, "invalid_request")
    );
    let resp = post(&mut s, NOW, &format!("{url} x"), &[], b"");
    assert_eq!(resp.status, 400);
    let resp = get(&mut s, NOW, &format!("{ISSUER}/authorize#frag"));
    assert_eq!(resp.status, 400);
    assert_eq!(s.log().len(), 3, "refused requests are logged too");
}
