//! The one error type of the core, grouped by who is at fault.
//!
//! Nothing here allocates and nothing here carries secret bytes (SEC-1): an error names
//! *what* was wrong (a field, a parameter, a limit), never the value that was wrong.

use core::fmt;

/// Everything that can go wrong in the core.
///
/// The variants are grouped by blame, so a caller can decide what to do without matching
/// every detail:
/// - [`Error::InvalidMessage`]: bytes from an untrusted party (a callback, a postMessage, a
///   server body) are malformed. Show an error; do not retry with the same input.
/// - [`Error::CheckFailed`]: well-formed input failed a security check (state, issuer,
///   referer). Treat it as an attack: the pending request is discarded.
/// - [`Error::ServerMisbehaved`]: the server broke the protocol (a redirect on the token
///   endpoint, a token type we cannot use, a missing field).
/// - [`Error::ServerError`]: the server answered with an OAuth error code.
/// - [`Error::ApiMisuse`]: the caller used the API wrongly. Never reachable from untrusted
///   input alone.
/// - [`Error::BufferTooSmall`]: a caller-supplied buffer is too small; nothing was written.
/// - [`Error::CapacityExceeded`]: input exceeded a documented capacity of the core.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed input from an untrusted party.
    InvalidMessage(InvalidMessage),
    /// Well-formed input that failed a security check.
    CheckFailed(CheckFailed),
    /// The server did something the protocol does not allow.
    ServerMisbehaved(ServerMisbehaved),
    /// The server answered with an OAuth 2.0 error code (RFC 6749 §4.1.2.1, §5.2, RFC 8628).
    ServerError(ServerError),
    /// The API was called in a way it does not allow.
    ApiMisuse(ApiMisuse),
    /// The output buffer is too small; nothing was written.
    BufferTooSmall {
        /// The number of bytes the output needs.
        required: usize,
    },
    /// Not a failure: the access token is due for refresh. Poll the session, which sends
    /// the refresh, then ask again.
    RefreshDue,
    /// An input exceeded one of the core's documented capacities.
    CapacityExceeded {
        /// What was too long or too many.
        what: Capacity,
        /// The documented limit it exceeded.
        limit: usize,
    },
}

/// What was malformed in untrusted input.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidMessage {
    /// A `%` escape is not followed by two hex digits.
    BadPercentEncoding,
    /// Decoded bytes are not UTF-8.
    NotUtf8,
    /// A NUL or other control byte where none is allowed.
    ControlCharacter,
    /// A parameter or field appeared more than once.
    Duplicate(&'static str),
    /// A required parameter or field is absent.
    Missing(&'static str),
    /// A parameter or field is present but empty.
    Empty(&'static str),
    /// A parameter that must not be present (e.g. an implicit-flow `access_token` on a
    /// code callback, CB-6).
    Unexpected(&'static str),
    /// Both `code` and `error` on one callback (CB-2).
    CodeAndError,
    /// A field holds a value of the wrong shape (named).
    BadValue(&'static str),
    /// The body is not the JSON this message needs.
    BadJson,
    /// A JSON string holds an invalid escape sequence.
    BadJsonEscape,
    /// A JSON number does not fit, or is negative, or is not an integer.
    NumberOutOfRange(&'static str),
    /// A `message` `type` other than the one expected.
    WrongMessageType,
    /// A PKCE code verifier of the wrong length or with characters outside `[A-Za-z0-9-._~]`.
    BadCodeVerifier,
    /// A snapshot is truncated, corrupt or not ours.
    BadSnapshot,
    /// A snapshot written by a newer (or unknown) format version.
    SnapshotVersion,
}

/// Which security check failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFailed {
    /// The callback or reply carries no `state` (or an empty one) though one was sent.
    StateMissing,
    /// The returned `state` differs from the one sent.
    StateMismatch,
    /// An issuer is expected and the callback has no `iss` (RFC 9207, CB-3).
    IssuerMissing,
    /// The callback's `iss` differs from the expected issuer (mix-up attack, CB-3).
    IssuerMismatch,
    /// A Kommo `referer` is not a bare DNS host name (REF-1).
    RefererMalformed,
    /// A Kommo `referer` does not end with an allowlisted suffix (REF-2).
    RefererNotAllowed,
    /// A callback or reply arrived with no request pending (STATE-5, PM-3).
    NothingPending,
    /// A URL is not `https://` and not a loopback `http://` URL (TOK-1).
    InsecureUrl,
    /// A snapshot was written for another client or profile.
    ForeignSnapshot,
}

/// How the server broke the protocol.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMisbehaved {
    /// The server answered with an HTTP redirect where none may be followed (TOK-6).
    Redirect,
    /// An HTTP status the protocol does not define for this endpoint.
    UnexpectedStatus(u16),
    /// The server's `token_type` is not `Bearer`.
    UnsupportedTokenType,
    /// A success response without `access_token` (or another required field, named).
    MissingField(&'static str),
    /// A `200 OK` body with an `error` member (TOK-4).
    ErrorInSuccess,
    /// The response body is larger than [`crate::MAX_RESPONSE_LEN`] (TOK-5).
    ResponseTooLarge,
    /// The response body is not valid JSON of the expected shape.
    MalformedResponse,
    /// No response came (the adapter reported a timeout or a failed connection).
    NoResponse,
}

/// An OAuth 2.0 error code sent by a server, without its description (the parsed response
/// types keep the description; see [`crate::token::ErrorResponse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerError {
    /// The error code.
    pub code: ErrorKind,
    /// The HTTP status it came with (0 for errors delivered on a redirect or a message).
    pub status: u16,
}

/// An OAuth 2.0 error code, the registered values plus [`ErrorKind::Other`].
///
/// The parsed response types carry [`crate::token::ErrorCode`], which keeps the text of an
/// unknown code; this is its copyable kind.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`
    AccessDenied,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `server_error`
    ServerError,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// `authorization_pending` (RFC 8628)
    AuthorizationPending,
    /// `slow_down` (RFC 8628)
    SlowDown,
    /// `expired_token` (RFC 8628)
    ExpiredToken,
    /// `unsupported_token_type` (RFC 7009)
    UnsupportedTokenType,
    /// `rate_limit_exceeded` (CRM forgot-password)
    RateLimitExceeded,
    /// Any other value.
    Other,
}

impl ErrorKind {
    /// The wire name of a registered code (`"other"` for [`ErrorKind::Other`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::Other => "other",
        }
    }

    /// The kind of a wire error code; unknown codes are [`ErrorKind::Other`].
    pub fn from_code(code: &str) -> Self {
        // A scan over the registered kinds' names: smaller than a `match` on the strings.
        const REGISTERED: [ErrorKind; 15] = [
            ErrorKind::InvalidRequest,
            ErrorKind::InvalidClient,
            ErrorKind::InvalidGrant,
            ErrorKind::UnauthorizedClient,
            ErrorKind::UnsupportedGrantType,
            ErrorKind::InvalidScope,
            ErrorKind::AccessDenied,
            ErrorKind::UnsupportedResponseType,
            ErrorKind::ServerError,
            ErrorKind::TemporarilyUnavailable,
            ErrorKind::AuthorizationPending,
            ErrorKind::SlowDown,
            ErrorKind::ExpiredToken,
            ErrorKind::UnsupportedTokenType,
            ErrorKind::RateLimitExceeded,
        ];
        REGISTERED
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or(Self::Other)
    }
}

/// How the API was misused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMisuse {
    /// Fewer entropy bytes than the operation needs (named minimum in the docs).
    NotEnoughEntropy {
        /// Bytes needed.
        required: usize,
    },
    /// The call is not valid in the session's current state.
    WrongState,
    /// The session was poisoned by an earlier error; start a new one.
    Poisoned,
    /// A configuration value is invalid (named).
    BadConfig(&'static str),
    /// The profile has no endpoint for this operation (named).
    NoEndpoint(&'static str),
    /// The operation needs a client secret and none is configured.
    NoClientSecret,
    /// `"*"` or another non-exact origin given as a postMessage target (PM-1).
    WildcardOrigin,
    /// The requested feature is compiled out (named feature).
    FeatureDisabled(&'static str),
}

/// Which documented capacity was exceeded (the constants are in the crate root).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// A callback query ([`crate::MAX_CALLBACK_LEN`]).
    Callback,
    /// A single callback parameter value after decoding ([`crate::MAX_PARAM_LEN`]).
    Parameter,
    /// A server response body ([`crate::MAX_RESPONSE_LEN`]).
    Response,
    /// A token or code ([`crate::MAX_TOKEN_LEN`]).
    Token,
    /// A URL ([`crate::MAX_URL_LEN`]).
    Url,
    /// A configuration string (client id, secret, scope, …).
    Config,
    /// The referer allowlist ([`crate::MAX_ALLOWLIST`]).
    Allowlist,
    /// Extra authorization parameters ([`crate::MAX_EXTRA_PARAMS`]).
    ExtraParams,
    /// A postMessage payload ([`crate::MAX_MESSAGE_LEN`]).
    Message,
    /// Entropy input longer than the operation uses.
    Entropy,
    /// JSON nesting deeper than [`crate::MAX_JSON_DEPTH`].
    JsonDepth,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMessage(m) => write!(f, "invalid message: {m}"),
            Self::CheckFailed(c) => write!(f, "security check failed: {c}"),
            Self::ServerMisbehaved(s) => write!(f, "server misbehaved: {s}"),
            Self::ServerError(e) => {
                write!(f, "the server answered `{}`", e.code.as_str())?;
                if e.status != 0 {
                    write!(f, " (HTTP {})", e.status)?;
                }
                f.write_str(match e.code {
                    ErrorKind::InvalidGrant => {
                        ": the code, refresh token or credentials are no longer valid; sign in again"
                    }
                    ErrorKind::InvalidClient => ": check the client id and secret",
                    ErrorKind::AccessDenied => ": the user or server declined the request",
                    ErrorKind::ExpiredToken => ": the device code expired; start again",
                    ErrorKind::SlowDown | ErrorKind::AuthorizationPending => {
                        ": keep polling at the interval"
                    }
                    ErrorKind::TemporarilyUnavailable | ErrorKind::ServerError => {
                        ": try again later"
                    }
                    _ => "",
                })
            }
            Self::ApiMisuse(m) => write!(f, "API misuse: {m}"),
            Self::BufferTooSmall { required } => write!(
                f,
                "output buffer too small: {required} bytes required; pass a larger buffer (nothing was written)"
            ),
            Self::RefreshDue => {
                f.write_str("the access token is due for refresh; poll the session to refresh it")
            }
            Self::CapacityExceeded { what, limit } => write!(
                f,
                "{what} exceeds the capacity of {limit} bytes (or items); the input was rejected, not truncated"
            ),
        }
    }
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPercentEncoding => f.write_str("a `%` is not followed by two hex digits"),
            Self::NotUtf8 => f.write_str("decoded text is not UTF-8"),
            Self::ControlCharacter => f.write_str("a NUL or control character is not allowed"),
            Self::Duplicate(n) => write!(f, "`{n}` appears more than once"),
            Self::Missing(n) => write!(f, "`{n}` is missing"),
            Self::Empty(n) => write!(f, "`{n}` is empty"),
            Self::Unexpected(n) => write!(f, "`{n}` must not be present here"),
            Self::CodeAndError => f.write_str("both `code` and `error` are present"),
            Self::BadValue(n) => write!(f, "`{n}` has a malformed value"),
            Self::BadJson => f.write_str("the body is not the expected JSON object"),
            Self::BadJsonEscape => f.write_str("a JSON string has an invalid escape sequence"),
            Self::NumberOutOfRange(n) => {
                write!(f, "`{n}` is not a non-negative integer in range")
            }
            Self::WrongMessageType => f.write_str("the message has an unexpected `type`"),
            Self::BadCodeVerifier => f.write_str(
                "a PKCE code verifier must be 43..=128 characters of [A-Za-z0-9-._~]",
            ),
            Self::BadSnapshot => {
                f.write_str("the snapshot is truncated or corrupt; sign in again")
            }
            Self::SnapshotVersion => f.write_str(
                "the snapshot was written by another format version; upgrade latchkey or sign in again",
            ),
        }
    }
}

impl fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StateMissing => {
                "the callback carries no `state`; it was not sent in answer to our request (discarded, start again)"
            }
            Self::StateMismatch => {
                "the callback's `state` does not match the request (possible CSRF; discarded, start again)"
            }
            Self::IssuerMissing => "the callback has no `iss` though an issuer is expected",
            Self::IssuerMismatch => {
                "the callback's `iss` is not the expected issuer (possible mix-up attack)"
            }
            Self::RefererMalformed => "the `referer` is not a bare DNS host name",
            Self::RefererNotAllowed => {
                "the `referer` host is not in the allowlist; add its suffix to the Kommo profile if it is yours"
            }
            Self::NothingPending => "no authorization request is pending; start one first",
            Self::InsecureUrl => {
                "the URL must be https:// (http:// only for 127.0.0.1, [::1] or localhost)"
            }
            Self::ForeignSnapshot => "the snapshot belongs to another client or profile",
        })
    }
}

impl fmt::Display for ServerMisbehaved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect => f.write_str(
                "the endpoint answered with a redirect, which is never followed (it could re-send secrets elsewhere)",
            ),
            Self::UnexpectedStatus(s) => write!(f, "unexpected HTTP status {s}"),
            Self::UnsupportedTokenType => f.write_str("`token_type` is not `Bearer`"),
            Self::MissingField(n) => write!(f, "the response has no `{n}`"),
            Self::ErrorInSuccess => f.write_str("a 200 response carries an `error` member"),
            Self::ResponseTooLarge => f.write_str("the response body exceeds the size cap"),
            Self::MalformedResponse => f.write_str("the response body is not the expected JSON"),
            Self::NoResponse => f.write_str(
                "no response came (timeout or connection failure); check the network and the server URL",
            ),
        }
    }
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEnoughEntropy { required } => {
                write!(f, "at least {required} bytes of CSPRNG entropy are needed")
            }
            Self::WrongState => {
                f.write_str("this call is not valid in the session's current state")
            }
            Self::Poisoned => {
                f.write_str("the session failed earlier and cannot continue; start a new one")
            }
            Self::BadConfig(n) => write!(f, "configuration value `{n}` is invalid"),
            Self::NoEndpoint(n) => write!(f, "the profile has no {n} endpoint configured"),
            Self::NoClientSecret => {
                f.write_str("this profile needs a client secret; configure one")
            }
            Self::WildcardOrigin => {
                f.write_str("postMessage needs an exact target origin; \"*\" is refused")
            }
            Self::FeatureDisabled(n) => write!(f, "enable the `{n}` feature to use this"),
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Callback => "the callback query",
            Self::Parameter => "a callback parameter",
            Self::Response => "the response body",
            Self::Token => "a token or code",
            Self::Url => "a URL",
            Self::Config => "a configuration value",
            Self::Allowlist => "the referer allowlist",
            Self::ExtraParams => "the extra parameters",
            Self::Message => "the postMessage payload",
            Self::Entropy => "the entropy input",
            Self::JsonDepth => "the JSON nesting depth",
        })
    }
}

impl core::error::Error for Error {}

impl From<InvalidMessage> for Error {
    fn from(m: InvalidMessage) -> Self {
        Self::InvalidMessage(m)
    }
}

impl From<CheckFailed> for Error {
    fn from(c: CheckFailed) -> Self {
        Self::CheckFailed(c)
    }
}

impl From<ServerMisbehaved> for Error {
    fn from(s: ServerMisbehaved) -> Self {
        Self::ServerMisbehaved(s)
    }
}

impl From<ApiMisuse> for Error {
    fn from(m: ApiMisuse) -> Self {
        Self::ApiMisuse(m)
    }
}
