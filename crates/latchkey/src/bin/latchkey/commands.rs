//! The profile commands: login, token, status, refresh, revoke, logout, password login,
//! MFA, forgot password, device, pkce.

use std::path::PathBuf;
use std::time::Duration;

use latchkey::config::{DEFAULT_PROFILE, default_config_path};
use latchkey::transport::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
use latchkey::{
    Client, ConfigFile, Error, Event, FileStore, LoopbackListener, ProfileSettings, Transport,
    TransportConfig, unix_now,
};
use latchkey_core::token::MfaType;
use serde_json::json;

use crate::term::{Out, TermUi, paint, qr, secret_input};
use crate::{Command, Global, MfaAction, MfaKind, ProfileArgs};

/// A resolved profile: its name, settings (file + env + flags) and where things live.
struct Ctx {
    name: String,
    config_path: PathBuf,
    file: ConfigFile,
    settings: ProfileSettings,
    data_dir: PathBuf,
}

impl Ctx {
    fn resolve(global: &Global, args: &ProfileArgs) -> Result<Self, Error> {
        let config_path = match &global.config {
            Some(p) => p.clone(),
            None => default_config_path().ok_or_else(|| {
                Error::Config(
                    "this system has no config directory for the user; pass --config FILE".into(),
                )
            })?,
        };
        let data_dir = match &global.data_dir {
            Some(d) => d.clone(),
            None => FileStore::default_dir().ok_or_else(|| {
                Error::Config(
                    "this system has no data directory for the user; pass --data-dir DIR".into(),
                )
            })?,
        };
        let file = ConfigFile::load(&config_path)?;
        let name = global
            .profile
            .clone()
            .or_else(|| file.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        let flags = args.settings();
        let settings = match file.profile(&name) {
            Some(p) => p.clone().overlay(flags),
            None if flags.dialect.is_some() => flags,
            None => {
                return Err(Error::Config(format!(
                    "no profile `{name}` in {path}; create it by signing in once, e.g.\n  \
                     latchkey login --profile {name} --dialect crm --portal URL --api URL \
                     --client-id ID\n(or add a [profiles.{name}] table to {path}; \
                     `latchkey demo` shows everything working without an account)",
                    path = config_path.display()
                )));
            }
        };
        Ok(Self {
            name,
            config_path,
            file,
            settings,
            data_dir,
        })
    }

    fn client(&self, redirect_uri: &str, out: Out) -> Result<Client<FileStore>, Error> {
        let secret = self
            .settings
            .client_secret(std::env::var("LATCHKEY_CLIENT_SECRET").ok())?;
        let config = self
            .settings
            .session_config(&self.name, redirect_uri, secret.as_deref())?;
        let transport = Transport::new(TransportConfig {
            connect_timeout: self
                .settings
                .connect_timeout
                .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs),
            read_timeout: self
                .settings
                .read_timeout
                .map_or(DEFAULT_READ_TIMEOUT, Duration::from_secs),
            overrides: Vec::new(),
        });
        let store = FileStore::new(&self.data_dir, &self.name)?;
        Ok(Client::open(config, transport, store)?
            .with_name(&self.name)
            .with_ui(Box::new(TermUi::new(out))))
    }

    /// A client for commands that do not sign in through the browser.
    fn stored_client(&self, out: Out) -> Result<Client<FileStore>, Error> {
        self.client(&self.settings.stored_redirect_uri(), out)
    }

    /// Saves the profile's non-secret settings if they changed (after a sign-in).
    fn remember(&mut self, out: Out) -> Result<(), Error> {
        if self.file.profile(&self.name) == Some(&self.settings) {
            return Ok(());
        }
        self.file
            .profiles
            .insert(self.name.clone(), self.settings.clone());
        self.file.save(&self.config_path)?;
        out.info(&format!(
            "saved profile `{}` to {}",
            self.name,
            self.config_path.display()
        ));
        Ok(())
    }
}

/// Runs a profile command.
pub(crate) fn run(global: &Global, command: Command, out: Out) -> Result<(), Error> {
    match command {
        Command::Login {
            profile,
            no_browser,
            timeout,
        } => login(
            &mut Ctx::resolve(global, &profile)?,
            no_browser,
            timeout,
            out,
        ),
        Command::Token { profile } => token(&Ctx::resolve(global, &profile)?, out),
        Command::Status { profile } => status(&Ctx::resolve(global, &profile)?, out),
        Command::Refresh { profile } => refresh(&Ctx::resolve(global, &profile)?, out),
        Command::Revoke { profile } => logout(&Ctx::resolve(global, &profile)?, true, out),
        Command::Logout { profile } => logout(&Ctx::resolve(global, &profile)?, false, out),
        Command::PasswordLogin {
            username,
            setup_mfa,
            mfa,
            profile,
        } => password_login(
            &mut Ctx::resolve(global, &profile)?,
            &username,
            setup_mfa,
            mfa,
            out,
        ),
        Command::Mfa {
            action: MfaAction::Deactivate { username, profile },
        } => mfa_deactivate(&Ctx::resolve(global, &profile)?, &username, out),
        Command::ForgotPassword { username, profile } => {
            let ctx = Ctx::resolve(global, &profile)?;
            match ctx.stored_client(out)?.forgot_password(&username)? {
                Event::Accepted => {
                    out.result(
                        "password reset requested; check the user's mailbox",
                        json!({"ok": true}),
                    );
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
        Command::Device { profile } => {
            let mut ctx = Ctx::resolve(global, &profile)?;
            let mut client = ctx.stored_client(out)?;
            client.device_login()?;
            drop(client);
            ctx.remember(out)?;
            signed_in(&ctx, out)
        }
        Command::Demo | Command::ServeMock { .. } | Command::Pkce => Ok(()),
    }
}

fn login(ctx: &mut Ctx, no_browser: bool, timeout: u64, out: Out) -> Result<(), Error> {
    if ctx.settings.dialect.as_deref() == Some("kommo")
        && ctx.settings.redirect_port.unwrap_or(0) == 0
    {
        return Err(Error::Config(
            "Kommo redirects to the URI registered for the integration: register \
             http://127.0.0.1:PORT/callback there and pass --redirect-port PORT"
                .into(),
        ));
    }
    let listener = LoopbackListener::bind(ctx.settings.redirect_port.unwrap_or(0))?;
    let mut client = ctx.client(&listener.redirect_uri(), out)?;
    client.login(listener, Duration::from_secs(timeout), |url| {
        if no_browser || latchkey::open_in_browser(url).is_err() {
            eprintln!("Open this URL in your browser to sign in:\n\n  {url}\n");
        } else {
            out.info("Opened your browser to sign in (or open this URL yourself):");
            out.info(&format!("  {url}"));
        }
        Ok(())
    })?;
    drop(client);
    ctx.remember(out)?;
    signed_in(ctx, out)
}

fn signed_in(ctx: &Ctx, out: Out) -> Result<(), Error> {
    let client = ctx.stored_client(out)?;
    let s = client.session();
    out.result(
        &format!(
            "{} signed in (profile `{}`, {}), token valid for {}",
            paint("✔", "32"),
            ctx.name,
            s.config().profile.dialect().as_str(),
            lifetime(s.expires_at())
        ),
        json!({"ok": true, "profile": ctx.name, "expires_at": finite(s.expires_at()),
            "scope": s.scope()}),
    );
    Ok(())
}

fn token(ctx: &Ctx, out: Out) -> Result<(), Error> {
    let mut client = ctx.stored_client(out)?;
    let token = client.token()?;
    let s = client.session();
    out.result(
        token.secret(),
        json!({"access_token": token.secret(), "token_type": "Bearer",
            "expires_at": finite(s.expires_at())}),
    );
    Ok(())
}

fn status(ctx: &Ctx, out: Out) -> Result<(), Error> {
    let client = ctx.stored_client(out)?;
    let s = client.session();
    let dialect = s.config().profile.dialect().as_str();
    let file = client.store().path();
    if !client.is_signed_in() {
        out.result(
            &format!(
                "profile `{}` ({dialect}): not signed in; run `latchkey login --profile {}`",
                ctx.name, ctx.name
            ),
            json!({"profile": ctx.name, "dialect": dialect, "signed_in": false,
                "token_file": file}),
        );
        return Ok(());
    }
    let account = s.kommo_account().map(|a| a.host().to_owned());
    let mut text = format!(
        "profile:       {}\ndialect:       {dialect}\nsigned in:     yes\nexpires:       {}\n\
         refresh due:   {}\nrefreshable:   {}\nscope:         {}\ntoken file:    {}",
        ctx.name,
        lifetime(s.expires_at()),
        lifetime(s.refresh_due_at()),
        if s.has_refresh_token() { "yes" } else { "no" },
        s.scope().unwrap_or(""),
        file.display()
    );
    if let Some(a) = &account {
        text.push_str(&format!("\naccount:       {a}"));
    }
    out.result(
        &text,
        json!({"profile": ctx.name, "dialect": dialect, "signed_in": true,
            "expires_at": finite(s.expires_at()), "refresh_due_at": finite(s.refresh_due_at()),
            "refreshable": s.has_refresh_token(), "scope": s.scope(), "kommo_account": account,
            "token_file": file}),
    );
    Ok(())
}

fn refresh(ctx: &Ctx, out: Out) -> Result<(), Error> {
    let mut client = ctx.stored_client(out)?;
    client.refresh()?;
    let s = client.session();
    out.result(
        &format!(
            "{} refreshed; token valid for {}",
            paint("✔", "32"),
            lifetime(s.expires_at())
        ),
        json!({"ok": true, "expires_at": finite(s.expires_at())}),
    );
    Ok(())
}

fn logout(ctx: &Ctx, strict: bool, out: Out) -> Result<(), Error> {
    let mut client = match ctx.stored_client(out) {
        Ok(c) => c,
        // A token file we cannot read is deleted by logout all the same.
        Err(Error::Store { path, .. }) if !strict => {
            std::fs::remove_file(&path).map_err(|e| Error::Store {
                path: path.clone(),
                problem: latchkey::StoreProblem::Io(e),
            })?;
            out.result(
                &format!("deleted the unusable token file {}", path.display()),
                json!({"ok": true, "revoked": false}),
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let was_signed_in = client.is_signed_in();
    match client.logout()? {
        None => {
            let text = if was_signed_in {
                format!(
                    "{} logged out; the refresh token was revoked",
                    paint("✔", "32")
                )
            } else {
                "not signed in; nothing to revoke".to_owned()
            };
            out.result(&text, json!({"ok": true, "revoked": was_signed_in}));
            Ok(())
        }
        Some(e) if strict => {
            out.info(
                "the tokens were deleted locally, but the server did not confirm the revocation:",
            );
            Err(e)
        }
        Some(e) => {
            out.result(
                &format!(
                    "{} logged out locally (tokens deleted), but the revocation failed: {e}",
                    paint("!", "33")
                ),
                json!({"ok": true, "revoked": false, "revocation_error": e.to_string()}),
            );
            Ok(())
        }
    }
}

fn otp(prompt: &str) -> Result<String, Error> {
    secret_input("LATCHKEY_OTP", prompt)
}

fn password_login(
    ctx: &mut Ctx,
    username: &str,
    setup: Option<MfaKind>,
    kind: MfaKind,
    out: Out,
) -> Result<(), Error> {
    let mut client = ctx.stored_client(out)?;
    let password = secret_input("LATCHKEY_PASSWORD", &format!("Password for {username}: "))?;
    let mut event = client.password_login(username, &password)?;
    drop(password);
    if matches!(event, Event::MfaRequired) {
        match setup {
            Some(MfaKind::Authenticator) => {
                let Event::MfaSecret(secret) = client.request_mfa_secret()? else {
                    return Err(Error::Aborted("the server sent no MFA secret".into()));
                };
                let uri = format!(
                    "otpauth://totp/latchkey:{user}?secret={s}&issuer=latchkey",
                    user = urlencode(username),
                    s = secret.secret()
                );
                eprintln!("Scan this with your authenticator app:");
                if let Some(q) = qr(&uri) {
                    eprintln!("{q}");
                }
                expect_accepted(
                    client.bind_mfa(MfaType::Authenticator, &otp("Code from the app: ")?)?,
                )?;
                out.info("authenticator bound; enter the next code to sign in");
            }
            Some(MfaKind::Email) => {
                expect_accepted(client.send_email_otp()?)?;
                expect_accepted(client.bind_mfa(MfaType::Email, &otp("Code from the email: ")?)?)?;
                out.info("email MFA bound");
            }
            None => {}
        }
        let email = setup == Some(MfaKind::Email) || kind == MfaKind::Email;
        for attempt in 1..=3 {
            if email {
                expect_accepted(client.send_email_otp()?)?;
                out.info("a code was emailed");
            }
            event = client.submit_otp(&otp("One-time code: ")?)?;
            match &event {
                Event::MfaRejected(e) if attempt < 3 => {
                    eprintln!("{} {e}; try again", paint("✘", "31"))
                }
                _ => break,
            }
        }
    }
    match event {
        Event::Authorized => {
            drop(client);
            ctx.remember(out)?;
            signed_in(ctx, out)
        }
        other => Err(unexpected(other)),
    }
}

fn mfa_deactivate(ctx: &Ctx, username: &str, out: Out) -> Result<(), Error> {
    let mut client = ctx.stored_client(out)?;
    let password = secret_input("LATCHKEY_PASSWORD", &format!("Password for {username}: "))?;
    match client.password_login(username, &password)? {
        Event::MfaRequired => {
            expect_accepted(client.deactivate_mfa()?)?;
            out.result(
                "MFA deactivation requested; follow the instructions the server sends",
                json!({"ok": true}),
            );
            Ok(())
        }
        Event::Authorized => {
            out.result(
                &format!("MFA is not active for {username} (signed in without it)"),
                json!({"ok": true, "mfa_active": false}),
            );
            Ok(())
        }
        other => Err(unexpected(other)),
    }
}

/// `latchkey pkce`.
pub(crate) fn pkce(out: Out) -> Result<(), Error> {
    let seed = latchkey::entropy::<{ latchkey_core::state::AUTHORIZATION_ENTROPY }>()?;
    let pending = latchkey_core::state::PendingAuthorization::from_entropy(&seed)?;
    let verifier = pending.verifier().secret();
    let challenge = pending.challenge();
    let state = pending.state().as_str();
    out.result(
        &format!(
            "code_verifier:         {verifier}\ncode_challenge:        {}\n\
             code_challenge_method: {}\nstate:                 {state}",
            challenge.as_str(),
            challenge.method().as_str()
        ),
        json!({"code_verifier": verifier, "code_challenge": challenge.as_str(),
            "code_challenge_method": challenge.method().as_str(), "state": state}),
    );
    Ok(())
}

fn expect_accepted(e: Event) -> Result<(), Error> {
    match e {
        Event::Accepted => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn unexpected(e: Event) -> Error {
    match e {
        Event::MfaRejected(e) => Error::Core(e),
        other => Error::Aborted(format!(
            "the server's answer was unexpected here ({other:?})"
        )),
    }
}

/// Percent-encodes a URI component with the core's encoder (RFC 3986 unreserved kept).
fn urlencode(s: &str) -> String {
    let mut buf = vec![0u8; s.len() * 3];
    let n = latchkey_core::encode::percent_encode(s, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn finite(t: Option<u64>) -> Option<u64> {
    t.filter(|&t| t != u64::MAX)
}

/// "59 min (at 1700000000)" style text for a Unix time.
fn lifetime(t: Option<u64>) -> String {
    match t {
        None => "-".into(),
        Some(u64::MAX) => "no stated expiry".into(),
        Some(t) => {
            let now = unix_now();
            if t <= now {
                format!("expired {} ago", human(now - t))
            } else {
                human(t - now)
            }
        }
    }
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}
