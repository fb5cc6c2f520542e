//! The blocking HTTP transport: sends the core's [`Request`]s with `ureq` (rustls) and hands
//! back status, body and `Retry-After` for [`Session::handle_response`].
//!
//! It never follows a redirect (TOK-6: a 307/308 would re-send the secret and code
//! elsewhere; the 3xx goes back to the core, which rejects it), sends `http://` only to
//! loopback hosts (TOK-1, on top of the core's own check), reads at most
//! [`MAX_RESPONSE_LEN`] + 1 bytes of a body (so the core can reject an oversize one, TOK-5),
//! and can refuse to connect to a Kommo account host that resolves to a loopback, private
//! or link-local address ([`Guard::PublicOnly`], TOK-6).
//!
//! [`Session::handle_response`]: latchkey_core::session::Session::handle_response

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::time::Duration;

use latchkey_core::MAX_RESPONSE_LEN;
use latchkey_core::http::{Method, Request, Response};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::error::Error;

/// Default time allowed to connect (DNS, TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for the whole answer once connected.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Transport settings.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Time allowed to connect (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Time allowed to send the request and receive the whole answer.
    pub read_timeout: Duration,
    /// Host overrides (demo and tests only, see [`HostOverride`]).
    pub overrides: Vec<HostOverride>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            overrides: Vec::new(),
        }
    }
}

/// **Demo and tests only.** Sends requests for `https://{host}/…` to `{base}/…` instead,
/// where `base` must be an `http://` or `https://` URL on a loopback host (`127.0.0.1`,
/// `[::1]`, `localhost`).
///
/// It exists so that `latchkey demo` can play a Kommo sign-in against the local mock: the
/// core only ever builds `https://{referer}/oauth2/access_token` for an allowlisted
/// `referer` such as `example.kommo.com` (REF-3), and that name has to land on the mock.
/// Because the target must be loopback, an override can never send a request to another
/// machine; never configure one outside the demo and tests.
#[derive(Clone, PartialEq, Eq)]
pub struct HostOverride {
    host: String,
    base: String,
}

impl HostOverride {
    /// Maps `host` (a bare DNS name, compared case-insensitively) to the loopback `base`.
    /// A `base` that is not on a loopback host is refused.
    pub fn new(host: &str, base: &str) -> Result<Self, Error> {
        let base = base.trim_end_matches('/');
        let refused = |reason: &str| Error::Refused {
            url: base.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| refused("a host override target must be an http(s) URL"))?;
        if !is_loopback_host(host_of(rest)) {
            return Err(refused(
                "a host override may only point at a loopback address (demo and tests only)",
            ));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            base: base.to_owned(),
        })
    }

    /// The overridden host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The loopback base URL requests are sent to.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl fmt::Debug for HostOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostOverride({} -> {})", self.host, self.base)
    }
}

/// Which addresses a request may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Any address the host resolves to (the configured endpoints of the profile).
    Any,
    /// Only public addresses: a host that resolves to a loopback, private, link-local,
    /// unique-local, shared or unspecified address is refused (TOK-6, for Kommo account
    /// hosts taken from a callback's `referer`). Host overrides bypass it.
    PublicOnly,
}

/// An HTTP answer as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body: at most [`MAX_RESPONSE_LEN`] + 1 bytes (more was not read).
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, if the server sent one as a number.
    pub retry_after: Option<u64>,
    /// The `Location` header, if any (a redirect is never followed).
    pub location: Option<String>,
}

impl Reply {
    /// The view the core's [`Session::handle_response`] takes.
    ///
    /// [`Session::handle_response`]: latchkey_core::session::Session::handle_response
    pub fn as_response(&self) -> Response<'_> {
        let mut r = Response::new(self.status, &self.body);
        r.retry_after = self.retry_after;
        r
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies carry tokens: never print them (SEC-1).
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// The blocking transport. Cheap to clone (connection pools are shared).
#[derive(Clone)]
pub struct Transport {
    any: ureq::Agent,
    public_only: ureq::Agent,
    overrides: Vec<HostOverride>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("overrides", &self.overrides)
            .finish_non_exhaustive()
    }
}

impl Default for Transport {
    fn default() -> Self {
        Self::new(TransportConfig::default())
    }
}

impl Transport {
    /// A transport with these settings.
    pub fn new(config: TransportConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_per_call(Some(config.connect_timeout + config.read_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build();
        let any = ureq::Agent::with_parts(
            agent_config.clone(),
            DefaultConnector::new(),
            DefaultResolver::default(),
        );
        let public_only = ureq::Agent::with_parts(
            agent_config,
            DefaultConnector::new(),
            PublicOnlyResolver(DefaultResolver::default()),
        );
        Self {
            any,
            public_only,
            overrides: config.overrides,
        }
    }

    /// Sends one of the core's requests, without following redirects.
    ///
    /// [`Error::Unreachable`] means nothing reached the server (connection refused, host
    /// not found, TLS failure); [`Error::NoAnswer`] means the request went out but no
    /// complete answer came (its outcome is unknown, LIFE-9); [`Error::Refused`] means the
    /// transport would not send it (insecure URL, private address under
    /// [`Guard::PublicOnly`]).
    pub fn send(&self, req: &Request<'_>, guard: Guard) -> Result<Reply, Error> {
        let (url, overridden) = self.target(req.url)?;
        let agent = if guard == Guard::PublicOnly && !overridden {
            &self.public_only
        } else {
            &self.any
        };
        let result = match req.method {
            Method::Get => {
                let mut r = agent.get(&url);
                for h in req.headers() {
                    r = r.header(h.name, h.value);
                }
                r.call()
            }
            Method::Post => {
                let mut r = agent.post(&url);
                for h in req.headers() {
                    r = r.header(h.name, h.value);
                }
                r.send(req.body)
            }
        };
        read_reply(&url, result)
    }

    /// A plain `GET` (a resource API call with a bearer token, or the demo's user agent
    /// fetching an authorization URL), without following redirects.
    pub fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, Error> {
        self.get_guarded(url, bearer, Guard::Any)
    }

    /// [`Transport::get`] under a [`Guard`] (e.g. a Kommo account API call).
    pub fn get_guarded(
        &self,
        url: &str,
        bearer: Option<&str>,
        guard: Guard,
    ) -> Result<Reply, Error> {
        let (url, overridden) = self.target(url)?;
        let agent = if guard == Guard::PublicOnly && !overridden {
            &self.public_only
        } else {
            &self.any
        };
        let mut r = agent.get(&url).header("Accept", "application/json");
        if let Some(token) = bearer {
            r = r.header("Authorization", &format!("Bearer {token}"));
        }
        read_reply(&url, r.call())
    }

    /// Applies host overrides and the scheme rule: `https://`, or `http://` on loopback.
    fn target(&self, url: &str) -> Result<(String, bool), Error> {
        let refused = |reason: &str| Error::Refused {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = url.strip_prefix("https://") {
            let authority = authority_of(rest);
            for o in &self.overrides {
                if authority.eq_ignore_ascii_case(&o.host) {
                    return Ok((format!("{}{}", o.base, &rest[authority.len()..]), true));
                }
            }
            Ok((url.to_owned(), false))
        } else if let Some(rest) = url.strip_prefix("http://") {
            if is_loopback_host(host_of(rest)) {
                Ok((url.to_owned(), false))
            } else {
                Err(refused(
                    "plain http:// is only allowed to a loopback host; use https://",
                ))
            }
        } else {
            Err(refused("only https:// URLs are allowed"))
        }
    }
}

/// Reads status, capped body, `Retry-After` and `Location`; maps `ureq` errors.
fn read_reply(
    url: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, Error> {
    let mut resp = result.map_err(|e| map_error(url, e))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let location = header("location");
    let mut body = Vec::new();
    let limit = (MAX_RESPONSE_LEN + 1) as u64;
    resp.body_mut()
        .with_config()
        .reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|e| Error::NoAnswer {
            url: url.to_owned(),
            detail: format!("reading the body failed: {e}"),
        })?;
    Ok(Reply {
        status,
        body,
        retry_after,
        location,
    })
}

fn map_error(url: &str, e: ureq::Error) -> Error {
    use ureq::Timeout;
    let url = url.to_owned();
    match e {
        ureq::Error::HostNotFound => Error::Unreachable {
            url,
            detail: "host not found".into(),
        },
        ureq::Error::ConnectionFailed => Error::Unreachable {
            url,
            detail: "connection failed".into(),
        },
        ureq::Error::Timeout(t @ (Timeout::Resolve | Timeout::Connect)) => Error::Unreachable {
            url,
            detail: format!("timed out ({t})"),
        },
        ureq::Error::Timeout(t) => Error::NoAnswer {
            url,
            detail: format!("timed out ({t})"),
        },
        ureq::Error::Io(io) if is_connect_error(&io) => Error::Unreachable {
            url,
            detail: io.to_string(),
        },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::Refused {
                url,
                reason: io.to_string(),
            }
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Error::Unreachable {
            url,
            detail: format!("TLS failed: {e}"),
        },
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => Error::Refused {
            url,
            reason: format!("not a valid URL ({e})"),
        },
        other => Error::NoAnswer {
            url,
            detail: other.to_string(),
        },
    }
}

fn is_connect_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused
            | K::AddrNotAvailable
            | K::NotFound
            | K::HostUnreachable
            | K::NetworkUnreachable
    )
}

/// `host[:port]` of the text after `scheme://`.
fn authority_of(rest: &str) -> &str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// The host of the text after `scheme://` (brackets kept off IPv6 literals).
fn host_of(rest: &str) -> &str {
    let auth = authority_of(rest);
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    if let Some(v6) = auth.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    auth.split(':').next().unwrap_or("")
}

/// `127.0.0.1` (any of 127/8), `::1` or `localhost` (RFC 8252 §8.3).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `ip` is an address a public Kommo account host must never resolve to.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                // 100.64.0.0/10 shared address space (carrier-grade NAT).
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 198.18.0.0/15 benchmarking.
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves like the default resolver, then refuses non-public addresses (TOK-6). Doing it
/// in the resolver means the address checked is the address connected to.
#[derive(Debug)]
struct PublicOnlyResolver(DefaultResolver);

impl Resolver for PublicOnlyResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.0.resolve(uri, config, timeout)?;
        if addrs.iter().any(|a| is_non_public(a.ip())) {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the Kommo account host resolves to a loopback, private or link-local \
                 address; refusing to send the code and client secret there (TOK-6)",
            )));
        }
        Ok(addrs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    #[test]
    fn s_tok_6_private_addresses_are_non_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn s_tok_1_plain_http_only_to_loopback() {
        let t = Transport::default();
        assert!(t.target("http://127.0.0.1:8080/token").is_ok());
        assert!(t.target("http://localhost/token").is_ok());
        assert!(t.target("http://[::1]:9/token").is_ok());
        assert!(matches!(
            t.target("http://api.example.com/token"),
            Err(Error::Refused { .. })
        ));
        assert!(matches!(
            t.target("http://127.0.0.1.evil.com/token"),
            Err(Error::Refused { .. })
        ));
        assert!(matches!(t.target("ftp://x/"), Err(Error::Refused { .. })));
    }

    #[test]
    fn host_override_targets_loopback_only() {
        assert!(HostOverride::new("example.kommo.com", "http://127.0.0.1:1/k").is_ok());
        assert!(HostOverride::new("example.kommo.com", "https://evil.example/k").is_err());
        assert!(HostOverride::new("example.kommo.com", "http://10.0.0.1/k").is_err());
        let t = Transport::new(TransportConfig {
            overrides: vec![
                HostOverride::new("example.kommo.com", "http://127.0.0.1:1/k/").unwrap(),
            ],
            ..TransportConfig::default()
        });
        let (url, overridden) = t
            .target("https://EXAMPLE.kommo.com/oauth2/access_token")
            .unwrap();
        assert!(overridden);
        assert_eq!(url, "http://127.0.0.1:1/k/oauth2/access_token");
        let (url, overridden) = t.target("https://example.kommo.com.evil.com/x").unwrap();
        assert!(!overridden);
        assert_eq!(url, "https://example.kommo.com.evil.com/x");
    }
}
