//! [`Client`]: the one loop that drives a [`Session`] with the std world — the system clock,
//! OS entropy, the [`Transport`], a [`TokenStore`] and a [`Ui`] — for every flow.
//!
//! Every flow is: call a `start_*`/input method of the session, then [`Client::drive`] its
//! [`Action`]s until the step ends (design.md "One loop drives every flow"). The client
//! makes no protocol decision; it only carries actions out:
//! - `Send` → the transport (no redirects); the answer to `handle_response`. A request that
//!   never reached the server while a refresh was in flight is not reported to the core as
//!   a lost answer: the client reloads the last persisted snapshot instead, so a server that
//!   is down never costs the grant. Any other missing answer goes to `handle_timeout`.
//! - `Persist` / `Erase` → the store, synchronously, before polling again (LIFE-2, LIFE-6).
//! - `WaitUntil` → sleep while a flow is under way (device polling, a revocation retry);
//!   return when signed in (a refresh is merely scheduled).
//! - `ShowUserCode` → the [`Ui`].
//!
//! A refresh runs under the store's lock after re-reading the store, so two processes
//! never refresh the same grant at once and the loser picks up the winner's tokens (LIFE-4).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_core::UnixTime;
use latchkey_core::error::ApiMisuse;
use latchkey_core::profile::Dialect;
use latchkey_core::session::{Action, Config, Outcome, Phase, Session};
use latchkey_core::token::MfaType;

use crate::error::{Error, StoreProblem};
use crate::loopback::LoopbackListener;
use crate::store::TokenStore;
use crate::transport::{Guard, Reply, Transport};

/// Initial size of the buffer actions are written into; grown on demand.
const ACTION_BUF: usize = 16 * 1024;

/// The current time in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `N` bytes from the OS CSPRNG.
pub fn entropy<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Aborted(format!("the OS random number generator failed: {e}")))?;
    Ok(bytes)
}

/// Progress and prompts from a running flow. Every method has a no-op default.
pub trait Ui {
    /// Show the device grant's user code and where to enter it (never open it, DEV-2).
    fn show_user_code(&mut self, user_code: &str, verification_uri: &str, complete: Option<&str>) {
        let _ = (user_code, verification_uri, complete);
    }
    /// A wait started (for the browser, the device approval, a retry); show a spinner.
    fn waiting(&mut self, what: &str) {
        let _ = what;
    }
    /// The current wait ended.
    fn done_waiting(&mut self) {}
    /// A request is about to be sent to `url` (no secrets in it).
    fn sending(&mut self, url: &str) {
        let _ = url;
    }
}

/// A [`Ui`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUi;

impl Ui for NoUi {}

/// A valid access token, for an `Authorization: Bearer` header. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token itself. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

/// An MFA enrolment secret (base32 TOTP key). `Debug` is redacted; show it once.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaSecret(String);

impl MfaSecret {
    /// The secret. Show it to the user once (as a QR code); never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MfaSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaSecret([redacted])")
    }
}

/// How a step driven by [`Client::drive`] ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Signed in; the tokens are stored.
    Authorized,
    /// Refreshed; the new tokens are stored.
    Refreshed,
    /// The server wants a second factor (CRM password grant).
    MfaRequired,
    /// The TOTP secret for enrolling an authenticator.
    MfaSecret(MfaSecret),
    /// The server accepted an MFA or password-reset step.
    Accepted,
    /// An MFA step was refused (e.g. a wrong OTP); the user may try again.
    MfaRejected(latchkey_core::Error),
    /// Logged out; every local token is gone. `Some` when the server did not confirm the
    /// revocation (the refresh token may live until it expires).
    LoggedOut(Option<Error>),
    /// The session wants the user to open this URL (the authorization request).
    OpenUrl(String),
    /// Nothing more to do now.
    Idle,
}

/// A session driven with the system clock, OS entropy, a transport and a store.
pub struct Client<S: TokenStore> {
    session: Box<Session>,
    transport: Transport,
    store: S,
    ui: Box<dyn Ui>,
    name: String,
    buf: Vec<u8>,
    last_net_error: Option<Error>,
}

impl<S: TokenStore> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("session", &self.session)
            .field("store", &self.store.location())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore> Client<S> {
    /// A client for `config`, restoring the session stored in `store` if there is one.
    ///
    /// A stored snapshot the core refuses (truncated, corrupt, another version, another
    /// client or dialect) is [`Error::Store`] with [`StoreProblem::Malformed`], naming the
    /// file.
    pub fn open(config: Config, transport: Transport, store: S) -> Result<Self, Error> {
        let mut c = Self {
            session: Box::new(Session::new(config)),
            transport,
            store,
            ui: Box::new(NoUi),
            name: "default".to_owned(),
            buf: vec![0; ACTION_BUF],
            last_net_error: None,
        };
        c.reload()?;
        Ok(c)
    }

    /// Sets the profile name used in messages.
    pub fn with_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Sets the progress callbacks.
    pub fn with_ui(mut self, ui: Box<dyn Ui>) -> Self {
        self.ui = ui;
        self
    }

    /// The session (phase, expiry, scope; no secrets through this view but
    /// [`Session::access_token`]).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Whether the session holds tokens.
    pub fn is_signed_in(&self) -> bool {
        matches!(self.session.phase(), Phase::Authorized | Phase::Refreshing)
    }

    // --- authorization code + PKCE ------------------------------------------------------

    /// Signs in through the system browser and the loopback redirect (RFC 8252): starts the
    /// authorization, calls `open` with the URL (open a browser, or print it), waits up to
    /// `timeout` for the callback on `listener`, then exchanges the code and stores the
    /// tokens. The profile's redirect URI must be `listener.redirect_uri()`.
    pub fn login(
        &mut self,
        listener: LoopbackListener,
        timeout: Duration,
        open: impl FnOnce(&str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let expected = listener.redirect_uri();
        if self.session.config().client.redirect_uri() != expected {
            return Err(Error::Config(format!(
                "the client's redirect URI is {} but the listener waits on {expected}",
                self.session.config().client.redirect_uri()
            )));
        }
        let url = self.begin_authorization()?;
        open(&url)?;
        self.ui.waiting("waiting for the browser to come back");
        let session = &mut self.session;
        let result = listener.wait(timeout, |query| {
            let mut scratch = vec![0u8; query.len().max(64)];
            // CB-8: a request without our state gets a 400 and the wait goes on; only a
            // matching callback reaches the session, which checks and consumes it once.
            if !session.callback_matches(query.as_bytes(), &mut scratch) {
                return Err(latchkey_core::CheckFailed::StateMismatch.into());
            }
            session.handle_callback(query.as_bytes(), unix_now(), &mut scratch)
        });
        self.ui.done_waiting();
        result?;
        self.expect_authorized()
    }

    /// Starts an authorization code + PKCE flow with fresh entropy (PKCE-4, STATE-1) and
    /// returns the URL to open.
    pub fn begin_authorization(&mut self) -> Result<String, Error> {
        let seed = entropy::<{ latchkey_core::state::AUTHORIZATION_ENTROPY }>()?;
        self.session.start_authorization(&seed, unix_now())?;
        match self.drive()? {
            Event::OpenUrl(url) => Ok(url),
            other => Err(unexpected(&other)),
        }
    }

    /// Hands a redirect's query (or whole URL) to the session — state, issuer and Kommo
    /// referer are checked by the core before any token request exists — then exchanges
    /// the code and stores the tokens.
    pub fn finish_authorization(&mut self, callback: &str) -> Result<(), Error> {
        let mut scratch = vec![0u8; callback.len().max(64)];
        self.session
            .handle_callback(callback.as_bytes(), unix_now(), &mut scratch)?;
        self.expect_authorized()
    }

    // --- tokens ---------------------------------------------------------------------------

    /// A valid access token, refreshing first if it is due. A refresh runs under the store
    /// lock after re-reading the store (another process may have refreshed already), and
    /// the new tokens are stored before this returns (LIFE-2, LIFE-4).
    pub fn token(&mut self) -> Result<BearerToken, Error> {
        if let Some(t) = self.valid_token()? {
            return Ok(t);
        }
        let _lock = self.store.lock()?;
        self.reload()?;
        if let Some(t) = self.valid_token()? {
            return Ok(t);
        }
        let refreshed = match self.drive()? {
            Event::Refreshed => true,
            Event::Idle => false,
            other => return Err(unexpected(&other)),
        };
        match self.valid_token()? {
            Some(t) => Ok(t),
            None if refreshed => Err(Error::Config(
                "the new token is due for refresh at once: the server's tokens live shorter \
                 than the refresh skew; lower refresh_skew"
                    .into(),
            )),
            // Due, no refresh token, not yet expired: the core will not hand it out.
            None => Err(Error::SignInRequired(
                latchkey_core::session::EndReason::Expired,
            )),
        }
    }

    /// Refreshes now, whether due or not (under the store lock, after re-reading it).
    pub fn refresh(&mut self) -> Result<(), Error> {
        let _lock = self.store.lock()?;
        self.reload()?;
        if !self.is_signed_in() {
            return Err(self.not_signed_in());
        }
        self.session.refresh(unix_now())?;
        match self.drive()? {
            Event::Refreshed => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Logs out: every local token is erased first, then the refresh token is revoked
    /// where the profile can (LIFE-5). `Ok(Some(e))`: logged out locally, but the server
    /// did not confirm the revocation.
    pub fn logout(&mut self) -> Result<Option<Error>, Error> {
        let _lock = self.store.lock()?;
        self.session.logout(unix_now())?;
        match self.drive()? {
            Event::LoggedOut(revocation) => Ok(revocation),
            other => Err(unexpected(&other)),
        }
    }

    /// `GET url` with the access token (refreshed first if due), e.g. a resource API.
    pub fn api_get(&mut self, url: &str) -> Result<Reply, Error> {
        let token = self.token()?;
        self.transport
            .get_guarded(url, Some(token.secret()), self.guard())
    }

    // --- device grant ---------------------------------------------------------------------

    /// Runs the RFC 8628 device grant: the user code goes to [`Ui::show_user_code`], then
    /// the client polls at the server's interval until approved, denied or expired.
    pub fn device_login(&mut self) -> Result<(), Error> {
        self.session.start_device_authorization(unix_now())?;
        self.expect_authorized()
    }

    // --- CRM password grant + MFA -----------------------------------------------------------

    /// Starts the CRM password grant (discouraged by RFC 9700 §2.4; CRM confidential
    /// clients only). Returns [`Event::Authorized`] or [`Event::MfaRequired`]. The password
    /// is passed through to the core and not kept here.
    pub fn password_login(&mut self, username: &str, password: &str) -> Result<Event, Error> {
        self.session
            .start_password_login(username, password, unix_now())?;
        self.drive()
    }

    /// Sends an OTP for the pending MFA step: [`Event::Authorized`] or
    /// [`Event::MfaRejected`].
    pub fn submit_otp(&mut self, otp: &str) -> Result<Event, Error> {
        self.session.submit_otp(otp, unix_now())?;
        self.drive()
    }

    /// Asks for the TOTP secret to enrol an authenticator.
    pub fn request_mfa_secret(&mut self) -> Result<Event, Error> {
        self.session.request_mfa_secret(unix_now())?;
        self.drive()
    }

    /// Asks the server to email an OTP.
    pub fn send_email_otp(&mut self) -> Result<Event, Error> {
        self.session.send_email_otp(unix_now())?;
        self.drive()
    }

    /// Binds and enables a second factor with a first OTP.
    pub fn bind_mfa(&mut self, kind: MfaType, otp: &str) -> Result<Event, Error> {
        self.session.bind_mfa(kind, otp, unix_now())?;
        self.drive()
    }

    /// Asks the server to deactivate MFA (while an MFA step is pending).
    pub fn deactivate_mfa(&mut self) -> Result<Event, Error> {
        self.session.deactivate_mfa(unix_now())?;
        self.drive()
    }

    /// Starts a password reset for `username`.
    pub fn forgot_password(&mut self, username: &str) -> Result<Event, Error> {
        self.session.forgot_password(username, unix_now())?;
        self.drive()
    }

    // --- the loop ---------------------------------------------------------------------------

    /// Carries out the session's actions until the current step ends (see the
    /// [module docs](self)).
    pub fn drive(&mut self) -> Result<Event, Error> {
        let guard = self.guard();
        loop {
            let now = unix_now();
            let action = match self.session.poll_action(now, &mut self.buf) {
                Err(latchkey_core::Error::BufferTooSmall { required }) => {
                    let len = required.get().max(self.buf.len() * 2);
                    self.buf.resize(len, 0);
                    continue;
                }
                other => other?,
            };
            match action {
                Action::OpenUrl(url) => return Ok(Event::OpenUrl(url.to_owned())),
                Action::PostMessage { .. } => {
                    return Err(Error::Config(
                        "the postMessage (iframe) flow runs in a browser, not in the CLI".into(),
                    ));
                }
                Action::Send(req) => {
                    self.ui.sending(req.url);
                    let refreshing = self.session.phase() == Phase::Refreshing;
                    match self.transport.send(&req, guard) {
                        Ok(reply) => {
                            self.last_net_error = None;
                            let mut scratch = vec![0u8; reply.body.len().max(64)];
                            if let Err(e) = self.session.handle_response(
                                reply.as_response(),
                                unix_now(),
                                &mut scratch,
                            ) {
                                return Err(self.described(e));
                            }
                        }
                        Err(e @ (Error::Unreachable { .. } | Error::Refused { .. }))
                            if refreshing =>
                        {
                            // Nothing reached the server: nothing was rotated, the session
                            // keeps its tokens (and the store is untouched).
                            self.session.handle_send_failed(unix_now())?;
                            return Err(e);
                        }
                        Err(e @ Error::Refused { .. }) => {
                            let _ = self.session.handle_timeout(unix_now());
                            return Err(e);
                        }
                        Err(e) => {
                            self.ui
                                .waiting("no answer; the session decides whether to retry");
                            let handled = self.session.handle_timeout(unix_now());
                            self.ui.done_waiting();
                            if handled.is_err() {
                                return Err(e);
                            }
                            self.last_net_error = Some(e);
                        }
                    }
                }
                Action::Persist(bytes) => self.store.save(bytes)?,
                Action::Erase => self.store.erase()?,
                Action::ShowUserCode {
                    user_code,
                    verification_uri,
                    verification_uri_complete,
                } => self
                    .ui
                    .show_user_code(user_code, verification_uri, verification_uri_complete),
                Action::WaitUntil(t) => {
                    if self.session.phase() == Phase::Authorized {
                        return Ok(Event::Idle);
                    }
                    let what = match self.session.phase() {
                        Phase::ExpectDeviceApproval => "waiting for approval on the other device",
                        Phase::Revoking => "server busy; retrying the revocation",
                        _ => "waiting",
                    };
                    self.ui.waiting(what);
                    sleep_until(t);
                    self.ui.done_waiting();
                }
                Action::Done(outcome) => return outcome_event(outcome, &mut self.last_net_error),
                Action::Idle => return Ok(Event::Idle),
            }
        }
    }

    /// Kommo token hosts come from the callback's `referer`: public addresses only (TOK-6).
    fn guard(&self) -> Guard {
        match self.session.config().profile.dialect() {
            Dialect::Kommo => Guard::PublicOnly,
            _ => Guard::Any,
        }
    }

    fn expect_authorized(&mut self) -> Result<(), Error> {
        match self.drive()? {
            Event::Authorized => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn valid_token(&self) -> Result<Option<BearerToken>, Error> {
        match self.session.access_token(unix_now()) {
            Ok(t) => Ok(Some(BearerToken(t.secret().to_owned()))),
            Err(latchkey_core::Error::RefreshDue) => Ok(None),
            Err(latchkey_core::Error::ApiMisuse(ApiMisuse::WrongState)) => {
                Err(self.not_signed_in())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the in-memory session with what the store holds (or a fresh one).
    /// A core error, with the server's `error_description` when it sent one.
    fn described(&self, e: latchkey_core::Error) -> Error {
        match (e, self.session.error_description()) {
            (latchkey_core::Error::ServerError(_), Some(d)) => Error::ServerSaid {
                error: e,
                description: d.to_owned(),
            },
            (e, _) => Error::Core(e),
        }
    }

    fn reload(&mut self) -> Result<(), Error> {
        let config = self.session.config().clone();
        *self.session = match self.store.load()? {
            Some(bytes) => Session::restore(config, &bytes).map_err(|e| Error::Store {
                path: self.store.location(),
                problem: StoreProblem::Malformed(e),
            })?,
            None => Session::new(config),
        };
        Ok(())
    }

    fn not_signed_in(&self) -> Error {
        Error::NotSignedIn {
            profile: self.name.clone(),
        }
    }
}

fn outcome_event(outcome: Outcome<'_>, last_net_error: &mut Option<Error>) -> Result<Event, Error> {
    Ok(match outcome {
        Outcome::Authorized => Event::Authorized,
        Outcome::Refreshed => Event::Refreshed,
        Outcome::MfaRequired => Event::MfaRequired,
        Outcome::MfaSecret(s) => Event::MfaSecret(MfaSecret(s.to_owned())),
        Outcome::Accepted => Event::Accepted,
        Outcome::MfaRejected(e) => Event::MfaRejected(e),
        Outcome::LoggedOut { revocation } => {
            let net = last_net_error.take();
            Event::LoggedOut(revocation.err().map(|e| match (e, net) {
                (
                    latchkey_core::Error::ServerMisbehaved(
                        latchkey_core::ServerMisbehaved::NoResponse,
                    ),
                    Some(net),
                ) => net,
                (e, _) => Error::Core(e),
            }))
        }
        Outcome::SignInRequired(reason) => return Err(Error::SignInRequired(reason)),
        _ => Event::Idle,
    })
}

fn unexpected(event: &Event) -> Error {
    match event {
        Event::MfaRejected(e) => Error::Core(*e),
        Event::LoggedOut(_) => Error::Aborted("the session was logged out meanwhile".into()),
        other => Error::Aborted(format!("the flow ended unexpectedly ({other:?})")),
    }
}

fn sleep_until(t: UnixTime) {
    let target = UNIX_EPOCH + Duration::from_secs(t);
    if let Ok(d) = target.duration_since(SystemTime::now()) {
        std::thread::sleep(d);
    }
}
