//! Token-endpoint requests and responses, for every grant and every dialect.
//!
//! **Requests.** A [`TokenRequest`] binds a [`Profile`] and a [`Client`] (and, for Kommo, the
//! [`KommoAccount`] a checked callback produced) and writes each request — URL, optional
//! `Authorization` header, body — into a caller buffer as an [`http::Request`]. The body
//! encoding and the client authentication follow the profile ([`Profile::body_encoding`],
//! [`Profile::client_auth`]):
//!
//! | profile | body | client with a secret | public client |
//! |---|---|---|---|
//! | RFC 6749 | form | `client_secret_basic` (default) or `client_secret_post` | `client_id` in the body |
//! | CRM | JSON | `Authorization: Basic …` | `client_id` in the body |
//! | Kommo | JSON | `client_id` + `client_secret` first in the body | refused ([`ApiMisuse::NoClientSecret`]) |
//!
//! The client secret only ever goes to the profile's own token, revocation or device host, or
//! to the validated Kommo account host (TOK-1), only in the header or the body, never in a
//! URL (TOK-2). Basic credentials are `base64(form_urlencode(id) ":" form_urlencode(secret))`
//! (RFC 6749 §2.3.1, TOK-2) for every profile. Values are form- or JSON-escaped, so no
//! value can add a parameter or a member, and header values are base64 (TOK-7).
//!
//! Single-use secrets are taken by move: the [`CodeVerifier`] by
//! [`TokenRequest::authorization_code`] (PKCE-4) and the [`RefreshToken`] by
//! [`TokenRequest::refresh`] (LIFE-2). The bytes stay in the request buffer, so a request
//! can be re-sent as is (LIFE-9), but it cannot be rebuilt with the same secret.
//!
//! **Responses.** Every parser first rejects redirects (TOK-6) and bodies larger than
//! [`MAX_RESPONSE_LEN`](crate::MAX_RESPONSE_LEN) (TOK-5). Bodies are validated as strict
//! JSON (RFC 8259); a duplicated member this module reads is
//! [`InvalidMessage::Duplicate`] (TOK-8), member names are compared after unescaping
//! (`"access\u005ftoken"` *is* `access_token`), unknown members and nested values are
//! ignored. Strings are unescaped exactly (`\/`, `\uXXXX`, surrogate pairs; TOK-3): a string
//! without escapes is borrowed from the body, one with escapes is decoded into the caller's
//! `scratch` buffer (too small → [`Error::BufferTooSmall`] with the total needed; a `scratch`
//! as long as the body always suffices). Decoded strings never contain control characters
//! ([`InvalidMessage::ControlCharacter`]) so nothing parsed here can inject a header line or
//! a terminal escape; tokens are at most [`MAX_TOKEN_LEN`] bytes.
//!
//! ```
//! use latchkey_core::http::Response;
//! use latchkey_core::token::{TokenReply, parse_token_response};
//!
//! // RFC 6749 §5.1, with the token type a Bearer-only client expects.
//! let body = br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer",
//!     "expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#;
//! let mut scratch = [0u8; 0]; // no escapes in this body: nothing to decode
//! let TokenReply::Token(token) = parse_token_response(Response::new(200, body), &mut scratch)?
//! else {
//!     unreachable!()
//! };
//! token.require_bearer()?;
//! assert_eq!(token.expires_in(), Some(3600));
//! let access: latchkey_core::token::AccessToken = token.access_token()?;
//! assert_eq!(access.secret(), "2YotnFZFEjr1zCsicMWpAA");
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use core::fmt;

use heapless::String;

use crate::MAX_TOKEN_LEN;
use crate::callback::{AuthorizationCode, KommoAccount};
use crate::client::{Client, ClientSecret};
use crate::encode::{Writer, is_unreserved};
#[cfg(feature = "kommo")]
use crate::error::CheckFailed;
use crate::error::{
    ApiMisuse, Capacity, Error, ErrorKind, HttpStatus, InvalidMessage, ServerError,
    ServerMisbehaved,
};
use crate::http::{self, Method, Part, Request, Response};
use crate::json::{self, Name, Scratch, Text, Value};
use crate::pkce::CodeVerifier;
use crate::profile::{BodyEncoding, ClientAuth, Profile};

/// Default capacity of an owned [`AccessToken`] or [`RefreshToken`] (bytes): holds the
/// 2–3 KB JWTs some servers issue (protocol.md §1). Pick another `N` for smaller targets.
pub const DEFAULT_TOKEN_CAP: usize = 4096;
/// Default capacity of an owned [`MfaToken`] or [`DeviceCode`] (bytes).
pub const DEFAULT_CODE_CAP: usize = 1024;
/// The polling interval when a device authorization response has none (RFC 8628 §3.2).
#[cfg(feature = "device")]
pub const DEFAULT_DEVICE_INTERVAL: u64 = 5;
/// The `grant_type` of the device flow's token request (RFC 8628 §3.4).
#[cfg(feature = "device")]
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

// ---------------------------------------------------------------------------------------
// Owned secrets
// ---------------------------------------------------------------------------------------

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident, $field:expr, $cap:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints
        #[doc = concat!("`", stringify!($name), "([redacted])`")]
        /// and there is no `Display` (SEC-1): the text is reachable only through `secret()`.
        /// With the `zeroize` feature the buffer is wiped on drop.
        #[derive(PartialEq, Eq)]
        pub struct $name<const N: usize = $cap>(String<N>);

        impl<const N: usize> $name<N> {
            /// Copies a token given as text (e.g. restored from storage).
            ///
            /// Empty is [`InvalidMessage::Empty`], a control character is
            /// [`InvalidMessage::ControlCharacter`], more than `N` bytes is
            /// [`Error::CapacityExceeded`] (`Capacity::Token`), never a truncation.
            pub fn new(s: &str) -> Result<Self, Error> {
                Self::copy(s, true)
            }

            /// Copies a token a parser here handed out: its text was already checked for
            /// control characters (TOK-7), so it is not scanned again.
            fn parsed(s: &str) -> Result<Self, Error> {
                Self::copy(s, false)
            }

            /// The checks and the copy of [`set_secret`] (built in place: no `String<N>`
            /// moves through a `Result`).
            fn copy(s: &str, check_controls: bool) -> Result<Self, Error> {
                let mut t = Self(String::new());
                set_secret(t.0.as_mut_view(), s, $field, check_controls)?;
                Ok(t)
            }

            /// The token itself, to send to the server. Never log or display it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl<const N: usize> fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        #[cfg(feature = "zeroize")]
        impl<const N: usize> Drop for $name<N> {
            fn drop(&mut self) {
                crate::wipe(&mut self.0);
            }
        }
    };
}

secret_string!(
    /// An OAuth 2.0 access token (RFC 6749 §1.4), owned, at most `N` bytes.
    ///
    /// Access tokens are used many times until they expire, so this one is `Clone`.
    AccessToken,
    crate::Name::AccessToken,
    DEFAULT_TOKEN_CAP
);

impl<const N: usize> Clone for AccessToken<N> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

secret_string!(
    /// A refresh token (RFC 6749 §1.5), owned, at most `N` bytes.
    ///
    /// It is single-use where servers rotate it (CRM, Kommo; RFC 9700 §4.14), so it is not
    /// `Clone`, and [`TokenRequest::refresh`] consumes it by move (LIFE-2):
    /// ```compile_fail
    /// let t = latchkey_core::token::RefreshToken::<64>::new("r").unwrap();
    /// let _copy = t.clone();
    /// ```
    RefreshToken,
    crate::Name::RefreshToken,
    DEFAULT_TOKEN_CAP
);

impl<const N: usize> AccessToken<N> {
    /// An empty token for the session to fill in place with [`AccessToken::set`] (never
    /// handed out empty).
    pub(crate) const fn empty() -> Self {
        Self(String::new())
    }

    /// Replaces the text in place, checked as [`AccessToken::new`] checks it (no token value
    /// is built and moved through a `Result`); on an error the token is unchanged.
    pub(crate) fn set(&mut self, s: &str) -> Result<(), Error> {
        set_secret(self.0.as_mut_view(), s, crate::Name::AccessToken, true)
    }
}

impl<const N: usize> RefreshToken<N> {
    /// An empty token for the session to fill in place with [`RefreshToken::set`] (never
    /// handed out empty).
    pub(crate) const fn empty() -> Self {
        Self(String::new())
    }

    /// Replaces the text in place, checked as [`RefreshToken::new`] checks it; on an error
    /// the token is unchanged.
    pub(crate) fn set(&mut self, s: &str) -> Result<(), Error> {
        set_secret(self.0.as_mut_view(), s, crate::Name::RefreshToken, true)
    }
}

/// The checks and the copy behind every token setter and constructor, once for every
/// capacity: empty is [`InvalidMessage::Empty`] naming `field`, a control character (when
/// `check_controls`) [`InvalidMessage::ControlCharacter`], more than the capacity
/// [`Error::CapacityExceeded`]; then the old text is wiped (under `zeroize`) and replaced.
/// On an error `dst` is unchanged.
#[inline(never)]
fn set_secret(
    dst: &mut heapless::string::StringView,
    s: &str,
    field: crate::Name,
    check_controls: bool,
) -> Result<(), Error> {
    if s.is_empty() {
        return Err(InvalidMessage::Empty(field).into());
    }
    if check_controls && s.bytes().any(is_control) {
        return Err(InvalidMessage::ControlCharacter.into());
    }
    let cap = dst.capacity();
    if s.len() > cap {
        return Err(Error::CapacityExceeded {
            what: Capacity::Token,
            limit: crate::error::limit(cap),
        });
    }
    // (A new, empty token has nothing to wipe.)
    #[cfg(feature = "zeroize")]
    if !dst.is_empty() {
        zeroize::Zeroize::zeroize(dst);
    }
    dst.clear();
    // Cannot fail: the length is at most the capacity.
    let _ = dst.push_str(s);
    Ok(())
}

secret_string!(
    /// The CRM `mfa_token` that ties the MFA steps to a password sign-in (protocol.md §2.3),
    /// owned, at most `N` bytes. A secret (CRM-2): not `Clone`; drop it when the MFA step
    /// ends.
    MfaToken,
    crate::Name::MfaToken,
    DEFAULT_CODE_CAP
);

#[cfg(feature = "device")]
secret_string!(
    /// An RFC 8628 `device_code`, owned, at most `N` bytes. Polled with
    /// [`TokenRequest::device_token`] until the user approves; not `Clone`.
    DeviceCode,
    crate::Name::DeviceCode,
    DEFAULT_CODE_CAP
);

/// The second factor a CRM user binds (`mfa_type` of `/oauth/mfa/bind`).
#[cfg(feature = "password-grant")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaType {
    /// A TOTP authenticator app (`authenticator`).
    Authenticator,
    /// One-time codes by email (`email`).
    Email,
}

#[cfg(feature = "password-grant")]
impl MfaType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authenticator => "authenticator",
            Self::Email => "email",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Builds token-endpoint requests for one client of one profile.
///
/// ```
/// use latchkey_core::{Client, Profile};
/// use latchkey_core::token::{RefreshToken, TokenRequest};
///
/// let profile = Profile::crm("https://portal.example", "https://api.example")?;
/// let client = Client::new("my-app", "https://app.example/cb")?.with_secret("s3cret")?;
/// let mut buf = [0u8; 512];
/// let refresh = RefreshToken::<64>::new("tGzv3JOkF0XG5Qx2TlKWIA")?;
/// let req = TokenRequest::new(&profile, &client)?.refresh(refresh, &mut buf)?;
/// assert_eq!(req.url, "https://api.example/oauth/token");
/// assert_eq!(req.body, br#"{"grant_type":"refresh_token","refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#);
/// # Ok::<(), latchkey_core::Error>(())
/// ```
///
/// The password grant and the MFA steps exist only with the `password-grant` feature, and
/// only for the CRM profile (CRM-3); without the feature this does not compile:
#[cfg_attr(not(feature = "password-grant"), doc = "```compile_fail")]
#[cfg_attr(feature = "password-grant", doc = "```")]
/// # use latchkey_core::{Client, Profile, token::TokenRequest};
/// let profile = Profile::crm("https://portal.example", "https://api.example")?;
/// let client = Client::new("app", "https://app.example/cb")?.with_secret("s")?;
/// let mut buf = [0u8; 256];
/// let req = TokenRequest::new(&profile, &client)?.password("user", "pw", &mut buf)?;
/// assert_eq!(req.url, "https://api.example/oauth/token");
/// # Ok::<(), latchkey_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    profile: &'a Profile,
    client: &'a Client,
    account: Option<&'a KommoAccount>,
}

impl<'a> TokenRequest<'a> {
    /// Requests for an RFC 6749 or CRM profile.
    ///
    /// A Kommo profile is [`ApiMisuse::NoEndpoint`]: its token host comes from the callback,
    /// so use [`TokenRequest::kommo`] with the [`KommoAccount`] the checked callback gave
    /// (REF-3). Kommo always needs a client secret ([`ApiMisuse::NoClientSecret`]).
    pub fn new(profile: &'a Profile, client: &'a Client) -> Result<Self, Error> {
        if is_kommo(profile) {
            return Err(ApiMisuse::NoEndpoint(crate::Name::KommoTokenWithoutAccount).into());
        }
        Ok(Self {
            profile,
            client,
            account: None,
        })
    }

    /// Requests for a Kommo account: `POST https://{account}/oauth2/access_token`.
    ///
    /// `account` must come from [`crate::callback::validate_referer`] (or a verified
    /// callback) for this profile; it is checked again against the profile's allowlist
    /// ([`CheckFailed::RefererNotAllowed`]), so no token request carrying the secret and the
    /// code is built for another host (REF-3, TOK-1). A profile other than Kommo is
    /// [`ApiMisuse::BadConfig`]; a client without a secret is [`ApiMisuse::NoClientSecret`].
    #[cfg(feature = "kommo")]
    pub fn kommo(
        profile: &'a Profile,
        client: &'a Client,
        account: &'a KommoAccount,
    ) -> Result<Self, Error> {
        let Profile::Kommo(kommo) = profile else {
            return Err(ApiMisuse::BadConfig(crate::Name::KommoAccountWithoutKommo).into());
        };
        if client.secret().is_none() {
            return Err(ApiMisuse::NoClientSecret.into());
        }
        let host = account.host().as_bytes();
        let allowed = kommo.referer_allowlist.iter().any(|suffix| {
            let suffix = suffix.as_bytes();
            suffix.first() == Some(&b'.')
                && host.len() > suffix.len()
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        });
        if !allowed
            || !host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(CheckFailed::RefererNotAllowed.into());
        }
        Ok(Self {
            profile,
            client,
            account: Some(account),
        })
    }

    /// The authorization code grant (RFC 6749 §4.1.3 + RFC 7636 §4.5). The verifier is
    /// consumed: it cannot be sent twice (PKCE-4).
    ///
    /// - RFC 6749: form `grant_type=authorization_code&code=…&redirect_uri=…&code_verifier=…`
    ///   (+ client authentication). `redirect_uri` is exactly the client's (CB-5).
    /// - CRM: `POST {api}/oauth/token`, JSON `{"grant_type":"authorization_code","code":…,
    ///   "code_verifier":…}` — exactly the members protocol.md §2.1 lists; the CRM API takes
    ///   no `redirect_uri` here (so CB-5 is moot), and a public client adds `client_id`.
    /// - Kommo: JSON `{client_id, client_secret, grant_type, code, redirect_uri}`
    ///   (protocol.md §3.2). Kommo's token endpoint takes no `code_verifier`; the verifier is
    ///   consumed and dropped all the same.
    ///
    /// A verifier cannot be reused after it was moved into a request:
    /// ```compile_fail
    /// # use latchkey_core::{Client, Profile, pkce::CodeVerifier, token::TokenRequest};
    /// # fn f(p: &Profile, c: &Client, code: latchkey_core::callback::AuthorizationCode<'_>) {
    /// let verifier = CodeVerifier::from_entropy(&[7u8; 32]).unwrap();
    /// let t = TokenRequest::new(p, c).unwrap();
    /// let (mut a, mut b) = ([0u8; 512], [0u8; 512]);
    /// let _first = t.authorization_code(code, verifier, &mut a);
    /// let _again = t.authorization_code(code, verifier, &mut b); // use of moved value
    /// # }
    /// ```
    pub fn authorization_code<'b>(
        &self,
        code: AuthorizationCode<'_>,
        verifier: CodeVerifier,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.authorization_code_with(code.secret(), &verifier, buf)
    }

    /// [`TokenRequest::authorization_code`] with the verifier borrowed, for the session: it
    /// drops the verifier itself once the request is written, and keeps it (and the
    /// exchange queued) when the buffer was too small (PKCE-4: still sent at most once).
    pub(crate) fn authorization_code_with<'b>(
        &self,
        code: &str,
        verifier: &CodeVerifier,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        // The CRM takes no `redirect_uri` here, Kommo no `code_verifier`.
        let params = match self.profile {
            Profile::Rfc6749(_) => AUTHORIZATION_CODE,
            #[cfg(feature = "crm")]
            Profile::Crm(_) => AUTHORIZATION_CODE_CRM,
            #[cfg(feature = "kommo")]
            Profile::Kommo(_) => AUTHORIZATION_CODE_KOMMO,
        };
        self.token_grant(buf, params, &[code, verifier.secret()])
    }

    /// The refresh token grant (RFC 6749 §6). The refresh token is consumed: servers that
    /// rotate it (CRM, Kommo) accept it once, so it cannot be sent twice (LIFE-2).
    ///
    /// - RFC 6749: form `grant_type=refresh_token&refresh_token=…` (+ client authentication).
    /// - CRM: JSON `{"grant_type":"refresh_token","refresh_token":…}` (protocol.md §2.4).
    /// - Kommo: JSON `{client_id, client_secret, grant_type, refresh_token, redirect_uri}`.
    pub fn refresh<'b, const N: usize>(
        &self,
        refresh: RefreshToken<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.refresh_with(refresh.secret(), buf)
    }

    /// [`TokenRequest::refresh`] for any capacity `N`.
    pub(crate) fn refresh_with<'b>(
        &self,
        refresh: &str,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        let params = if is_kommo(self.profile) {
            REFRESH_KOMMO
        } else {
            REFRESH
        };
        self.token_grant(buf, params, &[refresh])
    }

    /// Revokes a refresh token (and, on most servers, its grant).
    ///
    /// - RFC 7009: form `token=…&token_type_hint=refresh_token` to the profile's revocation
    ///   endpoint ([`ApiMisuse::NoEndpoint`] if none is configured).
    /// - CRM: `POST {api}/oauth/revoke`, JSON `{"refresh_token":…}` (protocol.md §2.4).
    /// - Kommo documents no revocation: [`ApiMisuse::NoEndpoint`].
    ///
    /// Forget every local token whatever the outcome (LIFE-5); see
    /// [`parse_revocation_response`].
    pub fn revoke<'b, const N: usize>(
        &self,
        refresh: &RefreshToken<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.revoke_with(refresh.secret(), buf)
    }

    /// [`TokenRequest::revoke`] for any capacity `N`.
    fn revoke_with<'b>(&self, refresh: &str, buf: &'b mut [u8]) -> Result<Request<'b>, Error> {
        let (url, params) = match self.profile {
            Profile::Rfc6749(p) => {
                let url = p
                    .revocation
                    .as_ref()
                    .ok_or(ApiMisuse::NoEndpoint(crate::Name::Revocation))?;
                (Url::plain(url.as_str()), REVOKE)
            }
            #[cfg(feature = "crm")]
            Profile::Crm(c) => (Url::path(c.api.base(), "/oauth/revoke"), REVOKE_CRM),
            #[cfg(feature = "kommo")]
            Profile::Kommo(_) => {
                return Err(ApiMisuse::NoEndpoint(crate::Name::RevocationNotKommo).into());
            }
        };
        self.send(buf, url, params, &[refresh], false)
    }

    /// The client credentials grant (RFC 6749 §4.4): `grant_type=client_credentials` and the
    /// client's `scope` if any. RFC 6749 profiles only ([`ApiMisuse::NoEndpoint`] otherwise);
    /// needs a client secret ([`ApiMisuse::NoClientSecret`]).
    pub fn client_credentials<'b>(&self, buf: &'b mut [u8]) -> Result<Request<'b>, Error> {
        let p = self.profile.rfc().ok_or(ApiMisuse::NoEndpoint(
            crate::Name::ClientCredentialsRfc6749Only,
        ))?;
        if self.client.secret().is_none() {
            return Err(ApiMisuse::NoClientSecret.into());
        }
        self.send(
            buf,
            Url::plain(p.token.as_str()),
            CLIENT_CREDENTIALS,
            &[],
            false,
        )
    }

    /// The RFC 8628 §3.1 device authorization request: form `client_id=…&scope=…` (scope
    /// omitted when empty) to the profile's device authorization endpoint. RFC 6749 profiles
    /// only; [`ApiMisuse::NoEndpoint`] when none is configured.
    #[cfg(feature = "device")]
    pub fn device_authorization<'b>(&self, buf: &'b mut [u8]) -> Result<Request<'b>, Error> {
        let p = self.profile.rfc().ok_or(ApiMisuse::NoEndpoint(
            crate::Name::DeviceAuthorizationRfc6749Only,
        ))?;
        let url = p
            .device_authorization
            .as_ref()
            .ok_or(ApiMisuse::NoEndpoint(crate::Name::DeviceAuthorization))?;
        // The client identifies itself first, as in RFC 8628 §3.1's example.
        self.send(
            buf,
            Url::plain(url.as_str()),
            DEVICE_AUTHORIZATION,
            &[],
            true,
        )
    }

    /// The RFC 8628 §3.4 device access token request: form
    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=…` (+ client
    /// authentication; a public device client sends `client_id`). Polled until the user
    /// approves, so the device code is borrowed. RFC 6749 profiles only.
    #[cfg(feature = "device")]
    pub fn device_token<'b, const N: usize>(
        &self,
        device_code: &DeviceCode<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.device_token_with(device_code.secret(), buf)
    }

    /// [`TokenRequest::device_token`] for any capacity `N`.
    #[cfg(feature = "device")]
    fn device_token_with<'b>(&self, code: &str, buf: &'b mut [u8]) -> Result<Request<'b>, Error> {
        if !matches!(self.profile, Profile::Rfc6749(_)) {
            return Err(ApiMisuse::NoEndpoint(crate::Name::DeviceGrantRfc6749Only).into());
        }
        self.token_grant(buf, DEVICE_TOKEN, &[code])
    }

    /// A request to the token endpoint (the profile's, or the Kommo account's) with
    /// `params` and the client authentication: last, or first for Kommo (protocol.md §3.2).
    fn token_grant<'b>(
        &self,
        buf: &'b mut [u8],
        params: &[Param],
        args: &[&str],
    ) -> Result<Request<'b>, Error> {
        let url = match (self.profile, self.account) {
            (Profile::Rfc6749(p), _) => Url::plain(p.token.as_str()),
            #[cfg(feature = "crm")]
            (Profile::Crm(c), _) => Url::path(c.api.base(), "/oauth/token"),
            #[cfg(feature = "kommo")]
            (Profile::Kommo(_), Some(account)) => Url::kommo(account.host()),
            // Unreachable through the constructors: `kommo` always sets the account.
            #[cfg(feature = "kommo")]
            (Profile::Kommo(_), None) => {
                return Err(ApiMisuse::NoEndpoint(crate::Name::KommoTokenWithoutAccount).into());
            }
        };
        // Only a Kommo account puts the client first (never set without the feature).
        let auth_first = cfg!(feature = "kommo") && self.account.is_some();
        self.send(buf, url, params, args, auth_first)
    }

    /// The one request writer behind every builder: the `params` table (values from
    /// `args` and the client) to `url` as the profile's body encoding, with the client
    /// authenticated as the profile says — an `Authorization: Basic` header, or `client_id`
    /// (and `client_secret`) in the body, before `params` when `auth_first`, else after them.
    #[inline(never)]
    fn send<'b>(
        &self,
        buf: &'b mut [u8],
        url: Url<'_>,
        params: &[Param],
        args: &[&str],
        auth_first: bool,
    ) -> Result<Request<'b>, Error> {
        let client = self.client;
        let mut basic = None;
        let auth = match (client.secret(), self.profile.client_auth()) {
            (Some(secret), ClientAuth::Basic) => {
                basic = Some(secret.secret());
                &[][..]
            }
            (Some(_), ClientAuth::Post) => POST_AUTH,
            _ => ID_AUTH,
        };
        let groups = if auth_first {
            [auth, params]
        } else {
            [params, auth]
        };
        let values = Values { args, client };
        let enc = self.profile.body_encoding();
        let content_type = match enc {
            BodyEncoding::Form => http::CONTENT_TYPE_FORM,
            BodyEncoding::Json => http::CONTENT_TYPE_JSON,
        };
        http::build_parts(
            buf,
            Method::Post,
            Some(content_type),
            basic.is_some(),
            &|w, part| match part {
                Part::Url => url.0.iter().for_each(|p| w.str(p)),
                Part::Authorization => {
                    if let Some(secret) = basic {
                        w.str("Basic ");
                        write_basic(w, client.id(), secret);
                    }
                }
                Part::Body => write_body(w, enc, groups, &values),
            },
        )
    }
}

#[cfg(feature = "password-grant")]
impl TokenRequest<'_> {
    /// CRM only, `password-grant` feature: the resource owner password credentials grant,
    /// `POST {api}/oauth/token` JSON `{"grant_type":"password","username":…,"password":…}`.
    ///
    /// **Discouraged**: RFC 9700 §2.4 says this grant MUST NOT be used, because it hands
    /// the user's password to the client. It exists only for the CRM profile's confidential
    /// clients (CRM-3). Other profiles are [`ApiMisuse::NoEndpoint`]; a client without a
    /// secret is [`ApiMisuse::NoClientSecret`]. The reply may be
    /// [`TokenReply::MfaRequired`].
    pub fn password<'b>(
        &self,
        username: &str,
        password: &str,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(buf, "/oauth/token", PASSWORD, &[username, password])
    }

    /// CRM only, `password-grant` feature: verifies an MFA code, `/oauth/mfa/verify`
    /// `{mfa_token, otp_code}`; the reply is a token response.
    pub fn mfa_verify<'b, const N: usize>(
        &self,
        mfa_token: &MfaToken<N>,
        otp_code: &str,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(
            buf,
            "/oauth/mfa/verify",
            MFA_VERIFY,
            &[mfa_token.secret(), otp_code],
        )
    }

    /// CRM only, `password-grant` feature: asks for the TOTP secret to enrol an
    /// authenticator, `/oauth/mfa/secret` `{mfa_token}`; see [`parse_mfa_secret_response`].
    pub fn mfa_secret<'b, const N: usize>(
        &self,
        mfa_token: &MfaToken<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(buf, "/oauth/mfa/secret", MFA_TOKEN, &[mfa_token.secret()])
    }

    /// CRM only, `password-grant` feature: sends an email OTP, `/oauth/mfa/email/send`
    /// `{mfa_token}`; see [`parse_ack_response`].
    pub fn mfa_email_send<'b, const N: usize>(
        &self,
        mfa_token: &MfaToken<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(
            buf,
            "/oauth/mfa/email/send",
            MFA_TOKEN,
            &[mfa_token.secret()],
        )
    }

    /// CRM only, `password-grant` feature: binds and enables a second factor,
    /// `/oauth/mfa/bind` `{mfa_token, mfa_type, otp_code}`; see [`parse_ack_response`].
    pub fn mfa_bind<'b, const N: usize>(
        &self,
        mfa_token: &MfaToken<N>,
        mfa_type: MfaType,
        otp_code: &str,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(
            buf,
            "/oauth/mfa/bind",
            MFA_BIND,
            &[mfa_token.secret(), mfa_type.as_str(), otp_code],
        )
    }

    /// CRM only, `password-grant` feature: asks to deactivate MFA,
    /// `/oauth/mfa/deactivation/request` `{mfa_token}`; see [`parse_ack_response`].
    pub fn mfa_deactivation_request<'b, const N: usize>(
        &self,
        mfa_token: &MfaToken<N>,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(
            buf,
            "/oauth/mfa/deactivation/request",
            MFA_TOKEN,
            &[mfa_token.secret()],
        )
    }

    /// CRM only, `password-grant` feature: starts a password reset, `/oauth/forget`
    /// `{username}`; see [`parse_ack_response`] (`rate_limit_exceeded` is a 400).
    pub fn forget_password<'b>(
        &self,
        username: &str,
        buf: &'b mut [u8],
    ) -> Result<Request<'b>, Error> {
        self.crm(buf, "/oauth/forget", FORGET, &[username])
    }

    /// A CRM-only confidential-client JSON request to `{api}{path}` (CRM-3).
    fn crm<'b>(
        &self,
        buf: &'b mut [u8],
        path: &str,
        params: &[Param],
        args: &[&str],
    ) -> Result<Request<'b>, Error> {
        let Profile::Crm(c) = self.profile else {
            return Err(ApiMisuse::NoEndpoint(crate::Name::PasswordGrantAndMfaCrmOnly).into());
        };
        if self.client.secret().is_none() {
            return Err(ApiMisuse::NoClientSecret.into());
        }
        self.send(buf, Url::path(c.api.base(), path), params, args, false)
    }
}

/// Whether `profile` is Kommo's (always `false` without the `kommo` feature).
fn is_kommo(profile: &Profile) -> bool {
    #[cfg(feature = "kommo")]
    return matches!(profile, Profile::Kommo(_));
    #[cfg(not(feature = "kommo"))]
    {
        let _ = profile;
        false
    }
}

/// A URL as up to three parts written back to back.
#[derive(Clone, Copy)]
struct Url<'a>([&'a str; URL_PARTS]);

/// How many parts a [`Url`] has: three for the CRM and Kommo dialects, which build theirs
/// from a base and a path; one without them.
const URL_PARTS: usize = if cfg!(any(feature = "crm", feature = "kommo")) {
    3
} else {
    1
};

impl<'a> Url<'a> {
    fn plain(url: &'a str) -> Self {
        #[cfg(any(feature = "crm", feature = "kommo"))]
        return Self([url, "", ""]);
        #[cfg(not(any(feature = "crm", feature = "kommo")))]
        Self([url])
    }

    #[cfg(feature = "crm")]
    fn path(base: &'a str, path: &'a str) -> Self {
        Self([base, path, ""])
    }

    #[cfg(feature = "kommo")]
    fn kommo(host: &'a str) -> Self {
        Self(["https://", host, "/oauth2/access_token"])
    }
}

/// Writes `base64(form_urlencode(id) ":" form_urlencode(secret))` (RFC 6749 §2.3.1, TOK-2)
/// straight into `w`: each form-encoded byte joins a 3-byte group that goes out as 4 base64
/// characters once full, so the credentials are never held anywhere but in `w`'s buffer
/// (no stack copy, no extra encoding pass).
fn write_basic(w: &mut Writer<'_>, id: &str, secret: &str) {
    let mut b = Basic64 {
        w,
        group: [0; 3],
        n: 0,
    };
    b.form(id);
    b.push(b':');
    b.form(secret);
    let Basic64 { w, group, n } = &mut b;
    w.base64(group.get(..*n).unwrap_or_default());
}

/// The state of [`write_basic`]: the output and the pending group of at most 2 bytes.
struct Basic64<'w, 'a> {
    w: &'w mut Writer<'a>,
    group: [u8; 3],
    n: usize,
}

impl Basic64<'_, '_> {
    /// Adds one byte; a full group is written as 4 characters.
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.group.get_mut(self.n) {
            *slot = byte;
        }
        self.n += 1;
        if self.n == 3 {
            self.w.base64(&self.group);
            self.n = 0;
        }
    }

    /// Adds `s` form-urlencoded (as [`Writer::form`] encodes it).
    fn form(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &c in s.as_bytes() {
            if is_unreserved(c) {
                self.push(c);
            } else if c == b' ' {
                self.push(b'+');
            } else {
                self.push(b'%');
                self.push(HEX[usize::from(c >> 4)]);
                self.push(HEX[usize::from(c & 15)]);
            }
        }
    }
}

#[cfg(feature = "zeroize")]
impl Drop for Basic64<'_, '_> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.group);
    }
}

/// Where a request parameter's value comes from.
#[derive(Clone, Copy)]
enum Src {
    /// This text.
    Lit(&'static str),
    /// The builder's argument `n` ([`Values::args`]).
    Arg(u8),
    /// The client's redirect URI.
    RedirectUri,
    /// The client's scope; the parameter is left out when it is empty.
    Scope,
    /// The client id.
    ClientId,
    /// The client secret (empty without one).
    ClientSecret,
}

/// One request parameter: its name and where its value comes from. Each request is a
/// static table of these (read-only data, not code at every call site).
type Param = (&'static str, Src);

const GRANT_AUTHORIZATION_CODE: Param = ("grant_type", Src::Lit("authorization_code"));
const AUTHORIZATION_CODE: &[Param] = &[
    GRANT_AUTHORIZATION_CODE,
    ("code", Src::Arg(0)),
    ("redirect_uri", Src::RedirectUri),
    ("code_verifier", Src::Arg(1)),
];
#[cfg(feature = "crm")]
const AUTHORIZATION_CODE_CRM: &[Param] = &[
    GRANT_AUTHORIZATION_CODE,
    ("code", Src::Arg(0)),
    ("code_verifier", Src::Arg(1)),
];
#[cfg(feature = "kommo")]
const AUTHORIZATION_CODE_KOMMO: &[Param] = &[
    GRANT_AUTHORIZATION_CODE,
    ("code", Src::Arg(0)),
    ("redirect_uri", Src::RedirectUri),
];
const REFRESH: &[Param] = &[
    ("grant_type", Src::Lit("refresh_token")),
    ("refresh_token", Src::Arg(0)),
];
#[cfg(feature = "kommo")]
const REFRESH_KOMMO: &[Param] = &[
    ("grant_type", Src::Lit("refresh_token")),
    ("refresh_token", Src::Arg(0)),
    ("redirect_uri", Src::RedirectUri),
];
#[cfg(not(feature = "kommo"))]
const REFRESH_KOMMO: &[Param] = REFRESH;
const REVOKE: &[Param] = &[
    ("token", Src::Arg(0)),
    ("token_type_hint", Src::Lit("refresh_token")),
];
#[cfg(feature = "crm")]
const REVOKE_CRM: &[Param] = &[("refresh_token", Src::Arg(0))];
const CLIENT_CREDENTIALS: &[Param] = &[
    ("grant_type", Src::Lit("client_credentials")),
    ("scope", Src::Scope),
];
#[cfg(feature = "device")]
const DEVICE_AUTHORIZATION: &[Param] = &[("scope", Src::Scope)];
#[cfg(feature = "device")]
const DEVICE_TOKEN: &[Param] = &[
    ("grant_type", Src::Lit(DEVICE_CODE_GRANT)),
    ("device_code", Src::Arg(0)),
];
#[cfg(feature = "password-grant")]
const PASSWORD: &[Param] = &[
    ("grant_type", Src::Lit("password")),
    ("username", Src::Arg(0)),
    ("password", Src::Arg(1)),
];
#[cfg(feature = "password-grant")]
const MFA_VERIFY: &[Param] = &[("mfa_token", Src::Arg(0)), ("otp_code", Src::Arg(1))];
#[cfg(feature = "password-grant")]
const MFA_TOKEN: &[Param] = &[("mfa_token", Src::Arg(0))];
#[cfg(feature = "password-grant")]
const MFA_BIND: &[Param] = &[
    ("mfa_token", Src::Arg(0)),
    ("mfa_type", Src::Arg(1)),
    ("otp_code", Src::Arg(2)),
];
#[cfg(feature = "password-grant")]
const FORGET: &[Param] = &[("username", Src::Arg(0))];
/// `client_secret_post`.
const POST_AUTH: &[Param] = &[
    ("client_id", Src::ClientId),
    ("client_secret", Src::ClientSecret),
];
/// A public client identifies itself.
const ID_AUTH: &[Param] = &[("client_id", Src::ClientId)];

/// What a [`Param`] table's values are taken from.
struct Values<'v> {
    /// The builder's arguments (at most three; a missing one is empty).
    args: &'v [&'v str],
    /// The client.
    client: &'v Client,
}

impl Values<'_> {
    /// The value of `src`; `None` for a parameter to leave out (an empty scope).
    fn get(&self, src: Src) -> Option<&str> {
        Some(match src {
            Src::Lit(s) => s,
            Src::Arg(i) => self.args.get(usize::from(i)).copied().unwrap_or_default(),
            Src::RedirectUri => self.client.redirect_uri(),
            Src::Scope => Some(self.client.scope()).filter(|s| !s.is_empty())?,
            Src::ClientId => self.client.id(),
            Src::ClientSecret => self
                .client
                .secret()
                .map(ClientSecret::secret)
                .unwrap_or_default(),
        })
    }
}

/// Writes the parameter groups as one form or JSON body: one loop for both encodings, with
/// the punctuation taken from a table.
fn write_body(w: &mut Writer<'_>, enc: BodyEncoding, groups: [&[Param]; 2], values: &Values<'_>) {
    // Only the CRM and Kommo dialects send JSON ([`Profile::body_encoding`]): without them
    // the JSON string writer is left out of the build.
    let json = cfg!(any(feature = "crm", feature = "kommo")) && enc == BodyEncoding::Json;
    // Opening, separator, name-value separator, closing.
    let [open, sep, colon, close] = if json {
        ["{", ",", ":", "}"]
    } else {
        ["", "&", "=", ""]
    };
    w.str(open);
    let mut first = true;
    for &(name, src) in groups.iter().flat_map(|g| g.iter()) {
        let Some(value) = values.get(src) else {
            continue;
        };
        if !first {
            w.str(sep);
        }
        first = false;
        write_text(w, json, name);
        w.str(colon);
        write_text(w, json, value);
    }
    w.str(close);
}

/// `s` JSON- or form-encoded.
fn write_text(w: &mut Writer<'_>, json: bool, s: &str) {
    if json {
        w.json_str(s);
    } else {
        w.form(s);
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// What a token endpoint answered (authorization code, refresh, password, MFA verify,
/// device and client credentials grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum TokenReply<'b> {
    /// A `200 OK` token response (RFC 6749 §5.1). Check the token type with
    /// [`TokenResponse::require_bearer`] before using it.
    Token(TokenResponse<'b>),
    /// CRM: "Multi-factor authentication required" — continue with the MFA steps.
    MfaRequired(MfaRequired<'b>),
    /// An OAuth error response (RFC 6749 §5.2, RFC 8628 §3.5).
    Error(ErrorResponse<'b>),
}

impl<'b> TokenReply<'b> {
    /// The token response, or the error as an [`Error::ServerError`] (an MFA requirement is
    /// `invalid_grant` with its status).
    pub fn into_result(self) -> Result<TokenResponse<'b>, Error> {
        match self {
            Self::Token(t) => Ok(t),
            Self::MfaRequired(m) => Err(Error::ServerError(ServerError {
                code: m.code.map_or(ErrorKind::InvalidGrant, |c| c.kind()),
                status: HttpStatus::new(m.status),
            })),
            Self::Error(e) => Err(e.to_error()),
        }
    }
}

/// A successful token response (RFC 6749 §5.1), borrowing already-decoded strings.
///
/// `Debug` redacts the tokens (SEC-1).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenResponse<'b> {
    access_token: &'b str,
    token_type: &'b str,
    expires_in: Option<u64>,
    refresh_token: Option<&'b str>,
    scope: Option<&'b str>,
}

impl<'b> TokenResponse<'b> {
    /// An owned copy of the access token; longer than `N` is [`Error::CapacityExceeded`].
    pub fn access_token<const N: usize>(&self) -> Result<AccessToken<N>, Error> {
        AccessToken::parsed(self.access_token)
    }

    /// The access token text, borrowed (zero-copy). A secret: never log it.
    pub fn access_token_secret(&self) -> &'b str {
        self.access_token
    }

    /// An owned copy of the refresh token, if the server issued one. Persist it before
    /// dropping the old one (LIFE-2).
    pub fn refresh_token<const N: usize>(&self) -> Result<Option<RefreshToken<N>>, Error> {
        self.refresh_token.map(RefreshToken::parsed).transpose()
    }

    /// The refresh token text, borrowed. A secret: never log it.
    pub fn refresh_token_secret(&self) -> Option<&'b str> {
        self.refresh_token
    }

    /// The `token_type` as sent (any value parses, e.g. RFC 6749 §5.1's `example`).
    pub fn token_type(&self) -> &'b str {
        self.token_type
    }

    /// Whether `token_type` is `Bearer`, compared case-insensitively (TOK-3).
    pub fn is_bearer(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("bearer")
    }

    /// [`ServerMisbehaved::UnsupportedTokenType`] unless the token is a Bearer token — the
    /// only kind latchkey can use (RFC 6750).
    pub fn require_bearer(&self) -> Result<(), Error> {
        if self.is_bearer() {
            Ok(())
        } else {
            Err(ServerMisbehaved::UnsupportedTokenType.into())
        }
    }

    /// `expires_in` in seconds, if sent (a number or, as some servers send it, a string of
    /// digits; TOK-8). Compute the expiry from the time the request was sent (LIFE-8).
    pub fn expires_in(&self) -> Option<u64> {
        self.expires_in
    }

    /// The granted `scope`, if the server sent one.
    pub fn scope(&self) -> Option<&'b str> {
        self.scope
    }
}

impl fmt::Debug for TokenResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &Redacted)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.map(|_| Redacted))
            .field("scope", &self.scope)
            .finish()
    }
}

/// CRM: the password grant needs a second factor (protocol.md §2.3).
///
/// The CRM documents this as a 400 `invalid_grant` "Multi-factor authentication required"
/// carrying an `mfa_token`, but not *where* the token sits. latchkey accepts it as a
/// top-level member of an error body (any non-2xx with `error` and `mfa_token`) or of a
/// `200` body that has `mfa_token` and no `access_token`. `Debug` redacts the token
/// (CRM-2).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MfaRequired<'b> {
    mfa_token: &'b str,
    code: Option<ErrorCode<'b>>,
    description: Option<&'b str>,
    status: u16,
}

impl<'b> MfaRequired<'b> {
    /// An owned copy of the MFA token for the next step.
    pub fn mfa_token<const N: usize>(&self) -> Result<MfaToken<N>, Error> {
        MfaToken::parsed(self.mfa_token)
    }

    /// The MFA token text, borrowed. A secret (CRM-2).
    pub fn mfa_token_secret(&self) -> &'b str {
        self.mfa_token
    }

    /// The error code, when it came as an error response (usually `invalid_grant`).
    pub fn code(&self) -> Option<ErrorCode<'b>> {
        self.code
    }

    /// The `error_description`, if any.
    pub fn description(&self) -> Option<&'b str> {
        self.description
    }

    /// The HTTP status it came with.
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Debug for MfaRequired<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRequired")
            .field("mfa_token", &Redacted)
            .field("code", &self.code)
            .field("description", &self.description)
            .field("status", &self.status)
            .finish()
    }
}

/// An OAuth 2.0 error response (RFC 6749 §5.2), with decoded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorResponse<'b> {
    /// The `error` code (open: an unknown code keeps its text, [`ErrorKind::Other`]).
    pub code: ErrorCode<'b>,
    /// `error_description`, if sent.
    pub description: Option<&'b str>,
    /// `error_uri`, if sent. Show it; never open it automatically.
    pub uri: Option<&'b str>,
    /// The HTTP status it came with.
    pub status: u16,
}

impl ErrorResponse<'_> {
    /// This error as the crate's [`Error::ServerError`] (the description is dropped: errors
    /// carry no server text).
    pub fn to_error(&self) -> Error {
        Error::ServerError(ServerError {
            code: self.code.kind(),
            status: HttpStatus::new(self.status),
        })
    }
}

impl From<ErrorResponse<'_>> for Error {
    fn from(e: ErrorResponse<'_>) -> Self {
        e.to_error()
    }
}

/// An OAuth 2.0 error code as the server sent it: its [`ErrorKind`] — a registered value
/// (RFC 6749 §5.2, RFC 7009, RFC 8628, the CRM's `rate_limit_exceeded`) or
/// [`ErrorKind::Other`] for an extension value — and the text itself, so an unknown code is
/// never lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    kind: ErrorKind,
    text: &'a str,
}

impl<'a> ErrorCode<'a> {
    /// The code for a wire value.
    pub fn from_code(code: &'a str) -> Self {
        Self {
            kind: ErrorKind::from_code(code),
            text: code,
        }
    }

    /// What kind of error it is ([`ErrorKind::Other`] for an extension value).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The code as sent.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

/// An endpoint's answer: its success value, or an OAuth error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reply<'b, T> {
    /// The endpoint did what was asked.
    Success(T),
    /// An OAuth error response.
    Error(ErrorResponse<'b>),
}

impl<T> Reply<'_, T> {
    /// The success value, or the error as an [`Error::ServerError`].
    pub fn into_result(self) -> Result<T, Error> {
        match self {
            Self::Success(t) => Ok(t),
            Self::Error(e) => Err(e.to_error()),
        }
    }
}

/// An RFC 8628 §3.2 device authorization response. `Debug` redacts the device code.
#[cfg(feature = "device")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuthorizationResponse<'b> {
    device_code: &'b str,
    user_code: &'b str,
    verification_uri: &'b str,
    verification_uri_complete: Option<&'b str>,
    expires_in: u64,
    interval: u64,
}

#[cfg(feature = "device")]
impl<'b> DeviceAuthorizationResponse<'b> {
    /// An owned copy of the device code, for polling.
    pub fn device_code<const N: usize>(&self) -> Result<DeviceCode<N>, Error> {
        DeviceCode::parsed(self.device_code)
    }

    /// The device code text, borrowed. A secret: never show it.
    pub fn device_code_secret(&self) -> &'b str {
        self.device_code
    }

    /// The code the user types, to be shown as given (DEV-2).
    pub fn user_code(&self) -> &'b str {
        self.user_code
    }

    /// Where the user goes; show it, never open it with added parameters (DEV-2).
    pub fn verification_uri(&self) -> &'b str {
        self.verification_uri
    }

    /// The URI with the user code in it, if sent (for a QR code).
    pub fn verification_uri_complete(&self) -> Option<&'b str> {
        self.verification_uri_complete
    }

    /// Lifetime of the device and user codes in seconds.
    pub fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// The minimum polling interval in seconds ([`DEFAULT_DEVICE_INTERVAL`] when absent).
    pub fn interval(&self) -> u64 {
        self.interval
    }
}

#[cfg(feature = "device")]
impl fmt::Debug for DeviceAuthorizationResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &Redacted)
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// The CRM `/oauth/mfa/secret` response `{mfa_secret}`: a TOTP secret to enrol an
/// authenticator (shown once as an `otpauth://` QR code). `Debug` redacts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MfaSecretResponse<'b> {
    mfa_secret: &'b str,
}

impl<'b> MfaSecretResponse<'b> {
    /// The TOTP secret. Show it to the user once; never log or store it.
    pub fn secret(&self) -> &'b str {
        self.mfa_secret
    }
}

impl fmt::Debug for MfaSecretResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaSecretResponse([redacted])")
    }
}

/// The outcome of a revocation request (RFC 7009 §2.2, CRM `/oauth/revoke`).
///
/// Whatever it is, forget every local token (LIFE-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum RevocationReply<'b> {
    /// `2xx`: revoked, or the server did not know the token — done either way, whatever the
    /// body says (TOK-9).
    Revoked,
    /// `503`: the server could not revoke now, so **the token is still live** (RFC 7009
    /// §2.2.1). Report it and retry after `retry_after` seconds, if the adapter passed the
    /// `Retry-After` header in (TOK-9).
    Unavailable {
        /// Seconds to wait, from the response's `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// An OAuth error response (e.g. `unsupported_token_type`, `invalid_client`).
    Error(ErrorResponse<'b>),
}

/// Parses a token endpoint response (RFC 6749 §5.1/§5.2, RFC 8628 §3.5, CRM, Kommo).
///
/// Strings are decoded into `scratch` when they hold escapes (see the module docs).
///
/// - 3xx → [`ServerMisbehaved::Redirect`] (TOK-6); a body over
///   [`MAX_RESPONSE_LEN`](crate::MAX_RESPONSE_LEN) → [`ServerMisbehaved::ResponseTooLarge`]
///   (TOK-5).
/// - `200`: `access_token` (required: else [`ServerMisbehaved::MissingField`]),
///   `token_type` (required, any value; check it with [`TokenResponse::require_bearer`]),
///   `expires_in` (optional; a non-negative integer or a string of digits, out of range →
///   [`InvalidMessage::NumberOutOfRange`], TOK-3/8), `refresh_token`, `scope` (optional;
///   `null` and an empty `refresh_token` count as absent). A `200` with an `error` member is
///   [`ServerMisbehaved::ErrorInSuccess`] (TOK-4): the server broke the protocol, and its
///   error text is not trusted further. A `200` with `mfa_token` and no `access_token` is
///   [`TokenReply::MfaRequired`]. Other 2xx → [`ServerMisbehaved::UnexpectedStatus`].
/// - Any other status with a JSON object that has a string `error` →
///   [`TokenReply::Error`] (or [`TokenReply::MfaRequired`] when it also has `mfa_token`).
///   A status with any other body (an HTML 502 page, say) →
///   [`ServerMisbehaved::UnexpectedStatus`].
/// - Duplicate members → [`InvalidMessage::Duplicate`] (TOK-8); invalid JSON →
///   [`InvalidMessage::BadJson`]; invalid escapes → [`InvalidMessage::BadJsonEscape`];
///   a token over [`MAX_TOKEN_LEN`] → [`Error::CapacityExceeded`].
pub fn parse_token_response<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
) -> Result<TokenReply<'b>, Error> {
    resp.check()?;
    if !is_success(resp.status) {
        return error_reply(resp, scratch, TOKEN_ERROR_TEXT);
    }
    let mut f = Fields::new(TOKEN_TEXT.want);
    let mut n = [None];
    success_reply(resp, scratch, &mut f, TOKEN_TEXT, &[F::ExpiresIn], &mut n)?;
    let Some(access_token) = f.got(F::AccessToken) else {
        return match f.got(F::MfaToken) {
            Some(mfa_token) => Ok(TokenReply::MfaRequired(MfaRequired {
                mfa_token,
                code: None,
                description: f.got(F::ErrorDescription),
                status: resp.status,
            })),
            None => Err(ServerMisbehaved::MissingField(crate::Name::AccessToken).into()),
        };
    };
    let token_type = f
        .got(F::TokenType)
        .ok_or(ServerMisbehaved::MissingField(crate::Name::TokenType))?;
    Ok(TokenReply::Token(TokenResponse {
        access_token,
        token_type,
        expires_in: n[0],
        refresh_token: f.got(F::RefreshToken),
        scope: f.got(F::Scope),
    }))
}

/// Parses an RFC 8628 §3.2 device authorization response.
///
/// `200` needs `device_code`, `user_code`, `verification_uri` and `expires_in`
/// ([`ServerMisbehaved::MissingField`] otherwise); `interval` defaults to
/// [`DEFAULT_DEVICE_INTERVAL`]. Errors and checks as in [`parse_token_response`].
#[cfg(feature = "device")]
pub fn parse_device_authorization_response<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
) -> Result<Reply<'b, DeviceAuthorizationResponse<'b>>, Error> {
    resp.check()?;
    if !is_success(resp.status) {
        return Ok(Reply::Error(error_response(resp, scratch)?));
    }
    let mut f = Fields::new(DEVICE_TEXT.want);
    let mut n = [None; 2];
    success_reply(
        resp,
        scratch,
        &mut f,
        DEVICE_TEXT,
        &[F::ExpiresIn, F::Interval],
        &mut n,
    )?;
    let required = |m: F| f.got(m).ok_or(ServerMisbehaved::MissingField(m.id()));
    Ok(Reply::Success(DeviceAuthorizationResponse {
        device_code: required(F::DeviceCode)?,
        user_code: required(F::UserCode)?,
        verification_uri: required(F::VerificationUri)?,
        verification_uri_complete: f.got(F::VerificationUriComplete),
        expires_in: n[0].ok_or(ServerMisbehaved::MissingField(crate::Name::ExpiresIn))?,
        interval: n[1].unwrap_or(DEFAULT_DEVICE_INTERVAL),
    }))
}

/// Parses the CRM `/oauth/mfa/secret` response `{mfa_secret}` (required:
/// [`ServerMisbehaved::MissingField`]). Errors and checks as in [`parse_token_response`].
pub fn parse_mfa_secret_response<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
) -> Result<Reply<'b, MfaSecretResponse<'b>>, Error> {
    resp.check()?;
    if !is_success(resp.status) {
        return Ok(Reply::Error(error_response(resp, scratch)?));
    }
    let mut f = Fields::new(MFA_SECRET_TEXT.want);
    success_reply(resp, scratch, &mut f, MFA_SECRET_TEXT, &[], &mut [])?;
    Ok(Reply::Success(MfaSecretResponse {
        mfa_secret: f
            .got(F::MfaSecret)
            .ok_or(ServerMisbehaved::MissingField(crate::Name::MfaSecret))?,
    }))
}

/// Parses a plain "200 or error" response (CRM MFA email send, bind, deactivation request,
/// forgot password).
///
/// Any 2xx is success, whatever the body — unless the body is a JSON object with an
/// `error` member, which is [`ServerMisbehaved::ErrorInSuccess`] (TOK-4), or one with a
/// duplicated member this module reads ([`InvalidMessage::Duplicate`], TOK-8). Other
/// statuses as in [`parse_token_response`].
pub fn parse_ack_response<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
) -> Result<Reply<'b, ()>, Error> {
    resp.check()?;
    if is_success(resp.status) {
        let mut fields = Fields::new(0);
        match fields.collect(resp.body, &mut Scratch::new(&mut [])) {
            Ok(()) if fields.kind(F::Error) != Kind::Absent => {
                return Err(ServerMisbehaved::ErrorInSuccess.into());
            }
            Err(e @ Error::InvalidMessage(InvalidMessage::Duplicate(_))) => return Err(e),
            // Any other body, JSON or not, means nothing here.
            _ => {}
        }
        return Ok(Reply::Success(()));
    }
    Ok(Reply::Error(error_response(resp, scratch)?))
}

/// Parses a revocation response (RFC 7009 §2.2, CRM `/oauth/revoke`).
///
/// Any 2xx is [`RevocationReply::Revoked`] whatever the body (TOK-9; RFC 7009 gives the
/// body no meaning). `503` is [`RevocationReply::Unavailable`] with `retry_after`, which the
/// adapter reads from the `Retry-After` header (in seconds; `None` if absent or an HTTP
/// date it did not convert). Other statuses as in [`parse_token_response`].
pub fn parse_revocation_response<'b>(
    resp: Response<'b>,
    retry_after: Option<u64>,
    scratch: &'b mut [u8],
) -> Result<RevocationReply<'b>, Error> {
    resp.check()?;
    if is_success(resp.status) {
        return Ok(RevocationReply::Revoked);
    }
    if resp.status == 503 {
        return Ok(RevocationReply::Unavailable { retry_after });
    }
    Ok(RevocationReply::Error(error_response(resp, scratch)?))
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Reads a `2xx` answer that must be `200` + a JSON object without `error` (TOK-4) into
/// `fields` (new, for `texts`): the strings `texts` (then in [`Fields::got`]) and then the
/// numbers `nums` into `n`, each in order (so the first failing member decides the error),
/// and finishes the scratch.
#[inline(never)]
fn success_reply<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
    fields: &mut Fields<'b>,
    texts: &Texts,
    nums: &[F],
    n: &mut [Option<u64>],
) -> Result<(), Error> {
    if resp.status != 200 {
        return Err(ServerMisbehaved::UnexpectedStatus(HttpStatus::new(resp.status)).into());
    }
    let mut s = Scratch::new(scratch);
    fields.collect(resp.body, &mut s)?;
    if fields.kind(F::Error) != Kind::Absent {
        return Err(ServerMisbehaved::ErrorInSuccess.into());
    }
    fields.read(texts.fields)?;
    for (&f, n) in nums.iter().zip(n) {
        *n = fields.number(f)?;
    }
    s.finish()
}

/// Reads a non-2xx answer as [`error_reply`] does, with [`ERROR_TEXT`]: its error response.
fn error_response<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
) -> Result<ErrorResponse<'b>, Error> {
    match error_reply(resp, scratch, ERROR_TEXT) {
        Ok(TokenReply::Error(e)) => Ok(e),
        Err(e) => Err(e),
        // Never: without `mfa_token` in `ERROR_TEXT` the reply is always an error.
        Ok(TokenReply::MfaRequired(_) | TokenReply::Token(_)) => {
            Err(InvalidMessage::BadJson.into())
        }
    }
}

/// Reads a non-2xx answer: its error response (the strings of `want`, [`ERROR_TEXT`]
/// possibly followed by `mfa_token`, read in order), or [`TokenReply::MfaRequired`] if
/// `want` has `mfa_token` and the body too. A body that is not a JSON object with a string
/// `error` (an HTML 502 page, say) is [`ServerMisbehaved::UnexpectedStatus`]; duplicates
/// and oversize nesting still fail.
#[inline(never)]
fn error_reply<'b>(
    resp: Response<'b>,
    scratch: &'b mut [u8],
    want: &Texts,
) -> Result<TokenReply<'b>, Error> {
    let status = resp.status;
    let unexpected = ServerMisbehaved::UnexpectedStatus(HttpStatus::new(status)).into();
    if !(400..600).contains(&status) {
        return Err(unexpected);
    }
    let mut s = Scratch::new(scratch);
    let mut fields = Fields::new(want.want);
    match fields.collect(resp.body, &mut s) {
        Ok(()) if fields.kind(F::Error) == Kind::Decoded => {}
        Err(
            e @ (Error::InvalidMessage(InvalidMessage::Duplicate(_))
            | Error::CapacityExceeded { .. }),
        ) => return Err(e),
        _ => return Err(unexpected),
    }
    fields.read(want.fields)?;
    s.finish()?;
    let code = ErrorCode::from_code(fields.got(F::Error).unwrap_or_default());
    let description = fields.got(F::ErrorDescription);
    let uri = fields.got(F::ErrorUri);
    // Only a `want` with `mfa_token` read it (else its slot may hold raw text).
    let mfa_token = fields
        .got(F::MfaToken)
        .filter(|_| want.want & F::MfaToken.bit() != 0);
    Ok(match mfa_token {
        Some(mfa_token) => TokenReply::MfaRequired(MfaRequired {
            mfa_token,
            code: Some(code),
            description,
            status,
        }),
        None => TokenReply::Error(ErrorResponse {
            code,
            description,
            uri,
            status,
        }),
    })
}

/// The strings each parser reads, decoded during the scan (and only those, so the scratch
/// needed is exactly their decoded length).
const TOKEN_TEXT: &Texts = &Texts::new(&[
    F::AccessToken,
    F::MfaToken,
    F::TokenType,
    F::RefreshToken,
    F::Scope,
    F::ErrorDescription,
]);
const ERROR_TEXT: &Texts = &Texts::new(&[F::Error, F::ErrorDescription, F::ErrorUri]);
const TOKEN_ERROR_TEXT: &Texts =
    &Texts::new(&[F::Error, F::ErrorDescription, F::ErrorUri, F::MfaToken]);
#[cfg(feature = "device")]
const DEVICE_TEXT: &Texts = &Texts::new(&[
    F::DeviceCode,
    F::UserCode,
    F::VerificationUri,
    F::VerificationUriComplete,
]);
const MFA_SECRET_TEXT: &Texts = &Texts::new(&[F::MfaSecret]);

/// The members a parser reads as strings: in reading order, and as a set of [`F::bit`]s
/// (computed at compile time) for [`Fields::new`].
struct Texts {
    fields: &'static [F],
    want: u16,
}

impl Texts {
    const fn new(fields: &'static [F]) -> Self {
        let mut want = 0;
        let mut i = 0;
        while i < fields.len() {
            want |= fields[i].bit();
            i += 1;
        }
        Self { fields, want }
    }
}
/// The members [`Fields::read`] reads as tokens ([`Fields::token`]), the others as text.
const TOKENS: u16 = F::AccessToken.bit()
    | F::MfaToken.bit()
    | F::RefreshToken.bit()
    | F::DeviceCode.bit()
    | F::MfaSecret.bit();

/// The members any parser here reads. Each may appear once (TOK-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    AccessToken,
    TokenType,
    ExpiresIn,
    RefreshToken,
    Scope,
    Error,
    ErrorDescription,
    ErrorUri,
    MfaToken,
    MfaSecret,
    DeviceCode,
    UserCode,
    VerificationUri,
    VerificationUriComplete,
    Interval,
}

const FIELD_COUNT: usize = 15;
// The tables below are indexed by `F as usize`: one entry per variant.
const _: () = assert!(F::Interval as usize + 1 == FIELD_COUNT);
/// Every member, in declaration order (`ALL[f as usize] == f`).
const ALL: [F; FIELD_COUNT] = [
    F::AccessToken,
    F::TokenType,
    F::ExpiresIn,
    F::RefreshToken,
    F::Scope,
    F::Error,
    F::ErrorDescription,
    F::ErrorUri,
    F::MfaToken,
    F::MfaSecret,
    F::DeviceCode,
    F::UserCode,
    F::VerificationUri,
    F::VerificationUriComplete,
    F::Interval,
];
/// The wire name of each member, indexed by `F as usize`.
const NAMES: [&str; FIELD_COUNT] = [
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "error",
    "error_description",
    "error_uri",
    "mfa_token",
    "mfa_secret",
    "device_code",
    "user_code",
    "verification_uri",
    "verification_uri_complete",
    "interval",
];

/// [`NAMES`] as errors name them.
const IDS: [crate::Name; FIELD_COUNT] = [
    crate::Name::AccessToken,
    crate::Name::TokenType,
    crate::Name::ExpiresIn,
    crate::Name::RefreshToken,
    crate::Name::Scope,
    crate::Name::Error,
    crate::Name::ErrorDescription,
    crate::Name::ErrorUri,
    crate::Name::MfaToken,
    crate::Name::MfaSecret,
    crate::Name::DeviceCode,
    crate::Name::UserCode,
    crate::Name::VerificationUri,
    crate::Name::VerificationUriComplete,
    crate::Name::Interval,
];

impl F {
    #[cfg(all(test, feature = "crm", feature = "kommo", feature = "device"))]
    fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The member as errors name it.
    fn id(self) -> crate::Name {
        IDS[self as usize]
    }

    /// The member a decoded name stands for (a table scan: smaller than a `match`).
    fn from_name(name: &str) -> Option<Self> {
        let i = NAMES.iter().position(|n| *n == name)?;
        ALL.get(i).copied()
    }

    /// This member's bit in [`Fields::want`].
    const fn bit(self) -> u16 {
        const _: () = assert!(FIELD_COUNT <= u16::BITS as usize);
        1 << self as u16
    }
}

/// One known member, as [`Fields::collect`] recorded it: what it is ([`Slot::kind`]) and
/// its text — the decoded text of a string the parser asked for, else the raw text of a
/// string or a number. Smaller than the raw [`Value`] plus the decoded [`Text`] it
/// replaced (16 bytes instead of 28 on 32-bit targets).
#[derive(Debug, Clone, Copy)]
struct Slot<'b> {
    /// `None` when absent, `null`, a boolean, an object or an array (which `lenient_u64`
    /// then refuses as the empty text).
    text: Option<&'b str>,
    /// The decoded length of a [`Kind::Decoded`] string (also when the scratch ran out).
    len: usize,
    kind: Kind,
    /// Whether a decoded string holds a control character.
    control: bool,
}

/// What a [`Slot`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nothing: the member was not in the body.
    Absent,
    /// `null`.
    Null,
    /// A string the parser asked for, decoded.
    Decoded,
    /// Any other value: a string not asked for or a number (raw text), or a boolean,
    /// object or array (no text).
    Other,
}

impl Slot<'_> {
    const ABSENT: Self = Self {
        text: None,
        len: 0,
        kind: Kind::Absent,
        control: false,
    };
}

/// Every slot absent: a constant whose bytes are all zero, which the compiler writes
/// with one `memset` straight into the caller's [`Fields`] (an array built with a repeat
/// expression went through the stack and a copy).
const NO_SLOTS: [Slot<'static>; FIELD_COUNT] = [Slot::ABSENT; FIELD_COUNT];

/// The known members of one JSON object body; filled in place by [`Fields::collect`] (it
/// is the [`json::Visit`]or), so the slots are never copied around.
struct Fields<'b> {
    slots: [Slot<'b>; FIELD_COUNT],
    /// The known member whose value comes next.
    current: Option<F>,
    /// [`F::bit`]s of the strings to decode.
    want: u16,
}

impl<'b> json::Visit<'b> for Fields<'b> {
    #[inline]
    fn name(&mut self, name: Name<'b>) -> bool {
        let mut buf = [0u8; json::NAME_CAP];
        self.current = name.decoded(&mut buf).and_then(F::from_name);
        self.current.is_some_and(|f| self.want & f.bit() != 0)
    }

    #[inline]
    fn value(
        &mut self,
        value: Value<'b>,
        _raw: &'b [u8],
        text: Option<Text<'b>>,
    ) -> Result<(), Error> {
        if let Some(f) = self.current.take() {
            let slot = &mut self.slots[f as usize];
            if slot.kind != Kind::Absent {
                return Err(InvalidMessage::Duplicate(f.id()).into());
            }
            *slot = match (value, text) {
                // Only strings come with a decoded text.
                (_, Some(t)) => Slot {
                    text: Some(t.text),
                    len: t.len,
                    kind: Kind::Decoded,
                    control: t.control,
                },
                (Value::Null, _) => Slot {
                    kind: Kind::Null,
                    ..Slot::ABSENT
                },
                (Value::String(raw) | Value::Number(raw), _) => Slot {
                    text: Some(raw),
                    kind: Kind::Other,
                    ..Slot::ABSENT
                },
                _ => Slot {
                    kind: Kind::Other,
                    ..Slot::ABSENT
                },
            };
        }
        Ok(())
    }
}

impl<'b> Fields<'b> {
    /// No members yet; [`Fields::collect`] will decode the strings in `want` ([`F::bit`]s).
    fn new(want: u16) -> Self {
        Self {
            slots: NO_SLOTS,
            current: None,
            want,
        }
    }

    /// Scans `body` once: validates it, records the known members (a repeated one is
    /// [`InvalidMessage::Duplicate`], TOK-8) and decodes the wanted strings into `s`.
    /// Out of line on 32-bit targets (size: one copy of the scanner); inlined where the
    /// token-response speed goal is judged.
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn collect(&mut self, body: &'b [u8], s: &mut Scratch<'b>) -> Result<(), Error> {
        json::visit(body, s, self)
    }

    /// What member `f` is.
    fn kind(&self, f: F) -> Kind {
        self.slots[f as usize].kind
    }

    /// Reads `fs` in order, each into its own slot (then in [`Fields::got`]): tokens
    /// ([`TOKENS`]) as [`Fields::token`] reads them, other strings as [`Fields::text`]. An
    /// `error` code must be printable ASCII other than `"` and `\` (RFC 6749 §5.2), else
    /// [`InvalidMessage::BadValue`]. (In place: no array of results for the callers to
    /// set up and unpack.)
    fn read(&mut self, fs: &[F]) -> Result<(), Error> {
        for &f in fs {
            let o = self.string(f, TOKENS & f.bit() != 0)?;
            if f == F::Error
                && !o
                    .unwrap_or_default()
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
            {
                return Err(InvalidMessage::BadValue(crate::Name::Error).into());
            }
            self.slots[f as usize].text = o;
        }
        Ok(())
    }

    /// A member [`Fields::read`] read: its string, or `None` when absent, `null` or (for a
    /// token) empty. Only for the members read.
    fn got(&self, f: F) -> Option<&'b str> {
        self.slots[f as usize].text
    }

    /// A string member, decoded; `null` or absent is `None`; another type is
    /// [`InvalidMessage::BadValue`]; control characters (C0 or DEL) in the decoded text are
    /// [`InvalidMessage::ControlCharacter`]: tokens end up in headers and descriptions on
    /// terminals (TOK-7).
    #[cfg(all(test, feature = "crm", feature = "kommo", feature = "device"))] // reason: for the tests below
    fn text(&self, f: F) -> Result<Option<&'b str>, Error> {
        self.string(f, false)
    }

    /// A token member: a string of at most [`MAX_TOKEN_LEN`] decoded bytes; empty counts as
    /// absent (so a required one is then missing). Otherwise as [`Fields::text`].
    #[cfg(all(test, feature = "crm", feature = "kommo", feature = "device"))] // reason: for the tests below
    fn token(&self, f: F) -> Result<Option<&'b str>, Error> {
        self.string(f, true)
    }

    /// [`Fields::text`], or [`Fields::token`] when `token`, in one body.
    fn string(&self, f: F, token: bool) -> Result<Option<&'b str>, Error> {
        let s = &self.slots[f as usize];
        match s.kind {
            Kind::Absent | Kind::Null => Ok(None),
            Kind::Decoded => {
                if token && s.len > MAX_TOKEN_LEN {
                    Err(Error::CapacityExceeded {
                        what: Capacity::Token,
                        limit: crate::error::limit(MAX_TOKEN_LEN),
                    })
                } else if s.control {
                    Err(InvalidMessage::ControlCharacter.into())
                } else {
                    Ok(s.text.filter(|t| !token || !t.is_empty()))
                }
            }
            // A string not asked for when collecting is a bug here, not the server's; it
            // cannot be decoded any more, so it is refused rather than handed out raw.
            Kind::Other => Err(InvalidMessage::BadValue(f.id()).into()),
        }
    }

    fn number(&self, f: F) -> Result<Option<u64>, Error> {
        let s = &self.slots[f as usize];
        match s.kind {
            Kind::Absent | Kind::Null => Ok(None),
            _ => json::lenient_u64(s.text.unwrap_or_default(), f.id()).map(Some),
        }
    }
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(all(test, feature = "crm", feature = "kommo", feature = "device"))] // reason: the tests mix the dialects
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests
mod tests {
    use super::*;
    use crate::callback::validate_referer;
    use base64::Engine as _;

    fn fields(body: &str) -> Result<Fields<'_>, Error> {
        let mut f = Fields::new(0);
        f.collect(body.as_bytes(), &mut Scratch::new(&mut []))
            .map(|()| f)
    }

    #[test]
    fn field_table_matches_the_enum() {
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "{f:?}");
            assert_eq!(F::from_name(f.name()), Some(*f));
            assert!(f.name().len() <= json::NAME_CAP, "{f:?}");
            assert_eq!(f.id().as_str(), f.name(), "{f:?}");
        }
        assert_eq!(F::from_name("access_tokens"), None);
    }

    /// Every parser decodes exactly the strings it reads: an escaped value in each member it
    /// reads comes out decoded (a member missing from its set would be refused).
    #[test]
    fn s_tok_3_every_string_a_parser_reads_is_decoded() {
        let sets: [(&Texts, &[F]); 5] = [
            (TOKEN_TEXT, &[F::AccessToken, F::MfaToken, F::RefreshToken]),
            (ERROR_TEXT, &[]),
            (TOKEN_ERROR_TEXT, &[F::MfaToken]),
            (DEVICE_TEXT, &[F::DeviceCode]),
            (MFA_SECRET_TEXT, &[F::MfaSecret]),
        ];
        for (texts, tokens) in sets {
            let want = texts.fields;
            let mut body = std::string::String::from("{");
            for f in want {
                body.push_str(&format!("\"{}\":\"a\\/b\",", f.name()));
            }
            body.push_str("\"x\":1}");
            let mut buf = [0u8; 256];
            let mut s = Scratch::new(&mut buf);
            let mut fl = Fields::new(texts.want);
            fl.collect(body.as_bytes(), &mut s).unwrap();
            for f in want {
                assert_eq!(fl.text(*f).unwrap(), Some("a/b"), "{f:?}");
            }
            for f in tokens {
                assert_eq!(fl.token(*f).unwrap(), Some("a/b"), "{f:?}");
            }
            s.finish().unwrap();
        }
        // A string not asked for is refused, never handed out with its escapes in.
        let f = fields(r#"{"scope":"a\/b"}"#).unwrap();
        assert_eq!(
            f.text(F::Scope),
            Err(InvalidMessage::BadValue(crate::Name::Scope).into())
        );
    }

    #[test]
    fn s_tok_7_control_characters_in_decoded_text_rejected() {
        for body in [
            r#"{"scope":"a\u0000"}"#,
            r#"{"scope":"a\n"}"#,
            r#"{"scope":"a\u007f"}"#,
            "{\"scope\":\"a\u{7f}\"}",
        ] {
            let mut buf = [0u8; 64];
            let mut s = Scratch::new(&mut buf);
            let mut f = Fields::new(F::Scope.bit());
            f.collect(body.as_bytes(), &mut s).unwrap();
            assert_eq!(
                f.text(F::Scope),
                Err(InvalidMessage::ControlCharacter.into()),
                "{body}"
            );
        }
    }

    #[test]
    fn s_tok_8_duplicates_detected_after_unescaping_names() {
        assert_eq!(
            fields(r#"{"mfa_token":"a","mfa\u005Ftoken":"b"}"#).err(),
            Some(InvalidMessage::Duplicate(crate::Name::MfaToken).into())
        );
        assert_eq!(
            fields(r#"{"interval":1,"interval":null}"#).err(),
            Some(InvalidMessage::Duplicate(crate::Name::Interval).into())
        );
        let f = fields(r#"{"device\u005fcode":"d","other":[{"device_code":1}]}"#).unwrap();
        assert_eq!(f.slots[F::DeviceCode as usize].text, Some("d"));
    }

    #[test]
    fn scratch_borrows_plain_strings_and_counts_what_it_lacks() {
        let body = r#"{"access_token":"plain","scope":"a\/b","error_uri":"\u00e9"}"#;
        let mut buf = [0u8; 3];
        let mut s = Scratch::new(&mut buf);
        let mut f = Fields::new(F::AccessToken.bit() | F::Scope.bit() | F::ErrorUri.bit());
        f.collect(body.as_bytes(), &mut s).unwrap();
        let access = f.text(F::AccessToken).unwrap().unwrap();
        // Borrowed from the body itself: no copy.
        assert!(core::ptr::eq(access.as_ptr(), &body.as_bytes()[17]));
        assert_eq!(f.text(F::Scope).unwrap(), Some("a/b"));
        assert_eq!(f.text(F::ErrorUri).unwrap(), Some(""));
        assert_eq!(
            s.finish(),
            Err(Error::BufferTooSmall {
                required: crate::Len::new(3 + 2)
            })
        );
    }

    /// The longest id and secret, every byte escaped (the most a `Basic` value holds),
    /// are written whole.
    #[test]
    fn basic_credentials_hold_the_longest_id_and_secret() {
        let id = "%".repeat(crate::MAX_CLIENT_ID_LEN);
        let secret = "%".repeat(crate::MAX_SECRET_LEN);
        let mut buf = [0u8; 2048];
        let n = crate::encode::write_with(&mut buf, |w| {
            write_basic(w, &id, &secret);
            Ok(())
        })
        .unwrap();
        let plain = format!("{}:{}", "%25".repeat(id.len()), "%25".repeat(secret.len()));
        assert_eq!(
            &buf[..n],
            base64::engine::general_purpose::STANDARD
                .encode(plain)
                .as_bytes()
        );
    }

    proptest::proptest! {
        /// The streamed `Basic` credentials are exactly `base64(form(id) ":" form(secret))`
        /// with the crate's own form encoder and the `base64` crate.
        #[test]
        fn s_tok_2_streamed_basic_credentials_match_encode_then_base64(id in "\\PC{0,40}", secret in "\\PC{0,40}") {
            let mut form = [0u8; 512];
            let mut plain = std::vec::Vec::new();
            let n = crate::encode::form_encode(&id, &mut form).unwrap();
            plain.extend_from_slice(&form[..n]);
            plain.push(b':');
            let n = crate::encode::form_encode(&secret, &mut form).unwrap();
            plain.extend_from_slice(&form[..n]);
            let mut buf = [0u8; 1024];
            let n = crate::encode::write_with(&mut buf, |w| {
                write_basic(w, &id, &secret);
                Ok(())
            })
            .unwrap();
            let want = base64::engine::general_purpose::STANDARD.encode(&plain);
            proptest::prop_assert_eq!(&buf[..n], want.as_bytes());
        }
    }

    #[test]
    fn s_tok_1_kommo_account_host_is_rechecked() {
        let profile = Profile::kommo();
        let client = Client::new("id", "https://app.example/cb")
            .unwrap()
            .with_secret("s")
            .unwrap();
        let account = validate_referer("shop.kommo.com", &profile).unwrap();
        assert!(TokenRequest::kommo(&profile, &client, &account).is_ok());
        let other = Profile::kommo()
            .with_referer_suffix(".example.org")
            .unwrap();
        let foreign = validate_referer("shop.example.org", &other).unwrap();
        assert_eq!(
            TokenRequest::kommo(&profile, &client, &foreign).err(),
            Some(CheckFailed::RefererNotAllowed.into())
        );
    }

    /// Reads a JSON request body back with the crate's own strict scanner.
    fn json_pairs(body: &[u8]) -> std::vec::Vec<(std::string::String, std::string::String)> {
        let mut out = std::vec::Vec::new();
        json::members(body, |k, v| {
            let Value::String(raw) = v else {
                panic!("{v:?}")
            };
            let mut a = [0u8; 512];
            let mut b = [0u8; 512];
            out.push((
                json::unescape(k.0, &mut a).unwrap().to_owned(),
                json::unescape(raw, &mut b).unwrap().to_owned(),
            ));
            Ok(())
        })
        .unwrap();
        out
    }

    proptest::proptest! {
        #[test]
        fn s_tok_7_json_request_bodies_round_trip(code in "\\PC{1,64}", verifier_entropy in proptest::array::uniform32(proptest::num::u8::ANY), refresh in "[ -~]{1,64}") {
            let verifier = CodeVerifier::from_entropy(&verifier_entropy).unwrap();
            let v = std::string::String::from(verifier.secret());
            let crm = Profile::crm("https://p.example", "https://a.example").unwrap();
            let client = Client::new("id", "https://app.example/cb").unwrap();
            let t = TokenRequest::new(&crm, &client).unwrap();
            let mut buf = [0u8; 2048];
            let req = t.authorization_code(AuthorizationCode::new(&code), verifier, &mut buf).unwrap();
            let pairs = json_pairs(req.body);
            let want: std::vec::Vec<(std::string::String, std::string::String)> = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", v.as_str()),
                ("client_id", "id"),
            ]
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
            proptest::prop_assert_eq!(pairs, want);

            let kommo = Profile::kommo();
            let secret_client = client.clone().with_secret("s\"\\").unwrap();
            let account = validate_referer("a.kommo.com", &kommo).unwrap();
            let t = TokenRequest::kommo(&kommo, &secret_client, &account).unwrap();
            let mut buf = [0u8; 2048];
            let req = t.refresh(RefreshToken::<64>::new(&refresh).unwrap(), &mut buf).unwrap();
            let pairs = json_pairs(req.body);
            proptest::prop_assert_eq!(pairs.len(), 5);
            proptest::prop_assert_eq!(&pairs[1].1, "s\"\\");
            proptest::prop_assert_eq!(&pairs[3].1, &refresh);
        }
    }

    /// The reader [`Fields`] replaced (one `Option<Member>` per known member, the raw
    /// [`Value`] and the decoded [`Text`]), as the oracle for the differential tests below.
    mod old {
        use super::*;

        #[derive(Clone, Copy)]
        struct Member<'b> {
            value: Value<'b>,
            text: Option<Text<'b>>,
        }

        pub(super) struct OldFields<'b> {
            slots: [Option<Member<'b>>; FIELD_COUNT],
            current: Option<F>,
            want: u16,
        }

        impl<'b> json::Visit<'b> for OldFields<'b> {
            fn name(&mut self, name: Name<'b>) -> bool {
                let mut buf = [0u8; json::NAME_CAP];
                self.current = name.decoded(&mut buf).and_then(F::from_name);
                self.current.is_some_and(|f| self.want & f.bit() != 0)
            }

            fn value(
                &mut self,
                value: Value<'b>,
                _raw: &'b [u8],
                text: Option<Text<'b>>,
            ) -> Result<(), Error> {
                if let Some(f) = self.current.take() {
                    let slot = &mut self.slots[f as usize];
                    if slot.is_some() {
                        return Err(InvalidMessage::Duplicate(f.id()).into());
                    }
                    *slot = Some(Member { value, text });
                }
                Ok(())
            }
        }

        impl<'b> OldFields<'b> {
            pub(super) fn new(want: u16) -> Self {
                Self {
                    slots: [None; FIELD_COUNT],
                    current: None,
                    want,
                }
            }

            pub(super) fn collect(
                &mut self,
                body: &'b [u8],
                s: &mut Scratch<'b>,
            ) -> Result<(), Error> {
                json::visit(body, s, self)
            }

            pub(super) fn get(&self, f: F) -> Option<Value<'b>> {
                self.slots[f as usize].map(|m| m.value)
            }

            pub(super) fn read(&self, fs: &[F], out: &mut [Option<&'b str>]) -> Result<(), Error> {
                for (&f, o) in fs.iter().zip(out) {
                    *o = self.string(f, TOKENS & f.bit() != 0)?;
                    if f == F::Error
                        && !o
                            .unwrap_or_default()
                            .bytes()
                            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
                    {
                        return Err(InvalidMessage::BadValue(crate::Name::Error).into());
                    }
                }
                Ok(())
            }

            pub(super) fn string(&self, f: F, token: bool) -> Result<Option<&'b str>, Error> {
                match &self.slots[f as usize] {
                    None
                    | Some(Member {
                        value: Value::Null, ..
                    }) => Ok(None),
                    Some(Member { text: Some(t), .. }) => {
                        if token && t.len > MAX_TOKEN_LEN {
                            Err(Error::CapacityExceeded {
                                what: Capacity::Token,
                                limit: crate::error::limit(MAX_TOKEN_LEN),
                            })
                        } else if t.control {
                            Err(InvalidMessage::ControlCharacter.into())
                        } else {
                            Ok(Some(t.text).filter(|t| !token || !t.is_empty()))
                        }
                    }
                    Some(_) => Err(InvalidMessage::BadValue(f.id()).into()),
                }
            }

            pub(super) fn number(&self, f: F) -> Result<Option<u64>, Error> {
                let digits = match self.get(f) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(Value::Number(n) | Value::String(n)) => n,
                    Some(_) => return Err(InvalidMessage::NumberOutOfRange(f.id()).into()),
                };
                json::lenient_u64(digits, f.id()).map(Some)
            }
        }

        fn success_reply<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
            texts: &Texts,
            t: &mut [Option<&'b str>],
            nums: &[F],
            n: &mut [Option<u64>],
        ) -> Result<(), Error> {
            if resp.status != 200 {
                return Err(
                    ServerMisbehaved::UnexpectedStatus(HttpStatus::new(resp.status)).into(),
                );
            }
            let mut s = Scratch::new(scratch);
            let mut fields = OldFields::new(texts.want);
            fields.collect(resp.body, &mut s)?;
            if fields.get(F::Error).is_some() {
                return Err(ServerMisbehaved::ErrorInSuccess.into());
            }
            fields.read(texts.fields, t)?;
            for (&f, n) in nums.iter().zip(n) {
                *n = fields.number(f)?;
            }
            s.finish()
        }

        fn error_reply<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
            want: &Texts,
        ) -> Result<(ErrorResponse<'b>, Option<&'b str>), Error> {
            let status = resp.status;
            let unexpected = ServerMisbehaved::UnexpectedStatus(HttpStatus::new(status)).into();
            if !(400..600).contains(&status) {
                return Err(unexpected);
            }
            let mut s = Scratch::new(scratch);
            let mut fields = OldFields::new(want.want);
            match fields.collect(resp.body, &mut s) {
                Ok(()) if matches!(fields.get(F::Error), Some(Value::String(_))) => {}
                Err(
                    e @ (Error::InvalidMessage(InvalidMessage::Duplicate(_))
                    | Error::CapacityExceeded { .. }),
                ) => return Err(e),
                _ => return Err(unexpected),
            }
            let mut t = [None; TOKEN_ERROR_TEXT.fields.len()];
            fields.read(want.fields, &mut t)?;
            s.finish()?;
            let [code, description, uri, mfa_token] = t;
            let error = ErrorResponse {
                code: ErrorCode::from_code(code.unwrap_or_default()),
                description,
                uri,
                status,
            };
            Ok((error, mfa_token))
        }

        pub(super) fn parse_token_response<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
        ) -> Result<TokenReply<'b>, Error> {
            resp.check()?;
            if !is_success(resp.status) {
                let (error, mfa_token) = error_reply(resp, scratch, TOKEN_ERROR_TEXT)?;
                return Ok(match mfa_token {
                    Some(mfa_token) => TokenReply::MfaRequired(MfaRequired {
                        mfa_token,
                        code: Some(error.code),
                        description: error.description,
                        status: resp.status,
                    }),
                    None => TokenReply::Error(error),
                });
            }
            let mut t = [None; TOKEN_TEXT.fields.len()];
            let mut n = [None];
            success_reply(resp, scratch, TOKEN_TEXT, &mut t, &[F::ExpiresIn], &mut n)?;
            let [
                access_token,
                mfa_token,
                token_type,
                refresh_token,
                scope,
                description,
            ] = t;
            let Some(access_token) = access_token else {
                return match mfa_token {
                    Some(mfa_token) => Ok(TokenReply::MfaRequired(MfaRequired {
                        mfa_token,
                        code: None,
                        description,
                        status: resp.status,
                    })),
                    None => Err(ServerMisbehaved::MissingField(crate::Name::AccessToken).into()),
                };
            };
            let token_type =
                token_type.ok_or(ServerMisbehaved::MissingField(crate::Name::TokenType))?;
            Ok(TokenReply::Token(TokenResponse {
                access_token,
                token_type,
                expires_in: n[0],
                refresh_token,
                scope,
            }))
        }

        pub(super) fn parse_device_authorization_response<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
        ) -> Result<Reply<'b, DeviceAuthorizationResponse<'b>>, Error> {
            resp.check()?;
            if !is_success(resp.status) {
                return Ok(Reply::Error(error_reply(resp, scratch, ERROR_TEXT)?.0));
            }
            let mut t = [None; DEVICE_TEXT.fields.len()];
            let mut n = [None; 2];
            success_reply(
                resp,
                scratch,
                DEVICE_TEXT,
                &mut t,
                &[F::ExpiresIn, F::Interval],
                &mut n,
            )?;
            let [
                device_code,
                user_code,
                verification_uri,
                verification_uri_complete,
            ] = t;
            let missing = |f: F| ServerMisbehaved::MissingField(f.id());
            Ok(Reply::Success(DeviceAuthorizationResponse {
                device_code: device_code.ok_or(missing(F::DeviceCode))?,
                user_code: user_code.ok_or(missing(F::UserCode))?,
                verification_uri: verification_uri.ok_or(missing(F::VerificationUri))?,
                verification_uri_complete,
                expires_in: n[0].ok_or(missing(F::ExpiresIn))?,
                interval: n[1].unwrap_or(DEFAULT_DEVICE_INTERVAL),
            }))
        }

        pub(super) fn parse_ack_response<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
        ) -> Result<Reply<'b, ()>, Error> {
            resp.check()?;
            if is_success(resp.status) {
                let mut fields = OldFields::new(0);
                match fields.collect(resp.body, &mut Scratch::new(&mut [])) {
                    Ok(()) if fields.get(F::Error).is_some() => {
                        return Err(ServerMisbehaved::ErrorInSuccess.into());
                    }
                    Err(e @ Error::InvalidMessage(InvalidMessage::Duplicate(_))) => return Err(e),
                    _ => {}
                }
                return Ok(Reply::Success(()));
            }
            Ok(Reply::Error(error_reply(resp, scratch, ERROR_TEXT)?.0))
        }

        pub(super) fn parse_mfa_secret_response<'b>(
            resp: Response<'b>,
            scratch: &'b mut [u8],
        ) -> Result<Reply<'b, MfaSecretResponse<'b>>, Error> {
            resp.check()?;
            if !is_success(resp.status) {
                return Ok(Reply::Error(error_reply(resp, scratch, ERROR_TEXT)?.0));
            }
            let mut t = [None];
            success_reply(resp, scratch, MFA_SECRET_TEXT, &mut t, &[], &mut [])?;
            Ok(Reply::Success(MfaSecretResponse {
                mfa_secret: t[0].ok_or(ServerMisbehaved::MissingField(crate::Name::MfaSecret))?,
            }))
        }

        pub(super) fn parse_revocation_response<'b>(
            resp: Response<'b>,
            retry_after: Option<u64>,
            scratch: &'b mut [u8],
        ) -> Result<RevocationReply<'b>, Error> {
            resp.check()?;
            if is_success(resp.status) {
                return Ok(RevocationReply::Revoked);
            }
            if resp.status == 503 {
                return Ok(RevocationReply::Unavailable { retry_after });
            }
            Ok(RevocationReply::Error(
                error_reply(resp, scratch, ERROR_TEXT)?.0,
            ))
        }
    }

    /// Members, valid and not, that the differential bodies are made of: every known name
    /// (also escaped), values of every type, escapes, controls, long tokens.
    fn reply_body() -> impl proptest::strategy::Strategy<Value = std::string::String> {
        use proptest::prelude::*;
        let names = prop_oneof![
            proptest::sample::select(NAMES.to_vec()).prop_map(std::string::String::from),
            Just(r"access\u005ftoken".into()),
            Just(r"mfa\u005Ftoken".into()),
            Just("other".into()),
        ];
        let long = "t".repeat(MAX_TOKEN_LEN + 1);
        let values = prop_oneof![
            proptest::sample::select(vec![
                r#""plain""#,
                r#""a\/b""#,
                r#""\u00e9\ud83d\ude00""#,
                r#""""#,
                r#""3599""#,
                r#""35x""#,
                r#""x\u0000""#,
                r#""x\n""#,
                "\"del\x7f\"",
                r#""Bearer""#,
                r#""invalid_grant""#,
                r#""bad code""#,
                r#""q\"uote""#,
                "3600",
                "0",
                "-1",
                "1.5",
                "18446744073709551616",
                "true",
                "null",
                "{\"access_token\":\"x\"}",
                "[1,\"a\"]",
                "tru",
            ])
            .prop_map(std::string::String::from),
            Just(format!("\"{long}\"")),
            Just(format!("\"{}\\/\"", "t".repeat(MAX_TOKEN_LEN))),
        ];
        proptest::collection::vec((names, values), 0..8).prop_map(|ms| {
            let members: std::vec::Vec<_> =
                ms.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
            format!("{{{}}}", members.join(","))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// [`Fields`] reads every member exactly as the reader it replaced.
        #[test]
        fn fields_match_the_old_reader(body in reply_body(), want: u16, cap in 0usize..48) {
            let (mut a, mut b) = (vec![0u8; cap], vec![0u8; cap]);
            let (mut sa, mut sb) = (Scratch::new(&mut a), Scratch::new(&mut b));
            let mut new = Fields::new(want);
            let mut old = old::OldFields::new(want);
            let rn = new.collect(body.as_bytes(), &mut sa);
            let ro = old.collect(body.as_bytes(), &mut sb);
            proptest::prop_assert_eq!(rn, ro);
            if rn.is_ok() {
                for f in ALL {
                    proptest::prop_assert_eq!(new.string(f, false), old.string(f, false));
                    proptest::prop_assert_eq!(new.string(f, true), old.string(f, true));
                    proptest::prop_assert_eq!(new.number(f), old.number(f));
                    proptest::prop_assert_eq!(new.kind(f) != Kind::Absent, old.get(f).is_some());
                    if want & f.bit() != 0 {
                        proptest::prop_assert_eq!(
                            new.kind(f) == Kind::Decoded,
                            matches!(old.get(f), Some(Value::String(_)))
                        );
                    }
                }
            }
            proptest::prop_assert_eq!(sa.finish(), sb.finish());
            proptest::prop_assert_eq!(a, b);
        }

        /// Every response parser answers exactly as before, for every status class.
        #[test]
        fn parsers_match_the_old_ones(
            body in reply_body(),
            status in proptest::sample::select(vec![200u16, 201, 204, 302, 400, 401, 404, 429, 500, 503, 600]),
            cap in 0usize..48,
        ) {
            same_replies(body.as_bytes(), status, cap)?;
        }

        /// The same, on bodies made of the members the token parsers read (so that most
        /// bodies are token or error replies that get as far as building the reply).
        #[test]
        fn parsers_match_the_old_ones_on_token_replies(
            body in token_reply_body(),
            status in proptest::sample::select(vec![200u16, 400, 401]),
            cap in 0usize..16,
        ) {
            same_replies(body.as_bytes(), status, cap)?;
        }
    }

    /// Bodies of the members [`parse_token_response`] reads, mostly with valid values.
    fn token_reply_body() -> impl proptest::strategy::Strategy<Value = std::string::String> {
        use proptest::prelude::*;
        let names = proptest::sample::select(vec![
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "scope",
            "error",
            "error_description",
            "error_uri",
            "mfa_token",
        ]);
        let values = proptest::sample::select(vec![
            r#""tok""#,
            r#""""#,
            "null",
            r#""Bearer""#,
            "3600",
            r#""3600""#,
            r#""a\/b""#,
            r#""x\u0000""#,
            "1.5",
            r#""invalid_grant""#,
            r#""q\"uote""#,
        ]);
        proptest::collection::vec((names, values), 0..7).prop_map(|ms| {
            let members: std::vec::Vec<_> =
                ms.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
            format!("{{{}}}", members.join(","))
        })
    }

    /// Every parser's answer to `body` with `status` and a scratch of `cap` bytes is the
    /// old one's.
    fn same_replies(
        body: &[u8],
        status: u16,
        cap: usize,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        macro_rules! same {
            ($new:expr, $old:expr) => {{
                let (mut a, mut b) = (vec![0u8; cap], vec![0u8; cap]);
                let n = $new(Response::new(status, body), &mut a);
                let o = $old(Response::new(status, body), &mut b);
                proptest::prop_assert_eq!(n, o);
            }};
        }
        same!(parse_token_response, old::parse_token_response);
        same!(
            parse_device_authorization_response,
            old::parse_device_authorization_response
        );
        same!(parse_ack_response, old::parse_ack_response);
        same!(parse_mfa_secret_response, old::parse_mfa_secret_response);
        same!(|r, s| parse_revocation_response(r, Some(7), s), |r, s| {
            old::parse_revocation_response(r, Some(7), s)
        });
        Ok(())
    }
}
