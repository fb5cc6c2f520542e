//! Transport-free HTTP messages, the request log, and form/Basic decoding helpers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Header on a response that stands for "the connection timed out after the request was
/// processed" (see [`crate::Misbehaviour::lose_response_after_rotation`]). A harness that
/// serves the server over a real socket should drop the connection instead of answering.
pub const SIMULATED_TIMEOUT_HEADER: &str = "x-testkit-simulated-timeout";

/// One HTTP request, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// Method, e.g. `GET` or `POST` (compared case-sensitively, as HTTP does).
    pub method: &'a str,
    /// The absolute URL, e.g. `https://as.example/token?x=1`.
    pub url: &'a str,
    /// Header fields; names are compared case-insensitively.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body bytes.
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// A `GET` of `url` with no headers and no body.
    pub fn get(url: &'a str) -> Self {
        Self {
            method: "GET",
            url,
            headers: &[],
            body: &[],
        }
    }

    /// A `POST` of `body` to `url` with the given headers.
    pub fn post(url: &'a str, headers: &'a [(&'a str, &'a str)], body: &'a [u8]) -> Self {
        Self {
            method: "POST",
            url,
            headers,
            body,
        }
    }

    /// All values of header `name` (case-insensitive), in order.
    pub fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        let headers = self.headers;
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// One HTTP response produced by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields (names in lower case).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Location` header, if any.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The body as text: the longest valid UTF-8 prefix (all of it for the server's own bodies).
    pub fn body_str(&self) -> &str {
        match std::str::from_utf8(&self.body) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&self.body[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether this response stands for a timeout (see [`SIMULATED_TIMEOUT_HEADER`]).
    pub fn is_simulated_timeout(&self) -> bool {
        self.header(SIMULATED_TIMEOUT_HEADER).is_some()
    }

    /// The query parameters of the `Location` header, decoded (lenient; in order, duplicates
    /// kept). Empty when there is no `Location`.
    pub fn location_params(&self) -> Vec<(String, String)> {
        let Some(location) = self.location() else {
            return Vec::new();
        };
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first value of the `Location` query parameter `name`.
    pub fn location_param(&self, name: &str) -> Option<String> {
        self.location_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// A request as the server saw it, kept in [`crate::Server::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The `now` the request was handled at.
    pub now: u64,
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Header fields as sent.
    pub headers: Vec<(String, String)>,
    /// Body, lossily converted to UTF-8.
    pub body: String,
}

impl LoggedRequest {
    /// The URL's host name (no userinfo, no port), lower-cased.
    pub fn host(&self) -> String {
        let authority = self.authority();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = if let Some(rest) = host_port.strip_prefix('[') {
            rest.split(']').next().unwrap_or_default()
        } else {
            host_port.split(':').next().unwrap_or_default()
        };
        host.to_ascii_lowercase()
    }

    /// The URL's authority (`userinfo@host:port` as written).
    pub fn authority(&self) -> &str {
        let after_scheme = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        after_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
    }

    /// The URL's path (without query).
    pub fn path(&self) -> &str {
        let after_scheme = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let path_and_query = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
        path_and_query.split(['?', '#']).next().unwrap_or_default()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `needle` appears anywhere in the request in any usual encoding: raw or
    /// percent-decoded URL, raw or form-decoded body, JSON-unescaped body strings, raw headers,
    /// and decoded `Basic` credentials (raw and RFC 6749 §2.3.1 form-decoded).
    ///
    /// Use it to assert that a secret never reached a host: `!req.carries(SECRET)`.
    pub fn carries(&self, needle: &str) -> bool {
        if needle.is_empty() {
            return true;
        }
        let query = self.url.split_once('?').map_or("", |(_, q)| q);
        let mut haystacks = vec![self.url.clone(), self.body.clone()];
        haystacks.extend(decode_pairs_lenient(query));
        haystacks.extend(decode_pairs_lenient(self.path()));
        haystacks.extend(decode_pairs_lenient(&self.body));
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&self.body) {
            collect_json_strings(&value, &mut haystacks);
        }
        for (name, value) in &self.headers {
            haystacks.push(value.clone());
            if name.eq_ignore_ascii_case("authorization")
                && let Some((id, secret)) = decode_basic_raw(value)
            {
                haystacks.extend(decode_pairs_lenient(&id));
                haystacks.extend(decode_pairs_lenient(&secret));
                haystacks.push(id);
                haystacks.push(secret);
            }
        }
        haystacks.iter().any(|h| h.contains(needle))
    }
}

/// Decodes a `Basic` header value without form-decoding: `base64(id:secret)` → (id, secret).
/// This is how the CRM dialect sends credentials. `None` if it is not valid `Basic`.
pub fn decode_basic_raw(header_value: &str) -> Option<(String, String)> {
    let (scheme, credentials) = header_value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Decodes a `Basic` header value the RFC 6749 §2.3.1 way: base64, split at the first `:`,
/// then form-urldecode id and secret. `None` if anything is malformed (bad base64, no `:`,
/// bad percent-escape, invalid UTF-8).
///
/// ```
/// use latchkey_testkit::decode_basic_rfc6749;
/// let (id, secret) = decode_basic_rfc6749("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3").unwrap();
/// assert_eq!((id.as_str(), secret.as_str()), ("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"));
/// ```
pub fn decode_basic_rfc6749(header_value: &str) -> Option<(String, String)> {
    let (id, secret) = decode_basic_raw(header_value)?;
    Some((
        form_decode_strict(&id).ok()?,
        form_decode_strict(&secret).ok()?,
    ))
}

/// Builds the RFC 6749 §2.3.1 `Basic` header value for `id` / `secret`.
pub fn encode_basic_rfc6749(id: &str, secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Builds the raw (CRM-style) `Basic` header value for `id` / `secret`.
pub fn encode_basic_raw(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Strict `application/x-www-form-urlencoded` decoding of one component: `+` is a space, `%XX`
/// must be two hex digits, the result must be UTF-8 without control characters.
pub(crate) fn form_decode_strict(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or("truncated percent-escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "bad percent-escape")?;
                let byte = u8::from_str_radix(hex, 16)
                    .map_err(|_| format!("bad percent-escape %{hex}"))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|_| "percent-decoded value is not UTF-8")?;
    if text.chars().any(char::is_control) {
        return Err("control character in parameter".to_owned());
    }
    Ok(text)
}

fn decode_pairs_lenient(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in form_urlencoded::parse(text.as_bytes()) {
        out.push(name.into_owned());
        out.push(value.into_owned());
    }
    out
}

fn collect_json_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_json_strings(v, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                collect_json_strings(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_2_3_1_basic_vector_decodes() {
        let header = "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3";
        assert_eq!(
            decode_basic_rfc6749(header),
            Some(("s6BhdRkqt3".to_owned(), "7Fjfp0ZBr1KtDRbnfVdmIw".to_owned()))
        );
        assert_eq!(
            encode_basic_rfc6749("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"),
            header
        );
        // RFC 7009 §2.1 example credentials.
        assert_eq!(
            decode_basic_rfc6749("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"),
            Some(("s6BhdRkqt3".to_owned(), "gX1fBat3bV".to_owned()))
        );
    }

    #[test]
    fn basic_form_decoding_is_strict_and_differs_from_raw() {
        let header = encode_basic_rfc6749("a:b", " %&+£€");
        assert_eq!(
            decode_basic_rfc6749(&header),
            Some(("a:b".to_owned(), " %&+£€".to_owned()))
        );
        // Raw decoding keeps the encoded form: the id's ':' became %3A.
        assert_eq!(
            decode_basic_raw(&header).map(|(id, _)| id),
            Some("a%3Ab".to_owned())
        );
        // A raw '+' in an unencoded secret turns into a space under RFC 6749 decoding.
        let raw = encode_basic_raw("id", "a+b");
        assert_eq!(
            decode_basic_rfc6749(&raw).map(|(_, s)| s),
            Some("a b".to_owned())
        );
        assert_eq!(decode_basic_rfc6749(&encode_basic_raw("id", "100%")), None);
        assert_eq!(decode_basic_rfc6749("Bearer abc"), None);
        assert_eq!(decode_basic_rfc6749("Basic !!!"), None);
        assert_eq!(
            decode_basic_rfc6749(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
    }

    #[test]
    fn form_decoding_rfc6749_appendix_b() {
        assert_eq!(
            form_decode_strict("+%25%26%2B%C2%A3%E2%82%AC").as_deref(),
            Ok(" %&+£€")
        );
        assert!(form_decode_strict("%zz").is_err());
        assert!(form_decode_strict("%2").is_err());
        assert!(form_decode_strict("%FF").is_err());
        assert!(form_decode_strict("a%00b").is_err());
    }

    #[test]
    fn logged_request_accessors_and_carries() {
        let req = LoggedRequest {
            now: 0,
            method: "POST".to_owned(),
            url: "https://user@Example.Kommo.com:8443/oauth2/access_token?x=%2Fy".to_owned(),
            headers: vec![(
                "Authorization".to_owned(),
                encode_basic_rfc6749("id", "se cret"),
            )],
            body: r#"{"client_secret":"a\/b"}"#.to_owned(),
        };
        assert_eq!(req.host(), "example.kommo.com");
        assert_eq!(req.path(), "/oauth2/access_token");
        assert!(req.carries("a/b"));
        assert!(req.carries("se cret"));
        assert!(req.carries("/y"));
        assert!(!req.carries("nothing-here"));
    }

    #[test]
    fn response_helpers() {
        let resp = HttpResponse {
            status: 302,
            headers: vec![(
                "location".to_owned(),
                "https://c/cb?code=a%2Fb&state=x+y".to_owned(),
            )],
            body: vec![b'o', b'k', 0xff],
        };
        assert_eq!(resp.location_param("code").as_deref(), Some("a/b"));
        assert_eq!(resp.location_param("state").as_deref(), Some("x y"));
        assert_eq!(resp.body_str(), "ok");
        assert!(!resp.is_simulated_timeout());
    }
}
