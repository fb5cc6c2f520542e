//! The RFC 8252 loopback redirect listener (CB-8).
//!
//! It binds `127.0.0.1` (an ephemeral port unless one is given) only for the duration of
//! one sign-in, accepts `GET` requests on one exact path, and hands each callback's query to
//! a handler — the session's [`handle_callback`], which checks state, issuer and referer.
//! - A valid callback gets a small success page and ends the wait; the socket closes.
//! - A wrong path, or a callback without the pending request's state (the handler answers
//!   [`CheckFailed::StateMismatch`] / [`CheckFailed::StateMissing`] — a stray or forged
//!   request, which cannot have the state), gets `400` and the listener keeps waiting until
//!   the deadline.
//! - A callback carrying our state that the core rejects anyway (a wrong issuer, a hostile
//!   Kommo referer, an OAuth error because the user declined) ends the wait with that
//!   error: the sign-in it answered is over.
//!
//! [`CheckFailed::StateMismatch`]: latchkey_core::CheckFailed::StateMismatch
//! [`CheckFailed::StateMissing`]: latchkey_core::CheckFailed::StateMissing
//! - Nothing valid before the deadline → [`Error::BrowserTimeout`].
//!
//! Pages load nothing from anywhere (`Content-Security-Policy: default-src 'none'`) and
//! send no referrer (`Referrer-Policy: no-referrer`, CB-7).
//!
//! [`handle_callback`]: latchkey_core::session::Session::handle_callback

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The default redirect path (`http://127.0.0.1:{port}/callback`).
pub const DEFAULT_CALLBACK_PATH: &str = "/callback";
/// Default time to wait for the browser to come back.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest request head read from the browser (bytes); the core's callback capacity is
/// well below it.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop checks the deadline.
const POLL: Duration = Duration::from_millis(20);

/// A listener for one sign-in's redirect on `127.0.0.1`.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    path: String,
    port: u16,
}

/// What happened to one browser request.
enum Handled {
    Accepted,
    Rejected(latchkey_core::Error),
    Ended(latchkey_core::Error),
    Ignored,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:port` (`0`: an ephemeral port) for [`DEFAULT_CALLBACK_PATH`].
    pub fn bind(port: u16) -> Result<Self, Error> {
        Self::bind_path(port, DEFAULT_CALLBACK_PATH)
    }

    /// Binds `127.0.0.1:port` for the exact path `path` (which starts with `/`).
    pub fn bind_path(port: u16, path: &str) -> Result<Self, Error> {
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(Error::Config(format!(
                "the redirect path `{path}` must start with `/` and hold no `?`, `#` or space"
            )));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(Error::Listener)?;
        let port = listener.local_addr().map_err(Error::Listener)?.port();
        listener.set_nonblocking(true).map_err(Error::Listener)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to register and send: `http://127.0.0.1:{port}{path}`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits up to `timeout` for one callback that `handle` accepts, answering every
    /// request as described in the [module docs](self). `handle` gets the query string
    /// (the part after `?`). Consumes the listener: the port is closed when this returns.
    pub fn wait<F>(self, timeout: Duration, mut handle: F) -> Result<(), Error>
    where
        F: FnMut(&str) -> Result<(), latchkey_core::Error>,
    {
        let deadline = Instant::now() + timeout;
        let mut first_rejection = None;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => match self.serve(stream, &mut handle) {
                    Handled::Accepted => return Ok(()),
                    Handled::Ended(e) => return Err(Error::Core(e)),
                    Handled::Rejected(e) => {
                        first_rejection.get_or_insert(e);
                    }
                    Handled::Ignored => {}
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::BrowserTimeout {
                            waited: timeout,
                            rejected: first_rejection,
                        });
                    }
                    std::thread::sleep(POLL.min(deadline - now));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Listener(e)),
            }
        }
    }

    fn serve<F>(&self, mut stream: TcpStream, handle: &mut F) -> Handled
    where
        F: FnMut(&str) -> Result<(), latchkey_core::Error>,
    {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(CONNECTION_TIMEOUT));
        let _ = stream.set_write_timeout(Some(CONNECTION_TIMEOUT));
        let Some(head) = read_head(&mut stream) else {
            respond(
                &mut stream,
                400,
                &page("Bad request", "The request could not be read."),
            );
            return Handled::Ignored;
        };
        let mut parts = head.lines().next().unwrap_or("").split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if method != "GET" || path != self.path {
            respond(
                &mut stream,
                400,
                &page(
                    "Not a sign-in callback",
                    "latchkey is waiting for the sign-in redirect on another path.",
                ),
            );
            return Handled::Ignored;
        }
        match handle(query) {
            Ok(()) => {
                respond(
                    &mut stream,
                    200,
                    &page(
                        "Signed in",
                        "You are signed in. You can close this tab and return to the terminal.",
                    ),
                );
                Handled::Accepted
            }
            Err(
                e @ latchkey_core::Error::CheckFailed(
                    latchkey_core::CheckFailed::StateMismatch
                    | latchkey_core::CheckFailed::StateMissing,
                ),
            ) => {
                respond(
                    &mut stream,
                    400,
                    &page(
                        "Sign-in callback rejected",
                        &format!("latchkey rejected this callback: {e}."),
                    ),
                );
                Handled::Rejected(e)
            }
            Err(e) => {
                respond(
                    &mut stream,
                    400,
                    &page("Sign-in failed", &format!("{e}. Return to the terminal.")),
                );
                Handled::Ended(e)
            }
        }
    }
}

/// Reads the request head (up to the blank line), at most [`MAX_REQUEST_HEAD`] bytes.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > MAX_REQUEST_HEAD {
            break;
        }
    }
    if buf.len() > MAX_REQUEST_HEAD {
        return None;
    }
    String::from_utf8(buf).ok()
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         Referrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .and_then(|()| stream.flush());
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>latchkey: {t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;\
         padding:0 1em;color:#222}}h1{{font-size:1.4em}}</style></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Opens `url` in the system browser (never an embedded web view, RFC 8252 §8.12).
pub fn open_in_browser(url: &str) -> Result<(), Error> {
    webbrowser::open(url).map_err(|e| {
        Error::Aborted(format!(
            "could not open a browser ({e}); run again with --no-browser and open the printed \
             URL yourself"
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    #[test]
    fn s_cb_7_pages_escape_and_load_nothing() {
        let p = page("x", "<script>alert(1)</script>");
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;script&gt;"));
        assert!(!p.contains("http"));
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(LoopbackListener::bind_path(0, "callback").is_err());
        assert!(LoopbackListener::bind_path(0, "/cb?x").is_err());
        let l = LoopbackListener::bind(0).unwrap();
        assert!(l.redirect_uri().starts_with("http://127.0.0.1:"));
        assert!(l.redirect_uri().ends_with("/callback"));
        assert_ne!(l.port(), 0);
    }
}
