//! `latchkey demo` and `latchkey serve-mock`: every flow against the testkit's mock server
//! on 127.0.0.1, with the browser's part played by an HTTP user agent.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use latchkey::{
    Client, Error, Event, FileStore, HostOverride, LoopbackListener, Transport, TransportConfig,
    Ui, unix_now,
};
use latchkey_core::session::Config;
use latchkey_core::{Client as Registration, Profile};
use latchkey_testkit::{
    BOB_PASSWORD, CRM_CLIENT_ID, CRM_CLIENT_SECRET, CRM_SCOPE, KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_ID,
    KOMMO_CLIENT_SECRET, KOMMO_REDIRECT_URI, MockServer, RFC_PUBLIC_CLIENT_ID, USER_ALICE,
    USER_BOB,
};
use serde_json::json;

use crate::term::{Out, exit, fingerprint, paint, spinner};

/// A scratch directory for the demo's token files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("latchkey-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The step printer: one line per step with ✔/✘ and its time.
struct Steps {
    out: Out,
    n: usize,
    failed: usize,
    report: Vec<serde_json::Value>,
}

impl Steps {
    fn run(&mut self, title: &str, f: impl FnOnce() -> Result<String, String>) -> bool {
        self.n += 1;
        let shown = !self.out.json && !self.out.quiet;
        let pb = shown.then(|| spinner(title));
        let start = Instant::now();
        let result = f();
        let ms = start.elapsed().as_millis();
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let ok = result.is_ok();
        if !ok {
            self.failed += 1;
        }
        let detail = match &result {
            Ok(d) | Err(d) => d.clone(),
        };
        if shown {
            let mark = if ok {
                paint("✔", "32")
            } else {
                paint("✘", "31")
            };
            println!("{mark} {:>2}. {title:<46} {ms:>5} ms  {detail}", self.n);
        }
        self.report
            .push(json!({"step": title, "ok": ok, "ms": ms, "detail": detail}));
        ok
    }

    fn skip(&mut self, title: &str) {
        self.run(title, || Err("skipped: an earlier step failed".into()));
    }
}

fn text(e: Error) -> String {
    e.to_string()
}

/// Runs the demo; returns the exit code (0 only if every step held).
pub(crate) fn run(out: Out) -> u8 {
    let started = Instant::now();
    let mock = match MockServer::start() {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return out.error(&Error::Aborted(format!(
                "could not start the mock server on 127.0.0.1: {e}"
            )));
        }
    };
    let dir = match TempDir::new() {
        Ok(d) => d,
        Err(e) => {
            return out.error(&Error::Aborted(format!(
                "could not create a temporary directory: {e}"
            )));
        }
    };
    out.info(&format!(
        "latchkey demo: mock CRM, Kommo and RFC 6749 server on {}\n",
        mock.base_url()
    ));
    let mut steps = Steps {
        out,
        n: 0,
        failed: 0,
        report: Vec::new(),
    };
    crm_steps(&mock, &dir, &mut steps);
    password_step(&mock, &dir, &mut steps);
    kommo_steps(&mock, &dir, &mut steps);
    device_step(&mock, &dir, &mut steps);

    let total = started.elapsed().as_millis();
    let passed = steps.n - steps.failed;
    if out.json {
        println!(
            "{}",
            json!({"ok": steps.failed == 0, "passed": passed, "failed": steps.failed,
                "ms": total, "steps": steps.report})
        );
    } else if !out.quiet {
        println!();
        let summary = format!("{passed} passed, {} failed ({total} ms)", steps.failed);
        println!(
            "{}",
            if steps.failed == 0 {
                paint(&summary, "1;32")
            } else {
                paint(&summary, "1;31")
            }
        );
    }
    if steps.failed == 0 {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// The browser's part: GET the authorization URL without following redirects and return
/// the `Location` it redirects to.
fn browse(transport: &Transport, url: &str) -> Result<String, String> {
    let reply = transport.get(url, None).map_err(text)?;
    if !(300..400).contains(&reply.status) {
        return Err(format!(
            "the authorization page answered HTTP {} instead of a redirect",
            reply.status
        ));
    }
    reply
        .location
        .ok_or_else(|| "the authorization redirect has no Location".to_owned())
}

fn store(dir: &TempDir, name: &str) -> Result<FileStore, String> {
    FileStore::new(&dir.0, name).map_err(text)
}

fn crm_config(mock: &MockServer, redirect_uri: &str) -> Result<Config, String> {
    let profile = Profile::crm(&mock.crm_portal(), &mock.crm_api()).map_err(|e| e.to_string())?;
    let client = Registration::new(CRM_CLIENT_ID, redirect_uri)
        .and_then(|c| c.with_secret(CRM_CLIENT_SECRET))
        .and_then(|c| c.with_scope(CRM_SCOPE))
        .map_err(|e| e.to_string())?;
    Ok(Config::new(profile, client))
}

fn crm_steps(mock: &MockServer, dir: &TempDir, steps: &mut Steps) {
    let mut client: Option<Client<FileStore>> = None;
    let ok = steps.run("CRM sign-in: authorization code + PKCE", || {
        let listener = LoopbackListener::bind(0).map_err(text)?;
        let config = crm_config(mock, &listener.redirect_uri())?;
        let mut c = Client::open(config, Transport::default(), store(dir, "crm")?).map_err(text)?;
        let mut agent = None;
        c.login(listener, Duration::from_secs(10), |url| {
            let url = url.to_owned();
            agent = Some(thread::spawn(move || -> Result<u16, String> {
                let t = Transport::default();
                let callback = browse(&t, &url)?;
                t.get(&callback, None).map(|r| r.status).map_err(text)
            }));
            Ok(())
        })
        .map_err(text)?;
        let page = agent
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("user agent crashed".into()))
            })
            .unwrap_or_else(|| Err("no browser was opened".into()))?;
        if page != 200 {
            return Err(format!("the loopback page answered HTTP {page}"));
        }
        let t = c.token().map_err(text)?;
        let detail = format!(
            "loopback redirect on 127.0.0.1, state+PKCE checked, token {}",
            fingerprint(t.secret())
        );
        client = Some(c);
        Ok(detail)
    });
    let Some(mut c) = client.filter(|_| ok) else {
        for t in [
            "API call with the token",
            "refresh (rotation)",
            "revoke + logout",
        ] {
            steps.skip(t);
        }
        return;
    };
    steps.run("API call with the token", || {
        let reply = c.api_get(&format!("{}/me", mock.crm_api())).map_err(text)?;
        let body: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| format!("bad JSON: {e}"))?;
        if reply.status != 200 || body["sub"] != USER_ALICE {
            return Err(format!("GET /me answered HTTP {}", reply.status));
        }
        Ok(format!("GET /me → 200, sub = {}", body["sub"]))
    });
    steps.run("refresh (refresh token rotates)", || {
        let before = c.token().map_err(text)?;
        let snap_before = std::fs::read(c.store().path()).map_err(|e| e.to_string())?;
        c.refresh().map_err(text)?;
        let after = c.token().map_err(text)?;
        let snap_after = std::fs::read(c.store().path()).map_err(|e| e.to_string())?;
        if before == after || snap_before == snap_after {
            return Err("the tokens did not change".into());
        }
        Ok(format!(
            "access {} → {}, new snapshot stored before success",
            fingerprint(before.secret()),
            fingerprint(after.secret())
        ))
    });
    steps.run("revoke + logout", || {
        let live_before = mock.with_server(|s| s.live_grants());
        if let Some(e) = c.logout().map_err(text)? {
            return Err(format!("revocation failed: {e}"));
        }
        let live_after = mock.with_server(|s| s.live_grants());
        if c.store().path().exists() {
            return Err("the token file is still there".into());
        }
        if live_after >= live_before {
            return Err("the server still holds the grant".into());
        }
        Ok("refresh token revoked at the server, token file deleted".into())
    });
}

fn password_step(mock: &MockServer, dir: &TempDir, steps: &mut Steps) {
    steps.run("password login with MFA (TOTP)", || {
        let config = crm_config(mock, "http://127.0.0.1/callback")?;
        let mut c =
            Client::open(config, Transport::default(), store(dir, "password")?).map_err(text)?;
        match c.password_login(USER_BOB, BOB_PASSWORD).map_err(text)? {
            Event::MfaRequired => {}
            other => return Err(format!("expected an MFA challenge, got {other:?}")),
        }
        let otp = mock
            .with_server(|s| s.totp_now(USER_BOB, unix_now()))
            .ok_or("the mock has no TOTP secret for bob")?;
        match c.submit_otp(&otp).map_err(text)? {
            Event::Authorized => {}
            other => return Err(format!("the OTP was not accepted: {other:?}")),
        }
        let t = c.token().map_err(text)?;
        Ok(format!(
            "MFA required → TOTP accepted, token {}",
            fingerprint(t.secret())
        ))
    });
}

fn kommo_client(mock: &MockServer, dir: &TempDir, name: &str) -> Result<Client<FileStore>, String> {
    let profile = Profile::kommo()
        .with_consent_url(&mock.kommo_consent_url())
        .map_err(|e| e.to_string())?;
    let client = Registration::new(KOMMO_CLIENT_ID, KOMMO_REDIRECT_URI)
        .and_then(|c| c.with_secret(KOMMO_CLIENT_SECRET))
        .map_err(|e| e.to_string())?;
    // Demo only: `example.kommo.com` lives on the mock (see HostOverride).
    let transport = Transport::new(TransportConfig {
        overrides: vec![
            HostOverride::new(KOMMO_ACCOUNT_HOST, &mock.kommo_account_base()).map_err(text)?,
        ],
        ..TransportConfig::default()
    });
    Client::open(Config::new(profile, client), transport, store(dir, name)?).map_err(text)
}

fn kommo_token_requests(mock: &MockServer) -> usize {
    mock.with_server(|s| {
        s.log()
            .iter()
            .filter(|r| r.url.contains("/oauth2/access_token"))
            .count()
    })
}

fn kommo_steps(mock: &MockServer, dir: &TempDir, steps: &mut Steps) {
    steps.run("Kommo sign-in (token host from referer)", || {
        let mut c = kommo_client(mock, dir, "kommo")?;
        let url = c.begin_authorization().map_err(text)?;
        let callback = browse(c.transport(), &url)?;
        c.finish_authorization(&callback).map_err(text)?;
        let account = c
            .session()
            .kommo_account()
            .map(|a| a.host().to_owned())
            .ok_or("no Kommo account after sign-in")?;
        let reply = c
            .api_get(&format!("https://{account}/api/v4/account"))
            .map_err(text)?;
        if reply.status != 200 {
            return Err(format!("the account API answered HTTP {}", reply.status));
        }
        Ok(format!("referer {account} allowed, account API → 200"))
    });
    steps.run("Kommo hostile referer is refused", || {
        let mut c = kommo_client(mock, dir, "kommo-hostile")?;
        mock.with_server(|s| s.misbehave().kommo_hostile_referer = Some("evil.com".into()));
        let before = kommo_token_requests(mock);
        let url = c.begin_authorization().map_err(text)?;
        let callback = browse(c.transport(), &url)?;
        let result = c.finish_authorization(&callback);
        let after = kommo_token_requests(mock);
        match result {
            Err(e @ Error::Core(latchkey_core::Error::CheckFailed(_))) if after == before => {
                Ok(format!("referer=evil.com → {e}; no token request sent"))
            }
            Err(e) => Err(format!("refused for the wrong reason: {e}")),
            Ok(()) => Err("the hostile referer was accepted".into()),
        }
    });
}

/// Approves the device code on the mock as soon as it is shown.
struct ApproveOnMock(Arc<MockServer>);

impl Ui for ApproveOnMock {
    fn show_user_code(&mut self, user_code: &str, _uri: &str, _complete: Option<&str>) {
        let code = user_code.to_owned();
        self.0.with_server(|s| s.approve_device(&code));
    }
}

/// The device polling interval the demo's mock asks for: RFC 8628's default is 5 s, which
/// is all the demo would spend waiting; the client honours whatever the server says.
const DEMO_DEVICE_INTERVAL: u64 = 1;

fn device_step(mock: &Arc<MockServer>, dir: &TempDir, steps: &mut Steps) {
    steps.run("device grant (RFC 8628)", || {
        mock.with_server(|s| s.config_mut().device_interval = DEMO_DEVICE_INTERVAL);
        let issuer = mock.issuer();
        let profile = Profile::rfc6749(&format!("{issuer}/authorize"), &format!("{issuer}/token"))
            .and_then(|p| p.with_device_authorization(&format!("{issuer}/device_authorization")))
            .and_then(|p| p.with_revocation(&format!("{issuer}/revoke")))
            .and_then(|p| p.with_client_auth(latchkey_core::profile::ClientAuth::None))
            .map_err(|e| e.to_string())?;
        let client = Registration::new(RFC_PUBLIC_CLIENT_ID, "http://127.0.0.1/callback")
            .map_err(|e| e.to_string())?;
        let mut c = Client::open(
            Config::new(profile, client),
            Transport::default(),
            store(dir, "device")?,
        )
        .map_err(text)?
        .with_ui(Box::new(ApproveOnMock(Arc::clone(mock))));
        c.device_login().map_err(text)?;
        let reply = c.api_get(&format!("{issuer}/userinfo")).map_err(text)?;
        if reply.status != 200 {
            return Err(format!("userinfo answered HTTP {}", reply.status));
        }
        Ok(format!(
            "user code shown, approved, polled at the server's interval ({DEMO_DEVICE_INTERVAL} s)"
        ))
    });
}

/// `latchkey serve-mock`: the same server for local development.
pub(crate) fn serve_mock(port: u16, out: Out) -> Result<(), Error> {
    let mock = MockServer::start_on(port).map_err(|e| {
        Error::Aborted(format!(
            "could not listen on 127.0.0.1:{port}: {e}; pick another --port (0: any free port)"
        ))
    })?;
    let info = json!({
        "base_url": mock.base_url(),
        "crm_portal": mock.crm_portal(), "crm_api": mock.crm_api(),
        "issuer": mock.issuer(), "kommo_consent_url": mock.kommo_consent_url(),
        "kommo_account_base": mock.kommo_account_base(),
        "redirect_uri": "http://127.0.0.1:{any port}/callback",
        "clients": {
            "crm": {"client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET, "scope": CRM_SCOPE},
            "crm_public": {"client_id": latchkey_testkit::CRM_PUBLIC_CLIENT_ID},
            "rfc6749_public": {"client_id": RFC_PUBLIC_CLIENT_ID},
            "kommo": {"client_id": KOMMO_CLIENT_ID},
        },
        "users": {"alice": latchkey_testkit::ALICE_PASSWORD, "bob (TOTP MFA)": BOB_PASSWORD,
            "carol (email MFA)": latchkey_testkit::CAROL_PASSWORD,
            "dave (MFA setup required)": latchkey_testkit::DAVE_PASSWORD},
    });
    if out.json {
        println!("{info}");
    } else {
        let base = mock.base_url();
        println!(
            "latchkey mock server (test data only) on {base}\n\n\
             CRM portal   {}\nCRM API      {}\nRFC 6749     {} (/authorize /token /revoke \
             /device_authorization /userinfo)\nKommo        consent {} — account \
             example.kommo.com served at {}\n\n\
             Clients: crm {CRM_CLIENT_ID} (secret {CRM_CLIENT_SECRET}), crm public {}, \
             rfc6749 public {RFC_PUBLIC_CLIENT_ID}\nUsers:   alice / {}, bob / {BOB_PASSWORD} \
             (TOTP), carol / {} (email MFA), dave / {} (MFA setup)\n\n\
             Try:\n  LATCHKEY_CLIENT_SECRET={CRM_CLIENT_SECRET} latchkey login --profile mock \
             --dialect crm --portal {} --api {} --client-id {CRM_CLIENT_ID} --scope '{CRM_SCOPE}'\n\n\
             Ctrl-C stops it.",
            mock.crm_portal(),
            mock.crm_api(),
            mock.issuer(),
            mock.kommo_consent_url(),
            mock.kommo_account_base(),
            latchkey_testkit::CRM_PUBLIC_CLIENT_ID,
            latchkey_testkit::ALICE_PASSWORD,
            latchkey_testkit::CAROL_PASSWORD,
            latchkey_testkit::DAVE_PASSWORD,
            mock.crm_portal(),
            mock.crm_api(),
        );
    }
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
