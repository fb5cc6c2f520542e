//! Session tests: every authorization-code flow end to end against the strict testkit
//! server (RFC 6749 public / `client_secret_basic` / `client_secret_post`, CRM redirect and
//! iframe postMessage, Kommo), and every error protocol.md documents for them.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::Phase;
use latchkey_core::{CheckFailed, Client, Error, ErrorKind, ServerError};
use latchkey_testkit::{
    CRM_API, CRM_CLIENT_SECRET, CRM_REDIRECT_URI, ISSUER, KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_SECRET,
    RFC_CONFIDENTIAL_CLIENT_SECRET, RFC_POST_CLIENT_SECRET, ServerConfig, decode_basic_rfc6749,
};
use util::*;

fn server_error(code: ErrorKind, status: u16) -> Error {
    Error::ServerError(ServerError {
        code,
        status: status.into(),
    })
}

/// The description of the last server answer to a `Send`.
fn last_description(p: &Pair) -> String {
    let resp = p.responses.last().expect("a response");
    let json = resp.json().expect("a JSON body");
    json["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls until the session opens the authorization URL; returns it.
fn open_url(p: &mut Pair) -> String {
    match p.poll().unwrap() {
        Event::OpenUrl(url) => url,
        other => panic!("expected OpenUrl, got {other:?}"),
    }
}

/// The browser leg done by hand: the callback query the server redirects to.
fn browse(p: &mut Pair, url: &str) -> String {
    let resp = p
        .server
        .handle(p.now(), &latchkey_testkit::HttpRequest::get(url));
    assert_eq!(resp.status, 302, "{}", resp.body_str());
    resp.location()
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned()
}

/// Replaces the value of `name` in a query string.
fn replace_param(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

// ------------------------------------------------------------------------------------------
// RFC 6749 + PKCE
// ------------------------------------------------------------------------------------------

#[test]
fn rfc_public_client_code_pkce_end_to_end() {
    let mut p = Pair::new(rfc_public());
    p.sign_in();
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(p.call_api(), 200);
    assert!(
        p.disk.is_some(),
        "the tokens were handed out for persistence"
    );
    assert_eq!(p.session.scope(), Some(RFC_SCOPE));

    let posts = p.api_requests();
    assert_eq!(posts.len(), 1);
    let token = posts[0];
    assert_eq!(token.url, format!("{ISSUER}/token"));
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        token.header("authorization"),
        None,
        "a public client sends no secret"
    );
    let body = token.body.as_bytes();
    assert_eq!(
        param_in(body, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(
        param_in(body, "redirect_uri").as_deref(),
        Some(latchkey_testkit::RFC_REDIRECT_URI)
    );
    assert_eq!(
        param_in(body, "client_id").as_deref(),
        Some(latchkey_testkit::RFC_PUBLIC_CLIENT_ID)
    );
    assert_eq!(param_in(body, "code_verifier").map(|v| v.len()), Some(43));
    // The authorization URL carried the challenge, never the verifier (PKCE-5).
    let verifier = param_in(body, "code_verifier").unwrap();
    assert!(
        p.server
            .log()
            .iter()
            .filter(|r| r.method == "GET")
            .all(|r| !r.carries(&verifier))
    );
}

#[test]
fn rfc_client_secret_basic_with_hostile_id_and_secret() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    assert_eq!(p.call_api(), 200);
    let token = p.api_requests()[0].clone();
    let basic = token.header("authorization").unwrap();
    let (id, secret) = decode_basic_rfc6749(basic).unwrap();
    assert_eq!(id, latchkey_testkit::RFC_CONFIDENTIAL_CLIENT_ID);
    assert_eq!(secret, RFC_CONFIDENTIAL_CLIENT_SECRET);
    assert_eq!(
        param_in(token.body.as_bytes(), "client_secret"),
        None,
        "TOK-2: Basic only"
    );
    assert!(!token.url.contains("secret"));
}

#[test]
fn rfc_client_secret_post() {
    let mut p = Pair::new(rfc_post());
    p.sign_in();
    assert_eq!(p.call_api(), 200);
    let token = p.api_requests()[0].clone();
    assert_eq!(token.header("authorization"), None);
    assert_eq!(
        param_in(token.body.as_bytes(), "client_secret").as_deref(),
        Some(RFC_POST_CLIENT_SECRET)
    );
}

// ------------------------------------------------------------------------------------------
// CRM
// ------------------------------------------------------------------------------------------

#[test]
fn crm_confidential_code_pkce_end_to_end() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    assert_eq!(
        p.call_api(),
        200,
        "the PHP-escaped (\\/) token was decoded exactly"
    );
    let token = p.api_requests()[0].clone();
    assert_eq!(token.url, format!("{CRM_API}/oauth/token"));
    assert_eq!(token.header("content-type"), Some("application/json"));
    assert!(token.header("authorization").unwrap().starts_with("Basic "));
    assert!(token.carries(CRM_CLIENT_SECRET));
    let body = token.body.as_bytes();
    assert_eq!(
        param_in(body, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert!(param_in(body, "code_verifier").is_some());
    // The browser went to the portal's /login with the challenge and the state.
    let login = &p.server.log()[0];
    assert_eq!(login.path(), "/login");
    assert!(login.url.contains("code_challenge_method=S256"));
}

#[test]
fn crm_public_code_pkce_end_to_end() {
    let mut p = Pair::new(crm_public());
    p.sign_in();
    assert_eq!(p.call_api(), 200);
    assert_eq!(p.api_requests()[0].header("authorization"), None);
}

#[test]
fn crm_iframe_postmessage_end_to_end() {
    let mut p = Pair::new(crm_confidential());
    p.start_iframe().unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert!(
        matches!(&p.events[0], Event::PostMessage { target_origin, json }
        if target_origin == PARENT_ORIGIN && json.contains("GET_CLIENT_OAUTH_CODE"))
    );
    assert!(
        p.last_reply.as_deref().unwrap().contains("\"state\""),
        "the parent echoed state"
    );
    // No browser navigation at all: the only request is the token exchange.
    assert_eq!(p.server.log().len(), 1);
    assert_eq!(p.call_api(), 200);
}

#[test]
fn crm_iframe_postmessage_without_echoed_state() {
    let server = ServerConfig {
        crm_postmessage_echo_state: false,
        ..ServerConfig::default()
    };
    let mut p = Pair::with_server(crm_public(), server);
    p.start_iframe().unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert!(!p.last_reply.as_deref().unwrap().contains("\"state\""));
    assert_eq!(p.call_api(), 200);
}

#[test]
fn crm_iframe_wrong_echoed_state_is_refused_before_any_token_request() {
    let mut p = Pair::new(crm_confidential());
    p.server.misbehave().callback_wrong_state = true;
    p.start_iframe().unwrap();
    assert_eq!(p.drive(), Err(CheckFailed::StateMismatch.into()));
    assert_eq!(p.session.phase(), Phase::Failed);
    assert!(p.server.log().is_empty(), "no token request");
}

#[test]
fn crm_iframe_is_crm_only_and_needs_a_parent_origin() {
    let mut p = Pair::new(rfc_public());
    assert!(matches!(p.start_iframe(), Err(Error::ApiMisuse(_))));
    let mut cfg = crm_public();
    cfg.parent_origin = None;
    let mut p = Pair::new(cfg);
    assert!(matches!(p.start_iframe(), Err(Error::ApiMisuse(_))));
    assert_eq!(p.session.phase(), Phase::Idle);
}

// ------------------------------------------------------------------------------------------
// Kommo
// ------------------------------------------------------------------------------------------

#[test]
fn kommo_end_to_end_token_url_from_the_validated_referer() {
    let mut p = Pair::new(kommo());
    p.sign_in();
    assert_eq!(
        p.session.kommo_account().unwrap().host(),
        KOMMO_ACCOUNT_HOST
    );
    assert_eq!(p.call_api(), 200);
    let log = p.server.log();
    assert_eq!(log[0].method, "GET", "the consent page first");
    assert_eq!(
        log[1].url,
        format!("https://{KOMMO_ACCOUNT_HOST}/oauth2/access_token")
    );
    assert!(log[1].carries(KOMMO_CLIENT_SECRET));
    assert!(
        !log[0].carries(KOMMO_CLIENT_SECRET),
        "the secret never reaches the consent page"
    );
    let body = log[1].body.as_bytes();
    assert_eq!(
        param_in(body, "redirect_uri").as_deref(),
        Some(latchkey_testkit::KOMMO_REDIRECT_URI)
    );
    assert_eq!(
        param_in(body, "grant_type").as_deref(),
        Some("authorization_code")
    );
}

#[test]
fn kommo_account_survives_the_snapshot_and_refreshes_at_its_host() {
    let mut p = Pair::new(kommo());
    p.sign_in();
    p.restore_from_disk().unwrap();
    assert_eq!(
        p.session.kommo_account().unwrap().host(),
        KOMMO_ACCOUNT_HOST
    );
    p.session.refresh(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    let last = p.api_requests().last().unwrap().url.clone();
    assert_eq!(
        last,
        format!("https://{KOMMO_ACCOUNT_HOST}/oauth2/access_token")
    );
    assert_eq!(p.call_api(), 200);
}

// ------------------------------------------------------------------------------------------
// Errors on the redirect (protocol.md §2.1)
// ------------------------------------------------------------------------------------------

#[test]
fn crm_invalid_client_id_comes_back_on_the_redirect() {
    let mut cfg = crm_public();
    cfg.client = Client::new("no-such-client", CRM_REDIRECT_URI)
        .and_then(|c| c.with_scope(latchkey_testkit::CRM_SCOPE))
        .unwrap();
    let mut p = Pair::new(cfg);
    p.start_authorization().unwrap();
    assert_eq!(p.drive(), Err(server_error(ErrorKind::InvalidRequest, 0)));
    let browser = p.browser.as_ref().unwrap();
    assert_eq!(
        browser.location_param("error_description").as_deref(),
        Some("invalid client id")
    );
    assert_eq!(p.session.phase(), Phase::Failed);
    assert!(p.api_requests().is_empty());
}

#[test]
fn crm_invalid_redirect_uri_stays_on_the_server_page() {
    let mut cfg = crm_public();
    cfg.client = Client::new(
        latchkey_testkit::CRM_PUBLIC_CLIENT_ID,
        "https://evil.example/cb",
    )
    .and_then(|c| c.with_scope(latchkey_testkit::CRM_SCOPE))
    .unwrap();
    let mut p = Pair::new(cfg);
    p.start_authorization().unwrap();
    // The server never redirects to an unregistered URI: the browser shows its page and the
    // session keeps waiting for a callback that will not come.
    assert_eq!(p.drive(), Ok(Stop::Idle));
    let browser = p.browser.as_ref().unwrap();
    assert_eq!(browser.status, 400);
    assert!(browser.body_str().contains("invalid redirect uri"));
    assert_eq!(p.session.phase(), Phase::ExpectCallback);
}

#[test]
fn crm_invalid_code_challenge_comes_back_on_the_redirect() {
    let mut p = Pair::new(crm_public());
    p.url_rewrite = Some(|url| replace_param(url, "code_challenge", "too-short"));
    p.start_authorization().unwrap();
    assert_eq!(p.drive(), Err(server_error(ErrorKind::InvalidRequest, 0)));
    let browser = p.browser.as_ref().unwrap();
    assert_eq!(
        browser.location_param("error_description").as_deref(),
        Some("invalid code challenge")
    );
}

#[test]
fn user_denies_consent_is_access_denied() {
    for cfg in [rfc_public(), crm_public(), kommo()] {
        let mut p = Pair::new(cfg);
        p.server.misbehave().deny_consent = true;
        p.start_authorization().unwrap();
        assert_eq!(p.drive(), Err(server_error(ErrorKind::AccessDenied, 0)));
        assert!(p.api_requests().is_empty());
    }
}

// ------------------------------------------------------------------------------------------
// Errors from the token endpoint (protocol.md §2.1)
// ------------------------------------------------------------------------------------------

#[test]
fn crm_unknown_code_is_invalid_grant() {
    let mut p = Pair::new(crm_confidential());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let url = open_url(&mut p);
    let query = browse(&mut p, &url);
    p.callback(&replace_param(&query, "code", "bogus")).unwrap();
    assert_eq!(p.drive(), Err(server_error(ErrorKind::InvalidGrant, 400)));
    assert_eq!(
        last_description(&p),
        "Authorization code is invalid or does not exist"
    );
    assert_eq!(p.session.phase(), Phase::Failed);
}

#[test]
fn crm_expired_code_is_invalid_grant() {
    let mut p = Pair::new(crm_confidential());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let url = open_url(&mut p);
    let query = browse(&mut p, &url);
    p.clock.advance(p.server.config().code_lifetime + 1);
    p.callback(&query).unwrap();
    assert_eq!(p.drive(), Err(server_error(ErrorKind::InvalidGrant, 400)));
    assert_eq!(last_description(&p), "Authorization code has expired");
}

#[test]
fn crm_code_of_another_request_fails_pkce() {
    // Two sign-ins in flight; the first session receives the second one's code (with its
    // own state): the server refuses the first session's verifier.
    let mut a = Pair::new(crm_confidential());
    a.auto_browser = false;
    a.start_authorization().unwrap();
    let url_a = open_url(&mut a);
    let query_a = browse(&mut a, &url_a);
    let mut b = Pair::new(crm_confidential());
    b.entropy = latchkey_testkit::SeededEntropy::new(99);
    b.start_authorization().unwrap();
    let url_b = open_url(&mut b);
    // Same server for both: b's browser leg runs on a's server.
    let query_b = browse(&mut a, &url_b);
    let forged = replace_param(&query_a, "code", &param(&query_b, "code"));
    a.callback(&forged).unwrap();
    assert_eq!(a.drive(), Err(server_error(ErrorKind::InvalidGrant, 400)));
    assert_eq!(
        last_description(&a),
        "Code verifier does not match code challenge"
    );
}

#[test]
fn extra_authorization_parameters_reach_the_url_and_cannot_override_protocol_ones() {
    let config = rfc_public()
        .with_extra_param("prompt", "consent")
        .unwrap()
        .with_extra_param("login_hint", "a&b=c d")
        .unwrap();
    assert_eq!(
        config.extra_params().collect::<Vec<_>>(),
        [("prompt", "consent"), ("login_hint", "a&b=c d")]
    );
    let mut p = Pair::new(config);
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let url = open_url(&mut p);
    assert!(
        url.ends_with("&prompt=consent&login_hint=a%26b%3Dc%20d"),
        "{url}"
    );

    // TOK-7: no way to smuggle a second state or redirect_uri through the extras.
    for name in ["state", "redirect_uri", "Code_Challenge", "bad name", ""] {
        assert!(rfc_public().with_extra_param(name, "x").is_err(), "{name}");
    }
    assert!(rfc_public().with_extra_param("prompt", "a\nb").is_err());
    let mut c = rfc_public();
    for i in 0..8 {
        c = c.with_extra_param(&format!("p{i}"), "v").unwrap();
    }
    assert!(c.with_extra_param("p8", "v").is_err());
}

#[test]
fn s_cb_8_loopback_precheck_keeps_the_pending_request() {
    let mut p = Pair::new(rfc_public());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let url = open_url(&mut p);
    let good = browse(&mut p, &url);
    let mut scratch = [0u8; 4096];
    // Stray and hostile requests to the listener: no match, nothing consumed.
    for stray in [
        "",
        "code=attacker&state=guess",
        "error=access_denied&state=guess",
        &replace_param(&good, "state", "x"),
        &format!("{good}&state={}", param(&good, "state")),
    ] {
        assert!(
            !p.session.callback_matches(stray.as_bytes(), &mut scratch),
            "{stray}"
        );
        assert_eq!(p.session.phase(), Phase::ExpectCallback);
    }
    // The real one matches, and is then consumed exactly once.
    assert!(p.session.callback_matches(good.as_bytes(), &mut scratch));
    p.callback(&good).unwrap();
    assert!(!p.session.callback_matches(good.as_bytes(), &mut scratch));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
}
