//! Interop with a real, certified peer: the `oidc-provider` npm package
//! (interop/oidc-provider/server.mjs) on 127.0.0.1, driven through the real `latchkey`
//! binary.
//!
//! Each test runs `latchkey login --no-browser …` as a child process with its own
//! `--config` and `--data-dir`, reads the authorization URL it prints on stderr, and plays
//! the browser: a cookie-keeping user agent follows the provider's redirects (its automatic
//! login and consent) until the redirect to the CLI's loopback redirect URI, then requests
//! that URL so the CLI's listener receives the callback. `latchkey token`, `status`,
//! `refresh` and `revoke` then run against the same profile.
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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The public client registered in server.mjs.
const CLIENT_ID: &str = "latchkey-interop";
/// The account server.mjs logs in automatically.
const TEST_ACCOUNT: &str = "latchkey-test-user";
/// The profile every test signs in with.
const PROFILE: &str = "oidc";
/// Exit codes documented in `latchkey --help`.
const EXIT_SIGN_IN: i32 = 4;
const EXIT_REFUSED: i32 = 6;
const EXIT_SECURITY: i32 = 7;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// A running server.mjs (with `INTEROP_LOG=1`); killed on drop.
struct Provider {
    child: Child,
    issuer: String,
    /// The provider's request log (`[oidc] METHOD URL` lines), for assertions.
    log: Arc<Mutex<Vec<String>>>,
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
            .env("INTEROP_LOG", "1")
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node interop/oidc-provider/server.mjs");
        // The provider's stderr, minus its fixed start-up warnings (Node 20 is "unsupported",
        // in-memory adapter, development keys), goes to the test's captured output and log.
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("[server.mjs] {line}");
                    sink.lock().unwrap().push(line);
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
        Some(Provider { child, issuer, log })
    }

    /// The provider's log once it has gone quiet. Its lines reach us through a reader
    /// thread, and node may print a line (e.g. a `grant.error` event) just after it has
    /// answered: reading the log the moment the CLI exits raced with both.
    fn settled_log(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = self.log.lock().unwrap().len();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let log = self.log.lock().unwrap();
            if log.len() == seen || Instant::now() > deadline {
                return log.clone();
            }
            seen = log.len();
        }
    }

    /// How many requests `METHOD path` the provider has logged so far (query ignored).
    fn requests(&self, method: &str, path: &str) -> usize {
        let exact = format!("[oidc] {method} {path}");
        let with_query = format!("{exact}?");
        self.settled_log()
            .iter()
            .filter(|l| **l == exact || l.starts_with(&with_query))
            .count()
    }

    /// Whether the provider logged a line containing `needle` (waiting up to 10 s for it).
    fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The discovery document.
    fn discovery(&self) -> Value {
        let (status, discovery) = get_json(
            &agent(),
            &format!("{}/.well-known/openid-configuration", self.issuer),
            None,
        );
        assert_eq!(status, 200);
        assert_eq!(discovery["issuer"], self.issuer.as_str());
        discovery
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An isolated `--config` and `--data-dir` under the system temp directory; removed on drop.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "latchkey-interop-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("latchkey.toml")
    }

    /// `latchkey --config … --data-dir … --profile oidc ARGS`, with no `LATCHKEY_*`
    /// variable from the environment of the test run.
    fn latchkey(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LATCHKEY_") {
                cmd.env_remove(name);
            }
        }
        cmd.arg("--config")
            .arg(self.config())
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(["--profile", PROFILE])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to completion and echoes its output to the test's captured output.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.latchkey(args).output().expect("run latchkey");
        eprintln!(
            "$ latchkey {} -> {:?}\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
        out
    }

    /// `latchkey token`: the access token it prints, or the failed output.
    fn token(&self) -> Result<String, Output> {
        let out = self.run(&["token"]);
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
        } else {
            Err(out)
        }
    }

    /// `latchkey status --json`.
    fn status(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success(), "status failed: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `latchkey login --no-browser --timeout SECS` with the provider's endpoints and `extra` flags, the
    /// browser's part played by [`browser`]; returns the exit status, the authorization URL
    /// and the CLI's stdout and stderr.
    fn login(&self, discovery: &Value, timeout: &str, extra: &[&str]) -> Login {
        let endpoint = |key: &str| discovery[key].as_str().unwrap().to_owned();
        let (auth, token, revocation, issuer) = (
            endpoint("authorization_endpoint"),
            endpoint("token_endpoint"),
            endpoint("revocation_endpoint"),
            endpoint("issuer"),
        );
        let mut args = vec![
            "login",
            "--dialect",
            "rfc6749",
            "--client-id",
            CLIENT_ID,
            "--authorization-endpoint",
            &auth,
            "--token-endpoint",
            &token,
            "--revocation-endpoint",
            &revocation,
            "--issuer",
            &issuer,
            "--no-browser",
            "--timeout",
            timeout,
        ];
        args.extend_from_slice(extra);
        let mut child = self
            .latchkey(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn latchkey login");
        // `--no-browser` prints "Open this URL …" and then the URL, indented, on stderr.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let stderr_lines = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.trim_start().starts_with("http") {
                    let _ = tx.send(line.trim().to_owned());
                }
                lines.push(line);
            }
            lines.join("\n")
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_text =
            std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "latchkey login printed no authorization URL:\n{}",
                    stderr_lines.join().unwrap()
                );
            }
        };
        let redirect_uri = query_param(&url, "redirect_uri").expect("redirect_uri in the URL");
        let callback = browser(&url, &redirect_uri);
        // The CLI's loopback listener receives the callback, as from a browser.
        let resp = agent().get(&callback).call();
        assert!(resp.is_ok(), "loopback listener: {resp:?}");
        let status = wait_with_timeout(&mut child, Duration::from_secs(40));
        let login = Login {
            status,
            url,
            stdout: stdout_text.join().unwrap(),
            stderr: stderr_lines.join().unwrap(),
        };
        eprintln!(
            "$ latchkey login … -> {:?}\n{}\n{}",
            login.status.code(),
            login.stderr,
            login.stdout
        );
        login
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a `latchkey login` went.
struct Login {
    status: ExitStatus,
    url: String,
    stdout: String,
    stderr: String,
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("latchkey login did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
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

/// The percent-decoded value of query parameter `name` in `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'%' if tail.len() >= 2 => {
                let hex = std::str::from_utf8(&tail[..2]).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// The browser: opens `url` and follows redirects, keeping cookies, until the redirect to
/// `redirect_uri`; returns that full callback URL (not requested).
fn browser(url: &str, redirect_uri: &str) -> String {
    let http = agent();
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let mut url = url.to_owned();
    for _hop in 0..12 {
        let mut req = http.get(&url);
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
        if url.starts_with(&format!("{redirect_uri}?")) {
            return url;
        }
    }
    panic!("no redirect to {redirect_uri} after 12 hops (last: {url})");
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}

#[test]
fn cli_login_token_refresh_revoke_against_oidc_provider() {
    let started = Instant::now();
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    let discovery = provider.discovery();
    let userinfo = discovery["userinfo_endpoint"].as_str().unwrap();
    let sandbox = Sandbox::new("full");

    // 1. Sign in: code + PKCE through the CLI's loopback listener. oidc-provider issues a
    //    refresh token for `offline_access` only with `prompt=consent` (OIDC Core §11).
    let login = sandbox.login(
        &discovery,
        "30",
        &[
            "--scope",
            "openid offline_access",
            "--auth-param",
            "prompt=consent",
        ],
    );
    assert_eq!(login.status.code(), Some(0), "{}", login.stderr);
    assert!(login.stdout.contains("signed in"), "{}", login.stdout);
    assert!(
        login.url.contains("code_challenge_method=S256"),
        "{}",
        login.url
    );
    assert_eq!(
        query_param(&login.url, "prompt").as_deref(),
        Some("consent")
    );
    assert_eq!(provider.requests("POST", "/token"), 1);
    // The option is saved with the profile, so later logins keep asking for consent.
    let saved = std::fs::read_to_string(sandbox.config()).unwrap();
    let saved: toml::Table = toml::from_str(&saved).unwrap();
    assert_eq!(
        saved["profiles"][PROFILE]["auth_params"]["prompt"].as_str(),
        Some("consent"),
        "{saved}"
    );

    let status = sandbox.status();
    assert_eq!(status["signed_in"], true, "{status}");
    assert_eq!(status["refreshable"], true, "a refresh token: {status}");
    assert!(
        status["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "offline_access"),
        "{status}"
    );
    let token_file = PathBuf::from(status["token_file"].as_str().unwrap());

    // 2. `latchkey token` prints the access token, which the provider accepts.
    let first = sandbox.token().expect("latchkey token after login");
    let (code, me) = get_json(&agent(), userinfo, Some(&first));
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["sub"], TEST_ACCOUNT);
    // A fresh token is not refreshed again.
    assert_eq!(sandbox.token().unwrap(), first);
    assert_eq!(provider.requests("POST", "/token"), 1);

    // 3. `latchkey refresh`: a new access token and a rotated refresh token, stored.
    let stored_after_login = std::fs::read(&token_file).unwrap();
    let out = sandbox.run(&["refresh"]);
    assert!(out.status.success(), "refresh: {out:?}");
    assert_eq!(provider.requests("POST", "/token"), 2);
    let stored_after_refresh = std::fs::read(&token_file).unwrap();
    assert_ne!(
        stored_after_login, stored_after_refresh,
        "stored tokens rotated"
    );
    let second = sandbox.token().expect("latchkey token after refresh");
    assert_ne!(second, first, "a new access token");
    let (code, me) = get_json(&agent(), userinfo, Some(&second));
    assert_eq!(code, 200, "{me}");
    // Keep the refreshed token file to try its refresh token after the revocation.
    let kept = sandbox.dir.join("kept-token-file");
    copy(&token_file, &kept);

    // 4. `latchkey revoke`: exits 0 only when the revocation endpoint confirmed (RFC 7009).
    let out = sandbox.run(&["revoke"]);
    assert!(out.status.success(), "revoke: {out:?}");
    assert_eq!(provider.requests("POST", "/token/revocation"), 1);
    let out = sandbox.token().expect_err("no token after revoke");
    assert_eq!(
        out.status.code(),
        Some(EXIT_SIGN_IN),
        "not signed in: {out:?}"
    );
    assert_eq!(sandbox.status()["signed_in"], false);

    // 5. The revoked refresh token is dead at the provider: put the kept token file back
    //    and refresh; the provider answers invalid_grant, the CLI erases the tokens and
    //    asks for a sign-in.
    copy(&kept, &token_file);
    let out = sandbox.run(&["refresh"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(provider.requests("POST", "/token"), 3);
    assert!(
        provider.logged("grant.error invalid_grant"),
        "the provider refused the revoked refresh token"
    );
    assert_eq!(out.status.code(), Some(EXIT_SIGN_IN), "{out:?}");
    assert!(stderr.contains("refused the refresh token"), "{stderr}");
    assert_eq!(sandbox.status()["signed_in"], false, "tokens erased");
    eprintln!("interop test took {:?}", started.elapsed());
}

#[test]
fn cli_login_without_prompt_consent_gets_no_refresh_token() {
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    let sandbox = Sandbox::new("noconsent");
    let login = sandbox.login(
        &provider.discovery(),
        "30",
        &["--scope", "openid offline_access"],
    );
    assert_eq!(login.status.code(), Some(0), "{}", login.stderr);
    assert_eq!(query_param(&login.url, "prompt"), None);
    let status = sandbox.status();
    assert_eq!(status["signed_in"], true, "{status}");
    assert_eq!(status["refreshable"], false, "{status}");
    assert_eq!(status["scope"], "openid", "the provider narrowed the scope");
}

#[test]
fn cli_login_refuses_a_callback_from_another_issuer() {
    let Some(provider) = Provider::start(&[]) else {
        return;
    };
    let mut discovery = provider.discovery();
    // Expect a different issuer than the one that answers: the mix-up defence must fire.
    discovery["issuer"] = Value::from("http://127.0.0.1:1/other-issuer");
    let sandbox = Sandbox::new("issuer");
    let login = sandbox.login(&discovery, "3", &["--scope", "openid"]);
    // The callback carries our state, so it answers our request: the failed issuer check
    // ends the sign-in at once with the security exit code (7), naming the check.
    assert_eq!(login.status.code(), Some(EXIT_SECURITY), "{}", login.stderr);
    assert!(
        login.stderr.contains("is not the expected issuer"),
        "{}",
        login.stderr
    );
    assert_eq!(
        provider.requests("POST", "/token"),
        0,
        "no token request after a failed check"
    );
    // Nothing is saved after a failed sign-in: no profile, no token file.
    assert!(!sandbox.config().exists(), "profile saved after a failure");
    assert!(
        std::fs::read_dir(sandbox.dir.join("data")).map_or(true, |d| d.count() == 0),
        "token file written after a failure"
    );
}

#[test]
fn cli_login_declined_consent_exits_with_access_denied() {
    let Some(provider) = Provider::start(&[("INTEROP_DENY", "1")]) else {
        return;
    };
    let sandbox = Sandbox::new("deny");
    let login = sandbox.login(&provider.discovery(), "30", &["--scope", "openid"]);
    assert_eq!(login.status.code(), Some(EXIT_REFUSED), "{}", login.stderr);
    assert!(login.stderr.contains("access_denied"), "{}", login.stderr);
    assert_eq!(provider.requests("POST", "/token"), 0);
}
