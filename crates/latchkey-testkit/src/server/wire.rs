//! Strict request parsing and response building shared by every dialect.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use crate::http::{HttpRequest, HttpResponse, form_decode_strict};

/// Decoded form or query parameters, in order, duplicates kept (so they can be refused).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Strictly parses `a=1&b=2` (empty segments skipped, bad escapes refused).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for segment in text.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            out.push((form_decode_strict(name)?, form_decode_strict(value)?));
        }
        Ok(Self(out))
    }

    /// The name of the first parameter that appears more than once.
    pub(crate) fn first_duplicate(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (name, _))| self.0[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (name, _))| name.as_str())
    }

    /// The value of `name` (parameters are checked for duplicates before use).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or an `invalid_request` description when missing or empty.
    pub(crate) fn require(&self, name: &str) -> Result<&str, String> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("missing parameter: {name}")),
        }
    }

    /// How many times `name` appears.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.0.iter().filter(|(n, _)| n == name).count()
    }
}

/// A top-level JSON object with members in order and duplicates kept.
#[derive(Debug, Default)]
pub(crate) struct JsonObject(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(entry);
                }
                Ok(JsonObject(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl JsonObject {
    /// Parses a body that must be exactly one JSON object without duplicate members.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        let object: Self =
            serde_json::from_slice(body).map_err(|e| format!("malformed JSON body: {e}"))?;
        let duplicate = object
            .0
            .iter()
            .enumerate()
            .find(|(i, (n, _))| object.0[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.clone());
        if let Some(name) = duplicate {
            return Err(format!("duplicate JSON member: {name}"));
        }
        Ok(object)
    }

    /// The string member `name`: `Ok(None)` when absent or null, an error when not a string.
    pub(crate) fn str(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("member {name} must be a string")),
        }
    }

    /// The non-empty string member `name`, or an error description.
    pub(crate) fn require(&self, name: &str) -> Result<&str, String> {
        match self.str(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("missing member: {name}")),
        }
    }
}

/// Checks that the single `Content-Type` of `req` has the media type `expected`.
pub(crate) fn require_content_type(req: &HttpRequest<'_>, expected: &str) -> Result<(), String> {
    let mut values = req.header_values("content-type");
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(format!("Content-Type must be {expected}"));
    };
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!("Content-Type must be {expected}"))
    }
}

/// The single `Authorization` header, `Ok(None)` if absent, an error if repeated.
pub(crate) fn authorization<'a>(req: &HttpRequest<'a>) -> Result<Option<&'a str>, String> {
    let mut values = req.header_values("authorization");
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v)),
        (Some(_), Some(_)) => Err("more than one Authorization header".to_owned()),
    }
}

/// A JSON string literal; with `php_escape`, `/` is written as `\/` as PHP's `json_encode` does.
pub(crate) fn json_str(value: &str, php_escape: bool) -> String {
    let literal = serde_json::Value::String(value.to_owned()).to_string();
    if php_escape {
        literal.replace('/', "\\/")
    } else {
        literal
    }
}

/// A JSON object from already-encoded member values, in order (duplicates allowed on purpose).
pub(crate) fn json_object(members: &[(&str, String)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k, false), v))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A JSON response with `Cache-Control: no-store` (RFC 6749 §5.1).
pub(crate) fn json_response(status: u16, body: String) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            (
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            ("cache-control".to_owned(), "no-store".to_owned()),
            ("pragma".to_owned(), "no-cache".to_owned()),
        ],
        body: body.into_bytes(),
    }
}

/// An RFC 6749 §5.2 error: `{"error","error_description"}`; `invalid_client` is 401 with
/// `WWW-Authenticate`, everything else the given status.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let body = json_object(&[
        ("error", json_str(error, false)),
        ("error_description", json_str(description, false)),
    ]);
    if error == "invalid_client" {
        let mut resp = json_response(401, body);
        resp.headers.push((
            "www-authenticate".to_owned(),
            "Basic realm=\"testkit\"".to_owned(),
        ));
        resp
    } else {
        json_response(status, body)
    }
}

/// 400 `invalid_request` with a description.
pub(crate) fn invalid_request(description: &str) -> HttpResponse {
    oauth_error(400, "invalid_request", description)
}

/// 400 `invalid_grant` with a description.
pub(crate) fn invalid_grant(description: &str) -> HttpResponse {
    oauth_error(400, "invalid_grant", description)
}

/// 401 `invalid_client`.
pub(crate) fn invalid_client(description: &str) -> HttpResponse {
    oauth_error(401, "invalid_client", description)
}

/// A plain 200 with a JSON body.
pub(crate) fn ok_json(body: String) -> HttpResponse {
    json_response(200, body)
}

/// An HTML page with `status` (errors the browser shows instead of redirecting).
pub(crate) fn html_page(status: u16, title: &str, text: &str) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    HttpResponse {
        status,
        headers: vec![(
            "content-type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )],
        body: format!(
            "<!doctype html><title>{0}</title><h1>{0}</h1><p>{1}</p>",
            escape(title),
            escape(text)
        )
        .into_bytes(),
    }
}

/// A 302 to `redirect_uri` with `params` appended to its query (form-encoded, in order).
pub(crate) fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        serializer.append_pair(k, v);
    }
    let query = serializer.finish();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    HttpResponse {
        status: 302,
        headers: vec![
            (
                "location".to_owned(),
                format!("{redirect_uri}{separator}{query}"),
            ),
            ("cache-control".to_owned(), "no-store".to_owned()),
            ("referrer-policy".to_owned(), "no-referrer".to_owned()),
        ],
        body: Vec::new(),
    }
}

/// Whether `given` matches the registered redirect URI `registered`: exactly, or, for loopback
/// `http` URIs, with any port (RFC 8252 §7.3).
pub(crate) fn redirect_uri_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    match (
        loopback_without_port(registered),
        loopback_without_port(given),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.split(':').next()?
    };
    let port = &authority[host.len()..];
    if !(port.is_empty() || (port.len() > 1 && port[1..].bytes().all(|b| b.is_ascii_digit()))) {
        return None;
    }
    matches!(host, "127.0.0.1" | "[::1]" | "localhost").then(|| format!("{host}{path}"))
}

/// Whether `s` is a well-formed S256 code challenge: 43 base64url characters.
pub(crate) fn is_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` is a syntactically valid PKCE verifier (RFC 7636 §4.1).
pub(crate) fn is_code_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_s256() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_code_verifier(verifier));
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_s256_challenge(&s256(verifier)));
        assert!(!is_code_verifier("short"));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn params_are_strict() {
        let p = Params::parse("a=1&b=x+y%2F&&a=2").unwrap_or_default();
        assert_eq!(p.first_duplicate(), Some("a"));
        assert_eq!(p.get("b"), Some("x y/"));
        assert_eq!(p.count("a"), 2);
        assert!(Params::parse("a=%G1").is_err());
        assert!(p.require("c").is_err());
    }

    #[test]
    fn json_objects_refuse_duplicates_and_non_objects() {
        assert!(JsonObject::parse(br#"{"a":"1","a":"2"}"#).is_err());
        assert!(JsonObject::parse(br#"["a"]"#).is_err());
        assert!(JsonObject::parse(br#"{"a":"1"} x"#).is_err());
        let o = JsonObject::parse(br#"{"a":"x\/y","n":1}"#).unwrap_or_default();
        assert_eq!(o.str("a"), Ok(Some("x/y")));
        assert!(o.str("n").is_err());
        assert_eq!(o.str("missing"), Ok(None));
    }

    #[test]
    fn loopback_redirects_match_any_port_only() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53121/callback"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:8080/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/other"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1.evil/callback"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb/"
        ));
    }

    #[test]
    fn php_escaping_of_slashes() {
        assert_eq!(json_str("a/b", true), r#""a\/b""#);
        assert_eq!(json_str("a/b", false), r#""a/b""#);
    }
}
