//! HTTP request and response *views*: what to send and what came back. No transport.
//!
//! A [`Request`] borrows every byte from one caller-supplied buffer; the adapter sends it
//! as is. A [`Response`] is what the adapter received, handed back to the core.

use core::fmt;

use crate::encode::{Encoder, Writer, measure_dyn};
use crate::error::{Error, ServerMisbehaved};

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

/// Writes a request's URL, optional `Authorization` value and body into `buf`.
///
/// Each part is measured first; when the total does not fit, nothing is written and
/// [`Error::BufferTooSmall`] carries the total size.
#[inline]
pub(crate) fn build_request<'b, U, A, B>(
    buf: &'b mut [u8],
    method: Method,
    content_type: Option<&'static str>,
    url: U,
    authorization: Option<A>,
    body: B,
) -> Result<Request<'b>, Error>
where
    U: Fn(&mut Writer<'_>) -> Result<(), Error>,
    A: Fn(&mut Writer<'_>) -> Result<(), Error>,
    B: Fn(&mut Writer<'_>) -> Result<(), Error>,
{
    let authorization = authorization.as_ref().map(|a| a as &Encoder<'_>);
    build_dyn(buf, method, content_type, &url, authorization, &body)
}

/// [`build_request`]'s body, compiled once: each encoder runs once to measure and once to
/// write.
#[inline(never)]
fn build_dyn<'b>(
    buf: &'b mut [u8],
    method: Method,
    content_type: Option<&'static str>,
    url: &Encoder<'_>,
    authorization: Option<&Encoder<'_>>,
    body: &Encoder<'_>,
) -> Result<Request<'b>, Error> {
    let url_len = measure_dyn(url)?;
    let auth_len = match authorization {
        Some(a) => measure_dyn(a)?,
        None => 0,
    };
    let body_len = measure_dyn(body)?;
    let required = url_len + auth_len + body_len;
    let Some(out) = buf.get_mut(..required) else {
        return Err(Error::BufferTooSmall { required });
    };
    let (url_buf, rest) = out.split_at_mut(url_len);
    let (auth_buf, body_buf) = rest.split_at_mut(auth_len);
    url(&mut Writer::new(url_buf))?;
    if let Some(a) = authorization {
        a(&mut Writer::new(auth_buf))?;
    }
    body(&mut Writer::new(body_buf))?;

    let url = ascii_str(url_buf)?;
    let mut headers = [Header {
        name: "Accept",
        value: "application/json",
    }; MAX_HEADERS];
    let mut count = 1;
    if let Some(ct) = content_type {
        headers[count] = Header {
            name: "Content-Type",
            value: ct,
        };
        count += 1;
    }
    if authorization.is_some() {
        headers[count] = Header {
            name: "Authorization",
            value: ascii_str(auth_buf)?,
        };
        count += 1;
    }
    Ok(Request {
        method,
        url,
        headers,
        header_count: count as u8,
        body: body_buf,
    })
}

/// Checks that an encoder produced printable ASCII (URLs and header values are always
/// percent- or base64-encoded, so this holds by construction; TOK-7).
fn ascii_str(b: &[u8]) -> Result<&str, Error> {
    if b.iter().all(|&c| (0x21..0x7f).contains(&c) || c == b' ') {
        core::str::from_utf8(b).map_err(|_| Error::InvalidMessage(crate::InvalidMessage::NotUtf8))
    } else {
        Err(Error::InvalidMessage(
            crate::error::InvalidMessage::ControlCharacter,
        ))
    }
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
            |w| {
                w.str("https://as.example/token");
                Ok(())
            },
            Some(|w: &mut Writer<'_>| {
                w.str("Basic abc");
                Ok(())
            }),
            |w| {
                w.str("a=b");
                Ok(())
            },
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
            |w| {
                w.str("https://as.example/x");
                Ok(())
            },
            None::<fn(&mut Writer<'_>) -> Result<(), Error>>,
            |_| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err, Error::BufferTooSmall { required: 20 });
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
