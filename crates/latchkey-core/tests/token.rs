//! Public-API tests of `latchkey_core::token`: published vectors first (RFC 6749 §2.3.1,
//! §5.1, §5.2, RFC 7009 §2.1, RFC 8628 §3.2), the CRM and Kommo request bytes of
//! protocol.md, then one test per security rule (named after it), then property tests.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

use core::marker::PhantomData;

use base64::Engine as _;
use latchkey_core::callback::{AuthorizationCode, parse_callback, validate_referer};
use latchkey_core::encode::form_decode;
use latchkey_core::http::{Request, Response};
use latchkey_core::pkce::CodeVerifier;
use latchkey_core::profile::ClientAuth;
use latchkey_core::state::StateToken;
use latchkey_core::token::{
    AccessToken, DeviceCode, ErrorCode, ErrorResponse, MfaToken, RefreshToken, Reply,
    RevocationReply, TokenReply, TokenRequest, TokenResponse, parse_ack_response,
    parse_device_authorization_response, parse_mfa_secret_response, parse_revocation_response,
    parse_token_response,
};
use latchkey_core::{
    ApiMisuse, Capacity, CheckFailed, Client, Error, ErrorKind, HttpStatus, InvalidMessage, Len,
    MAX_RESPONSE_LEN, MAX_TOKEN_LEN, Name, Profile, ServerError, ServerMisbehaved,
};

const STATE: &str = "ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI";
/// RFC 7636 App. B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// RFC 6749 §4.1.2.
const CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";

fn verifier() -> CodeVerifier {
    CodeVerifier::parse(VERIFIER).unwrap()
}

/// An authorization code the only public way: from a verified callback.
fn code_from<'b>(code: &str, profile: &Profile, scratch: &'b mut [u8]) -> AuthorizationCode<'b> {
    let query = format!("code={code}&state={STATE}");
    let query: &'static str = Box::leak(query.into_boxed_str());
    let cb = parse_callback(query.as_bytes(), scratch).unwrap();
    cb.verify(&StateToken::parse(STATE).unwrap(), profile)
        .unwrap()
        .code()
}

fn rfc() -> Profile {
    Profile::rfc6749(
        "https://server.example.com/authorize",
        "https://server.example.com/token",
    )
    .unwrap()
}

fn crm() -> Profile {
    Profile::crm("https://portal.example.com", "https://api.example.com/").unwrap()
}

fn rfc_client() -> Client {
    Client::new("s6BhdRkqt3", "https://client.example.com/cb")
        .unwrap()
        .with_secret("7Fjfp0ZBr1KtDRbnfVdmIw")
        .unwrap()
}

fn body<'r>(req: &Request<'r>) -> &'r str {
    core::str::from_utf8(req.body).unwrap()
}

fn b64(s: impl AsRef<[u8]>) -> String {
    let mut out = vec![0u8; s.as_ref().len() * 2 + 4];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(s.as_ref(), &mut out)
        .unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

fn reply(status: u16, body: &str) -> Result<TokenReply<'static>, Error> {
    let body: &'static [u8] = Box::leak(body.as_bytes().to_vec().into_boxed_slice());
    let scratch: &'static mut [u8] = Box::leak(vec![0u8; body.len()].into_boxed_slice());
    parse_token_response(Response::new(status, body), scratch)
}

fn token(body: &str) -> Result<TokenResponse<'static>, Error> {
    reply(200, body)?.into_result()
}

// ---------------------------------------------------------------------------------------
// Published vectors
// ---------------------------------------------------------------------------------------

#[test]
fn s_tok_2_rfc6749_2_3_1_basic_vector_and_authorization_code_request() {
    let profile = rfc();
    let client = rfc_client();
    let mut scratch = [0u8; 256];
    let code = code_from(CODE, &profile, &mut scratch);
    let mut buf = [0u8; 1024];
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .authorization_code(code, verifier(), &mut buf)
        .unwrap();
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url, "https://server.example.com/token");
    assert_eq!(
        req.header("Authorization"),
        Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3")
    );
    assert_eq!(
        req.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        body(&req),
        "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
         &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb\
         &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    // TOK-2: the secret is in the header only.
    assert!(!req.url.contains("7Fjfp0"));
    assert!(!body(&req).contains("7Fjfp0"));
}

#[test]
fn s_tok_2_basic_credentials_are_form_urlencoded_before_base64() {
    let profile = rfc();
    let client = Client::new("id:x+y", "https://client.example.com/cb")
        .unwrap()
        .with_secret("p&ss w%rd:é")
        .unwrap();
    let mut buf = [0u8; 1024];
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .refresh(RefreshToken::<64>::new("r").unwrap(), &mut buf)
        .unwrap();
    let expected = b64("id%3Ax%2By:p%26ss+w%25rd%3A%C3%A9");
    assert_eq!(
        req.header("authorization"),
        Some(&*format!("Basic {expected}"))
    );
    assert_eq!(body(&req), "grant_type=refresh_token&refresh_token=r");
}

#[test]
fn s_tok_2_client_secret_post_and_public_clients() {
    let profile = rfc().with_client_auth(ClientAuth::Post).unwrap();
    let client = rfc_client();
    let mut buf = [0u8; 1024];
    let t = TokenRequest::new(&profile, &client).unwrap();
    let req = t
        .refresh(
            RefreshToken::<64>::new("tGzv3JOkF0XG5Qx2TlKWIA").unwrap(),
            &mut buf,
        )
        .unwrap();
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        body(&req),
        "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA\
         &client_id=s6BhdRkqt3&client_secret=7Fjfp0ZBr1KtDRbnfVdmIw"
    );
    assert!(!req.url.contains("7Fjfp0"));

    // A public client sends its id in the body and no secret at all.
    let public = Client::new("s6BhdRkqt3", "https://client.example.com/cb").unwrap();
    let profile = rfc();
    let req = TokenRequest::new(&profile, &public)
        .unwrap()
        .refresh(
            RefreshToken::<64>::new("tGzv3JOkF0XG5Qx2TlKWIA").unwrap(),
            &mut buf,
        )
        .unwrap();
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        body(&req),
        "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=s6BhdRkqt3"
    );

    // client_secret_basic configured but ClientAuth::None: the secret is never sent.
    let none = rfc().with_client_auth(ClientAuth::None).unwrap();
    let req = TokenRequest::new(&none, &client)
        .unwrap()
        .refresh(RefreshToken::<64>::new("t").unwrap(), &mut buf)
        .unwrap();
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        body(&req),
        "grant_type=refresh_token&refresh_token=t&client_id=s6BhdRkqt3"
    );
}

#[test]
fn rfc6749_5_1_example_parses_but_is_not_bearer() {
    let t = token(
        r#"{
       "access_token":"2YotnFZFEjr1zCsicMWpAA",
       "token_type":"example",
       "expires_in":3600,
       "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA",
       "example_parameter":"example_value"
     }"#,
    )
    .unwrap();
    assert_eq!(t.access_token_secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(t.token_type(), "example");
    assert_eq!(t.expires_in(), Some(3600));
    assert_eq!(t.refresh_token_secret(), Some("tGzv3JOkF0XG5Qx2TlKWIA"));
    assert_eq!(t.scope(), None);
    assert!(!t.is_bearer());
    assert_eq!(
        t.require_bearer(),
        Err(ServerMisbehaved::UnsupportedTokenType.into())
    );
    let a: AccessToken = t.access_token().unwrap();
    assert_eq!(a.secret(), "2YotnFZFEjr1zCsicMWpAA");
    let r: RefreshToken<32> = t.refresh_token().unwrap().unwrap();
    assert_eq!(r.secret(), "tGzv3JOkF0XG5Qx2TlKWIA");
}

#[test]
fn rfc6749_5_2_example_error_response() {
    let r = reply(400, r#"{"error":"invalid_request"}"#).unwrap();
    let TokenReply::Error(e) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        e,
        ErrorResponse {
            code: ErrorCode::from_code("invalid_request"),
            description: None,
            uri: None,
            status: 400
        }
    );
    assert_eq!(
        r.into_result(),
        Err(Error::ServerError(ServerError {
            code: ErrorKind::InvalidRequest,
            status: HttpStatus::new(400)
        }))
    );
}

#[test]
fn s_tok_9_rfc7009_2_1_revocation_request_vector() {
    let profile = rfc()
        .with_revocation("https://server.example.com/revoke")
        .unwrap();
    let client = Client::new("s6BhdRkqt3", "https://client.example.com/cb")
        .unwrap()
        .with_secret("gX1fBat3bV")
        .unwrap();
    let mut buf = [0u8; 512];
    let refresh = RefreshToken::<64>::new("45ghiukldjahdnhzdauz").unwrap();
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .revoke(&refresh, &mut buf)
        .unwrap();
    assert_eq!(req.url, "https://server.example.com/revoke");
    assert_eq!(
        req.header("Authorization"),
        Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
    );
    assert_eq!(
        body(&req),
        "token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token"
    );
    // No revocation endpoint configured → API misuse, nothing built.
    let mut buf = [0u8; 512];
    assert_eq!(
        TokenRequest::new(&rfc(), &client)
            .unwrap()
            .revoke(&refresh, &mut buf),
        Err(ApiMisuse::NoEndpoint(Name::Revocation).into())
    );
}

#[test]
fn rfc8628_device_requests_and_3_2_response_vector() {
    let profile = rfc()
        .with_device_authorization("https://server.example.com/device_authorization")
        .unwrap();
    let client = Client::new("1406020730", "https://client.example.com/cb")
        .unwrap()
        .with_scope("example_scope")
        .unwrap();
    let t = TokenRequest::new(&profile, &client).unwrap();
    let mut buf = [0u8; 512];
    let req = t.device_authorization(&mut buf).unwrap();
    assert_eq!(req.url, "https://server.example.com/device_authorization");
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(body(&req), "client_id=1406020730&scope=example_scope");

    let resp = br#"{
        "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://example.com/device",
        "verification_uri_complete":
            "https://example.com/device?user_code=WDJB-MJHT",
        "expires_in": 1800,
        "interval": 5
      }"#;
    let mut scratch = [0u8; 0];
    let Reply::Success(d) =
        parse_device_authorization_response(Response::new(200, resp), &mut scratch).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        d.device_code_secret(),
        "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
    );
    assert_eq!(d.user_code(), "WDJB-MJHT");
    assert_eq!(d.verification_uri(), "https://example.com/device");
    assert_eq!(
        d.verification_uri_complete(),
        Some("https://example.com/device?user_code=WDJB-MJHT")
    );
    assert_eq!(d.expires_in(), 1800);
    assert_eq!(d.interval(), 5);

    let device_code: DeviceCode = d.device_code().unwrap();
    let mut buf = [0u8; 512];
    let req = t.device_token(&device_code, &mut buf).unwrap();
    assert_eq!(req.url, "https://server.example.com/token");
    assert_eq!(
        body(&req),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code\
         &device_code=GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS&client_id=1406020730"
    );

    // interval defaults to 5; a missing required member is named.
    let mut scratch = [0u8; 0];
    let minimal = br#"{"device_code":"d","user_code":"u","verification_uri":"https://e/d","expires_in":"600"}"#;
    let d = parse_device_authorization_response(Response::new(200, minimal), &mut scratch)
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!((d.interval(), d.expires_in()), (5, 600));
    let no_user_code = br#"{"device_code":"d","verification_uri":"https://e/d","expires_in":600}"#;
    assert_eq!(
        parse_device_authorization_response(Response::new(200, no_user_code), &mut scratch),
        Err(ServerMisbehaved::MissingField(Name::UserCode).into())
    );

    // Polling answers are token replies with RFC 8628 codes.
    for (code, kind) in [
        (
            "authorization_pending",
            ErrorCode::from_code("authorization_pending"),
        ),
        ("slow_down", ErrorCode::from_code("slow_down")),
        ("access_denied", ErrorCode::from_code("access_denied")),
        ("expired_token", ErrorCode::from_code("expired_token")),
    ] {
        let r = reply(400, &format!(r#"{{"error":"{code}"}}"#)).unwrap();
        assert!(
            matches!(r, TokenReply::Error(e) if e.code == kind),
            "{code}"
        );
    }
}

#[test]
fn client_credentials_request() {
    let profile = rfc();
    let client = rfc_client().with_scope("read write").unwrap();
    let mut buf = [0u8; 512];
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .client_credentials(&mut buf)
        .unwrap();
    assert_eq!(body(&req), "grant_type=client_credentials&scope=read+write");
    assert!(req.header("Authorization").unwrap().starts_with("Basic "));
    let public = Client::new("id", "https://client.example.com/cb").unwrap();
    assert_eq!(
        TokenRequest::new(&profile, &public)
            .unwrap()
            .client_credentials(&mut buf),
        Err(ApiMisuse::NoClientSecret.into())
    );
}

// ---------------------------------------------------------------------------------------
// CRM and Kommo request bytes (protocol.md §2, §3)
// ---------------------------------------------------------------------------------------

#[test]
fn crm_requests_match_protocol_md() {
    let profile = crm();
    let client = Client::new("crm-app", "https://app.example.com/cb")
        .unwrap()
        .with_secret("crm-secret")
        .unwrap();
    let t = TokenRequest::new(&profile, &client).unwrap();
    let basic = format!("Basic {}", b64("crm-app:crm-secret"));

    let mut scratch = [0u8; 256];
    let code = code_from("c0de", &profile, &mut scratch);
    let mut buf = [0u8; 1024];
    let req = t.authorization_code(code, verifier(), &mut buf).unwrap();
    assert_eq!(req.url, "https://api.example.com/oauth/token");
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(req.header("Authorization"), Some(basic.as_str()));
    assert_eq!(
        body(&req),
        r#"{"grant_type":"authorization_code","code":"c0de","code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}"#
    );

    let mut buf = [0u8; 1024];
    let req = t
        .refresh(RefreshToken::<64>::new("rt-1").unwrap(), &mut buf)
        .unwrap();
    assert_eq!(req.url, "https://api.example.com/oauth/token");
    assert_eq!(req.header("Authorization"), Some(basic.as_str()));
    assert_eq!(
        body(&req),
        r#"{"grant_type":"refresh_token","refresh_token":"rt-1"}"#
    );

    let mut buf = [0u8; 1024];
    let req = t
        .revoke(&RefreshToken::<64>::new("rt-2").unwrap(), &mut buf)
        .unwrap();
    assert_eq!(req.url, "https://api.example.com/oauth/revoke");
    assert_eq!(req.header("Authorization"), Some(basic.as_str()));
    assert_eq!(body(&req), r#"{"refresh_token":"rt-2"}"#);

    // A public CRM client (the iframe flow) names itself in the body.
    let public = Client::new("crm-app", "https://app.example.com/cb").unwrap();
    let mut scratch = [0u8; 256];
    let code = code_from("c0de", &profile, &mut scratch);
    let mut buf = [0u8; 1024];
    let req = TokenRequest::new(&profile, &public)
        .unwrap()
        .authorization_code(code, verifier(), &mut buf)
        .unwrap();
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        body(&req),
        r#"{"grant_type":"authorization_code","code":"c0de","code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","client_id":"crm-app"}"#
    );
}

fn kommo_client() -> Client {
    Client::new("kommo-integration-id", "https://app.example.com/kommo/cb")
        .unwrap()
        .with_secret("kommo-secret")
        .unwrap()
}

#[test]
fn kommo_requests_match_protocol_md() {
    let profile = Profile::kommo();
    let client = kommo_client();
    let account = validate_referer("example.kommo.com", &profile).unwrap();
    let t = TokenRequest::kommo(&profile, &client, &account).unwrap();

    let mut buf = [0u8; 1024];
    let code = {
        let q = format!("code=def502&state={STATE}&referer=example.kommo.com");
        let q: &'static str = Box::leak(q.into_boxed_str());
        let scratch: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
        parse_callback(q.as_bytes(), scratch)
            .unwrap()
            .verify(&StateToken::parse(STATE).unwrap(), &profile)
            .unwrap()
            .code()
    };
    let req = t.authorization_code(code, verifier(), &mut buf).unwrap();
    assert_eq!(req.url, "https://example.kommo.com/oauth2/access_token");
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(
        body(&req),
        r#"{"client_id":"kommo-integration-id","client_secret":"kommo-secret","grant_type":"authorization_code","code":"def502","redirect_uri":"https://app.example.com/kommo/cb"}"#
    );

    let mut buf = [0u8; 1024];
    let req = t
        .refresh(RefreshToken::<64>::new("def503").unwrap(), &mut buf)
        .unwrap();
    assert_eq!(req.url, "https://example.kommo.com/oauth2/access_token");
    assert_eq!(
        body(&req),
        r#"{"client_id":"kommo-integration-id","client_secret":"kommo-secret","grant_type":"refresh_token","refresh_token":"def503","redirect_uri":"https://app.example.com/kommo/cb"}"#
    );

    // Kommo always needs a secret and has no revocation endpoint.
    let public = Client::new("kommo-integration-id", "https://app.example.com/cb").unwrap();
    assert_eq!(
        TokenRequest::kommo(&profile, &public, &account).err(),
        Some(ApiMisuse::NoClientSecret.into())
    );
    assert!(matches!(
        t.revoke(&RefreshToken::<8>::new("x").unwrap(), &mut buf),
        Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
    ));
}

// ---------------------------------------------------------------------------------------
// Security rules
// ---------------------------------------------------------------------------------------

#[test]
fn s_ref_3_no_kommo_token_request_without_a_validated_account() {
    let profile = Profile::kommo();
    let client = kommo_client();
    // No account → no Kommo token request at all.
    assert!(matches!(
        TokenRequest::new(&profile, &client),
        Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
    ));
    // A hostile referer never becomes an account.
    for evil in [
        "evil.com",
        "kommo.com.evil.com",
        "x.kommo.com:443",
        "evil.com/.kommo.com",
    ] {
        assert!(validate_referer(evil, &profile).is_err(), "{evil}");
    }
    // An account validated under another profile's allowlist is refused here.
    let other = Profile::kommo().with_referer_suffix(".amocrm.ru").unwrap();
    let foreign = validate_referer("acme.amocrm.ru", &other).unwrap();
    assert_eq!(
        TokenRequest::kommo(&profile, &client, &foreign).err(),
        Some(CheckFailed::RefererNotAllowed.into())
    );
    // And a Kommo account cannot steer a CRM or RFC 6749 profile's requests.
    let account = validate_referer("example.kommo.com", &profile).unwrap();
    assert!(matches!(
        TokenRequest::kommo(&crm(), &client, &account),
        Err(Error::ApiMisuse(ApiMisuse::BadConfig(_)))
    ));
}

#[test]
fn s_tok_1_secret_goes_only_to_the_configured_token_host() {
    let mut buf = [0u8; 1024];
    let crm = crm();
    let client = rfc_client();
    let req = TokenRequest::new(&crm, &client)
        .unwrap()
        .refresh(RefreshToken::<8>::new("r").unwrap(), &mut buf)
        .unwrap();
    assert!(req.url.starts_with("https://api.example.com/"));
    let kommo = Profile::kommo();
    let account = validate_referer("Example.Kommo.com", &kommo).unwrap();
    let client = kommo_client();
    let mut buf = [0u8; 1024];
    let req = TokenRequest::kommo(&kommo, &client, &account)
        .unwrap()
        .refresh(RefreshToken::<8>::new("r").unwrap(), &mut buf)
        .unwrap();
    assert_eq!(req.url, "https://example.kommo.com/oauth2/access_token");
}

#[test]
fn s_tok_3_escapes_in_every_secret_field_are_decoded() {
    let t = token(
        r#"{"access_token":"a\/b\u0041","token_type":"Bearer","refresh_token":"r\/\ud83d\ude00","scope":"s\/1"}"#,
    )
    .unwrap();
    assert_eq!(t.access_token_secret(), "a/bA");
    assert_eq!(t.refresh_token_secret(), Some("r/😀"));
    assert_eq!(t.scope(), Some("s/1"));
    assert_eq!(t.access_token::<16>().unwrap().secret(), "a/bA");

    let r = reply(400, r#"{"error":"invalid_grant","error_description":"Multi-factor authentication required","mfa_token":"m\/t"}"#)
        .unwrap();
    let TokenReply::MfaRequired(m) = r else {
        panic!("{r:?}")
    };
    assert_eq!(m.mfa_token_secret(), "m/t");

    let mut scratch = [0u8; 64];
    let d = parse_device_authorization_response(
        Response::new(
            200,
            br#"{"device_code":"d\/c","user_code":"W\/X","verification_uri":"https:\/\/e.example\/d","expires_in":1}"#,
        ),
        &mut scratch,
    )
    .unwrap()
    .into_result()
    .unwrap();
    assert_eq!(d.device_code_secret(), "d/c");
    assert_eq!(d.user_code(), "W/X");
    assert_eq!(d.verification_uri(), "https://e.example/d");

    let mut scratch = [0u8; 64];
    let s = parse_mfa_secret_response(
        Response::new(200, br#"{"mfa_secret":"JBSW\/Y3DP"}"#),
        &mut scratch,
    )
    .unwrap()
    .into_result()
    .unwrap();
    assert_eq!(s.secret(), "JBSW/Y3DP");

    let t = token(r#"{"access_token":"abc\/def\u0041","token_type":"bearer"}"#).unwrap();
    assert_eq!(t.access_token_secret(), "abc/defA");
}

#[test]
fn s_tok_3_invalid_escapes_and_controls_rejected() {
    for bad in [r"\x", r"\ud83d", r"\ude00", r"\u12", r"\ud83d\u0041"] {
        let body = format!(r#"{{"access_token":"a{bad}","token_type":"Bearer"}}"#);
        assert_eq!(
            token(&body).err(),
            Some(InvalidMessage::BadJsonEscape.into()),
            "{bad}"
        );
    }
    // A decoded CR/LF could split a header line later: refused.
    assert_eq!(
        token(r#"{"access_token":"a\r\nX-Evil: 1","token_type":"Bearer"}"#).err(),
        Some(InvalidMessage::ControlCharacter.into())
    );
    assert_eq!(
        token("{\"access_token\":\"a\tb\",\"token_type\":\"Bearer\"}").err(),
        Some(InvalidMessage::ControlCharacter.into())
    );
}

#[test]
fn s_tok_3_token_type_is_case_insensitive_bearer() {
    for tt in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let t = token(&format!(r#"{{"access_token":"a","token_type":"{tt}"}}"#)).unwrap();
        assert_eq!(t.require_bearer(), Ok(()), "{tt}");
    }
    for tt in ["mac", "Bearer ", "example", "DPoP"] {
        let t = token(&format!(r#"{{"access_token":"a","token_type":"{tt}"}}"#)).unwrap();
        assert_eq!(
            t.require_bearer(),
            Err(ServerMisbehaved::UnsupportedTokenType.into()),
            "{tt}"
        );
    }
}

#[test]
fn s_tok_3_missing_access_token_and_unknown_fields() {
    assert_eq!(
        token(r#"{"token_type":"Bearer","expires_in":3600}"#).err(),
        Some(ServerMisbehaved::MissingField(Name::AccessToken).into())
    );
    assert_eq!(
        token(r#"{"access_token":"","token_type":"Bearer"}"#).err(),
        Some(ServerMisbehaved::MissingField(Name::AccessToken).into())
    );
    assert_eq!(
        token(r#"{"access_token":null,"token_type":"Bearer"}"#).err(),
        Some(ServerMisbehaved::MissingField(Name::AccessToken).into())
    );
    assert_eq!(
        token(r#"{"access_token":"a"}"#).err(),
        Some(ServerMisbehaved::MissingField(Name::TokenType).into())
    );
    assert_eq!(
        token(r#"{"access_token":42,"token_type":"Bearer"}"#).err(),
        Some(InvalidMessage::BadValue(Name::AccessToken).into())
    );
    // Unknown members, nested objects and arrays, id_token and nulls are ignored.
    let t = token(
        r#"{"access_token":"a","token_type":"Bearer","id_token":"x.y.z","user":{"id":1,"roles":["a",{"b":[null,true,1.5e3]}]},"refresh_token":null,"expires_in":null}"#,
    )
    .unwrap();
    assert_eq!(t.refresh_token_secret(), None);
    assert_eq!(t.expires_in(), None);
}

#[test]
fn s_tok_8_expires_in_digit_string_accepted_nothing_else() {
    assert_eq!(
        token(r#"{"access_token":"a","token_type":"Bearer","expires_in":"3599"}"#)
            .unwrap()
            .expires_in(),
        Some(3599)
    );
    assert_eq!(
        token(r#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615}"#)
            .unwrap()
            .expires_in(),
        Some(u64::MAX)
    );
    for bad in [
        r#""3599x""#,
        "-1",
        "1.5",
        "1e3",
        "18446744073709551616",
        r#""18446744073709551616""#,
        r#""""#,
        r#"" 1""#,
        "true",
        "[1]",
        "{}",
    ] {
        let body = format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{bad}}}"#);
        assert_eq!(
            token(&body).err(),
            Some(InvalidMessage::NumberOutOfRange(Name::ExpiresIn).into()),
            "{bad}"
        );
    }
    // Not JSON at all is not a number either.
    assert_eq!(
        token(r#"{"access_token":"a","token_type":"Bearer","expires_in":0x10}"#).err(),
        Some(InvalidMessage::BadJson.into())
    );
}

#[test]
fn s_tok_8_duplicate_members_rejected() {
    for body in [
        r#"{"access_token":"a","access_token":"b","token_type":"Bearer"}"#,
        r#"{"access_token":"a","access\u005ftoken":"b","token_type":"Bearer"}"#,
        r#"{"access_token":"a","token_type":"Bearer","token_type":"mac"}"#,
        r#"{"access_token":"a","token_type":"Bearer","expires_in":1,"expires_in":2}"#,
        r#"{"access_token":"a","token_type":"Bearer","refresh_token":"r","refresh_token":null}"#,
    ] {
        assert!(
            matches!(
                token(body),
                Err(Error::InvalidMessage(InvalidMessage::Duplicate(_)))
            ),
            "{body}"
        );
    }
    assert_eq!(
        reply(400, r#"{"error":"invalid_grant","error":"access_denied"}"#).err(),
        Some(InvalidMessage::Duplicate(Name::Error).into())
    );
    // Unknown members may repeat (they are never read).
    assert!(token(r#"{"access_token":"a","token_type":"Bearer","x":1,"x":2}"#).is_ok());
    // An escaped member name is the member it decodes to.
    let t = token(r#"{"access\u005ftoken":"a","token_type":"Bearer"}"#).unwrap();
    assert_eq!(t.access_token_secret(), "a");
}

#[test]
fn s_tok_4_error_responses_are_typed_and_200_with_error_is_an_error() {
    assert_eq!(
        token(r#"{"access_token":"a","token_type":"Bearer","error":"invalid_grant"}"#).err(),
        Some(ServerMisbehaved::ErrorInSuccess.into())
    );
    assert_eq!(
        token(r#"{"error":"invalid_grant"}"#).err(),
        Some(ServerMisbehaved::ErrorInSuccess.into())
    );
    let r = reply(
        400,
        r#"{"error":"invalid_grant","error_description":"Refresh token is invalid or expired","error_uri":"https:\/\/docs.example\/e"}"#,
    )
    .unwrap();
    let TokenReply::Error(e) = r else {
        panic!("{r:?}")
    };
    assert_eq!(e.code, ErrorCode::from_code("invalid_grant"));
    assert_eq!(e.code.kind(), ErrorKind::InvalidGrant);
    assert_eq!(e.code.as_str(), "invalid_grant");
    assert_eq!(e.description, Some("Refresh token is invalid or expired"));
    assert_eq!(e.uri, Some("https://docs.example/e"));
    assert_eq!(
        Error::from(e),
        Error::ServerError(ServerError {
            code: ErrorKind::InvalidGrant,
            status: HttpStatus::new(400)
        })
    );
    // An extension code stays readable.
    let TokenReply::Error(e) = reply(401, r#"{"error":"mfa_locked"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::from_code("mfa_locked"));
    assert_eq!(e.code.kind(), ErrorKind::Other);
    assert_eq!(e.status, 401);
    // Non-JSON or error-less bodies on other statuses are unexpected statuses.
    assert_eq!(
        reply(502, "<html>Bad gateway</html>").err(),
        Some(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(502)).into())
    );
    assert_eq!(
        reply(500, r#"{"message":"oops"}"#).err(),
        Some(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(500)).into())
    );
    assert_eq!(
        reply(201, r#"{"access_token":"a","token_type":"Bearer"}"#).err(),
        Some(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(201)).into())
    );
    assert_eq!(
        reply(100, "").err(),
        Some(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(100)).into())
    );
    // A 200 that is not JSON at all.
    assert_eq!(
        reply(200, "<html>").err(),
        Some(InvalidMessage::BadJson.into())
    );
}

#[test]
fn s_tok_5_oversize_bodies_rejected() {
    let mut big = String::from(r#"{"access_token":"a","token_type":"Bearer","pad":""#);
    big.push_str(&"x".repeat(MAX_RESPONSE_LEN));
    big.push_str(r#""}"#);
    assert_eq!(
        reply(200, &big).err(),
        Some(ServerMisbehaved::ResponseTooLarge.into())
    );
    assert_eq!(
        reply(400, &big).err(),
        Some(ServerMisbehaved::ResponseTooLarge.into())
    );
    let mut scratch = [0u8; 8];
    let resp = Response::new(200, big.as_bytes());
    assert_eq!(
        parse_device_authorization_response(resp, &mut scratch).err(),
        Some(ServerMisbehaved::ResponseTooLarge.into())
    );
    assert_eq!(
        parse_ack_response(resp, &mut scratch).err(),
        Some(ServerMisbehaved::ResponseTooLarge.into())
    );
    assert_eq!(
        parse_revocation_response(resp, None, &mut scratch).err(),
        Some(ServerMisbehaved::ResponseTooLarge.into())
    );
    // A token longer than MAX_TOKEN_LEN inside an allowed body.
    let long = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "t".repeat(MAX_TOKEN_LEN + 1)
    );
    assert_eq!(
        reply(200, &long).err(),
        Some(Error::CapacityExceeded {
            what: Capacity::Token,
            limit: MAX_TOKEN_LEN as u16
        })
    );
    // An owned token with a smaller capacity: an error, not a truncation.
    let t = token(r#"{"access_token":"0123456789","token_type":"Bearer"}"#).unwrap();
    assert_eq!(
        t.access_token::<4>().err(),
        Some(Error::CapacityExceeded {
            what: Capacity::Token,
            limit: 4
        })
    );
}

#[test]
fn s_tok_6_redirects_rejected_by_every_parser() {
    for status in [301, 302, 303, 307, 308] {
        let body = br#"{"access_token":"a","token_type":"Bearer"}"#;
        let resp = Response::new(status, body);
        let redirect = Some(ServerMisbehaved::Redirect.into());
        let mut s = [0u8; 64];
        assert_eq!(parse_token_response(resp, &mut s).err(), redirect);
        assert_eq!(
            parse_device_authorization_response(resp, &mut s).err(),
            redirect
        );
        assert_eq!(parse_mfa_secret_response(resp, &mut s).err(), redirect);
        assert_eq!(parse_ack_response(resp, &mut s).err(), redirect);
        assert_eq!(
            parse_revocation_response(resp, None, &mut s).err(),
            redirect
        );
    }
}

#[test]
fn s_tok_7_no_parameter_or_member_injection_and_no_crlf_in_headers() {
    // Form: `&x=` in a scope stays inside the scope value.
    let profile = rfc()
        .with_device_authorization("https://server.example.com/device")
        .unwrap();
    let client = Client::new("id", "https://client.example.com/cb")
        .unwrap()
        .with_scope("a&client_id=evil b=c")
        .unwrap();
    let mut buf = [0u8; 512];
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .device_authorization(&mut buf)
        .unwrap();
    assert_eq!(body(&req), "client_id=id&scope=a%26client_id%3Devil+b%3Dc");
    let pairs: Vec<_> = req.body.split(|&b| b == b'&').collect();
    assert_eq!(pairs.len(), 2);

    // JSON: quotes in a code cannot add a member.
    let crm = crm();
    let client = Client::new("crm-app", "https://app.example.com/cb")
        .unwrap()
        .with_secret("s\"e:c")
        .unwrap();
    let mut scratch = [0u8; 128];
    let code = code_from("x%22%2C%22grant_type%22%3A%22password", &crm, &mut scratch);
    assert_eq!(code.secret(), r#"x","grant_type":"password"#);
    let mut buf = [0u8; 1024];
    let req = TokenRequest::new(&crm, &client)
        .unwrap()
        .authorization_code(code, verifier(), &mut buf)
        .unwrap();
    assert_eq!(
        body(&req),
        r#"{"grant_type":"authorization_code","code":"x\",\"grant_type\":\"password","code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}"#
    );
    // Header values are base64: no CR, LF or other control bytes, whatever the secret.
    for h in req.headers() {
        assert!(
            h.value.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{}",
            h.name
        );
    }
    let auth = req.header("Authorization").unwrap();
    let mut decoded = [0u8; 64];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(auth.strip_prefix("Basic ").unwrap(), &mut decoded)
        .unwrap();
    let decoded = &decoded[..n];
    assert_eq!(decoded, b"crm-app:s%22e%3Ac");
}

/// `Probe::<T>::is_clone()` is `true` exactly when `T: Clone` (inherent methods win over
/// the blanket trait method), so adding `Clone` to a single-use secret fails these tests.
struct Probe<T>(PhantomData<T>);
trait NotClone {
    fn is_clone(&self) -> bool {
        false
    }
}
impl<T> NotClone for Probe<T> {}
impl<T: Clone> Probe<T> {
    #[allow(dead_code)] // reason: only resolved when T: Clone
    fn is_clone(&self) -> bool {
        true
    }
}

#[test]
fn s_pkce_4_verifier_and_refresh_token_consumed_by_move() {
    // The signatures take the single-use secrets by value (a change to `&CodeVerifier` or
    // `&RefreshToken` stops this from compiling); the compile_fail doctest on
    // `TokenRequest::authorization_code` shows a second use does not compile.
    let _by_value: fn(
        &TokenRequest<'static>,
        AuthorizationCode<'static>,
        CodeVerifier,
        &'static mut [u8],
    ) -> Result<Request<'static>, Error> = TokenRequest::authorization_code;
    let _refresh_by_value: fn(
        &TokenRequest<'static>,
        RefreshToken<64>,
        &'static mut [u8],
    ) -> Result<Request<'static>, Error> = TokenRequest::refresh::<64>;
    // And they cannot be copied to be sent again.
    assert!(!Probe::<CodeVerifier>(PhantomData).is_clone());
    assert!(!Probe::<RefreshToken>(PhantomData).is_clone());
    assert!(!Probe::<MfaToken>(PhantomData).is_clone());
    assert!(!Probe::<DeviceCode>(PhantomData).is_clone());
    // Access tokens are reusable until they expire.
    assert!(Probe::<AccessToken>(PhantomData).is_clone());
}

#[test]
fn s_sec_1_debug_redacts_every_secret() {
    let secret = "SECRETVALUE";
    let dbg = [
        format!("{:?}", AccessToken::<32>::new(secret).unwrap()),
        format!("{:?}", RefreshToken::<32>::new(secret).unwrap()),
        format!("{:?}", MfaToken::<32>::new(secret).unwrap()),
        format!("{:?}", DeviceCode::<32>::new(secret).unwrap()),
    ];
    for (d, name) in dbg
        .iter()
        .zip(["AccessToken", "RefreshToken", "MfaToken", "DeviceCode"])
    {
        assert_eq!(d, &format!("{name}([redacted])"));
    }
    let t = token(&format!(
        r#"{{"access_token":"{secret}","token_type":"Bearer","refresh_token":"{secret}"}}"#
    ))
    .unwrap();
    let r = reply(
        400,
        &format!(r#"{{"error":"invalid_grant","mfa_token":"{secret}"}}"#),
    )
    .unwrap();
    let mut scratch = [0u8; 0];
    let d = parse_device_authorization_response(
        Response::new(
            200,
            br#"{"device_code":"SECRETVALUE","user_code":"U","verification_uri":"https://e/","expires_in":1}"#,
        ),
        &mut scratch,
    )
    .unwrap();
    let mut scratch = [0u8; 0];
    let m = parse_mfa_secret_response(
        Response::new(200, br#"{"mfa_secret":"SECRETVALUE"}"#),
        &mut scratch,
    )
    .unwrap();
    let profile = crm();
    let client = Client::new("id", "https://app.example.com/cb")
        .unwrap()
        .with_secret(secret)
        .unwrap();
    let mut buf = [0u8; 512];
    let req = TokenRequest::new(&profile, &client)
        .unwrap()
        .refresh(RefreshToken::<32>::new(secret).unwrap(), &mut buf)
        .unwrap();
    for d in [
        format!("{t:?}"),
        format!("{r:?}"),
        format!("{d:?}"),
        format!("{m:?}"),
        format!("{req:?}"),
        format!("{:?}", TokenRequest::new(&profile, &client).unwrap()),
    ] {
        assert!(!d.contains(secret), "{d}");
        assert!(d.contains("redacted"), "{d}");
    }
    // Base64 of the secret is no better than the secret.
    let b64 = b64(format!("id:{secret}"));
    assert!(!format!("{req:?}").contains(&b64));
}

#[test]
fn s_crm_2_mfa_required_in_error_or_success_body() {
    let r = reply(
        400,
        r#"{"error":"invalid_grant","error_description":"Multi-factor authentication required","mfa_token":"mfa-1"}"#,
    )
    .unwrap();
    let TokenReply::MfaRequired(m) = r else {
        panic!("{r:?}")
    };
    assert_eq!(m.code(), Some(ErrorCode::from_code("invalid_grant")));
    assert_eq!(
        m.description(),
        Some("Multi-factor authentication required")
    );
    assert_eq!(m.status(), 400);
    let owned: MfaToken = m.mfa_token().unwrap();
    assert_eq!(owned.secret(), "mfa-1");
    assert_eq!(format!("{owned:?}"), "MfaToken([redacted])");
    assert_eq!(
        r.into_result().err(),
        Some(Error::ServerError(ServerError {
            code: ErrorKind::InvalidGrant,
            status: HttpStatus::new(400)
        }))
    );

    let r = reply(
        200,
        r#"{"mfa_token":"mfa-2","message":"Multi-factor authentication required"}"#,
    )
    .unwrap();
    let TokenReply::MfaRequired(m) = r else {
        panic!("{r:?}")
    };
    assert_eq!(m.mfa_token_secret(), "mfa-2");
    assert_eq!(m.code(), None);
    assert!(!format!("{m:?}").contains("mfa-2"));
}

#[test]
fn s_tok_9_revocation_200_is_done_whatever_the_body_503_is_still_live() {
    let mut s = [0u8; 64];
    for body in [
        &b""[..],
        b"{}",
        b"not json",
        br#"{"error":"invalid_token"}"#,
    ] {
        assert_eq!(
            parse_revocation_response(Response::new(200, body), None, &mut s),
            Ok(RevocationReply::Revoked)
        );
    }
    assert_eq!(
        parse_revocation_response(Response::new(503, b"busy"), Some(30), &mut s),
        Ok(RevocationReply::Unavailable {
            retry_after: Some(30)
        })
    );
    let r = parse_revocation_response(
        Response::new(400, br#"{"error":"unsupported_token_type"}"#),
        None,
        &mut s,
    )
    .unwrap();
    assert!(
        matches!(r, RevocationReply::Error(e) if e.code == ErrorCode::from_code("unsupported_token_type"))
    );
    assert_eq!(
        parse_revocation_response(Response::new(500, b"x"), None, &mut s),
        Err(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(500)).into())
    );
}

#[test]
fn ack_responses() {
    let mut s = [0u8; 64];
    assert_eq!(
        parse_ack_response(Response::new(200, b""), &mut s),
        Ok(Reply::Success(()))
    );
    assert_eq!(
        parse_ack_response(Response::new(204, b""), &mut s),
        Ok(Reply::Success(()))
    );
    assert_eq!(
        parse_ack_response(Response::new(200, br#"{"error":"x"}"#), &mut s),
        Err(ServerMisbehaved::ErrorInSuccess.into())
    );
    assert_eq!(
        parse_ack_response(Response::new(200, br#"{"error":"x","error":"y"}"#), &mut s),
        Err(InvalidMessage::Duplicate(Name::Error).into())
    );
    assert_eq!(
        parse_ack_response(Response::new(200, b"OK"), &mut s),
        Ok(Reply::Success(()))
    );
    let r = parse_ack_response(
        Response::new(400, br#"{"error":"rate_limit_exceeded"}"#),
        &mut s,
    )
    .unwrap();
    assert!(matches!(r, Reply::Error(e) if e.code == ErrorCode::from_code("rate_limit_exceeded")));
    assert_eq!(
        r.into_result(),
        Err(Error::ServerError(ServerError {
            code: ErrorKind::RateLimitExceeded,
            status: HttpStatus::new(400)
        }))
    );
}

#[test]
fn buffer_too_small_writes_nothing_and_reports_the_exact_size() {
    let profile = rfc();
    let client = rfc_client();
    let t = TokenRequest::new(&profile, &client).unwrap();
    let mut small = [0xAAu8; 40];
    let err = t
        .refresh(
            RefreshToken::<64>::new("tGzv3JOkF0XG5Qx2TlKWIA").unwrap(),
            &mut small,
        )
        .unwrap_err();
    let Error::BufferTooSmall { required } = err else {
        panic!("{err:?}")
    };
    assert_eq!(small, [0xAAu8; 40]);
    let mut exact = vec![0u8; required.get()];
    let req = t
        .refresh(
            RefreshToken::<64>::new("tGzv3JOkF0XG5Qx2TlKWIA").unwrap(),
            &mut exact,
        )
        .unwrap();
    assert_eq!(
        req.url.len() + req.header("Authorization").unwrap().len() + req.body.len(),
        required.get()
    );

    // Parsers: scratch is only needed for escaped strings, and its size is reported.
    let body = br#"{"access_token":"a\/b","token_type":"Bearer","refresh_token":"c\/d\/e"}"#;
    let mut none = [0u8; 0];
    assert_eq!(
        parse_token_response(Response::new(200, body), &mut none),
        Err(Error::BufferTooSmall {
            required: Len::new(3 + 5)
        })
    );
    let mut exact = [0u8; 8];
    let t = parse_token_response(Response::new(200, body), &mut exact)
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(
        (t.access_token_secret(), t.refresh_token_secret()),
        ("a/b", Some("c/d/e"))
    );
    let mut none = [0u8; 0];
    let plain = br#"{"access_token":"ab","token_type":"Bearer"}"#;
    assert!(parse_token_response(Response::new(200, plain), &mut none).is_ok());
}

#[cfg(feature = "password-grant")]
#[test]
fn s_crm_3_password_grant_and_mfa_only_for_crm_confidential_clients() {
    use latchkey_core::token::MfaType;

    let profile = crm();
    let client = Client::new("crm-app", "https://app.example.com/cb")
        .unwrap()
        .with_secret("crm-secret")
        .unwrap();
    let t = TokenRequest::new(&profile, &client).unwrap();
    let basic = format!("Basic {}", b64("crm-app:crm-secret"));
    let mfa = MfaToken::<64>::new("mfa-1").unwrap();
    let mut b = [0u8; 1024];
    let cases: Vec<(String, Option<String>, String)> = vec![
        {
            let r = t.password("user@example.com", "p\"w", &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t.mfa_verify(&mfa, "123456", &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t.mfa_secret(&mfa, &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t.mfa_email_send(&mfa, &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t
                .mfa_bind(&mfa, MfaType::Authenticator, "654321", &mut b)
                .unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t.mfa_deactivation_request(&mfa, &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
        {
            let r = t.forget_password("user@example.com", &mut b).unwrap();
            (
                r.url.into(),
                r.header("Authorization").map(Into::into),
                body(&r).into(),
            )
        },
    ];
    let expected = [
        (
            "/oauth/token",
            r#"{"grant_type":"password","username":"user@example.com","password":"p\"w"}"#,
        ),
        (
            "/oauth/mfa/verify",
            r#"{"mfa_token":"mfa-1","otp_code":"123456"}"#,
        ),
        ("/oauth/mfa/secret", r#"{"mfa_token":"mfa-1"}"#),
        ("/oauth/mfa/email/send", r#"{"mfa_token":"mfa-1"}"#),
        (
            "/oauth/mfa/bind",
            r#"{"mfa_token":"mfa-1","mfa_type":"authenticator","otp_code":"654321"}"#,
        ),
        (
            "/oauth/mfa/deactivation/request",
            r#"{"mfa_token":"mfa-1"}"#,
        ),
        ("/oauth/forget", r#"{"username":"user@example.com"}"#),
    ];
    for ((url, auth, body), (path, want)) in cases.iter().zip(expected) {
        assert_eq!(url, &format!("https://api.example.com{path}"));
        assert_eq!(auth.as_deref(), Some(basic.as_str()), "{path}");
        assert_eq!(body, want);
    }
    assert_eq!(MfaType::Email.as_str(), "email");

    // Other profiles and public clients are refused.
    let mut b = [0u8; 1024];
    let rfc = rfc();
    let rfc_client = rfc_client();
    assert!(matches!(
        TokenRequest::new(&rfc, &rfc_client)
            .unwrap()
            .password("u", "p", &mut b),
        Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
    ));
    assert!(matches!(
        TokenRequest::new(&rfc, &rfc_client)
            .unwrap()
            .mfa_verify(&mfa, "1", &mut b),
        Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
    ));
    let kommo = Profile::kommo();
    let account = validate_referer("a.kommo.com", &kommo).unwrap();
    let kc = kommo_client();
    assert!(matches!(
        TokenRequest::kommo(&kommo, &kc, &account)
            .unwrap()
            .password("u", "p", &mut b),
        Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
    ));
    let public = Client::new("crm-app", "https://app.example.com/cb").unwrap();
    assert_eq!(
        TokenRequest::new(&profile, &public)
            .unwrap()
            .password("u", "p", &mut b),
        Err(ApiMisuse::NoClientSecret.into())
    );
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .map(|pair| {
            let i = pair.iter().position(|&b| b == b'=').unwrap();
            let mut k = [0u8; 4096];
            let mut v = [0u8; 4096];
            (
                form_decode(&pair[..i], &mut k).unwrap().to_owned(),
                form_decode(&pair[i + 1..], &mut v).unwrap().to_owned(),
            )
        })
        .collect()
}

proptest::proptest! {
    #[test]
    fn s_sec_2_token_parsers_never_panic(
        status in proptest::prop_oneof![proptest::num::u16::ANY, 200u16..201, 400u16..402],
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        scratch_len in 0usize..64,
    ) {
        let resp = Response::new(status, &bytes);
        let mut s = vec![0u8; scratch_len];
        let _ = parse_token_response(resp, &mut s);
        let _ = parse_device_authorization_response(resp, &mut s);
        let _ = parse_mfa_secret_response(resp, &mut s);
        let _ = parse_ack_response(resp, &mut s);
        let _ = parse_revocation_response(resp, None, &mut s);
    }

    #[test]
    fn s_sec_2_token_parsers_never_panic_on_jsonish(
        status in proptest::prop_oneof![200u16..201, 400u16..401],
        s in r#"\{("(access_token|token_type|expires_in|refresh_token|error|mfa_token|device_code|x)":("[a-z\\/u0-9]{0,8}"|-?[0-9.e]{1,6}|null|true|\[\]|\{\}),?){0,6}\}"#,
    ) {
        let mut scratch = [0u8; 32];
        let _ = parse_token_response(Response::new(status, s.as_bytes()), &mut scratch);
        let _ = parse_device_authorization_response(Response::new(status, s.as_bytes()), &mut scratch);
    }

    #[test]
    fn form_request_round_trips(refresh in "[ -~]{1,64}", id in "[!-~]{1,32}", scope in "\\PC{0,40}") {
        let profile = Profile::rfc6749("https://as.example/a", "https://as.example/t")
            .unwrap()
            .with_device_authorization("https://as.example/d")
            .unwrap();
        let client = Client::new(&id, "https://client.example/cb").unwrap();
        let scope = scope.replace(|c: char| c.is_control(), "");
        let client = client.with_scope(&scope).unwrap();
        let t = TokenRequest::new(&profile, &client).unwrap();
        let mut buf = [0u8; 2048];
        let req = t.refresh(RefreshToken::<64>::new(&refresh).unwrap(), &mut buf).unwrap();
        let pairs = form_pairs(req.body);
        proptest::prop_assert_eq!(pairs, vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), refresh.clone()),
            ("client_id".to_owned(), id.clone()),
        ]);
        let mut buf = [0u8; 2048];
        let req = t.device_authorization(&mut buf).unwrap();
        let mut want = vec![("client_id".to_owned(), id.clone())];
        if !scope.is_empty() {
            want.push(("scope".to_owned(), scope.clone()));
        }
        proptest::prop_assert_eq!(form_pairs(req.body), want);
    }

    #[test]
    fn token_response_round_trips_escaped_tokens(access in "[ -~]{1,64}", refresh in "\\PC{1,32}") {
        let esc = |s: &str| {
            let mut o = String::new();
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    '/' => o.push_str("\\/"),
                    c if c.is_control() => o.push_str(&format!("\\u{:04x}", c as u32)),
                    c if (c as u32) > 0xFFFF => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            o.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                    c => o.push(c),
                }
            }
            o
        };
        proptest::prop_assume!(!refresh.chars().any(char::is_control));
        let body = format!(
            r#"{{"access_token":"{}","token_type":"Bearer","refresh_token":"{}"}}"#,
            esc(&access),
            esc(&refresh)
        );
        let mut scratch = vec![0u8; body.len()];
        let t = parse_token_response(Response::new(200, body.as_bytes()), &mut scratch)
            .unwrap()
            .into_result()
            .unwrap();
        proptest::prop_assert_eq!(t.access_token_secret(), access.as_str());
        proptest::prop_assert_eq!(t.refresh_token_secret(), Some(refresh.as_str()));
    }
}
