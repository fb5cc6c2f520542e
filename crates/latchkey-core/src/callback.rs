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

#[cfg(feature = "kommo")]
use heapless::String;

#[cfg(feature = "kommo")]
use crate::MAX_HOST_LEN;
#[cfg(feature = "kommo")]
use crate::encode::write_with;
#[cfg(feature = "kommo")]
use crate::error::ApiMisuse;
#[cfg(any(target_pointer_width = "64", test))]
use crate::error::Len;
use crate::error::{
    Capacity, CheckFailed, Error, ErrorKind, HttpStatus, InvalidMessage, Name, ServerError,
};
use crate::profile::Profile;
use crate::state::StateToken;
use crate::{MAX_CALLBACK_LEN, MAX_PARAM_LEN};

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
    imp::parse(query, scratch)
}

/// The implementation of [`parse_callback`] elsewhere: byte by byte, where size is judged.
#[cfg(not(target_pointer_width = "64"))]
use bytes as imp;
/// The implementation of [`parse_callback`] on 64-bit targets, where the speed goals are
/// judged: eight bytes at a time.
#[cfg(target_pointer_width = "64")]
use words as imp;

/// CB-4 and CB-2 for the whole query: at most [`MAX_CALLBACK_LEN`] bytes, and UTF-8
/// (checked unless the caller saw only ASCII). The 64-bit parser's; `bytes` checks inline.
#[cfg(any(target_pointer_width = "64", test))]
fn check_query(q: &[u8], ascii: bool) -> Result<(), Error> {
    if q.len() > MAX_CALLBACK_LEN {
        return Err(Error::CapacityExceeded {
            what: Capacity::Callback,
            limit: crate::error::limit(MAX_CALLBACK_LEN),
        });
    }
    if !ascii && core::str::from_utf8(q).is_err() {
        return Err(InvalidMessage::NotUtf8.into());
    }
    Ok(())
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
#[repr(C)] // size: the order of `Params::values` (see `Param`)
pub struct CodeCallback<'b> {
    state: Option<&'b str>,
    iss: Option<&'b str>,
    code: AuthorizationCode<'b>,
    referer: Option<&'b str>,
    client_id: Option<&'b str>,
    from_widget: bool,
}

/// A callback carrying an error (RFC 6749 §4.1.2.1), e.g. `access_denied`.
///
/// `Debug` does not show the state.
#[derive(PartialEq, Eq)]
#[repr(C)] // size: the order of `Params::values` (see `Param`)
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
        let (state, iss) = match self {
            Self::Code(c) => (c.state, c.iss),
            Self::Error(e) => (e.state, e.iss),
        };
        expected_state.verify(state.unwrap_or(""))?;
        check_issuer(iss, profile.issuer())?;
        let c = match self {
            Self::Code(c) => c,
            Self::Error(e) => {
                return Err(Error::ServerError(ServerError {
                    code: e.kind(),
                    status: HttpStatus::new(0),
                }));
            }
        };
        if c.from_widget {
            return Err(InvalidMessage::Unexpected(Name::FromWidget).into());
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
    #[cfg(feature = "kommo")]
    pub fn verify_widget_install(&self, profile: &Profile) -> Result<VerifiedCallback<'b>, Error> {
        if !matches!(profile, Profile::Kommo(_)) {
            return Err(ApiMisuse::BadConfig(Name::WidgetInstallKommoOnly).into());
        }
        match self {
            Self::Error(e) => Err(Error::ServerError(ServerError {
                code: e.kind(),
                status: HttpStatus::new(0),
            })),
            Self::Code(c) if !c.from_widget => {
                Err(InvalidMessage::Missing(Name::FromWidget).into())
            }
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
        // Each branch builds its own result: merging them into one value would copy the
        // whole (mostly unused) `KommoAccount` buffer on every callback.
        #[cfg(feature = "kommo")]
        if let Profile::Kommo(_) = profile {
            let referer = self.referer.ok_or(InvalidMessage::Missing(Name::Referer))?;
            return Ok(VerifiedCallback {
                code: self.code,
                account: Some(validate_referer(referer, profile)?),
            });
        }
        let _ = profile; // only Kommo looks at it
        Ok(VerifiedCallback {
            code: self.code,
            account: None,
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
#[cfg(feature = "kommo")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KommoAccount(String<MAX_HOST_LEN>);

/// Without the `kommo` feature there is no Kommo account: the type has no values, so every
/// `Option<KommoAccount>` is `None` and the code for one compiles away.
#[cfg(not(feature = "kommo"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KommoAccount {}

#[cfg(not(feature = "kommo"))]
impl KommoAccount {
    /// The account host (no values exist without the `kommo` feature).
    pub fn host(&self) -> &str {
        match *self {}
    }

    /// The account's token endpoint (no values exist without the `kommo` feature).
    pub fn token_url(&self, _buf: &mut [u8]) -> Result<usize, Error> {
        match *self {}
    }
}

#[cfg(feature = "kommo")]
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
#[cfg(feature = "kommo")]
pub fn validate_referer(referer: &str, profile: &Profile) -> Result<KommoAccount, Error> {
    let Profile::Kommo(kommo) = profile else {
        return Err(ApiMisuse::BadConfig(Name::RefererKommoOnly).into());
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
#[cfg(feature = "kommo")]
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

/// CB-3: `iss` against the issuer the profile expects, if any (see [`Callback::verify`]).
fn check_issuer(iss: Option<&str>, expected: Option<&str>) -> Result<(), CheckFailed> {
    match (expected, iss) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(CheckFailed::IssuerMissing),
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), Some(_)) => Err(CheckFailed::IssuerMismatch),
    }
}

fn check_param_len(decoded_len: usize) -> Result<(), Error> {
    if decoded_len > MAX_PARAM_LEN {
        return Err(Error::CapacityExceeded {
            what: Capacity::Parameter,
            limit: crate::error::limit(MAX_PARAM_LEN),
        });
    }
    Ok(())
}

/// The state of the 64-bit [`parse_callback`]: the input its pairs index, the unused part
/// of the scratch and the parameters seen so far.
#[cfg(any(target_pointer_width = "64", test))]
struct Parser<'b> {
    /// The input the pairs index (the whole input: the scan finds the query in it).
    input: &'b [u8],
    rest: &'b mut [u8],
    params: Params<'b>,
}

/// One `name=value` pair as the 64-bit scan saw it.
#[cfg(any(target_pointer_width = "64", test))]
struct Pair {
    start: usize,
    /// The first `=`, if any.
    eq: Option<usize>,
    /// The name holds `%`, `+` or a control byte: it must go through the decoder.
    name_dirty: bool,
    /// The same for the value.
    value_dirty: bool,
}

#[cfg(any(target_pointer_width = "64", test))]
impl Pair {
    fn new(start: usize) -> Self {
        Self {
            start,
            eq: None,
            name_dirty: false,
            value_dirty: false,
        }
    }
}

/// What [`Parser::pair`] leaves to its codec: how a name is looked up, how a value is
/// decoded and how its slot is found.
#[cfg(any(target_pointer_width = "64", test))]
trait Codec {
    /// The parameter called `name` (decoded).
    fn param(name: &[u8]) -> Param;
    /// [`form_decode`](crate::encode::form_decode) with the same result and the same first
    /// error; the `required` of a `BufferTooSmall` is the caller's to fix. Bytes of `out`
    /// past the decoded text may be overwritten.
    fn decode<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error>;
    /// Where the value of `param` is kept, if it is one of the first eight.
    fn slot<'p, 'b>(
        values: &'p mut [Option<&'b str>; 8],
        param: Param,
    ) -> Option<&'p mut Option<&'b str>>;
}

#[cfg(any(target_pointer_width = "64", test))]
impl<'b> Parser<'b> {
    /// Takes the pair `pair.start..end` (`end` is its `&` or the end of the query).
    #[inline(always)]
    fn pair<C: Codec>(&mut self, pair: &Pair, end: usize) -> Result<(), Error> {
        if pair.start >= end {
            return Ok(());
        }
        let (name_end, value_start) = match pair.eq {
            Some(eq) => (eq, eq + 1),
            None => (end, end),
        };
        let raw_name = self.input.get(pair.start..name_end).unwrap_or_default();
        let raw_value = self.input.get(value_start..end).unwrap_or_default();
        let name = if pair.name_dirty {
            // Not a known name as written; it may be an escaped one (`%63ode`).
            C::decode(raw_name, self.rest)?.as_bytes()
        } else {
            raw_name
        };
        let param = C::param(name);
        if param > Param::Other {
            return Err(InvalidMessage::Unexpected(param.id()).into());
        }
        let p = &mut self.params;
        let Some(slot) = C::slot(&mut p.values, param) else {
            // `from_widget`, `mode` or another name.
            let bit = 1 << param as u32;
            if p.seen & bit != 0 {
                return Err(InvalidMessage::Duplicate(param.id()).into());
            }
            // `Other` is never a duplicate: its bit is not kept.
            p.seen |= bit & !(1 << Param::Other as u32);
            // Checked (CB-2), then ignored.
            if pair.value_dirty {
                let v = C::decode(raw_value, self.rest)?;
                check_param_len(v.len())?;
            } else {
                check_param_len(raw_value.len())?;
            }
            return Ok(());
        };
        if slot.is_some() {
            return Err(InvalidMessage::Duplicate(param.id()).into());
        }
        let v = if pair.value_dirty {
            // A decoded value is never longer than its raw form: reserve that much.
            let reserve = raw_value.len().min(self.rest.len());
            let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(reserve);
            self.rest = tail;
            C::decode(raw_value, head)?
        } else {
            // The common case: the value decodes to itself; borrow it. (Its bounds are at
            // ASCII bytes, so it is UTF-8 if the query is.)
            core::str::from_utf8(raw_value).map_err(|_| InvalidMessage::NotUtf8)?
        };
        check_param_len(v.len())?;
        *slot = Some(v);
        Ok(())
    }
}

/// [`parse_callback`] for 64-bit targets: one pass eight bytes at a time (SWAR), for the
/// speed goal (callback parse ≥ 3× `url::form_urlencoded`). 32-bit targets would emulate
/// every `u64` step with register pairs, so they use the smaller `bytes` instead; tests
/// build both and check they agree on every input.
#[cfg(any(target_pointer_width = "64", test))]
mod words {
    use super::*;

    /// The word-at-a-time name lookup and decoder.
    pub(super) struct Words;

    impl Codec for Words {
        #[inline]
        fn param(name: &[u8]) -> Param {
            from_name(name)
        }

        #[inline]
        fn decode<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
            decode(raw, out)
        }

        /// A `match` with a constant index per arm: inlined after [`from_name`], the name
        /// compares jump straight to their slot.
        #[inline(always)]
        fn slot<'p, 'b>(
            values: &'p mut [Option<&'b str>; 8],
            param: Param,
        ) -> Option<&'p mut Option<&'b str>> {
            let [
                error,
                description,
                uri,
                state,
                iss,
                code,
                referer,
                client_id,
            ] = values;
            Some(match param {
                Param::Code => code,
                Param::State => state,
                Param::Iss => iss,
                Param::Referer => referer,
                Param::Error => error,
                Param::ErrorDescription => description,
                Param::ErrorUri => uri,
                Param::ClientId => client_id,
                _ => return None,
            })
        }
    }

    /// [`parse_callback`], eight bytes at a time.
    pub(super) fn parse<'b>(query: &'b [u8], scratch: &'b mut [u8]) -> Result<Callback<'b>, Error> {
        let mut parser = Parser {
            input: query,
            rest: scratch,
            params: Params::default(),
        };
        // One pass finds the query in `query` and takes its pairs as it goes, before the
        // length and UTF-8 checks that come first in the contract: when it fails, those
        // checks are made again on their own (the error path), so the first error is the
        // documented one. Clean values are UTF-8 checked one by one (they are borrowed as
        // `str`), the rest of an all-ASCII query needs no check.
        let (start, end, ascii) = match parser.scan() {
            Ok(found) => found,
            Err(e) => return Err(first_error(query, e)),
        };
        check_query(query.get(start..end).unwrap_or_default(), ascii)?;
        parser.params.finish()
    }

    /// The error [`parse_callback`] reports when its scan stopped at `scan_error`: the
    /// query's length and UTF-8 come first, and a too small scratch needs the query's
    /// length.
    #[cold]
    fn first_error(input: &[u8], scan_error: Error) -> Error {
        let q = query_part(input);
        match check_query(q, false) {
            Err(e) => e,
            Ok(()) => match scan_error {
                Error::BufferTooSmall { .. } => Error::BufferTooSmall {
                    required: Len::new(q.len()),
                },
                e => e,
            },
        }
    }

    /// The query of `input`: fragment dropped, then a `…?` URL prefix (one without `=` or
    /// `&`) skipped. One scan for the first `#` or `?` (the common query has neither).
    pub(super) fn query_part(input: &[u8]) -> &[u8] {
        let Some(i) = find_any(input, 0, [b'#', b'?']) else {
            return input;
        };
        if input.get(i) == Some(&b'#') {
            return &input[..i];
        }
        let end = find_any(input, i + 1, [b'#']).unwrap_or(input.len());
        let start = match find_any(&input[..i], 0, [b'=', b'&']) {
            None => i + 1,
            Some(_) => 0,
        };
        &input[start..end]
    }

    impl Parser<'_> {
        /// Finds the query in the input and takes its pairs, in one pass eight bytes at a
        /// time: only the bytes that may matter (`&`, `=`, `%`, `+`, `#`, `?`, control bytes
        /// and a few rare others) are looked at one by one. Per pair it notes where the
        /// first `=` is and whether the name or the value needs decoding (an escape or a
        /// control byte, which the decoder rejects). The query ends at the first `#`, and the
        /// word holding the end of the input gets a `#` just past it, so the last pair ends
        /// like the others. A `?` before any `=`, `&` or other `?` ends a URL prefix: the
        /// query starts after it (see [`query_part`]).
        ///
        /// Returns where the query starts and ends, and whether every byte the scan loaded
        /// (the whole query among them) is ASCII. Checks neither the query's length nor its
        /// UTF-8 (the caller does).
        #[inline(always)]
        fn scan(&mut self) -> Result<(usize, usize, bool), Error> {
            let input = self.input;
            let mut pair = Pair::new(0);
            let mut start = 0;
            // No `=`, `&` or `?` yet: a `?` now ends a URL prefix.
            let mut prefix = true;
            let mut high = 0;
            let (words, tail) = input.as_chunks::<8>();
            // The last bytes, then the padding, which starts with the `#` that stops the
            // scan.
            let n = tail.len(); // 0..=7
            let tail_word = match input.last_chunk::<8>() {
                // The last eight bytes, shifted down past the ones in `words`: no copy loop.
                Some(last) if n > 0 => u64::from_le_bytes(*last) >> (8 * (8 - n)),
                _ => tail.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b)),
            } | ((PAD ^ PAD_TO_HASH) << (8 * n));
            let mut i = 0;
            let end = loop {
                let word = words.get(i).map_or(tail_word, |w| u64::from_le_bytes(*w));
                let base = 8 * i;
                high |= word;
                let mut mask = special_mask(word);
                let mut end = None;
                while mask != 0 {
                    let k = mask.trailing_zeros() / 8;
                    mask &= mask - 1;
                    let at = base + k as usize;
                    match (word >> (8 * k)) as u8 {
                        c @ (b'&' | b'#') => {
                            self.pair::<Words>(&pair, at)?;
                            if c == b'#' {
                                end = Some(at);
                                break;
                            }
                            pair = Pair::new(at + 1);
                            prefix = false;
                        }
                        b'=' if pair.eq.is_none() => {
                            pair.eq = Some(at);
                            prefix = false;
                        }
                        b'?' if prefix => {
                            start = at + 1;
                            pair = Pair::new(start);
                            prefix = false;
                        }
                        b'%' | b'+' | ..0x20 | 0x7f if pair.eq.is_none() => {
                            pair.name_dirty = true;
                        }
                        b'%' | b'+' | ..0x20 | 0x7f => pair.value_dirty = true,
                        // A second `=`, a later `?`, or a plain byte the mask lets through.
                        _ => {}
                    }
                }
                if let Some(end) = end {
                    break end;
                }
                i += 1;
            };
            Ok((start, end, high & HI == 0))
        }
    }

    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    /// Eight `a`s: padding past the end of the input, a byte nothing looks for.
    const PAD: u64 = LO * 0x61;

    /// The eight bytes of `bytes` from `at` as a little-endian word, padded with `a` past
    /// the end, and how many of them are real; `None` at the end.
    #[inline(always)]
    fn load_word(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
        let rest = bytes.get(at..).filter(|r| !r.is_empty())?;
        if let Some(chunk) = rest.first_chunk::<8>() {
            return Some((u64::from_le_bytes(*chunk), 8));
        }
        let n = rest.len(); // 1..=7
        let word = match bytes.last_chunk::<8>() {
            // The last eight bytes, shifted down past the ones already seen: no copy loop.
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - n)),
            None => rest.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b)),
        };
        Some((word | (PAD << (8 * n)), n))
    }

    /// The high bit of every byte of `word` that is one of `needles` (ASCII). Exact per
    /// byte: nothing carries from one byte to the next, so the bits can be taken one by one.
    #[inline(always)]
    fn byte_mask<const N: usize>(word: u64, needles: [u8; N]) -> u64 {
        let low = word & LOW7;
        // Per byte, `x + 0x7f` (x ≤ 0x7f) has its high bit set iff x ≠ 0: `keep` keeps a
        // byte's high bit while the byte is none of those looked for.
        let mut keep = HI;
        for needle in needles {
            keep &= (low ^ (LO * u64::from(needle))) + LOW7;
        }
        // Bytes of 0x80 and above are none of them.
        !(keep | word) & HI
    }

    /// `PAD` with its first byte turned into `#`: XORed in, it marks the end of the input.
    const PAD_TO_HASH: u64 = (b'a' ^ b'#') as u64;

    /// Per byte of `low` (a word with every high bit clear), the high bit set iff the byte
    /// is at least `,` and not 0x7f: `low + 0x54` reaches 0x80 iff low ≥ 0x2c, and
    /// `low + 1` iff low = 0x7f; nothing carries out of a byte.
    #[inline(always)]
    fn from_comma(low: u64) -> u64 {
        (low + LO * u64::from(0x80 - b',')) & !(low + LO)
    }

    /// The high bit of every byte of `word` that [`decode`] looks at: `%`, `+` and control
    /// bytes, and (cheaper than leaving them out) the other bytes below `,`. Exact per
    /// byte.
    #[inline(always)]
    fn decode_mask(word: u64) -> u64 {
        !(from_comma(word & LOW7) | word) & HI
    }

    /// The high bit of every byte of `word` that [`parse_callback`]'s scan looks at: `&`,
    /// `=`, `%`, `+`, `#`, `?` and control bytes, and (cheaper than leaving them out) the
    /// other bytes below `,`: space, `!`, `"`, `$`, `'`, `(`, `)` and `*`. Exact per byte.
    #[inline(always)]
    pub(super) fn special_mask(word: u64) -> u64 {
        let low = word & LOW7;
        // `=` (0x3d) and `?` (0x3f) differ in one bit: `(low | 2) ^ 0x3f` is zero for both
        // and only for them, and `+ 0x7f` sets the high bit of every other byte.
        let not_eq_q = ((low | (LO * 2)) ^ (LO * u64::from(b'?'))) + LOW7;
        !((from_comma(low) & not_eq_q) | word) & HI
    }

    /// The index of the first byte of `bytes[from..]` that is one of `needles`, eight bytes
    /// at a time.
    #[inline(always)]
    pub(super) fn find_any<const N: usize>(
        bytes: &[u8],
        from: usize,
        needles: [u8; N],
    ) -> Option<usize> {
        let mut at = from;
        while let Some((word, _)) = load_word(bytes, at) {
            let mask = byte_mask(word, needles);
            if mask != 0 {
                return Some(at + (mask.trailing_zeros() / 8) as usize);
            }
            at += 8;
        }
        None
    }

    /// [`Codec::decode`] eight bytes at a time between escapes: `+` is a space, `%XX` a
    /// byte; a bad escape, a control byte or non-UTF-8 output is an error.
    pub(super) fn decode<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut i = 0;
        let mut n = 0;
        while let Some((word, len)) = load_word(raw, i) {
            // Fast path, with room for eight more bytes: copy the next eight raw bytes
            // (fewer at the end), keep those before the first one that needs a look.
            if let Some(dst) = out.get_mut(n..).and_then(<[u8]>::first_chunk_mut::<8>) {
                *dst = word.to_le_bytes();
                // `%`, `+`, control bytes and a few plain ones (decoded as themselves below).
                let mask = decode_mask(word);
                if mask == 0 {
                    i += len;
                    n += len;
                    continue;
                }
                // The padding is none of those bytes, so `clean < len`.
                let clean = (mask.trailing_zeros() / 8) as usize;
                i += clean;
                n += clean;
            }
            // One byte or escape, exactly as `form_decode` takes it; again while escapes
            // follow each other (`%2F%2F`), without going back to the fast path.
            while let Some(&b) = raw.get(i) {
                let b = match b {
                    b'+' => b' ',
                    b'%' => {
                        let hi = raw.get(i + 1).map_or(NOT_HEX, |&c| HEX[usize::from(c)]);
                        let lo = raw.get(i + 2).map_or(NOT_HEX, |&c| HEX[usize::from(c)]);
                        if (hi | lo) & NOT_HEX != 0 {
                            return Err(InvalidMessage::BadPercentEncoding.into());
                        }
                        i += 2;
                        (hi << 4) | lo
                    }
                    b => b,
                };
                if b < 0x20 || b == 0x7f {
                    return Err(InvalidMessage::ControlCharacter.into());
                }
                match out.get_mut(n) {
                    Some(slot) => *slot = b,
                    // The caller reports the size it needs.
                    None => {
                        return Err(Error::BufferTooSmall {
                            required: Len::new(raw.len()),
                        });
                    }
                }
                n += 1;
                i += 1;
                if raw.get(i) != Some(&b'%') {
                    break;
                }
            }
        }
        let decoded = out.get(..n).unwrap_or_default();
        core::str::from_utf8(decoded).map_err(|_| InvalidMessage::NotUtf8.into())
    }

    /// Marks a byte that is not a hex digit in [`HEX`].
    const NOT_HEX: u8 = 0x80;

    /// The value of every hex digit; [`NOT_HEX`] for every other byte.
    const HEX: [u8; 256] = {
        let mut t = [NOT_HEX; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };

    /// [`Codec::param`]: by the name's length first, then its bytes (compiled to a few
    /// word compares).
    #[inline]
    pub(super) fn from_name(name: &[u8]) -> Param {
        match (name.len(), name) {
            (3, b"iss") => Param::Iss,
            (4, b"code") => Param::Code,
            (4, b"mode") => Param::Mode,
            (5, b"state") => Param::State,
            (5, b"error") => Param::Error,
            (7, b"referer") => Param::Referer,
            (8, b"id_token") => Param::IdToken,
            (8, b"response") => Param::Response,
            (9, b"error_uri") => Param::ErrorUri,
            (9, b"client_id") => Param::ClientId,
            (10, b"token_type") => Param::TokenType,
            (11, b"from_widget") => Param::FromWidget,
            (12, b"access_token") => Param::AccessToken,
            (17, b"error_description") => Param::ErrorDescription,
            _ => Param::Other,
        }
    }
}

/// [`parse_callback`] for targets other than 64-bit ones (firmware): byte by byte, for
/// size; there the 64-bit words of `words` would be emulated with register pairs anyway.
/// The same results and the same first error as `words` on every input (tests build
/// both and compare them with each other and with a reference parser).
#[cfg(any(not(target_pointer_width = "64"), test))]
mod bytes {
    use super::*;
    use crate::encode::decode;

    /// The parameter called `name` (decoded): a look-up in [`NAMES`].
    pub(super) fn param(name: &[u8]) -> Param {
        let mut i = 0;
        while let Some(&p) = ALL.get(i) {
            if p.name().as_bytes() == name {
                return p;
            }
            i += 1;
        }
        Param::Other
    }

    /// [`parse_callback`], byte by byte: the query first, its length and UTF-8, then its
    /// pairs. (Left to inline: out of line it was 88 bytes larger in the firmware probe.)
    pub(super) fn parse<'b>(query: &'b [u8], scratch: &'b mut [u8]) -> Result<Callback<'b>, Error> {
        let q = query_part(query);
        if q.len() > MAX_CALLBACK_LEN {
            return Err(Error::CapacityExceeded {
                what: Capacity::Callback,
                limit: crate::error::limit(MAX_CALLBACK_LEN),
            });
        }
        if core::str::from_utf8(q).is_err() {
            return Err(InvalidMessage::NotUtf8.into());
        }
        let mut params = Params::default();
        let mut rest = scratch;
        for pair in q.split(|&b| b == b'&') {
            take(&mut params, &mut rest, pair, q.len())?;
        }
        params.finish()
    }

    /// A byte that makes a name or value need decoding: `%`, `+` or a control byte.
    fn dirty(b: &u8) -> bool {
        matches!(b, b'%' | b'+' | ..0x20 | 0x7f)
    }

    /// Takes one `name=value` pair of a query `query_len` bytes long, with the same results
    /// and the same first error as the 64-bit `Parser::pair`.
    #[inline(always)]
    fn take<'b>(
        p: &mut Params<'b>,
        rest: &mut &'b mut [u8],
        pair: &'b [u8],
        query_len: usize,
    ) -> Result<(), Error> {
        // An empty pair needs no test of its own: its empty name is `Other`, whose value,
        // empty too, is ignored.
        let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (
                pair.get(..eq).unwrap_or_default(),
                pair.get(eq + 1..).unwrap_or_default(),
            ),
            None => (pair, &[][..]),
        };
        let name = if raw_name.iter().any(dirty) {
            // Not a known name as written; it may be an escaped one (`%63ode`).
            decode(raw_name, rest, query_len)?.as_bytes()
        } else {
            raw_name
        };
        let param = param(name);
        if param > Param::Other {
            return Err(InvalidMessage::Unexpected(param.id()).into());
        }
        // A bit per parameter seen, kept ones included; `Other` is never a duplicate.
        let bit = 1 << param as u32;
        if p.seen & bit != 0 {
            return Err(InvalidMessage::Duplicate(param.id()).into());
        }
        p.seen |= bit & !(1 << Param::Other as u32);
        let slot = p.values.get_mut(param as usize);
        let len = if !raw_value.iter().any(dirty) {
            // The common case: the value decodes to itself; borrow it. (Its bounds are at
            // ASCII bytes of a UTF-8 query, so it is UTF-8.)
            if let Some(slot) = slot {
                *slot = Some(core::str::from_utf8(raw_value).unwrap_or_default());
            }
            raw_value.len()
        } else if let Some(slot) = slot {
            // A decoded value is never longer than its raw form: reserve that much.
            let reserve = raw_value.len().min(rest.len());
            let (head, tail) = core::mem::take(rest).split_at_mut(reserve);
            *rest = tail;
            let v = decode(raw_value, head, query_len)?;
            *slot = Some(v);
            v.len()
        } else {
            // `from_widget`, `mode` or another name: checked (CB-2), then ignored.
            decode(raw_value, rest, query_len)?.len()
        };
        check_param_len(len)
    }

    /// The query of `input`: fragment dropped, then a `…?` URL prefix (one without `=` or
    /// `&`) skipped.
    pub(super) fn query_part(input: &[u8]) -> &[u8] {
        let end = input.iter().position(|&b| b == b'#').unwrap_or(input.len());
        let q = input.get(..end).unwrap_or_default();
        // The first `?`, `=` or `&`: if it is a `?`, what comes before is a URL prefix.
        match q.iter().position(|&b| matches!(b, b'?' | b'=' | b'&')) {
            Some(i) if q.get(i) == Some(&b'?') => q.get(i + 1..).unwrap_or_default(),
            _ => q,
        }
    }
}

/// The parameters [`parse_callback`] knows, in the order of [`NAMES`]: the first eight are
/// kept (in [`Params::values`]), `from_widget` and `mode` only noted, `Other` (every other
/// name) ignored, and the implicit/hybrid leftovers after it refused (CB-6). The kept ones
/// are in the field order of [`ErrorCallback`] (the first five) and [`CodeCallback`] (five
/// from `state`): both are `repr(C)`, so [`Params::finish`] copies runs of `values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Param {
    Error,
    ErrorDescription,
    ErrorUri,
    State,
    Iss,
    Code,
    Referer,
    ClientId,
    FromWidget,
    Mode,
    Other,
    AccessToken,
    IdToken,
    TokenType,
    Response,
}

/// Every [`Param`], in order.
#[cfg(any(not(target_pointer_width = "64"), test))]
const ALL: [Param; 15] = [
    Param::Error,
    Param::ErrorDescription,
    Param::ErrorUri,
    Param::State,
    Param::Iss,
    Param::Code,
    Param::Referer,
    Param::ClientId,
    Param::FromWidget,
    Param::Mode,
    Param::Other,
    Param::AccessToken,
    Param::IdToken,
    Param::TokenType,
    Param::Response,
];

/// The name of every [`Param`], in order (`Other` has none).
#[cfg(any(not(target_pointer_width = "64"), test))]
const NAMES: [&str; 15] = [
    "error",
    "error_description",
    "error_uri",
    "state",
    "iss",
    "code",
    "referer",
    "client_id",
    "from_widget",
    "mode",
    "",
    "access_token",
    "id_token",
    "token_type",
    "response",
];

/// [`NAMES`] as errors name them (`Other` is never named: it is never refused and never a
/// duplicate; its slot holds a placeholder).
// Indexed by `Param as usize`: one entry per variant, checked at compile time.
const _: () = assert!(Param::Response as usize + 1 == IDS.len());
const IDS: [Name; 15] = [
    Name::Error,
    Name::ErrorDescription,
    Name::ErrorUri,
    Name::State,
    Name::Iss,
    Name::Code,
    Name::Referer,
    Name::ClientId,
    Name::FromWidget,
    Name::Mode,
    Name::Code,
    Name::AccessToken,
    Name::IdToken,
    Name::TokenType,
    Name::Response,
];

impl Param {
    /// The parameter's name.
    #[cfg(any(not(target_pointer_width = "64"), test))]
    fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The parameter as errors name it.
    fn id(self) -> Name {
        IDS[self as usize]
    }
}

/// The parameters seen so far.
#[derive(Default)]
struct Params<'b> {
    /// The values of the kept parameters, by [`Param`].
    values: [Option<&'b str>; 8],
    /// A bit per [`Param`] seen but for `Other`: the ones not kept (`words`), or every one
    /// (`bytes`, which tells duplicates by it; a kept one is seen iff its value is set).
    seen: u16,
}

impl<'b> Params<'b> {
    fn finish(self) -> Result<Callback<'b>, Error> {
        let [
            error,
            description,
            uri,
            state,
            iss,
            code,
            referer,
            client_id,
        ] = self.values;
        // One error site for the four ways to fail.
        let failed = match (code, error) {
            (Some(code), None) if !code.is_empty() => {
                return Ok(Callback::Code(CodeCallback {
                    code: AuthorizationCode::new(code),
                    state,
                    iss,
                    referer,
                    client_id,
                    from_widget: self.seen & (1 << Param::FromWidget as u32) != 0,
                }));
            }
            (None, Some(error)) if !error.is_empty() => {
                return Ok(Callback::Error(ErrorCallback {
                    error,
                    description,
                    uri,
                    state,
                    iss,
                }));
            }
            (Some(_), Some(_)) => InvalidMessage::CodeAndError,
            (Some(_), None) => InvalidMessage::Empty(Name::Code),
            (None, Some(_)) => InvalidMessage::Empty(Name::Error),
            (None, None) => InvalidMessage::Missing(Name::Code),
        };
        Err(failed.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;
    use crate::encode::form_decode;

    /// The names errors use are the names the parser matches.
    #[test]
    fn error_names_match_the_param_names() {
        for p in ALL {
            if p != Param::Other {
                assert_eq!(p.id().as_str(), p.name(), "{p:?}");
            }
        }
    }

    #[cfg(feature = "kommo")]
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
        fn find_any_matches_position(
            h in proptest::collection::vec(0u8..4, 0..40),
            n in 0u8..4,
            from in 0usize..44,
        ) {
            let want = h.get(from..).and_then(|t| t.iter().position(|&b| b == n)).map(|i| from + i);
            proptest::prop_assert_eq!(words::find_any(&h, from, [n]), want);
            let want = h.iter().position(|&b| b == n || b == 3);
            proptest::prop_assert_eq!(words::find_any(&h, 0, [n, 3]), want);
        }

        #[test]
        fn decode_agrees_with_form_decode(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(b"%+aF0=".to_vec()),
                ],
                0..64,
            ),
            out_len in 0usize..70,
        ) {
            /// The core's byte-at-a-time decoder, which reports the `required` it is given.
            fn core_decode<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
                crate::encode::decode(raw, out, 0)
            }
            // Both decoders: eight bytes at a time, and byte by byte (the core's one).
            for (decode, sized) in [
                (words::decode as for<'a> fn(&'a [u8], &'a mut [u8]) -> Result<&'a str, Error>, true),
                (core_decode, false),
            ] {
                let mut a = vec![0u8; out_len];
                let mut b = vec![0u8; out_len];
                let ours = decode(&raw, &mut a).map(str::to_owned);
                let theirs = form_decode(&raw, &mut b).map(str::to_owned);
                // Only the size a too-small buffer reports differs (the caller replaces it).
                match (ours, theirs) {
                    (
                        Err(Error::BufferTooSmall { required }),
                        Err(Error::BufferTooSmall { .. }),
                    ) => {
                        proptest::prop_assert!(!sized || required > crate::Len::new(out_len));
                    }
                    (ours, theirs) => proptest::prop_assert_eq!(ours, theirs),
                }
            }
        }
    }

    /// The previous, several-pass `parse_callback`, kept as the reference the one-pass scan
    /// must agree with on every input (results and errors alike).
    fn reference<'b>(query: &'b [u8], scratch: &'b mut [u8]) -> Result<Callback<'b>, Error> {
        fn split_once(s: &str, delimiter: u8) -> Option<(&str, &str)> {
            let i = s.bytes().position(|b| b == delimiter)?;
            Some((s.get(..i)?, s.get(i + 1..)?))
        }
        fn is_plain(raw: &str) -> bool {
            raw.bytes()
                .all(|b| b >= 0x20 && b != 0x7f && b != b'%' && b != b'+')
        }
        let q = reference_query_part(query);
        if q.len() > MAX_CALLBACK_LEN {
            return Err(Error::CapacityExceeded {
                what: Capacity::Callback,
                limit: MAX_CALLBACK_LEN as u16,
            });
        }
        let q = core::str::from_utf8(q).map_err(|_| InvalidMessage::NotUtf8)?;
        let too_small = |e: Error| match e {
            Error::BufferTooSmall { .. } => Error::BufferTooSmall {
                required: crate::Len::new(q.len()),
            },
            e => e,
        };
        let mut rest: &'b mut [u8] = scratch;
        let mut p = Params::default();
        let mut seen = std::vec::Vec::new();
        for pair in q.split('&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = split_once(pair, b'=').unwrap_or((pair, ""));
            let param = match words::from_name(raw_name.as_bytes()) {
                Param::Other if !is_plain(raw_name) => words::from_name(
                    form_decode(raw_name.as_bytes(), rest)
                        .map_err(too_small)?
                        .as_bytes(),
                ),
                param => param,
            };
            if matches!(
                param,
                Param::AccessToken | Param::IdToken | Param::TokenType | Param::Response
            ) {
                return Err(InvalidMessage::Unexpected(param.id()).into());
            }
            if param != Param::Other {
                if seen.contains(&param) {
                    return Err(InvalidMessage::Duplicate(param.id()).into());
                }
                seen.push(param);
            }
            let slot = p.values.get_mut(param as usize);
            let Some(slot) = slot else {
                if is_plain(raw_value) {
                    check_param_len(raw_value.len())?;
                } else {
                    let v = form_decode(raw_value.as_bytes(), rest).map_err(too_small)?;
                    check_param_len(v.len())?;
                }
                continue;
            };
            let v = if is_plain(raw_value) {
                raw_value
            } else {
                let reserve = raw_value.len().min(rest.len());
                let (head, tail) = core::mem::take(&mut rest).split_at_mut(reserve);
                rest = tail;
                form_decode(raw_value.as_bytes(), head).map_err(too_small)?
            };
            check_param_len(v.len())?;
            *slot = Some(v);
        }
        p.seen = seen.iter().fold(0, |s, &q| s | 1 << q as u32);
        p.finish()
    }

    /// The previous `query_part`, one search per delimiter.
    fn reference_query_part(input: &[u8]) -> &[u8] {
        let find = |s: &[u8], c: u8| s.iter().position(|&b| b == c);
        let s = match find(input, b'#') {
            Some(end) => &input[..end],
            None => input,
        };
        match find(s, b'?') {
            Some(i) if find(&s[..i], b'=').is_none() && find(&s[..i], b'&').is_none() => {
                &s[i + 1..]
            }
            _ => s,
        }
    }

    /// The three parsers on `q` with a scratch of `scratch_len` bytes: eight bytes at a
    /// time, byte by byte and the reference.
    fn agree(q: &[u8], scratch_len: usize) {
        let mut a = vec![0u8; scratch_len];
        let mut b = vec![0u8; scratch_len];
        let mut c = vec![0u8; scratch_len];
        let want = reference(q, &mut c);
        assert_eq!(words::parse(q, &mut a), want, "{q:?}");
        assert_eq!(bytes::parse(q, &mut b), want, "{q:?}");
    }

    fn is_special(b: u8) -> bool {
        // `&`, `=`, `%`, `+`, `#`, `?` and control bytes, and the other bytes below `,`.
        b < b',' || matches!(b, 0x7f | b'=' | b'?')
    }

    #[test]
    fn special_mask_is_exact_per_byte() {
        // Every byte value in every position, next to special and plain neighbours (a
        // borrow or carry between bytes would show as a wrong bit).
        for b in 0..=255u8 {
            for fill in [0u8, b'&', b'a', 0x80, 0xff, 0x1f, 0x20] {
                for pos in 0..8 {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    let mask = words::special_mask(u64::from_le_bytes(w));
                    for (i, &c) in w.iter().enumerate() {
                        let bit = mask >> (8 * i) & 0xff;
                        assert_eq!(bit == 0x80, is_special(c), "{w:?} at {i}");
                        assert!(bit == 0 || bit == 0x80);
                    }
                }
            }
        }
    }

    #[test]
    fn s_cb_1_one_pass_scan_agrees_with_reference_on_edge_cases() {
        for q in [
            &b"code=a&code=b"[..],
            b"code=a&%63ode=b",
            b"%63ode=a&state=s",
            b"c%6fde=a&code=b",
            b"code=a&error=e",
            b"code=&state=s",
            b"=&&=x&code=1",
            b"code=a=b&state==",
            b"code=a%2&state=s",
            b"code=a%zz",
            b"code=a%00",
            b"code=a\x01b",
            b"co\x7fde=a",
            b"code=%FF",
            b"code=a+b%20c&state=x+y",
            b"code=1234567&state=8",
            b"code=12345678&state=",
            b"code=123456789",
            b"from_widget&from_widget=1&code=x",
            b"mode=a&mode=b&code=x",
            b"code=x&access_token=t",
            b"acc%65ss_token=t&code=x",
            b"https://a/cb?code=x&state=y#z&code=w",
            b"?code=x?y",
            b"a?b?code=1",
            b"a#b?code=1",
            b"co\x01de%zz+?code=1",
            b"a=b?code=1",
            b"a&b?code=1",
            b"\xff?code=1#\xfe",
            b"code=1#\x00",
            b"?",
            b"#",
            b"??code=1",
            b"code=\xc3\xa9&state=\xe2\x82\xac",
            b"code=\xc3",
            b"",
            b"&",
            b"code",
        ] {
            for scratch in [0, 1, 2, 4, q.len()] {
                agree(q, scratch);
            }
        }
        let long = format!("code={}", "a".repeat(MAX_PARAM_LEN));
        agree(long.as_bytes(), 0);
        let long = format!("x={}&code=a", "%41".repeat(MAX_PARAM_LEN + 1));
        agree(long.as_bytes(), long.len());
        let long = format!("code={}", "a".repeat(MAX_CALLBACK_LEN));
        agree(long.as_bytes(), 0);
        let long = format!("code=1#{}", "a".repeat(MAX_CALLBACK_LEN));
        agree(long.as_bytes(), 0);
        let long = format!("https://a/{}?code=1", "a".repeat(MAX_CALLBACK_LEN));
        agree(long.as_bytes(), 0);
        let long = format!("https://a/?code=%41&x={}", "a".repeat(MAX_CALLBACK_LEN));
        agree(long.as_bytes(), 3);
    }

    proptest::proptest! {
        #[test]
        fn one_pass_scan_agrees_with_reference_on_bytes(
            q in proptest::collection::vec(proptest::num::u8::ANY, 0..96),
            scratch in 0usize..100,
        ) {
            agree(&q, scratch);
        }

        #[test]
        fn one_pass_scan_agrees_with_reference_on_queries(
            q in "((%63ode|code|state|iss|error|mode|from_widget|access_token|x|%|\\+|=|&|%4|%41|%0a|%C3%A9|\u{e9}|\u{7f}|\\?|#|[a-z]{1,9})){0,24}",
            scratch in 0usize..100,
        ) {
            agree(q.as_bytes(), scratch);
        }
    }

    #[test]
    fn query_part_strips_url_prefix_and_fragment_only() {
        for query_part in [words::query_part, bytes::query_part] {
            assert_eq!(query_part(b"https://a/cb?x=1#y"), b"x=1");
            assert_eq!(query_part(b"?x=1"), b"x=1");
            assert_eq!(query_part(b"x=1?2"), b"x=1?2");
            assert_eq!(query_part(b"a&b?x=1"), b"a&b?x=1");
            assert_eq!(query_part(b"#x=1"), b"");
            assert_eq!(query_part(b""), b"");
        }
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn parse_callback_is_the_words_parser_on_64_bit() {
        let q = b"code=a%2F&state=s";
        let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
        assert_eq!(parse_callback(q, &mut a), words::parse(q, &mut b));
    }

    #[test]
    fn param_lookups_agree() {
        // `bytes` takes an empty pair like any other: its empty name must be `Other`.
        assert_eq!(bytes::param(b""), Param::Other);
        assert_eq!(words::from_name(b""), Param::Other);
        // Every name, and every name one byte off (shorter, longer, one byte changed).
        for (i, p) in ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i);
            let name = p.name().as_bytes();
            assert_eq!(words::from_name(name), p, "{name:?}");
            assert_eq!(bytes::param(name), p, "{name:?}");
            let mut near = vec![name[..name.len().saturating_sub(1)].to_vec()];
            near.push([name, b"x"].concat());
            for k in 0..name.len() {
                let mut n = name.to_vec();
                n[k] ^= 0x20;
                near.push(n);
            }
            for n in near {
                assert_eq!(words::from_name(&n), bytes::param(&n), "{n:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn query_parts_agree(
            q in proptest::collection::vec(proptest::sample::select(b"?#=&a".to_vec()), 0..24),
        ) {
            let want = reference_query_part(&q);
            proptest::prop_assert_eq!(words::query_part(&q), want);
            proptest::prop_assert_eq!(bytes::query_part(&q), want);
        }

        #[test]
        fn param_lookups_agree_on_bytes(name in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(b"_acdeiknorstw".to_vec()),
            ],
            0..20,
        )) {
            proptest::prop_assert_eq!(words::from_name(&name), bytes::param(&name));
        }
    }
}
