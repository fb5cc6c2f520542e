//! The session: one sign-in, from the first URL to logout, as a sans-IO state machine.
//!
//! See [`Session`] for the calling protocol.

use core::fmt;

use heapless::String;

#[cfg(feature = "password-grant")]
use crate::MAX_PARAM_LEN;
#[cfg(feature = "device")]
use crate::MAX_URL_LEN;
use crate::authorize::{AuthorizationRequest, check_extra};
#[cfg(feature = "kommo")]
use crate::callback::validate_referer;
use crate::callback::{AuthorizationCode, Callback, KommoAccount, parse_callback};
use crate::client::Client;
use crate::error::{
    ApiMisuse, Capacity, CheckFailed, Error, ErrorKind, HttpStatus, Name, ServerError,
    ServerMisbehaved,
};
use crate::http::{Request, Response};
#[cfg(feature = "crm")]
use crate::message::{TargetOrigin, parse_code_reply, write_code_request};
use crate::pkce::CodeVerifier;
use crate::profile::Profile;
use crate::snapshot::{self, Snapshot};
use crate::state::PendingAuthorization;
use crate::token::{
    self, AccessToken, ErrorResponse, RefreshToken, RevocationReply, TokenReply, TokenRequest,
    TokenResponse,
};
#[cfg(feature = "device")]
use crate::token::{DEFAULT_DEVICE_INTERVAL, DeviceCode};
#[cfg(feature = "password-grant")]
use crate::token::{MfaToken, MfaType};
use crate::{MAX_EXTRA_PARAMS, MAX_SCOPE_LEN, UnixTime};

/// Most bytes of extra authorization parameters a session config holds (names and values).
pub const MAX_EXTRA_LEN: usize = 256;
/// Longest server `error_description` the session keeps for display
/// ([`Session::error_description`]); a longer one is not kept.
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// Default seconds before expiry at which a refresh becomes due (LIFE-1).
pub const DEFAULT_REFRESH_SKEW: u32 = 60;
/// Lifetime assumed when a token response has no `expires_in` (LIFE-1): one hour, the most
/// common server default, so a token without a stated lifetime is refreshed after that.
pub const DEFAULT_EXPIRES_IN: u32 = 3600;
/// Default capacity of the session's access token (bytes): holds 2–3 KB JWTs.
pub const DEFAULT_ACCESS_CAP: usize = 4096;
/// Default capacity of the session's refresh token (bytes).
pub const DEFAULT_REFRESH_CAP: usize = 2048;
/// Longest authorization code the session keeps between callback and token request.
pub const MAX_CODE_LEN: usize = 1024;
/// Longest device `user_code` the session keeps.
#[cfg(feature = "device")]
pub const MAX_USER_CODE_LEN: usize = 64;
/// Upper bound on `size_of::<Session>()` with the default capacities (see [`Session`]).
pub const MAX_DEFAULT_SESSION_SIZE: usize = 11 * 1024;
/// How many times a revocation answered with `503` is retried before logout reports it
/// (TOK-9).
pub const MAX_REVOKE_ATTEMPTS: u8 = 3;
/// Device polling backs off to at most this interval on transport failures (DEV-3).
#[cfg(feature = "device")]
pub const MAX_DEVICE_INTERVAL: u64 = 300;
/// Wait before retrying a revocation answered with `503` and no `Retry-After` (TOK-9).
pub const DEFAULT_REVOKE_RETRY: u64 = 5;
/// Longest `Retry-After` a revocation retry honours (TOK-9); longer ones are cut to this.
pub const MAX_REVOKE_RETRY: u64 = 300;

/// The session's configuration: profile, client and lifecycle settings.
#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    /// The dialect, endpoints and client authentication.
    pub profile: Profile,
    /// The client registration.
    pub client: Client,
    /// A refresh is due this many seconds before the access token expires.
    ///
    /// The config's durations are `u32` seconds (up to 136 years): with no `u64` in it, a
    /// config is 4-byte aligned, and 32-bit targets move it with the 4-byte-aligned
    /// `memcpy` the rest of the session uses.
    pub refresh_skew: u32,
    /// The lifetime assumed when the server sends no `expires_in`.
    pub default_expires_in: u32,
    /// The exact origin of the parent page for the CRM iframe flow (PM-1).
    #[cfg(feature = "crm")]
    pub parent_origin: Option<TargetOrigin>,
    /// Extra authorization-request parameters (e.g. `prompt=consent`, which OpenID
    /// providers need before they issue a refresh token for `offline_access`), packed as
    /// `name\nvalue\n` pairs to keep the session small.
    extra: String<MAX_EXTRA_LEN>,
}

/// Written out: the derived `Clone` copies the packed extras byte by byte (a loop of its own);
/// `push_str` is one shared copy.
impl Clone for Config {
    fn clone(&self) -> Self {
        let mut extra = String::new();
        // Cannot fail: the same capacity.
        let _ = extra.push_str(&self.extra);
        Self {
            profile: self.profile.clone(),
            client: self.client.clone(),
            refresh_skew: self.refresh_skew,
            default_expires_in: self.default_expires_in,
            #[cfg(feature = "crm")]
            parent_origin: self.parent_origin.clone(),
            extra,
        }
    }
}

impl Config {
    /// A configuration with the default skew and default lifetime.
    #[inline(never)]
    pub fn new(profile: Profile, client: Client) -> Self {
        Self {
            profile,
            client,
            refresh_skew: DEFAULT_REFRESH_SKEW,
            default_expires_in: DEFAULT_EXPIRES_IN,
            #[cfg(feature = "crm")]
            parent_origin: None,
            extra: String::new(),
        }
    }

    /// Sets the refresh skew in seconds.
    pub fn with_refresh_skew(mut self, seconds: u32) -> Self {
        self.refresh_skew = seconds;
        self
    }

    /// Sets the lifetime assumed when the server sends no `expires_in`.
    pub fn with_default_expires_in(mut self, seconds: u32) -> Self {
        self.default_expires_in = seconds;
        self
    }

    /// Adds an extra authorization-request parameter, sent after the protocol ones (e.g.
    /// `("prompt", "consent")`, `("login_hint", "…")`, RFC 8707 `("resource", "…")`).
    ///
    /// Names are 1..=64 characters of `[A-Za-z0-9._-]` and cannot override a protocol
    /// parameter ([`crate::authorize::RESERVED_PARAMS`]); values are percent-encoded in the
    /// URL and may not hold control characters. At most [`MAX_EXTRA_PARAMS`] parameters and
    /// [`MAX_EXTRA_LEN`] bytes of names and values in all.
    pub fn with_extra_param(mut self, name: &str, value: &str) -> Result<Self, Error> {
        check_extra(&[(name, value)])?;
        if value.chars().any(char::is_control) {
            return Err(ApiMisuse::BadConfig(Name::ExtraParameterValue).into());
        }
        let full = Error::CapacityExceeded {
            what: Capacity::ExtraParams,
            limit: crate::error::limit(MAX_EXTRA_PARAMS),
        };
        if self.extra_params().count() >= MAX_EXTRA_PARAMS {
            return Err(full);
        }
        for part in [name, "\n", value, "\n"] {
            self.extra
                .push_str(part)
                .map_err(|_| Error::CapacityExceeded {
                    what: Capacity::ExtraParams,
                    limit: crate::error::limit(MAX_EXTRA_LEN),
                })?;
        }
        Ok(self)
    }

    /// The extra authorization-request parameters, in order.
    pub fn extra_params(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest = self.extra.as_str();
        core::iter::from_fn(move || Some((next_line(&mut rest)?, next_line(&mut rest)?)))
    }

    /// Sets the parent page's exact origin, for [`Session::start_iframe_authorization`].
    #[cfg(feature = "crm")]
    pub fn with_parent_origin(mut self, origin: &str) -> Result<Self, Error> {
        self.parent_origin = Some(TargetOrigin::parse(origin)?);
        Ok(self)
    }
}

/// What the caller must do next, from [`Session::poll_action`]. Borrowed bytes live in the
/// buffer passed to `poll_action`.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an action does nothing until the adapter carries it out"]
pub enum Action<'b> {
    /// Open this URL in the user's browser (system browser, never an embedded web view).
    OpenUrl(&'b str),
    /// Post this JSON message to the parent window, with exactly this target origin.
    #[cfg(feature = "crm")]
    PostMessage {
        /// The exact target origin (never `"*"`, PM-1).
        target_origin: &'b str,
        /// The message, a JSON object (`GET_CLIENT_OAUTH_CODE`).
        json: &'b str,
    },
    /// Send this HTTP request without following redirects, then call
    /// [`Session::handle_response`] (or [`Session::handle_timeout`] if no answer came).
    Send(Request<'b>),
    /// Store this snapshot durably (replacing the previous one) before doing anything else.
    Persist(&'b [u8]),
    /// Delete the stored snapshot: every local token is gone (LIFE-5).
    Erase,
    /// Show the user this code and where to enter it (RFC 8628). Never open the URI
    /// automatically (DEV-2).
    #[cfg(feature = "device")]
    ShowUserCode {
        /// The code, exactly as the server gave it.
        user_code: &'b str,
        /// Where to enter it.
        verification_uri: &'b str,
        /// A URI with the code in it, for a QR code, if the server sent one.
        verification_uri_complete: Option<&'b str>,
    },
    /// Nothing to do until this time (a refresh becomes due, a device poll, a retry); then
    /// poll again.
    WaitUntil(UnixTime),
    /// A step ended; see [`Outcome`].
    Done(Outcome<'b>),
    /// Nothing to do until the next input (a callback, a reply, a response, a call).
    Idle,
}

/// The end of a step, reported by [`Action::Done`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome<'b> {
    /// Signed in: an access token is available.
    Authorized,
    /// The tokens were refreshed (the new snapshot was handed out first, LIFE-2).
    Refreshed,
    /// The CRM server wants a second factor: call `Session::submit_otp`, or set one up.
    MfaRequired,
    /// The TOTP secret for enrolling an authenticator (show it as an `otpauth://` QR code).
    /// A secret: show it once, never log it.
    MfaSecret(&'b str),
    /// The server accepted an MFA or password-reset step (email OTP sent, MFA bound,
    /// deactivation requested, reset mail sent).
    Accepted,
    /// An MFA step was refused (e.g. "Invalid or expired OTP code"); the session still
    /// waits for a second factor, so the user can try again.
    MfaRejected(Error),
    /// Logged out: every local token is already forgotten (LIFE-5). `revocation` says
    /// whether the server confirmed revoking the refresh token; an error means it may still
    /// be live until it expires (TOK-9). `Ok` too when there was nothing to revoke.
    LoggedOut {
        /// The revocation's result.
        revocation: Result<(), Error>,
    },
    /// The session ended without logout: sign in again. Every local token is forgotten
    /// (an [`Action::Erase`] came first).
    SignInRequired(EndReason),
}

/// Why a session ended by itself ([`Outcome::SignInRequired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The server refused the refresh token (`invalid_grant`: revoked, expired, or reused
    /// after rotation; LIFE-3). Not retried.
    RefreshRejected(ServerError),
    /// The access token expired and there is no refresh token.
    Expired,
    /// A refresh got no answer twice; the token may have been rotated, so it is not sent
    /// again (LIFE-9).
    RefreshOutcomeUnknown,
}

/// Where a session is, for display and for adapters' decisions. Named for what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Nothing started.
    Idle,
    /// Waiting for the redirect callback.
    ExpectCallback,
    /// Waiting for the parent's postMessage reply.
    #[cfg(feature = "crm")]
    ExpectMessage,
    /// A token (or MFA) request is to be sent or in flight.
    ExpectTokenResponse,
    /// Signed in.
    Authorized,
    /// A refresh is to be sent or in flight.
    Refreshing,
    /// The CRM server wants a second factor.
    MfaRequired,
    /// Waiting for the user to approve the device.
    #[cfg(feature = "device")]
    ExpectDeviceApproval,
    /// Revocation in progress.
    Revoking,
    /// Logged out or ended; start again.
    LoggedOut,
    /// Failed: the session is poisoned.
    Failed,
}

type Code = String<MAX_CODE_LEN>;

/// A time (Unix seconds) or a number of seconds the session keeps, 4-byte aligned. Every
/// `u64` of a session's state is held this way (and the [`Config`] has none), so on 32-bit
/// targets a session is 4-byte aligned: its moves use the 4-byte-aligned `memcpy`, and
/// firmware links no 8-byte-aligned one (156 bytes; 180 in all on the firmware probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
struct Time(UnixTime);

const _: () = assert!(core::mem::align_of::<Time>() == 4);

impl Time {
    /// The value (a copy: a packed field is never borrowed).
    const fn get(self) -> UnixTime {
        self.0
    }
}

/// The tokens of a signed-in session.
struct Tokens<const A: usize, const R: usize> {
    access: AccessToken<A>,
    refresh: Option<RefreshToken<R>>,
    /// Saturating: `u64::MAX` means "never" (LIFE-8).
    expires_at: Time,
    scope: String<MAX_SCOPE_LEN>,
    account: Option<KommoAccount>,
}

/// What a token request in flight was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Exchange,
    #[cfg(feature = "password-grant")]
    Password,
    ClientCredentials,
}

/// What a token response answers (see `Session::on_response`).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "password-grant"), allow(dead_code))] // reason: only a password grant reads its purpose
enum Answer {
    /// A grant: the code exchange, client credentials or (CRM) a password.
    Grant(Purpose),
    /// A refresh; `retried` as in [`Refresh::Sent`].
    Refresh { retried: bool },
    /// A device token poll (RFC 8628 §3.4).
    #[cfg(feature = "device")]
    DevicePoll,
}

/// Where an authorization request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The authorization URL (or message) is to be emitted.
    Authorize,
    /// Waiting for the callback (or, in the iframe flow, the parent's reply).
    Callback,
    /// The callback was verified: the code exchange is to be sent.
    Exchange,
}

/// Where a refresh of a signed-in session is. `retried`: this is the one retry allowed
/// after an unknown outcome (LIFE-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// No refresh under way.
    Off,
    /// A refresh is to be sent.
    Queued { retried: bool },
    /// A refresh is in flight, sent at `at`.
    Sent { at: Time, retried: bool },
}

/// An MFA step queued by the caller, sent by the next poll.
#[cfg(feature = "password-grant")]
enum MfaOp {
    Verify(Secret),
    Secret,
    EmailSend,
    Bind(MfaType, Secret),
    Deactivate,
}

/// An MFA step in flight.
#[cfg(feature = "password-grant")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MfaSent {
    Verify(Time),
    Secret,
    Ack,
}

/// One state per thing the session waits for; each holds only its own data. Steps change
/// the state in place where they can (no big value moves through a `Result`).
#[allow(clippy::large_enum_variant)] // reason: no heap in the core; the session is one fixed-size value
enum State<const A: usize, const R: usize> {
    Idle,
    /// An authorization request, from its URL (or message) to the code exchange. The code
    /// (and Kommo account) are set once the callback was verified ([`Stage::Exchange`]);
    /// the verifier goes with this state once the exchange is written (PKCE-4).
    Pending {
        pending: PendingAuthorization,
        stage: Stage,
        /// The CRM iframe flow (always `false` without the `crm` feature).
        iframe: bool,
        code: Code,
        account: Option<KommoAccount>,
    },
    /// A request answered by a token response is in flight.
    ExpectTokenResponse {
        purpose: Purpose,
        sent_at: Time,
        account: Option<KommoAccount>,
    },
    /// Signed in, maybe refreshing. While a refresh is queued or in flight
    /// `tokens.refresh` is `Some`: the request is written from it, and the session keeps it
    /// for the one retry allowed after an unknown outcome (LIFE-9) and for servers that do
    /// not rotate; it is never handed out. A successful response replaces it (LIFE-2).
    Signed {
        tokens: Tokens<A, R>,
        refresh: Refresh,
    },
    #[cfg(feature = "password-grant")]
    Password {
        username: String<MAX_PARAM_LEN>,
        password: Secret,
    },
    #[cfg(feature = "password-grant")]
    MfaRequired {
        mfa: MfaToken,
        queued: Option<MfaOp>,
        in_flight: Option<MfaSent>,
        secret: Option<Secret>,
    },
    #[cfg(feature = "password-grant")]
    Forget {
        username: String<MAX_PARAM_LEN>,
        sent: bool,
    },
    ClientCredentials,
    /// The device authorization request is to be sent (`sent_at == None`) or is in flight.
    #[cfg(feature = "device")]
    DeviceStart {
        sent_at: Option<Time>,
    },
    #[cfg(feature = "device")]
    ExpectDeviceApproval(Device),
    Revoking {
        refresh: RefreshToken<R>,
        account: Option<KommoAccount>,
        attempts: u8,
        retry_at: Time,
        in_flight: bool,
    },
    LoggedOut,
    Failed(Error),
}

/// How the session holds its [`State`]. A step replaces the state by assigning a new one
/// (`Session::set_state`), which drops the old one first. Dropping a state does something
/// only with the `zeroize` feature, where it wipes the secrets the state held; without it
/// the state is held in a `ManuallyDrop`, so a replacement is a plain store. (The drop
/// glue, empty as it is, left a call to an empty function at every replacement in the
/// optimised firmware build: measured 128 bytes.)
#[cfg(not(feature = "zeroize"))]
type StateSlot<S> = core::mem::ManuallyDrop<S>;

/// With `zeroize`: a plain wrapper, so a replaced or dropped state is dropped (wiped).
#[cfg(feature = "zeroize")]
struct StateSlot<S>(S);

#[cfg(feature = "zeroize")]
impl<S> StateSlot<S> {
    const fn new(state: S) -> Self {
        Self(state)
    }
}

#[cfg(feature = "zeroize")]
impl<S> core::ops::Deref for StateSlot<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0
    }
}

#[cfg(feature = "zeroize")]
impl<S> core::ops::DerefMut for StateSlot<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

/// A device authorization in progress (RFC 8628).
#[cfg(feature = "device")]
struct Device {
    code: DeviceCode,
    user_code: String<MAX_USER_CODE_LEN>,
    verification_uri: String<MAX_URL_LEN>,
    verification_uri_complete: Option<String<MAX_URL_LEN>>,
    /// The interval the server asked for (plus 5 s per `slow_down`).
    interval: Time,
    /// The interval in use: `interval`, or more while backing off after timeouts (DEV-3);
    /// back to `interval` as soon as the server answers again.
    wait: Time,
    expires_at: Time,
    next_poll: Time,
    shown: bool,
    in_flight: Option<Time>,
}

/// A password, OTP or MFA secret held between the call that supplies it and the request
/// (or outcome) that uses it; wiped on drop under `zeroize`.
#[cfg(feature = "password-grant")]
struct Secret(String<MAX_PARAM_LEN>);

#[cfg(all(feature = "password-grant", feature = "zeroize"))]
impl Drop for Secret {
    fn drop(&mut self) {
        crate::wipe(&mut self.0);
    }
}

/// Things to tell the caller before anything else, in this order: erase, persist, done.
/// `done` is handed out as it is (`MfaSecret("")` stands for the secret the MFA state
/// holds, copied into the caller's buffer then).
#[derive(Default)]
struct Announce {
    erase: bool,
    persist: bool,
    done: Option<Outcome<'static>>,
}

/// One sign-in, from the first URL to logout: a sans-IO state machine.
///
/// The session never reads a clock, draws randomness or does I/O. The caller passes the time
/// (`now`, Unix seconds; it may stand still or jump, and a clock going backwards never
/// extends a token's life, LIFE-1) and entropy in, and carries out the [`Action`]s it gets
/// back. `A` and `R` are the capacities of the access and refresh token in bytes.
///
/// # Calling protocol
/// 1. Make a session: [`Session::new`], or [`Session::restore`] from a stored snapshot.
/// 2. Start a flow: [`start_authorization`](Session::start_authorization) (redirect),
///    [`start_iframe_authorization`](Session::start_iframe_authorization) (CRM postMessage),
///    `start_password_login` (CRM, `password-grant` feature),
///    [`start_device_authorization`](Session::start_device_authorization) (RFC 8628),
///    [`start_client_credentials`](Session::start_client_credentials).
/// 3. Loop on [`poll_action`](Session::poll_action) and carry out each action:
///    - [`Action::OpenUrl`] / [`Action::PostMessage`] / [`Action::ShowUserCode`]: show it;
///    - [`Action::Send`]: send it (no redirects), then hand the answer to
///      [`handle_response`](Session::handle_response), or call
///      [`handle_timeout`](Session::handle_timeout) if none came;
///    - [`Action::Persist`] / [`Action::Erase`]: store or delete the snapshot *before*
///      polling again (the crash-safety contract below);
///    - [`Action::WaitUntil`]: sleep until then (or until an input arrives), poll again;
///    - [`Action::Done`]: a step ended; [`Action::Idle`]: wait for the next input.
/// 4. Feed inputs as they arrive: [`handle_callback`](Session::handle_callback) with the
///    redirect's query, [`handle_message`](Session::handle_message) with the parent's reply.
///    Both check state, issuer and Kommo referer in the core.
/// 5. Use [`access_token`](Session::access_token) while signed in; it fails with
///    [`Error::RefreshDue`] once the token is due, and `poll_action` then sends the refresh.
/// 6. [`logout`](Session::logout) revokes the refresh token and forgets every token.
///
/// Any error returned by a `handle_*` or `poll_action` call poisons the session (further
/// calls fail with [`ApiMisuse::Poisoned`]), except [`ApiMisuse`] errors for calls that
/// are wrong in the current state, which leave it untouched. Server errors that end a
/// session cleanly (an `invalid_grant` on refresh, LIFE-3) erase the tokens and report
/// [`Outcome::SignInRequired`].
///
/// # Crash safety
/// A rotated refresh token exists in exactly one place at a time. After a successful
/// refresh the session holds only the new token, and the first action it returns is
/// [`Action::Persist`] with a snapshot containing it; [`Outcome::Refreshed`] comes only
/// after that. An adapter that persists atomically before polling again therefore always
/// has on disk either the old token (crash before the response: the server has not rotated
/// it, or the single retry of LIFE-9 finds out) or the new one.
///
/// # Size
/// A session is one fixed-size value and never allocates: the tokens (`A + R` bytes), the
/// [`Config`], and the largest waiting state. With the default capacities it is under
/// [`MAX_DEFAULT_SESSION_SIZE`] bytes (11 KiB), with or without the `password-grant`
/// feature; a unit test holds that bound. The MFA step keeps about 8 KiB (MFA token, a
/// queued OTP, an enrolment secret), so with small token capacities it is the largest state.
///
/// # Example: a code flow driven by hand
/// ```
/// use latchkey_core::http::Response;
/// use latchkey_core::session::{Action, Config, Outcome, Session};
/// use latchkey_core::{Client, Profile};
///
/// let profile = Profile::crm("https://portal.example", "https://api.example")?;
/// let client = Client::new("my-app", "https://app.example/cb")?
///     .with_secret("s3cret")?
///     .with_scope("user-portal:user:*")?;
/// let mut s: Session = Session::new(Config::new(profile, client));
/// let (mut buf, mut scratch) = ([0u8; 4096], [0u8; 4096]);
/// let now = 1_700_000_000;
///
/// s.start_authorization(&[7u8; 48], now)?; // 48 bytes from a CSPRNG in real use
/// let state = match s.poll_action(now, &mut buf)? {
///     Action::OpenUrl(url) => {
///         assert!(url.starts_with("https://portal.example/login?client_id=my-app"));
///         let state = url.split("state=").nth(1).unwrap();
///         String::from(&state[..state.find('&').unwrap_or(state.len())])
///     }
///     other => panic!("{other:?}"),
/// };
/// assert_eq!(s.poll_action(now, &mut buf)?, Action::Idle);
///
/// // The browser comes back to the redirect URI:
/// let query = format!("code=abc123&state={state}");
/// s.handle_callback(query.as_bytes(), now, &mut scratch)?;
/// match s.poll_action(now, &mut buf)? {
///     Action::Send(req) => {
///         assert_eq!(req.url, "https://api.example/oauth/token");
///         assert!(req.body.starts_with(br#"{"grant_type":"authorization_code","code":"abc123""#));
///     }
///     other => panic!("{other:?}"),
/// }
/// let body = br#"{"access_token":"at\/1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt1"}"#;
/// s.handle_response(Response::new(200, body), now, &mut scratch)?;
/// assert!(matches!(s.poll_action(now, &mut buf)?, Action::Persist(_)));
/// assert_eq!(s.poll_action(now, &mut buf)?, Action::Done(Outcome::Authorized));
/// assert_eq!(s.access_token(now)?.secret(), "at/1");
/// assert_eq!(s.poll_action(now, &mut buf)?, Action::WaitUntil(now + 3600 - 60));
/// # Ok::<(), latchkey_core::Error>(())
/// ```
pub struct Session<const A: usize = DEFAULT_ACCESS_CAP, const R: usize = DEFAULT_REFRESH_CAP> {
    config: Config,
    state: StateSlot<State<A, R>>,
    announce: Announce,
    /// The latest time seen; time never goes backwards inside the session (LIFE-1).
    clock: Time,
    /// The last server error's description, for display only.
    description: String<MAX_DESCRIPTION_LEN>,
}

impl<const A: usize, const R: usize> Session<A, R> {
    /// A new, idle session.
    #[inline(never)]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: StateSlot::new(State::Idle),
            announce: Announce::default(),
            clock: Time(0),
            description: String::new(),
        }
    }

    /// The `error_description` of the last server error the session handled (a token,
    /// MFA or revocation error response, or an `error=` callback), for showing to a person
    /// ("Invalid username or password"). Untrusted text: display it, never parse or act on
    /// it. Cleared by the next input; `None` when there was none or it was longer than
    /// [`MAX_DESCRIPTION_LEN`] bytes.
    pub fn error_description(&self) -> Option<&str> {
        (!self.description.is_empty()).then_some(self.description.as_str())
    }

    /// A signed-in session from a snapshot made by [`Session::save`] or handed out with
    /// [`Action::Persist`].
    ///
    /// Truncated or corrupt bytes are [`InvalidMessage::BadSnapshot`], another format
    /// version [`InvalidMessage::SnapshotVersion`], a snapshot made for another client or
    /// dialect [`CheckFailed::ForeignSnapshot`] (LIFE-7); tokens larger than `A`/`R` are
    /// [`Error::CapacityExceeded`]. A Kommo account host is checked against the profile's
    /// allowlist again (REF-3).
    ///
    /// [`InvalidMessage::BadSnapshot`]: crate::InvalidMessage::BadSnapshot
    /// [`InvalidMessage::SnapshotVersion`]: crate::InvalidMessage::SnapshotVersion
    pub fn restore(config: Config, snapshot: &[u8]) -> Result<Self, Error> {
        let mut s = Self::new(config);
        let snap = Snapshot::parse(snapshot, &s.config)?;
        let account = match snap.account {
            #[cfg(feature = "kommo")]
            Some(host) => Some(validate_referer(host, &s.config.profile)?),
            // Only Kommo snapshots carry an account, and their dialect byte was refused.
            #[cfg(not(feature = "kommo"))]
            Some(_) => return Err(crate::InvalidMessage::BadSnapshot.into()),
            None => None,
        };
        s.install(
            snap.access,
            snap.refresh,
            snap.expires_at,
            Some(snap.scope),
            account,
        )?;
        Ok(s)
    }

    /// Writes a snapshot of the signed-in state into `buf` (format: [`crate::snapshot`]);
    /// returns its length. [`ApiMisuse::WrongState`] when not signed in.
    pub fn save(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let tokens = match &*self.state {
            // A refresh not yet sent: the token on disk is still the one to use.
            State::Signed {
                tokens,
                refresh: Refresh::Off | Refresh::Queued { .. },
            } => tokens,
            _ => return Err(ApiMisuse::WrongState.into()),
        };
        let refresh = tokens.refresh.as_ref();
        snapshot::write(
            &Snapshot {
                access: tokens.access.secret(),
                refresh: refresh.map(RefreshToken::secret),
                expires_at: tokens.expires_at.get(),
                scope: &tokens.scope,
                account: tokens.account.as_ref().map(KommoAccount::host),
            },
            &self.config,
            buf,
        )
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the session is.
    pub fn phase(&self) -> Phase {
        match &*self.state {
            State::Idle => Phase::Idle,
            State::Pending {
                stage: Stage::Exchange,
                ..
            } => Phase::ExpectTokenResponse,
            #[cfg(feature = "crm")]
            State::Pending { iframe: true, .. } => Phase::ExpectMessage,
            State::Pending { .. } => Phase::ExpectCallback,
            State::ExpectTokenResponse { .. } | State::ClientCredentials => {
                Phase::ExpectTokenResponse
            }
            #[cfg(feature = "password-grant")]
            State::Password { .. } | State::Forget { .. } => Phase::ExpectTokenResponse,
            State::Signed {
                refresh: Refresh::Off,
                ..
            } => Phase::Authorized,
            State::Signed { .. } => Phase::Refreshing,
            #[cfg(feature = "password-grant")]
            State::MfaRequired { .. } => Phase::MfaRequired,
            #[cfg(feature = "device")]
            State::DeviceStart { .. } | State::ExpectDeviceApproval(_) => {
                Phase::ExpectDeviceApproval
            }
            State::Revoking { .. } => Phase::Revoking,
            State::LoggedOut => Phase::LoggedOut,
            State::Failed(_) => Phase::Failed,
        }
    }

    /// The error that poisoned the session, if it failed.
    pub fn failure(&self) -> Option<Error> {
        match *self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The access token, while it is not due for refresh.
    ///
    /// [`Error::RefreshDue`] once `now ≥ expires_at − skew` (and while a refresh is under
    /// way): poll the session, which sends the refresh. A session without a refresh token
    /// has nothing to refresh with, so it serves the token until `expires_at` itself.
    /// [`ApiMisuse::WrongState`] when not signed in.
    pub fn access_token(&self, now: UnixTime) -> Result<&AccessToken<A>, Error> {
        let now = now.max(self.clock.get());
        match &*self.state {
            State::Signed {
                tokens,
                refresh: Refresh::Off,
            } if now < self.due_at(tokens)
                || (tokens.refresh.is_none() && now < tokens.expires_at.get()) =>
            {
                Ok(&tokens.access)
            }
            State::Signed { .. } => Err(Error::RefreshDue),
            other => Err(wrong_state(other)),
        }
    }

    /// When the access token expires (`u64::MAX`: never stated), if signed in.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.tokens().map(|t| t.expires_at.get())
    }

    /// When a refresh becomes due, if signed in.
    pub fn refresh_due_at(&self) -> Option<UnixTime> {
        self.tokens().map(|t| self.due_at(t))
    }

    /// Whether the session can refresh (holds a refresh token).
    pub fn has_refresh_token(&self) -> bool {
        self.tokens().is_some_and(|t| t.refresh.is_some())
    }

    /// The granted scope (the requested one when the server did not say), if signed in.
    pub fn scope(&self) -> Option<&str> {
        self.tokens().map(|t| t.scope.as_str())
    }

    /// The Kommo account the tokens belong to, if any.
    pub fn kommo_account(&self) -> Option<&KommoAccount> {
        self.tokens().and_then(|t| t.account.as_ref())
    }

    fn tokens(&self) -> Option<&Tokens<A, R>> {
        match &*self.state {
            State::Signed { tokens, .. } => Some(tokens),
            _ => None,
        }
    }

    // --- starting flows ---------------------------------------------------------------

    /// Starts an authorization code + PKCE flow through a browser redirect; the next action
    /// is [`Action::OpenUrl`].
    ///
    /// `entropy` is at least [`AUTHORIZATION_ENTROPY`](crate::state::AUTHORIZATION_ENTROPY)
    /// (48) bytes from a CSPRNG, fresh for every request: 32 make the PKCE verifier, 16 the
    /// state (PKCE-4, STATE-1). Valid when idle, logged out, or to replace a pending
    /// authorization (which is discarded).
    pub fn start_authorization(&mut self, entropy: &[u8], now: UnixTime) -> Result<(), Error> {
        self.start_auth(entropy, now, false)
    }

    /// Starts the CRM iframe variant: the next action is [`Action::PostMessage`] to
    /// [`Config::parent_origin`], and the parent's reply goes to
    /// [`Session::handle_message`].
    #[cfg(feature = "crm")]
    pub fn start_iframe_authorization(
        &mut self,
        entropy: &[u8],
        now: UnixTime,
    ) -> Result<(), Error> {
        if self.config.parent_origin.is_none() {
            return Err(ApiMisuse::BadConfig(Name::ParentOrigin).into());
        }
        if !matches!(self.config.profile, Profile::Crm(_)) {
            return Err(ApiMisuse::BadConfig(Name::IframeFlowCrmOnly).into());
        }
        self.start_auth(entropy, now, true)
    }

    fn start_auth(&mut self, entropy: &[u8], now: UnixTime, iframe: bool) -> Result<(), Error> {
        self.tick(now);
        self.ready_to_start(true)?;
        let mut pending = PendingAuthorization::empty();
        pending.fill(entropy)?;
        self.set_state(State::Pending {
            pending,
            stage: Stage::Authorize,
            iframe,
            code: String::new(),
            account: None,
        });
        Ok(())
    }

    /// Starts the RFC 8628 device authorization grant (RFC 6749 profiles with a device
    /// authorization endpoint); the device client is public (DEV-3). The actions are the
    /// device request, then [`Action::ShowUserCode`], then polls at the server's interval.
    #[cfg(feature = "device")]
    pub fn start_device_authorization(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        self.ready_to_start(false)?;
        match &self.config.profile {
            Profile::Rfc6749(r) if r.device_authorization.is_some() => {}
            _ => return Err(ApiMisuse::NoEndpoint(Name::DeviceAuthorization).into()),
        }
        self.set_state(State::DeviceStart { sent_at: None });
        Ok(())
    }

    /// Starts the client credentials grant (RFC 6749 profiles, confidential clients).
    pub fn start_client_credentials(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        self.ready_to_start(false)?;
        if !matches!(self.config.profile, Profile::Rfc6749(_)) {
            return Err(ApiMisuse::NoEndpoint(Name::ClientCredentials).into());
        }
        if self.config.client.secret().is_none() {
            return Err(ApiMisuse::NoClientSecret.into());
        }
        self.set_state(State::ClientCredentials);
        Ok(())
    }

    /// Starts the CRM resource owner password grant (`password-grant` feature).
    ///
    /// Discouraged by RFC 9700 §2.4: it hands the user's password to the client. It exists
    /// for the CRM profile's confidential clients only (CRM-3). The password is kept only
    /// until the request is written. The answer is tokens, or [`Outcome::MfaRequired`].
    #[cfg(feature = "password-grant")]
    pub fn start_password_login(
        &mut self,
        username: &str,
        password: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.tick(now);
        self.ready_to_start(false)?;
        self.crm_confidential(Name::PasswordGrantCrmOnly)?;
        self.set_state(State::Password {
            username: param(username, Name::Username)?,
            password: Secret(param(password, Name::Password)?),
        });
        Ok(())
    }

    /// Queues the OTP (authenticator or email) for the pending MFA step (CRM). Tokens
    /// follow, or [`Outcome::MfaRejected`] if the server refuses the code.
    #[cfg(feature = "password-grant")]
    pub fn submit_otp(&mut self, otp: &str, now: UnixTime) -> Result<(), Error> {
        let otp = Secret(param(otp, Name::OtpCode)?);
        self.queue_mfa(MfaOp::Verify(otp), now)
    }

    /// Asks for the TOTP secret to enrol an authenticator: [`Outcome::MfaSecret`].
    #[cfg(feature = "password-grant")]
    pub fn request_mfa_secret(&mut self, now: UnixTime) -> Result<(), Error> {
        self.queue_mfa(MfaOp::Secret, now)
    }

    /// Asks the CRM to email an OTP: [`Outcome::Accepted`].
    #[cfg(feature = "password-grant")]
    pub fn send_email_otp(&mut self, now: UnixTime) -> Result<(), Error> {
        self.queue_mfa(MfaOp::EmailSend, now)
    }

    /// Binds and enables a second factor with a first OTP: [`Outcome::Accepted`]. Then
    /// verify with `Session::submit_otp` to get tokens.
    #[cfg(feature = "password-grant")]
    pub fn bind_mfa(&mut self, kind: MfaType, otp: &str, now: UnixTime) -> Result<(), Error> {
        let otp = Secret(param(otp, Name::OtpCode)?);
        self.queue_mfa(MfaOp::Bind(kind, otp), now)
    }

    /// Asks the CRM to deactivate MFA: [`Outcome::Accepted`].
    #[cfg(feature = "password-grant")]
    pub fn deactivate_mfa(&mut self, now: UnixTime) -> Result<(), Error> {
        self.queue_mfa(MfaOp::Deactivate, now)
    }

    /// Starts a CRM password reset: [`Outcome::Accepted`] when the server took it
    /// (`rate_limit_exceeded` fails the step with a server error).
    #[cfg(feature = "password-grant")]
    pub fn forgot_password(&mut self, username: &str, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        self.ready_to_start(false)?;
        self.crm_confidential(Name::ForgotPasswordCrmOnly)?;
        self.set_state(State::Forget {
            username: param(username, Name::Username)?,
            sent: false,
        });
        Ok(())
    }

    #[cfg(feature = "password-grant")]
    fn crm_confidential(&self, what: Name) -> Result<(), Error> {
        if !matches!(self.config.profile, Profile::Crm(_)) {
            return Err(ApiMisuse::NoEndpoint(what).into());
        }
        if self.config.client.secret().is_none() {
            return Err(ApiMisuse::NoClientSecret.into());
        }
        Ok(())
    }

    #[cfg(feature = "password-grant")]
    fn queue_mfa(&mut self, op: MfaOp, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        match &mut *self.state {
            State::MfaRequired {
                queued: queued @ None,
                in_flight: None,
                ..
            } => {
                *queued = Some(op);
                Ok(())
            }
            other => Err(wrong_state(other)),
        }
    }

    /// Forces a refresh now (e.g. the API rejected the access token). Without a refresh
    /// token the session ends with [`Outcome::SignInRequired`].
    pub fn refresh(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        match &mut *self.state {
            State::Signed {
                tokens,
                refresh: refresh @ Refresh::Off,
            } => {
                if tokens.refresh.is_some() {
                    *refresh = Refresh::Queued { retried: false };
                } else {
                    self.end_session(EndReason::Expired);
                }
                Ok(())
            }
            other => Err(wrong_state(other)),
        }
    }

    /// Logs out: every local token is forgotten at once, then the refresh token is revoked
    /// where the profile can (LIFE-5). The actions are [`Action::Erase`], the revocation
    /// [`Action::Send`] (retried after `Retry-After` on `503`, TOK-9), then
    /// [`Outcome::LoggedOut`] with the revocation's result. Valid in every state; a poisoned
    /// session holds no tokens, so logging it out only erases the store (restore the stored
    /// snapshot first to revoke its refresh token).
    // Not inlined: an adapter calls it from one place, often a large function where
    // the inlined body costs more code than the call (measured on the firmware probe).
    #[inline(never)]
    pub fn logout(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        self.announce = Announce {
            erase: true,
            ..Announce::default()
        };
        let (refresh, account) = match &mut *self.state {
            State::Signed { tokens, .. } => (tokens.refresh.take(), tokens.account.take()),
            // Revoking already (so the profile can): start the revocation over.
            State::Revoking {
                attempts,
                retry_at,
                in_flight,
                ..
            } => {
                *attempts = 0;
                *retry_at = self.clock;
                *in_flight = false;
                return Ok(());
            }
            // A poisoned session holds no tokens; logging out still erases the store.
            _ => (None, None),
        };
        let revocable = match &self.config.profile {
            Profile::Rfc6749(r) => r.revocation.is_some(),
            #[cfg(feature = "crm")]
            Profile::Crm(_) => true,
            #[cfg(feature = "kommo")]
            Profile::Kommo(_) => false,
        };
        match refresh {
            Some(refresh) if revocable => {
                self.set_state(State::Revoking {
                    refresh,
                    account,
                    attempts: 0,
                    retry_at: self.clock,
                    in_flight: false,
                });
            }
            _ => self.logged_out(Ok(())),
        }
        Ok(())
    }

    // --- inputs ---------------------------------------------------------------------------

    /// Handles the redirect callback. `query` is the part after `?` (a full URL or a leading
    /// `?` is accepted too); `scratch` holds the decoded parameters while they are checked
    /// (`query.len()` bytes always suffice).
    ///
    /// State (constant time), issuer (RFC 9207) and, for Kommo, the `referer` allowlist are
    /// checked here, before any token request exists (CB-3, REF-3). Whatever the result,
    /// the pending request is discarded: a state is never checked twice (STATE-2, STATE-4);
    /// a failure poisons the session. With no request pending the callback is rejected with
    /// [`CheckFailed::NothingPending`] and the session is left as it was (STATE-5).
    // Not inlined: an adapter calls it from one place, often a large function where
    // the inlined body costs more code than the call (measured on the firmware probe).
    #[inline(never)]
    pub fn handle_callback(
        &mut self,
        query: &[u8],
        now: UnixTime,
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        self.tick(now);
        let r = self.on_callback(query, scratch);
        self.settle(r)
    }

    fn on_callback(&mut self, query: &[u8], scratch: &mut [u8]) -> Result<(), Error> {
        let State::Pending {
            pending,
            stage: stage @ Stage::Callback,
            iframe: false,
            code,
            account,
        } = &mut *self.state
        else {
            return Err(not_pending(&*self.state));
        };
        self.description.clear();
        let cb = parse_callback(query, scratch)?;
        let verified = cb.verify(pending.state(), &self.config.profile);
        if let (Err(Error::ServerError(_)), Callback::Error(e)) = (&verified, &cb) {
            remember(&mut self.description, e.description());
        }
        // One error exit for the check and the copy (not one per `?`).
        verified.and_then(|v| {
            let (c, a) = v.into_parts();
            set_code(code, c)?;
            *account = a;
            *stage = Stage::Exchange;
            Ok(())
        })
    }

    /// Whether a redirect callback carries the pending request's state, checked in constant
    /// time and **without** consuming anything.
    ///
    /// For loopback listeners (RFC 8252, CB-8): answer a callback that does not match with
    /// `400` and keep waiting, and hand only a matching one to
    /// [`Session::handle_callback`]. A stray or hostile request to the port then cannot end
    /// the pending sign-in, while everything that reaches `handle_callback` is still
    /// checked and consumed once (STATE-2): without the state, a request cannot pass here.
    /// Malformed queries (duplicates, bad escapes, …) do not match.
    pub fn callback_matches(&self, query: &[u8], scratch: &mut [u8]) -> bool {
        let State::Pending {
            pending,
            stage: Stage::Callback,
            iframe: false,
            ..
        } = &*self.state
        else {
            return false;
        };
        match parse_callback(query, scratch) {
            Ok(cb) => cb
                .state()
                .is_some_and(|s| pending.state().verify(s).is_ok()),
            Err(_) => false,
        }
    }

    /// Handles the parent window's reply in the CRM iframe flow.
    ///
    /// The adapter passes only replies whose `event.origin` equals
    /// [`Config::parent_origin`] and whose `event.source` is the parent window (PM-2); the
    /// core checks type, shape and any echoed state (PM-3, PM-4). Once a reply was
    /// handled, later ones find nothing pending: [`CheckFailed::NothingPending`], session
    /// unchanged.
    #[cfg(feature = "crm")]
    pub fn handle_message(
        &mut self,
        json: &[u8],
        now: UnixTime,
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        self.tick(now);
        let r = match &mut *self.state {
            State::Pending {
                pending,
                stage: stage @ Stage::Callback,
                iframe: true,
                code,
                ..
            } => parse_code_reply(json, scratch).and_then(|reply| {
                reply.verify_state(pending.state())?;
                set_code(code, reply.code)?;
                *stage = Stage::Exchange;
                Ok(())
            }),
            other => Err(not_pending(other)),
        };
        self.settle(r)
    }

    /// Handles the answer to the last [`Action::Send`]. `scratch` receives decoded strings
    /// while they are checked and copied (`response.body.len()` bytes always suffice).
    ///
    /// Redirects are refused (TOK-6), bodies over
    /// [`MAX_RESPONSE_LEN`](crate::MAX_RESPONSE_LEN) too (TOK-5). An error poisons the
    /// session, except where the protocol lets it go on: an `invalid_grant` on refresh ends
    /// it cleanly ([`Outcome::SignInRequired`], LIFE-3), a refused OTP reports
    /// [`Outcome::MfaRejected`], and logout always completes ([`Outcome::LoggedOut`]).
    pub fn handle_response(
        &mut self,
        response: Response<'_>,
        now: UnixTime,
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        self.tick(now);
        self.description.clear();
        if !(200..300).contains(&response.status) {
            // Every endpoint answers errors in the RFC 6749 §5.2 shape: keep the text for
            // display before the handler below parses the body for what it means.
            if let Ok(TokenReply::Error(e)) = token::parse_token_response(response, scratch) {
                remember(&mut self.description, e.description);
            }
            #[cfg(feature = "password-grant")]
            if let Ok(TokenReply::MfaRequired(m)) = token::parse_token_response(response, scratch) {
                remember(&mut self.description, m.description());
            }
        }
        let r = self.on_response(response, scratch);
        self.settle(r)
    }

    fn on_response(&mut self, response: Response<'_>, scratch: &mut [u8]) -> Result<(), Error> {
        let clock = self.clock.get();
        // The states a token response answers share one parse.
        let (answer, sent_at, account) = match &mut *self.state {
            State::ExpectTokenResponse {
                purpose,
                sent_at,
                account,
            } => (Answer::Grant(*purpose), sent_at.get(), account.take()),
            State::Signed {
                refresh: Refresh::Sent { at, retried },
                ..
            } => (Answer::Refresh { retried: *retried }, at.get(), None),
            #[cfg(feature = "device")]
            State::ExpectDeviceApproval(device) if device.in_flight.is_some() => {
                let sent_at = device.in_flight.take().map_or(clock, Time::get);
                (Answer::DevicePoll, sent_at, None)
            }
            #[cfg(feature = "password-grant")]
            State::MfaRequired {
                queued: None,
                in_flight: in_flight @ Some(_),
                ..
            } => {
                let sent = *in_flight;
                return self.on_mfa_response(sent, response, scratch);
            }
            #[cfg(feature = "password-grant")]
            State::Forget { sent: true, .. } => {
                token::parse_ack_response(response, scratch)?.into_result()?;
                self.set_state(State::Idle);
                self.announce.done = Some(Outcome::Accepted);
                return Ok(());
            }
            #[cfg(feature = "device")]
            State::DeviceStart {
                sent_at: Some(sent_at),
            } => {
                let sent_at = sent_at.get();
                return self.on_device_authorization(sent_at, response, scratch);
            }
            State::Revoking {
                attempts,
                retry_at,
                in_flight: in_flight @ true,
                ..
            } => {
                let result =
                    match token::parse_revocation_response(response, response.retry_after, scratch)
                    {
                        Ok(RevocationReply::Revoked) => Ok(()),
                        Ok(RevocationReply::Unavailable { retry_after })
                            if *attempts < MAX_REVOKE_ATTEMPTS =>
                        {
                            // TOK-9: still live; try again after Retry-After. The store is
                            // already empty.
                            let wait = retry_after
                                .unwrap_or(DEFAULT_REVOKE_RETRY)
                                .min(MAX_REVOKE_RETRY);
                            *retry_at = Time(clock.saturating_add(wait));
                            *in_flight = false;
                            return Ok(());
                        }
                        Ok(RevocationReply::Unavailable { .. }) => {
                            Err(Error::ServerError(ServerError {
                                code: ErrorKind::TemporarilyUnavailable,
                                status: HttpStatus::new(response.status),
                            }))
                        }
                        Ok(RevocationReply::Error(e)) => Err(e.to_error()),
                        Err(e) => Err(e),
                    };
                self.logged_out(result);
                return Ok(());
            }
            other => return Err(wrong_state(other)),
        };
        let reply = token::parse_token_response(response, scratch);
        match (answer, reply) {
            (Answer::Refresh { retried }, reply) => {
                self.on_refresh_response(sent_at, retried, reply)
            }
            (_, Ok(TokenReply::Token(t))) => {
                self.authorized(t, sent_at, account, Outcome::Authorized)
            }
            #[cfg(feature = "device")]
            (Answer::DevicePoll, Ok(TokenReply::Error(e))) => match e.code.kind() {
                ErrorKind::AuthorizationPending | ErrorKind::SlowDown => {
                    if let State::ExpectDeviceApproval(device) = &mut *self.state {
                        if e.code.kind() == ErrorKind::SlowDown {
                            // RFC 8628 §3.5: +5 s for this and every later poll (DEV-1).
                            device.interval = Time(device.interval.get().saturating_add(5));
                        }
                        // The server answered: any back-off after timeouts ends (DEV-3).
                        device.wait = device.interval;
                        device.next_poll = Time(clock.saturating_add(device.wait.get()));
                    }
                    Ok(())
                }
                // access_denied, expired_token and anything else end the flow (DEV-1).
                _ => Err(e.to_error()),
            },
            #[cfg(feature = "password-grant")]
            (Answer::Grant(Purpose::Password), Ok(TokenReply::MfaRequired(m))) => {
                self.set_state(State::MfaRequired {
                    mfa: m.mfa_token()?,
                    queued: None,
                    in_flight: None,
                    secret: None,
                });
                self.announce.done = Some(Outcome::MfaRequired);
                Ok(())
            }
            (_, Ok(reply)) => Err(reply_error(reply)),
            (_, Err(e)) => Err(e),
        }
    }

    /// Reports that the last [`Action::Send`] got no answer (connection failed or timed
    /// out), so its outcome is unknown:
    /// - a refresh is sent once more with the same token; a second silence ends the session
    ///   with [`EndReason::RefreshOutcomeUnknown`] — never a loop replaying a token that
    ///   may have been rotated out (LIFE-9);
    /// - a device poll backs off, doubling the interval up to [`MAX_DEVICE_INTERVAL`]
    ///   (DEV-3), until the server answers again: then its own interval applies again;
    /// - a revocation completes the logout with an error (LIFE-5);
    /// - anything else (a single-use code exchange, say) fails the session.
    // Not inlined, like `handle_callback` (measured on the firmware probe).
    #[inline(never)]
    pub fn handle_timeout(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        let r = match &mut *self.state {
            State::Signed {
                refresh: Refresh::Sent { retried, .. },
                ..
            } => {
                let retried = *retried;
                self.refresh_outcome_unknown(retried);
                Ok(())
            }
            #[cfg(feature = "device")]
            State::ExpectDeviceApproval(device) if device.in_flight.is_some() => {
                // Doubled, within 1..=MAX_DEVICE_INTERVAL (capped first: no overflow).
                let wait =
                    (device.wait.get().min(MAX_DEVICE_INTERVAL) * 2).clamp(1, MAX_DEVICE_INTERVAL);
                device.wait = Time(wait);
                device.next_poll = Time(self.clock.get().saturating_add(wait));
                device.in_flight = None;
                Ok(())
            }
            State::Revoking {
                in_flight: true, ..
            } => {
                self.logged_out(Err(TIMEOUT));
                Ok(())
            }
            other if is_in_flight(other) => Err(TIMEOUT),
            other => Err(wrong_state(other)),
        };
        self.settle(r)
    }

    /// Reports that the last [`Action::Send`] was **not delivered**: nothing reached the
    /// server (connection refused, DNS failure, TLS handshake failed before the request was
    /// written). Unlike [`Session::handle_timeout`], the outcome is known:
    /// - a refresh goes back to signed-in with the same tokens (nothing was rotated): the
    ///   next poll sends it again, so back off before polling;
    /// - anything else is handled as [`Session::handle_timeout`] handles it.
    pub fn handle_send_failed(&mut self, now: UnixTime) -> Result<(), Error> {
        self.tick(now);
        if let State::Signed {
            refresh: refresh @ Refresh::Sent { .. },
            ..
        } = &mut *self.state
        {
            *refresh = Refresh::Off;
            return Ok(());
        }
        self.handle_timeout(now)
    }

    // --- output ---------------------------------------------------------------------------

    /// The next thing to do, its bytes written into `buf`.
    ///
    /// Too small a buffer is [`Error::BufferTooSmall`] with the size required; the action
    /// stays queued and the session is not poisoned, so poll again with a larger one
    /// (4 KiB holds every request but those carrying very large tokens; a snapshot needs
    /// about the size of its tokens plus 40 bytes).
    pub fn poll_action<'b>(
        &mut self,
        now: UnixTime,
        buf: &'b mut [u8],
    ) -> Result<Action<'b>, Error> {
        self.tick(now);
        if let State::Failed(_) = *self.state {
            return Err(ApiMisuse::Poisoned.into());
        }
        if self.announce.erase {
            self.announce.erase = false;
            return Ok(Action::Erase);
        }
        if self.announce.persist {
            let n = self.save(buf)?;
            self.announce.persist = false;
            return Ok(Action::Persist(&buf[..n]));
        }
        #[cfg(feature = "password-grant")]
        if let Some(Outcome::MfaSecret(_)) = self.announce.done {
            let secret = match &mut *self.state {
                State::MfaRequired { secret, .. } => secret.take(),
                _ => None,
            };
            let len = secret.as_ref().map_or(0, |s| s.0.len());
            if len > buf.len() {
                if let State::MfaRequired { secret: slot, .. } = &mut *self.state {
                    *slot = secret;
                }
                return Err(Error::BufferTooSmall {
                    required: crate::Len::new(len),
                });
            }
            let out = &mut buf[..len];
            out.copy_from_slice(secret.as_ref().map_or(&[][..], |s| s.0.as_bytes()));
            self.announce.done = None;
            return Ok(Action::Done(Outcome::MfaSecret(utf8(out))));
        }
        if let Some(outcome) = self.announce.done.take() {
            return Ok(Action::Done(outcome));
        }
        self.next_action(buf)
    }

    fn next_action<'b>(&mut self, buf: &'b mut [u8]) -> Result<Action<'b>, Error> {
        let now = self.clock.get();
        let cfg = &self.config;
        // What to send (borrowing what it carries), and for which Kommo account.
        let (req, account) = match &mut *self.state {
            State::Pending {
                pending,
                stage: stage @ Stage::Authorize,
                iframe,
                ..
            } => {
                #[cfg(feature = "crm")]
                let action = if *iframe {
                    let challenge = pending.challenge();
                    let origin = cfg
                        .parent_origin
                        .as_ref()
                        .ok_or(ApiMisuse::BadConfig(Name::ParentOrigin))?
                        .as_str();
                    let (obuf, rest) = split_copy(buf, origin)?;
                    let n = write_code_request(&cfg.client, &challenge, pending.state(), rest)
                        .map_err(|e| add_required(e, origin.len()))?;
                    Action::PostMessage {
                        target_origin: utf8(obuf),
                        json: utf8(&rest[..n]),
                    }
                } else {
                    authorization_url(cfg, pending, buf)?
                };
                #[cfg(not(feature = "crm"))]
                let action = {
                    let _ = iframe;
                    authorization_url(cfg, pending, buf)?
                };
                *stage = Stage::Callback;
                return Ok(action);
            }
            // Written from the borrowed verifier: a too-small buffer leaves the exchange
            // queued with its verifier; once written, the verifier is dropped with this
            // state, so it is sent at most once (PKCE-4).
            State::Pending {
                pending,
                stage: Stage::Exchange,
                code,
                account,
                ..
            } => (Req::Code(code, pending.verifier()), account.as_ref()),
            State::Signed { tokens, refresh } if !matches!(refresh, Refresh::Sent { .. }) => {
                if matches!(refresh, Refresh::Off) {
                    let due = due_at(cfg, tokens);
                    if now < due {
                        return Ok(Action::WaitUntil(due));
                    }
                    let expires_at = tokens.expires_at.get();
                    if tokens.refresh.is_none() && now < expires_at {
                        // Due, nothing to refresh with, still valid: serve it until expiry.
                        return Ok(Action::WaitUntil(expires_at));
                    }
                    *refresh = Refresh::Queued { retried: false };
                }
                let Some(token) = tokens.refresh.as_ref() else {
                    // Expired with nothing to refresh with: the erase comes first.
                    self.end_session(EndReason::Expired);
                    self.announce.erase = false;
                    return Ok(Action::Erase);
                };
                // The request is written from the token the session keeps while the request
                // is in flight (the LIFE-9 retry, servers that do not rotate) and never hands
                // out. A failure to write leaves the refresh queued, nothing sent.
                (Req::Refresh(token.secret()), tokens.account.as_ref())
            }
            #[cfg(feature = "password-grant")]
            State::Password { username, password } => (Req::Password(username, &password.0), None),
            #[cfg(feature = "password-grant")]
            State::MfaRequired {
                mfa,
                queued,
                in_flight: None,
                ..
            } => {
                let Some(op) = queued.as_ref() else {
                    return Ok(Action::Idle);
                };
                (Req::Mfa(mfa, op), None)
            }
            #[cfg(feature = "password-grant")]
            State::Forget {
                username,
                sent: false,
            } => (Req::Forget(username), None),
            State::ClientCredentials => (Req::ClientCredentials, None),
            #[cfg(feature = "device")]
            State::DeviceStart { sent_at: None } => (Req::DeviceAuthorization, None),
            #[cfg(feature = "device")]
            State::ExpectDeviceApproval(device) if device.in_flight.is_none() => {
                let expires_at = device.expires_at.get();
                if now >= expires_at {
                    // DEV-1: stop at expires_in.
                    let e = Error::ServerError(ServerError {
                        code: ErrorKind::ExpiredToken,
                        status: HttpStatus::new(0),
                    });
                    self.set_state(State::Failed(e));
                    return Err(e);
                }
                if !device.shown {
                    let action = show_user_code(device, buf)?;
                    device.shown = true;
                    return Ok(action);
                }
                let next_poll = device.next_poll.get();
                if now < next_poll {
                    return Ok(Action::WaitUntil(next_poll.min(expires_at)));
                }
                (Req::DeviceToken(&device.code), None)
            }
            State::Revoking {
                refresh,
                account,
                retry_at,
                in_flight: false,
                ..
            } => {
                let retry_at = retry_at.get();
                if now < retry_at {
                    return Ok(Action::WaitUntil(retry_at));
                }
                (Req::Revoke(refresh), account.as_ref())
            }
            _ => return Ok(Action::Idle),
        };
        // Marked sent only once written; the request stays where it was written (no move).
        let r = write_request(cfg, account, req, buf);
        if r.is_ok() {
            self.sent(now);
        }
        r.map(Action::Send)
    }

    /// Marks the request [`Session::next_action`] just wrote as sent at `now`.
    fn sent(&mut self, now: UnixTime) {
        let now = Time(now);
        let next = match &mut *self.state {
            State::Pending { account, .. } => State::ExpectTokenResponse {
                purpose: Purpose::Exchange,
                sent_at: now,
                account: account.take(),
            },
            State::Signed { refresh, .. } => {
                *refresh = Refresh::Sent {
                    at: now,
                    retried: matches!(refresh, Refresh::Queued { retried: true }),
                };
                return;
            }
            #[cfg(feature = "password-grant")]
            State::Password { .. } => State::ExpectTokenResponse {
                purpose: Purpose::Password,
                sent_at: now,
                account: None,
            },
            #[cfg(feature = "password-grant")]
            State::MfaRequired {
                queued, in_flight, ..
            } => {
                *in_flight = Some(match queued.take() {
                    Some(MfaOp::Verify(_)) => MfaSent::Verify(now),
                    Some(MfaOp::Secret) => MfaSent::Secret,
                    _ => MfaSent::Ack,
                });
                return;
            }
            #[cfg(feature = "password-grant")]
            State::Forget { sent, .. } => {
                *sent = true;
                return;
            }
            State::ClientCredentials => State::ExpectTokenResponse {
                purpose: Purpose::ClientCredentials,
                sent_at: now,
                account: None,
            },
            #[cfg(feature = "device")]
            State::DeviceStart { sent_at } => {
                *sent_at = Some(now);
                return;
            }
            #[cfg(feature = "device")]
            State::ExpectDeviceApproval(device) => {
                device.in_flight = Some(now);
                return;
            }
            State::Revoking {
                attempts,
                in_flight,
                ..
            } => {
                *attempts = attempts.saturating_add(1);
                *in_flight = true;
                return;
            }
            _ => return,
        };
        self.set_state(next);
    }

    // --- transitions ----------------------------------------------------------------------

    /// The one path by which a failed step ends: the error poisons the session (and drops
    /// any queued announcement) — except a call made in the wrong state (nothing pending,
    /// nothing in flight, or already poisoned), which leaves the session as it was.
    #[inline(never)]
    fn settle(&mut self, r: Result<(), Error>) -> Result<(), Error> {
        if let Err(e) = r
            && !matches!(
                e,
                Error::ApiMisuse(ApiMisuse::WrongState | ApiMisuse::Poisoned)
                    | Error::CheckFailed(CheckFailed::NothingPending)
            )
        {
            self.set_state(State::Failed(e));
            self.announce = Announce::default();
        }
        r
    }

    /// Tokens from a successful token response; queues Persist, then `done` (LIFE-2).
    fn authorized(
        &mut self,
        t: TokenResponse<'_>,
        sent_at: UnixTime,
        account: Option<KommoAccount>,
        done: Outcome<'static>,
    ) -> Result<(), Error> {
        t.require_bearer()?;
        // LIFE-8: from the time the request was sent, saturating (never wraps).
        let default = u64::from(self.config.default_expires_in);
        let expires_at = sent_at.saturating_add(t.expires_in().unwrap_or(default));
        self.install(
            t.access_token_secret(),
            t.refresh_token_secret(),
            expires_at,
            t.scope(),
            account,
        )?;
        self.announce.persist = true;
        self.announce.done = Some(done);
        Ok(())
    }

    /// Signs in with these tokens (restored, or from a token response). A refresh updates
    /// the session's tokens in place: a rotated refresh token replaces the old one, a
    /// server that does not rotate keeps the old one valid (RFC 6749 §6), and the scope
    /// stays when none is given. A new sign-in without a scope has the requested one.
    fn install(
        &mut self,
        access: &str,
        refresh: Option<&str>,
        expires_at: UnixTime,
        scope: Option<&str>,
        account: Option<KommoAccount>,
    ) -> Result<(), Error> {
        // The tokens are written in place (no token value moves into the state). An error
        // part way leaves them half-written: the caller drops (restore) or poisons the session.
        let scope = match &mut *self.state {
            State::Signed { refresh: state, .. } => {
                *state = Refresh::Off;
                scope
            }
            _ => {
                self.set_state(State::Signed {
                    tokens: Tokens {
                        access: AccessToken::empty(),
                        refresh: None,
                        expires_at: Time(expires_at),
                        scope: String::new(),
                        account,
                    },
                    refresh: Refresh::Off,
                });
                Some(scope.unwrap_or(self.config.client.scope()))
            }
        };
        let State::Signed { tokens, .. } = &mut *self.state else {
            return Ok(());
        };
        tokens.expires_at = Time(expires_at);
        // One error exit for the three copies (not one per `?`).
        match refresh {
            Some(r) => tokens.refresh.get_or_insert(RefreshToken::empty()).set(r),
            None => Ok(()),
        }
        .and_then(|()| tokens.access.set(access))
        .and_then(|()| match scope {
            Some(scope) => crate::put(tokens.scope.as_mut_view(), scope, Capacity::Config),
            None => Ok(()),
        })
    }

    /// A refresh whose outcome is unknown (no answer, or the server failed): one retry
    /// with the same token, then sign in again — never a loop (LIFE-9).
    fn refresh_outcome_unknown(&mut self, retried: bool) {
        match &mut *self.state {
            State::Signed { refresh, .. } if !retried => {
                *refresh = Refresh::Queued { retried: true };
            }
            _ => self.end_session(EndReason::RefreshOutcomeUnknown),
        }
    }

    fn on_refresh_response(
        &mut self,
        sent_at: UnixTime,
        retried: bool,
        reply: Result<TokenReply<'_>, Error>,
    ) -> Result<(), Error> {
        // A 5xx (an HTML error page or `server_error`/`temporarily_unavailable`) says nothing
        // about whether the token was rotated: the same as no answer (LIFE-9), instead of
        // poisoning a session whose tokens are still good.
        match reply {
            Err(Error::ServerMisbehaved(ServerMisbehaved::UnexpectedStatus(s)))
                if s.get() >= 500 =>
            {
                self.refresh_outcome_unknown(retried)
            }
            Ok(TokenReply::Error(ErrorResponse { status: 500.., .. })) => {
                self.refresh_outcome_unknown(retried)
            }
            Ok(TokenReply::Error(e))
                if matches!(
                    e.code.kind(),
                    ErrorKind::ServerError | ErrorKind::TemporarilyUnavailable
                ) =>
            {
                self.refresh_outcome_unknown(retried)
            }
            Ok(TokenReply::Token(t)) => {
                return self.authorized(t, sent_at, None, Outcome::Refreshed);
            }
            Ok(TokenReply::Error(e)) if e.code.kind() == ErrorKind::InvalidGrant => {
                // LIFE-3: the grant is over. Forget everything; no retry.
                self.end_session(EndReason::RefreshRejected(ServerError {
                    code: e.code.kind(),
                    status: HttpStatus::new(e.status),
                }));
            }
            Ok(reply) => return Err(reply_error(reply)),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    #[cfg(feature = "password-grant")]
    fn on_mfa_response(
        &mut self,
        sent: Option<MfaSent>,
        response: Response<'_>,
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        let (done, secret) = match sent {
            Some(MfaSent::Verify(sent_at)) => {
                match token::parse_token_response(response, scratch)? {
                    // CRM-2: the MFA token is dropped (wiped) once the step ends.
                    TokenReply::Token(t) => {
                        return self.authorized(t, sent_at.get(), None, Outcome::Authorized);
                    }
                    TokenReply::Error(e) if e.status < 500 => {
                        (Outcome::MfaRejected(e.to_error()), None)
                    }
                    reply => return Err(reply_error(reply)),
                }
            }
            Some(MfaSent::Secret) => match token::parse_mfa_secret_response(response, scratch)? {
                token::Reply::Success(s) => (
                    Outcome::MfaSecret(""),
                    Some(Secret(param(s.secret(), Name::MfaSecret)?)),
                ),
                token::Reply::Error(e) => (Outcome::MfaRejected(e.to_error()), None),
            },
            _ => match token::parse_ack_response(response, scratch)? {
                token::Reply::Success(()) => (Outcome::Accepted, None),
                token::Reply::Error(e) => (Outcome::MfaRejected(e.to_error()), None),
            },
        };
        if let State::MfaRequired {
            in_flight,
            secret: slot,
            ..
        } = &mut *self.state
        {
            *in_flight = None;
            *slot = secret;
        }
        self.announce.done = Some(done);
        Ok(())
    }

    #[cfg(feature = "device")]
    fn on_device_authorization(
        &mut self,
        sent_at: UnixTime,
        response: Response<'_>,
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        let d = token::parse_device_authorization_response(response, scratch)?.into_result()?;
        let interval = match d.interval() {
            0 => DEFAULT_DEVICE_INTERVAL,
            i => i.min(MAX_DEVICE_INTERVAL),
        };
        self.set_state(State::ExpectDeviceApproval(Device {
            code: d.device_code()?,
            user_code: String::new(),
            verification_uri: String::new(),
            verification_uri_complete: None,
            interval: Time(interval),
            wait: Time(interval),
            // From when the request was sent, like a token's expiry (LIFE-8): never poll a
            // code the server has already expired.
            expires_at: Time(sent_at.saturating_add(d.expires_in())),
            next_poll: Time(self.clock.get().saturating_add(interval)),
            shown: false,
            in_flight: None,
        }));
        // The texts are copied in place (no string moves through a `Result`). An error
        // poisons the session, so a half-filled device state is never used.
        let State::ExpectDeviceApproval(device) = &mut *self.state else {
            return Ok(());
        };
        crate::put(
            device.user_code.as_mut_view(),
            d.user_code(),
            Capacity::Token,
        )
        .and_then(|()| {
            crate::put(
                device.verification_uri.as_mut_view(),
                d.verification_uri(),
                Capacity::Url,
            )
        })
        .and_then(|()| match d.verification_uri_complete() {
            Some(u) => crate::put(
                device
                    .verification_uri_complete
                    .insert(String::new())
                    .as_mut_view(),
                u,
                Capacity::Url,
            ),
            None => Ok(()),
        })
    }

    /// Ends the session without logout: tokens forgotten, store erased, sign in again.
    /// Not inlined: four callers (measured on the firmware probe).
    #[inline(never)]
    fn end_session(&mut self, reason: EndReason) {
        self.announce = Announce {
            erase: true,
            persist: false,
            done: Some(Outcome::SignInRequired(reason)),
        };
        self.set_state(State::LoggedOut);
    }

    /// Completes a logout with the revocation's result.
    fn logged_out(&mut self, revocation: Result<(), Error>) {
        self.announce.done = Some(Outcome::LoggedOut { revocation });
        self.set_state(State::LoggedOut);
    }

    fn due_at(&self, tokens: &Tokens<A, R>) -> UnixTime {
        due_at(&self.config, tokens)
    }

    /// Replaces the state (see [`StateSlot`]). Always inlined, so each new state is built
    /// where it goes.
    #[inline(always)]
    fn set_state(&mut self, state: State<A, R>) {
        self.state = StateSlot::new(state);
    }

    /// Time never goes backwards inside the session (LIFE-1). Not inlined: every entry
    /// point calls it, and a 64-bit maximum is long on 32-bit targets.
    #[inline(never)]
    fn tick(&mut self, now: UnixTime) {
        self.clock = Time(self.clock.get().max(now));
    }

    fn ready_to_start(&self, replace_pending: bool) -> Result<(), Error> {
        match &*self.state {
            State::Idle | State::LoggedOut => Ok(()),
            State::Pending {
                stage: Stage::Authorize | Stage::Callback,
                ..
            } if replace_pending => Ok(()),
            other => Err(wrong_state(other)),
        }
    }
}

impl<const A: usize, const R: usize> fmt::Debug for Session<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No token, code, verifier or secret appears here (SEC-1).
        f.debug_struct("Session")
            .field("dialect", &self.config.profile.dialect())
            .field("phase", &self.phase())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// The error a transport timeout is reported as where the session cannot go on.
const TIMEOUT: Error = Error::ServerMisbehaved(crate::ServerMisbehaved::NoResponse);

/// The error a non-token reply stands for (an error response, or an MFA requirement
/// where none was asked for).
fn reply_error(reply: TokenReply<'_>) -> Error {
    match reply.into_result() {
        Err(e) => e,
        Ok(_) => ServerMisbehaved::MalformedResponse.into(),
    }
}

/// When a refresh becomes due. Not inlined: a 64-bit subtraction is long on 32-bit targets.
#[inline(never)]
fn due_at<const A: usize, const R: usize>(cfg: &Config, tokens: &Tokens<A, R>) -> UnixTime {
    (tokens.expires_at.get()).saturating_sub(u64::from(cfg.refresh_skew))
}

fn token_request<'a>(
    cfg: &'a Config,
    account: Option<&'a KommoAccount>,
) -> Result<TokenRequest<'a>, Error> {
    match account {
        #[cfg(feature = "kommo")]
        Some(a) => TokenRequest::kommo(&cfg.profile, &cfg.client, a),
        _ => TokenRequest::new(&cfg.profile, &cfg.client),
    }
}

/// A request [`Session::next_action`] writes, borrowing what it carries.
enum Req<'s, const R: usize> {
    Code(&'s str, &'s CodeVerifier),
    Refresh(&'s str),
    ClientCredentials,
    Revoke(&'s RefreshToken<R>),
    #[cfg(feature = "password-grant")]
    Password(&'s str, &'s str),
    #[cfg(feature = "password-grant")]
    Mfa(&'s MfaToken, &'s MfaOp),
    #[cfg(feature = "password-grant")]
    Forget(&'s str),
    #[cfg(feature = "device")]
    DeviceAuthorization,
    #[cfg(feature = "device")]
    DeviceToken(&'s DeviceCode),
}

/// Writes a request into `buf`: the one place every request of the session is written.
fn write_request<'b, const R: usize>(
    cfg: &Config,
    account: Option<&KommoAccount>,
    req: Req<'_, R>,
    buf: &'b mut [u8],
) -> Result<Request<'b>, Error> {
    let t = token_request(cfg, account)?;
    match req {
        Req::Code(code, verifier) => t.authorization_code_with(code, verifier, buf),
        Req::Refresh(refresh) => t.refresh_with(refresh, buf),
        Req::ClientCredentials => t.client_credentials(buf),
        Req::Revoke(refresh) => t.revoke(refresh, buf),
        #[cfg(feature = "password-grant")]
        Req::Password(username, password) => t.password(username, password, buf),
        #[cfg(feature = "password-grant")]
        Req::Mfa(mfa, op) => match op {
            MfaOp::Verify(otp) => t.mfa_verify(mfa, &otp.0, buf),
            MfaOp::Secret => t.mfa_secret(mfa, buf),
            MfaOp::EmailSend => t.mfa_email_send(mfa, buf),
            MfaOp::Bind(kind, otp) => t.mfa_bind(mfa, *kind, &otp.0, buf),
            MfaOp::Deactivate => t.mfa_deactivation_request(mfa, buf),
        },
        #[cfg(feature = "password-grant")]
        Req::Forget(username) => t.forget_password(username, buf),
        #[cfg(feature = "device")]
        Req::DeviceAuthorization => t.device_authorization(buf),
        #[cfg(feature = "device")]
        Req::DeviceToken(code) => t.device_token(code, buf),
    }
}

/// The authorization URL of a pending request, with the configured extra parameters.
fn authorization_url<'b>(
    cfg: &Config,
    pending: &PendingAuthorization,
    buf: &'b mut [u8],
) -> Result<Action<'b>, Error> {
    let n = AuthorizationRequest::new(
        &cfg.profile,
        &cfg.client,
        &pending.challenge(),
        pending.state(),
    )
    .with_packed_extra(&cfg.extra)
    .write_url(buf)?;
    Ok(Action::OpenUrl(utf8(&buf[..n])))
}

#[cfg(feature = "device")]
fn show_user_code<'b>(device: &Device, buf: &'b mut [u8]) -> Result<Action<'b>, Error> {
    let complete = device.verification_uri_complete.as_deref();
    // The three texts together, checked once (then every copy below fits): too small a
    // buffer reports all of it, so one retry with that size succeeds.
    let required =
        device.user_code.len() + device.verification_uri.len() + complete.map_or(0, str::len);
    if buf.len() < required {
        return Err(Error::BufferTooSmall {
            required: crate::error::Len::new(required),
        });
    }
    let (a, rest) = split_copy(buf, &device.user_code)?;
    let (b, rest) = split_copy(rest, &device.verification_uri)?;
    let c = match complete {
        Some(c) => Some(split_copy(rest, c)?.0),
        None => None,
    };
    Ok(Action::ShowUserCode {
        user_code: utf8(a),
        verification_uri: utf8(b),
        verification_uri_complete: c.map(|c| utf8(c)),
    })
}

/// Copies `s` to the front of `buf`; returns the copy and the rest of `buf`.
#[cfg(any(feature = "crm", feature = "device"))]
fn split_copy<'b>(buf: &'b mut [u8], s: &str) -> Result<(&'b mut [u8], &'b mut [u8]), Error> {
    if buf.len() < s.len() {
        return Err(Error::BufferTooSmall {
            required: crate::Len::new(s.len()),
        });
    }
    let (head, rest) = buf.split_at_mut(s.len());
    head.copy_from_slice(s.as_bytes());
    Ok((head, rest))
}

/// Bytes the session itself copied from a `&str`: always UTF-8.
fn utf8(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or_default()
}

#[cfg(feature = "crm")]
fn add_required(e: Error, extra: usize) -> Error {
    match e {
        Error::BufferTooSmall { required } => Error::BufferTooSmall {
            required: crate::Len::new(required.get().saturating_add(extra)),
        },
        e => e,
    }
}

/// The text before the next `\n` of the packed extras, which it consumes; `None` at the
/// end. A byte scan, not `str::split_terminator`, whose char searcher costs more code.
fn next_line<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let i = rest.bytes().position(|b| b == b'\n')?;
    let line = rest.get(..i)?;
    *rest = rest.get(i + 1..)?;
    Some(line)
}

/// Keeps a verified callback's code until the exchange is written.
fn set_code(slot: &mut Code, code: AuthorizationCode<'_>) -> Result<(), Error> {
    crate::put(slot.as_mut_view(), code.secret(), Capacity::Token)
}

/// Keeps a server's description for display, when it fits.
fn remember(slot: &mut String<MAX_DESCRIPTION_LEN>, description: Option<&str>) {
    // A description that does not fit leaves the slot empty (`put` clears it first).
    let _ = crate::put(
        slot.as_mut_view(),
        description.unwrap_or_default(),
        Capacity::Config,
    );
}

#[cfg(feature = "password-grant")]
fn bounded<const N: usize>(s: &str, what: Capacity, limit: usize) -> Result<String<N>, Error> {
    String::try_from(s).map_err(|_| Error::CapacityExceeded {
        what,
        limit: crate::error::limit(limit),
    })
}

#[cfg(feature = "password-grant")]
fn param(s: &str, name: Name) -> Result<String<MAX_PARAM_LEN>, Error> {
    if s.is_empty() {
        return Err(ApiMisuse::BadConfig(name).into());
    }
    bounded(s, Capacity::Parameter, MAX_PARAM_LEN)
}

fn is_in_flight<const A: usize, const R: usize>(s: &State<A, R>) -> bool {
    match s {
        State::ExpectTokenResponse { .. } => true,
        #[cfg(feature = "device")]
        State::DeviceStart { sent_at: Some(_) } => true,
        #[cfg(feature = "password-grant")]
        State::MfaRequired {
            in_flight: Some(_), ..
        }
        | State::Forget { sent: true, .. } => true,
        _ => false,
    }
}

fn wrong_state<const A: usize, const R: usize>(s: &State<A, R>) -> Error {
    match s {
        State::Failed(_) => ApiMisuse::Poisoned.into(),
        _ => ApiMisuse::WrongState.into(),
    }
}

fn not_pending<const A: usize, const R: usize>(s: &State<A, R>) -> Error {
    match s {
        State::Failed(_) => ApiMisuse::Poisoned.into(),
        _ => CheckFailed::NothingPending.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_size_is_bounded() {
        // Default capacities: the documented bound (9 872 bytes without features, 9 880 with
        // all of them when this was written).
        assert!(core::mem::size_of::<Session>() <= MAX_DEFAULT_SESSION_SIZE);
        // Smaller token capacities make a smaller session.
        assert!(core::mem::size_of::<Session<1024, 512>>() < core::mem::size_of::<Session>());
        // The refresh token is held once, not once per refresh sub-state.
        let tokens = core::mem::size_of::<Tokens<DEFAULT_ACCESS_CAP, DEFAULT_REFRESH_CAP>>();
        let config = core::mem::size_of::<Config>();
        assert!(core::mem::size_of::<Session>() < tokens + config + 1024);
    }

    #[test]
    fn too_little_entropy_leaves_a_pending_authorization_as_it_was() {
        let config = Config::new(
            Profile::rfc6749("https://as.example/a", "https://as.example/t").unwrap(),
            Client::new("c", "https://app.example/cb").unwrap(),
        );
        let mut s: Session<64, 64> = Session::new(config);
        let (mut buf, mut scratch) = ([0u8; 1024], [0u8; 1024]);
        let entropy: [u8; 48] = core::array::from_fn(|i| i as u8);
        s.start_authorization(&entropy, 1).unwrap();
        let Ok(Action::OpenUrl(url)) = s.poll_action(1, &mut buf) else {
            panic!("no URL");
        };
        // The state is made in place from bytes 32..48 of the entropy.
        let state = crate::state::StateToken::from_entropy(&entropy[32..]).unwrap();
        assert!(
            url.contains(&format!("&state={}&", state.as_str())),
            "{url}"
        );
        let query = format!("code=x&state={}", state.as_str());
        assert!(s.callback_matches(query.as_bytes(), &mut scratch));
        assert_eq!(
            s.start_authorization(&entropy[..47], 2),
            Err(ApiMisuse::NotEnoughEntropy { required: 48 }.into())
        );
        assert_eq!(s.phase(), Phase::ExpectCallback);
        assert!(s.callback_matches(query.as_bytes(), &mut scratch));
        // Enough entropy replaces it.
        s.start_authorization(&[9u8; 48], 3).unwrap();
        assert!(!s.callback_matches(query.as_bytes(), &mut scratch));
    }

    #[test]
    fn packed_extras_read_back_in_order_and_clone_equal() {
        let config = Config::new(
            Profile::rfc6749("https://as.example/a", "https://as.example/t").unwrap(),
            Client::new("c", "https://app.example/cb").unwrap(),
        );
        assert_eq!(config.extra_params().count(), 0);
        let config = config
            .with_extra_param("prompt", "consent")
            .unwrap()
            .with_extra_param("empty", "")
            .unwrap()
            .with_extra_param("ui_locales", "fr-CA ü日本")
            .unwrap();
        let mut it = config.extra_params();
        assert_eq!(it.next(), Some(("prompt", "consent")));
        assert_eq!(it.next(), Some(("empty", "")));
        assert_eq!(it.next(), Some(("ui_locales", "fr-CA ü日本")));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        let copy = config.clone();
        assert_eq!(copy, config);
        assert!(copy.extra_params().eq(config.extra_params()));
        // A lone name without its value (never written by `with_extra_param`) is not a pair.
        let mut rest = "a\nb\nc\n";
        assert_eq!(next_line(&mut rest), Some("a"));
        assert_eq!(rest, "b\nc\n");
        let mut rest = "no newline";
        assert_eq!(next_line(&mut rest), None);
    }
}
