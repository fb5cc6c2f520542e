//! Crate-private JSON helpers: a strict, iterative, one-pass scanner for the members of a
//! top-level object that decodes the string values its caller asks for as it goes, string
//! unescaping (with UTF-16 surrogate pairs), and lenient-but-exact integers.
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
//! [`visit`] therefore validates the whole body against RFC 8259 iteratively (nesting
//! bounded by [`crate::MAX_JSON_DEPTH`], no recursion; strict scalars; raw control
//! characters, unknown escapes and lone surrogates rejected), and hands each top-level member
//! to a [`Visit`]or: first its [`Name`] (compare it decoded, with [`Name::decoded`]), then its
//! borrowed [`Value`] and, for the members the visitor asked for, the string already decoded
//! ([`Text`]) — borrowed from the body when it holds no escape, else decoded into the
//! caller's [`Scratch`] in the same pass. Each byte of the body is therefore looked at once
//! (plus one UTF-8 check of the whole body and of each decoded string). Callers detect
//! duplicate members (TOK-8) by keeping one slot per known member. [`members`] and
//! [`members_with_raw`] are closure-based front ends that decode nothing. `serde-json-core`
//! is only a dev-dependency, where a test pins down the flaws above.

use crate::error::{Capacity, Error, InvalidMessage};

/// Decodes a JSON string body (the text between the quotes, escapes still in, as in
/// `serde_json_core::str::EscapedStr`) into `out` and returns the decoded text.
///
/// Handles `\" \\ \/ \b \f \n \r \t \uXXXX`, including UTF-16 surrogate pairs
/// (`\ud83d\ude00` → 😀). Lone or misordered surrogates, unknown escapes and raw control
/// characters (RFC 8259 §7 requires them escaped) are [`InvalidMessage::BadJsonEscape`] /
/// [`InvalidMessage::ControlCharacter`]. When the decoded text does not fit, nothing is
/// written and [`Error::BufferTooSmall`] carries the exact length.
#[cfg(feature = "crm")]
pub(crate) fn unescape<'b>(escaped: &str, out: &'b mut [u8]) -> Result<&'b str, Error> {
    let required = unescaped_len(escaped)?;
    let Some(dst) = out.get_mut(..required) else {
        return Err(Error::BufferTooSmall { required });
    };
    let mut pos = 0;
    decode(escaped.as_bytes(), |chunk| put(dst, &mut pos, chunk))?;
    core::str::from_utf8(dst).map_err(|_| InvalidMessage::NotUtf8.into())
}

/// The length in bytes of the decoded form of a JSON string body; validates it like
/// [`unescape`].
#[cfg(feature = "crm")]
pub(crate) fn unescaped_len(escaped: &str) -> Result<usize, Error> {
    let mut n = 0usize;
    decode(escaped.as_bytes(), |chunk| n += chunk.len())?;
    Ok(n)
}

/// Whether the JSON string body `escaped` decodes to exactly `name` (for member names; never
/// fails: an invalid escape simply does not match).
#[cfg(feature = "crm")]
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
/// text from the body (strings with their escapes still in: decode with [`unescape`], or ask
/// [`visit`] for the decoded [`Text`]).
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
#[cfg(feature = "crm")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key<'a>(pub(crate) &'a str);

#[cfg(feature = "crm")]
impl Key<'_> {
    /// Whether the name decodes to exactly `name` (so `"access\u005ftoken"` is
    /// `access_token`, as any other JSON parser would see it).
    pub(crate) fn is(&self, name: &str) -> bool {
        decodes_to(self.0, name)
    }
}

/// The longest decoded member name [`Name::decoded`] hands out; longer names are never one
/// a parser here looks for.
pub(crate) const NAME_CAP: usize = 32;

/// A top-level member name as [`visit`] found it: already validated, escapes still in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Name<'a> {
    /// The raw name (escapes still in).
    #[cfg(feature = "crm")]
    pub(crate) fn raw(&self) -> &'a str {
        self.raw
    }

    /// The decoded name, borrowed from the body when it has no escape, else decoded into
    /// `buf`; `None` when it decodes to more than [`NAME_CAP`] bytes (no name a parser here
    /// reads is that long). Compare the result, never [`Name::raw`], with a known name.
    pub(crate) fn decoded<'s>(&'s self, buf: &'s mut [u8; NAME_CAP]) -> Option<&'s str> {
        if !self.escaped {
            return Some(self.raw);
        }
        let mut pos = 0;
        decode(self.raw.as_bytes(), |chunk| put(buf, &mut pos, chunk)).ok()?;
        core::str::from_utf8(buf.get(..pos)?).ok()
    }
}

/// A decoded string value handed out by [`visit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text<'b> {
    /// The decoded text: borrowed from the body when the string has no escape, else from the
    /// scratch; empty when the scratch ran out (then [`Scratch::finish`] fails).
    pub(crate) text: &'b str,
    /// The decoded length in bytes (also when the scratch ran out).
    pub(crate) len: usize,
    /// Whether the decoded text holds a control character (C0 or DEL; raw C0 characters are
    /// invalid JSON, so these come from escapes or a raw DEL).
    pub(crate) control: bool,
}

/// Where [`visit`] decodes escaped strings: the caller's buffer, consumed front to back.
/// When it runs out, decoding goes on counting so that [`Scratch::finish`] reports the
/// total size needed (what was written before is left as is).
#[derive(Debug)]
pub(crate) struct Scratch<'b> {
    rest: &'b mut [u8],
    required: usize,
    short: bool,
}

impl<'b> Scratch<'b> {
    /// A scratch over `buf`.
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self {
            rest: buf,
            required: 0,
            short: false,
        }
    }

    /// Hands out the `n` bytes just decoded at the front of the buffer (or, when they did
    /// not fit, an empty text and a note to fail in [`Scratch::finish`]).
    fn take(&mut self, n: usize, control: bool) -> Result<Text<'b>, Error> {
        self.required = self.required.saturating_add(n);
        if self.short || n > self.rest.len() {
            self.short = true;
            return Ok(Text {
                text: "",
                len: n,
                control,
            });
        }
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        let head: &'b [u8] = head;
        // The input was valid UTF-8 and split only around ASCII escapes; decoded escapes are
        // whole characters. This check cannot fail, but the core forbids unchecked conversions to skip it.
        let text = core::str::from_utf8(head).map_err(|_| InvalidMessage::NotUtf8)?;
        Ok(Text {
            text,
            len: n,
            control,
        })
    }

    /// [`Error::BufferTooSmall`] with the total decoded length of every escaped string
    /// asked for, if the buffer was too small for them.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.short {
            Err(Error::BufferTooSmall {
                required: self.required,
            })
        } else {
            Ok(())
        }
    }
}

/// What [`visit`] calls for each top-level member, in order.
pub(crate) trait Visit<'a> {
    /// The member's name (validated). Returns whether its value, if it is a string, is to
    /// be decoded and handed to [`Visit::value`] as a [`Text`].
    fn name(&mut self, name: Name<'a>) -> bool;

    /// The member's value, its raw JSON text (already validated; e.g. a nested object to
    /// scan with [`members`] in turn) and, when [`Visit::name`] asked for it and the value
    /// is a string, its decoded text.
    fn value(
        &mut self,
        value: Value<'a>,
        raw: &'a [u8],
        text: Option<Text<'a>>,
    ) -> Result<(), Error>;
}

/// Validates `body` as one JSON object (RFC 8259, optional surrounding whitespace, nothing
/// after it) in one pass, calling `v` for each top-level member and decoding the string
/// values it asks for into `scratch`.
///
/// Nesting deeper than [`crate::MAX_JSON_DEPTH`] is [`Error::CapacityExceeded`]; syntax
/// errors are [`InvalidMessage::BadJson`] (or `BadJsonEscape`, `ControlCharacter`,
/// `NotUtf8`). `v` runs as members are reached, so it may see members of a body that turns
/// out to be invalid later: act on the values only after `visit` returned `Ok`.
pub(crate) fn visit<'a, V: Visit<'a>>(
    body: &'a [u8],
    scratch: &mut Scratch<'a>,
    v: &mut V,
) -> Result<(), Error> {
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
            if s.peek() != Some(b'"') {
                return Err(bad());
            }
            let name = s.string(None)?;
            let want = v.name(Name {
                raw: name.raw,
                escaped: name.escaped,
            });
            s.ws();
            if !s.eat(b':') {
                return Err(bad());
            }
            s.ws();
            let start = s.pos;
            let (value, text) = if s.peek() == Some(b'"') {
                let st = s.string(if want { Some(&mut *scratch) } else { None })?;
                (Value::String(st.raw), st.text)
            } else {
                (s.value()?, None)
            };
            v.value(value, body.get(start..s.pos).unwrap_or_default(), text)?;
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

/// Validates `body` like [`visit`] and calls `f` for each top-level member in order, with
/// its raw name and value; decodes nothing.
#[cfg(feature = "crm")]
pub(crate) fn members<'a, F>(body: &'a [u8], mut f: F) -> Result<(), Error>
where
    F: FnMut(Key<'a>, Value<'a>) -> Result<(), Error>,
{
    members_with_raw(body, |k, v, _| f(k, v))
}

/// Like [`members`], and also hands `f` each value's raw JSON text (e.g. a nested object,
/// to scan with [`members`] in turn; it is already validated).
#[cfg(feature = "crm")]
pub(crate) fn members_with_raw<'a, F>(body: &'a [u8], f: F) -> Result<(), Error>
where
    F: FnMut(Key<'a>, Value<'a>, &'a [u8]) -> Result<(), Error>,
{
    struct Raw<'a, F> {
        f: F,
        key: &'a str,
    }
    impl<'a, F> Visit<'a> for Raw<'a, F>
    where
        F: FnMut(Key<'a>, Value<'a>, &'a [u8]) -> Result<(), Error>,
    {
        fn name(&mut self, name: Name<'a>) -> bool {
            self.key = name.raw();
            false
        }
        fn value(
            &mut self,
            value: Value<'a>,
            raw: &'a [u8],
            _: Option<Text<'a>>,
        ) -> Result<(), Error> {
            (self.f)(Key(self.key), value, raw)
        }
    }
    visit(
        body,
        &mut Scratch::new(Default::default()),
        &mut Raw { f, key: "" },
    )
}

fn bad() -> Error {
    InvalidMessage::BadJson.into()
}

/// Copies `src` to `dst[*pos..]` if it fits (else nothing) and advances `*pos` either way.
#[inline(always)]
fn put(dst: &mut [u8], pos: &mut usize, src: &[u8]) {
    let end = pos.saturating_add(src.len());
    if let Some(d) = dst.get_mut(*pos..end) {
        d.copy_from_slice(src);
    }
    *pos = end;
}

/// Like [`put`] for one character, without a call to `memcpy` for the common ASCII case.
#[inline(always)]
fn put_char(dst: &mut [u8], pos: &mut usize, c: char) {
    if c.is_ascii() {
        if let Some(d) = dst.get_mut(*pos) {
            *d = c as u8;
        }
        *pos += 1;
    } else {
        let mut tmp = [0u8; 4];
        put(dst, pos, c.encode_utf8(&mut tmp).as_bytes());
    }
}

/// The escape-decoding core for already-isolated string bodies: walks a JSON string body
/// and hands decoded UTF-8 chunks (runs of the input, or one decoded character) to `sink`.
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
        let (c, next) = escape(s, i)?;
        let mut tmp = [0u8; 4];
        sink(c.encode_utf8(&mut tmp).as_bytes());
        i = next;
        start = i;
    }
    sink(s.get(start..).unwrap_or_default());
    Ok(())
}

/// The escape sequence at `s[i]` (a `\`): the character it stands for and the index after
/// it. Unknown escapes and lone or misordered UTF-16 surrogates are
/// [`InvalidMessage::BadJsonEscape`]. Never reads past a `"` that is not itself escaped.
///
/// Out of line and returning the crate's `Result`: escapes are rare, and an inlined
/// `Option` turned into an `Error` inside [`Scanner::string`] slows the hot loop down.
#[inline(never)]
fn escape(s: &[u8], i: usize) -> Result<(char, usize), Error> {
    escape_char(s, i).ok_or(InvalidMessage::BadJsonEscape.into())
}

/// [`escape`] without the error value.
fn escape_char(s: &[u8], i: usize) -> Option<(char, usize)> {
    let c = match s.get(i + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode_escape(s, i + 2),
        _ => return None,
    };
    Some((c, i + 2))
}

/// The `XXXX` of a `\uXXXX` at `s[at..]`, with the low half of a surrogate pair.
fn unicode_escape(s: &[u8], at: usize) -> Option<(char, usize)> {
    let hi = hex4(s, at)?;
    let mut end = at + 4;
    let code = match hi {
        0xD800..=0xDBFF => {
            // A high surrogate must be followed by `\u` + a low surrogate.
            if s.get(end..end + 2)? != b"\\u" {
                return None;
            }
            let lo = hex4(s, end + 2)?;
            if !(0xDC00..=0xDFFF).contains(&lo) {
                return None;
            }
            end += 6;
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        }
        _ => hi,
    };
    // `from_u32` refuses a lone low surrogate.
    Some((char::from_u32(code)?, end))
}

fn hex4(s: &[u8], at: usize) -> Option<u32> {
    let digits = s.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = (v << 4) | char::from(d).to_digit(16)?;
    }
    Some(v)
}

/// Whether a byte inside a JSON string needs a closer look: the closing quote, an escape,
/// a raw control character (invalid) or DEL (valid, but flagged in [`Text::control`]).
#[inline(always)]
fn special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20) | (b == 0x7f)
}

/// The index of the first [`special`] byte of `bytes` at or after `i`, or `bytes.len()`.
/// Tests 8 bytes at a time as one 64-bit word (SWAR: portable, safe code only, no early exit
/// inside a word; measured faster here than 16-byte blocks left to auto-vectorisation),
/// then finishes the tail byte by byte.
#[inline(always)]
fn find_special(bytes: &[u8], mut i: usize) -> usize {
    while let Some(word) = bytes.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let m = special_bits(u64::from_le_bytes(*word));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if special(b) {
            return i;
        }
        i += 1;
    }
    i
}

/// For the 8 bytes of `x` (little-endian), a word whose lowest set bit is the high bit of
/// the first [`special`] byte (zero if none). Bits above it may be false positives (borrows
/// only run upwards), so only the lowest one is meaningful.
#[inline(always)]
fn special_bits(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v;
    let quote = zero(x ^ (LO * u64::from(b'"')));
    let backslash = zero(x ^ (LO * u64::from(b'\\')));
    let del = zero(x ^ (LO * 0x7f));
    let below_space = x.wrapping_sub(LO * 0x20) & !x;
    (quote | backslash | del | below_space) & HI
}

/// A string the scanner went over.
struct Str<'a> {
    /// The text between the quotes, escapes still in.
    raw: &'a str,
    /// Whether it holds an escape.
    escaped: bool,
    /// The decoded text, when asked for.
    text: Option<Text<'a>>,
}

/// An iterative RFC 8259 validator over UTF-8 text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    #[inline(always)]
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    #[inline(always)]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The string at `pos` (its opening quote), validated in one pass: escapes are decoded
    /// as they are met (and written to `out`, when given), raw control characters rejected.
    /// With `out`, the result carries the decoded [`Text`]. Inlined into [`visit`]'s hot
    /// loop: out of line, its result comes back through memory, which made the
    /// token-response benchmark about 1.7× slower. Nested and unwanted strings share one
    /// out-of-line copy, [`Scanner::skip_string`].
    #[inline(always)]
    fn string(&mut self, mut out: Option<&mut Scratch<'a>>) -> Result<Str<'a>, Error> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        // Decoding state, used once an escape is met: bytes written (or counted) into
        // `dst`, and the start of the not yet copied run of plain input.
        let decoding = out.is_some();
        let dst: &mut [u8] = match out.as_deref_mut() {
            Some(scratch) if !scratch.short => scratch.rest,
            _ => Default::default(),
        };
        let mut written = 0usize;
        let mut run = start;
        let mut escaped = false;
        let mut control = false;
        loop {
            i = find_special(bytes, i);
            match bytes.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    let (c, next) = escape(bytes, i)?;
                    control |= (c as u32) < 0x20 || c == '\u{7f}';
                    if decoding {
                        put(dst, &mut written, bytes.get(run..i).unwrap_or_default());
                        put_char(dst, &mut written, c);
                    }
                    escaped = true;
                    i = next;
                    run = next;
                }
                Some(0x7f) => {
                    control = true;
                    i += 1;
                }
                Some(_) => return Err(InvalidMessage::ControlCharacter.into()),
                None => return Err(bad()),
            }
        }
        if decoding && escaped {
            put(dst, &mut written, bytes.get(run..i).unwrap_or_default());
        }
        let raw = self.text.get(start..i).ok_or_else(bad)?;
        self.pos = i + 1;
        let text = match out {
            None => None,
            Some(_) if !escaped => Some(Text {
                text: raw,
                len: raw.len(),
                control,
            }),
            Some(scratch) => Some(scratch.take(written, control)?),
        };
        Ok(Str { raw, escaped, text })
    }

    /// A string that is only validated (nested or unwanted): one shared copy of
    /// [`Scanner::string`] without decoding.
    #[inline(never)]
    fn skip_string(&mut self) -> Result<&'a str, Error> {
        self.string(None).map(|s| s.raw)
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
            Some(b'"') => self.skip_string().map(Value::String),
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
        if self.peek() != Some(b'"') {
            return Err(bad());
        }
        self.skip_string()?;
        self.ws();
        if self.eat(b':') { Ok(()) } else { Err(bad()) }
    }
}

#[cfg(all(test, feature = "crm"))] // reason: the tests use the postMessage helpers
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

    /// Visits `body` asking for every string value; returns (raw name, value, text).
    #[allow(clippy::type_complexity)] // reason: tests
    fn visit_all<'a>(
        body: &'a [u8],
        scratch: &mut Scratch<'a>,
    ) -> Result<Vec<(&'a str, Value<'a>, Option<Text<'a>>)>, Error> {
        struct All<'a>(Vec<(&'a str, Value<'a>, Option<Text<'a>>)>, &'a str);
        impl<'a> Visit<'a> for All<'a> {
            fn name(&mut self, name: Name<'a>) -> bool {
                self.1 = name.raw();
                true
            }
            fn value(
                &mut self,
                value: Value<'a>,
                _: &'a [u8],
                text: Option<Text<'a>>,
            ) -> Result<(), Error> {
                self.0.push((self.1, value, text));
                Ok(())
            }
        }
        let mut all = All(Vec::new(), "");
        visit(body, scratch, &mut all)?;
        Ok(all.0)
    }

    #[test]
    fn s_tok_3_visit_decodes_in_one_pass_and_borrows_plain_strings() {
        let body = br#"{"a":"plain","b":"x\/y\u00e9\ud83d\ude00","c":1,"d":"\n","e":"del"}"#;
        let mut buf = [0u8; 64];
        let mut s = Scratch::new(&mut buf);
        let v = visit_all(body, &mut s).unwrap();
        s.finish().unwrap();
        let a = v[0].2.unwrap();
        assert_eq!((a.text, a.len, a.control), ("plain", 5, false));
        // Borrowed from the body: no copy.
        assert!(core::ptr::eq(a.text.as_ptr(), &body[6]));
        let b = v[1].2.unwrap();
        assert_eq!((b.text, b.len, b.control), ("x/yé😀", 9, false));
        assert_eq!(v[1].1, Value::String(r"x\/y\u00e9\ud83d\ude00"));
        assert_eq!(v[2].2, None);
        assert_eq!(v[2].1, Value::Number("1"));
        // TOK-7: a decoded control character and a raw DEL are flagged.
        assert!(v[3].2.unwrap().control);
        assert_eq!(v[3].2.unwrap().text, "\n");
        assert!(v[4].2.unwrap().control);
    }

    #[test]
    fn visit_counts_what_the_scratch_lacks() {
        let body = br#"{"a":"a\/b","b":"c\/d\/e","c":"f\/"}"#;
        for (len, texts) in [(3, ["a/b", "", ""]), (8, ["a/b", "c/d/e", ""])] {
            let mut buf = vec![0u8; len];
            let mut s = Scratch::new(&mut buf);
            let v = visit_all(body, &mut s).unwrap();
            let got: Vec<_> = v.iter().map(|m| m.2.unwrap().text).collect();
            assert_eq!(got, texts);
            assert_eq!(v[1].2.unwrap().len, 5);
            assert_eq!(
                s.finish(),
                Err(Error::BufferTooSmall {
                    required: 3 + 5 + 2
                })
            );
        }
        let mut buf = [0u8; 10];
        let mut s = Scratch::new(&mut buf);
        visit_all(body, &mut s).unwrap();
        s.finish().unwrap();
    }

    #[test]
    fn s_tok_8_names_decode_for_comparison() {
        let body = br#"{"access\u005ftoken":1,"plain":2}"#;
        let mut names = Vec::new();
        struct Names<'v>(&'v mut Vec<std::string::String>);
        impl<'a> Visit<'a> for Names<'_> {
            fn name(&mut self, name: Name<'a>) -> bool {
                let mut buf = [0u8; NAME_CAP];
                self.0.push(name.decoded(&mut buf).unwrap().to_owned());
                false
            }
            fn value(
                &mut self,
                _: Value<'a>,
                _: &'a [u8],
                _: Option<Text<'a>>,
            ) -> Result<(), Error> {
                Ok(())
            }
        }
        visit(body, &mut Scratch::new(&mut []), &mut Names(&mut names)).unwrap();
        assert_eq!(names, ["access_token", "plain"]);
        let long = Name {
            raw: r"\u0061aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            escaped: true,
        };
        assert_eq!(long.decoded(&mut [0u8; NAME_CAP]), None);
    }

    #[test]
    fn find_special_finds_every_kind_at_every_offset() {
        for special_byte in [b'"', b'\\', 0x00, 0x1f, 0x7f] {
            for len in 0..40 {
                for at in 0..len {
                    let mut v = vec![b'a'; len];
                    v[at] = special_byte;
                    // Bytes that look close to special ones but are not.
                    for (k, b) in v.iter_mut().enumerate() {
                        if k > at {
                            *b = [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7e, 0x80, 0xff][k % 8];
                        }
                    }
                    assert_eq!(find_special(&v, 0), at, "{special_byte:#x} {len} {at}");
                }
                let plain: Vec<u8> = (0..len)
                    .map(|k| [0x20, 0x80, 0xa2, 0xdc, 0xff, b'z'][k % 6])
                    .collect();
                assert_eq!(find_special(&plain, 0), len);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn find_special_matches_the_byte_loop(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64), from in 0usize..64) {
            let from = from.min(bytes.len());
            let want = bytes[from..].iter().position(|&b| special(b)).map_or(bytes.len(), |p| from + p);
            proptest::prop_assert_eq!(find_special(&bytes, from), want);
        }

        #[test]
        fn visit_decodes_like_unescape(s in "\\PC*|[\\x00-\\x7f]*", pad in 0usize..8) {
            let mut enc = [0u8; 4096];
            let n = write_with(&mut enc, |w| {
                w.str("{\"k\":");
                w.json_str(&s);
                w.str("}");
                Ok(())
            }).unwrap();
            let body = &enc[..n];
            let mut buf = [0u8; 4096];
            let mut sc = Scratch::new(&mut buf[pad..]);
            let v = visit_all(body, &mut sc).unwrap();
            sc.finish().unwrap();
            let t = v[0].2.unwrap();
            proptest::prop_assert_eq!(t.text, s.as_str());
            proptest::prop_assert_eq!(t.len, s.len());
            proptest::prop_assert_eq!(t.control, s.bytes().any(|b| b < 0x20 || b == 0x7f));
        }

        #[test]
        fn visit_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256), len in 0usize..64) {
            let mut buf = vec![0u8; len];
            let _ = visit_all(&bytes, &mut Scratch::new(&mut buf));
        }

        #[test]
        fn visit_never_panics_on_jsonish(s in "[{}\\[\\]\",:0-9a-z\\\\ .eE+/-]{0,64}", len in 0usize..16) {
            let mut buf = vec![0u8; len];
            let _ = visit_all(s.as_bytes(), &mut Scratch::new(&mut buf));
        }
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
