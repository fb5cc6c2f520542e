//! The two-party harness for session tests (like quinn-proto's `tests/util.rs`): a client
//! [`Session`] and a strict in-memory testkit [`Server`], a [`FixedClock`] and
//! [`SeededEntropy`], and a driver that carries out every [`Action`] with no I/O.
//!
//! - `OpenUrl` → the browser `GET`s the URL on the server and follows its `302` back to the
//!   redirect URI: the `Location` query goes to [`Session::handle_callback`].
//! - `PostMessage` → the CRM parent page ([`Server::answer_postmessage`]) answers; the reply
//!   goes to [`Session::handle_message`].
//! - `Send` → the request becomes a testkit [`HttpRequest`]; the answer goes to
//!   [`Session::handle_response`] (with `Retry-After`), or [`Session::handle_timeout`] when
//!   the server simulates a lost response.
//! - `Persist` / `Erase` → an in-memory "disk" the tests restore from.
//! - `WaitUntil(t)` → the clock jumps to `t`.
//! - `ShowUserCode` → recorded; the driver stops so the test can approve the device.
//!
//! Every loop is bounded ([`MAX_STEPS`]) so a session bug cannot hang a test.
//!
//! It builds with any set of the core's dialect features (`crm`, `kommo`, `device`): what a
//! dialect needs is compiled only with its feature.
#![allow(dead_code, unreachable_pub)] // reason: each test binary uses a subset of the harness

use latchkey_core::encode::form_decode;
use latchkey_core::http::{Method, Response};
use latchkey_core::profile::ClientAuth;
use latchkey_core::session::{
    Action, Config, DEFAULT_ACCESS_CAP, DEFAULT_REFRESH_CAP, EndReason, Outcome, Session,
};
use latchkey_core::state::AUTHORIZATION_ENTROPY;
use latchkey_core::{Client, Error, Profile};
#[cfg(feature = "crm")]
use latchkey_testkit::{
    CRM_API, CRM_CLIENT_ID, CRM_CLIENT_SECRET, CRM_PORTAL, CRM_PUBLIC_CLIENT_ID, CRM_REDIRECT_URI,
    CRM_SCOPE,
};
use latchkey_testkit::{
    FixedClock, HttpRequest, HttpResponse, ISSUER, LoggedRequest, RFC_CONFIDENTIAL_CLIENT_ID,
    RFC_CONFIDENTIAL_CLIENT_SECRET, RFC_POST_CLIENT_ID, RFC_POST_CLIENT_SECRET,
    RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI, SeededEntropy, Server, ServerConfig,
};
#[cfg(feature = "kommo")]
use latchkey_testkit::{
    KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET, KOMMO_CONSENT_URL, KOMMO_REDIRECT_URI,
};

/// The most actions one [`Pair::drive`] carries out before the test fails.
pub const MAX_STEPS: usize = 200;
/// The CRM parent page's origin (iframe flow).
pub const PARENT_ORIGIN: &str = "https://crm.example";
/// The scope the RFC 6749 clients ask for.
pub const RFC_SCOPE: &str = "read write";
/// Output buffer size: holds every request and snapshot of the default capacities.
pub const BUF_LEN: usize = 16 * 1024;
/// Scratch size: holds any accepted response body (`MAX_RESPONSE_LEN`) decoded.
pub const SCRATCH_LEN: usize = 64 * 1024;

// ------------------------------------------------------------------------------------------
// Configurations for every dialect, from the testkit's constants.
// ------------------------------------------------------------------------------------------

/// The RFC 6749 profile of the testkit issuer: revocation, device endpoint, RFC 9207 issuer.
pub fn rfc_profile(auth: ClientAuth) -> Profile {
    Profile::rfc6749(&format!("{ISSUER}/authorize"), &format!("{ISSUER}/token"))
        .and_then(|p| p.with_revocation(&format!("{ISSUER}/revoke")))
        .and_then(with_device)
        .and_then(|p| p.with_issuer(ISSUER))
        .and_then(|p| p.with_client_auth(auth))
        .unwrap()
}

#[cfg(feature = "device")]
fn with_device(p: Profile) -> Result<Profile, Error> {
    p.with_device_authorization(&format!("{ISSUER}/device_authorization"))
}

#[cfg(not(feature = "device"))]
fn with_device(p: Profile) -> Result<Profile, Error> {
    Ok(p)
}

/// RFC 6749 public client (auth `none`).
pub fn rfc_public() -> Config {
    let client = Client::new(RFC_PUBLIC_CLIENT_ID, RFC_REDIRECT_URI)
        .and_then(|c| c.with_scope(RFC_SCOPE))
        .unwrap();
    Config::new(rfc_profile(ClientAuth::None), client)
}

/// RFC 6749 `client_secret_basic` client with the testkit's hostile id (`:`) and secret.
pub fn rfc_basic() -> Config {
    let client = Client::new(RFC_CONFIDENTIAL_CLIENT_ID, RFC_REDIRECT_URI)
        .and_then(|c| c.with_secret(RFC_CONFIDENTIAL_CLIENT_SECRET))
        .and_then(|c| c.with_scope(RFC_SCOPE))
        .unwrap();
    Config::new(rfc_profile(ClientAuth::Basic), client)
}

/// RFC 6749 `client_secret_post` client.
pub fn rfc_post() -> Config {
    let client = Client::new(RFC_POST_CLIENT_ID, RFC_REDIRECT_URI)
        .and_then(|c| c.with_secret(RFC_POST_CLIENT_SECRET))
        .and_then(|c| c.with_scope(RFC_SCOPE))
        .unwrap();
    Config::new(rfc_profile(ClientAuth::Post), client)
}

/// The CRM profile of the testkit portal and API host.
#[cfg(feature = "crm")]
pub fn crm_profile() -> Profile {
    Profile::crm(CRM_PORTAL, CRM_API).unwrap()
}

/// CRM confidential client (Basic auth), with the parent origin for the iframe flow.
#[cfg(feature = "crm")]
pub fn crm_confidential() -> Config {
    let client = Client::new(CRM_CLIENT_ID, CRM_REDIRECT_URI)
        .and_then(|c| c.with_secret(CRM_CLIENT_SECRET))
        .and_then(|c| c.with_scope(CRM_SCOPE))
        .unwrap();
    Config::new(crm_profile(), client)
        .with_parent_origin(PARENT_ORIGIN)
        .unwrap()
}

/// CRM public client (PKCE only).
#[cfg(feature = "crm")]
pub fn crm_public() -> Config {
    let client = Client::new(CRM_PUBLIC_CLIENT_ID, CRM_REDIRECT_URI)
        .and_then(|c| c.with_scope(CRM_SCOPE))
        .unwrap();
    Config::new(crm_profile(), client)
        .with_parent_origin(PARENT_ORIGIN)
        .unwrap()
}

/// Kommo integration: allowlist `.kommo.com` (the default), the testkit's consent page.
#[cfg(feature = "kommo")]
pub fn kommo() -> Config {
    let profile = Profile::kommo()
        .with_consent_url(KOMMO_CONSENT_URL)
        .unwrap();
    let client = Client::new(KOMMO_CLIENT_ID, KOMMO_REDIRECT_URI)
        .and_then(|c| c.with_secret(KOMMO_CLIENT_SECRET))
        .unwrap();
    Config::new(profile, client)
}

// ------------------------------------------------------------------------------------------
// Owned records of what the session asked for.
// ------------------------------------------------------------------------------------------

/// An owned copy of a request the session asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An owned [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Authorized,
    Refreshed,
    MfaRequired,
    MfaSecret(String),
    Accepted,
    MfaRejected(Error),
    LoggedOut(Result<(), Error>),
    SignInRequired(EndReason),
}

/// An owned [`Action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    OpenUrl(String),
    PostMessage {
        target_origin: String,
        json: String,
    },
    Send(SentRequest),
    Persist(Vec<u8>),
    Erase,
    ShowUserCode {
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
    },
    WaitUntil(u64),
    Done(Done),
    Idle,
}

impl Event {
    fn from_action(a: Action<'_>) -> Self {
        match a {
            Action::OpenUrl(u) => Self::OpenUrl(u.to_owned()),
            #[cfg(feature = "crm")]
            Action::PostMessage {
                target_origin,
                json,
            } => Self::PostMessage {
                target_origin: target_origin.to_owned(),
                json: json.to_owned(),
            },
            Action::Send(req) => Self::Send(SentRequest {
                method: match req.method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                },
                url: req.url.to_owned(),
                headers: req
                    .headers()
                    .iter()
                    .map(|h| (h.name.to_owned(), h.value.to_owned()))
                    .collect(),
                body: req.body.to_vec(),
            }),
            Action::Persist(b) => Self::Persist(b.to_vec()),
            Action::Erase => Self::Erase,
            #[cfg(feature = "device")]
            Action::ShowUserCode {
                user_code,
                verification_uri,
                verification_uri_complete,
            } => Self::ShowUserCode {
                user_code: user_code.to_owned(),
                verification_uri: verification_uri.to_owned(),
                verification_uri_complete: verification_uri_complete.map(str::to_owned),
            },
            Action::WaitUntil(t) => Self::WaitUntil(t),
            Action::Done(o) => Self::Done(match o {
                Outcome::Authorized => Done::Authorized,
                Outcome::Refreshed => Done::Refreshed,
                Outcome::MfaRequired => Done::MfaRequired,
                Outcome::MfaSecret(s) => Done::MfaSecret(s.to_owned()),
                Outcome::Accepted => Done::Accepted,
                Outcome::MfaRejected(e) => Done::MfaRejected(e),
                Outcome::LoggedOut { revocation } => Done::LoggedOut(revocation),
                Outcome::SignInRequired(r) => Done::SignInRequired(r),
                other => panic!("unknown outcome {other:?}"),
            }),
            Action::Idle => Self::Idle,
        }
    }
}

/// Where [`Pair::drive`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A step ended.
    Done(Done),
    /// The session waits for an input.
    Idle,
    /// A device code was shown (approve or deny it on the server, then drive again).
    UserCode(String),
}

// ------------------------------------------------------------------------------------------
// The pair.
// ------------------------------------------------------------------------------------------

/// A client session and the server it talks to, with a shared clock and a "disk".
pub struct Pair<const A: usize = DEFAULT_ACCESS_CAP, const R: usize = DEFAULT_REFRESH_CAP> {
    pub session: Session<A, R>,
    pub server: Server,
    pub config: Config,
    pub clock: FixedClock,
    pub entropy: SeededEntropy,
    /// The stored snapshot (`Persist` writes it, `Erase` deletes it).
    pub disk: Option<Vec<u8>>,
    /// Every action, in order.
    pub events: Vec<Event>,
    /// Every server answer to a `Send`, in order.
    pub responses: Vec<HttpResponse>,
    /// The browser's last page: the answer to the last `OpenUrl`.
    pub browser: Option<HttpResponse>,
    /// The last callback query handed to the session.
    pub last_callback: Option<String>,
    /// The last postMessage reply handed to the session.
    pub last_reply: Option<String>,
    /// When false, `OpenUrl` and `PostMessage` are only recorded (the test plays browser).
    pub auto_browser: bool,
    /// Rewrites the URL the browser opens (a tampered or misconfigured request).
    pub url_rewrite: Option<fn(&str) -> String>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Pair {
    /// A pair with default capacities.
    pub fn new(config: Config) -> Self {
        Self::with_server(config, ServerConfig::default())
    }

    /// A pair with default capacities whose server has `server_config`.
    pub fn with_server(config: Config, server_config: ServerConfig) -> Self {
        Self::with_caps(config, server_config)
    }
}

impl<const A: usize, const R: usize> Pair<A, R> {
    /// A pair with capacities `A`/`R` whose server has `server_config`.
    pub fn with_caps(config: Config, server_config: ServerConfig) -> Self {
        Self {
            session: Session::new(config.clone()),
            server: Server::new(server_config),
            config,
            clock: FixedClock::default(),
            entropy: SeededEntropy::new(7),
            disk: None,
            events: Vec::new(),
            responses: Vec::new(),
            browser: None,
            last_callback: None,
            last_reply: None,
            auto_browser: true,
            url_rewrite: None,
            buf: vec![0; BUF_LEN],
            scratch: vec![0; SCRATCH_LEN],
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Fresh entropy for one authorization request.
    pub fn fresh_entropy(&mut self) -> Vec<u8> {
        self.entropy.vec(AUTHORIZATION_ENTROPY)
    }

    pub fn start_authorization(&mut self) -> Result<(), Error> {
        let e = self.fresh_entropy();
        self.session.start_authorization(&e, self.now())
    }

    #[cfg(feature = "crm")]
    pub fn start_iframe(&mut self) -> Result<(), Error> {
        let e = self.fresh_entropy();
        self.session.start_iframe_authorization(&e, self.now())
    }

    /// Polls once, without carrying the action out.
    pub fn poll(&mut self) -> Result<Event, Error> {
        let now = self.clock.now();
        let action = self.session.poll_action(now, &mut self.buf)?;
        let event = Event::from_action(action);
        self.events.push(event.clone());
        Ok(event)
    }

    /// Carries one action out (see the module doc).
    pub fn carry(&mut self, event: &Event) -> Result<(), Error> {
        let now = self.clock.now();
        match event {
            Event::OpenUrl(url) if self.auto_browser => {
                let url = match self.url_rewrite {
                    Some(f) => f(url),
                    None => url.clone(),
                };
                let resp = self.server.handle(now, &HttpRequest::get(&url));
                let query = resp
                    .location()
                    .filter(|_| resp.status == 302)
                    .map(|l| l.split_once('?').map_or("", |(_, q)| q).to_owned());
                self.browser = Some(resp);
                if let Some(query) = query {
                    self.callback(&query)?;
                }
            }
            #[cfg(feature = "crm")]
            Event::PostMessage {
                target_origin,
                json,
            } if self.auto_browser => {
                assert_eq!(target_origin, PARENT_ORIGIN, "PM-1: exact target origin");
                if let Some(reply) = self.server.answer_postmessage(now, json) {
                    self.message(&reply)?;
                }
            }
            Event::Send(req) => {
                let resp = self.exchange(req);
                if resp.is_simulated_timeout() {
                    self.responses.push(resp);
                    return self.session.handle_timeout(now);
                }
                return self.deliver(&resp);
            }
            Event::Persist(bytes) => self.disk = Some(bytes.clone()),
            Event::Erase => self.disk = None,
            Event::WaitUntil(t) => {
                assert!(*t >= now, "WaitUntil({t}) in the past (now {now})");
                self.clock.set(*t);
            }
            _ => {}
        }
        Ok(())
    }

    /// Hands a server answer to the session at the current time (for tests that send by
    /// hand, e.g. to let time pass between sending and receiving).
    pub fn deliver(&mut self, resp: &HttpResponse) -> Result<(), Error> {
        let now = self.clock.now();
        let mut r = Response::new(resp.status, &resp.body);
        if let Some(s) = resp.header("retry-after").and_then(|v| v.parse().ok()) {
            r = r.with_retry_after(s);
        }
        self.responses.push(resp.clone());
        self.session.handle_response(r, now, &mut self.scratch)
    }

    /// Polls until the session asks to send something; returns the request (unsent).
    pub fn next_send(&mut self) -> SentRequest {
        for _ in 0..MAX_STEPS {
            match self.poll().unwrap() {
                Event::Send(req) => return req,
                Event::Idle => panic!("the session idles instead of sending"),
                e => self.carry(&e).unwrap(),
            }
        }
        panic!("no request within {MAX_STEPS} steps");
    }

    /// Sends a request to the server as the adapter would (never following redirects).
    pub fn exchange(&mut self, req: &SentRequest) -> HttpResponse {
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let http = HttpRequest {
            method: req.method,
            url: &req.url,
            headers: &headers,
            body: &req.body,
        };
        self.server.handle(self.clock.now(), &http)
    }

    /// Hands a callback query to the session (and remembers it for replays).
    pub fn callback(&mut self, query: &str) -> Result<(), Error> {
        self.last_callback = Some(query.to_owned());
        let now = self.clock.now();
        self.session
            .handle_callback(query.as_bytes(), now, &mut self.scratch)
    }

    /// Hands a postMessage reply to the session (and remembers it).
    #[cfg(feature = "crm")]
    pub fn message(&mut self, json: &str) -> Result<(), Error> {
        self.last_reply = Some(json.to_owned());
        let now = self.clock.now();
        self.session
            .handle_message(json.as_bytes(), now, &mut self.scratch)
    }

    /// Polls and carries out one action.
    pub fn step(&mut self) -> Result<Event, Error> {
        let event = self.poll()?;
        self.carry(&event)?;
        Ok(event)
    }

    /// Steps until a step ends, the session idles, or a device code is shown.
    pub fn drive(&mut self) -> Result<Stop, Error> {
        for _ in 0..MAX_STEPS {
            match self.step()? {
                Event::Done(d) => return Ok(Stop::Done(d)),
                Event::Idle => return Ok(Stop::Idle),
                Event::ShowUserCode { user_code, .. } => return Ok(Stop::UserCode(user_code)),
                _ => {}
            }
        }
        panic!("the session did not settle within {MAX_STEPS} steps");
    }

    /// Drives and expects `Done(Authorized)`.
    pub fn sign_in(&mut self) {
        self.start_authorization().unwrap();
        assert_eq!(self.drive(), Ok(Stop::Done(Done::Authorized)));
    }

    /// The current access token, as text.
    pub fn access_token(&self) -> Result<String, Error> {
        self.session
            .access_token(self.clock.now())
            .map(|t| t.secret().to_owned())
    }

    /// The refresh token the server currently holds live for this session's grant.
    pub fn current_refresh_token(&self) -> String {
        let token = self.access_token().unwrap();
        let grant = self.server.grant_of_token(&token).unwrap();
        self.server
            .grant(grant)
            .unwrap()
            .current_refresh_token
            .unwrap()
    }

    /// The refresh token on disk: a session restored from the stored snapshot is made to
    /// refresh, and the token is read back from the request body (the session hands its
    /// refresh token out only inside a request).
    pub fn stored_refresh_token(&self) -> Option<String> {
        let mut copy: Session<A, R> =
            Session::restore(self.config.clone(), self.disk.as_ref()?).ok()?;
        copy.refresh(self.clock.now()).ok()?;
        let mut buf = vec![0u8; BUF_LEN];
        match copy.poll_action(self.clock.now(), &mut buf).ok()? {
            Action::Send(req) => refresh_token_in(req.body),
            _ => None,
        }
    }

    /// Calls the dialect's resource endpoint with the access token; the HTTP status.
    pub fn call_api(&mut self) -> u16 {
        let token = match self.access_token() {
            Ok(t) => t,
            Err(e) => panic!("no access token: {e:?}"),
        };
        let url = self.resource_url();
        let auth = format!("Bearer {token}");
        let headers = [("Authorization", auth.as_str())];
        let req = HttpRequest {
            method: "GET",
            url: &url,
            headers: &headers,
            body: &[],
        };
        self.server.handle(self.clock.now(), &req).status
    }

    fn resource_url(&self) -> String {
        match &self.config.profile {
            Profile::Rfc6749(_) => format!("{ISSUER}/userinfo"),
            #[cfg(feature = "crm")]
            Profile::Crm(_) => format!("{CRM_API}/me"),
            #[cfg(feature = "kommo")]
            Profile::Kommo(_) => {
                let host = self
                    .session
                    .kommo_account()
                    .map_or(KOMMO_ACCOUNT_HOST, |a| a.host());
                format!("https://{host}/api/v4/account")
            }
        }
    }

    /// Requests the server logged that were sent by the session (not the browser's GETs).
    pub fn api_requests(&self) -> Vec<&LoggedRequest> {
        self.server
            .log()
            .iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// The `Send`s the session made, in order.
    pub fn sends(&self) -> Vec<&SentRequest> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Send(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Restores a fresh session from the disk, as an adapter does at start-up.
    pub fn restore_from_disk(&mut self) -> Result<(), Error> {
        let disk = self.disk.clone().expect("nothing on disk");
        self.session = Session::restore(self.config.clone(), &disk)?;
        Ok(())
    }
}

/// The `refresh_token` member of a form or JSON request body.
pub fn refresh_token_in(body: &[u8]) -> Option<String> {
    param_in(body, "refresh_token")
}

/// A member of a form or JSON request body (string values only).
pub fn param_in(body: &[u8], name: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(body) {
        return m.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    }
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |&b| b == b'=');
        let (k, v) = (kv.next()?, kv.next().unwrap_or_default());
        let mut buf = vec![0u8; pair.len()];
        let k = form_decode(k, &mut buf).ok()?.to_owned();
        (k == name).then(|| form_decode(v, &mut buf).ok().map(str::to_owned))?
    })
}
