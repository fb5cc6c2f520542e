//! Test support for latchkey: a [`FixedClock`], [`SeededEntropy`], RFC 6238 [`totp`], and a
//! strict, transport-free, in-memory authorization [`Server`] that speaks all three dialects
//! (RFC 6749, the CRM Open API "Client OAuth" dialect, and Kommo).
//!
//! The server is deliberately independent of `latchkey-core`: it is the judge of the client,
//! so it shares no code with it. It behaves as strictly as a real server (single-use expiring
//! codes, PKCE S256, refresh-token rotation with reuse detection, exact content types and
//! client authentication) and can be told to [`misbehave`](Server::misbehave) so that client
//! defences are tested, not assumed.
//!
//! ```
//! use latchkey_testkit::*;
//!
//! let mut server = Server::new(ServerConfig::default());
//! let now = FixedClock::default().now();
//! // The browser leg: the logged-in user consents and is redirected back with a code.
//! let url = format!(
//!     "{ISSUER}/authorize?response_type=code&client_id={RFC_PUBLIC_CLIENT_ID}\
//!      &redirect_uri=https%3A%2F%2Fclient.example%2Fcb&state=xyz\
//!      &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
//! );
//! let resp = server.handle(now, &HttpRequest::get(&url));
//! assert_eq!(resp.status, 302);
//! assert_eq!(resp.location_param("state").as_deref(), Some("xyz"));
//! assert_eq!(resp.location_param("iss").as_deref(), Some(ISSUER));
//! let code = resp.location_param("code").unwrap();
//!
//! // The token leg: form-encoded, PKCE verified.
//! let body: String = form_urlencoded::Serializer::new(String::new())
//!     .append_pair("grant_type", "authorization_code")
//!     .append_pair("code", &code)
//!     .append_pair("redirect_uri", RFC_REDIRECT_URI)
//!     .append_pair("client_id", RFC_PUBLIC_CLIENT_ID)
//!     .append_pair("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
//!     .finish();
//! let headers = [("Content-Type", "application/x-www-form-urlencoded")];
//! let token_url = format!("{ISSUER}/token");
//! let resp = server.handle(now, &HttpRequest::post(&token_url, &headers, body.as_bytes()));
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.json().unwrap()["token_type"], "Bearer");
//! assert_eq!(server.live_grants(), 1);
//! ```
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "unit tests fail by panicking"
    )
)]

mod clock;
mod config;
mod entropy;
mod http;
pub mod serve;
mod server;
pub mod totp;

pub use clock::FixedClock;
pub use config::{
    ALICE_PASSWORD, BOB_PASSWORD, BOB_TOTP_SECRET, CAROL_PASSWORD, CRM_API, CRM_CLIENT_ID,
    CRM_CLIENT_SECRET, CRM_PORTAL, CRM_PUBLIC_CLIENT_ID, CRM_REDIRECT_URI, CRM_SCOPE,
    ClientAuthMethod, ClientRegistration, DAVE_PASSWORD, Dialect, ISSUER, KOMMO_ACCOUNT_HOST,
    KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET, KOMMO_CONSENT_URL, KOMMO_REDIRECT_URI, KommoAccount,
    LOOPBACK_REDIRECT_URI, MfaState, RFC_CONFIDENTIAL_CLIENT_ID, RFC_CONFIDENTIAL_CLIENT_SECRET,
    RFC_POST_CLIENT_ID, RFC_POST_CLIENT_SECRET, RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI,
    ServerConfig, USER_ALICE, USER_BOB, USER_CAROL, USER_DAVE, User,
};
pub use entropy::SeededEntropy;
pub use http::{
    HttpRequest, HttpResponse, LoggedRequest, SIMULATED_TIMEOUT_HEADER, decode_basic_raw,
    decode_basic_rfc6749, encode_basic_raw, encode_basic_rfc6749,
};
pub use serve::MockServer;
pub use server::{
    AuthorizeError, EVIL_TOKEN_URL, ExpiresInQuirk, GrantId, GrantInfo, Misbehaviour,
    OVERSIZE_BODY_LEN, PostMessageReply, PostMessageRequest, Server, WRONG_ISSUER, WRONG_STATE,
};
