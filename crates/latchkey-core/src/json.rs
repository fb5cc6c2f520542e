//! Crate-private JSON helpers: string unescaping (with UTF-16 surrogate pairs), a strict,
//! iterative scanner for the members of a top-level object, and lenient-but-exact integers.
//!
//! Why not only `serde-json-core`:
//! - Its `EscapedStr::fragments()` decodes `\uXXXX` with `char::from_u32`, which fails for
//!   each half of a UTF-16 surrogate pair, so `"\ud83d\ude00"` (😀, legal JSON) is rejected.
//!   [`unescape`] decodes pairs and rejects lone or misordered surrogates.
//! - Its deserializer has no `deserialize_any`, so a field cannot be "an integer or a string
//!   of digits" (`"expires_in":"3599"`, TOK-8); it recurses into ignored nested values (a
//!   body of 32 KiB of `[` overflows a small stack); it skips ignored scalars by "chomping
//!   until a delimiter" (so `tru` or `1 2` pass); and it compares member names with their
//!   escapes still in, so `"access\u005ftoken"` would be a different member to it than to
//!   the server (a parser differential).
//!
//! [`members`] therefore validates the whole body against RFC 8259 iteratively (nesting
//! bounded by [`crate::MAX_JSON_DEPTH`], no recursion), and hands each top-level member to
//! the caller with its name already decoded for comparison ([`Key`]) and its value as a
//! borrowed [`Value`]. Callers detect duplicate members (TOK-8) by keeping one `Option` per
//! known member. `serde-json-core` is therefore only a dev-dependency, where a test pins
//! down the flaws above.

use crate::error::{Capacity, Error, InvalidMessage};

/// Decodes a JSON string body (the text between the quotes, escapes still in, as in
/// `serde_json_core::str::EscapedStr`) into `out` and returns the decoded text.
///
/// Handles `\" \\ \/ \b \f \n \r \t \uXXXX`, including UTF-16 surrogate pairs
/// (`\ud83d\ude00` → 😀). Lone or misordered surrogates, unknown escapes and raw control
/// characters (RFC 8259 §7 requires them escaped) are [`InvalidMessage::BadJsonEscape`] /
/// [`InvalidMessage::ControlCharacter`]. When the decoded text does not fit, nothing is
/// written and [`Error::BufferTooSmall`] carries the exact length.
pub(crate) fn unescape<'b>(escaped: &str, out: &'b mut [u8]) -> Result<&'b str, Error> {
    let required = unescaped_len(escaped)?;
    let Some(dst) = out.get_mut(..required) else {
        return Err(Error::BufferTooSmall { required });
    };
    let mut pos = 0;
    decode(escaped.as_bytes(), |chunk| {
        let end = pos + chunk.len();
        if let Some(d) = dst.get_mut(pos..end) {
            d.copy_from_slice(chunk);
        }
        pos = end;
    })?;
    core::str::from_utf8(dst).map_err(|_| InvalidMessage::NotUtf8.into())
}

/// The length in bytes of the decoded form of a JSON string body; validates it like
/// [`unescape`].
pub(crate) fn unescaped_len(escaped: &str) -> Result<usize, Error> {
    let mut n = 0usize;
    decode(escaped.as_bytes(), |chunk| n += chunk.len())?;
    Ok(n)
}

/// Whether the JSON string body `escaped` decodes to exactly `name` (for member names; never
/// fails: an invalid escape simply does not match).
pub(crate) fn decodes_to(escaped: &str, name: &str) -> bool {
    if !escaped.contains('\\') {
        return escaped == name;
    }
    let mut rest = name.as_bytes();
    let mut equal = true;
    let ok = decode(escaped.as_bytes(), |chunk| {
        if equal {
            match rest.strip_prefix(chunk) {
                Some(r) => rest = r,
                None => equal = false,
            }
        }
    });
    ok.is_ok() && equal && rest.is_empty()
}

/// Parses an unsigned integer that may arrive as a JSON number (`3599`) or, as some servers
/// send it, a string of ASCII digits (`"3599"`) (TOK-8, protocol.md §1).
///
/// Anything else — negative, fractional or exponent numbers, strings with other characters
/// (signs, spaces, escapes), booleans, objects — and values above `u64::MAX` are
/// [`InvalidMessage::NumberOutOfRange`] naming `field`: no wrap, no truncation.
pub(crate) fn lenient_u64(value: Value<'_>, field: &'static str) -> Result<u64, Error> {
    let digits = match value {
        Value::Number(n) | Value::String(n) => n,
        _ => return Err(InvalidMessage::NumberOutOfRange(field).into()),
    };
    if digits.is_empty() {
        return Err(InvalidMessage::NumberOutOfRange(field).into());
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err(InvalidMessage::NumberOutOfRange(field).into());
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(InvalidMessage::NumberOutOfRange(field))?;
    }
    Ok(n)
}

/// A JSON value as seen at the top level of an object. Strings and numbers borrow their raw
/// text from the body (strings with their escapes still in: decode with [`unescape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A string; the text between the quotes, escapes not yet decoded (already validated).
    String(&'a str),
    /// A number; its text as written (already validated against the RFC 8259 grammar).
    Number(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A nested object (validated and skipped).
    Object,
    /// A nested array (validated and skipped).
    Array,
}

/// A member name with its escapes still in; compare with [`Key::is`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key<'a>(pub(crate) &'a str);

impl Key<'_> {
    /// Whether the name decodes to exactly `name` (so `"access\u005ftoken"` is
    /// `access_token`, as any other JSON parser would see it).
    pub(crate) fn is(&self, name: &str) -> bool {
        decodes_to(self.0, name)
    }
}

/// Validates `body` as one JSON object (RFC 8259, optional surrounding whitespace, nothing
/// after it) and calls `f` for each top-level member in order.
///
/// Nesting deeper than [`crate::MAX_JSON_DEPTH`] is [`Error::CapacityExceeded`]; syntax
/// errors are [`InvalidMessage::BadJson`] (or `BadJsonEscape`, `ControlCharacter`,
/// `NotUtf8`). `f` runs as members are reached, so it may see members of a body that turns
/// out to be invalid later: act on the values only after `members` returned `Ok`.
pub(crate) fn members<'a, F>(body: &'a [u8], mut f: F) -> Result<(), Error>
where
    F: FnMut(Key<'a>, Value<'a>) -> Result<(), Error>,
{
    members_with_raw(body, |k, v, _| f(k, v))
}

/// Like [`members`], and also hands `f` each value's raw JSON text (e.g. a nested object,
/// to scan with [`members`] in turn; it is already validated).
pub(crate) fn members_with_raw<'a, F>(body: &'a [u8], mut f: F) -> Result<(), Error>
where
    F: FnMut(Key<'a>, Value<'a>, &'a [u8]) -> Result<(), Error>,
{
    let text = core::str::from_utf8(body).map_err(|_| InvalidMessage::NotUtf8)?;
    let mut s = Scanner { text, pos: 0 };
    s.ws();
    if !s.eat(b'{') {
        return Err(bad());
    }
    s.ws();
    if !s.eat(b'}') {
        loop {
            s.ws();
            let key = s.string()?;
            s.ws();
            if !s.eat(b':') {
                return Err(bad());
            }
            s.ws();
            let start = s.pos;
            let value = s.value()?;
            f(Key(key), value, body.get(start..s.pos).unwrap_or_default())?;
            s.ws();
            if s.eat(b',') {
                continue;
            }
            if s.eat(b'}') {
                break;
            }
            return Err(bad());
        }
    }
    s.ws();
    if s.pos != body.len() {
        return Err(bad());
    }
    Ok(())
}

fn bad() -> Error {
    InvalidMessage::BadJson.into()
}

/// The escape-decoding core: walks a JSON string body and hands decoded UTF-8 chunks (runs
/// of the input, or one decoded character) to `sink`.
fn decode(s: &[u8], mut sink: impl FnMut(&[u8])) -> Result<(), Error> {
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b < 0x20 {
            return Err(InvalidMessage::ControlCharacter.into());
        }
        if b != b'\\' {
            i += 1;
            continue;
        }
        sink(s.get(start..i).unwrap_or_default());
        let esc = s.get(i + 1).copied();
        i += 2;
        let c = match esc {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(s, i)?;
                i += 4;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by `\u` + a low surrogate.
                        if s.get(i) != Some(&b'\\') || s.get(i + 1) != Some(&b'u') {
                            return Err(InvalidMessage::BadJsonEscape.into());
                        }
                        let lo = hex4(s, i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(InvalidMessage::BadJsonEscape.into());
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(InvalidMessage::BadJsonEscape.into()),
                    _ => hi,
                };
                char::from_u32(code).ok_or(InvalidMessage::BadJsonEscape)?
            }
            _ => return Err(InvalidMessage::BadJsonEscape.into()),
        };
        let mut tmp = [0u8; 4];
        sink(c.encode_utf8(&mut tmp).as_bytes());
        start = i;
    }
    sink(s.get(start..).unwrap_or_default());
    Ok(())
}

fn hex4(s: &[u8], at: usize) -> Result<u32, Error> {
    let digits = s.get(at..at + 4).ok_or(InvalidMessage::BadJsonEscape)?;
    let mut v = 0u32;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(InvalidMessage::BadJsonEscape.into()),
        };
        v = (v << 4) | u32::from(n);
    }
    Ok(v)
}

/// An iterative RFC 8259 validator over UTF-8 text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A string at `pos` (opening quote included); returns its body, escapes validated.
    fn string(&mut self) -> Result<&'a str, Error> {
        if !self.eat(b'"') {
            return Err(bad());
        }
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut escapes = false;
        loop {
            match bytes.get(self.pos) {
                None => return Err(bad()),
                Some(b'"') => break,
                Some(b'\\') => {
                    escapes = true;
                    // Skip the escaped byte so `\"` does not end the string; the escape
                    // itself is validated by `decode` below.
                    self.pos += 2;
                }
                Some(_) => self.pos += 1,
            }
        }
        let body = self.text.get(start..self.pos).ok_or_else(bad)?;
        self.pos += 1;
        if escapes {
            decode(body.as_bytes(), |_| {})?;
        } else if body.bytes().any(|b| b < 0x20) {
            return Err(InvalidMessage::ControlCharacter.into());
        }
        Ok(body)
    }

    fn number(&mut self) -> Result<&'a str, Error> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(bad()),
        }
        if self.eat(b'.') {
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad());
            }
            self.digits();
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad());
            }
            self.digits();
        }
        self.text.get(start..self.pos).ok_or_else(bad)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), Error> {
        if self
            .text
            .get(self.pos..)
            .is_some_and(|r| r.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            Err(bad())
        }
    }

    /// One value at `pos`; nested objects and arrays are validated and skipped.
    fn value(&mut self) -> Result<Value<'a>, Error> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'{') => self.nested().map(|()| Value::Object),
            Some(b'[') => self.nested().map(|()| Value::Array),
            _ => Err(bad()),
        }
    }

    /// Skips one nested object or array without recursion: a bit stack records, per level,
    /// whether it is an object (1) or an array (0).
    fn nested(&mut self) -> Result<(), Error> {
        const _: () = assert!(crate::MAX_JSON_DEPTH < u64::BITS as usize);
        // The top-level object is level 1; this value opens level 2.
        let mut stack: u64 = 0;
        let mut depth: usize = 0;
        // Either a value is expected (`expect_value`) or a `,`/closing bracket.
        let mut expect_value = true;
        loop {
            self.ws();
            if expect_value {
                let is_object = match self.peek() {
                    Some(b'{') => true,
                    Some(b'[') => false,
                    _ if depth == 0 => return Err(bad()),
                    _ => {
                        self.value()?;
                        expect_value = false;
                        continue;
                    }
                };
                self.pos += 1;
                depth += 1;
                if depth + 1 > crate::MAX_JSON_DEPTH {
                    return Err(Error::CapacityExceeded {
                        what: Capacity::JsonDepth,
                        limit: crate::MAX_JSON_DEPTH,
                    });
                }
                stack = (stack << 1) | u64::from(is_object);
                self.ws();
                let close = if is_object { b'}' } else { b']' };
                if self.eat(close) {
                    depth -= 1;
                    stack >>= 1;
                    expect_value = false;
                    if depth == 0 {
                        return Ok(());
                    }
                    continue;
                }
                if is_object {
                    self.member_name()?;
                }
                continue;
            }
            let in_object = stack & 1 == 1;
            if self.eat(b',') {
                if in_object {
                    self.ws();
                    self.member_name()?;
                }
                expect_value = true;
                continue;
            }
            let close = if in_object { b'}' } else { b']' };
            if !self.eat(close) {
                return Err(bad());
            }
            depth -= 1;
            stack >>= 1;
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// `"name" :` inside a nested object; leaves `pos` at the value.
    fn member_name(&mut self) -> Result<(), Error> {
        self.string()?;
        self.ws();
        if self.eat(b':') { Ok(()) } else { Err(bad()) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;
    use crate::encode::write_with;

    fn un(s: &str) -> Result<std::string::String, Error> {
        let mut buf = [0u8; 256];
        unescape(s, &mut buf).map(|s| s.to_owned())
    }

    #[test]
    fn s_tok_3_escapes_decoded_exactly() {
        assert_eq!(un(r"abc\/def\u0041").unwrap(), "abc/defA");
        assert_eq!(un(r#"\"\\\/\b\f\n\r\t"#).unwrap(), "\"\\/\u{8}\u{c}\n\r\t");
        assert_eq!(un(r"\ud83d\ude00").unwrap(), "😀");
        assert_eq!(un(r"x\uD83D\uDE00y").unwrap(), "x😀y");
        assert_eq!(un(r"\u00e9\u20ac").unwrap(), "é€");
        assert_eq!(un("plain é").unwrap(), "plain é");
        assert_eq!(un("").unwrap(), "");
    }

    #[test]
    fn s_tok_3_invalid_escapes_rejected() {
        for bad in [
            r"\x",
            r"\",
            r"a\u12",
            r"\u12G4",
            r"\ud83d",
            r"\ud83dx",
            r"\ud83d\u0041",
            r"\ude00",
            r"\ude00\ud83d",
            r"\U0041",
            r"\ud83d\ud83d",
        ] {
            assert_eq!(un(bad), Err(InvalidMessage::BadJsonEscape.into()), "{bad}");
        }
        assert_eq!(un("a\nb"), Err(InvalidMessage::ControlCharacter.into()));
    }

    #[test]
    fn unescape_too_small_writes_nothing() {
        let mut buf = [0xEEu8; 4];
        assert_eq!(
            unescape(r"abc\/def", &mut buf),
            Err(Error::BufferTooSmall { required: 7 })
        );
        assert_eq!(buf, [0xEE; 4]);
        assert_eq!(unescaped_len(r"\ud83d\ude00").unwrap(), 4);
    }

    #[test]
    fn keys_compare_decoded() {
        assert!(Key(r"access\u005ftoken").is("access_token"));
        assert!(Key("access_token").is("access_token"));
        assert!(!Key("access_tokens").is("access_token"));
        assert!(!Key("access_toke").is("access_token"));
        assert!(!Key(r"access\u005").is("access_token"));
    }

    #[test]
    fn s_tok_8_lenient_u64() {
        let ok = |v| lenient_u64(v, "n");
        assert_eq!(ok(Value::Number("3599")), Ok(3599));
        assert_eq!(ok(Value::String("3599")), Ok(3599));
        assert_eq!(ok(Value::Number("18446744073709551615")), Ok(u64::MAX));
        let err = Err(InvalidMessage::NumberOutOfRange("n").into());
        for v in [
            Value::String("3599x"),
            Value::String(""),
            Value::String(" 1"),
            Value::String("-1"),
            Value::String(r"\u0031"),
            Value::Number("-1"),
            Value::Number("1.5"),
            Value::Number("1e3"),
            Value::Number("18446744073709551616"),
            Value::String("18446744073709551616"),
            Value::Bool(true),
            Value::Null,
            Value::Object,
        ] {
            assert_eq!(ok(v), err, "{v:?}");
        }
    }

    fn collect(body: &str) -> Result<Vec<(std::string::String, Value<'_>)>, Error> {
        let mut v = Vec::new();
        members(body.as_bytes(), |k, val| {
            v.push((k.0.to_owned(), val));
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn members_of_valid_objects() {
        let v = collect(
            r#" { "a" : "x\"y" , "b":-1.5e+3,"c":[1,{"d":[]},"]"],"e":{},"f":true,"g":null,"h":false } "#,
        )
        .unwrap();
        assert_eq!(v.len(), 7);
        assert_eq!(v[0].1, Value::String(r#"x\"y"#));
        assert_eq!(v[1].1, Value::Number("-1.5e+3"));
        assert_eq!(v[2].1, Value::Array);
        assert_eq!(v[3].1, Value::Object);
        assert_eq!(v[4].1, Value::Bool(true));
        assert_eq!(v[5].1, Value::Null);
        assert_eq!(collect("{}").unwrap().len(), 0);
    }

    #[test]
    fn members_with_raw_hands_out_nested_text() {
        let body = br#"{"t":"x","payload": {"code":"c\/d"} ,"n":12}"#;
        let mut raws = Vec::new();
        members_with_raw(body, |k, _, raw| {
            raws.push((k.0, raw));
            Ok(())
        })
        .unwrap();
        assert_eq!(raws[0].1, br#""x""#);
        assert_eq!(raws[1].1, br#"{"code":"c\/d"}"#);
        assert_eq!(raws[2].1, b"12");
        let mut code = None;
        members(raws[1].1, |k, v| {
            if k.is("code") {
                code = Some(v);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(code, Some(Value::String(r"c\/d")));
    }

    #[test]
    fn members_reject_invalid_json() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":tru}",
            "{\"a\":1 2}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":[1,]}",
            "{\"a\":[}",
            "{\"a\":{]}",
            "{\"a\":{\"b\"}}",
            "{\"a\":{\"b\":1,}}",
            "{} x",
            "{}{}",
            "{a:1}",
            "{\"a\":'x'}",
            "{\"a\":\"\\q\"}",
            "{\"a\":\"x\ny\"}",
            "{\"a\":[1 2]}",
            "{\"a\":+1}",
        ] {
            assert!(collect(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn s_sec_2_deep_nesting_is_bounded_not_recursive() {
        let mut body = std::string::String::from("{\"a\":");
        body.push_str(&"[".repeat(30_000));
        body.push_str(&"]".repeat(30_000));
        body.push('}');
        assert!(matches!(
            collect(&body),
            Err(Error::CapacityExceeded {
                what: Capacity::JsonDepth,
                ..
            })
        ));
        let depth = crate::MAX_JSON_DEPTH - 1; // the top-level object is one level
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert!(collect(&ok).is_ok());
        let too_deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(depth + 1),
            "]".repeat(depth + 1)
        );
        assert!(collect(&too_deep).is_err());
    }

    /// Pins down why the core does not parse with `serde-json-core` (module docs): if a
    /// future version fixes these, this test fails and the choice can be revisited.
    #[test]
    fn serde_json_core_flaws_that_justify_the_scanner() {
        #[derive(serde::Deserialize)]
        struct T<'a> {
            #[serde(borrow)]
            access_token: Option<serde_json_core::str::EscapedStr<'a>>,
        }
        // A member name written with an escape is the same member to every other parser.
        let (t, _) = serde_json_core::from_slice::<T<'_>>(br#"{"access\u005ftoken":"x"}"#).unwrap();
        assert!(
            t.access_token.is_none(),
            "serde-json-core now decodes member names"
        );
        let mut n = 0;
        members(br#"{"access\u005ftoken":"x"}"#, |k, _| {
            n += usize::from(k.is("access_token"));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        // A surrogate pair is legal JSON; `fragments()` refuses it, `unescape` decodes it.
        let pair = serde_json_core::str::EscapedStr("\\ud83d\\ude00");
        assert!(pair.fragments().any(|f| f.is_err()));
        let mut buf = [0u8; 8];
        assert_eq!(unescape(pair.0, &mut buf).unwrap(), "\u{1F600}");
    }

    proptest::proptest! {
        #[test]
        fn unescape_round_trips_the_json_string_writer(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut enc = [0u8; 4096];
            let n = write_with(&mut enc, |w| { w.json_str(&s); Ok(()) }).unwrap();
            let quoted = core::str::from_utf8(&enc[..n]).unwrap();
            let body = &quoted[1..quoted.len() - 1];
            let mut out = [0u8; 4096];
            proptest::prop_assert_eq!(unescape(body, &mut out).unwrap(), s.as_str());
        }

        #[test]
        fn unescape_never_panics(s in "(\\\\|u|[dD][89aAbBcCdDeEfF]|[0-9a-fA-F]|\"|/|n|x|é|\\PC)*") {
            let mut out = [0u8; 64];
            let r = unescape(&s, &mut out);
            if let Ok(t) = r {
                proptest::prop_assert_eq!(unescaped_len(&s).unwrap(), t.len());
            }
        }

        #[test]
        fn members_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = members(&bytes, |_, _| Ok(()));
        }

        #[test]
        fn members_never_panic_on_jsonish(s in "[{}\\[\\]\",:0-9a-z\\\\ .eE+-]{0,64}") {
            let _ = members(s.as_bytes(), |_, _| Ok(()));
        }
    }
}
