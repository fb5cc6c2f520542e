//! Terminal output: spinners, QR codes, prompts, `--json`, and the error → exit code map.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use latchkey::{Error, StoreProblem, Ui};
use sha2::{Digest, Sha256};

/// Exit codes, documented in `--help` and the README.
pub(crate) mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// A demo step failed, or an unexpected error.
    pub(crate) const FAILED: u8 = 1;
    /// Configuration: missing or invalid config file, profile, field or client secret.
    pub(crate) const CONFIG: u8 = 3;
    /// Sign-in required: not signed in, session ended, or the token file is unusable.
    pub(crate) const SIGN_IN: u8 = 4;
    /// Network: the server is unreachable, did not answer, or answered something that is
    /// not OAuth.
    pub(crate) const NETWORK: u8 = 5;
    /// The server refused with an OAuth error (invalid_grant, access_denied, …).
    pub(crate) const REFUSED: u8 = 6;
    /// A security check failed (state, issuer, referer, redirect, insecure URL).
    pub(crate) const SECURITY: u8 = 7;
    /// Timed out waiting for the user (browser never came back, device code expired).
    pub(crate) const TIMEOUT: u8 = 8;
}

/// The exit-code table shown after `--help`.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a demo step failed, or an unexpected error
  2  usage: unknown command, wrong or missing flag
  3  configuration: missing/invalid config file, profile, field or client secret
  4  sign-in required: not signed in, session ended, or the token file is unusable
  5  network: server unreachable, no answer, or an answer that is not OAuth
  6  the server refused with an OAuth error (invalid_grant, access_denied, ...)
  7  a security check failed (state, issuer, referer, redirect, insecure URL)
  8  timed out waiting for the user (browser never came back, device code expired)";

/// The exit code for an error.
pub(crate) fn exit_code(e: &Error) -> u8 {
    use latchkey_core::Error as C;
    use latchkey_core::{ErrorKind, ServerMisbehaved};
    match e {
        Error::ServerSaid { error, .. } => exit_code(&Error::Core(*error)),
        Error::Core(C::ServerError(s)) if s.code == ErrorKind::ExpiredToken => exit::TIMEOUT,
        Error::Core(C::ServerError(_)) => exit::REFUSED,
        Error::Core(C::CheckFailed(_) | C::ServerMisbehaved(ServerMisbehaved::Redirect)) => {
            exit::SECURITY
        }
        Error::Core(C::ServerMisbehaved(_) | C::InvalidMessage(_)) => exit::NETWORK,
        Error::Core(C::ApiMisuse(_)) => exit::CONFIG,
        Error::Core(_) => exit::FAILED,
        Error::Unreachable { .. } | Error::NoAnswer { .. } => exit::NETWORK,
        Error::Refused { .. } => exit::SECURITY,
        Error::BrowserTimeout { .. } => exit::TIMEOUT,
        Error::Store {
            problem: StoreProblem::Malformed(_) | StoreProblem::TooLarge(_),
            ..
        }
        | Error::NotSignedIn { .. }
        | Error::SignInRequired(_) => exit::SIGN_IN,
        Error::Store {
            problem: StoreProblem::BadProfileName,
            ..
        }
        | Error::Config(_) => exit::CONFIG,
        _ => exit::FAILED,
    }
}

/// How results are shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl Out {
    /// A progress or info line on stderr (not in `--json` or `--quiet` mode).
    pub(crate) fn info(&self, msg: &str) {
        if !self.json && !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// The result: `text` for people, `json` for machines, on stdout.
    pub(crate) fn result(&self, text: &str, json: serde_json::Value) {
        if self.json {
            println!("{json}");
        } else if !text.is_empty() {
            println!("{text}");
        }
    }

    /// Reports an error on stderr (or as JSON on stdout) and returns its exit code.
    pub(crate) fn error(&self, e: &Error) -> u8 {
        let code = exit_code(e);
        if self.json {
            println!(
                "{}",
                serde_json::json!({"ok": false, "exit_code": code,
                    "error": {"kind": e.code(), "message": e.to_string()}})
            );
        } else {
            eprintln!("{} {e}", paint("error:", "1;31"));
        }
        code
    }
}

/// `text` in an ANSI style when stderr is a terminal.
pub(crate) fn paint(text: &str, style: &str) -> String {
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[{style}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// A short fingerprint of a secret for display: `sha256:ab12cd34…` (never the secret).
pub(crate) fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}…")
}

/// A QR code for `data`, drawn with Unicode half blocks.
pub(crate) fn qr(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// A secret from `env` if set, else a prompt without echo (SEC-4).
pub(crate) fn secret_input(env: &str, prompt: &str) -> Result<String, Error> {
    if let Ok(v) = std::env::var(env)
        && !v.is_empty()
    {
        return Ok(v);
    }
    let v = rpassword::prompt_password(prompt).map_err(|e| {
        Error::Config(format!(
            "could not prompt for it ({e}); set {env} when there is no terminal"
        ))
    })?;
    let v = v.trim().to_owned();
    if v.is_empty() {
        return Err(Error::Aborted("nothing entered".into()));
    }
    Ok(v)
}

/// The terminal [`Ui`]: a spinner on every wait, the device code with a QR code.
pub(crate) struct TermUi {
    out: Out,
    spinner: Option<ProgressBar>,
}

impl TermUi {
    pub(crate) fn new(out: Out) -> Self {
        Self { out, spinner: None }
    }
}

/// A spinner on stderr (hidden when stderr is not a terminal).
pub(crate) fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

impl Drop for TermUi {
    fn drop(&mut self) {
        self.done_waiting();
    }
}

impl Ui for TermUi {
    fn show_user_code(&mut self, user_code: &str, verification_uri: &str, complete: Option<&str>) {
        self.done_waiting();
        if self.out.json {
            eprintln!(
                "{}",
                serde_json::json!({"user_code": user_code, "verification_uri": verification_uri,
                    "verification_uri_complete": complete})
            );
            return;
        }
        eprintln!("To sign in, open {verification_uri} on any device");
        eprintln!("and enter the code:  {}", paint(user_code, "1"));
        if let Some(q) = qr(complete.unwrap_or(verification_uri)) {
            eprintln!("or scan:\n{q}");
        }
    }

    fn waiting(&mut self, what: &str) {
        if self.out.json || self.out.quiet {
            return;
        }
        if let Some(s) = &self.spinner {
            s.set_message(what.to_owned());
        } else {
            self.spinner = Some(spinner(what));
        }
    }

    fn done_waiting(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }

    fn sending(&mut self, url: &str) {
        // The URL without its query (no codes or tokens are ever in it, but keep it short).
        let shown = url.split('?').next().unwrap_or(url);
        self.waiting(&format!("contacting {shown}"));
    }
}
