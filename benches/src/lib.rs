//! The operations the benchmarks compare, written once so the criterion bench (`compare`)
//! and the allocation count (`allocs`) measure exactly the same code on the same inputs.
//!
//! Every pair does the same job: latchkey-core into caller buffers, oauth2-rs 5 / `url` /
//! `serde_json` the way their documentation shows, and a bare `sha2` + `base64` floor for
//! the PKCE challenge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: benchmark fixtures fail loudly on a broken setup

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::callback::parse_callback;
use latchkey_core::http::{Method, Response};
use latchkey_core::pkce::{CodeChallenge, CodeVerifier};
use latchkey_core::profile::ClientAuth;
use latchkey_core::session::{Action, Config, Outcome, Session};
use latchkey_core::state::StateToken;
use latchkey_core::token::{TokenReply, parse_token_response};
use latchkey_core::{Client, Profile};
use latchkey_testkit as testkit;
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthUrl, ClientId, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};
use sha2::Digest as _;

/// The RFC 7636 Appendix B verifier: 43 characters.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Its S256 challenge (RFC 7636 Appendix B).
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The state both sides put in the authorization URL and expect back (base64url of
/// 16 bytes, as latchkey makes it).
pub const STATE: &str = "Rm9yIHRoZSBiZW5jaG1hcms";
/// The authorization endpoint.
pub const AUTH_ENDPOINT: &str = "https://as.example/authorize";
/// The token endpoint.
pub const TOKEN_ENDPOINT: &str = "https://as.example/token";
/// The client id.
pub const CLIENT_ID: &str = "rfc-public-cli";
/// The redirect URI.
pub const REDIRECT_URI: &str = "https://client.example/cb";
/// The requested scope.
pub const SCOPE: &str = "openid profile email";
/// A callback query as an RFC 9207 server sends it (RFC 6749 §4.1.2 code).
pub const CALLBACK_QUERY: &str =
    "code=SplxlOBeZQQYbYS6WxSbIA&state=Rm9yIHRoZSBiZW5jaG1hcms&iss=https%3A%2F%2Fas.example";
/// A realistic CRM token response: a 3-part JWT access token and a refresh token, with the
/// `\/` escapes PHP's `json_encode` writes (both sides decode them).
pub const CRM_TOKEN_BODY: &[u8] = br#"{"token_type":"Bearer","expires_in":86400,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjcm0tY29uZmlkZW50aWFsLWFwcCIsImp0aSI6IjRmMmE5YzE3YjE0ZDQ1ZTI4YWQ2ZGI1OTQ3ZGIwZjE2IiwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMCwic3ViIjoiNDIiLCJzY29wZXMiOlsidXNlci1wb3J0YWw6dXNlcjoqIl19.Zm9vYmFy\/YmF6cXV4\/c2lnbmF0dXJlX2J5dGVzX2hlcmVfMDEyMzQ1Njc4OQ","refresh_token":"def50200a1b2c3d4e5f6\/0718293a4b5c6d7e8f90a1b2c3d4e5f6\/0718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","scope":"user-portal:user:*"}"#;

/// Scratch big enough for any benchmark input.
pub const SCRATCH: usize = 2048;

/// latchkey-core's side: configuration parsed once, as an application holds it.
pub struct Latchkey {
    profile: Profile,
    client: Client,
    verifier: CodeVerifier,
    challenge: CodeChallenge,
    state: StateToken,
}

impl Default for Latchkey {
    fn default() -> Self {
        Self::new()
    }
}

impl Latchkey {
    /// The RFC 6749 profile (public client, issuer checked) with the fixture parameters.
    pub fn new() -> Self {
        let profile = Profile::rfc6749(AUTH_ENDPOINT, TOKEN_ENDPOINT)
            .unwrap()
            .with_issuer("https://as.example")
            .unwrap()
            .with_client_auth(ClientAuth::None)
            .unwrap();
        let client = Client::new(CLIENT_ID, REDIRECT_URI)
            .unwrap()
            .with_scope(SCOPE)
            .unwrap();
        let verifier = CodeVerifier::parse(VERIFIER).unwrap();
        let challenge = CodeChallenge::s256(&verifier);
        assert_eq!(challenge.as_str(), CHALLENGE);
        Self {
            profile,
            client,
            verifier,
            challenge,
            state: StateToken::parse(STATE).unwrap(),
        }
    }

    /// S256 challenge of the 43-character verifier.
    pub fn pkce_s256(&self) -> CodeChallenge {
        CodeChallenge::s256(&self.verifier)
    }

    /// A fresh verifier from 32 bytes of OS entropy (`getrandom`) and its S256 challenge.
    pub fn pkce_generate() -> (CodeVerifier, CodeChallenge) {
        let mut entropy = [0u8; 32];
        getrandom::fill(&mut entropy).unwrap();
        let verifier = CodeVerifier::from_entropy(&entropy).unwrap();
        let challenge = CodeChallenge::s256(&verifier);
        (verifier, challenge)
    }

    /// The authorization URL into `buf`; returns its length.
    pub fn authorize_url(&self, buf: &mut [u8]) -> usize {
        latchkey_core::authorize::AuthorizationRequest::new(
            &self.profile,
            &self.client,
            &self.challenge,
            &self.state,
        )
        .write_url(buf)
        .unwrap()
    }

    /// Parses the callback query and checks state (constant time) and issuer; returns the
    /// code's length.
    pub fn callback(&self, query: &[u8], scratch: &mut [u8]) -> usize {
        let cb = parse_callback(query, scratch).unwrap();
        let verified = cb.verify(&self.state, &self.profile).unwrap();
        verified.code().secret().len()
    }

    /// Parses a token response, escapes decoded into `scratch`; returns the access token's
    /// length.
    pub fn token_response(body: &[u8], scratch: &mut [u8]) -> usize {
        match parse_token_response(Response::new(200, body), scratch).unwrap() {
            TokenReply::Token(t) => t.access_token_secret().len(),
            other => panic!("{other:?}"),
        }
    }
}

/// The same client configured in oauth2-rs 5.
pub type OAuth2Client =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// oauth2-rs's side, configured once.
pub struct Peer {
    client: OAuth2Client,
    verifier: PkceCodeVerifier,
    challenge: PkceCodeChallenge,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer {
    /// The oauth2-rs client with the fixture parameters.
    pub fn new() -> Self {
        let client = BasicClient::new(ClientId::new(CLIENT_ID.to_owned()))
            .set_auth_uri(AuthUrl::new(AUTH_ENDPOINT.to_owned()).unwrap())
            .set_token_uri(TokenUrl::new(TOKEN_ENDPOINT.to_owned()).unwrap())
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());
        let verifier = PkceCodeVerifier::new(VERIFIER.to_owned());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        assert_eq!(challenge.as_str(), CHALLENGE);
        Self {
            client,
            verifier,
            challenge,
        }
    }

    /// `PkceCodeChallenge::from_code_verifier_sha256`.
    pub fn pkce_s256(&self) -> PkceCodeChallenge {
        PkceCodeChallenge::from_code_verifier_sha256(&self.verifier)
    }

    /// `PkceCodeChallenge::new_random_sha256` (32 random bytes from `rand`'s thread RNG).
    pub fn pkce_generate() -> (PkceCodeChallenge, PkceCodeVerifier) {
        PkceCodeChallenge::new_random_sha256()
    }

    /// `Client::authorize_url` with the same parameters; returns the URL's length.
    pub fn authorize_url(&self) -> usize {
        let (url, _state) = self
            .client
            .authorize_url(|| CsrfToken::new(STATE.to_owned()))
            .add_scope(Scope::new(SCOPE.to_owned()))
            .set_pkce_challenge(self.challenge.clone())
            .url();
        url.as_str().len()
    }

    /// `url::form_urlencoded::parse`, collecting `code` and `state`, then comparing the
    /// state; returns the code's length.
    pub fn callback(query: &[u8]) -> usize {
        let mut code: Option<String> = None;
        let mut state: Option<String> = None;
        for (k, v) in url::form_urlencoded::parse(query) {
            match k {
                Cow::Borrowed("code") => code = Some(v.into_owned()),
                Cow::Borrowed("state") => state = Some(v.into_owned()),
                _ => {}
            }
        }
        assert_eq!(state.as_deref(), Some(STATE));
        code.unwrap().len()
    }

    /// `serde_json::from_slice::<BasicTokenResponse>`; returns the access token's length.
    pub fn token_response(body: &[u8]) -> usize {
        let t: BasicTokenResponse = serde_json::from_slice(body).unwrap();
        t.access_token().secret().len()
    }
}

/// The floor: bare `sha2` + `base64` into a stack buffer, no validation.
pub fn floor_s256(verifier: &str) -> [u8; 43] {
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    let mut out = [0u8; 43];
    URL_SAFE_NO_PAD.encode_slice(digest, &mut out).unwrap();
    out
}

/// Runs a closure counted as core work (the allocation count wraps it; criterion does not).
pub trait Meter {
    /// Runs `f`, which calls only latchkey-core.
    fn core<T>(&mut self, f: impl FnOnce() -> T) -> T;
}

/// A meter that measures nothing.
pub struct NoMeter;

impl Meter for NoMeter {
    fn core<T>(&mut self, f: impl FnOnce() -> T) -> T {
        f()
    }
}

/// One full CRM code flow through the session against the testkit's in-memory server (no
/// I/O): authorization URL → consent redirect → callback → token request → token response
/// → persist → authorized.
pub struct CodeFlow {
    server: testkit::Server,
    config: Config,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Default for CodeFlow {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeFlow {
    /// A server with the default registrations and a CRM confidential client config.
    pub fn new() -> Self {
        let profile = Profile::crm(testkit::CRM_PORTAL, testkit::CRM_API).unwrap();
        let client = Client::new(testkit::CRM_CLIENT_ID, testkit::CRM_REDIRECT_URI)
            .unwrap()
            .with_secret(testkit::CRM_CLIENT_SECRET)
            .unwrap()
            .with_scope(testkit::CRM_SCOPE)
            .unwrap();
        Self {
            server: testkit::Server::new(testkit::ServerConfig::default()),
            config: Config::new(profile, client),
            buf: vec![0u8; 4096],
            scratch: vec![0u8; 4096],
        }
    }

    /// Runs one flow at `now`; `entropy` must differ between runs only if the caller wants
    /// it to (the server issues a fresh code each time regardless).
    pub fn run(&mut self, now: u64, entropy: &[u8; 48], m: &mut impl Meter) {
        self.server.clear_log();
        let mut s: Session = m.core(|| Session::new(self.config.clone()));
        m.core(|| s.start_authorization(entropy, now)).unwrap();

        let url = match m.core(|| s.poll_action(now, &mut self.buf)).unwrap() {
            Action::OpenUrl(url) => url.to_owned(),
            other => panic!("{other:?}"),
        };
        let consent = self.server.handle(now, &testkit::HttpRequest::get(&url));
        let location = consent.location().unwrap();
        let query = location.split_once('?').unwrap().1.to_owned();
        m.core(|| s.handle_callback(query.as_bytes(), now, &mut self.scratch))
            .unwrap();

        let resp = match m.core(|| s.poll_action(now, &mut self.buf)).unwrap() {
            Action::Send(req) => {
                assert_eq!(req.method, Method::Post);
                let headers: Vec<(&str, &str)> =
                    req.headers().iter().map(|h| (h.name, h.value)).collect();
                self.server.handle(
                    now,
                    &testkit::HttpRequest::post(req.url, &headers, req.body),
                )
            }
            other => panic!("{other:?}"),
        };
        m.core(|| {
            s.handle_response(
                Response::new(resp.status, &resp.body),
                now,
                &mut self.scratch,
            )
        })
        .unwrap();
        assert!(matches!(
            m.core(|| s.poll_action(now, &mut self.buf)).unwrap(),
            Action::Persist(_)
        ));
        assert_eq!(
            m.core(|| s.poll_action(now, &mut self.buf)).unwrap(),
            Action::Done(Outcome::Authorized)
        );
        assert!(m.core(|| s.access_token(now).is_ok()));
    }
}
