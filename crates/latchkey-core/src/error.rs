//! The one error type of the core, grouped by who is at fault.
//!
//! Nothing here allocates and nothing here carries secret bytes (SEC-1): an error names
//! *what* was wrong (a field, a parameter, a limit), never the value that was wrong.

use core::fmt;

/// What an error names: a field or parameter of a message, a configuration setting, or an
/// operation a profile does not offer. Its `Display` (and `Debug`) is the text the error
/// messages quote, e.g. `code` or `revocation (Kommo has none)`.
///
/// One byte, not a `&'static str`, so that an [`Error`] is four bytes and a
/// `Result<(), Error>` comes back in a register on 32-bit targets.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `code`
    Code,
    /// `state`
    State,
    /// `iss`
    Iss,
    /// `referer`
    Referer,
    /// `error`
    Error,
    /// `error_description`
    ErrorDescription,
    /// `error_uri`
    ErrorUri,
    /// `client_id`
    ClientId,
    /// `from_widget`
    FromWidget,
    /// `mode`
    Mode,
    /// `access_token`
    AccessToken,
    /// `id_token`
    IdToken,
    /// `token_type`
    TokenType,
    /// `response`
    Response,
    /// `expires_in`
    ExpiresIn,
    /// `refresh_token`
    RefreshToken,
    /// `scope`
    Scope,
    /// `mfa_token`
    MfaToken,
    /// `mfa_secret`
    MfaSecret,
    /// `device_code`
    DeviceCode,
    /// `user_code`
    UserCode,
    /// `verification_uri`
    VerificationUri,
    /// `verification_uri_complete`
    VerificationUriComplete,
    /// `interval`
    Interval,
    /// `type`
    Type,
    /// `payload`
    Payload,
    /// `member`
    Member,
    /// `redirect_uri`
    RedirectUri,
    /// `client_secret`
    ClientSecret,
    /// `target_origin`
    TargetOrigin,
    /// `parent_origin`
    ParentOrigin,
    /// `portal`
    Portal,
    /// `username`
    Username,
    /// `password`
    Password,
    /// `otp_code`
    OtpCode,
    /// `endpoint URL`
    EndpointUrl,
    /// `revocation`
    Revocation,
    /// `device authorization`
    DeviceAuthorization,
    /// `issuer`
    Issuer,
    /// `client authentication`
    ClientAuthentication,
    /// `client credentials`
    ClientCredentials,
    /// `extra parameter name`
    ExtraParameterName,
    /// `extra parameter value`
    ExtraParameterValue,
    /// `referer suffix`
    RefererSuffix,
    /// `referer suffix must start with '.'`
    RefererSuffixWithoutDot,
    /// `referer suffix (Kommo only)`
    RefererSuffixKommoOnly,
    /// `referer (Kommo only)`
    RefererKommoOnly,
    /// `mode (Kommo only)`
    ModeKommoOnly,
    /// `consent URL (Kommo only)`
    ConsentUrlKommoOnly,
    /// `widget install (Kommo only)`
    WidgetInstallKommoOnly,
    /// `Kommo account with a non-Kommo profile`
    KommoAccountWithoutKommo,
    /// `Kommo token (needs a KommoAccount)`
    KommoTokenWithoutAccount,
    /// `revocation (Kommo has none)`
    RevocationNotKommo,
    /// `iframe flow (CRM only)`
    IframeFlowCrmOnly,
    /// `password grant (CRM only)`
    PasswordGrantCrmOnly,
    /// `forgot password (CRM only)`
    ForgotPasswordCrmOnly,
    /// `password grant and MFA (CRM only)`
    PasswordGrantAndMfaCrmOnly,
    /// `client credentials (RFC 6749 only)`
    ClientCredentialsRfc6749Only,
    /// `device authorization (RFC 6749 only)`
    DeviceAuthorizationRfc6749Only,
    /// `device grant (RFC 6749 only)`
    DeviceGrantRfc6749Only,
}

impl Name {
    /// The text the error messages quote.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::State => "state",
            Self::Iss => "iss",
            Self::Referer => "referer",
            Self::Error => "error",
            Self::ErrorDescription => "error_description",
            Self::ErrorUri => "error_uri",
            Self::ClientId => "client_id",
            Self::FromWidget => "from_widget",
            Self::Mode => "mode",
            Self::AccessToken => "access_token",
            Self::IdToken => "id_token",
            Self::TokenType => "token_type",
            Self::Response => "response",
            Self::ExpiresIn => "expires_in",
            Self::RefreshToken => "refresh_token",
            Self::Scope => "scope",
            Self::MfaToken => "mfa_token",
            Self::MfaSecret => "mfa_secret",
            Self::DeviceCode => "device_code",
            Self::UserCode => "user_code",
            Self::VerificationUri => "verification_uri",
            Self::VerificationUriComplete => "verification_uri_complete",
            Self::Interval => "interval",
            Self::Type => "type",
            Self::Payload => "payload",
            Self::Member => "member",
            Self::RedirectUri => "redirect_uri",
            Self::ClientSecret => "client_secret",
            Self::TargetOrigin => "target_origin",
            Self::ParentOrigin => "parent_origin",
            Self::Portal => "portal",
            Self::Username => "username",
            Self::Password => "password",
            Self::OtpCode => "otp_code",
            Self::EndpointUrl => "endpoint URL",
            Self::Revocation => "revocation",
            Self::DeviceAuthorization => "device authorization",
            Self::Issuer => "issuer",
            Self::ClientAuthentication => "client authentication",
            Self::ClientCredentials => "client credentials",
            Self::ExtraParameterName => "extra parameter name",
            Self::ExtraParameterValue => "extra parameter value",
            Self::RefererSuffix => "referer suffix",
            Self::RefererSuffixWithoutDot => "referer suffix must start with '.'",
            Self::RefererSuffixKommoOnly => "referer suffix (Kommo only)",
            Self::RefererKommoOnly => "referer (Kommo only)",
            Self::ModeKommoOnly => "mode (Kommo only)",
            Self::ConsentUrlKommoOnly => "consent URL (Kommo only)",
            Self::WidgetInstallKommoOnly => "widget install (Kommo only)",
            Self::KommoAccountWithoutKommo => "Kommo account with a non-Kommo profile",
            Self::KommoTokenWithoutAccount => "Kommo token (needs a KommoAccount)",
            Self::RevocationNotKommo => "revocation (Kommo has none)",
            Self::IframeFlowCrmOnly => "iframe flow (CRM only)",
            Self::PasswordGrantCrmOnly => "password grant (CRM only)",
            Self::ForgotPasswordCrmOnly => "forgot password (CRM only)",
            Self::PasswordGrantAndMfaCrmOnly => "password grant and MFA (CRM only)",
            Self::ClientCredentialsRfc6749Only => "client credentials (RFC 6749 only)",
            Self::DeviceAuthorizationRfc6749Only => "device authorization (RFC 6749 only)",
            Self::DeviceGrantRfc6749Only => "device grant (RFC 6749 only)",
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The byte count in [`Error::BufferTooSmall`]: three bytes (so the error stays four
/// bytes), up to [`Len::MAX`]. A larger count is reported as `Len::MAX`, which is then a
/// lower bound: grow the buffer and try again.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Len([u8; 3]);

impl Len {
    /// The largest count held exactly: 16 MiB − 1.
    pub const MAX: usize = (1 << 24) - 1;

    /// `n`, or [`Len::MAX`] if `n` is larger.
    pub const fn new(n: usize) -> Self {
        let n = if n > Self::MAX { Self::MAX } else { n };
        let [a, b, c, ..] = n.to_le_bytes();
        Self([a, b, c])
    }

    /// The count.
    pub const fn get(self) -> usize {
        let [a, b, c] = self.0;
        a as usize | (b as usize) << 8 | (c as usize) << 16
    }
}

impl From<Len> for usize {
    fn from(n: Len) -> Self {
        n.get()
    }
}

impl PartialEq<usize> for Len {
    fn eq(&self, other: &usize) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl fmt::Display for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// An HTTP status code in an error ([`ServerError::status`],
/// [`ServerMisbehaved::UnexpectedStatus`]): a `u16` stored as two bytes, so that it packs
/// next to an enum tag and the error stays four bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpStatus([u8; 2]);

impl HttpStatus {
    /// The status `code`.
    pub const fn new(code: u16) -> Self {
        Self(code.to_le_bytes())
    }

    /// The status code.
    pub const fn get(self) -> u16 {
        u16::from_le_bytes(self.0)
    }
}

impl From<u16> for HttpStatus {
    fn from(code: u16) -> Self {
        Self::new(code)
    }
}

impl From<HttpStatus> for u16 {
    fn from(s: HttpStatus) -> Self {
        s.get()
    }
}

impl PartialEq<u16> for HttpStatus {
    fn eq(&self, other: &u16) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// `n`, or `u16::MAX` if it is larger: an [`Error::CapacityExceeded`] limit.
pub(crate) const fn limit(n: usize) -> u16 {
    if n > u16::MAX as usize {
        u16::MAX
    } else {
        n as u16
    }
}

// Four bytes everywhere, so a `Result<(), Error>` is returned in a register (on thumbv7em
// the Rust ABI returns only aggregates of at most four bytes in registers).
const _: () = assert!(size_of::<Error>() == 4 && size_of::<Result<(), Error>>() == 4);

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
// Word-aligned, so an error is stored as one word rather than byte by byte.
#[repr(align(4))]
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
        /// The number of bytes the output needs (a lower bound if it is [`Len::MAX`]).
        required: Len,
    },
    /// Not a failure: the access token is due for refresh. Poll the session, which sends
    /// the refresh, then ask again.
    RefreshDue,
    /// An input exceeded one of the core's documented capacities.
    CapacityExceeded {
        /// What was too long or too many.
        what: Capacity,
        /// The documented limit it exceeded (`u16::MAX` for a larger capacity).
        limit: u16,
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
    Duplicate(Name),
    /// A required parameter or field is absent.
    Missing(Name),
    /// A parameter or field is present but empty.
    Empty(Name),
    /// A parameter that must not be present (e.g. an implicit-flow `access_token` on a
    /// code callback, CB-6).
    Unexpected(Name),
    /// Both `code` and `error` on one callback (CB-2).
    CodeAndError,
    /// A field holds a value of the wrong shape (named).
    BadValue(Name),
    /// The body is not the JSON this message needs.
    BadJson,
    /// A JSON string holds an invalid escape sequence.
    BadJsonEscape,
    /// A JSON number does not fit, or is negative, or is not an integer.
    NumberOutOfRange(Name),
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
    UnexpectedStatus(HttpStatus),
    /// The server's `token_type` is not `Bearer`.
    UnsupportedTokenType,
    /// A success response without `access_token` (or another required field, named).
    MissingField(Name),
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
    pub status: HttpStatus,
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
        // A `static` scanned by reference: a `const` by value was first copied to the stack.
        static REGISTERED: [ErrorKind; 15] = [
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
            .iter()
            .find(|k| k.as_str() == code)
            .map_or(Self::Other, |&k| k)
    }
}

/// How the API was misused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMisuse {
    /// Fewer entropy bytes than the operation needs (named minimum in the docs).
    NotEnoughEntropy {
        /// Bytes needed.
        required: u8,
    },
    /// The call is not valid in the session's current state.
    WrongState,
    /// The session was poisoned by an earlier error; start a new one.
    Poisoned,
    /// A configuration value is invalid (named).
    BadConfig(Name),
    /// The profile has no endpoint for this operation (named).
    NoEndpoint(Name),
    /// The operation needs a client secret and none is configured.
    NoClientSecret,
    /// `"*"` or another non-exact origin given as a postMessage target (PM-1).
    WildcardOrigin,
    /// The requested feature is compiled out (named feature).
    FeatureDisabled(Name),
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
                if e.status.get() != 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_saturates_and_round_trips() {
        for n in [0, 1, 255, 256, 65_535, 65_536, Len::MAX] {
            assert_eq!(Len::new(n).get(), n);
            assert_eq!(Len::new(n), n);
        }
        assert_eq!(Len::new(Len::MAX + 1).get(), Len::MAX);
        assert_eq!(Len::new(usize::MAX).get(), Len::MAX);
        assert_eq!(limit(65_535), u16::MAX);
        assert_eq!(limit(65_536), u16::MAX);
        assert_eq!(limit(8192), 8192);
    }

    #[test]
    fn http_status_round_trips() {
        for s in [0, 200, 401, 503, 999, u16::MAX] {
            assert_eq!(HttpStatus::new(s).get(), s);
            assert_eq!(HttpStatus::from(s), s);
            assert_eq!(u16::from(HttpStatus::new(s)), s);
        }
    }

    /// The text of the messages did not change when the payloads became a byte.
    #[test]
    fn messages_quote_the_names_and_numbers() {
        let cases: [(Error, &str); 7] = [
            (
                InvalidMessage::Missing(Name::Code).into(),
                "invalid message: `code` is missing",
            ),
            (
                ApiMisuse::NoEndpoint(Name::RevocationNotKommo).into(),
                "API misuse: the profile has no revocation (Kommo has none) endpoint configured",
            ),
            (
                ApiMisuse::BadConfig(Name::RefererSuffixWithoutDot).into(),
                "API misuse: configuration value `referer suffix must start with '.'` is invalid",
            ),
            (
                ServerMisbehaved::UnexpectedStatus(HttpStatus::new(418)).into(),
                "server misbehaved: unexpected HTTP status 418",
            ),
            (
                Error::ServerError(ServerError {
                    code: ErrorKind::InvalidClient,
                    status: HttpStatus::new(401),
                }),
                "the server answered `invalid_client` (HTTP 401): check the client id and secret",
            ),
            (
                Error::BufferTooSmall {
                    required: Len::new(70_000),
                },
                "output buffer too small: 70000 bytes required; pass a larger buffer (nothing was written)",
            ),
            (
                Error::CapacityExceeded {
                    what: Capacity::Callback,
                    limit: 8192,
                },
                "the callback query exceeds the capacity of 8192 bytes (or items); the input was rejected, not truncated",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        // `Debug` still shows the text and the numbers, as it did for `&str` and `usize`.
        assert_eq!(
            format!("{:?}", Error::from(InvalidMessage::Duplicate(Name::State))),
            r#"InvalidMessage(Duplicate("state"))"#
        );
        assert_eq!(
            format!(
                "{:?}",
                Error::BufferTooSmall {
                    required: Len::new(11)
                }
            ),
            "BufferTooSmall { required: 11 }"
        );
    }
}
