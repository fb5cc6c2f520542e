//! The redirect callback: parse the query the authorization server sent back, then check it.
//!
//! Two steps, so that a token request can only be built from a checked callback:
//!
//! 1. [`parse_callback`] turns the query into a [`Callback`] — either a
//!    [`CodeCallback`] or an [`ErrorCallback`] — rejecting malformed input: duplicated
//!    parameters (CB-1), `code` with `error`, bad escapes and control bytes (CB-2),
//!    oversize input (CB-4) and implicit-flow leftovers (CB-6).
//! 2. [`Callback::verify`] checks it against the pending request: `state` (STATE-2/3/5),
//!    `iss` (CB-3) and, for Kommo, the `referer` (REF-1/2). Only a [`VerifiedCallback`]
//!    carries the [`AuthorizationCode`] on to the token request, and only a
//!    [`KommoAccount`] (from [`validate_referer`]) can name a Kommo token host (REF-3).
//!
//! ```
//! use latchkey_core::callback::parse_callback;
//! use latchkey_core::state::StateToken;
//! use latchkey_core::Profile;
//!
//! let profile = Profile::rfc6749("https://as.example/authorize", "https://as.example/token")?
//!     .with_issuer("https://honest.as.example")?;
//! let state = StateToken::parse("ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI")?;
//! // RFC 9207 §2.1.
//! let query = b"code=x1848ZT64p4IirMPT0R-X3141MFPTuBX-VFL_cvaplMH58\
//!     &state=ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI\
//!     &iss=https%3A%2F%2Fhonest.as.example";
//! let mut scratch = [0u8; 256];
//! let callback = parse_callback(query, &mut scratch)?;
//! let verified = callback.verify(&state, &profile)?;
//! assert_eq!(verified.code().secret(), "x1848ZT64p4IirMPT0R-X3141MFPTuBX-VFL_cvaplMH58");
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use core::fmt;

use heapless::String;

use crate::encode::{form_decode, write_with};
use crate::error::{
    ApiMisuse, Capacity, CheckFailed, Error, ErrorKind, InvalidMessage, ServerError,
};
use crate::profile::Profile;
use crate::state::StateToken;
use crate::{MAX_CALLBACK_LEN, MAX_HOST_LEN, MAX_PARAM_LEN};

/// Parses a redirect callback query into borrowed, decoded parameters.
///
/// `query` is the part of the redirect URI after `?`. A leading `?` or a whole URL is also
/// accepted: if the text before the first `?` holds no `=` and no `&` (so it is a URL or
/// nothing, not a parameter), everything up to and including that `?` is skipped. A
/// `#fragment` is dropped first (a `#` never belongs to a query).
///
/// Values are borrowed from `query` when they hold no escape (the common case) and
/// otherwise decoded (`+` is a space, `%XX` a byte) into `scratch`; the returned [`Callback`]
/// borrows from both. A `scratch` as long as the query always suffices; when it is too small
/// the result is [`Error::BufferTooSmall`] with `required` set to that length.
///
/// Recognised parameters: `code`, `state`, `iss`, `referer`, `error`, `error_description`,
/// `error_uri`, `from_widget`, `client_id` (Kommo adds it) and `mode`. Each may appear at
/// most once ([`InvalidMessage::Duplicate`], CB-1). Other parameters are ignored, but must
/// still be well-formed. Errors:
/// - query longer than [`MAX_CALLBACK_LEN`] → [`Error::CapacityExceeded`]
///   ([`Capacity::Callback`], CB-4); a decoded value longer than [`MAX_PARAM_LEN`] →
///   [`Capacity::Parameter`];
/// - a bad `%` escape, a NUL or control byte, or non-UTF-8 text anywhere (names included)
///   → [`InvalidMessage::BadPercentEncoding`] / [`InvalidMessage::ControlCharacter`] /
///   [`InvalidMessage::NotUtf8`] (CB-2);
/// - `access_token`, `id_token`, `token_type` or `response` present →
///   [`InvalidMessage::Unexpected`] (implicit/hybrid leftovers, CB-6);
/// - both `code` and `error` → [`InvalidMessage::CodeAndError`] (CB-2); neither →
///   [`InvalidMessage::Missing`]`("code")`; an empty one → [`InvalidMessage::Empty`].
///
/// Parsing checks no state, issuer or referer: call [`Callback::verify`] next.
pub fn parse_callback<'b>(query: &'b [u8], scratch: &'b mut [u8]) -> Result<Callback<'b>, Error> {
    let q = query_part(query);
    if q.len() > MAX_CALLBACK_LEN {
        return Err(Error::CapacityExceeded {
            what: Capacity::Callback,
            limit: MAX_CALLBACK_LEN,
        });
    }
    // One UTF-8 check for the whole query; escaped values are checked again once decoded.
    let q = core::str::from_utf8(q).map_err(|_| InvalidMessage::NotUtf8)?;
    let too_small = |e: Error| match e {
        Error::BufferTooSmall { .. } => Error::BufferTooSmall { required: q.len() },
        e => e,
    };
    let mut rest: &'b mut [u8] = scratch;
    let mut p = Params::default();
    let mut left = q;
    while !left.is_empty() {
        let pair = match split_once(left, b'&') {
            Some((pair, tail)) => {
                left = tail;
                pair
            }
            None => core::mem::take(&mut left),
        };
        if pair.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = split_once(pair, b'=').unwrap_or((pair, ""));
        let param = match Param::from_name(raw_name.as_bytes()) {
            // Not a known name as written; it may be an escaped one (`%63ode`).
            Param::Other if !is_plain(raw_name) => Param::from_name(
                form_decode(raw_name.as_bytes(), rest)
                    .map_err(too_small)?
                    .as_bytes(),
            ),
            param => param,
        };
        let slot = match param {
            Param::Forbidden(name) => return Err(InvalidMessage::Unexpected(name).into()),
            Param::Stored(which) => p.slot(which),
            Param::FromWidget if p.from_widget => {
                return Err(InvalidMessage::Duplicate("from_widget").into());
            }
            Param::Mode if p.mode => return Err(InvalidMessage::Duplicate("mode").into()),
            Param::FromWidget | Param::Mode | Param::Other => {
                // Checked (CB-2), then ignored.
                if is_plain(raw_value) {
                    check_param_len(raw_value.len())?;
                } else {
                    let v = form_decode(raw_value.as_bytes(), rest).map_err(too_small)?;
                    check_param_len(v.len())?;
                }
                p.from_widget |= param == Param::FromWidget;
                p.mode |= param == Param::Mode;
                continue;
            }
        };
        if slot.1.is_some() {
            return Err(InvalidMessage::Duplicate(slot.0).into());
        }
        let v = if is_plain(raw_value) {
            // The common case: the value decodes to itself; borrow it.
            raw_value
        } else {
            // A decoded value is never longer than its raw form: reserve that much.
            let reserve = raw_value.len().min(rest.len());
            let (head, tail) = core::mem::take(&mut rest).split_at_mut(reserve);
            rest = tail;
            form_decode(raw_value.as_bytes(), head).map_err(too_small)?
        };
        check_param_len(v.len())?;
        *slot.1 = Some(v);
    }
    p.finish()
}

/// A parsed redirect callback: a code or an error, not yet checked against the request.
///
/// Call [`Callback::verify`] before using it.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback<'b> {
    /// The server granted a code (RFC 6749 §4.1.2).
    Code(CodeCallback<'b>),
    /// The server (or the user) refused (RFC 6749 §4.1.2.1).
    Error(ErrorCallback<'b>),
}

/// A callback carrying an authorization code (RFC 6749 §4.1.2).
///
/// `Debug` shows neither the code nor the state (SEC-1).
#[derive(PartialEq, Eq)]
pub struct CodeCallback<'b> {
    code: AuthorizationCode<'b>,
    state: Option<&'b str>,
    iss: Option<&'b str>,
    referer: Option<&'b str>,
    client_id: Option<&'b str>,
    from_widget: bool,
}

/// A callback carrying an error (RFC 6749 §4.1.2.1), e.g. `access_denied`.
///
/// `Debug` does not show the state.
#[derive(PartialEq, Eq)]
pub struct ErrorCallback<'b> {
    error: &'b str,
    description: Option<&'b str>,
    uri: Option<&'b str>,
    state: Option<&'b str>,
    iss: Option<&'b str>,
}

/// A callback that passed [`Callback::verify`]: the only source of the code for an
/// authorization-code token request, and for Kommo the account whose token URL to use.
///
/// Not `Clone`. `Debug` does not show the code.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedCallback<'b> {
    code: AuthorizationCode<'b>,
    account: Option<KommoAccount>,
}

impl<'b> Callback<'b> {
    /// The `state` the callback carries, if any (unchecked).
    pub fn state(&self) -> Option<&'b str> {
        match self {
            Self::Code(c) => c.state,
            Self::Error(e) => e.state,
        }
    }

    /// Checks the callback against the pending request (in this order):
    ///
    /// 1. `state` is present, non-empty and equal to `expected_state`, compared in constant
    ///    time — else [`CheckFailed::StateMissing`] / [`CheckFailed::StateMismatch`]
    ///    (STATE-2). This comes first for error callbacks too: an `error=` with a wrong or
    ///    missing state is a CSRF attempt, not a user denial (STATE-3). A Kommo widget
    ///    install (`code` + `referer` + `from_widget`, no state) therefore fails here with
    ///    `StateMissing` (STATE-5; see [`Callback::verify_widget_install`]).
    /// 2. If the profile expects an issuer ([`Profile::issuer`]), `iss` is present and equal
    ///    to it byte for byte — else [`CheckFailed::IssuerMissing`] /
    ///    [`CheckFailed::IssuerMismatch`] (CB-3, RFC 9207). Without an expected issuer `iss`
    ///    is ignored.
    /// 3. An error callback that passed 1–2 becomes [`Error::ServerError`] with the kind of
    ///    its code and status `0`; the description stays readable through `self`.
    /// 4. A code callback with `from_widget` is refused ([`InvalidMessage::Unexpected`]):
    ///    installs are never bound to a browser session (STATE-5).
    /// 5. Kommo: `referer` is required ([`InvalidMessage::Missing`]`("referer")`) and must
    ///    pass [`validate_referer`] (REF-1/2). Other profiles ignore `referer`.
    ///
    /// The caller (the session) discards the pending request whatever the outcome; a state
    /// is checked once (STATE-2, STATE-4).
    pub fn verify(
        &self,
        expected_state: &StateToken,
        profile: &Profile,
    ) -> Result<VerifiedCallback<'b>, Error> {
        expected_state.verify(self.state().unwrap_or(""))?;
        let iss = match self {
            Self::Code(c) => c.iss,
            Self::Error(e) => e.iss,
        };
        check_issuer(iss, profile.issuer())?;
        let c = match self {
            Self::Code(c) => c,
            Self::Error(e) => {
                return Err(Error::ServerError(ServerError {
                    code: e.kind(),
                    status: 0,
                }));
            }
        };
        if c.from_widget {
            return Err(InvalidMessage::Unexpected("from_widget").into());
        }
        c.verified(profile)
    }

    /// Checks a Kommo widget-install callback (`code` + `referer` + `from_widget`, normally
    /// without `state`) for a **server-side install handler only** (STATE-5).
    ///
    /// Such a callback is not an answer to any request of ours, so there is no state to
    /// check: never call this from the redirect handler of a browser sign-in — use
    /// [`Callback::verify`] there, which refuses installs. Requires a Kommo profile
    /// ([`ApiMisuse::BadConfig`] otherwise), a code callback with `from_widget`
    /// ([`InvalidMessage::Missing`]`("from_widget")` otherwise; an error callback becomes
    /// [`Error::ServerError`]) and a `referer` that passes [`validate_referer`].
    pub fn verify_widget_install(&self, profile: &Profile) -> Result<VerifiedCallback<'b>, Error> {
        if !matches!(profile, Profile::Kommo(_)) {
            return Err(ApiMisuse::BadConfig("widget install (Kommo only)").into());
        }
        match self {
            Self::Error(e) => Err(Error::ServerError(ServerError {
                code: e.kind(),
                status: 0,
            })),
            Self::Code(c) if !c.from_widget => Err(InvalidMessage::Missing("from_widget").into()),
            Self::Code(c) => c.verified(profile),
        }
    }
}

impl<'b> CodeCallback<'b> {
    /// The authorization code.
    pub fn code(&self) -> AuthorizationCode<'b> {
        self.code
    }

    /// The `state`, if present (unchecked).
    pub fn state(&self) -> Option<&'b str> {
        self.state
    }

    /// The `iss` (RFC 9207), if present (unchecked).
    pub fn iss(&self) -> Option<&'b str> {
        self.iss
    }

    /// Kommo's `referer` (the account host), if present (unchecked; see
    /// [`validate_referer`]).
    pub fn referer(&self) -> Option<&'b str> {
        self.referer
    }

    /// The `client_id` Kommo adds to its callbacks, if present.
    pub fn client_id(&self) -> Option<&'b str> {
        self.client_id
    }

    /// Whether `from_widget` is present (any value): a Kommo widget install, for a
    /// server-side install handler only (STATE-5).
    pub fn from_widget(&self) -> bool {
        self.from_widget
    }

    fn verified(&self, profile: &Profile) -> Result<VerifiedCallback<'b>, Error> {
        let account = match profile {
            Profile::Kommo(_) => {
                let referer = self.referer.ok_or(InvalidMessage::Missing("referer"))?;
                Some(validate_referer(referer, profile)?)
            }
            _ => None,
        };
        Ok(VerifiedCallback {
            code: self.code,
            account,
        })
    }
}

impl<'b> ErrorCallback<'b> {
    /// The error code as sent (non-empty), e.g. `access_denied`.
    pub fn error(&self) -> &'b str {
        self.error
    }

    /// The kind of the error code ([`ErrorKind::Other`] for unregistered codes).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.error)
    }

    /// `error_description`, if present: human-readable text from the server, not for
    /// program logic.
    pub fn description(&self) -> Option<&'b str> {
        self.description
    }

    /// `error_uri`, if present: from the server, unchecked; do not open it automatically.
    pub fn uri(&self) -> Option<&'b str> {
        self.uri
    }

    /// The `state`, if present (unchecked).
    pub fn state(&self) -> Option<&'b str> {
        self.state
    }

    /// The `iss` (RFC 9207), if present (unchecked).
    pub fn iss(&self) -> Option<&'b str> {
        self.iss
    }
}

impl<'b> VerifiedCallback<'b> {
    /// The authorization code, for the token request.
    pub fn code(&self) -> AuthorizationCode<'b> {
        self.code
    }

    /// The Kommo account the code belongs to (Kommo profile only): its
    /// [`KommoAccount::token_url`] is where the code must be exchanged.
    pub fn kommo_account(&self) -> Option<&KommoAccount> {
        self.account.as_ref()
    }

    /// Splits into the code and the Kommo account.
    pub fn into_parts(self) -> (AuthorizationCode<'b>, Option<KommoAccount>) {
        (self.code, self.account)
    }
}

impl fmt::Debug for CodeCallback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeCallback")
            .field("code", &self.code)
            .field("state", &self.state.map(|_| Redacted))
            .field("iss", &self.iss)
            .field("referer", &self.referer)
            .field("client_id", &self.client_id)
            .field("from_widget", &self.from_widget)
            .finish()
    }
}

impl fmt::Debug for ErrorCallback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorCallback")
            .field("error", &self.error)
            .field("description", &self.description)
            .field("uri", &self.uri)
            .field("state", &self.state.map(|_| Redacted))
            .field("iss", &self.iss)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An authorization code, borrowed from the decoded callback or message it came in.
/// `Debug` prints `[redacted]`; no `Display` (SEC-1).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationCode<'a>(&'a str);

impl<'a> AuthorizationCode<'a> {
    /// Wraps a code (non-empty, checked by the parsers that produce it).
    pub(crate) fn new(code: &'a str) -> Self {
        Self(code)
    }

    /// The code itself, for the token request.
    pub fn secret(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for AuthorizationCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationCode([redacted])")
    }
}

/// A Kommo account host taken from a callback's `referer` that passed REF-1 and REF-2:
/// a bare, lowercase DNS name under an allowlisted suffix. Only this type can make a Kommo
/// token URL (REF-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KommoAccount(String<MAX_HOST_LEN>);

impl KommoAccount {
    /// The account host, e.g. `example.kommo.com`.
    pub fn host(&self) -> &str {
        &self.0
    }

    /// Writes the account's token endpoint, `https://{host}/oauth2/access_token` (always
    /// `https`, protocol.md §3.2), into `buf`; returns the bytes written.
    ///
    /// Too small → [`Error::BufferTooSmall`] with the exact size, nothing written.
    pub fn token_url(&self, buf: &mut [u8]) -> Result<usize, Error> {
        write_with(buf, |w| {
            w.str("https://");
            w.str(&self.0);
            w.str("/oauth2/access_token");
            Ok(())
        })
    }
}

/// Validates a Kommo `referer` against the profile's allowlist and returns the account.
///
/// REF-1: `referer` must be a bare DNS host name — only ASCII letters, digits, `-` and `.`
/// (so no scheme, port, path, query, fragment, userinfo, `@`, `\`, `%`, whitespace or
/// non-ASCII look-alikes); no empty label (no leading, trailing or double dot, so no
/// trailing-dot trick); labels of 1..=63 characters not starting or ending with `-`; at most
/// [`MAX_HOST_LEN`] bytes; not an IP address (a last label that is all digits or `0x` + hex
/// digits, as the WHATWG URL parser reads IPv4). Else [`CheckFailed::RefererMalformed`].
///
/// REF-2: it must end, case-insensitively, with one of the profile's
/// `referer_allowlist` suffixes, each of which starts with `.`, so the match is on a label
/// boundary: `.kommo.com` allows `x.kommo.com` and `X.KOMMO.COM` but not `evilkommo.com`,
/// not `kommo.com.evil.com`, and not the bare apex `kommo.com` (which is no account).
/// Else [`CheckFailed::RefererNotAllowed`].
///
/// The account is stored lowercase. A profile other than Kommo is
/// [`ApiMisuse::BadConfig`].
pub fn validate_referer(referer: &str, profile: &Profile) -> Result<KommoAccount, Error> {
    let Profile::Kommo(kommo) = profile else {
        return Err(ApiMisuse::BadConfig("referer (Kommo only)").into());
    };
    validate_host(referer)?;
    let host = referer.as_bytes();
    let allowed = kommo.referer_allowlist.iter().any(|suffix| {
        let suffix = suffix.as_bytes();
        suffix.first() == Some(&b'.')
            && host.len() > suffix.len()
            && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    });
    if !allowed {
        return Err(CheckFailed::RefererNotAllowed.into());
    }
    // Cannot fail: validate_host bounds the length by MAX_HOST_LEN.
    let mut out: String<MAX_HOST_LEN> =
        String::try_from(referer).map_err(|_| CheckFailed::RefererMalformed)?;
    out.make_ascii_lowercase();
    Ok(KommoAccount(out))
}

/// REF-1: `h` is a bare DNS host name (see [`validate_referer`]); used for allowlist
/// suffixes (without their leading dot) too.
pub(crate) fn validate_host(h: &str) -> Result<(), Error> {
    let malformed = || Error::CheckFailed(CheckFailed::RefererMalformed);
    if h.is_empty() || h.len() > MAX_HOST_LEN {
        return Err(malformed());
    }
    // One pass over the bytes: the charset, label lengths, no empty label, no label
    // starting or ending with `-`.
    let mut label_len = 0usize;
    let mut last_start = 0;
    let mut prev = b'.';
    for (i, &c) in h.as_bytes().iter().enumerate() {
        if c == b'.' {
            if label_len == 0 || prev == b'-' {
                return Err(malformed());
            }
            label_len = 0;
            last_start = i + 1;
        } else if c.is_ascii_alphanumeric() || (c == b'-' && label_len > 0) {
            label_len += 1;
            if label_len > 63 {
                return Err(malformed());
            }
        } else {
            return Err(malformed());
        }
        prev = c;
    }
    if label_len == 0 || prev == b'-' {
        return Err(malformed());
    }
    let last = h.get(last_start..).unwrap_or_default();
    // An all-numeric (or 0x-hex) last label makes the WHATWG URL parser read an IPv4
    // address: `127.0.0.1`, `0x7f.1`, `2130706433`.
    let l = last.as_bytes();
    let hex = match l {
        [b'0', b'x' | b'X', rest @ ..] => rest.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    };
    if hex || l.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    Ok(())
}

fn check_issuer(iss: Option<&str>, expected: Option<&str>) -> Result<(), Error> {
    match (expected, iss) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(CheckFailed::IssuerMissing.into()),
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), Some(_)) => Err(CheckFailed::IssuerMismatch.into()),
    }
}

fn check_param_len(decoded_len: usize) -> Result<(), Error> {
    if decoded_len > MAX_PARAM_LEN {
        return Err(Error::CapacityExceeded {
            what: Capacity::Parameter,
            limit: MAX_PARAM_LEN,
        });
    }
    Ok(())
}

/// The query of `input`: fragment dropped, then a `…?` URL prefix (one without `=` or `&`)
/// skipped.
fn query_part(input: &[u8]) -> &[u8] {
    let s = match find(input, b'#') {
        Some(end) => &input[..end],
        None => input,
    };
    match find(s, b'?') {
        Some(i) if find(&s[..i], b'=').is_none() && find(&s[..i], b'&').is_none() => &s[i + 1..],
        _ => s,
    }
}

/// `s` split around its first `delimiter` (an ASCII byte, so always a char boundary).
#[inline]
fn split_once(s: &str, delimiter: u8) -> Option<(&str, &str)> {
    let i = find(s.as_bytes(), delimiter)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The index of the first `needle` in `haystack`: eight bytes at a time (SWAR), then
/// byte by byte.
#[inline]
fn find(haystack: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut skipped = 0;
    for chunk in haystack.chunks_exact(8) {
        let word = match <[u8; 8]>::try_from(chunk) {
            Ok(a) => u64::from_le_bytes(a) ^ pattern,
            Err(_) => break,
        };
        // Some byte of `word` is zero, i.e. some byte of the chunk is `needle`.
        if word.wrapping_sub(LO) & !word & HI != 0 {
            break;
        }
        skipped += 8;
    }
    haystack[skipped..]
        .iter()
        .position(|&b| b == needle)
        .map(|i| skipped + i)
}

/// Whether `raw` decodes to itself and is allowed as is: no `%`, no `+`, no NUL or other
/// control byte (the common case; one branch-free pass).
#[inline]
fn is_plain(raw: &str) -> bool {
    raw.bytes().fold(true, |ok, b| {
        ok & (b >= 0x20) & (b != 0x7f) & (b != b'%') & (b != b'+')
    })
}

/// The parameters a callback may carry that are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Code,
    State,
    Iss,
    Referer,
    Error,
    ErrorDescription,
    ErrorUri,
    ClientId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Stored(Stored),
    FromWidget,
    Mode,
    /// Implicit/hybrid leftovers (CB-6).
    Forbidden(&'static str),
    Other,
}

impl Param {
    fn from_name(name: &[u8]) -> Self {
        match name {
            b"code" => Self::Stored(Stored::Code),
            b"state" => Self::Stored(Stored::State),
            b"iss" => Self::Stored(Stored::Iss),
            b"referer" => Self::Stored(Stored::Referer),
            b"error" => Self::Stored(Stored::Error),
            b"error_description" => Self::Stored(Stored::ErrorDescription),
            b"error_uri" => Self::Stored(Stored::ErrorUri),
            b"client_id" => Self::Stored(Stored::ClientId),
            b"from_widget" => Self::FromWidget,
            b"mode" => Self::Mode,
            b"access_token" => Self::Forbidden("access_token"),
            b"id_token" => Self::Forbidden("id_token"),
            b"token_type" => Self::Forbidden("token_type"),
            b"response" => Self::Forbidden("response"),
            _ => Self::Other,
        }
    }
}

#[derive(Default)]
struct Params<'b> {
    code: Option<&'b str>,
    state: Option<&'b str>,
    iss: Option<&'b str>,
    referer: Option<&'b str>,
    error: Option<&'b str>,
    error_description: Option<&'b str>,
    error_uri: Option<&'b str>,
    client_id: Option<&'b str>,
    from_widget: bool,
    mode: bool,
}

impl<'b> Params<'b> {
    fn slot(&mut self, which: Stored) -> (&'static str, &mut Option<&'b str>) {
        match which {
            Stored::Code => ("code", &mut self.code),
            Stored::State => ("state", &mut self.state),
            Stored::Iss => ("iss", &mut self.iss),
            Stored::Referer => ("referer", &mut self.referer),
            Stored::Error => ("error", &mut self.error),
            Stored::ErrorDescription => ("error_description", &mut self.error_description),
            Stored::ErrorUri => ("error_uri", &mut self.error_uri),
            Stored::ClientId => ("client_id", &mut self.client_id),
        }
    }

    fn finish(self) -> Result<Callback<'b>, Error> {
        match (self.code, self.error) {
            (Some(_), Some(_)) => Err(InvalidMessage::CodeAndError.into()),
            (Some(""), None) => Err(InvalidMessage::Empty("code").into()),
            (None, Some("")) => Err(InvalidMessage::Empty("error").into()),
            (None, None) => Err(InvalidMessage::Missing("code").into()),
            (Some(code), None) => Ok(Callback::Code(CodeCallback {
                code: AuthorizationCode::new(code),
                state: self.state,
                iss: self.iss,
                referer: self.referer,
                client_id: self.client_id,
                from_widget: self.from_widget,
            })),
            (None, Some(error)) => Ok(Callback::Error(ErrorCallback {
                error,
                description: self.error_description,
                uri: self.error_uri,
                state: self.state,
                iss: self.iss,
            })),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    #[test]
    fn s_ref_1_validate_host_labels() {
        for ok in [
            "a",
            "kommo.com",
            "a-b.c0",
            "x.y.z.example",
            "0x.example",
            "1a",
        ] {
            assert_eq!(validate_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "-a", "a-", "a.-b", "a_b", "a b", "1.2.3.4", "123",
            "a.0x7f", "a.0X", "a.0xg1a", "a:1", "a@b", "a\\b", "a%2e", "[::1]", "é",
        ] {
            // `a.0xg1a` is not hex: it is a valid name.
            let expect_ok = bad == "a.0xg1a";
            assert_eq!(validate_host(bad).is_ok(), expect_ok, "{bad}");
        }
        let label = "a".repeat(63);
        assert!(validate_host(&label).is_ok());
        assert!(validate_host(&"a".repeat(64)).is_err());
        let host = [label.as_str(); 4].join(".");
        assert_eq!(host.len(), 255);
        assert!(validate_host(&host[..MAX_HOST_LEN]).is_ok());
        assert!(validate_host(&host[..MAX_HOST_LEN + 2]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn find_matches_position(h in proptest::collection::vec(0u8..4, 0..40), n in 0u8..4) {
            proptest::prop_assert_eq!(find(&h, n), h.iter().position(|&b| b == n));
        }
    }

    #[test]
    fn query_part_strips_url_prefix_and_fragment_only() {
        assert_eq!(query_part(b"https://a/cb?x=1#y"), b"x=1");
        assert_eq!(query_part(b"?x=1"), b"x=1");
        assert_eq!(query_part(b"x=1?2"), b"x=1?2");
        assert_eq!(query_part(b"a&b?x=1"), b"a&b?x=1");
        assert_eq!(query_part(b"#x=1"), b"");
        assert_eq!(query_part(b""), b"");
    }
}
