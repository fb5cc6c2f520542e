//! The session, driven by structured (`arbitrary`) sequences of events and times: flows
//! started, callbacks well-formed or hostile, responses with arbitrary statuses and bodies,
//! timeouts, clock jumps (backwards too), logout, refresh, save/restore and restarts from
//! the persisted snapshot.
//!
//! Invariants checked after every step (a violation panics):
//! - no panic anywhere in the core;
//! - once `LoggedOut`, the session never reaches `Authorized`/`Refreshing` (nor reports
//!   `Outcome::Authorized`) without a new start;
//! - a refresh token is never sent twice, except the single LIFE-9 retry after
//!   `handle_timeout`, and never after the server rotated it out;
//! - every `Send` to a Kommo profile goes to a host under the referer allowlist;
//! - every `Send` and `OpenUrl` URL is `https://`, or `http://` to a loopback host;
//! - `Persist` snapshots restore; a `BufferTooSmall` poll leaves the action queued.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use latchkey_core::http::Response;
use latchkey_core::session::{Action, Outcome, Phase, Session};
use latchkey_core::token::MfaType;
use latchkey_core::{ApiMisuse, Error, Profile};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    config: u8,
    small_caps: bool,
    skew: u16,
    default_expires_in: u16,
    start: u32,
    events: Vec<Event>,
}

#[derive(Debug, Arbitrary)]
enum Event {
    /// A whole redirect sign-in in one step (start, poll, good callback, poll, tokens,
    /// poll), so the fuzzer reaches the signed-in states quickly.
    SignIn {
        seed: u8,
        iframe: bool,
        rotate: bool,
    },
    /// Refresh now: poll, maybe lose the answer once, answer with a token, poll.
    RefreshCycle {
        timeout_first: bool,
        refresh: RefreshChoice,
        status: Status,
    },
    StartAuthorization(u8),
    StartIframe(u8),
    StartDevice,
    StartClientCredentials,
    StartPassword(bool),
    SubmitOtp(bool),
    RequestMfaSecret,
    SendEmailOtp,
    BindMfa(bool),
    DeactivateMfa,
    ForgotPassword,
    Poll {
        max: u8,
        buf: BufSize,
    },
    Callback(CallbackKind),
    Message(MessageKind),
    Respond {
        status: Status,
        body: Body,
        retry_after: Option<u16>,
    },
    Timeout,
    Advance(u32),
    Backwards(u32),
    JumpFar,
    AccessToken,
    Refresh,
    Logout,
    SaveRestore,
    RestartFromStore,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum BufSize {
    Large,
    Small(u8),
    Medium,
}

impl BufSize {
    fn len(self) -> usize {
        match self {
            Self::Large => 16 * 1024,
            Self::Medium => 600,
            Self::Small(n) => usize::from(n),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum CallbackKind {
    /// `code` + the pending state (+ `iss`, + `referer` for Kommo).
    Good {
        referer: Referer,
        mutation: Option<Mutation>,
    },
    WrongState,
    NoState,
    Denied {
        with_state: bool,
    },
    WidgetInstall,
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Referer {
    Account,
    Hostile(u8),
    Any(String),
}

const HOSTILE_REFERERS: &[&str] = &[
    "evil.com",
    "kommo.com",
    "evilkommo.com",
    "example.kommo.com.evil.com",
    "example.kommo.com.",
    "EXAMPLE.KOMMO.COM",
    "example.kommo.com:443",
    "example.kommo.com/path",
    "https://example.kommo.com",
    "user@example.kommo.com",
    "example%2ekommo.com",
    "127.0.0.1",
    "0x7f.1",
    "evil.com\\.kommo.com",
    "exa mple.kommo.com",
    "xn--80ak6aa92e.kommo.com",
    "a.amocrm.ru",
    "-a.kommo.com",
    "",
];

#[derive(Debug, Arbitrary)]
enum Mutation {
    Append(Vec<u8>),
    DuplicateCode,
    DuplicateState,
    Truncate(u16),
    Flip(u16, u8),
    AddIss(bool),
    AccessToken,
}

#[derive(Debug, Arbitrary)]
enum MessageKind {
    Good { echo_state: bool },
    WrongState,
    WrongType,
    Raw(Vec<u8>),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Status {
    Ok,
    Created,
    BadRequest,
    Unauthorized,
    Redirect,
    Unavailable,
    ServerError,
    Any(u16),
}

impl Status {
    fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Created => 201,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Redirect => 302,
            Self::Unavailable => 503,
            Self::ServerError => 500,
            Self::Any(s) => s,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Body {
    Token {
        access: u8,
        refresh: RefreshChoice,
        expires_in: ExpiresIn,
        token_type: u8,
        scope: Option<u8>,
        with_error: bool,
    },
    Error {
        code: u8,
        description: bool,
        mfa_token: bool,
    },
    MfaRequired,
    Device {
        interval: Option<u16>,
        expires_in: u16,
        uri: u8,
        complete: bool,
    },
    MfaSecret,
    Empty,
    Html,
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum RefreshChoice {
    None,
    Fresh,
    SameAsSent,
    Null,
    Empty,
    Escaped,
}

#[derive(Debug, Arbitrary)]
enum ExpiresIn {
    None,
    Secs(u32),
    Str(u16),
    Negative,
    Huge,
    Float,
}

const ACCESS: &[&str] = &[
    "at-1",
    r"eyJhbGciOi.eyJzdWIi.c2ln\/x",
    r"\u0061t\u002f2",
    "a",
    r"bad\u0000nul",
];
const TOKEN_TYPES: &[&str] = &["Bearer", "bearer", "MAC", "", "DPoP"];
const ERROR_CODES: &[&str] = &[
    "invalid_grant",
    "invalid_request",
    "invalid_client",
    "authorization_pending",
    "slow_down",
    "expired_token",
    "access_denied",
    "temporarily_unavailable",
    "mfa_required",
    "otp_invalid",
    "rate_limit_exceeded",
    "x-custom",
];
const VERIFICATION_URIS: &[&str] = &[
    "https://as.example/device",
    "http://evil.example/device",
    "javascript:alert(1)",
    r"https:\/\/as.example\/d",
];

/// What the harness knows about the refresh in flight.
#[derive(Debug, Default)]
struct Flight {
    token: Vec<u8>,
    sends: u8,
    timeouts: u8,
}

struct Harness {
    cfg_index: u8,
    allow: Vec<String>,
    kommo: bool,
    now: u64,
    /// The adapter's durable store (Persist writes it, Erase deletes it).
    store: Option<Vec<u8>>,
    /// The state of the pending authorization, read off the URL or message.
    state: Option<String>,
    /// Seen `LoggedOut` since the last successful start.
    logged_out: bool,
    flight: Option<Flight>,
    retired: HashSet<Vec<u8>>,
    last_sent_refresh: Option<Vec<u8>>,
    counter: u32,
    seed: u8,
}

fuzz_target!(|input: Input| {
    if input.small_caps {
        run::<96, 48>(input);
    } else {
        run::<4096, 2048>(input);
    }
});

fn run<const A: usize, const R: usize>(input: Input) {
    let cfg = latchkey_fuzz::config(input.config)
        .with_refresh_skew(u32::from(input.skew))
        .with_default_expires_in(u32::from(input.default_expires_in));
    let mut h = Harness {
        cfg_index: input.config,
        allow: latchkey_fuzz::allowlist(&cfg),
        kommo: matches!(cfg.profile, Profile::Kommo(_)),
        now: 1_600_000_000 + u64::from(input.start),
        store: None,
        state: None,
        logged_out: false,
        flight: None,
        retired: HashSet::new(),
        last_sent_refresh: None,
        counter: 0,
        seed: 0,
    };
    let mut s: Session<A, R> = Session::new(cfg);
    let mut scratch = vec![0u8; 64 * 1024];
    for event in input.events.iter().take(64) {
        h.step(&mut s, event, &mut scratch);
        h.check_phase(&s);
    }
}

impl Harness {
    fn entropy(&mut self, seed: u8) -> [u8; 48] {
        self.seed = self.seed.wrapping_add(1);
        let mut e = [0u8; 48];
        for (i, b) in e.iter_mut().enumerate() {
            *b = seed ^ self.seed ^ (i as u8).wrapping_mul(31);
        }
        e
    }

    fn started(&mut self, r: Result<(), Error>) {
        if r.is_ok() {
            self.logged_out = false;
            self.flight = None;
        }
    }

    fn step<const A: usize, const R: usize>(
        &mut self,
        s: &mut Session<A, R>,
        event: &Event,
        scratch: &mut [u8],
    ) {
        let now = self.now;
        match event {
            Event::SignIn {
                seed,
                iframe,
                rotate,
            } => {
                let start = if *iframe {
                    Event::StartIframe(*seed)
                } else {
                    Event::StartAuthorization(*seed)
                };
                let input = if *iframe {
                    Event::Message(MessageKind::Good { echo_state: true })
                } else {
                    Event::Callback(CallbackKind::Good {
                        referer: Referer::Account,
                        mutation: None,
                    })
                };
                let tokens = Event::Respond {
                    status: Status::Ok,
                    body: token_body(if *rotate {
                        RefreshChoice::Fresh
                    } else {
                        RefreshChoice::None
                    }),
                    retry_after: None,
                };
                for e in [start, poll(), input, poll(), tokens, poll()] {
                    self.step(s, &e, scratch);
                    self.check_phase(s);
                }
            }
            Event::RefreshCycle {
                timeout_first,
                refresh,
                status,
            } => {
                let refresh = match refresh {
                    RefreshChoice::None => RefreshChoice::None,
                    RefreshChoice::Fresh => RefreshChoice::Fresh,
                    RefreshChoice::SameAsSent => RefreshChoice::SameAsSent,
                    RefreshChoice::Null => RefreshChoice::Null,
                    RefreshChoice::Empty => RefreshChoice::Empty,
                    RefreshChoice::Escaped => RefreshChoice::Escaped,
                };
                let mut events = vec![Event::Refresh, poll()];
                if *timeout_first {
                    events.extend([Event::Timeout, poll()]);
                }
                events.extend([
                    Event::Respond {
                        status: *status,
                        body: token_body(refresh),
                        retry_after: None,
                    },
                    poll(),
                ]);
                for e in events {
                    self.step(s, &e, scratch);
                    self.check_phase(s);
                }
            }
            Event::StartAuthorization(seed) => {
                let e = self.entropy(*seed);
                let r = s.start_authorization(&e, now);
                self.started(r);
            }
            Event::StartIframe(seed) => {
                let e = self.entropy(*seed);
                let r = s.start_iframe_authorization(&e, now);
                self.started(r);
            }
            Event::StartDevice => {
                let r = s.start_device_authorization(now);
                self.started(r);
            }
            Event::StartClientCredentials => {
                let r = s.start_client_credentials(now);
                self.started(r);
            }
            Event::StartPassword(right) => {
                let pw = if *right { "alice-password" } else { "wrong" };
                let r = s.start_password_login("alice", pw, now);
                self.started(r);
            }
            Event::SubmitOtp(ok) => {
                let _ = s.submit_otp(if *ok { "123456" } else { "\u{0}" }, now);
            }
            Event::RequestMfaSecret => {
                let _ = s.request_mfa_secret(now);
            }
            Event::SendEmailOtp => {
                let _ = s.send_email_otp(now);
            }
            Event::BindMfa(email) => {
                let kind = if *email {
                    MfaType::Email
                } else {
                    MfaType::Authenticator
                };
                let _ = s.bind_mfa(kind, "654321", now);
            }
            Event::DeactivateMfa => {
                let _ = s.deactivate_mfa(now);
            }
            Event::ForgotPassword => {
                let r = s.forgot_password("alice", now);
                self.started(r);
            }
            Event::Poll { max, buf } => self.poll(s, *max, *buf),
            Event::Callback(kind) => {
                let query = self.callback_query(kind);
                let _ = s.handle_callback(&query, now, scratch);
            }
            Event::Message(kind) => {
                let json = self.message(kind);
                let _ = s.handle_message(&json, now, scratch);
            }
            Event::Respond {
                status,
                body,
                retry_after,
            } => {
                let body = self.body(body);
                let mut resp = Response::new(status.code(), &body);
                if let Some(r) = retry_after {
                    resp = resp.with_retry_after(u64::from(*r));
                }
                let r = s.handle_response(resp, now, scratch);
                self.responded(s, &r);
            }
            Event::Timeout => {
                let r = s.handle_timeout(now);
                if r.is_ok() {
                    if let Some(f) = &mut self.flight {
                        f.timeouts = f.timeouts.saturating_add(1);
                    }
                } else if !matches!(r, Err(Error::ApiMisuse(_))) {
                    self.flight = None;
                }
            }
            Event::Advance(secs) => self.now = self.now.saturating_add(u64::from(*secs)),
            Event::Backwards(secs) => self.now = self.now.saturating_sub(u64::from(*secs)),
            Event::JumpFar => self.now = u64::MAX - 10,
            Event::AccessToken => {
                if let Ok(t) = s.access_token(now) {
                    assert!(!t.secret().is_empty());
                    assert!(matches!(s.phase(), Phase::Authorized));
                }
            }
            Event::Refresh => {
                let _ = s.refresh(now);
            }
            Event::Logout => {
                let _ = s.logout(now);
            }
            Event::SaveRestore => {
                let mut buf = vec![0u8; A + R + 1024];
                if let Ok(n) = s.save(&mut buf) {
                    let before = (s.phase(), s.expires_at(), s.has_refresh_token());
                    let restored = Session::<A, R>::restore(s.config().clone(), &buf[..n])
                        .expect("a saved snapshot restores");
                    assert_eq!(restored.expires_at(), before.1);
                    assert_eq!(restored.has_refresh_token(), before.2);
                    *s = restored;
                    // A restored session is a new one: the snapshot does not carry a pending
                    // LIFE-9 retry, so the token on disk may be sent again (as after a crash).
                    self.flight = None;
                }
            }
            Event::RestartFromStore => {
                // A new process: a new session from the stored snapshot (or a fresh one).
                let cfg = s.config().clone();
                *s = match &self.store {
                    Some(bytes) => {
                        Session::restore(cfg, bytes).expect("a persisted snapshot restores")
                    }
                    None => Session::new(cfg),
                };
                self.logged_out = false;
                self.flight = None;
                self.retired.clear();
                self.state = None;
            }
        }
    }

    fn poll<const A: usize, const R: usize>(
        &mut self,
        s: &mut Session<A, R>,
        max: u8,
        size: BufSize,
    ) {
        let mut buf = vec![0u8; size.len()];
        for _ in 0..(max % 8).max(1) {
            let phase = s.phase();
            let action = match s.poll_action(self.now, &mut buf) {
                Ok(a) => a,
                Err(Error::BufferTooSmall { required }) => {
                    assert!(required.get() > buf.len());
                    // The action stays queued and the session is not poisoned (a due
                    // refresh may have moved it from Authorized to Refreshing).
                    assert!(s.failure().is_none());
                    assert!(
                        s.phase() == phase
                            || (phase == Phase::Authorized && s.phase() == Phase::Refreshing),
                        "{phase:?} -> {:?}",
                        s.phase()
                    );
                    return;
                }
                Err(_) => return,
            };
            match action {
                Action::OpenUrl(url) => {
                    assert!(latchkey_fuzz::is_secure_url(url), "insecure URL {url}");
                    self.state = latchkey_fuzz::query_param(url, "state").map(str::to_owned);
                }
                Action::PostMessage {
                    target_origin,
                    json,
                } => {
                    assert_eq!(target_origin, latchkey_fuzz::PARENT_ORIGIN);
                    self.state = latchkey_fuzz::json_member(json, "state").map(str::to_owned);
                }
                Action::Send(req) => {
                    assert!(
                        latchkey_fuzz::is_secure_url(req.url),
                        "insecure URL {}",
                        req.url
                    );
                    if self.kommo {
                        let host = latchkey_fuzz::host_of(req.url).unwrap_or_default();
                        assert!(
                            latchkey_fuzz::host_allowed(&host, &self.allow),
                            "Kommo request to {host}"
                        );
                    }
                    if let Some(token) = refresh_grant_token(req.body) {
                        self.sent_refresh(token);
                    }
                }
                Action::Persist(bytes) => {
                    latchkey_fuzz::read_snapshot(bytes).expect("readable snapshot");
                    Session::<A, R>::restore(latchkey_fuzz::config(self.cfg_index), bytes)
                        .expect("persisted snapshot restores");
                    self.store = Some(bytes.to_vec());
                }
                Action::Erase => self.store = None,
                Action::Done(Outcome::Authorized) => {
                    assert!(
                        !self.logged_out,
                        "Authorized after LoggedOut without a start"
                    );
                }
                Action::Done(_) | Action::ShowUserCode { .. } => {}
                Action::WaitUntil(_) | Action::Idle => return,
            }
            self.check_phase(s);
        }
    }

    /// Checks a refresh grant about to go out (LIFE-9, LIFE-3).
    fn sent_refresh(&mut self, token: Vec<u8>) {
        assert!(
            !self.retired.contains(&token),
            "refresh token sent again after the server rotated it"
        );
        match &mut self.flight {
            Some(f) if f.token == token => {
                assert!(
                    f.sends == 1 && f.timeouts == 1,
                    "refresh token resent: sends {}, timeouts {}",
                    f.sends,
                    f.timeouts
                );
                f.sends = 2;
                f.timeouts = 0;
            }
            _ => {
                self.flight = Some(Flight {
                    token: token.clone(),
                    sends: 1,
                    timeouts: 0,
                });
            }
        }
        self.last_sent_refresh = Some(token);
    }

    /// After a response: the refresh token in flight is retired unless the session still
    /// holds it (a server that does not rotate).
    fn responded<const A: usize, const R: usize>(
        &mut self,
        s: &Session<A, R>,
        r: &Result<(), Error>,
    ) {
        if matches!(r, Err(Error::ApiMisuse(ApiMisuse::WrongState))) {
            return;
        }
        let Some(f) = self.flight.take() else {
            return;
        };
        let mut buf = vec![0u8; A + R + 1024];
        let held = s
            .save(&mut buf)
            .ok()
            .and_then(|n| latchkey_fuzz::read_snapshot(&buf[..n]))
            .and_then(|f| f.refresh);
        if held.as_deref() != Some(&f.token[..]) {
            self.retired.insert(f.token);
        } else if s.phase() == Phase::Refreshing {
            // A 5xx: the outcome is unknown, like no answer (LIFE-9): the one retry.
            self.flight = Some(Flight {
                timeouts: f.timeouts.saturating_add(1),
                ..f
            });
        }
    }

    fn check_phase<const A: usize, const R: usize>(&mut self, s: &Session<A, R>) {
        match s.phase() {
            Phase::LoggedOut => self.logged_out = true,
            Phase::Authorized | Phase::Refreshing => {
                assert!(
                    !self.logged_out,
                    "LoggedOut → {:?} without a start",
                    s.phase()
                );
            }
            _ => {}
        }
    }

    fn callback_query(&mut self, kind: &CallbackKind) -> Vec<u8> {
        let state = self
            .state
            .clone()
            .unwrap_or_else(|| "no-pending-state-0000000".into());
        let mut q = match kind {
            CallbackKind::Good { referer, .. } => {
                let mut q = format!("code=SplxlOBeZQQYbYS6WxSbIA&state={state}");
                if latchkey_fuzz::config(self.cfg_index)
                    .profile
                    .issuer()
                    .is_some()
                {
                    q.push_str("&iss=https%3A%2F%2Fas.example");
                }
                if self.kommo {
                    q.push_str("&referer=");
                    match referer {
                        Referer::Account => q.push_str(latchkey_fuzz::KOMMO_HOST),
                        Referer::Hostile(i) => {
                            q.push_str(HOSTILE_REFERERS[usize::from(*i) % HOSTILE_REFERERS.len()])
                        }
                        Referer::Any(s) => q.push_str(s),
                    }
                    q.push_str("&client_id=0b6e4b0a");
                }
                q.into_bytes()
            }
            CallbackKind::WrongState => {
                b"code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec()
            }
            CallbackKind::NoState => b"code=abc".to_vec(),
            CallbackKind::Denied { with_state } => {
                let mut q = b"error=access_denied&error_description=The+user+said+no".to_vec();
                if *with_state {
                    q.extend_from_slice(format!("&state={state}").as_bytes());
                }
                q
            }
            CallbackKind::WidgetInstall => format!(
                "code=abc&referer={}&from_widget=1",
                latchkey_fuzz::KOMMO_HOST
            )
            .into_bytes(),
            CallbackKind::Raw(b) => b.clone(),
        };
        if let CallbackKind::Good {
            mutation: Some(m), ..
        } = kind
        {
            match m {
                Mutation::Append(b) => q.extend_from_slice(b),
                Mutation::DuplicateCode => q.extend_from_slice(b"&code=second"),
                Mutation::DuplicateState => {
                    q.extend_from_slice(format!("&state={state}").as_bytes())
                }
                Mutation::Truncate(n) => q.truncate(usize::from(*n) % (q.len() + 1)),
                Mutation::Flip(i, x) => {
                    if !q.is_empty() {
                        let i = usize::from(*i) % q.len();
                        q[i] ^= x;
                    }
                }
                Mutation::AddIss(right) => q.extend_from_slice(if *right {
                    b"&iss=https%3A%2F%2Fas.example"
                } else {
                    b"&iss=https%3A%2F%2Fevil.example"
                }),
                Mutation::AccessToken => q.extend_from_slice(b"&access_token=leak"),
            }
        }
        q
    }

    fn message(&self, kind: &MessageKind) -> Vec<u8> {
        let state = self.state.clone().unwrap_or_default();
        match kind {
            MessageKind::Good { echo_state: true } => format!(
                r#"{{"type":"CLIENT_OAUTH_CODE","source":"parent","payload":{{"code":"c\/1","state":"{state}"}}}}"#
            )
            .into_bytes(),
            MessageKind::Good { echo_state: false } => {
                br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c1"}}"#.to_vec()
            }
            MessageKind::WrongState => {
                br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c1","state":"nope"}}"#.to_vec()
            }
            MessageKind::WrongType => {
                br#"{"type":"GET_CLIENT_OAUTH_CODE","payload":{"code":"c1"}}"#.to_vec()
            }
            MessageKind::Raw(b) => b.clone(),
        }
    }

    fn body(&mut self, body: &Body) -> Vec<u8> {
        match body {
            Body::Token {
                access,
                refresh,
                expires_in,
                token_type,
                scope,
                with_error,
            } => {
                let mut m = vec![format!(
                    r#""access_token":"{}""#,
                    ACCESS[usize::from(*access) % ACCESS.len()]
                )];
                let tt = TOKEN_TYPES[usize::from(*token_type) % TOKEN_TYPES.len()];
                if !tt.is_empty() {
                    m.push(format!(r#""token_type":"{tt}""#));
                }
                match refresh {
                    RefreshChoice::None => {}
                    RefreshChoice::Fresh => {
                        self.counter += 1;
                        m.push(format!(r#""refresh_token":"rt-{}""#, self.counter));
                    }
                    RefreshChoice::SameAsSent => {
                        let t = self
                            .last_sent_refresh
                            .clone()
                            .unwrap_or_else(|| b"rt-0".to_vec());
                        m.push(format!(
                            r#""refresh_token":"{}""#,
                            String::from_utf8_lossy(&t)
                        ));
                    }
                    RefreshChoice::Null => m.push(r#""refresh_token":null"#.into()),
                    RefreshChoice::Empty => m.push(r#""refresh_token":"""#.into()),
                    RefreshChoice::Escaped => {
                        self.counter += 1;
                        m.push(format!(r#""refresh_token":"rt\/{}\u0021""#, self.counter));
                    }
                }
                match expires_in {
                    ExpiresIn::None => {}
                    ExpiresIn::Secs(n) => m.push(format!(r#""expires_in":{n}"#)),
                    ExpiresIn::Str(n) => m.push(format!(r#""expires_in":"{n}""#)),
                    ExpiresIn::Negative => m.push(r#""expires_in":-1"#.into()),
                    ExpiresIn::Huge => m.push(r#""expires_in":18446744073709551615"#.into()),
                    ExpiresIn::Float => m.push(r#""expires_in":3.5"#.into()),
                }
                if let Some(sc) = scope {
                    m.push(format!(r#""scope":"s{sc} user-portal:user:*""#));
                }
                if *with_error {
                    m.push(r#""error":"invalid_grant""#.into());
                }
                format!("{{{}}}", m.join(",")).into_bytes()
            }
            Body::Error {
                code,
                description,
                mfa_token,
            } => {
                let mut m = vec![format!(
                    r#""error":"{}""#,
                    ERROR_CODES[usize::from(*code) % ERROR_CODES.len()]
                )];
                if *description {
                    m.push(r#""error_description":"Invalid or expired \"OTP\" code""#.into());
                }
                if *mfa_token {
                    m.push(r#""mfa_token":"mfa-tok-1""#.into());
                }
                format!("{{{}}}", m.join(",")).into_bytes()
            }
            Body::MfaRequired => {
                br#"{"mfa_token":"mfa-tok-2","mfa_type":"authenticator"}"#.to_vec()
            }
            Body::Device {
                interval,
                expires_in,
                uri,
                complete,
            } => {
                let uri = VERIFICATION_URIS[usize::from(*uri) % VERIFICATION_URIS.len()];
                let mut m = vec![
                    r#""device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS""#.to_owned(),
                    r#""user_code":"WDJB-MJHT""#.to_owned(),
                    format!(r#""verification_uri":"{uri}""#),
                    format!(r#""expires_in":{expires_in}"#),
                ];
                if let Some(i) = interval {
                    m.push(format!(r#""interval":{i}"#));
                }
                if *complete {
                    m.push(format!(
                        r#""verification_uri_complete":"{uri}?user_code=WDJB-MJHT""#
                    ));
                }
                format!("{{{}}}", m.join(",")).into_bytes()
            }
            Body::MfaSecret => br#"{"mfa_secret":"JBSWY3DPEHPK3PXP"}"#.to_vec(),
            Body::Empty => Vec::new(),
            Body::Html => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            Body::Raw(b) => b.clone(),
        }
    }
}

fn poll() -> Event {
    Event::Poll {
        max: 7,
        buf: BufSize::Large,
    }
}

fn token_body(refresh: RefreshChoice) -> Body {
    Body::Token {
        access: 1,
        refresh,
        expires_in: ExpiresIn::Secs(3600),
        token_type: 0,
        scope: None,
        with_error: false,
    }
}

/// The refresh token of a refresh-grant request body (form or JSON), decoded.
fn refresh_grant_token(body: &[u8]) -> Option<Vec<u8>> {
    let text = core::str::from_utf8(body).ok()?;
    if text.contains("grant_type=refresh_token") {
        let start = if let Some(rest) = text.strip_prefix("refresh_token=") {
            rest
        } else {
            &text[text.find("&refresh_token=")? + "&refresh_token=".len()..]
        };
        let end = start.find('&').unwrap_or(start.len());
        return Some(form_decode(&start[..end]));
    }
    if text.contains(r#""grant_type":"refresh_token""#) {
        return latchkey_fuzz::json_member(text, "refresh_token").map(json_decode);
    }
    None
}

fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = core::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).expect("the core percent-encodes"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn json_decode(s: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let v = u32::from_str_radix(&hex, 16).expect("the core writes \\uXXXX");
                out.push(char::from_u32(v).expect("the core escapes only control characters"));
            }
            Some(other) => out.push(other),
            None => panic!("dangling escape in a request body"),
        }
    }
    out.into_bytes()
}
