//! Profiles: one per dialect, bundling endpoints, body encoding and client authentication.
//!
//! A caller picks [`Profile::rfc6749`], [`Profile::crm`] or [`Profile::kommo`] and everything
//! else follows. Adding a dialect means adding a profile, not editing the state machine.

use heapless::String;
#[cfg(feature = "kommo")]
use heapless::Vec;

use crate::error::{ApiMisuse, Capacity, CheckFailed, Error, Name};
#[cfg(feature = "kommo")]
use crate::{MAX_ALLOWLIST, MAX_HOST_LEN};
use crate::{MAX_URL_LEN, Rule, copied, put};

/// The dialect a profile speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain RFC 6749 + RFC 7636 (+ RFC 7009, RFC 8628, RFC 9207).
    Rfc6749,
    /// The CRM Open API "Client OAuth" dialect (protocol.md §2).
    Crm,
    /// The Kommo dialect (protocol.md §3).
    Kommo,
}

impl Dialect {
    /// The dialect's name as used in configuration (`rfc6749`, `crm`, `kommo`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rfc6749 => "rfc6749",
            Self::Crm => "crm",
            Self::Kommo => "kommo",
        }
    }
}

/// How request bodies are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// `application/x-www-form-urlencoded` (RFC 6749).
    Form,
    /// `application/json` (CRM, Kommo).
    Json,
}

/// How a confidential client authenticates to the token endpoint (RFC 6749 §2.3.1).
///
/// A client without a secret always sends its `client_id` in the body instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Public client: `client_id` in the body, no secret.
    None,
    /// `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
}

/// How Kommo's consent window hands the result back (`data-mode` of the button).
#[cfg(feature = "kommo")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KommoMode {
    /// The popup closes and the main window navigates to the redirect URI.
    Popup,
    /// The redirect happens inside the popup, whose page posts the result to its opener.
    PostMessage,
}

#[cfg(feature = "kommo")]
impl KommoMode {
    /// The value of the `mode` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Popup => "popup",
            Self::PostMessage => "post_message",
        }
    }
}

/// An absolute endpoint URL that is `https://`, or `http://` on a loopback host (TOK-1),
/// with no fragment and no userinfo. At most [`MAX_URL_LEN`] bytes.
#[derive(PartialEq, Eq)]
pub struct Endpoint(String<MAX_URL_LEN>);

impl Endpoint {
    /// Validates and copies an endpoint URL.
    ///
    /// ```
    /// use latchkey_core::profile::Endpoint;
    /// assert!(Endpoint::parse("https://api.example.com/oauth/token").is_ok());
    /// assert!(Endpoint::parse("http://127.0.0.1:8080/token").is_ok());
    /// assert!(Endpoint::parse("http://api.example.com/token").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let mut endpoint = Self::EMPTY;
        endpoint.set(url)?;
        Ok(endpoint)
    }

    /// No URL yet: what [`Endpoint::set`] fills in.
    const EMPTY: Self = Self(String::new());

    /// [`Endpoint::parse`] in place, compiled once.
    #[inline(never)]
    fn set(&mut self, url: &str) -> Result<(), Error> {
        check_endpoint(url.as_bytes())?;
        put(self.0.as_mut_view(), url, Capacity::Url)
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without a trailing `/`, for appending paths (the CRM's hosts).
    #[cfg(feature = "crm")]
    pub(crate) fn base(&self) -> &str {
        self.0.strip_suffix('/').unwrap_or(&self.0)
    }
}

// Through `crate::copied`, not heapless's `Clone` (see there).
impl Clone for Endpoint {
    fn clone(&self) -> Self {
        Self(copied(&self.0))
    }
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Endpoint").field(&self.as_str()).finish()
    }
}

/// [`Endpoint::parse`]'s checks (TOK-1): `https://`, or `http://` on a loopback authority;
/// a non-empty authority without `@`; no whitespace, control bytes, `\` or `#`.
#[allow(clippy::manual_contains)] // reason: size: `<[u8]>::contains` is a 160-byte `memchr` on thumbv7em
fn check_endpoint(url: &[u8]) -> Result<(), Error> {
    let auth = match web_authority(url) {
        Web::Secure(auth) => auth,
        // A loopback authority is not empty and has no `@`.
        Web::Loopback => b"localhost",
        Web::Insecure | Web::Other => return Err(CheckFailed::InsecureUrl.into()),
    };
    let clean = Rule {
        lowest: 0x21,
        highest: 0xff,
        banned: [b'\\', b'#'],
    };
    if auth.is_empty() || auth.iter().any(|&b| b == b'@') || !clean.allows(url) {
        return Err(ApiMisuse::BadConfig(Name::EndpointUrl).into());
    }
    Ok(())
}

/// What [`web_authority`] found.
pub(crate) enum Web<'a> {
    /// `https://` and this authority (`host[:port]`, maybe empty).
    Secure(&'a [u8]),
    /// `http://` on a loopback authority (RFC 8252 §7.3).
    Loopback,
    /// `http://` on any other authority (TOK-1).
    Insecure,
    /// Another scheme.
    Other,
}

/// The scheme and authority of a URL: `https://`, `http://` on a loopback authority, another
/// `http://`, or something else.
#[inline(never)]
pub(crate) fn web_authority(url: &[u8]) -> Web<'_> {
    let (rest, secure) = match (after(url, b"https://"), after(url, b"http://")) {
        (Some(rest), _) => (rest, true),
        (None, Some(rest)) => (rest, false),
        (None, None) => return Web::Other,
    };
    // The authority part (`host[:port]`): up to the path, query or fragment.
    let end = rest
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = rest.get(..end).unwrap_or(rest);
    if secure {
        Web::Secure(auth)
    } else if loopback_authority(auth) {
        Web::Loopback
    } else {
        Web::Insecure
    }
}

/// `s` after `prefix`, if it starts with it (one compiled copy for every prefix).
#[inline(never)]
pub(crate) fn after<'s>(s: &'s [u8], prefix: &[u8]) -> Option<&'s [u8]> {
    s.strip_prefix(prefix)
}

/// `127.0.0.1`, `[::1]` or `localhost` (any case), optionally followed by `:` and a port of
/// one to five digits (RFC 8252 §7.3, §8.3) — and nothing else: no user info, no second
/// colon, no text after the `]` (`[::1]evil.com` is not loopback).
#[cfg(any(feature = "crm", test))]
pub(crate) fn is_loopback_authority(auth: &str) -> bool {
    loopback_authority(auth.as_bytes())
}

/// [`is_loopback_authority`] on bytes: a port is one to five digits after the last `:`
/// (none of the hosts ends with `:` and digits), and what is before it must be one of the
/// hosts. The first two have no letters, so comparing them case-insensitively is comparing
/// them exactly.
fn loopback_authority(auth: &[u8]) -> bool {
    let digits = auth.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let host = match auth.len().checked_sub(digits + 1) {
        Some(colon) if (1..=5).contains(&digits) && auth.get(colon) == Some(&b':') => {
            auth.get(..colon).unwrap_or_default()
        }
        _ => auth,
    };
    static HOSTS: [&[u8]; 3] = [b"127.0.0.1", b"[::1]", b"localhost"];
    HOSTS.iter().any(|h| host.eq_ignore_ascii_case(h))
}

/// An optional endpoint of [`Rfc6749`], as its builders name it.
#[derive(Clone, Copy)]
enum Slot {
    Revocation,
    #[cfg(feature = "device")]
    DeviceAuthorization,
    Issuer,
}

/// Plain RFC 6749 endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc6749 {
    /// The authorization endpoint.
    pub authorization: Endpoint,
    /// The token endpoint.
    pub token: Endpoint,
    /// The RFC 7009 revocation endpoint, if the server has one.
    pub revocation: Option<Endpoint>,
    /// The RFC 8628 device authorization endpoint, if the server has one (`device`
    /// feature).
    #[cfg(feature = "device")]
    pub device_authorization: Option<Endpoint>,
    /// The issuer identifier expected in callbacks' `iss` (RFC 9207), if the server sends it.
    pub issuer: Option<Endpoint>,
    /// How a confidential client authenticates.
    pub client_auth: ClientAuth,
}

/// The CRM "Client OAuth" hosts (protocol.md §2): both are configuration.
#[cfg(feature = "crm")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crm {
    /// The client portal, where the user logs in (`{portal}/login`).
    pub portal: Endpoint,
    /// The API host, with the token endpoints (`{api}/oauth/token`, …).
    pub api: Endpoint,
}

/// The Kommo dialect (protocol.md §3).
#[cfg(feature = "kommo")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kommo {
    /// The consent page (default `https://www.kommo.com/oauth`).
    pub consent: Endpoint,
    /// Allowed `referer` host suffixes, lowercase, each starting with `.` (REF-2).
    pub referer_allowlist: Vec<String<MAX_HOST_LEN>, MAX_ALLOWLIST>,
    /// How the consent window reports back.
    pub mode: KommoMode,
}

/// Everything dialect-specific: endpoints, body encoding, client authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // reason: configuration, held once; no heap in the core
pub enum Profile {
    /// Plain RFC 6749.
    Rfc6749(Rfc6749),
    /// The CRM "Client OAuth" API (`crm` feature).
    #[cfg(feature = "crm")]
    Crm(Crm),
    /// Kommo (`kommo` feature).
    #[cfg(feature = "kommo")]
    Kommo(Kommo),
}

/// Kommo's consent page.
#[cfg(feature = "kommo")]
pub const KOMMO_CONSENT_URL: &str = "https://www.kommo.com/oauth";
/// The default Kommo `referer` allowlist suffix.
#[cfg(feature = "kommo")]
pub const KOMMO_DEFAULT_SUFFIX: &str = ".kommo.com";

impl Profile {
    /// A plain RFC 6749 profile with these endpoints (`client_secret_basic` by default).
    ///
    /// Size: compiled once and filled in place, so a call is one small call rather than
    /// inlined copies of a 1.3 KB value moved through `Result`.
    #[inline(never)]
    pub fn rfc6749(authorization_endpoint: &str, token_endpoint: &str) -> Result<Self, Error> {
        let mut r = Rfc6749 {
            authorization: Endpoint::EMPTY,
            token: Endpoint::EMPTY,
            revocation: None,
            #[cfg(feature = "device")]
            device_authorization: None,
            issuer: None,
            client_auth: ClientAuth::Basic,
        };
        r.authorization.set(authorization_endpoint)?;
        r.token.set(token_endpoint)?;
        Ok(Self::Rfc6749(r))
    }

    /// A CRM profile for this client portal and API host.
    #[cfg(feature = "crm")]
    pub fn crm(portal: &str, api: &str) -> Result<Self, Error> {
        Ok(Self::Crm(Crm {
            portal: Endpoint::parse(portal)?,
            api: Endpoint::parse(api)?,
        }))
    }

    /// A Kommo profile with the default consent page, `popup` mode and the default
    /// allowlist (`.kommo.com`).
    #[cfg(feature = "kommo")]
    pub fn kommo() -> Self {
        let mut referer_allowlist = Vec::new();
        let mut suffix = String::new();
        // All fit by construction: a 10-byte suffix in an empty list, a 27-byte URL.
        let _ = suffix.push_str(KOMMO_DEFAULT_SUFFIX);
        let _ = referer_allowlist.push(suffix);
        let mut consent = Endpoint(String::new());
        let _ = put(consent.0.as_mut_view(), KOMMO_CONSENT_URL, Capacity::Url);
        Self::Kommo(Kommo {
            consent,
            referer_allowlist,
            mode: KommoMode::Popup,
        })
    }

    /// RFC 6749 only: adds the RFC 7009 revocation endpoint.
    pub fn with_revocation(self, url: &str) -> Result<Self, Error> {
        self.with_rfc_endpoint(Slot::Revocation, url)
    }

    /// RFC 6749 only: adds the RFC 8628 device authorization endpoint.
    #[cfg(feature = "device")]
    pub fn with_device_authorization(self, url: &str) -> Result<Self, Error> {
        self.with_rfc_endpoint(Slot::DeviceAuthorization, url)
    }

    /// RFC 6749 only: expect this issuer in every callback's `iss` (RFC 9207, CB-3).
    pub fn with_issuer(self, issuer: &str) -> Result<Self, Error> {
        self.with_rfc_endpoint(Slot::Issuer, issuer)
    }

    /// The body of the optional-endpoint builders, compiled once: `slot` picks the field.
    #[inline(never)]
    fn with_rfc_endpoint(mut self, slot: Slot, url: &str) -> Result<Self, Error> {
        let what = match slot {
            Slot::Revocation => Name::Revocation,
            #[cfg(feature = "device")]
            Slot::DeviceAuthorization => Name::DeviceAuthorization,
            Slot::Issuer => Name::Issuer,
        };
        let r = self.rfc_mut(what)?;
        let endpoint = match slot {
            Slot::Revocation => &mut r.revocation,
            #[cfg(feature = "device")]
            Slot::DeviceAuthorization => &mut r.device_authorization,
            Slot::Issuer => &mut r.issuer,
        };
        // On an error `self` is dropped, so the half-set endpoint is never seen.
        endpoint.insert(Endpoint::EMPTY).set(url)?;
        Ok(self)
    }

    /// RFC 6749 only: how a confidential client authenticates.
    pub fn with_client_auth(mut self, auth: ClientAuth) -> Result<Self, Error> {
        self.rfc_mut(Name::ClientAuthentication)?.client_auth = auth;
        Ok(self)
    }

    /// Kommo only: also allow `referer` hosts ending with `suffix` (e.g. `.amocrm.ru`).
    /// The suffix must start with `.` so it matches on a label boundary (REF-2).
    #[cfg(feature = "kommo")]
    pub fn with_referer_suffix(mut self, suffix: &str) -> Result<Self, Error> {
        let Self::Kommo(k) = &mut self else {
            return Err(ApiMisuse::BadConfig(Name::RefererSuffixKommoOnly).into());
        };
        let Some(host) = suffix.strip_prefix('.') else {
            return Err(ApiMisuse::BadConfig(Name::RefererSuffixWithoutDot).into());
        };
        if crate::callback::validate_host(host).is_err() {
            return Err(ApiMisuse::BadConfig(Name::RefererSuffix).into());
        }
        let mut s =
            String::<MAX_HOST_LEN>::try_from(suffix).map_err(|_| Error::CapacityExceeded {
                what: Capacity::Config,
                limit: crate::error::limit(MAX_HOST_LEN),
            })?;
        s.make_ascii_lowercase();
        k.referer_allowlist
            .push(s)
            .map_err(|_| Error::CapacityExceeded {
                what: Capacity::Allowlist,
                limit: crate::error::limit(MAX_ALLOWLIST),
            })?;
        Ok(self)
    }

    /// Kommo only: the consent window mode.
    #[cfg(feature = "kommo")]
    pub fn with_kommo_mode(mut self, mode: KommoMode) -> Result<Self, Error> {
        let Self::Kommo(k) = &mut self else {
            return Err(ApiMisuse::BadConfig(Name::ModeKommoOnly).into());
        };
        k.mode = mode;
        Ok(self)
    }

    /// Kommo only: use another consent page URL (tests, regional hosts).
    #[cfg(feature = "kommo")]
    pub fn with_consent_url(mut self, url: &str) -> Result<Self, Error> {
        let Self::Kommo(k) = &mut self else {
            return Err(ApiMisuse::BadConfig(Name::ConsentUrlKommoOnly).into());
        };
        k.consent = Endpoint::parse(url)?;
        Ok(self)
    }

    #[cfg_attr(
        not(any(feature = "crm", feature = "kommo")),
        allow(unused_variables, reason = "only other dialects are refused")
    )]
    fn rfc_mut(&mut self, what: Name) -> Result<&mut Rfc6749, Error> {
        match self {
            Self::Rfc6749(r) => Ok(r),
            #[cfg(any(feature = "crm", feature = "kommo"))]
            _ => Err(ApiMisuse::BadConfig(what).into()),
        }
    }

    /// The RFC 6749 endpoints, if this is an RFC 6749 profile.
    pub(crate) fn rfc(&self) -> Option<&Rfc6749> {
        match self {
            Self::Rfc6749(r) => Some(r),
            #[cfg(any(feature = "crm", feature = "kommo"))]
            _ => None,
        }
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Rfc6749(_) => Dialect::Rfc6749,
            #[cfg(feature = "crm")]
            Self::Crm(_) => Dialect::Crm,
            #[cfg(feature = "kommo")]
            Self::Kommo(_) => Dialect::Kommo,
        }
    }

    /// How request bodies are encoded: form for RFC 6749, JSON for CRM and Kommo.
    pub fn body_encoding(&self) -> BodyEncoding {
        match self {
            Self::Rfc6749(_) => BodyEncoding::Form,
            #[cfg(any(feature = "crm", feature = "kommo"))]
            _ => BodyEncoding::Json,
        }
    }

    /// How a client with a secret authenticates: configured for RFC 6749, Basic for the CRM
    /// (protocol.md §2.1), in the JSON body for Kommo (§3.2).
    pub fn client_auth(&self) -> ClientAuth {
        match self {
            Self::Rfc6749(r) => r.client_auth,
            #[cfg(feature = "crm")]
            Self::Crm(_) => ClientAuth::Basic,
            #[cfg(feature = "kommo")]
            Self::Kommo(_) => ClientAuth::Post,
        }
    }

    /// The issuer every callback's `iss` must equal, if one is expected.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Self::Rfc6749(r) => r.issuer.as_ref().map(Endpoint::as_str),
            #[cfg(any(feature = "crm", feature = "kommo"))]
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_tok_1_endpoints_are_https_or_loopback() {
        for ok in [
            "https://api.example.com/oauth/token",
            "http://127.0.0.1/x",
            "http://127.0.0.1:8080/x",
            "http://[::1]:99/x",
            "http://localhost:1/x",
        ] {
            assert!(Endpoint::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com/token",
            "http://127.0.0.1.evil.com/x",
            "http://localhost.evil.com/x",
            "http://127.0.0.1@evil.com/x",
            "http://[::1]evil.com/x",
            "http://127.0.0.1:80:90/x",
            "ftp://x/",
            "https://user:pw@api.example.com/",
            "https:///token",
            "https://a.example/x#frag",
            "https://a.example/x y",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    /// A second formulation of the rule: one of the three hosts (any case), then nothing or
    /// `:` and one to five digits.
    fn loopback_reference(auth: &str) -> bool {
        ["127.0.0.1", "[::1]", "localhost"].iter().any(|h| {
            let Some(rest) = auth
                .get(..h.len())
                .filter(|p| p.eq_ignore_ascii_case(h))
                .map(|_| &auth[h.len()..])
            else {
                return false;
            };
            rest.is_empty()
                || rest.strip_prefix(':').is_some_and(|port| {
                    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
                })
        })
    }

    #[test]
    fn loopback_authorities() {
        for (auth, want) in [
            ("127.0.0.1", true),
            ("127.0.0.1:8080", true),
            ("127.0.0.1:", false),
            ("127.0.0.1:8x", false),
            ("[::1]", true),
            ("[::1]:99", true),
            ("[::1]:", false),
            ("[::1", false),
            ("LocalHost:1", true),
            ("localhost.evil.com", false),
            ("127.0.0.2", false),
            ("", false),
            // Hostile shapes an earlier version let through (TOK-1).
            ("[::1]evil.com", false),
            ("[::1].evil.com:80", false),
            ("127.0.0.1:80:90", false),
            ("127.0.0.1::", false),
            ("[::1]::", false),
            ("[127.0.0.1]", false),
            ("user@127.0.0.1", false),
            ("localhost:123456", false),
            ("[::1]:65535", true),
        ] {
            assert_eq!(is_loopback_authority(auth), want, "{auth}");
            assert_eq!(loopback_reference(auth), want, "{auth}");
        }
    }

    proptest::proptest! {
        #[test]
        fn loopback_check_matches_the_reference(
            auth in "(\\[?(::1|127\\.0\\.0\\.1|localhost|LOCALHOST|[:0-9a-z.\\]\\[]{0,6})\\]?)(:[0-9a-z:\\]]{0,4})?(:[0-9]{0,3})?|.{0,12}"
        ) {
            proptest::prop_assert_eq!(is_loopback_authority(&auth), loopback_reference(&auth), "{}", auth);
        }
    }

    #[cfg(all(feature = "crm", feature = "kommo"))]
    #[test]
    fn profiles_pick_encoding_and_auth() {
        let crm = Profile::crm("https://portal.example", "https://api.example").unwrap();
        assert_eq!(crm.body_encoding(), BodyEncoding::Json);
        assert_eq!(crm.client_auth(), ClientAuth::Basic);
        let k = Profile::kommo();
        assert_eq!(k.client_auth(), ClientAuth::Post);
        let r = Profile::rfc6749("https://as.example/a", "https://as.example/t")
            .unwrap()
            .with_issuer("https://as.example")
            .unwrap();
        assert_eq!(r.body_encoding(), BodyEncoding::Form);
        assert_eq!(r.issuer(), Some("https://as.example"));
    }

    #[cfg(feature = "kommo")]
    #[test]
    fn referer_suffix_must_start_with_a_dot() {
        assert!(Profile::kommo().with_referer_suffix("amocrm.ru").is_err());
        assert!(Profile::kommo().with_referer_suffix(".amocrm.ru").is_ok());
        assert!(Profile::kommo().with_referer_suffix(".bad..ru").is_err());
    }
}
