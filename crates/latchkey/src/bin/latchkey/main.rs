//! `latchkey`: sign in to a CRM client portal, Kommo or any RFC 6749 server from a terminal,
//! keep the tokens safe, and print a fresh access token for scripts.

mod commands;
mod demo;
mod term;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::styling::{AnsiColor, Styles};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::term::{EXIT_CODES, Out};

const STYLES: Styles = Styles::styled()
    .header(AnsiColor::Green.on_default().bold())
    .usage(AnsiColor::Green.on_default().bold())
    .literal(AnsiColor::Cyan.on_default().bold())
    .placeholder(AnsiColor::Cyan.on_default())
    .error(AnsiColor::Red.on_default().bold())
    .valid(AnsiColor::Green.on_default())
    .invalid(AnsiColor::Yellow.on_default());

/// Sign in with OAuth 2.0 from a terminal: CRM client portal, Kommo, or any RFC 6749 server.
///
/// Start with `latchkey demo`: it runs every flow against a local mock server, no account
/// needed. Then `latchkey login --profile NAME …` signs in through your browser, and
/// `curl -H "Authorization: Bearer $(latchkey token)" …` uses the token.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, styles = STYLES, after_help = EXIT_CODES,
    after_long_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Profile to use (default: the config's `default_profile`, else "default").
    #[arg(long, short = 'p', global = true, env = "LATCHKEY_PROFILE")]
    profile: Option<String>,
    /// Config file (default: latchkey.toml in the OS config directory).
    #[arg(long, global = true, env = "LATCHKEY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for token files (default: the OS data directory).
    #[arg(long, global = true, env = "LATCHKEY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Machine-readable output: one JSON object on stdout.
    #[arg(long, global = true, env = "LATCHKEY_JSON")]
    json: bool,
    /// Print only results (no progress).
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every flow against a local mock server (no account needed); exit 0 if all hold.
    Demo,
    /// Run the mock CRM / Kommo / RFC 6749 server on 127.0.0.1 until Ctrl-C.
    ServeMock {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 0, env = "LATCHKEY_MOCK_PORT")]
        port: u16,
    },
    /// Sign in through the system browser (authorization code + PKCE, loopback redirect).
    Login {
        #[command(flatten)]
        profile: ProfileArgs,
        /// Print the URL instead of opening a browser.
        #[arg(long, env = "LATCHKEY_NO_BROWSER")]
        no_browser: bool,
        /// Seconds to wait for the browser to come back.
        #[arg(
            long,
            default_value_t = 300,
            env = "LATCHKEY_LOGIN_TIMEOUT",
            value_name = "SECS"
        )]
        timeout: u64,
    },
    /// Print a valid access token (refreshed first if due) and nothing else on stdout.
    Token {
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Show whether a profile is signed in: expiry, scope, dialect (never a secret).
    Status {
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Refresh the tokens now (the refresh token rotates; the new one is stored first).
    Refresh {
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Revoke the refresh token at the server and forget the tokens; fails if the server
    /// did not confirm.
    Revoke {
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Forget the tokens (revoking them where the server can); succeeds even if the server
    /// is unreachable.
    Logout {
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Print a fresh PKCE verifier, its S256 challenge and a state.
    Pkce,
    /// CRM password grant (discouraged by RFC 9700; confidential clients only), with MFA.
    PasswordLogin {
        /// The user name.
        #[arg(long, short, env = "LATCHKEY_USERNAME")]
        username: String,
        /// Enrol a second factor first: show the authenticator QR code, or email a code.
        #[arg(long, value_enum)]
        setup_mfa: Option<MfaKind>,
        /// The second factor to verify with (email sends a code first).
        #[arg(long, value_enum, default_value_t = MfaKind::Authenticator, env = "LATCHKEY_MFA")]
        mfa: MfaKind,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// CRM multi-factor authentication.
    Mfa {
        #[command(subcommand)]
        action: MfaAction,
    },
    /// CRM: ask the server to send a password reset.
    ForgotPassword {
        /// The user name.
        #[arg(long, short, env = "LATCHKEY_USERNAME")]
        username: String,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Sign in on another device (RFC 8628 device grant): shows a code and a QR code.
    Device {
        #[command(flatten)]
        profile: ProfileArgs,
    },
}

#[derive(Debug, Subcommand)]
enum MfaAction {
    /// Ask the server to deactivate MFA (signs in with the password first).
    Deactivate {
        /// The user name.
        #[arg(long, short, env = "LATCHKEY_USERNAME")]
        username: String,
        #[command(flatten)]
        profile: ProfileArgs,
    },
}

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MfaKind {
    /// A TOTP authenticator app.
    Authenticator,
    /// One-time codes by email.
    Email,
}

/// Profile fields; each overrides the config file, and each has a `LATCHKEY_*` variable.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Profile (overrides the config file)")]
struct ProfileArgs {
    /// Dialect: crm, kommo or rfc6749.
    #[arg(long, env = "LATCHKEY_DIALECT", value_parser = ["crm", "kommo", "rfc6749"])]
    dialect: Option<String>,
    /// Client (integration) id.
    #[arg(long, env = "LATCHKEY_CLIENT_ID")]
    client_id: Option<String>,
    /// Scope to request.
    #[arg(long, env = "LATCHKEY_SCOPE")]
    scope: Option<String>,
    /// Extra authorization-request parameter NAME=VALUE (repeatable; the env variable takes
    /// a comma-separated list). OpenID providers need `prompt=consent` before they issue a
    /// refresh token for `offline_access`. Replaces the profile's saved `auth_params`.
    #[arg(
        long = "auth-param",
        env = "LATCHKEY_AUTH_PARAMS",
        value_name = "NAME=VALUE",
        value_delimiter = ',',
        value_parser = latchkey::ProfileSettings::parse_auth_param
    )]
    auth_params: Vec<(String, String)>,
    /// Loopback redirect port (0: any free port; Kommo needs the registered one).
    #[arg(long, env = "LATCHKEY_REDIRECT_PORT")]
    redirect_port: Option<u16>,
    /// CRM client portal URL.
    #[arg(long, env = "LATCHKEY_PORTAL", value_name = "URL")]
    portal: Option<String>,
    /// CRM API URL.
    #[arg(long, env = "LATCHKEY_API", value_name = "URL")]
    api: Option<String>,
    /// RFC 6749 authorization endpoint.
    #[arg(long, env = "LATCHKEY_AUTHORIZATION_ENDPOINT", value_name = "URL")]
    authorization_endpoint: Option<String>,
    /// RFC 6749 token endpoint.
    #[arg(long, env = "LATCHKEY_TOKEN_ENDPOINT", value_name = "URL")]
    token_endpoint: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[arg(long, env = "LATCHKEY_REVOCATION_ENDPOINT", value_name = "URL")]
    revocation_endpoint: Option<String>,
    /// RFC 8628 device authorization endpoint.
    #[arg(long, env = "LATCHKEY_DEVICE_ENDPOINT", value_name = "URL")]
    device_endpoint: Option<String>,
    /// Issuer expected in callbacks (RFC 9207).
    #[arg(long, env = "LATCHKEY_ISSUER", value_name = "URL")]
    issuer: Option<String>,
    /// RFC 6749 client authentication: none, basic or post.
    #[arg(long, env = "LATCHKEY_CLIENT_AUTH", value_parser = ["none", "basic", "post"])]
    client_auth: Option<String>,
    /// Kommo consent page URL.
    #[arg(long, env = "LATCHKEY_CONSENT_URL", value_name = "URL")]
    consent_url: Option<String>,
    /// Kommo: another allowed referer suffix, e.g. .amocrm.ru (repeatable).
    #[arg(
        long = "referer-suffix",
        env = "LATCHKEY_REFERER_SUFFIX",
        value_delimiter = ','
    )]
    referer_suffixes: Vec<String>,
    /// Kommo consent mode: popup or post_message.
    #[arg(long, env = "LATCHKEY_KOMMO_MODE", value_parser = ["popup", "post_message"])]
    kommo_mode: Option<String>,
    /// File holding the client secret (or set LATCHKEY_CLIENT_SECRET; never a flag value).
    #[arg(long, env = "LATCHKEY_CLIENT_SECRET_FILE", value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Seconds before expiry at which a refresh is due.
    #[arg(long, env = "LATCHKEY_REFRESH_SKEW", value_name = "SECS")]
    refresh_skew: Option<u32>,
    /// Connect timeout in seconds.
    #[arg(long, env = "LATCHKEY_CONNECT_TIMEOUT", value_name = "SECS")]
    connect_timeout: Option<u64>,
    /// Read timeout in seconds.
    #[arg(long, env = "LATCHKEY_READ_TIMEOUT", value_name = "SECS")]
    read_timeout: Option<u64>,
}

impl ProfileArgs {
    fn settings(&self) -> latchkey::ProfileSettings {
        latchkey::ProfileSettings {
            dialect: self.dialect.clone(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            auth_params: (!self.auth_params.is_empty())
                .then(|| self.auth_params.iter().cloned().collect()),
            redirect_port: self.redirect_port,
            portal: self.portal.clone(),
            api: self.api.clone(),
            authorization_endpoint: self.authorization_endpoint.clone(),
            token_endpoint: self.token_endpoint.clone(),
            revocation_endpoint: self.revocation_endpoint.clone(),
            device_endpoint: self.device_endpoint.clone(),
            issuer: self.issuer.clone(),
            client_auth: self.client_auth.clone(),
            consent_url: self.consent_url.clone(),
            referer_suffixes: (!self.referer_suffixes.is_empty())
                .then(|| self.referer_suffixes.clone()),
            kommo_mode: self.kommo_mode.clone(),
            client_secret_file: self.client_secret_file.clone(),
            refresh_skew: self.refresh_skew,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out {
        json: cli.global.json,
        quiet: cli.global.quiet,
    };
    let result = match cli.command {
        Command::Demo => return ExitCode::from(demo::run(out)),
        Command::ServeMock { port } => demo::serve_mock(port, out),
        Command::Pkce => commands::pkce(out),
        command => commands::run(&cli.global, command, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(out.error(&e)),
    }
}
