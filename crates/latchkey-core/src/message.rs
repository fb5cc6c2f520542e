//! The CRM iframe postMessage exchange (protocol.md §2.2): write `GET_CLIENT_OAUTH_CODE`,
//! parse the parent's `CLIENT_OAUTH_CODE` reply, and the exact [`TargetOrigin`] both travel
//! under.
//!
//! The calling protocol, for an adapter (wasm, or any host that embeds the iframe):
//! 1. Configure the parent's origin once: [`TargetOrigin::parse`] refuses `"*"` and anything
//!    that is not exactly `scheme://host[:port]` (PM-1).
//! 2. Make a fresh [`PendingAuthorization`](crate::state::PendingAuthorization) from entropy
//!    (CRM-1: never a constant verifier), write the request with [`write_code_request`] and
//!    post it to `target.as_str()`.
//! 3. For each `message` event: drop it unless `target.matches(event.origin)` and
//!    `event.source === window.parent` (PM-2); serialize `event.data` to JSON and call
//!    [`parse_code_reply`]. Any error — [`InvalidMessage::WrongMessageType`] included — means
//!    "not our reply": ignore it, never throw it into the page (PM-4).
//! 4. On the first `Ok`, [`CodeReply::verify_state`] against the pending state (PM-3), then
//!    stop listening: a later or duplicate reply finds nothing pending.
//!
//! ```
//! use latchkey_core::Client;
//! use latchkey_core::message::{parse_code_reply, write_code_request, TargetOrigin};
//! use latchkey_core::state::PendingAuthorization;
//!
//! let target = TargetOrigin::parse("https://crm.example.com")?;
//! let client = Client::new("app-1", "https://app.example.com/cb")?.with_scope("user-portal:user:*")?;
//! let pending = PendingAuthorization::from_entropy(&[7u8; 48])?; // CSPRNG bytes in real code
//! let mut msg = [0u8; 512];
//! let n = write_code_request(&client, &pending.challenge(), pending.state(), &mut msg)?;
//! assert!(msg[..n].starts_with(br#"{"type":"GET_CLIENT_OAUTH_CODE","source":"iframe","#));
//!
//! // …post &msg[..n] to target.as_str(); the parent answers:
//! assert!(target.matches("https://crm.example.com"));
//! let mut scratch = [0u8; 256];
//! let reply = parse_code_reply(br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c0de"}}"#, &mut scratch)?;
//! reply.verify_state(pending.state())?;
//! assert_eq!(reply.code.secret(), "c0de");
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use core::fmt;

use heapless::String;

use crate::callback::AuthorizationCode;
use crate::client::Client;
use crate::encode::write_with;
use crate::error::{ApiMisuse, Capacity, CheckFailed, Error, InvalidMessage, Len, Name};
use crate::json::{self, Value};
use crate::pkce::CodeChallenge;
use crate::profile::is_loopback_authority;
use crate::state::StateToken;
use crate::{MAX_MESSAGE_LEN, MAX_URL_LEN};

/// The `type` of the iframe's request for a code.
pub const CODE_REQUEST_TYPE: &str = "GET_CLIENT_OAUTH_CODE";
/// The `type` of the parent's reply carrying the code.
pub const CODE_REPLY_TYPE: &str = "CLIENT_OAUTH_CODE";

/// An exact postMessage target origin: `https://host[:port]`, or `http://` for a loopback
/// host (`127.0.0.1`, `[::1]`, `localhost`) only (PM-1).
///
/// Stored in the form browsers serialize `event.origin`: scheme and host in lower case, the
/// default port (`:443`, `:80`) dropped; so [`TargetOrigin::matches`] is a plain equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOrigin(String<MAX_URL_LEN>);

impl TargetOrigin {
    /// Parses a configured origin.
    ///
    /// - `"*"`, and anything with a path, a trailing `/`, a query or a fragment, is
    ///   [`ApiMisuse::WildcardOrigin`]: a target must be one exact origin.
    /// - `http://` to a non-loopback host is [`CheckFailed::InsecureUrl`].
    /// - Any other shape (no scheme, userinfo, an empty or malformed host, a bad port) is
    ///   [`ApiMisuse::BadConfig`]`("target_origin")`.
    pub fn parse(origin: &str) -> Result<Self, Error> {
        let bad = || Error::ApiMisuse(ApiMisuse::BadConfig(Name::TargetOrigin));
        if origin == "*" {
            return Err(ApiMisuse::WildcardOrigin.into());
        }
        let (scheme, rest, default_port) = if let Some(r) = strip_prefix_ci(origin, "https://") {
            ("https://", r, "443")
        } else if let Some(r) = strip_prefix_ci(origin, "http://") {
            ("http://", r, "80")
        } else {
            return Err(bad());
        };
        if rest.contains(['/', '?', '#', '*']) {
            return Err(ApiMisuse::WildcardOrigin.into());
        }
        let (host, port) = split_host_port(rest).ok_or_else(bad)?;
        if !valid_host(host) {
            return Err(bad());
        }
        if let Some(p) = port {
            let valid = !p.is_empty()
                && p.len() <= 5
                && !p.starts_with('0')
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok();
            if !valid {
                return Err(bad());
            }
        }
        if scheme == "http://" && !is_loopback_authority(rest) {
            return Err(CheckFailed::InsecureUrl.into());
        }
        let mut out = String::<MAX_URL_LEN>::new();
        let too_long = Error::CapacityExceeded {
            what: Capacity::Url,
            limit: crate::error::limit(MAX_URL_LEN),
        };
        out.push_str(scheme).map_err(|_| too_long)?;
        for c in host.chars() {
            out.push(c.to_ascii_lowercase()).map_err(|_| too_long)?;
        }
        if let Some(p) = port.filter(|&p| p != default_port) {
            out.push(':').map_err(|_| too_long)?;
            out.push_str(p).map_err(|_| too_long)?;
        }
        Ok(Self(out))
    }

    /// The origin, for `postMessage(msg, origin)`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a received `event.origin` is exactly this origin (PM-2). Origins are public,
    /// so this is a plain comparison.
    pub fn matches(&self, event_origin: &str) -> bool {
        self.0.as_str() == event_origin
    }
}

/// Writes the `GET_CLIENT_OAUTH_CODE` message the iframe posts to its parent
/// (protocol.md §2.2) into `buf` and returns its length:
///
/// ```text
/// {"type":"GET_CLIENT_OAUTH_CODE","source":"iframe","payload":{"client_id":…,
///  "redirect_uri":…,"scope":…,"response_type":"code","code_challenge":…,
///  "code_challenge_method":"S256","state":…}}
/// ```
/// (one line, no spaces). Strings are JSON-escaped (`"`, `\`, control characters); `<` and
/// `/` are not escaped: the message travels through `postMessage` (structured clone), never
/// inside an HTML `<script>`. Too small a buffer is [`Error::BufferTooSmall`] with nothing
/// written.
pub fn write_code_request(
    client: &Client,
    challenge: &CodeChallenge,
    state: &StateToken,
    buf: &mut [u8],
) -> Result<usize, Error> {
    write_with(buf, |w| {
        w.str(r#"{"type":""#);
        w.str(CODE_REQUEST_TYPE);
        w.str(r#"","source":"iframe","payload":{"client_id":"#);
        w.json_str(client.id());
        w.str(r#","redirect_uri":"#);
        w.json_str(client.redirect_uri());
        w.str(r#","scope":"#);
        w.json_str(client.scope());
        w.str(r#","response_type":"code","code_challenge":"#);
        w.json_str(challenge.as_str());
        w.str(r#","code_challenge_method":"#);
        w.json_str(challenge.method().as_str());
        w.str(r#","state":"#);
        w.json_str(state.as_str());
        w.str("}}");
        Ok(())
    })
}

/// The parent's `CLIENT_OAUTH_CODE` reply, borrowed from the caller's scratch buffer with
/// JSON escapes decoded.
pub struct CodeReply<'b> {
    /// The authorization code (non-empty, no control characters).
    pub code: AuthorizationCode<'b>,
    /// The state, if the parent echoed one (`Some("")` if it echoed an empty one, which
    /// [`CodeReply::verify_state`] rejects).
    pub state: Option<&'b str>,
}

impl CodeReply<'_> {
    /// Checks the echoed state, if any, against the pending request's (PM-3): an echoed
    /// state must match ([`CheckFailed::StateMismatch`], or
    /// [`CheckFailed::StateMissing`] when empty); a reply without one is accepted, since
    /// the CRM parent is not required to echo it (the origin and source checks, PM-2, are
    /// what bind such a reply to its request).
    pub fn verify_state(&self, expected: &StateToken) -> Result<(), Error> {
        match self.state {
            Some(s) => expected.verify(s),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for CodeReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeReply")
            .field("code", &self.code)
            .field("state", &self.state.map(|_| Redacted))
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Parses the parent's reply, `{"type":"CLIENT_OAUTH_CODE","payload":{"code":"…"}}`, as
/// JSON text (the adapter serializes `event.data`), decoding the code and the optional
/// echoed `state` into `scratch`.
///
/// - `state` is accepted inside `payload` (where the request carries it) or at the top level;
///   both at once is [`InvalidMessage::Duplicate`]`("state")`.
/// - Other members (`source`, …) are ignored. A known member (`type`, `payload`, `code`,
///   `state`) appearing twice — also when spelled with escapes, as `"\u0063ode"` — is
///   [`InvalidMessage::Duplicate`].
/// - Errors, in the order they are checked: more than [`MAX_MESSAGE_LEN`] bytes →
///   [`Error::CapacityExceeded`] (`Capacity::Message`); not one JSON object →
///   [`InvalidMessage::BadJson`] (or `NotUtf8`, `BadJsonEscape`, `ControlCharacter`, a
///   nesting `CapacityExceeded`); no `type` → `Missing(Name::Type)`; a `type` other than
///   `"CLIENT_OAUTH_CODE"` → [`InvalidMessage::WrongMessageType`] (the adapter ignores those,
///   PM-4); no `payload` → `Missing(Name::Payload)`, not an object → `BadValue(Name::Payload)`; no
///   `code` → `Missing(Name::Code)`, empty → `Empty(Name::Code)`, not a string →
///   `BadValue(Name::Code)`; a `state` that is not a string → `BadValue(Name::State)`; a NUL or control
///   character in the decoded code or state → `ControlCharacter`.
/// - `scratch` needs the decoded length of code + state; a [`MAX_MESSAGE_LEN`] buffer always
///   suffices. Too small is [`Error::BufferTooSmall`].
pub fn parse_code_reply<'b>(json: &[u8], scratch: &'b mut [u8]) -> Result<CodeReply<'b>, Error> {
    if json.len() > MAX_MESSAGE_LEN {
        return Err(Error::CapacityExceeded {
            what: Capacity::Message,
            limit: crate::error::limit(MAX_MESSAGE_LEN),
        });
    }
    let mut ty = None;
    let mut payload = None;
    let mut top_state = None;
    json::members_with_raw(json, |k, v, raw| {
        if k.is("type") {
            set_once(&mut ty, v, Name::Type)
        } else if k.is("payload") {
            set_once(&mut payload, (v, raw), Name::Payload)
        } else if k.is("state") {
            set_once(&mut top_state, v, Name::State)
        } else {
            Ok(())
        }
    })?;

    match ty {
        None => return Err(InvalidMessage::Missing(Name::Type).into()),
        Some(Value::String(t)) if json::decodes_to(t, CODE_REPLY_TYPE) => {}
        Some(_) => return Err(InvalidMessage::WrongMessageType.into()),
    }
    let (payload, raw) = payload.ok_or(InvalidMessage::Missing(Name::Payload))?;
    if payload != Value::Object {
        return Err(InvalidMessage::BadValue(Name::Payload).into());
    }
    let mut code = None;
    let mut state = None;
    json::members(raw, |k, v| {
        if k.is("code") {
            set_once(&mut code, v, Name::Code)
        } else if k.is("state") {
            set_once(&mut state, v, Name::State)
        } else {
            Ok(())
        }
    })?;
    let code = match code {
        None => return Err(InvalidMessage::Missing(Name::Code).into()),
        Some(Value::String(c)) => c,
        Some(_) => return Err(InvalidMessage::BadValue(Name::Code).into()),
    };
    let state = match (state, top_state) {
        (Some(_), Some(_)) => return Err(InvalidMessage::Duplicate(Name::State).into()),
        (None, None) => None,
        (Some(Value::String(s)), None) | (None, Some(Value::String(s))) => Some(s),
        _ => return Err(InvalidMessage::BadValue(Name::State).into()),
    };

    let code_len = json::unescaped_len(code)?;
    let state_len = match state {
        Some(s) => json::unescaped_len(s)?,
        None => 0,
    };
    if code_len == 0 {
        return Err(InvalidMessage::Empty(Name::Code).into());
    }
    let required = code_len.saturating_add(state_len);
    if required > scratch.len() {
        return Err(Error::BufferTooSmall {
            required: Len::new(required),
        });
    }
    let (code_buf, state_buf) = scratch.split_at_mut(code_len);
    let code = no_controls(json::unescape(code, code_buf)?)?;
    let state = match state {
        Some(s) => Some(no_controls(json::unescape(s, state_buf)?)?),
        None => None,
    };
    Ok(CodeReply {
        code: AuthorizationCode::new(code),
        state,
    })
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: Name) -> Result<(), Error> {
    if slot.replace(value).is_some() {
        return Err(InvalidMessage::Duplicate(name).into());
    }
    Ok(())
}

/// Rejects Unicode control characters (C0, DEL and C1: `char::is_control`) in decoded text.
fn no_controls(s: &str) -> Result<&str, Error> {
    if s.chars().any(char::is_control) {
        return Err(InvalidMessage::ControlCharacter.into());
    }
    Ok(s)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Splits `host[:port]` / `[v6][:port]`; `None` if the shape is wrong.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// A DNS name or IPv4 literal (letters, digits, `-`, `.`; no empty labels, no label starting
/// or ending with `-`), or a bracketed IPv6 literal (hex digits, `:` and `.`).
fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.contains(':')
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(std::string::String, Option<std::string::String>), Error> {
        let mut scratch = [0u8; MAX_MESSAGE_LEN];
        parse_code_reply(json.as_bytes(), &mut scratch)
            .map(|r| (r.code.secret().to_owned(), r.state.map(str::to_owned)))
    }

    #[test]
    fn s_pm_1_origins() {
        for (input, norm) in [
            ("https://crm.example.com", "https://crm.example.com"),
            ("HTTPS://CRM.Example.com:443", "https://crm.example.com"),
            (
                "https://crm.example.com:8443",
                "https://crm.example.com:8443",
            ),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://localhost", "http://localhost"),
            ("http://[::1]:80", "http://[::1]"),
        ] {
            assert_eq!(
                TargetOrigin::parse(input).unwrap().as_str(),
                norm,
                "{input}"
            );
        }
        let wildcard = Err(ApiMisuse::WildcardOrigin.into());
        for input in [
            "*",
            "https://crm.example.com/",
            "https://crm.example.com/path",
            "https://crm.example.com?x",
            "https://crm.example.com#x",
            "https://*.example.com",
        ] {
            assert_eq!(TargetOrigin::parse(input), wildcard, "{input}");
        }
        let bad = Err(ApiMisuse::BadConfig(Name::TargetOrigin).into());
        for input in [
            "",
            "null",
            "crm.example.com",
            "https://",
            "https://user@crm.example.com",
            "https://crm.example.com:",
            "https://crm.example.com:0",
            "https://crm.example.com:65536",
            "https://crm..example.com",
            "https://-crm.example.com",
            "https://crm example.com",
            "ftp://crm.example.com",
        ] {
            assert_eq!(TargetOrigin::parse(input), bad, "{input}");
        }
        assert_eq!(
            TargetOrigin::parse("http://crm.example.com"),
            Err(CheckFailed::InsecureUrl.into())
        );
        let t = TargetOrigin::parse("https://crm.example.com").unwrap();
        assert!(t.matches("https://crm.example.com"));
        assert!(!t.matches("https://crm.example.com.evil.com"));
        assert!(!t.matches("null"));
    }

    #[test]
    fn reply_shapes() {
        assert_eq!(
            parse(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"abc"}}"#).unwrap(),
            ("abc".into(), None)
        );
        assert_eq!(
            parse(r#" {"source":"crm","type":"CLIENT\u005fOAUTH_CODE","payload":{"code":"a\/b\u00e9","state":"s1","x":[1]}} "#)
                .unwrap(),
            ("a/bé".into(), Some("s1".into()))
        );
        assert_eq!(
            parse(r#"{"type":"CLIENT_OAUTH_CODE","state":"top","payload":{"code":"c"}}"#).unwrap(),
            ("c".into(), Some("top".into()))
        );
    }

    #[test]
    fn s_pm_4_reply_errors() {
        let cases: &[(&str, Error)] = &[
            (
                r#"{"payload":{"code":"c"}}"#,
                InvalidMessage::Missing(Name::Type).into(),
            ),
            (
                r#"{"type":"OTHER","payload":{"code":"c"}}"#,
                InvalidMessage::WrongMessageType.into(),
            ),
            (
                r#"{"type":1,"payload":{"code":"c"}}"#,
                InvalidMessage::WrongMessageType.into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE"}"#,
                InvalidMessage::Missing(Name::Payload).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":"c"}"#,
                InvalidMessage::BadValue(Name::Payload).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{}}"#,
                InvalidMessage::Missing(Name::Code).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":""}}"#,
                InvalidMessage::Empty(Name::Code).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":null}}"#,
                InvalidMessage::BadValue(Name::Code).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c","state":7}}"#,
                InvalidMessage::BadValue(Name::State).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"a\u0000"}}"#,
                InvalidMessage::ControlCharacter.into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"a","code":"b"}}"#,
                InvalidMessage::Duplicate(Name::Code).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"a","\u0063ode":"b"}}"#,
                InvalidMessage::Duplicate(Name::Code).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","type":"CLIENT_OAUTH_CODE","payload":{"code":"a"}}"#,
                InvalidMessage::Duplicate(Name::Type).into(),
            ),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","state":"x","payload":{"code":"a","state":"x"}}"#,
                InvalidMessage::Duplicate(Name::State).into(),
            ),
            (r#"["CLIENT_OAUTH_CODE"]"#, InvalidMessage::BadJson.into()),
            (r#""CLIENT_OAUTH_CODE""#, InvalidMessage::BadJson.into()),
            (
                r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"a"}} x"#,
                InvalidMessage::BadJson.into(),
            ),
        ];
        for (json, err) in cases {
            assert_eq!(parse(json).unwrap_err(), *err, "{json}");
        }
        let mut huge =
            std::string::String::from(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":""#);
        huge.push_str(&"a".repeat(MAX_MESSAGE_LEN));
        huge.push_str(r#""}}"#);
        assert_eq!(
            parse(&huge).unwrap_err(),
            Error::CapacityExceeded {
                what: Capacity::Message,
                limit: MAX_MESSAGE_LEN as u16
            }
        );
    }

    #[test]
    fn scratch_too_small() {
        let mut scratch = [0u8; 3];
        let json = br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"abc","state":"xy"}}"#;
        assert_eq!(
            parse_code_reply(json, &mut scratch).unwrap_err(),
            Error::BufferTooSmall {
                required: crate::Len::new(5)
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn s_pm_4_parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut scratch = [0u8; 64];
            let _ = parse_code_reply(&bytes, &mut scratch);
        }

        #[test]
        fn s_pm_4_parse_never_panics_jsonish(s in "[{}\\[\\]\",:a-z_A-Z0-9\\\\ ]{0,96}") {
            let mut scratch = [0u8; 64];
            let _ = parse_code_reply(s.as_bytes(), &mut scratch);
        }

        #[test]
        fn target_origin_never_panics(s in "\\PC{0,64}") {
            let _ = TargetOrigin::parse(&s);
        }
    }
}
