//! HTTP request and response *views*: what to send and what came back. No transport.
//!
//! A [`Request`] borrows every byte from one caller-supplied buffer; the adapter sends it
//! as is. A [`Response`] is what the adapter received, handed back to the core.

use core::fmt;

use crate::encode::Writer;
use crate::error::{Error, InvalidMessage, Len, ServerMisbehaved};

/// The largest number of headers a [`Request`] carries.
pub const MAX_HEADERS: usize = 3;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// One request header. Values never contain CR or LF (TOK-7).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header name, e.g. `Content-Type`.
    pub name: &'static str,
    /// The header value.
    pub value: &'a str,
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Authorization header carries the client secret (SEC-1).
        let value = if self.name.eq_ignore_ascii_case("authorization") {
            "[redacted]"
        } else {
            self.value
        };
        f.debug_struct("Header")
            .field("name", &self.name)
            .field("value", &value)
            .finish()
    }
}

/// An HTTP request for the adapter to send, borrowing the caller's buffer.
///
/// Adapters must not follow redirects when sending it (TOK-6): hand any 3xx response back
/// to the core, which rejects it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[must_use = "a request does nothing until the adapter sends it"]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The absolute URL (`https://`, or `http://` for loopback hosts only).
    pub url: &'a str,
    headers: [Header<'a>; MAX_HEADERS],
    header_count: u8,
    /// The body (empty for `GET`).
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The request headers.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers[..usize::from(self.header_count)]
    }

    /// The value of the named header (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers()
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies carry codes, verifiers, tokens and secrets: never print them (SEC-1).
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers())
            .field(
                "body",
                &format_args!("[{} bytes redacted]", self.body.len()),
            )
            .finish()
    }
}

/// Content type of a form body.
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";
/// Content type of a JSON body.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The three parts of a request a [`PartEncoder`] writes, in buffer order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The absolute URL.
    Url,
    /// The `Authorization` header value (written only when the request has one).
    Authorization,
    /// The body.
    Body,
}

/// One encoder for every part of a request: writes `part` into the [`Writer`] (the same
/// bytes on every call; the core's request encoders cannot fail). One closure instead of
/// three: one compiled body, one vtable.
pub(crate) type PartEncoder<'f> = dyn Fn(&mut Writer<'_>, Part) + 'f;

/// Writes a request's URL, optional `Authorization` value and body into `buf`.
///
/// Each part is measured first; when the total does not fit, nothing is written and
/// [`Error::BufferTooSmall`] carries the total size.
#[cfg(test)]
pub(crate) fn build_request<'b, U, A, B>(
    buf: &'b mut [u8],
    method: Method,
    content_type: Option<&'static str>,
    url: U,
    authorization: Option<A>,
    body: B,
) -> Result<Request<'b>, Error>
where
    U: Fn(&mut Writer<'_>),
    A: Fn(&mut Writer<'_>),
    B: Fn(&mut Writer<'_>),
{
    let has_auth = authorization.is_some();
    build_parts(buf, method, content_type, has_auth, &|w, part| match part {
        Part::Url => url(w),
        Part::Authorization => authorization.iter().for_each(|a| a(w)),
        Part::Body => body(w),
    })
}

/// Writes a request into `buf`: `enc` runs once per [`Part`] to measure it and, if the
/// total fits, once more per part to write it (else nothing is written and
/// [`Error::BufferTooSmall`] carries the total size). `authorization` says whether the
/// request has an `Authorization` header (its value is [`Part::Authorization`]).
///
/// Size: compiled once, with one loop over the parts (run once per pass) instead of a call
/// site per part, and one [`Writer`] per pass for all three parts.
#[inline(never)]
pub(crate) fn build_parts<'b>(
    buf: &'b mut [u8],
    method: Method,
    content_type: Option<&'static str>,
    authorization: bool,
    enc: &PartEncoder<'_>,
) -> Result<Request<'b>, Error> {
    const PARTS: [Part; 3] = [Part::Url, Part::Authorization, Part::Body];
    // Where each part ends (the parts are written one after the other): measured on the
    // first pass, then written on the second (one loop for both passes).
    let mut ends = [0usize; 3];
    let mut w = Writer::counting();
    let mut writing = false;
    loop {
        for (&part, end) in PARTS.iter().zip(ends.iter_mut()) {
            enc(&mut w, part);
            *end = w.len();
        }
        if writing {
            break;
        }
        let Some(out) = buf.get_mut(..ends[2]) else {
            return Err(Error::BufferTooSmall {
                required: Len::new(ends[2]),
            });
        };
        w = Writer::new(out);
        writing = true;
    }
    let [url_end, auth_end, required] = ends;
    let out: &'b [u8] = buf;
    let (text, body) = out
        .get(..required)
        .and_then(|o| o.split_at_checked(auth_end))
        .unwrap_or_default();
    // Encoders write percent- or base64-encoded text into the URL and the header value, so
    // this holds by construction; checked all the same (TOK-7), both in one pass.
    let Some((url, auth)) = ascii_str(text).and_then(|t| t.split_at_checked(url_end)) else {
        return Err(InvalidMessage::ControlCharacter.into());
    };
    let accept = Header {
        name: "Accept",
        value: "application/json",
    };
    let auth = Header {
        name: "Authorization",
        value: auth,
    };
    // Three whole arrays, no stores by index: slots past the count are never seen
    // (`Request::headers` stops at it) and hold the same filler for the same request.
    let (headers, count) = match content_type {
        Some(ct) => (
            [
                accept,
                Header {
                    name: "Content-Type",
                    value: ct,
                },
                auth,
            ],
            2,
        ),
        None => ([accept, auth, accept], 1),
    };
    let count = count + u8::from(authorization);
    Ok(Request {
        method,
        url,
        headers,
        header_count: count,
        body,
    })
}

/// `b` as text if it is printable ASCII (space included), else `None`.
fn ascii_str(b: &[u8]) -> Option<&str> {
    core::str::from_utf8(b)
        .ok()
        .filter(|t| t.bytes().all(|c| (0x20..0x7f).contains(&c)))
}

/// An HTTP response as received by the adapter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// The body as received (at most [`crate::MAX_RESPONSE_LEN`] bytes are accepted).
    pub body: &'a [u8],
    /// The `Retry-After` header in seconds, if the adapter saw one (RFC 7009 §2.2.1 503).
    pub retry_after: Option<u64>,
}

impl<'a> Response<'a> {
    /// A response with this status and body.
    pub fn new(status: u16, body: &'a [u8]) -> Self {
        Self {
            status,
            body,
            retry_after: None,
        }
    }

    /// The same response with a `Retry-After` value in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Rejects redirects (TOK-6) and oversize bodies (TOK-5): the checks every response of
    /// a token, revocation, device or MFA endpoint goes through first.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if (300..400).contains(&self.status) {
            return Err(ServerMisbehaved::Redirect.into());
        }
        if self.body.len() > crate::MAX_RESPONSE_LEN {
            return Err(ServerMisbehaved::ResponseTooLarge.into());
        }
        Ok(())
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field(
                "body",
                &format_args!("[{} bytes redacted]", self.body.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parts_share_one_buffer_and_nothing_is_written_when_small() {
        let mut buf = [0u8; 64];
        let req = build_request(
            &mut buf,
            Method::Post,
            Some(CONTENT_TYPE_FORM),
            |w| w.str("https://as.example/token"),
            Some(|w: &mut Writer<'_>| w.str("Basic abc")),
            |w| w.str("a=b"),
        )
        .unwrap();
        assert_eq!(req.url, "https://as.example/token");
        assert_eq!(req.header("authorization"), Some("Basic abc"));
        assert_eq!(req.header("content-type"), Some(CONTENT_TYPE_FORM));
        assert_eq!(req.body, b"a=b");
        assert!(!format!("{req:?}").contains("abc"));

        let mut small = [7u8; 10];
        let err = build_request(
            &mut small,
            Method::Get,
            None,
            |w| w.str("https://as.example/x"),
            None::<fn(&mut Writer<'_>)>,
            |_| {},
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::BufferTooSmall {
                required: crate::Len::new(20)
            }
        );
        assert_eq!(small, [7u8; 10]);
    }

    #[test]
    fn s_tok_6_redirects_are_rejected() {
        for status in [301, 302, 303, 307, 308] {
            assert_eq!(
                Response::new(status, b"").check(),
                Err(ServerMisbehaved::Redirect.into())
            );
        }
        assert_eq!(Response::new(200, b"{}").check(), Ok(()));
    }
}
