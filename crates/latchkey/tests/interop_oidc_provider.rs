//! Interop with a real, certified peer: the `oidc-provider` npm package
//! (interop/oidc-provider/server.mjs) on 127.0.0.1.
//!
//! The core's [`Session`] (RFC 6749 profile from the discovery document) is driven by a
//! minimal loop written here, with `ureq` as the HTTP client. The browser's part is played
//! by a cookie-keeping user agent that follows the authorization redirects (the provider's
//! automatic login and consent) until the redirect to the loopback redirect URI, whose
//! query goes to `handle_callback`.
//!
//! The npm dependencies are installed by `scripts/interop-setup.sh` (fast when present).
//! The tests skip, saying so, only when `node` is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_core::http::{Method, Response};
use latchkey_core::profile::ClientAuth;
use latchkey_core::session::{Action, Config, EndReason, Outcome, Session};
use latchkey_core::{CheckFailed, Client, Error, ErrorKind, Profile, ServerError};
use serde_json::Value;

/// The public client registered in server.mjs.
const CLIENT_ID: &str = "latchkey-interop";
/// A loopback redirect URI on an arbitrary port: the provider treats the client as native
/// and accepts any port (RFC 8252 §7.3). Nobody listens there; the user agent stops at it.
const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";
/// The account server.mjs logs in automatically.
const TEST_ACCOUNT: &str = "latchkey-test-user";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `npm ci` once per test process (idempotent and fast when node_modules is current).
fn setup_once() {
    static SETUP: OnceLock<()> = OnceLock::new();
    SETUP.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/interop-setup.sh"))
            .status()
            .expect("run scripts/interop-setup.sh");
        assert!(
            status.success(),
            "scripts/interop-setup.sh failed: cannot install the oidc-provider interop peer"
        );
    });
}

/// A running server.mjs; killed on drop.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// Starts the provider, or `None` (after saying why) when node is not installed.
    fn start(envs: &[(&str, &str)]) -> Option<Provider> {
        if !node_available() {
            eprintln!(
                "SKIPPED: `node` is not installed, so the oidc-provider interop test cannot run \
                 (install nodejs and npm to run it)"
            );
            return None;
        }
        setup_once();
        let mut child = Command::new("node")
            .arg(repo_root().join("interop/oidc-provider/server.mjs"))
            .args(["0", "--watch-stdin"])
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node interop/oidc-provider/server.mjs");
        // The provider's stderr, minus its fixed start-up warnings (Node 20 is "unsupported",
        // in-memory adapter, development keys), goes to the test's captured output.
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("[server.mjs] {line}");
                }
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = tx.send(issuer.trim().to_owned());
                }
            }
        });
        let issuer = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(issuer) => issuer,
            Err(_) => {
                let _ = child.kill();
                panic!("server.mjs did not print READY within 30 s");
            }
        };
        Some(Provider { child, issuer })
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

fn get_json(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = agent.get(url);
    if let Some(token) = bearer {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// What one HTTP exchange the session asked for looked like, kept to report findings.
#[derive(Debug, Clone)]
struct Exchange {
    url: String,
    status: u16,
    body: Value,
}

/// An owned copy of the [`Outcome`] a step ended with.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Authorized,
    Refreshed,
    LoggedOut(Result<(), Error>),
    SignInRequired(EndReason),
    Other(String),
}

/// How [`Harness::drive`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done(Ended),
    Idle,
    WaitUntil(u64),
}

/// The adapter's side of the loop: HTTP, the stored snapshot, the URL to open.
struct Harness {
    http: ureq::Agent,
    snapshot: Option<Vec<u8>>,
    opened: Option<String>,
    exchanges: Vec<Exchange>,
}

impl Harness {
    fn new() -> Self {
        Self {
            http: agent(),
            snapshot: None,
            opened: None,
            exchanges: Vec::new(),
        }
    }

    /// Polls and carries out actions until the session ends a step, idles or waits.
    fn drive(&mut self, s: &mut Session, now: u64) -> Result<Stop, Error> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut scratch = vec![0u8; 16 * 1024];
        loop {
            match s.poll_action(now, &mut buf)? {
                Action::OpenUrl(url) => self.opened = Some(url.to_owned()),
                Action::Send(req) => {
                    let (status, body) = self.send(req.method, req.url, &req);
                    s.handle_response(Response::new(status, &body), now, &mut scratch)?;
                }
                Action::Persist(bytes) => self.snapshot = Some(bytes.to_vec()),
                Action::Erase => self.snapshot = None,
                Action::WaitUntil(t) => return Ok(Stop::WaitUntil(t)),
                Action::Idle => return Ok(Stop::Idle),
                Action::Done(outcome) => {
                    return Ok(Stop::Done(match outcome {
                        Outcome::Authorized => Ended::Authorized,
                        Outcome::Refreshed => Ended::Refreshed,
                        Outcome::LoggedOut { revocation } => Ended::LoggedOut(revocation),
                        Outcome::SignInRequired(reason) => Ended::SignInRequired(reason),
                        other => Ended::Other(format!("{other:?}")),
                    }));
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
    }

    /// Sends the core's request exactly as built (no redirects followed, TOK-6).
    fn send(
        &mut self,
        method: Method,
        url: &str,
        req: &latchkey_core::http::Request<'_>,
    ) -> (u16, Vec<u8>) {
        let result = match method {
            Method::Get => {
                let mut r = self.http.get(url);
                for h in req.headers() {
                    r = r.header(h.name, h.value);
                }
                r.call()
            }
            Method::Post => {
                let mut r = self.http.post(url);
                for h in req.headers() {
                    r = r.header(h.name, h.value);
                }
                r.send(req.body)
            }
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method:?} {url}: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap();
        self.exchanges.push(Exchange {
            url: url.to_owned(),
            status,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        (status, body)
    }

    /// Every exchange so far, token values redacted, for assertion messages.
    fn report(&self) -> String {
        self.exchanges
            .iter()
            .map(|e| format!("{} {} {}", e.status, e.url, shape(&e.body)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The browser: opens `url` and follows redirects, keeping cookies, until the redirect
    /// to [`REDIRECT_URI`]; returns that URL's query.
    fn browser(&self, url: &str) -> String {
        let mut jar: BTreeMap<String, String> = BTreeMap::new();
        let mut url = url.to_owned();
        for _hop in 0..12 {
            let mut req = self.http.get(&url);
            if !jar.is_empty() {
                let cookies: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
                req = req.header("Cookie", &cookies.join("; "));
            }
            let resp = req.call().unwrap();
            for set_cookie in resp.headers().get_all("set-cookie") {
                let set_cookie = set_cookie.to_str().unwrap();
                let pair = set_cookie.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                let expired = set_cookie
                    .to_ascii_lowercase()
                    .contains("expires=thu, 01 jan 1970");
                if expired || value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("{status} without Location at {url}"));
            url = if location.starts_with('/') {
                let origin_end = url[7..].find('/').map_or(url.len(), |i| i + 7);
                format!("{}{location}", &url[..origin_end])
            } else {
                location
            };
            if let Some(rest) = url.strip_prefix(REDIRECT_URI) {
                return rest.trim_start_matches('?').to_owned();
            }
        }
        panic!("no redirect to {REDIRECT_URI} after 12 hops (last: {url})");
    }
}

/// The discovery document and the session configured from it.
fn configure(provider: &Provider, issuer_override: Option<&str>) -> (Value, Config) {
    let (status, discovery) = get_json(
        &agent(),
        &format!("{}/.well-known/openid-configuration", provider.issuer),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], provider.issuer.as_str());
    let endpoint = |key: &str| discovery[key].as_str().unwrap().to_owned();
    let profile = Profile::rfc6749(
        &endpoint("authorization_endpoint"),
        &endpoint("token_endpoint"),
    )
    .unwrap()
    .with_revocation(&endpoint("revocation_endpoint"))
    .unwrap()
    .with_issuer(issuer_override.unwrap_or(&provider.issuer))
    .unwrap()
    .with_client_auth(ClientAuth::None)
    .unwrap();
    let client = Client::new(CLIENT_ID, REDIRECT_URI)
        .unwrap()
        .with_scope("openid offline_access")
        .unwrap();
    (discovery, Config::new(profile, client))
}

fn entropy() -> [u8; 64] {
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// Starts an authorization and returns the URL the session asks the browser to open.
fn start(s: &mut Session, h: &mut Harness, now: u64) -> String {
    s.start_authorization(&entropy(), now).unwrap();
    assert_eq!(h.drive(s, now).unwrap(), Stop::Idle);
    h.opened.take().expect("an OpenUrl action")
}

/// Redacts token values so a printed response shows only its shape.
fn shape(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(v) = map.get_mut(key) {
                let len = v.as_str().map_or(0, str::len);
                *v = Value::String(format!("[{len} bytes]"));
            }
        }
    }
    body
}

#[test]
fn login_refresh_rotation_revoke_against_oidc_provider() {
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    let (discovery, config) = configure(&provider, None);
    let mut s: Session = Session::new(config.clone());
    let mut h = Harness::new();
    let t = now();

    // 1. Authorization code + PKCE. oidc-provider drops `offline_access` unless the request
    //    says `prompt=consent` (OpenID Connect Core §11); the session cannot add extra
    //    authorization parameters, so the browser appends it.
    let url = start(&mut s, &mut h, t);
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let query = h.browser(&format!("{url}&prompt=consent"));
    assert!(
        query.contains("iss="),
        "RFC 9207 iss on the callback: {query}"
    );
    let mut scratch = vec![0u8; query.len()];
    s.handle_callback(query.as_bytes(), t, &mut scratch)
        .unwrap();
    let step = h.drive(&mut s, t);
    assert_eq!(step, Ok(Stop::Done(Ended::Authorized)), "{}", h.report());
    let first = h.exchanges.last().unwrap().clone();
    eprintln!("token response: {}", shape(&first.body));
    assert_eq!(first.status, 200);
    assert!(
        s.has_refresh_token(),
        "offline_access granted a refresh token"
    );
    assert!(s.scope().unwrap().contains("offline_access"));
    let stored_after_login = h.snapshot.clone().expect("persisted before Authorized");

    // The access token works at the userinfo endpoint.
    let access = s.access_token(t).unwrap().secret().to_owned();
    let (status, me) = get_json(
        &h.http,
        discovery["userinfo_endpoint"].as_str().unwrap(),
        Some(&access),
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["sub"], TEST_ACCOUNT);

    // 2. Refresh: the provider rotates the refresh token; the session persists the new one
    //    before it reports Refreshed.
    s.refresh(t).unwrap();
    let step = h.drive(&mut s, t);
    assert_eq!(step, Ok(Stop::Done(Ended::Refreshed)), "{}", h.report());
    let second = h.exchanges.last().unwrap().clone();
    eprintln!("refresh response: {}", shape(&second.body));
    assert_eq!(second.status, 200);
    assert_ne!(
        first.body["refresh_token"], second.body["refresh_token"],
        "rotation"
    );
    let stored_after_refresh = h.snapshot.clone().unwrap();
    assert_ne!(stored_after_login, stored_after_refresh);
    let new_access = s.access_token(t).unwrap().secret().to_owned();
    assert_ne!(new_access, access);

    // 3. Logout: tokens erased first, then RFC 7009 revocation of the refresh token.
    s.logout(t).unwrap();
    assert_eq!(
        h.drive(&mut s, t).unwrap(),
        Stop::Done(Ended::LoggedOut(Ok(())))
    );
    assert!(h.snapshot.is_none(), "erased");
    let revocation = h.exchanges.last().unwrap();
    assert_eq!(
        revocation.url,
        discovery["revocation_endpoint"].as_str().unwrap()
    );
    assert_eq!(revocation.status, 200);

    // 4. The revoked refresh token is refused: a session restored from the last snapshot
    //    ends cleanly with invalid_grant.
    let mut restored: Session = Session::restore(config, &stored_after_refresh).unwrap();
    restored.refresh(t).unwrap();
    let ended = h.drive(&mut restored, t).unwrap();
    eprintln!("refused refresh: {}", h.exchanges.last().unwrap().body);
    assert_eq!(
        ended,
        Stop::Done(Ended::SignInRequired(EndReason::RefreshRejected(
            ServerError {
                code: ErrorKind::InvalidGrant,
                status: 400
            }
        )))
    );
}

#[test]
fn offline_access_without_prompt_consent_yields_no_refresh_token() {
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    let (_, config) = configure(&provider, None);
    let mut s: Session = Session::new(config);
    let mut h = Harness::new();
    let t = now();
    let url = start(&mut s, &mut h, t);
    let query = h.browser(&url);
    let mut scratch = vec![0u8; query.len()];
    s.handle_callback(query.as_bytes(), t, &mut scratch)
        .unwrap();
    let step = h.drive(&mut s, t);
    assert_eq!(step, Ok(Stop::Done(Ended::Authorized)), "{}", h.report());
    assert!(!s.has_refresh_token());
    assert_eq!(s.scope(), Some("openid"), "the provider narrowed the scope");
}

#[test]
fn callback_iss_from_another_issuer_is_refused() {
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    // Expect a different issuer than the one that answers: the mix-up defence must fire.
    let (_, config) = configure(&provider, Some("http://127.0.0.1:1/other-issuer"));
    let mut s: Session = Session::new(config);
    let mut h = Harness::new();
    let t = now();
    let url = start(&mut s, &mut h, t);
    let query = h.browser(&url);
    let mut scratch = vec![0u8; query.len()];
    assert_eq!(
        s.handle_callback(query.as_bytes(), t, &mut scratch),
        Err(Error::CheckFailed(CheckFailed::IssuerMismatch))
    );
    assert!(
        h.exchanges.is_empty(),
        "no token request after a failed check"
    );
}

#[test]
fn declined_consent_comes_back_as_access_denied() {
    let Some(provider) = Provider::start(&[("INTEROP_DENY", "1")]) else {
        return;
    };
    let (_, config) = configure(&provider, None);
    let mut s: Session = Session::new(config);
    let mut h = Harness::new();
    let t = now();
    let url = start(&mut s, &mut h, t);
    let query = h.browser(&url);
    eprintln!("declined callback: {query}");
    let mut scratch = vec![0u8; query.len()];
    let err = s
        .handle_callback(query.as_bytes(), t, &mut scratch)
        .unwrap_err();
    assert_eq!(
        err,
        Error::ServerError(ServerError {
            code: ErrorKind::AccessDenied,
            status: 0
        })
    );
}
