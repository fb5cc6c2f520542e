//! The in-memory [`Server`] served over real HTTP/1.1 on `127.0.0.1`, for the CLI demo, the
//! adapter tests and local development.
//!
//! Every dialect lives under its own path prefix on one port, so the routing inside
//! [`Server`] works unchanged:
//!
//! | base URL | what |
//! |---|---|
//! | `{base}/crm-portal` | CRM client portal (`/login`) |
//! | `{base}/crm-api` | CRM API host (`/oauth/token`, `/oauth/revoke`, `/oauth/mfa/*`, `/me`) |
//! | `{base}/as` | RFC 6749 issuer (`/authorize`, `/token`, `/revoke`, `/device_authorization`, `/userinfo`) |
//! | `{base}/kommo/oauth` | Kommo consent page |
//! | `{base}/kommo-account` | where the Kommo account host [`KOMMO_ACCOUNT_HOST`] really lives (`/oauth2/access_token`, `/api/v4/account`) |
//!
//! Every registered client, Kommo's included, also accepts the loopback redirect URI
//! [`LOOPBACK_REDIRECT_URI`] on any port (RFC 8252 §7.3). Kommo's consent page redirects to the
//! integration's first registered URI unless the request carries a `redirect_uri` that matches
//! a registered one, so a loopback client passes `redirect_uri=http://127.0.0.1:{port}/callback`
//! as an extra authorization parameter.
//!
//! Time is the real clock ([`SystemTime`]); the server's randomness stays seeded
//! (by [`ServerConfig::seed`] mixed with the port, so two servers side by side never mint the
//! same tokens).
//!
//! The HTTP layer is a deliberately small std-only HTTP/1.1 server: one request per
//! connection (`connection: close`), `Content-Length` or chunked request bodies up to
//! [`MAX_BODY`], `Expect: 100-continue`, and a response marked with
//! [`SIMULATED_TIMEOUT_HEADER`](crate::SIMULATED_TIMEOUT_HEADER) closes the connection without an answer, as a lost response
//! would. (A crate such as `tiny_http` always answers a dropped request with a 500, which
//! would turn a simulated timeout into a server error.)
//!
//! ```no_run
//! use latchkey_testkit::serve::MockServer;
//!
//! let mock = MockServer::start()?;
//! println!("CRM portal at {}", mock.crm_portal());
//! let requests = mock.with_server(|server| server.log().len());
//! assert_eq!(requests, 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{KOMMO_ACCOUNT_HOST, KommoAccount, LOOPBACK_REDIRECT_URI, ServerConfig};
use crate::http::{HttpRequest, HttpResponse};
use crate::server::Server;

/// Path prefix of the CRM client portal.
pub const CRM_PORTAL_PATH: &str = "/crm-portal";
/// Path prefix of the CRM API host.
pub const CRM_API_PATH: &str = "/crm-api";
/// Path prefix of the RFC 6749 issuer.
pub const ISSUER_PATH: &str = "/as";
/// Path of the Kommo consent page.
pub const KOMMO_CONSENT_PATH: &str = "/kommo/oauth";
/// Path prefix where the Kommo account host [`KOMMO_ACCOUNT_HOST`] is served.
pub const KOMMO_ACCOUNT_PATH: &str = "/kommo-account";

/// Largest request body accepted (1 MiB); a larger one is answered with 413.
pub const MAX_BODY: usize = 1 << 20;
/// Largest request head (request line plus header fields) accepted (64 KiB); larger → 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in one request; more → 431.
pub const MAX_HEADERS: usize = 100;
/// Read and write timeout of one connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The testkit [`Server`] listening on `127.0.0.1`, answering on a background thread.
///
/// Dropping it stops the accept thread and closes the listening socket before `drop`
/// returns; connections already accepted finish their one request (or time out after
/// [`IO_TIMEOUT`]).
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    server: Arc<Mutex<Server>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1` on an ephemeral port.
    pub fn start() -> io::Result<MockServer> {
        Self::start_on(0)
    }

    /// Starts a server on `127.0.0.1:port` (`0` picks an ephemeral port).
    pub fn start_on(port: u16) -> io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let server = Arc::new(Mutex::new(Server::new(loopback_config(addr.port()))));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("latchkey-mock-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &server, &stop, addr))?
        };
        Ok(MockServer {
            addr,
            server,
            stop,
            accept: Some(accept),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        base_url(self.addr.port())
    }

    /// The CRM client-portal base URL (`{base}/crm-portal`; the login page is `/login` under it).
    pub fn crm_portal(&self) -> String {
        format!("{}{CRM_PORTAL_PATH}", self.base_url())
    }

    /// The CRM API base URL (`{base}/crm-api`).
    pub fn crm_api(&self) -> String {
        format!("{}{CRM_API_PATH}", self.base_url())
    }

    /// The RFC 6749 issuer (`{base}/as`): `{issuer}/authorize`, `/token`, `/revoke`,
    /// `/device_authorization`, `/userinfo`. It is also the RFC 9207 `iss` on callbacks.
    pub fn issuer(&self) -> String {
        format!("{}{ISSUER_PATH}", self.base_url())
    }

    /// The Kommo consent page URL (`{base}/kommo/oauth`).
    pub fn kommo_consent_url(&self) -> String {
        format!("{}{KOMMO_CONSENT_PATH}", self.base_url())
    }

    /// Where the Kommo account host [`KOMMO_ACCOUNT_HOST`] (the callback `referer`) really
    /// lives: `{base}/kommo-account`. A client resolves `https://example.kommo.com/…` to
    /// `{kommo_account_base}/…`.
    pub fn kommo_account_base(&self) -> String {
        format!("{}{KOMMO_ACCOUNT_PATH}", self.base_url())
    }

    /// Runs `f` with the server locked: flip a [`crate::Misbehaviour`], approve a device code,
    /// read a TOTP code or the request log. Requests wait while `f` runs.
    pub fn with_server<T>(&self, f: impl FnOnce(&mut Server) -> T) -> T {
        let mut guard = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking `accept`; the loop sees the flag and returns, dropping the listener.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept.take()
            && woke
        {
            // A panic in the accept thread has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

/// The configuration a [`MockServer`] on `port` runs with: [`ServerConfig::default`] with
/// every base URL moved under `http://127.0.0.1:{port}`, the Kommo account host mapped to
/// `{base}/kommo-account`, and [`LOOPBACK_REDIRECT_URI`] registered for every client.
pub fn loopback_config(port: u16) -> ServerConfig {
    let base = base_url(port);
    let mut config = ServerConfig {
        crm_portal: format!("{base}{CRM_PORTAL_PATH}"),
        crm_api: format!("{base}{CRM_API_PATH}"),
        issuer: format!("{base}{ISSUER_PATH}"),
        kommo_consent_url: format!("{base}{KOMMO_CONSENT_PATH}"),
        kommo_accounts: vec![KommoAccount {
            host: KOMMO_ACCOUNT_HOST.to_owned(),
            base_url: format!("{base}{KOMMO_ACCOUNT_PATH}"),
        }],
        kommo_referer: KOMMO_ACCOUNT_HOST.to_owned(),
        ..ServerConfig::default()
    };
    for client in &mut config.clients {
        if !client
            .redirect_uris
            .iter()
            .any(|u| u == LOOPBACK_REDIRECT_URI)
        {
            client.redirect_uris.push(LOOPBACK_REDIRECT_URI.to_owned());
        }
    }
    config.seed ^= u64::from(port).rotate_left(32);
    config
}

fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn accept_loop(
    listener: &TcpListener,
    server: &Arc<Mutex<Server>>,
    stop: &AtomicBool,
    addr: SocketAddr,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else {
            // e.g. EMFILE: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let server = Arc::clone(server);
        // If no thread can be spawned the connection is dropped, as an overloaded server would.
        let _ = thread::Builder::new()
            .name(format!("latchkey-mock-conn-{}", addr.port()))
            .spawn(move || serve_connection(stream, &server, addr));
    }
}

/// A request as read off the wire, owned.
struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A request the HTTP layer refuses before the server sees it.
struct Refusal {
    status: u16,
    message: &'static str,
}

impl Refusal {
    fn new(status: u16, message: &'static str) -> Self {
        Self { status, message }
    }
}

fn serve_connection(stream: TcpStream, server: &Mutex<Server>, addr: SocketAddr) {
    // Without timeouts a silent client would hold its thread forever.
    if stream.set_read_timeout(Some(IO_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let (response, head_only) = match read_request(&mut reader, &mut writer) {
        Ok(Some(raw)) => {
            let head_only = raw.method == "HEAD";
            let response = match request_url(&raw, addr) {
                Ok(url) => {
                    let headers: Vec<(&str, &str)> = raw
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    let request = HttpRequest {
                        method: &raw.method,
                        url: &url,
                        headers: &headers,
                        body: &raw.body,
                    };
                    let mut guard = server.lock().unwrap_or_else(PoisonError::into_inner);
                    guard.handle(now_unix(), &request)
                }
                Err(refusal) => refusal_response(&refusal),
            };
            (response, head_only)
        }
        // The peer closed (or timed out) before sending a request: nothing to answer.
        Ok(None) => return,
        Err(refusal) => (refusal_response(&refusal), false),
    };
    if response.is_simulated_timeout() {
        // The server processed the request; the answer is lost on the way.
        let _ = writer.shutdown(Shutdown::Both);
        return;
    }
    // The peer may already be gone; there is no one left to tell.
    let _ = write_response(&mut writer, &response, head_only);
    let _ = writer.shutdown(Shutdown::Write);
}

/// Reads one request. `Ok(None)` when the connection closed before a request line.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<RawRequest>, Refusal> {
    let mut head_budget = MAX_HEAD;
    let Some(request_line) = read_line(reader, &mut head_budget)? else {
        return Ok(None);
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::new(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Refusal::new(400, "malformed method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Refusal::new(
            505,
            "only HTTP/1.0 and HTTP/1.1 are spoken here",
        ));
    }
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader, &mut head_budget)? else {
            return Err(Refusal::new(
                400,
                "connection closed inside the request head",
            ));
        };
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(Refusal::new(431, "too many header fields"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::new(400, "header field without a colon"));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(Refusal::new(400, "malformed header field name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let header = |name: &'static str| header_values(&headers, name);
    let chunked = match header("transfer-encoding").collect::<Vec<_>>().as_slice() {
        [] => false,
        [te] if te.eq_ignore_ascii_case("chunked") => true,
        _ => {
            return Err(Refusal::new(
                501,
                "only chunked transfer-encoding is supported",
            ));
        }
    };
    let content_length = match header("content-length").collect::<Vec<_>>().as_slice() {
        [] => None,
        [len] => match len.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return Err(Refusal::new(400, "malformed content-length")),
        },
        _ => return Err(Refusal::new(400, "more than one content-length")),
    };
    if chunked && content_length.is_some() {
        return Err(Refusal::new(
            400,
            "both content-length and transfer-encoding",
        ));
    }
    if content_length.is_some_and(|n| n > MAX_BODY) {
        return Err(Refusal::new(413, "request body too large"));
    }
    let expects_continue = header("expect").any(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue && (chunked || content_length.is_some_and(|n| n > 0)) {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| Refusal::new(400, "connection lost"))?;
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; content_length.unwrap_or(0)];
        reader
            .read_exact(&mut body)
            .map_err(|_| Refusal::new(400, "request body shorter than content-length"))?;
        body
    };
    Ok(Some(RawRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
    }))
}

/// All values of header `name` (case-insensitive), in order.
fn header_values<'h>(
    headers: &'h [(String, String)],
    name: &'static str,
) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads one CRLF- (or LF-) terminated line of the head, charging it to `budget`.
/// `Ok(None)` on end of stream before any byte.
fn read_line(
    reader: &mut BufReader<TcpStream>,
    budget: &mut usize,
) -> Result<Option<String>, Refusal> {
    let mut line = Vec::new();
    let limit = u64::try_from(*budget).unwrap_or(u64::MAX).saturating_add(1);
    let read = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|_| Refusal::new(408, "timed out reading the request"))?;
    if read == 0 {
        return Ok(None);
    }
    if read > *budget {
        return Err(Refusal::new(431, "request head too large"));
    }
    *budget -= read;
    if line.pop() != Some(b'\n') {
        return Err(Refusal::new(
            400,
            "connection closed inside the request head",
        ));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.iter().any(|&b| b == b'\r' || b == 0) {
        return Err(Refusal::new(400, "CR or NUL inside a header line"));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| Refusal::new(400, "request head is not UTF-8"))
}

/// Reads a chunked body (RFC 9112 §7.1), capped at [`MAX_BODY`]; trailers are skipped.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, Refusal> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let Some(size_line) = read_line(reader, &mut budget)? else {
            return Err(Refusal::new(400, "connection closed inside a chunked body"));
        };
        let size = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| Refusal::new(400, "malformed chunk size"))?;
        if size == 0 {
            // Trailer fields, then the empty line.
            loop {
                match read_line(reader, &mut budget)? {
                    Some(line) if !line.is_empty() => {}
                    _ => return Ok(body),
                }
            }
        }
        if size > MAX_BODY - body.len() {
            return Err(Refusal::new(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|_| Refusal::new(400, "chunk shorter than its size"))?;
        match read_line(reader, &mut budget)? {
            Some(line) if line.is_empty() => {}
            _ => return Err(Refusal::new(400, "chunk not followed by CRLF")),
        }
    }
}

/// The absolute URL the server routes on: `http://{Host}{target}` (the listening address when
/// there is no `Host`), or the target itself in absolute form.
fn request_url(raw: &RawRequest, addr: SocketAddr) -> Result<String, Refusal> {
    if raw.target.starts_with("http://") {
        return Ok(raw.target.clone());
    }
    if !raw.target.starts_with('/') {
        return Err(Refusal::new(400, "request target must be a path"));
    }
    let mut hosts = raw
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.as_str());
    let host = match (hosts.next(), hosts.next()) {
        (None, _) => format!("127.0.0.1:{}", addr.port()),
        (Some(host), None) => {
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
            if !valid {
                return Err(Refusal::new(400, "malformed host header"));
            }
            host.to_owned()
        }
        (Some(_), Some(_)) => return Err(Refusal::new(400, "more than one host header")),
    };
    Ok(format!("http://{host}{}", raw.target))
}

fn refusal_response(refusal: &Refusal) -> HttpResponse {
    HttpResponse {
        status: refusal.status,
        headers: vec![(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )],
        body: format!("{}\n", refusal.message).into_bytes(),
    }
}

fn write_response(out: &mut TcpStream, response: &HttpResponse, head_only: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        let framing = ["content-length", "connection", "transfer-encoding"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if !framing {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(&response.body)?;
    }
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends raw bytes, reads until the server closes, returns (status, head, body).
    fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8(response[..split].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head, response[split + 4..].to_vec())
    }

    fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[test]
    fn urls_are_prefixes_on_one_port() {
        let mock = MockServer::start().unwrap();
        let base = mock.base_url();
        assert_eq!(base, format!("http://127.0.0.1:{}", mock.port()));
        assert_eq!(mock.crm_portal(), format!("{base}/crm-portal"));
        assert_eq!(mock.crm_api(), format!("{base}/crm-api"));
        assert_eq!(mock.issuer(), format!("{base}/as"));
        assert_eq!(mock.kommo_consent_url(), format!("{base}/kommo/oauth"));
        assert_eq!(mock.kommo_account_base(), format!("{base}/kommo-account"));
        mock.with_server(|s| {
            let config = s.config();
            assert_eq!(config.issuer, mock.issuer());
            assert!(
                config
                    .clients
                    .iter()
                    .all(|c| c.redirect_uris.iter().any(|u| u == LOOPBACK_REDIRECT_URI))
            );
        });
    }

    #[test]
    fn crm_login_redirects_with_location_untouched() {
        let mock = MockServer::start().unwrap();
        let port = mock.port();
        let target = "/crm-portal/login?client_id=crm-public-spa&scope=user-portal%3Auser%3A*\
            &response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
            &code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback\
            &state=s%2B1";
        let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        let (status, head, _) = exchange(mock.addr(), request.as_bytes());
        assert_eq!(status, 302, "{head}");
        let location = header(&head, "location").unwrap();
        assert!(
            location.starts_with("http://127.0.0.1:5555/callback?code="),
            "{location}"
        );
        assert!(location.ends_with("&state=s%2B1"), "{location}");
        assert_eq!(header(&head, "connection"), Some("close"));
        let logged = mock.with_server(|s| s.log()[0].url.clone());
        assert_eq!(logged, format!("http://127.0.0.1:{port}{target}"));
    }

    #[test]
    fn head_limits_are_enforced() {
        let mock = MockServer::start().unwrap();
        let huge = format!(
            "GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEAD + 10)
        );
        assert_eq!(exchange(mock.addr(), huge.as_bytes()).0, 431);
        let too_long = format!(
            "POST /as/token HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(exchange(mock.addr(), too_long.as_bytes()).0, 413);
        let smuggle = "POST /as/token HTTP/1.1\r\nContent-Length: 3\r\n\
                       Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(exchange(mock.addr(), smuggle.as_bytes()).0, 400);
        assert_eq!(exchange(mock.addr(), b"GET / SPDY/3\r\n\r\n").0, 505);
        assert_eq!(exchange(mock.addr(), b"GET nope HTTP/1.1\r\n\r\n").0, 400);
        // None of these reached the server.
        assert_eq!(mock.with_server(|s| s.log().len()), 0);
    }

    #[test]
    fn chunked_body_reaches_the_server() {
        let mock = MockServer::start().unwrap();
        let request = "POST /crm-api/oauth/forget HTTP/1.1\r\nContent-Type: application/json\r\n\
                       Transfer-Encoding: chunked\r\n\r\n5\r\n{\"use\r\nf\r\nrname\":\"alice\"}\r\n0\r\n\r\n";
        let (_, head, _) = exchange(mock.addr(), request.as_bytes());
        let body = mock.with_server(|s| s.log()[0].body.clone());
        assert_eq!(body, r#"{"username":"alice"}"#, "{head}");
    }
}
