//! Encoders that write into caller-supplied buffers: percent-encoding (RFC 3986),
//! `application/x-www-form-urlencoded` (RFC 6749 App. B), JSON strings, base64.
//!
//! Every writer in the core goes through `write_with`: the output is first measured, then
//! written only if it fits, so a too-small buffer gives [`Error::BufferTooSmall`] with the
//! exact size required and *nothing written* (style.md rule 3).

use base64::Engine as _;

use crate::error::{Error, InvalidMessage};

/// Runs `f` once to measure its output and, if it fits in `buf`, once more to write it.
///
/// Returns the number of bytes written. `f` must write the same bytes both times (every
/// encoder in the core is a pure function of its inputs).
pub(crate) fn write_with<F>(buf: &mut [u8], f: F) -> Result<usize, Error>
where
    F: Fn(&mut Writer<'_>) -> Result<(), Error>,
{
    let required = measure(&f)?;
    if required > buf.len() {
        return Err(Error::BufferTooSmall { required });
    }
    let mut w = Writer::new(buf);
    f(&mut w)?;
    Ok(w.len)
}

/// Measures the output of `f` without writing anything.
pub(crate) fn measure<F>(f: &F) -> Result<usize, Error>
where
    F: Fn(&mut Writer<'_>) -> Result<(), Error>,
{
    let mut w = Writer::counting();
    f(&mut w)?;
    Ok(w.len)
}

/// Writes into a byte buffer, or (when counting) only counts.
///
/// Writes past the end of the buffer are counted and dropped; [`write_with`] guarantees
/// they never happen on the writing pass.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    pub(crate) fn counting() -> Writer<'static> {
        Writer {
            buf: &mut [],
            len: 0,
        }
    }

    /// Appends raw bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let end = self.len.saturating_add(b.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(b);
        }
        self.len = end;
    }

    /// Appends a string as is.
    #[inline]
    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = b;
        }
        self.len = self.len.saturating_add(1);
    }

    /// Appends `s` percent-encoded for a URL query component: RFC 3986 unreserved
    /// characters (`A-Z a-z 0-9 - . _ ~`) pass, every other byte becomes `%XX`.
    pub(crate) fn percent(&mut self, s: &str) {
        self.escaped(s.as_bytes(), false);
    }

    /// Appends `s` encoded as `application/x-www-form-urlencoded` (RFC 6749 App. B):
    /// unreserved characters pass, space becomes `+`, everything else `%XX`.
    pub(crate) fn form(&mut self, s: &str) {
        self.escaped(s.as_bytes(), true);
    }

    fn escaped(&mut self, s: &[u8], space_as_plus: bool) {
        let mut start = 0;
        for (i, &b) in s.iter().enumerate() {
            if is_unreserved(b) {
                continue;
            }
            self.bytes(&s[start..i]);
            if b == b' ' && space_as_plus {
                self.byte(b'+');
            } else {
                self.bytes(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            start = i + 1;
        }
        self.bytes(&s[start..]);
    }

    /// Appends `s` as a JSON string literal, quotes included (RFC 8259 §7): `"` and `\`
    /// escaped, control characters as `\u00XX`, `/` left alone.
    pub(crate) fn json_str(&mut self, s: &str) {
        self.byte(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f | 0x7f => {
                    self.bytes(&bytes[start..i]);
                    self.bytes(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            self.bytes(&bytes[start..i]);
            self.bytes(esc);
            start = i + 1;
        }
        self.bytes(&bytes[start..]);
        self.byte(b'"');
    }

    /// Appends `data` as standard base64 with padding (RFC 4648 §4).
    pub(crate) fn base64(&mut self, data: &[u8]) {
        self.base64_with(&base64::engine::general_purpose::STANDARD, data);
    }

    fn base64_with(&mut self, engine: &base64::engine::GeneralPurpose, data: &[u8]) {
        // Encode in chunks of 48 input bytes (64 output bytes) through a stack buffer.
        let mut tmp = [0u8; 64];
        for chunk in data.chunks(48) {
            let n = engine.encode_slice(chunk, &mut tmp).unwrap_or(0);
            self.bytes(&tmp[..n]);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 §2.3 unreserved characters.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes `s` for a URL query component into `buf`; returns the bytes written.
///
/// Unreserved characters (RFC 3986 §2.3) are kept, everything else becomes `%XX`.
pub fn percent_encode(s: &str, buf: &mut [u8]) -> Result<usize, Error> {
    write_with(buf, |w| {
        w.percent(s);
        Ok(())
    })
}

/// Encodes `s` as `application/x-www-form-urlencoded` (RFC 6749 App. B) into `buf`.
///
/// ```
/// let mut buf = [0u8; 64];
/// let n = latchkey_core::encode::form_encode(" %&+£€", &mut buf)?;
/// assert_eq!(&buf[..n], b"+%25%26%2B%C2%A3%E2%82%AC");
/// # Ok::<(), latchkey_core::Error>(())
/// ```
pub fn form_encode(s: &str, buf: &mut [u8]) -> Result<usize, Error> {
    write_with(buf, |w| {
        w.form(s);
        Ok(())
    })
}

/// Decodes a query or form component (`+` is a space, `%XX` a byte) into `buf` and returns
/// the decoded text.
///
/// Bad escapes, NUL and control bytes, and non-UTF-8 results are errors (CB-2); output longer
/// than `buf` is [`Error::BufferTooSmall`].
pub fn form_decode<'b>(s: &[u8], buf: &'b mut [u8]) -> Result<&'b str, Error> {
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        let b = match s[i] {
            b'+' => b' ',
            b'%' => {
                let hi = s.get(i + 1).copied().and_then(hex_value);
                let lo = s.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        i += 2;
                        (hi << 4) | lo
                    }
                    _ => return Err(InvalidMessage::BadPercentEncoding.into()),
                }
            }
            b => b,
        };
        if b < 0x20 || b == 0x7f {
            return Err(InvalidMessage::ControlCharacter.into());
        }
        match buf.get_mut(n) {
            Some(slot) => *slot = b,
            None => {
                return Err(Error::BufferTooSmall {
                    required: decoded_len(s),
                });
            }
        }
        n += 1;
        i += 1;
    }
    core::str::from_utf8(&buf[..n]).map_err(|_| InvalidMessage::NotUtf8.into())
}

/// An upper bound of the decoded length of a form component (exact for well-formed input).
fn decoded_len(s: &[u8]) -> usize {
    let escapes = s.iter().filter(|&&b| b == b'%').count();
    s.len().saturating_sub(escapes * 2)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl Fn(&mut Writer<'_>)) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        let n = write_with(&mut buf, |w| {
            f(w);
            Ok(())
        })
        .unwrap();
        (buf, n)
    }

    #[test]
    fn rfc6749_appendix_b_form_encoding() {
        let (buf, n) = enc(|w| w.form(" %&+£€"));
        assert_eq!(&buf[..n], b"+%25%26%2B%C2%A3%E2%82%AC");
        let mut out = [0u8; 16];
        assert_eq!(form_decode(&buf[..n], &mut out).unwrap(), " %&+£€");
    }

    #[test]
    fn percent_keeps_only_unreserved() {
        let (buf, n) = enc(|w| w.percent("a b&c=d/é~"));
        assert_eq!(&buf[..n], b"a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn base64_long_input_is_chunked_correctly() {
        let data = [0xA5u8; 100];
        let (buf, n) = enc(|w| w.base64(&data));
        let mut expect = [0u8; 200];
        let m = base64::engine::general_purpose::STANDARD
            .encode_slice(data, &mut expect)
            .unwrap();
        assert_eq!(&buf[..n], &expect[..m]);
    }

    #[test]
    fn json_str_escapes_quotes_backslashes_and_controls() {
        let (buf, n) = enc(|w| w.json_str("a\"b\\c\nd\u{1}/"));
        assert_eq!(&buf[..n], br#""a\"b\\c\nd\u0001/""#);
    }

    #[test]
    fn buffer_too_small_reports_required_and_writes_nothing() {
        let mut buf = [0xEEu8; 4];
        let err = form_encode("hello world", &mut buf).unwrap_err();
        assert_eq!(err, Error::BufferTooSmall { required: 11 });
        assert_eq!(buf, [0xEE; 4]);
    }

    #[test]
    fn form_decode_rejects_bad_escapes_and_controls() {
        let mut out = [0u8; 16];
        assert_eq!(
            form_decode(b"a%2", &mut out),
            Err(InvalidMessage::BadPercentEncoding.into())
        );
        assert_eq!(
            form_decode(b"a%zz", &mut out),
            Err(InvalidMessage::BadPercentEncoding.into())
        );
        assert_eq!(
            form_decode(b"a%00", &mut out),
            Err(InvalidMessage::ControlCharacter.into())
        );
        assert_eq!(
            form_decode(b"a%0D%0A", &mut out),
            Err(InvalidMessage::ControlCharacter.into())
        );
        assert_eq!(
            form_decode(b"%FF", &mut out),
            Err(InvalidMessage::NotUtf8.into())
        );
    }

    proptest::proptest! {
        #[test]
        fn form_round_trip(s in "\\PC*") {
            let mut buf = [0u8; 2048];
            let n = form_encode(&s, &mut buf).unwrap();
            let mut out = [0u8; 2048];
            proptest::prop_assert_eq!(form_decode(&buf[..n], &mut out).unwrap(), s.as_str());
        }

        #[test]
        fn form_decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut out = [0u8; 64];
            let _ = form_decode(&bytes, &mut out);
        }
    }
}
