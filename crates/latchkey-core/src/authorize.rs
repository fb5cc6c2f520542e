//! The authorization URL the user's browser opens, for each profile.
//!
//! - RFC 6749: `{authorization endpoint}?response_type=code&client_id=…&redirect_uri=…`
//!   `&scope=…&state=…&code_challenge=…&code_challenge_method=S256` (`scope` left out when
//!   empty; `&` instead of `?` when the endpoint already has a query).
//! - CRM (protocol.md §2.1): `{portal}/login?client_id=…&scope=…&response_type=code`
//!   `&code_challenge=…&code_challenge_method=S256&redirect_uri=…&state=…` — `state` is
//!   always sent, though the server does not require it.
//! - Kommo (protocol.md §3.1): `{consent page}?client_id=…&state=…&mode=popup|post_message`.
//!   Kommo's documented consent URL carries no PKCE challenge and no redirect URI (the
//!   redirect URI is registered with the integration), so none is sent: the defences are the
//!   `state` check and the `referer` allowlist ([`crate::callback`]).
//!
//! Extra parameters (`prompt`, `login_hint`, `resource`, …) follow the protocol ones. Every
//! value is percent-encoded, so no value can add or override a parameter (TOK-7), and an
//! extra parameter can never replace a protocol one.
//!
//! ```
//! use latchkey_core::authorize::AuthorizationRequest;
//! use latchkey_core::pkce::{CodeChallenge, CodeVerifier};
//! use latchkey_core::state::StateToken;
//! use latchkey_core::{Client, Profile};
//!
//! let profile = Profile::crm("https://portal.example.com", "https://api.example.com")?;
//! let client = Client::new("app1", "https://app.example.com/cb")?.with_scope("user-portal:user:*")?;
//! let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")?;
//! let challenge = CodeChallenge::s256(&verifier);
//! let state = StateToken::from_entropy(&[7u8; 16])?;
//!
//! let mut buf = [0u8; 512];
//! let n = AuthorizationRequest::new(&profile, &client, &challenge, &state).write_url(&mut buf)?;
//! let url = core::str::from_utf8(&buf[..n]).unwrap();
//! assert!(url.starts_with(
//!     "https://portal.example.com/login?client_id=app1&scope=user-portal%3Auser%3A%2A\
//!      &response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
//!      &code_challenge_method=S256&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state="
//! ));
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use crate::MAX_EXTRA_PARAMS;
use crate::client::Client;
use crate::encode::Writer;
use crate::error::{ApiMisuse, Capacity, Error, Name};
use crate::pkce::CodeChallenge;
use crate::profile::Profile;
use crate::state::StateToken;

/// The parameter names the protocol sets itself; an extra parameter may not use them
/// (compared case-insensitively).
pub const RESERVED_PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "mode",
];

/// One authorization request: everything its URL is made of.
///
/// The redirect URI is always [`Client::redirect_uri`], byte for byte (percent-encoded in
/// the URL), the same one the token request sends (CB-5).
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    profile: &'a Profile,
    client: &'a Client,
    challenge: &'a CodeChallenge,
    state: &'a StateToken,
    extra: &'a [(&'a str, &'a str)],
    /// The session's extras, packed as [`crate::session::Config`] keeps them
    /// (`name\nvalue\n` pairs, checked when added): sent after `extra`, without a copy.
    packed: &'a str,
}

impl<'a> AuthorizationRequest<'a> {
    /// A request for this profile and client, with this PKCE challenge and state (both made
    /// fresh for this request: [`crate::state::PendingAuthorization`]).
    pub fn new(
        profile: &'a Profile,
        client: &'a Client,
        challenge: &'a CodeChallenge,
        state: &'a StateToken,
    ) -> Self {
        Self {
            profile,
            client,
            challenge,
            state,
            extra: &[],
            packed: "",
        }
    }

    /// Adds the session config's packed extras (already checked by
    /// [`crate::session::Config::with_extra_param`]).
    pub(crate) fn with_packed_extra(mut self, packed: &'a str) -> Self {
        self.packed = packed;
        self
    }

    /// Adds extra `(name, value)` parameters, appended after the protocol ones in order
    /// (e.g. `("prompt", "login")`, `("resource", "https://api.example.com")`).
    ///
    /// Checked by [`AuthorizationRequest::write_url`]: at most [`MAX_EXTRA_PARAMS`]; names
    /// are 1..=64 characters of `[A-Za-z0-9._-]` and not one of [`RESERVED_PARAMS`]; values
    /// are anything (percent-encoded). A name may repeat (RFC 8707 `resource`).
    pub fn with_extra(mut self, extra: &'a [(&'a str, &'a str)]) -> Self {
        self.extra = extra;
        self
    }

    /// Writes the authorization URL into `buf`; returns the bytes written.
    ///
    /// Errors: more than [`MAX_EXTRA_PARAMS`] extras → [`Error::CapacityExceeded`]
    /// ([`Capacity::ExtraParams`]); a bad or reserved extra name →
    /// [`ApiMisuse::BadConfig`]`("extra parameter name")`; a CRM portal URL with a query →
    /// [`ApiMisuse::BadConfig`]`("portal")`; `buf` too small → [`Error::BufferTooSmall`] with
    /// the exact size, and nothing written.
    pub fn write_url(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let fixed = self.fixed()?;
        #[cfg(target_pointer_width = "64")]
        {
            self.write_fast(&fixed, buf)
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            self.write_compact(&fixed, buf)
        }
    }

    /// Checks the extras and the profile, and works out what both passes share.
    fn fixed(&self) -> Result<Fixed<'a>, Error> {
        check_extra(self.extra)?;
        let (base, separator) = match self.profile {
            Profile::Rfc6749(r) => {
                let endpoint = r.authorization.as_str().as_bytes();
                (endpoint, separator(endpoint))
            }
            #[cfg(feature = "crm")]
            Profile::Crm(c) => {
                let portal = c.portal.base();
                if portal.contains('?') {
                    return Err(ApiMisuse::BadConfig(Name::Portal).into());
                }
                (portal.as_bytes(), &b"/login?"[..])
            }
            #[cfg(feature = "kommo")]
            Profile::Kommo(k) => {
                let consent = k.consent.as_str().as_bytes();
                (consent, separator(consent))
            }
        };
        Ok(Fixed {
            base,
            separator,
            challenge: self.challenge.as_bytes(),
        })
    }

    /// [`AuthorizationRequest::write_url`] on 64-bit hosts, where the `authorize_url` bench
    /// holds it to its speed goal: two passes, as `encode::write_with` does, but the
    /// measuring pass is arithmetic (a branch-free count of the bytes to escape, [`Counter`])
    /// and the writing pass stores escapes directly ([`Slice`]). Two more instances of
    /// [`AuthorizationRequest::emit`]; the firmware build uses
    /// [`AuthorizationRequest::write_compact`] instead, and a differential proptest holds
    /// the two to the same bytes and errors.
    ///
    /// When the buffer holds even the longest the URL could be (every byte that may be
    /// escaped counted as three, [`Bound`]: lengths only, no scan), one writing pass does:
    /// the usual case, a URL of a few hundred bytes into a buffer of a kilobyte or two.
    #[cfg(any(target_pointer_width = "64", test))]
    fn write_fast(&self, fixed: &Fixed<'_>, buf: &mut [u8]) -> Result<usize, Error> {
        let mut bound = Bound(0);
        self.emit(&mut bound, fixed);
        if bound.0 <= buf.len() {
            let mut out = Slice::new(buf);
            self.emit(&mut out, fixed);
            return Ok(out.len);
        }
        let mut count = Counter(0);
        self.emit(&mut count, fixed);
        let required = count.0;
        let Some(out) = buf.get_mut(..required) else {
            return Err(Error::BufferTooSmall {
                required: crate::Len::new(required),
            });
        };
        self.emit(&mut Slice::new(out), fixed);
        Ok(required)
    }

    /// [`AuthorizationRequest::write_url`] on other targets (the firmware size budget):
    /// the core's one [`Writer`], counting then writing (see
    /// [`AuthorizationRequest::write_fast`]). Not through `encode::write_with`: `emit`
    /// cannot fail, and in the plain firmware this is `write_with`'s only caller.
    #[cfg(any(not(target_pointer_width = "64"), test))]
    fn write_compact(&self, fixed: &Fixed<'_>, buf: &mut [u8]) -> Result<usize, Error> {
        let mut count = Writer::counting();
        self.emit(&mut count, fixed);
        let required = count.len();
        let Some(out) = buf.get_mut(..required) else {
            return Err(Error::BufferTooSmall {
                required: crate::error::Len::new(required),
            });
        };
        self.emit(&mut Writer::new(out), fixed);
        Ok(required)
    }

    /// The URL, piece by piece, into a writer or a counter: the base and separator, then
    /// the profile's parameters as listed in its table ([`RFC6749`], [`CRM`], [`KOMMO`]),
    /// then the extras.
    fn emit<O: Out>(&self, o: &mut O, fixed: &Fixed<'_>) {
        o.raw(fixed.base);
        o.raw(fixed.separator);
        let values = self.values(fixed);
        match self.profile {
            Profile::Rfc6749(_) => emit_params(o, RFC6749, &values),
            #[cfg(feature = "crm")]
            Profile::Crm(_) => emit_params(o, CRM, &values),
            #[cfg(feature = "kommo")]
            Profile::Kommo(_) => emit_params(o, KOMMO, &values),
        }
        for (name, value) in self.extra {
            o.raw(b"&");
            o.raw(name.as_bytes());
            o.raw(b"=");
            o.pct(value.as_bytes());
        }
        // The packed pairs, line by line: a name, then its value.
        let mut rest = self.packed.as_bytes();
        let mut name = true;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i);
            if name {
                o.raw(b"&");
                o.raw(line);
                o.raw(b"=");
            } else {
                o.pct(line);
            }
            name = !name;
            rest = tail.get(1..).unwrap_or_default();
        }
    }

    /// Every [`Field`]'s value, indexed by the field (one copy for both passes on the
    /// firmware; inlined on 64-bit hosts, see [`emit_params`]).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn values<'s>(&'s self, fixed: &Fixed<'s>) -> [&'s [u8]; 7] {
        let mode = match self.profile {
            #[cfg(feature = "kommo")]
            Profile::Kommo(k) => k.mode.as_str(),
            _ => "",
        };
        let client = self.client;
        [
            client.id().as_bytes(),
            client.redirect_uri().as_bytes(),
            client.scope().as_bytes(),
            self.state.as_str().as_bytes(),
            fixed.challenge,
            self.challenge.method().as_str().as_bytes(),
            mode.as_bytes(),
        ]
    }
}

/// One dialect's parameters, each after its literal prefix, from its table. On 64-bit hosts
/// it is inlined once per (constant) table, so the loop unrolls and the per-field checks
/// fold away (the `authorize_url` bench's speed goal); elsewhere one copy serves every
/// table (the firmware size budget).
#[cfg_attr(target_pointer_width = "64", inline(always))]
fn emit_params<O: Out>(o: &mut O, table: &[(&str, Field)], values: &[&[u8]; 7]) {
    for &(prefix, field) in table {
        let value = values[field as usize];
        // An empty scope is left out, name and all.
        if field == Field::Scope && value.is_empty() {
            continue;
        }
        o.raw(prefix.as_bytes());
        // Client-chosen text is percent-encoded; the state and challenge are base64url
        // and the method and mode fixed names: nothing to escape.
        if field <= Field::Scope {
            o.pct(value);
        } else {
            o.raw(value);
        }
    }
}

/// A protocol parameter (see [`AuthorizationRequest::values`]); the first three are
/// percent-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd)]
enum Field {
    ClientId,
    RedirectUri,
    Scope,
    State,
    Challenge,
    Method,
    /// Kommo's `mode`; without the `kommo` feature no table names it (its value is empty).
    #[cfg_attr(not(feature = "kommo"), allow(dead_code))]
    Mode,
}

/// The RFC 6749 parameters, each after its literal prefix (see the module doc).
const RFC6749: &[(&str, Field)] = &[
    ("response_type=code&client_id=", Field::ClientId),
    ("&redirect_uri=", Field::RedirectUri),
    ("&scope=", Field::Scope),
    ("&state=", Field::State),
    ("&code_challenge=", Field::Challenge),
    ("&code_challenge_method=", Field::Method),
];

/// The CRM parameters (protocol.md §2.1).
#[cfg(feature = "crm")]
const CRM: &[(&str, Field)] = &[
    ("client_id=", Field::ClientId),
    ("&scope=", Field::Scope),
    ("&response_type=code&code_challenge=", Field::Challenge),
    ("&code_challenge_method=", Field::Method),
    ("&redirect_uri=", Field::RedirectUri),
    ("&state=", Field::State),
];

/// The Kommo parameters (protocol.md §3.1).
#[cfg(feature = "kommo")]
const KOMMO: &[(&str, Field)] = &[
    ("client_id=", Field::ClientId),
    ("&state=", Field::State),
    ("&mode=", Field::Mode),
];

/// What both passes of [`AuthorizationRequest::write_url`] share, computed once.
struct Fixed<'p> {
    /// The endpoint (RFC 6749, Kommo) or the portal base (CRM).
    base: &'p [u8],
    /// `?`, `&` or nothing (RFC 6749, Kommo); `/login?` (CRM).
    separator: &'static [u8],
    challenge: &'p [u8],
}

/// Where [`AuthorizationRequest::emit`] puts the URL: raw text or percent-encoded text.
trait Out {
    fn raw(&mut self, s: &[u8]);
    fn pct(&mut self, s: &[u8]);
}

impl Out for Writer<'_> {
    #[inline]
    fn raw(&mut self, s: &[u8]) {
        self.bytes(s);
    }

    #[inline]
    fn pct(&mut self, s: &[u8]) {
        self.percent_bytes(s);
    }
}

/// Writes into a buffer exactly as long as [`Counter`] measured: the same bytes as
/// [`Writer`] (tested against it), but an escape is three direct stores, not a `memcpy`
/// (the URL is on the `authorize_url` bench's hot path). Writes past the end are dropped,
/// which cannot happen after a correct count.
#[cfg(any(target_pointer_width = "64", test))]
struct Slice<'a> {
    buf: &'a mut [u8],
    len: usize,
}

#[cfg(any(target_pointer_width = "64", test))]
impl<'a> Slice<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
}

#[cfg(any(target_pointer_width = "64", test))]
impl Out for Slice<'_> {
    #[inline]
    fn raw(&mut self, s: &[u8]) {
        let end = self.len + s.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(s);
        }
        self.len = end;
    }

    fn pct(&mut self, s: &[u8]) {
        // Runs of unreserved bytes are copied whole; each other byte becomes `%XX`.
        let mut rest = s;
        loop {
            let run = rest
                .iter()
                .position(|&b| !is_unreserved(b))
                .unwrap_or(rest.len());
            let (clean, tail) = rest.split_at(run);
            self.raw(clean);
            let Some((&b, tail)) = tail.split_first() else {
                break;
            };
            if let Some([p, hi, lo]) = self.buf.get_mut(self.len..self.len + 3) {
                *p = b'%';
                *hi = HEX[usize::from(b >> 4)];
                *lo = HEX[usize::from(b & 15)];
            }
            self.len += 3;
            rest = tail;
        }
    }
}

#[cfg(any(target_pointer_width = "64", test))]
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 unreserved (`A-Z a-z 0-9 - . _ ~`), without branches.
#[cfg(any(target_pointer_width = "64", test))]
#[inline]
fn is_unreserved(b: u8) -> bool {
    crate::encode::is_unreserved(b)
}

/// At least the bytes [`Writer`] would write: a percent-encoded part counted as if every
/// byte were escaped.
#[cfg(any(target_pointer_width = "64", test))]
struct Bound(usize);

#[cfg(any(target_pointer_width = "64", test))]
impl Out for Bound {
    #[inline]
    fn raw(&mut self, s: &[u8]) {
        self.0 = self.0.saturating_add(s.len());
    }

    #[inline]
    fn pct(&mut self, s: &[u8]) {
        self.0 = self.0.saturating_add(s.len().saturating_mul(3));
    }
}

/// Counts the bytes [`Writer`] would write.
#[cfg(any(target_pointer_width = "64", test))]
struct Counter(usize);

#[cfg(any(target_pointer_width = "64", test))]
impl Out for Counter {
    #[inline]
    fn raw(&mut self, s: &[u8]) {
        self.0 = self.0.saturating_add(s.len());
    }

    #[inline]
    fn pct(&mut self, s: &[u8]) {
        self.0 = self.0.saturating_add(percent_len(s));
    }
}

/// The length of `s` percent-encoded as [`Writer::percent`] does it: every byte that is not
/// RFC 3986 unreserved becomes three. Branch-free, so the compiler vectorises it.
#[cfg(any(target_pointer_width = "64", test))]
fn percent_len(s: &[u8]) -> usize {
    let escaped: usize = s.iter().map(|&b| usize::from(!is_unreserved(b))).sum();
    s.len() + 2 * escaped
}

/// Longest extra parameter name.
const MAX_EXTRA_NAME_LEN: usize = 64;

pub(crate) fn check_extra(extra: &[(&str, &str)]) -> Result<(), Error> {
    if extra.len() > MAX_EXTRA_PARAMS {
        return Err(Error::CapacityExceeded {
            what: Capacity::ExtraParams,
            limit: crate::error::limit(MAX_EXTRA_PARAMS),
        });
    }
    for (name, _) in extra {
        let ok = !name.is_empty()
            && name.len() <= MAX_EXTRA_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(name));
        if !ok {
            return Err(ApiMisuse::BadConfig(Name::ExtraParameterName).into());
        }
    }
    Ok(())
}

/// What goes between an endpoint and the first parameter: `?`, or `&` when the endpoint
/// already has a query, or nothing when it already ends with `?` or `&`.
#[allow(clippy::manual_contains)] // reason: size: `<[u8]>::contains` is a 160-byte `memchr` on thumbv7em
fn separator(endpoint: &[u8]) -> &'static [u8] {
    match endpoint.last() {
        Some(b'?' | b'&') => b"",
        _ if endpoint.iter().any(|&b| b == b'?') => b"&",
        _ => b"?",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    fn written_len(s: &str) -> usize {
        crate::encode::measure(&|w: &mut Writer<'_>| {
            w.percent(s);
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn percent_len_matches_the_writer_for_every_char() {
        for c in (0..=0x7ff).filter_map(char::from_u32) {
            let mut tmp = [0u8; 4];
            let s = c.encode_utf8(&mut tmp);
            assert_eq!(percent_len(s.as_bytes()), written_len(s), "{c:?}");
        }
        for b in 0..=u8::MAX {
            assert_eq!(is_unreserved(b), crate::encode::is_unreserved(b), "{b:#x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn percent_len_and_slice_match_the_writer(s in ".{0,64}") {
            proptest::prop_assert_eq!(percent_len(s.as_bytes()), written_len(&s));
            let mut ours = [0u8; 1024];
            let mut slice = Slice { buf: &mut ours, len: 0 };
            slice.pct(s.as_bytes());
            let n = slice.len;
            let mut theirs = [0u8; 1024];
            let m = crate::encode::percent_encode(&s, &mut theirs).unwrap();
            proptest::prop_assert_eq!(&ours[..n], &theirs[..m]);
        }

        #[cfg(all(feature = "crm", feature = "kommo"))]
        #[test]
        fn counted_length_is_the_written_length(
            id in "[!-~]{1,20}",
            scope in "[ -~]{0,30}",
            value in ".{0,30}",
            which in 0u8..3,
        ) {
            let profile = match which {
                0 => Profile::rfc6749("https://a.example/auth?x=1", "https://a.example/t").unwrap(),
                1 => Profile::crm("https://p.example/", "https://a.example").unwrap(),
                _ => Profile::kommo(),
            };
            let client = Client::new(&id, "https://c.example/cb?a=b").unwrap().with_scope(&scope).unwrap();
            let v = crate::pkce::CodeVerifier::from_entropy(&[1u8; 32]).unwrap();
            let challenge = CodeChallenge::s256(&v);
            let state = StateToken::from_entropy(&[2u8; 16]).unwrap();
            let extra = [("x", value.as_str())];
            let req = AuthorizationRequest::new(&profile, &client, &challenge, &state).with_extra(&extra);
            let fixed = Fixed {
                base: match &profile {
                    Profile::Rfc6749(r) => r.authorization.as_str().as_bytes(),
                    Profile::Crm(c) => c.portal.base().as_bytes(),
                    Profile::Kommo(k) => k.consent.as_str().as_bytes(),
                },
                separator: match &profile {
                    Profile::Crm(_) => b"/login?",
                    Profile::Rfc6749(r) => separator(r.authorization.as_str().as_bytes()),
                    Profile::Kommo(k) => separator(k.consent.as_str().as_bytes()),
                },
                challenge: challenge.as_bytes(),
            };
            let mut c = Counter(0);
            req.emit(&mut c, &fixed);
            let mut dry = [0u8; 1024];
            let n = crate::encode::write_with(&mut dry, |w| {
                req.emit(w, &fixed);
                Ok(())
            })
            .unwrap();
            let mut fast = [0u8; 1024];
            let m = req.write_url(&mut fast).unwrap();
            proptest::prop_assert_eq!(&fast[..m], &dry[..n]);
            proptest::prop_assert_eq!(c.0, n);
        }
    }

    proptest::proptest! {
        /// The fast writer (64-bit hosts) and the compact one (firmware) give the same
        /// bytes, the same length and the same errors, buffer too small included.
        #[test]
        fn fast_and_compact_writers_agree(
            id in "[!-~]{1,20}",
            scope in "[ -~]{0,30}",
            redirect in "https://[a-z]{1,8}\\.example/[!-~&&[^#]]{0,20}",
            value in ".{0,30}",
            endpoint_query in proptest::bool::ANY,
            // Up to past the bound, so the one-pass branch of `write_fast` is taken too.
            room in 0usize..1200,
        ) {
            let auth = if endpoint_query { "https://a.example/auth?x=1" } else { "https://a.example/auth" };
            let profile = Profile::rfc6749(auth, "https://a.example/t").unwrap();
            let client = Client::new(&id, &redirect).unwrap().with_scope(&scope).unwrap();
            let v = crate::pkce::CodeVerifier::from_entropy(&[1u8; 32]).unwrap();
            let challenge = CodeChallenge::s256(&v);
            let state = StateToken::from_entropy(&[2u8; 16]).unwrap();
            let extra = [("x", value.as_str()), ("resource", "https://r.example/")];
            let req = AuthorizationRequest::new(&profile, &client, &challenge, &state).with_extra(&extra);
            let fixed = req.fixed().unwrap();
            let mut fast = [0xEEu8; 1200];
            let mut compact = [0xEEu8; 1200];
            let a = req.write_fast(&fixed, &mut fast[..room]);
            let b = req.write_compact(&fixed, &mut compact[..room]);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(&fast[..], &compact[..]);
        }
    }

    proptest::proptest! {
        /// The session's packed extras (`name\nvalue\n` pairs) give the same URL, on both
        /// writers, as the same pairs passed to [`AuthorizationRequest::with_extra`]; and
        /// slice extras come first.
        #[test]
        fn packed_extras_match_slice_extras(
            pairs in proptest::collection::vec(("p[A-Za-z0-9._-]{0,9}", "[^\\p{Cc}]{0,20}"), 0..=8),
            split in 0usize..=8,
        ) {
            let profile = Profile::rfc6749("https://a.example/auth", "https://a.example/t").unwrap();
            let client = Client::new("id", "https://c.example/cb").unwrap();
            let v = crate::pkce::CodeVerifier::from_entropy(&[1u8; 32]).unwrap();
            let challenge = CodeChallenge::s256(&v);
            let state = StateToken::from_entropy(&[2u8; 16]).unwrap();
            let all: std::vec::Vec<(&str, &str)> =
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let split = split.min(all.len());
            let packed: std::string::String =
                all[split..].iter().map(|(n, v)| std::format!("{n}\n{v}\n")).collect();
            let base = AuthorizationRequest::new(&profile, &client, &challenge, &state);
            let by_slice = base.with_extra(&all);
            let by_packed = base.with_extra(&all[..split]).with_packed_extra(&packed);
            let fixed = by_slice.fixed().unwrap();
            let mut want = [0u8; 2048];
            let n = by_slice.write_fast(&fixed, &mut want).unwrap();
            let fixed = by_packed.fixed().unwrap();
            let mut fast = [0u8; 2048];
            let mut compact = [0u8; 2048];
            let a = by_packed.write_fast(&fixed, &mut fast).unwrap();
            let b = by_packed.write_compact(&fixed, &mut compact).unwrap();
            proptest::prop_assert_eq!(&fast[..a], &want[..n]);
            proptest::prop_assert_eq!(&compact[..b], &want[..n]);
        }
    }

    #[test]
    fn separator_for_endpoints() {
        assert_eq!(separator(b"https://a/x"), b"?");
        assert_eq!(separator(b"https://a/x?t=1"), b"&");
        assert_eq!(separator(b"https://a/x?"), b"");
        assert_eq!(separator(b"https://a/x?t=1&"), b"");
    }

    #[test]
    fn s_tok_7_extra_names_cannot_override_protocol_parameters() {
        for r in RESERVED_PARAMS {
            assert!(check_extra(&[(r, "x")]).is_err(), "{r}");
        }
        assert!(check_extra(&[("State", "x")]).is_err());
        assert!(check_extra(&[("x&state", "x")]).is_err());
        assert!(check_extra(&[("prompt", "&state=x")]).is_ok());
    }
}
