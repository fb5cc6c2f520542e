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

use crate::error::{Capacity, Error, InvalidMessage, Len};

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
        return Err(Error::BufferTooSmall {
            required: Len::new(required),
        });
    };
    let mut st = StrScan::NEW;
    scan_str(escaped.as_bytes(), 0, false, dst, &mut st).ok_or(st.error)?;
    core::str::from_utf8(dst).map_err(|_| InvalidMessage::NotUtf8.into())
}

/// The length in bytes of the decoded form of a JSON string body; validates it like
/// [`unescape`].
#[cfg(feature = "crm")]
pub(crate) fn unescaped_len(escaped: &str) -> Result<usize, Error> {
    let mut st = StrScan::NEW;
    scan_str(escaped.as_bytes(), 0, false, &mut [], &mut st).ok_or(st.error)?;
    Ok(st.written)
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
/// send it, a string of ASCII digits (`"3599"`) (TOK-8, protocol.md §1): `digits` is the
/// number's text or the string's raw text (escapes still in).
///
/// Anything else — negative, fractional or exponent numbers, strings with other characters
/// (signs, spaces, escapes), empty text (the caller's stand-in for booleans and objects) —
/// and values above `u64::MAX` are [`InvalidMessage::NumberOutOfRange`] naming `field`: no
/// wrap, no truncation.
pub(crate) fn lenient_u64(digits: &str, field: crate::Name) -> Result<u64, Error> {
    if digits.is_empty() {
        return Err(InvalidMessage::NumberOutOfRange(field).into());
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        let d = b.wrapping_sub(b'0');
        // Up to `u64::MAX / 10`, `n * 10` cannot overflow (cheaper than a checked 64-bit
        // multiply on 32-bit targets); only the addition is checked then.
        if d > 9 || n > u64::MAX / 10 {
            return Err(InvalidMessage::NumberOutOfRange(field).into());
        }
        n = (n * 10)
            .checked_add(u64::from(d))
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
        let mut st = StrScan::NEW;
        scan_str(self.raw.as_bytes(), 0, false, buf, &mut st)?;
        core::str::from_utf8(buf.get(..st.written)?).ok()
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
    ///
    /// The bytes are valid UTF-8 by construction: the body was checked whole, escapes are
    /// ASCII, so the runs copied between them are whole characters, and each escape decodes
    /// to a Unicode scalar value (never a surrogate; [`encode_utf8`]). A decode that did
    /// not fit wrote nothing here (`n` is past the end). So the check below cannot fail;
    /// without `unsafe` there is no unchecked conversion, and its would-be failure maps to
    /// the empty text instead of an error path.
    #[inline(always)]
    fn take(&mut self, n: usize, control: bool) -> Text<'b> {
        Text {
            text: self.take_str(n),
            len: n,
            control,
        }
    }

    /// The text of [`Scratch::take`]. (Returned in registers, not through memory, where
    /// it is out of line.)
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn take_str(&mut self, n: usize) -> &'b str {
        // No overflow: each decoded string is at most as long as its part of the body.
        self.required += n;
        if self.short || n > self.rest.len() {
            self.short = true;
            return "";
        }
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        let head: &'b [u8] = head;
        core::str::from_utf8(head).unwrap_or_default()
    }

    /// [`Error::BufferTooSmall`] with the total decoded length of every escaped string
    /// asked for, if the buffer was too small for them. (Out of line on 32-bit targets: one
    /// copy for every parser.)
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.short {
            Err(Error::BufferTooSmall {
                required: Len::new(self.required),
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
    #[cfg(target_pointer_width = "64")]
    return visit_fast(body, scratch, v);
    #[cfg(not(target_pointer_width = "64"))]
    return visit_compact(body, scratch, v);
}

/// [`visit`] on 64-bit targets: strings are searched 8 bytes at a time ([`find_special`])
/// and decoded inline in the member loop, for the token-response speed goal (design.md).
#[cfg(any(target_pointer_width = "64", test))]
fn visit_fast<'a, V: Visit<'a>>(
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

/// [`visit`] on 32-bit targets (the firmware the size budget is judged on): one loop over
/// every nesting level (the top-level object included), byte at a time, with one
/// out-of-line string scanner ([`scan_str`]) for names and values. The same grammar, the
/// same results and the same first error as [`visit_fast`] (a differential test checks it),
/// at about half the code: 64-bit word tricks are emulated with register pairs there anyway.
#[cfg(any(not(target_pointer_width = "64"), test))]
fn visit_compact<'a>(
    body: &'a [u8],
    scratch: &mut Scratch<'a>,
    v: &mut dyn Visit<'a>,
) -> Result<(), Error> {
    const _: () = assert!(crate::MAX_JSON_DEPTH <= u32::BITS as usize);
    const _: () = assert!(crate::MAX_JSON_DEPTH >= 1);
    let text = core::str::from_utf8(body).map_err(|_| InvalidMessage::NotUtf8)?;
    // The same bytes: one pointer and length to keep in registers, not two.
    let body = text.as_bytes();
    let at = |i: usize| body.get(i).copied().unwrap_or(0);
    let ws = |mut i: usize| {
        while matches!(at(i), b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    // The open levels, as the nesting depth and the kinds in one word: 0 at the top; else a
    // 1 for the top-level object, then one bit per nested level, innermost lowest (1 for an
    // object, 0 for an array). The depth is the position of the highest bit, plus one.
    let mut stack: u32 = 0;
    let mut pos = 0usize;
    // Where the value of the current top-level member starts; whether the visitor wants it.
    let mut start = 0usize;
    let mut want = false;
    let mut state = Expect::Value;
    // Every syntax error leaves the loop with `break` (one error site).
    'scan: loop {
        pos = ws(pos);
        let c = at(pos);
        if stack == 1 && state == Expect::Value {
            start = pos;
        }
        let value = match (state, c) {
            (Expect::Name | Expect::Value, b'"') if stack != 0 => {
                let decoding = want && stack == 1 && state == Expect::Value;
                let mut st = StrScan::NEW;
                let dst: &mut [u8] = match scratch.short {
                    false if decoding => &mut *scratch.rest,
                    _ => &mut [],
                };
                let end = scan_str(body, pos + 1, true, dst, &mut st).ok_or(st.error)?;
                // Between two quotes: always on character boundaries.
                let raw = text.get(pos + 1..end).unwrap_or_default();
                pos = end + 1;
                if state == Expect::Name {
                    if stack == 1 {
                        want = v.name(Name {
                            raw,
                            escaped: st.escaped,
                        });
                    }
                    pos = ws(pos);
                    if at(pos) != b':' {
                        break;
                    }
                    pos += 1;
                    state = Expect::Value;
                    continue;
                }
                let text = match decoding {
                    false => None,
                    true if !st.escaped => Some(Text {
                        text: raw,
                        len: raw.len(),
                        control: st.control,
                    }),
                    true => Some(scratch.take(st.written, st.control)),
                };
                (Value::String(raw), text)
            }
            (Expect::Value, b'{' | b'[') if stack != 0 || c == b'{' => {
                // Already `MAX_JSON_DEPTH` levels open: bit `MAX_JSON_DEPTH - 1` is set.
                if stack >> (crate::MAX_JSON_DEPTH - 1) != 0 {
                    return Err(Error::CapacityExceeded {
                        what: Capacity::JsonDepth,
                        limit: crate::error::limit(crate::MAX_JSON_DEPTH),
                    });
                }
                let object = c == b'{';
                stack = (stack << 1) | u32::from(object);
                pos = ws(pos + 1);
                // `{` + 2 is `}`, `[` + 2 is `]`.
                if at(pos) != c + 2 {
                    state = if object { Expect::Name } else { Expect::Value };
                    continue;
                }
                pos += 1;
                stack >>= 1;
                (if object { Value::Object } else { Value::Array }, None)
            }
            (Expect::Value, _) if stack != 0 => {
                // A literal, else a number (or nothing valid: `number` fails).
                let value = 'scalar: {
                    let (word, value): (&[u8], _) = match c {
                        b't' => (b"true", Value::Bool(true)),
                        b'f' => (b"false", Value::Bool(false)),
                        b'n' => (b"null", Value::Null),
                        _ => {
                            let Some(end) = number(body, pos) else {
                                break 'scan;
                            };
                            let Some(n) = text.get(pos..end) else {
                                break 'scan;
                            };
                            pos = end;
                            break 'scalar Value::Number(n);
                        }
                    };
                    if !body.get(pos..).is_some_and(|r| r.starts_with(word)) {
                        break 'scan;
                    }
                    pos += word.len();
                    value
                };
                (value, None)
            }
            (Expect::Comma, _) if stack != 0 => {
                let object = stack & 1 == 1;
                if c == b',' {
                    pos += 1;
                    state = if object { Expect::Name } else { Expect::Value };
                    continue;
                }
                if c != if object { b'}' } else { b']' } {
                    break;
                }
                pos += 1;
                stack >>= 1;
                (if object { Value::Object } else { Value::Array }, None)
            }
            (Expect::Comma, _) if pos == body.len() => return Ok(()),
            _ => break,
        };
        state = Expect::Comma;
        if stack == 1 {
            v.value(value.0, body.get(start..pos).unwrap_or_default(), value.1)?;
        }
    }
    Err(bad())
}

/// What [`visit_compact`] expects next.
#[cfg(any(not(target_pointer_width = "64"), test))]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A member name (in an object, after `{` or `,`).
    Name,
    /// A value (after `:` or `,` in an array, `[`, or the start of the body).
    Value,
    /// A `,` or the closing bracket (or, at the top level, the end of the body).
    Comma,
}

/// The end of the JSON number at `b[i]` (RFC 8259 §6), or `None` when it is malformed: a
/// walk over [`NUMBER_DFA`] up to the first byte that cannot extend it (the grammar needs
/// no look-ahead, so this is where [`visit_fast`]'s number ends too).
#[cfg(any(not(target_pointer_width = "64"), test))]
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let mut state = 0u8;
    loop {
        let class = match b.get(i) {
            Some(b'0') => 0,
            Some(b'1'..=b'9') => 1,
            Some(b'-') => 2,
            Some(b'+') => 3,
            Some(b'.') => 4,
            Some(b'e' | b'E') => 5,
            _ => break,
        };
        match NUMBER_DFA
            .get(usize::from(state))
            .and_then(|row| row.get(class))
        {
            Some(&next) if next != DEAD => state = next,
            _ => break,
        }
        i += 1;
    }
    // The states after a digit, where a number may end.
    matches!(state, 2 | 3 | 5 | 8).then_some(i)
}

/// No number goes on with the byte read.
#[cfg(any(not(target_pointer_width = "64"), test))]
const DEAD: u8 = 9;

/// The JSON number grammar as a state machine: `NUMBER_DFA[state][class]` is the next
/// state, for the byte classes `0`, `1`–`9`, `-`, `+`, `.`, `e`/`E`. States: 0 start,
/// 1 after `-`, 2 after a leading `0`, 3 in the integer digits, 4 after `.`, 5 in the
/// fraction digits, 6 after `e`, 7 after the exponent sign, 8 in the exponent digits.
#[cfg(any(not(target_pointer_width = "64"), test))]
const NUMBER_DFA: [[u8; 6]; 9] = {
    const D: u8 = DEAD;
    [
        [2, 3, 1, D, D, D],
        [2, 3, D, D, D, D],
        [D, D, D, D, 4, 6],
        [3, 3, D, D, 4, 6],
        [5, 5, D, D, D, D],
        [5, 5, D, D, D, 6],
        [8, 8, 7, 7, D, D],
        [8, 8, D, D, D, D],
        [8, 8, D, D, D, D],
    ]
};

/// What [`scan_str`] found besides where the string ends.
struct StrScan {
    /// The decoded length in bytes (what was written to `dst`, when it fit).
    written: usize,
    /// Whether the string holds an escape.
    escaped: bool,
    /// Whether it holds a control character (from an escape, or a raw DEL).
    control: bool,
    /// Why the scan failed, when it returned `None`.
    error: InvalidMessage,
}

impl StrScan {
    /// Nothing scanned yet.
    const NEW: Self = Self {
        written: 0,
        escaped: false,
        control: false,
        error: InvalidMessage::BadJson,
    };
}

/// Scans a JSON string body from `s[i]` — up to its closing quote when `quoted` (else to
/// the end of `s`, for an already-isolated body) — decoding escapes into `dst` as [`put`]
/// does (copied if it fits, counted either way; when `quoted`, a string without escapes
/// is only counted). Returns the index of the closing quote (or `s.len()`).
///
/// On failure returns `None` with `st.error`: raw control characters are
/// [`InvalidMessage::ControlCharacter`], bad escapes [`InvalidMessage::BadJsonEscape`], a
/// missing closing quote [`InvalidMessage::BadJson`]. (An `Option` comes back in
/// registers, a `Result<_, Error>` through memory.)
#[inline(never)]
fn scan_str(
    s: &[u8],
    mut i: usize,
    quoted: bool,
    dst: &mut [u8],
    st: &mut StrScan,
) -> Option<usize> {
    let mut run = i;
    loop {
        let Some(&c) = s.get(i) else {
            if quoted {
                st.error = InvalidMessage::BadJson;
                return None;
            }
            break;
        };
        if c == b'"' && quoted {
            break;
        }
        if c < 0x20 {
            st.error = InvalidMessage::ControlCharacter;
            return None;
        }
        if c == b'\\' {
            st.error = InvalidMessage::BadJsonEscape;
            let (code, next) = escape_code(s, i)?;
            st.control |= code < 0x20 || code == 0x7f;
            flush(dst, &mut st.written, s.get(run..i).unwrap_or_default());
            let mut utf8 = [0u8; 4];
            let n = encode_utf8(code, &mut utf8);
            flush(dst, &mut st.written, utf8.get(..n).unwrap_or_default());
            st.escaped = true;
            i = next;
            run = next;
            continue;
        }
        st.control |= c == 0x7f;
        i += 1;
    }
    if st.escaped || !quoted {
        flush(dst, &mut st.written, s.get(run..i).unwrap_or_default());
    }
    Some(i)
}

/// [`put`] out of line, for [`scan_str`] (one copy of it instead of one per call site).
#[inline(never)]
fn flush(dst: &mut [u8], pos: &mut usize, src: &[u8]) {
    put(dst, pos, src);
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

#[cfg(any(target_pointer_width = "64", test))]
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

/// Walks an already-isolated JSON string body and hands decoded UTF-8 chunks (runs of the
/// input, or one decoded character) to `sink` (for [`decodes_to`], which compares names of
/// any length without a buffer).
#[cfg(feature = "crm")]
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
#[cfg(any(target_pointer_width = "64", test, feature = "crm"))]
#[inline(never)]
fn escape(s: &[u8], i: usize) -> Result<(char, usize), Error> {
    escape_char(s, i).ok_or(InvalidMessage::BadJsonEscape.into())
}

/// [`escape`] without the error value.
#[cfg(any(target_pointer_width = "64", test, feature = "crm"))]
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
        b'u' => {
            let (code, next) = unicode_escape(s, i + 2)?;
            return Some((char::from_u32(code)?, next));
        }
        _ => return None,
    };
    Some((c, i + 2))
}

/// The escape sequence at `s[i]` (a `\`): the Unicode scalar value it stands for (never a
/// surrogate) and the index after it; `None` for an unknown escape or a lone or misordered
/// UTF-16 surrogate. Never reads past a `"` that is not itself escaped.
fn escape_code(s: &[u8], i: usize) -> Option<(u32, usize)> {
    // The one-letter escapes and what they stand for, as two parallel tables (a table
    // scan: smaller code than a `match`).
    const LETTERS: &[u8; 8] = b"\"\\/bfnrt";
    const CODES: &[u8; 8] = b"\"\\/\x08\x0c\n\r\t";
    let e = *s.get(i + 1)?;
    if e == b'u' {
        return unicode_escape(s, i + 2);
    }
    let k = LETTERS.iter().position(|&l| l == e)?;
    Some((u32::from(*CODES.get(k)?), i + 2))
}

/// The `XXXX` of a `\uXXXX` at `s[at..]`, with the low half of a surrogate pair.
fn unicode_escape(s: &[u8], at: usize) -> Option<(u32, usize)> {
    let hi = hex4(s, at)?;
    let end = at + 4;
    if hi & 0xF800 != 0xD800 {
        return Some((hi, end));
    }
    // A surrogate: it must be a high one followed by `\u` + a low one.
    if hi >= 0xDC00 || s.get(end..end + 2)? != b"\\u" {
        return None;
    }
    let lo = hex4(s, end + 2)?;
    if lo & 0xFC00 != 0xDC00 {
        return None;
    }
    Some((0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), end + 6))
}

fn hex4(s: &[u8], at: usize) -> Option<u32> {
    let digits = s.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = (v << 4) | char::from(d).to_digit(16)?;
    }
    Some(v)
}

/// Writes the UTF-8 form of the Unicode scalar value `c` to the front of `out` and returns
/// its length (smaller than `char::encode_utf8`, which also checks the buffer).
fn encode_utf8(c: u32, out: &mut [u8; 4]) -> usize {
    let n = match c {
        0..0x80 => 1,
        0x80..0x800 => 2,
        0x800..0x1_0000 => 3,
        _ => 4,
    };
    let mut c = c;
    let mut k = n;
    while k > 1 {
        k -= 1;
        if let Some(b) = out.get_mut(k) {
            *b = 0x80 | (c & 0x3f) as u8;
        }
        c >>= 6;
    }
    // The lead byte: `0xxxxxxx`, `110xxxxx`, `1110xxxx` or `11110xxx`.
    out[0] = (c | if n > 1 { 0xFF00 >> n } else { 0 }) as u8;
    n
}

/// Whether a byte inside a JSON string needs a closer look: the closing quote, an escape,
/// a raw control character (invalid) or DEL (valid, but flagged in [`Text::control`]).
#[cfg(any(target_pointer_width = "64", test))]
#[inline(always)]
fn special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20) | (b == 0x7f)
}

#[cfg(any(target_pointer_width = "64", test))]
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

#[cfg(any(target_pointer_width = "64", test))]
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

#[cfg(any(target_pointer_width = "64", test))]
/// A string the scanner went over.
struct Str<'a> {
    /// The text between the quotes, escapes still in.
    raw: &'a str,
    /// Whether it holds an escape.
    escaped: bool,
    /// The decoded text, when asked for.
    text: Option<Text<'a>>,
}

#[cfg(any(target_pointer_width = "64", test))]
/// An iterative RFC 8259 validator over UTF-8 text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

#[cfg(any(target_pointer_width = "64", test))]
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
            Some(scratch) => Some(scratch.take(written, control)),
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
                        limit: crate::error::limit(crate::MAX_JSON_DEPTH),
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
            Err(Error::BufferTooSmall {
                required: crate::Len::new(7)
            })
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
        // As the token parsers call it: a string's or a number's text, else empty.
        let ok = |v| {
            let text = match v {
                Value::String(s) | Value::Number(s) => s,
                _ => "",
            };
            lenient_u64(text, crate::Name::ExpiresIn)
        };
        assert_eq!(ok(Value::Number("3599")), Ok(3599));
        assert_eq!(ok(Value::String("3599")), Ok(3599));
        assert_eq!(ok(Value::Number("18446744073709551615")), Ok(u64::MAX));
        let err = Err(InvalidMessage::NumberOutOfRange(crate::Name::ExpiresIn).into());
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

    proptest::proptest! {
        /// `lenient_u64` takes exactly the unsigned decimal digit strings `u64::from_str`
        /// takes (the overflow test is exact around `u64::MAX`, leading zeros included).
        #[test]
        fn s_tok_8_lenient_u64_matches_from_str(s in "[0-9]{0,22}|1844674407370955161[0-9]{1,2}|0{0,24}18446744073709551[0-9]{3}|[0-9+ x-]{0,6}") {
            let want = if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u64>().ok()
            } else {
                None
            };
            proptest::prop_assert_eq!(lenient_u64(&s, crate::Name::ExpiresIn).ok(), want);
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
                    required: crate::Len::new(3 + 5 + 2)
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

/// The two scanners side by side: [`visit_fast`] (64-bit) and [`visit_compact`] (32-bit)
/// must agree on every input — the same members handed out, the same decoded texts, the
/// same scratch contents, and the same result or first error.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod compact_tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// One thing a visitor saw.
    #[derive(Debug, PartialEq, Eq)]
    enum Event<'a> {
        Name(Name<'a>, Option<String>),
        Value(Value<'a>, &'a [u8], Option<Text<'a>>),
    }

    /// Records every call; asks for the string values of the members whose bit is set in
    /// `want` (by member number), and fails on a repeated decoded name, like the token
    /// parsers' duplicate check (TOK-8).
    struct Recorder<'a> {
        events: Vec<Event<'a>>,
        want: u64,
        seen: Vec<String>,
        members: u32,
    }

    impl<'a> Visit<'a> for Recorder<'a> {
        fn name(&mut self, name: Name<'a>) -> bool {
            let mut buf = [0u8; NAME_CAP];
            let decoded = name.decoded(&mut buf).map(ToString::to_string);
            self.events.push(Event::Name(name, decoded));
            self.members += 1;
            self.want >> (self.members % 64) & 1 == 1
        }

        fn value(
            &mut self,
            value: Value<'a>,
            raw: &'a [u8],
            text: Option<Text<'a>>,
        ) -> Result<(), Error> {
            self.events.push(Event::Value(value, raw, text));
            if let Some(Event::Name(_, Some(n))) = self.events.iter().rev().nth(1) {
                if self.seen.contains(n) {
                    return Err(InvalidMessage::Duplicate(crate::Name::Member).into());
                }
                let n = n.clone();
                self.seen.push(n);
            }
            Ok(())
        }
    }

    type Outcome = (Result<(), Error>, Vec<String>, Result<(), Error>, Vec<u8>);

    /// Runs one scanner over `body` with a scratch of `cap` bytes.
    fn run(fast: bool, body: &[u8], want: u64, cap: usize) -> Outcome {
        let mut buf = vec![0xA5u8; cap];
        let mut scratch = Scratch::new(&mut buf);
        let mut rec = Recorder {
            events: Vec::new(),
            want,
            seen: Vec::new(),
            members: 0,
        };
        let result = if fast {
            visit_fast(body, &mut scratch, &mut rec)
        } else {
            visit_compact(body, &mut scratch, &mut rec)
        };
        let events = rec.events.iter().map(|e| format!("{e:?}")).collect();
        let finish = scratch.finish();
        (result, events, finish, buf)
    }

    fn agree(body: &[u8], want: u64, cap: usize) -> Outcome {
        let fast = run(true, body, want, cap);
        let compact = run(false, body, want, cap);
        assert_eq!(fast, compact, "{:?}", String::from_utf8_lossy(body));
        fast
    }

    /// Pieces of JSON, valid and not, that the generated bodies are made of.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\n\t",
        r#""a""#,
        r#""b""#,
        r#""access_token""#,
        r#""access\u005ftoken""#,
        r#""x\/y""#,
        r#""\ud83d\ude00""#,
        r#""\uD83D\uDE00z""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83d\u0041""#,
        r#""\u12G4""#,
        r#""\q""#,
        r#""\"\\\/\b\f\n\r\t""#,
        r#""\u0000""#,
        r#""\u007f""#,
        "\"del\x7f\"",
        "\"raw\ncontrol\"",
        r#""é€😀""#,
        r#""unterminated"#,
        "\"\\",
        "0",
        "-0",
        "12",
        "-1.5e+3",
        "1E9",
        "01",
        "1.",
        "-",
        "1e",
        "2.5E-2",
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "fals",
        "x",
        "'s'",
        "\u{0}",
        r#""\u00e9\u20ac""#,
        r#""0123456789abcdefghijklmnopqrstuvwxyz0123456789""#,
    ];

    fn body() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            proptest::collection::vec(0..PIECES.len() + 2, 0..40),
            0usize..40,
        )
            .prop_map(|(open, picks, deep)| {
                let mut s = String::new();
                if open {
                    s.push('{');
                }
                for p in picks {
                    match PIECES.get(p) {
                        Some(piece) => s.push_str(piece),
                        None if p == PIECES.len() => s.push_str(&"[".repeat(deep)),
                        None => s.push_str(&"]".repeat(deep)),
                    }
                }
                s.into_bytes()
            })
    }

    /// Well-formed members with a valid or broken value, so that most bodies get far.
    fn members() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((0..PIECES.len(), 0..PIECES.len(), any::<bool>()), 0..12)
            .prop_map(|ms| {
                let names = [
                    r#""a""#,
                    r#""b""#,
                    r#""a\u0062""#,
                    r#""access_token""#,
                    r#""\ud83d\ude00""#,
                ];
                let mut s = String::from("{");
                for (k, (n, v, comma)) in ms.iter().enumerate() {
                    if k > 0 {
                        s.push(if *comma || k % 5 != 0 { ',' } else { ' ' });
                    }
                    s.push_str(names[n % names.len()]);
                    s.push(':');
                    s.push_str(PIECES[*v]);
                }
                s.push('}');
                s.into_bytes()
            })
    }

    #[test]
    fn compact_agrees_on_the_examples() {
        for body in [
            &br#"{"a":"plain","b":"x\/y\u00e9\ud83d\ude00","c":1,"d":"\n","e":"del"}"#[..],
            br#" { "a" : "x\"y" , "b":-1.5e+3,"c":[1,{"d":[]},"]"],"e":{},"f":true,"g":null,"h":false } "#,
            br#"{"t":"x","payload": {"code":"c\/d"} ,"n":12}"#,
            br#"{"access\u005ftoken":1,"access_token":2}"#,
            br#"{"a":"a\/b","b":"c\/d\/e","c":"f\/"}"#,
            b"{}",
            b" {} ",
            b"",
            b"[]",
            b"\"x\"",
            b"1",
            b"{} x",
            b"{\"a\":1 2}",
            b"\xff{}",
        ] {
            for cap in [0, 3, 8, 10, 64] {
                for want in [0, u64::MAX, 0x5555_5555_5555_5555] {
                    let _ = agree(body, want, cap);
                }
            }
        }
    }

    #[test]
    fn s_sec_2_compact_depth_limit_is_the_same() {
        for depth in [
            crate::MAX_JSON_DEPTH - 2,
            crate::MAX_JSON_DEPTH - 1,
            crate::MAX_JSON_DEPTH,
            30_000,
        ] {
            for open in ["[", "{\"k\":"] {
                let (inner, close) = if open == "[" { ("", "]") } else { ("0", "}") };
                let body = format!(
                    "{{\"a\":{}{inner}{}}}",
                    open.repeat(depth),
                    close.repeat(depth)
                );
                let (result, ..) = agree(body.as_bytes(), u64::MAX, 16);
                let ok = depth < crate::MAX_JSON_DEPTH;
                assert_eq!(result.is_ok(), ok, "{depth}");
                if !ok {
                    assert!(matches!(
                        result,
                        Err(Error::CapacityExceeded {
                            what: Capacity::JsonDepth,
                            ..
                        })
                    ));
                }
            }
        }
    }

    #[test]
    fn compact_reports_every_error_kind() {
        let cases: [(&[u8], Error); 7] = [
            (b"{\"a\":\"\\q\"}", InvalidMessage::BadJsonEscape.into()),
            (b"{\"a\":\"\\ud83d\"}", InvalidMessage::BadJsonEscape.into()),
            (b"{\"a\":\"x\ny\"}", InvalidMessage::ControlCharacter.into()),
            (b"{\"a\":\"x", InvalidMessage::BadJson.into()),
            (b"{\"a\":\xff}", InvalidMessage::NotUtf8.into()),
            (
                b"{\"a\":1,\"a\":2}",
                InvalidMessage::Duplicate(crate::Name::Member).into(),
            ),
            (b"{\"a\":1,}", InvalidMessage::BadJson.into()),
        ];
        for (body, err) in cases {
            assert_eq!(agree(body, u64::MAX, 16).0, Err(err));
        }
        let mut buf = [0u8; 2];
        let mut s = Scratch::new(&mut buf);
        let mut rec = Recorder {
            events: Vec::new(),
            want: u64::MAX,
            seen: Vec::new(),
            members: 0,
        };
        visit_compact(br#"{"a":"x\/y"}"#, &mut s, &mut rec).unwrap();
        assert_eq!(
            s.finish(),
            Err(Error::BufferTooSmall {
                required: crate::Len::new(3)
            })
        );
    }

    /// The byte-at-a-time number scanner [`number`] replaced, as the oracle.
    fn old_number(b: &[u8], mut i: usize) -> Option<usize> {
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let digits = |mut i: usize| {
            if !at(i).is_ascii_digit() {
                return None;
            }
            while at(i).is_ascii_digit() {
                i += 1;
            }
            Some(i)
        };
        if at(i) == b'-' {
            i += 1;
        }
        i = if at(i) == b'0' { i + 1 } else { digits(i)? };
        if at(i) == b'.' {
            i = digits(i + 1)?;
        }
        if at(i) | 0x20 == b'e' {
            i += 1;
            if matches!(at(i), b'+' | b'-') {
                i += 1;
            }
            i = digits(i)?;
        }
        Some(i)
    }

    /// The `char`-based escape decoder [`escape_code`] replaced, as the oracle.
    fn old_escape_char(s: &[u8], i: usize) -> Option<(char, usize)> {
        fn hex4(s: &[u8], at: usize) -> Option<u32> {
            let mut v = 0u32;
            for &d in s.get(at..at + 4)? {
                v = (v << 4) | char::from(d).to_digit(16)?;
            }
            Some(v)
        }
        let c = match s.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let at = i + 2;
                let hi = hex4(s, at)?;
                let mut end = at + 4;
                let code = match hi {
                    0xD800..=0xDBFF => {
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
                return Some((char::from_u32(code)?, end));
            }
            _ => return None,
        };
        Some((c, i + 2))
    }

    #[test]
    fn number_examples() {
        for (text, end) in [
            ("0", Some(1)),
            ("-0", Some(2)),
            ("01", Some(1)),
            ("1.5.3", Some(3)),
            ("1e5e", Some(3)),
            ("-1.5E+3,", Some(7)),
            ("2.5e-2}", Some(6)),
            ("1.", None),
            ("1.e5", None),
            ("-", None),
            ("--1", None),
            ("+1", None),
            ("1e", None),
            ("1e+", None),
            (".5", None),
            ("", None),
            ("x", None),
        ] {
            assert_eq!(number(text.as_bytes(), 0), end, "{text}");
            assert_eq!(old_number(text.as_bytes(), 0), end, "{text}");
        }
    }

    #[test]
    fn encode_utf8_matches_core_for_every_scalar() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut ours = [0u8; 4];
            let n = encode_utf8(c as u32, &mut ours);
            assert_eq!(&ours[..n], c.encode_utf8(&mut [0; 4]).as_bytes(), "{c:?}");
        }
    }

    #[test]
    fn escape_code_matches_the_char_decoder_on_every_short_escape() {
        for b in 0..=u8::MAX {
            let s = [b'\\', b, b'x'];
            let old = old_escape_char(&s, 0).map(|(c, n)| (c as u32, n));
            assert_eq!(escape_code(&s, 0), old, "{b:#x}");
        }
        for hi in (0..=0xFFFF).step_by(7).chain(0xD7F0..0xE010) {
            for tail in [
                "", "x", "\\udc00", "\\uDFFF", "\\ud800", "\\u0041", "\\udc0",
            ] {
                let s = format!("\\u{hi:04x}{tail}");
                let old = old_escape_char(s.as_bytes(), 0).map(|(c, n)| (c as u32, n));
                assert_eq!(escape_code(s.as_bytes(), 0), old, "{s}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn number_matches_the_byte_scanner(s in "[-+.eE0-9x ,]{0,12}", from in 0usize..3) {
            let from = from.min(s.len());
            prop_assert_eq!(number(s.as_bytes(), from), old_number(s.as_bytes(), from));
        }

        #[test]
        fn escape_code_matches_the_char_decoder(s in "(\\\\|u|[dD][89aAbBcCdDeEfF]|[0-9a-fA-F]|[gG\"/bfnrtx ]|\\PC)*", at in 0usize..8) {
            let b = s.as_bytes();
            let old = old_escape_char(b, at).map(|(c, n)| (c as u32, n));
            prop_assert_eq!(escape_code(b, at), old);
            prop_assert_eq!(escape_char(b, at), old_escape_char(b, at));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn compact_agrees_on_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..128), want: u64, cap in 0usize..48) {
            let _ = agree(&b, want, cap);
        }

        #[test]
        fn compact_agrees_on_jsonish(s in "[{}\\[\\]\",:0-9a-z\\\\ .eE+/-]{0,64}", want: u64, cap in 0usize..16) {
            let _ = agree(s.as_bytes(), want, cap);
        }

        #[test]
        fn compact_agrees_on_pieces(b in body(), want: u64, cap in 0usize..64) {
            let _ = agree(&b, want, cap);
        }

        #[test]
        fn compact_agrees_on_members(b in members(), want: u64, cap in 0usize..64) {
            let _ = agree(&b, want, cap);
        }

        #[test]
        fn compact_agrees_on_escaped_strings(s in "\\PC*|[\\x00-\\x7f]*", want: u64, cap in 0usize..64) {
            let mut enc = [0u8; 4096];
            let n = crate::encode::write_with(&mut enc, |w| {
                w.str("{\"k\":");
                w.json_str(&s);
                w.str(",\"k2\":");
                w.json_str(&s);
                w.str("}");
                Ok(())
            }).unwrap();
            let _ = agree(&enc[..n], want, cap);
        }
    }
}
