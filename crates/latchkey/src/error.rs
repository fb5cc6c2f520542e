//! The adapter's one error type: the core's errors passed through, plus what the std world
//! adds (network, files, the browser, configuration). Every message says what happened and
//! what to do, and none carries a token, code, verifier, password or secret (SEC-1).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the adapter can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The protocol core refused something (a security check, a server error code, a
    /// malformed answer). Its message names the cause.
    Core(latchkey_core::Error),
    /// The server answered with an OAuth error and a description, shown as it came
    /// (untrusted text, e.g. "Invalid username or password").
    ServerSaid {
        /// The core's error (always [`latchkey_core::Error::ServerError`]).
        error: latchkey_core::Error,
        /// The server's `error_description`.
        description: String,
    },
    /// A request could not be delivered: connection refused, host not found, TLS failed.
    /// Nothing reached the server.
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the network layer said.
        detail: String,
    },
    /// A request was sent but no complete answer came in time (its outcome is unknown).
    NoAnswer {
        /// The URL tried.
        url: String,
        /// What the network layer said.
        detail: String,
    },
    /// The transport refused to send a request (insecure URL, a Kommo account host that
    /// resolves to a private address, TOK-1/TOK-6).
    Refused {
        /// The URL refused.
        url: String,
        /// Why.
        reason: String,
    },
    /// The browser never came back to the loopback redirect before the deadline.
    BrowserTimeout {
        /// How long we waited.
        waited: Duration,
        /// The first callback the core rejected while waiting, if any.
        rejected: Option<latchkey_core::Error>,
    },
    /// The loopback redirect listener could not be set up.
    Listener(io::Error),
    /// The token store failed: the file is unreadable, malformed, or could not be written.
    Store {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// What went wrong.
        problem: StoreProblem,
    },
    /// No session is stored for this profile.
    NotSignedIn {
        /// The profile.
        profile: String,
    },
    /// The session ended (refresh token refused, expired, outcome unknown): sign in again.
    /// The stored tokens were erased.
    SignInRequired(latchkey_core::session::EndReason),
    /// The configuration is missing or wrong.
    Config(String),
    /// A wait for the user ended without a result (declined, expired, too many tries).
    Aborted(String),
}

/// What went wrong with a token file.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreProblem {
    /// Reading, writing, renaming or syncing failed.
    Io(io::Error),
    /// The file is not a snapshot this profile can use (truncated, corrupt, another
    /// version, another client): the core's reason.
    Malformed(latchkey_core::Error),
    /// The file is larger than any snapshot can be.
    TooLarge(u64),
    /// The profile name cannot be a file name.
    BadProfileName,
}

impl Error {
    /// A short machine-readable name for the error's kind (used by `--json`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Core(latchkey_core::Error::ServerError(_)) => "server_error",
            Self::Core(latchkey_core::Error::CheckFailed(_)) => "check_failed",
            Self::Core(latchkey_core::Error::ServerMisbehaved(_)) => "server_misbehaved",
            Self::Core(latchkey_core::Error::InvalidMessage(_)) => "invalid_message",
            Self::Core(_) => "core",
            Self::ServerSaid { .. } => "server_error",
            Self::Unreachable { .. } => "unreachable",
            Self::NoAnswer { .. } => "no_answer",
            Self::Refused { .. } => "refused",
            Self::BrowserTimeout { .. } => "browser_timeout",
            Self::Listener(_) => "listener",
            Self::Store { .. } => "store",
            Self::NotSignedIn { .. } => "not_signed_in",
            Self::SignInRequired(_) => "sign_in_required",
            Self::Config(_) => "config",
            Self::Aborted(_) => "aborted",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::ServerSaid { error, description } => {
                write!(f, "{error} — the server said: {description:?}")
            }
            Self::Unreachable { url, detail } => write!(
                f,
                "could not reach {url} ({detail}); check that the server is running and the URL \
                 in your profile is right"
            ),
            Self::NoAnswer { url, detail } => write!(
                f,
                "no answer from {url} ({detail}); the server may be overloaded, try again"
            ),
            Self::Refused { url, reason } => write!(f, "refused to send to {url}: {reason}"),
            Self::BrowserTimeout { waited, rejected } => {
                write!(
                    f,
                    "the browser did not come back within {} s",
                    waited.as_secs()
                )?;
                if let Some(e) = rejected {
                    write!(f, " with a valid sign-in (a callback was rejected: {e})")?;
                }
                f.write_str(
                    "; run the command again, finish signing in in the browser, or raise \
                     --timeout (with --no-browser, open the printed URL yourself)",
                )
            }
            Self::Listener(e) => write!(
                f,
                "could not listen on 127.0.0.1 for the sign-in redirect ({e}); pick another \
                 --redirect-port or free the port"
            ),
            Self::Store { path, problem } => match problem {
                StoreProblem::Io(e) => write!(
                    f,
                    "token file {}: {e}; check its permissions and free disk space",
                    path.display()
                ),
                StoreProblem::Malformed(e) => write!(
                    f,
                    "token file {} is not usable for this profile ({e}); run `latchkey login` \
                     again (or `latchkey logout` to delete it)",
                    path.display()
                ),
                StoreProblem::TooLarge(n) => write!(
                    f,
                    "token file {} is {n} bytes, too large to be a latchkey snapshot; run \
                     `latchkey login` again (or `latchkey logout` to delete it)",
                    path.display()
                ),
                StoreProblem::BadProfileName => write!(
                    f,
                    "{}: a profile name may hold only letters, digits, `-` and `_` (1 to 64)",
                    path.display()
                ),
            },
            Self::NotSignedIn { profile } => write!(
                f,
                "not signed in for profile `{profile}`; run `latchkey login --profile {profile}` \
                 first"
            ),
            Self::SignInRequired(reason) => {
                use latchkey_core::session::EndReason;
                let why = match reason {
                    EndReason::RefreshRejected(_) => {
                        "the server refused the refresh token (revoked or expired)"
                    }
                    EndReason::Expired => "the access token expired and there is no refresh token",
                    EndReason::RefreshOutcomeUnknown => {
                        "a refresh got no answer twice, so the token may have been rotated"
                    }
                    _ => "the session ended",
                };
                write!(
                    f,
                    "{why}; the stored tokens were erased: run `latchkey login` again"
                )
            }
            Self::Config(msg) => f.write_str(msg),
            Self::Aborted(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            Self::Listener(e) => Some(e),
            Self::Store {
                problem: StoreProblem::Io(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

impl From<latchkey_core::Error> for Error {
    fn from(e: latchkey_core::Error) -> Self {
        Self::Core(e)
    }
}
