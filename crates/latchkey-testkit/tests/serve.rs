//! The testkit server over real HTTP on 127.0.0.1, driven by `ureq` and raw sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use latchkey_testkit::serve::MockServer;
use latchkey_testkit::{
    CRM_CLIENT_ID, CRM_CLIENT_SECRET, CRM_SCOPE, KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_ID,
    KOMMO_CLIENT_SECRET, RFC_PUBLIC_CLIENT_ID, USER_ALICE, encode_basic_raw,
};
use serde_json::{Value, json};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:49152/callback";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET url` without following redirects: (status, Location).
fn get_redirect(agent: &ureq::Agent, url: &str) -> (u16, Option<String>) {
    let resp = agent.get(url).call().unwrap();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), location)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut req = agent.post(url).header("Content-Type", content_type);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn rfc_code(agent: &ureq::Agent, mock: &MockServer) -> String {
    let url = format!(
        "{}/authorize?response_type=code&client_id={RFC_PUBLIC_CLIENT_ID}&redirect_uri={}\
         &state=st&code_challenge={CHALLENGE}&code_challenge_method=S256&scope=openid",
        mock.issuer(),
        enc(REDIRECT)
    );
    let (status, location) = get_redirect(agent, &url);
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(mock.issuer().as_str())
    );
    query_param(&location, "code").unwrap()
}

fn rfc_form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (n, v) in pairs {
        s.append_pair(n, v);
    }
    s.finish()
}

#[test]
fn crm_login_302_then_json_token_then_api_call() {
    let mock = MockServer::start().unwrap();
    let agent = agent();
    let url = format!(
        "{}/login?client_id={CRM_CLIENT_ID}&scope={}&response_type=code&code_challenge={CHALLENGE}\
         &code_challenge_method=S256&redirect_uri={}&state=abc",
        mock.crm_portal(),
        enc(CRM_SCOPE),
        enc(REDIRECT)
    );
    let (status, location) = get_redirect(&agent, &url);
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("abc"));
    let code = query_param(&location, "code").unwrap();

    let basic = encode_basic_raw(CRM_CLIENT_ID, CRM_CLIENT_SECRET);
    let body = json!({"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER});
    let token_url = format!("{}/oauth/token", mock.crm_api());
    let (status, token) = post(
        &agent,
        &token_url,
        "application/json",
        Some(&basic),
        &body.to_string(),
    );
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    let access = token["access_token"].as_str().unwrap();

    let mut me = agent
        .get(format!("{}/me", mock.crm_api()))
        .header("Authorization", format!("Bearer {access}"))
        .call()
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = serde_json::from_str(&me.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(me["sub"], USER_ALICE);

    // The code is single-use over HTTP too.
    let (status, error) = post(
        &agent,
        &token_url,
        "application/json",
        Some(&basic),
        &body.to_string(),
    );
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
    mock.with_server(|s| assert_eq!(s.live_grants(), 0, "code replay revokes the grant"));
}

#[test]
fn rfc_token_over_http_and_lost_response_drops_the_connection() {
    let mock = MockServer::start().unwrap();
    let agent = agent();
    let code = rfc_code(&agent, &mock);
    let token_url = format!("{}/token", mock.issuer());
    let form = "application/x-www-form-urlencoded";
    let (status, token) = post(
        &agent,
        &token_url,
        form,
        None,
        &rfc_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ]),
    );
    assert_eq!(status, 200, "{token}");
    let refresh = token["refresh_token"].as_str().unwrap().to_owned();

    // The server rotates the refresh token, then the answer is lost: the socket closes
    // without a status line, as a timeout after processing would look to a client.
    mock.with_server(|s| s.misbehave().lose_response_after_rotation = true);
    let refresh_body = rfc_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", RFC_PUBLIC_CLIENT_ID),
    ]);
    let lost = agent
        .post(&token_url)
        .header("Content-Type", form)
        .send(refresh_body.as_str());
    assert!(
        lost.is_err(),
        "a lost response must not look like an answer"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mock.with_server(|s| {
        assert!(!s.is_refresh_token_live(&refresh, now), "it was rotated");
        assert_eq!(s.refresh_token_presentations(&refresh), 1);
    });
}

#[test]
fn kommo_consent_redirects_to_the_loopback_port_and_the_account_host_serves_tokens() {
    let mock = MockServer::start().unwrap();
    let agent = agent();
    let url = format!(
        "{}?client_id={KOMMO_CLIENT_ID}&state=k1&mode=popup&redirect_uri={}",
        mock.kommo_consent_url(),
        enc(REDIRECT)
    );
    let (status, location) = get_redirect(&agent, &url);
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "referer").as_deref(),
        Some(KOMMO_ACCOUNT_HOST)
    );
    let code = query_param(&location, "code").unwrap();
    let body = json!({"client_id": KOMMO_CLIENT_ID, "client_secret": KOMMO_CLIENT_SECRET,
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT});
    let (status, token) = post(
        &agent,
        &format!("{}/oauth2/access_token", mock.kommo_account_base()),
        "application/json",
        None,
        &body.to_string(),
    );
    assert_eq!(status, 200, "{token}");
    assert!(token["refresh_token"].is_string());

    // A redirect URI that is not registered is refused on the consent page.
    let hostile = format!(
        "{}?client_id={KOMMO_CLIENT_ID}&state=k2&mode=popup&redirect_uri={}",
        mock.kommo_consent_url(),
        enc("https://evil.example/cb")
    );
    assert_eq!(get_redirect(&agent, &hostile), (400, None));
}

#[test]
fn drop_stops_the_accept_thread_and_frees_the_port() {
    let mock = MockServer::start().unwrap();
    let addr = mock.addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(mock);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens after drop"
    );
    // The port is free again: a new server can take it.
    let again = MockServer::start_on(addr.port()).unwrap();
    assert_eq!(again.port(), addr.port());
}

#[test]
fn two_servers_side_by_side_are_independent() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    let agent = agent();
    let code_a = rfc_code(&agent, &a);
    let code_b = rfc_code(&agent, &b);
    assert_ne!(code_a, code_b, "seeds differ per port");
    // A's code means nothing to B.
    let (status, _) = post(
        &agent,
        &format!("{}/token", b.issuer()),
        "application/x-www-form-urlencoded",
        None,
        &rfc_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code_a),
            ("redirect_uri", REDIRECT),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ]),
    );
    assert_eq!(status, 400);
    assert_eq!(a.with_server(|s| s.log().len()), 1);
    assert_eq!(b.with_server(|s| s.log().len()), 2);
}

#[test]
fn raw_socket_post_with_expect_continue() {
    let mock = MockServer::start().unwrap();
    let body = r#"{"username":"alice"}"#;
    let mut stream = TcpStream::connect(mock.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST /crm-api/oauth/forget HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Authorization: {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        mock.addr(),
        encode_basic_raw(CRM_CLIENT_ID, CRM_CLIENT_SECRET),
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert_eq!(
        mock.with_server(|s| s.password_reset_requests(USER_ALICE)),
        1
    );
}
