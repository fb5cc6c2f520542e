//! Encoders that write into caller-supplied buffers: percent-encoding (RFC 3986),
//! `application/x-www-form-urlencoded` (RFC 6749 App. B), JSON strings, base64.
//!
//! Every writer in the core goes through `write_with`: the output is first measured, then
//! written only if it fits, so a too-small buffer gives [`Error::BufferTooSmall`] with the
//! exact size required and *nothing written* (style.md rule 3).
//!
//! Size: the two passes run one compiled copy of each encoder closure. `write_with` and
//! `measure` are thin generic shells over non-generic bodies that call the closure through
//! `&dyn Fn`, so a closure is not inlined once per pass, and `Writer` is one non-generic
//! type whose counting mode is just an empty buffer.
//!
//! # Base64
//! On 64-bit hosts `base64url` calls the `base64` crate (a dependency for those targets
//! only), which is what keeps `CodeChallenge::s256` at the `pkce_s256` bench's sha2+base64
//! floor. On other targets the core encodes base64 itself (`Writer::base64_in`, a bit
//! accumulator, ≈ 110 bytes on `thumbv7em`): the crate's encoder is one 1.1 KB unrolled loop
//! there (its `internal_encode`; every engine config shares it, and there is no smaller
//! engine), a fifteenth of the core's 16 KiB firmware budget, spent on four short inputs —
//! a 32-byte digest, 32..=96 and 16..=48 bytes of entropy. `Basic` credentials are
//! streamed through `Writer::base64` on every target (no stack copy of the secret). The own
//! encoder is tested against the crate (a dev-dependency) by differential proptests
//! (standard alphabet padded, URL-safe unpadded, every length up to 190 bytes, exact and
//! one-byte-short buffers).

#[cfg(test)]
use base64::Engine as _;

use crate::error::{Error, InvalidMessage, Len};

/// An encoder closure: writes its output into a [`Writer`] (the same bytes on every call).
pub(crate) type Encoder<'f> = dyn Fn(&mut Writer<'_>) -> Result<(), Error> + 'f;

/// Runs `f` once to measure its output and, if it fits in `buf`, once more to write it.
///
/// Returns the number of bytes written. `f` must write the same bytes both times (every
/// encoder in the core is a pure function of its inputs).
#[inline]
pub(crate) fn write_with<F>(buf: &mut [u8], f: F) -> Result<usize, Error>
where
    F: Fn(&mut Writer<'_>) -> Result<(), Error>,
{
    write_dyn(buf, &f)
}

/// [`write_with`]'s body, compiled once.
#[inline(never)]
fn write_dyn(buf: &mut [u8], f: &Encoder<'_>) -> Result<usize, Error> {
    let required = measure_dyn(f)?;
    let Some(out) = buf.get_mut(..required) else {
        return Err(Error::BufferTooSmall {
            required: Len::new(required),
        });
    };
    f(&mut Writer::new(out))?;
    Ok(required)
}

/// Measures the output of `f` without writing anything.
#[cfg(test)]
pub(crate) fn measure<F>(f: &F) -> Result<usize, Error>
where
    F: Fn(&mut Writer<'_>) -> Result<(), Error>,
{
    measure_dyn(f)
}

/// [`measure`]'s body, compiled once.
#[inline(never)]
pub(crate) fn measure_dyn(f: &Encoder<'_>) -> Result<usize, Error> {
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

    /// The number of bytes written (or counted) so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends raw bytes.
    #[inline(never)]
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

    /// Appends one byte (out of line: every encoder calls it).
    #[inline(never)]
    fn byte(&mut self, b: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = b;
        }
        self.len = self.len.saturating_add(1);
    }

    /// Appends `s` percent-encoded for a URL query component: RFC 3986 unreserved
    /// characters (`A-Z a-z 0-9 - . _ ~`) pass, every other byte becomes `%XX`.
    pub(crate) fn percent(&mut self, s: &str) {
        self.percent_bytes(s.as_bytes());
    }

    /// [`Writer::percent`] on bytes.
    pub(crate) fn percent_bytes(&mut self, s: &[u8]) {
        self.escaped(s, false);
    }

    /// Appends `s` encoded as `application/x-www-form-urlencoded` (RFC 6749 App. B):
    /// unreserved characters pass, space becomes `+`, everything else `%XX`.
    pub(crate) fn form(&mut self, s: &str) {
        self.escaped(s.as_bytes(), true);
    }

    /// Byte by byte: no encoder the core runs through a [`Writer`] is on a hot path (the
    /// authorization URL has its own writer, `authorize::Slice`).
    #[inline(never)]
    fn escaped(&mut self, s: &[u8], space_as_plus: bool) {
        for &b in s {
            if is_unreserved(b) {
                self.byte(b);
            } else if b == b' ' && space_as_plus {
                self.byte(b'+');
            } else {
                self.byte(b'%');
                self.byte(HEX[usize::from(b >> 4)]);
                self.byte(HEX[usize::from(b & 15)]);
            }
        }
    }

    /// Appends `prefix` and `b` as two upper-case hex digits.
    fn hex_escape(&mut self, prefix: u8, b: u8) {
        self.bytes(&[prefix, HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }

    /// Appends `s` as a JSON string literal, quotes included (RFC 8259 §7): `"` and `\`
    /// escaped, control characters as `\u00XX`, `/` left alone.
    #[inline(never)]
    pub(crate) fn json_str(&mut self, s: &str) {
        self.byte(b'"');
        for b in s.bytes() {
            let esc = match b {
                b'"' | b'\\' => b,
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0..=0x1f | 0x7f => {
                    self.bytes(b"\\u0");
                    self.hex_escape(b'0', b);
                    continue;
                }
                _ => {
                    self.byte(b);
                    continue;
                }
            };
            self.byte(b'\\');
            self.byte(esc);
        }
        self.byte(b'"');
    }

    /// Appends `data` as standard base64 with padding (RFC 4648 §4).
    pub(crate) fn base64(&mut self, data: &[u8]) {
        self.base64_in(STANDARD, true, data);
    }

    /// The compact base64 encoder: `data` in `alphabet`, with `=` padding or without
    /// (RFC 4648 §4, §5), one 6-bit group at a time through a bit accumulator.
    #[inline(never)]
    fn base64_in(&mut self, alphabet: &[u8; 64], pad: bool, data: &[u8]) {
        let mut acc = 0u32;
        let mut bits = 0u32;
        for &b in data {
            // Only the low `bits` (at most 12) bits matter; older ones shift out.
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                self.byte(alphabet[((acc >> bits) & 63) as usize]);
            }
        }
        if bits > 0 {
            self.byte(alphabet[((acc << (6 - bits)) & 63) as usize]);
            // 2 bits left → 2 characters so far in the group, 4 bits → 3: `=` for each
            // missing one.
            if pad {
                for _ in 0..(6 - bits) / 2 {
                    self.byte(b'=');
                }
            }
        }
    }
}

/// The standard base64 alphabet (RFC 4648 §4).
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL- and filename-safe base64 alphabet (RFC 4648 §5), for the compact encoder.
#[cfg(any(not(target_pointer_width = "64"), test))]
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Writes `data` as base64url without padding (RFC 4648 §5; RFC 7636 §4.1, §4.2) into
/// `out` and returns the text, or `None` (nothing written) when `out` is too small.
pub(crate) fn base64url<'o>(data: &[u8], out: &'o mut [u8]) -> Option<&'o str> {
    let n = base64url_into(data, out)?;
    // Always ASCII: every byte written comes from the alphabet.
    core::str::from_utf8(out.get(..n)?).ok()
}

/// [`base64url`] without the UTF-8 view: the number of bytes written.
///
/// Two encoders, by target (see the module doc): the `base64` crate on 64-bit hosts, the
/// compact [`Writer::base64_in`] elsewhere. Tests compile both and a differential proptest
/// holds them to the same output.
pub(crate) fn base64url_into(data: &[u8], out: &mut [u8]) -> Option<usize> {
    #[cfg(target_pointer_width = "64")]
    {
        base64url_crate(data, out)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        base64url_compact(data, out)
    }
}

/// [`base64url_into`] through the `base64` crate: it checks the room before writing, so a
/// too-small `out` is `None` with nothing written.
#[cfg(target_pointer_width = "64")]
fn base64url_crate(data: &[u8], out: &mut [u8]) -> Option<usize> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(data, out)
        .ok()
}

/// [`base64url_into`]'s compact encoder (see there).
#[cfg(any(not(target_pointer_width = "64"), test))]
fn base64url_compact(data: &[u8], out: &mut [u8]) -> Option<usize> {
    // 4 characters per whole group of 3 bytes, 2 or 3 for a last group of 1 or 2: ⌈4n/3⌉
    // (saturating: no buffer is that long, so a huge input is `None`).
    let n = data.len().saturating_mul(4).div_ceil(3);
    let mut w = Writer::new(out.get_mut(..n)?);
    w.base64_in(URL_SAFE, false, data);
    Some(n)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 §2.3 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
///
/// Two forms, by target: on 64-bit hosts, compares without branches (so the authorization
/// URL's counting loop vectorises, `authorize_url` bench); elsewhere, one bit of a 128-bit
/// table (a few instructions where it is inlined, for the firmware size budget). Tests
/// compile both and check them against each other on every byte.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    #[cfg(target_pointer_width = "64")]
    {
        is_unreserved_branchless(b)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        is_unreserved_table(b)
    }
}

/// [`is_unreserved`] without branches (see there).
#[cfg(any(target_pointer_width = "64", test))]
#[inline]
fn is_unreserved_branchless(b: u8) -> bool {
    let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    let mark = (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~');
    alpha | digit | mark
}

/// [`is_unreserved`] as a table lookup (see there): bit `b % 32` of word `b / 32`.
#[cfg(any(not(target_pointer_width = "64"), test))]
#[inline]
fn is_unreserved_table(b: u8) -> bool {
    /// Bits for `-` `.` `0-9`; `A-Z` `_`; `a-z` `~`.
    const TABLE: [u32; 4] = [0, 0x03ff_6000, 0x87ff_fffe, 0x47ff_fffe];
    TABLE
        .get(usize::from(b >> 5))
        .is_some_and(|w| (w >> (b & 31)) & 1 != 0)
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
    // `decoded_len` assumes every `%` starts a whole escape; a malformed tail can make it
    // smaller than what was already decoded (all of `buf`), so never report less than one
    // byte more than the buffer holds.
    let required = decoded_len(s).max(buf.len() + 1);
    decode(s, buf, required)
}

/// [`form_decode`] with the same result and the same first error, but reporting `required`
/// as the size a too-small `buf` needs (the callback parser reports its query's length).
pub(crate) fn decode<'b>(s: &[u8], buf: &'b mut [u8], required: usize) -> Result<&'b str, Error> {
    let mut n = 0;
    let mut rest = s;
    // One exit for the three ways to fail.
    let failed = 'fail: {
        while let Some((&c, tail)) = rest.split_first() {
            rest = tail;
            let b = match c {
                b'+' => b' ',
                b'%' => {
                    // Two hex digits, one at a time (a missing one is as bad as a wrong one).
                    let mut v = 0;
                    for _ in 0..2 {
                        let Some((d, tail)) = rest.split_first() else {
                            break 'fail InvalidMessage::BadPercentEncoding.into();
                        };
                        let Some(d) = char::from(*d).to_digit(16) else {
                            break 'fail InvalidMessage::BadPercentEncoding.into();
                        };
                        v = (v << 4) | d;
                        rest = tail;
                    }
                    v as u8
                }
                b => b,
            };
            if b < 0x20 || b == 0x7f {
                break 'fail InvalidMessage::ControlCharacter.into();
            }
            let Some(slot) = buf.get_mut(n) else {
                break 'fail Error::BufferTooSmall {
                    required: Len::new(required),
                };
            };
            *slot = b;
            n += 1;
        }
        // `n` bytes were written, so `get` always succeeds (and compiles to no panic path).
        return core::str::from_utf8(buf.get(..n).unwrap_or_default())
            .map_err(|_| InvalidMessage::NotUtf8.into());
    };
    Err(failed)
}

/// An upper bound of the decoded length of a form component (exact for well-formed input).
fn decoded_len(s: &[u8]) -> usize {
    let escapes = s.iter().filter(|&&b| b == b'%').count();
    s.len().saturating_sub(escapes * 2)
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
    fn base64url_matches_rfc7636_appendix_b() {
        let digest = [
            19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8, 118, 168, 120,
            173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195,
        ];
        let mut out = [0u8; 43];
        assert_eq!(
            base64url(&digest, &mut out),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        assert_eq!(base64url(&digest, &mut [0u8; 42]), None);
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
        assert_eq!(
            err,
            Error::BufferTooSmall {
                required: crate::Len::new(11)
            }
        );
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

    #[test]
    fn form_decode_never_reports_a_size_that_already_fits() {
        // Eleven decoded bytes, then a lone `%`: counting the `%` as a three-byte escape
        // gave `required: 10` for a 10-byte buffer (found by the callback proptest in CI).
        let mut out = [0u8; 10];
        assert_eq!(
            form_decode(b" +&     &  %", &mut out),
            Err(Error::BufferTooSmall {
                required: crate::Len::new(11)
            })
        );
    }

    #[test]
    fn unreserved_table_and_branchless_forms_agree_on_every_byte() {
        for b in 0..=u8::MAX {
            let want = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            assert_eq!(is_unreserved_branchless(b), want, "{b:#x}");
            assert_eq!(is_unreserved_table(b), want, "{b:#x}");
        }
    }

    #[test]
    fn json_str_escapes_every_control_byte() {
        for b in (0u8..0x20).chain([0x7f]) {
            let s = [b'a', b];
            let s = core::str::from_utf8(&s).unwrap();
            let (buf, n) = enc(|w| w.json_str(s));
            let want = match b {
                b'\n' => "\"a\\n\"".to_owned(),
                b'\r' => "\"a\\r\"".to_owned(),
                b'\t' => "\"a\\t\"".to_owned(),
                _ => format!("\"a\\u{b:04X}\""),
            };
            assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
        }
    }

    proptest::proptest! {
        /// The compact base64url encoder agrees with the `base64` crate on every input and
        /// on when `out` is too small (nothing written then).
        #[test]
        fn base64url_compact_encoder_matches_the_crate(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..190),
            room in 0usize..260,
        ) {
            use base64::Engine as _;
            let mut theirs = [0u8; 260];
            let mut compact = [0u8; 260];
            let a = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode_slice(&data, &mut theirs[..room])
                .ok();
            let b = base64url_compact(&data, &mut compact[..room]);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(&theirs[..], &compact[..]);
        }

        #[test]
        fn base64_matches_the_base64_crate(data in proptest::collection::vec(proptest::num::u8::ANY, 0..190)) {
            use base64::Engine as _;
            use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
            let mut theirs = [0u8; 300];
            let m = STANDARD.encode_slice(&data, &mut theirs).unwrap();
            let (ours, n) = enc(|w| w.base64(&data));
            proptest::prop_assert_eq!(&ours[..n], &theirs[..m]);
            let m = URL_SAFE_NO_PAD.encode_slice(&data, &mut theirs).unwrap();
            let mut ours = [0u8; 300];
            let text = base64url(&data, &mut ours).unwrap();
            proptest::prop_assert_eq!(text.as_bytes(), &theirs[..m]);
            // Exactly the room it needs, and one byte less.
            proptest::prop_assert_eq!(base64url_into(&data, &mut ours[..m]), Some(m));
            if m > 0 {
                proptest::prop_assert_eq!(base64url_into(&data, &mut ours[..m - 1]), None);
            }
        }

        /// `form_decode` (now `decode` and a wrapper that sizes a too-small buffer) agrees
        /// with its previous one-piece form on every input and buffer size.
        #[test]
        fn form_decode_agrees_with_its_previous_form(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(b"%+aF0=".to_vec()),
                ],
                0..64,
            ),
            out_len in 0usize..70,
        ) {
            fn hex_value(b: u8) -> Option<u8> {
                char::from(b).to_digit(16).map(|d| d as u8)
            }
            fn previous<'b>(s: &[u8], buf: &'b mut [u8]) -> Result<&'b str, Error> {
                let mut n = 0;
                let mut rest = s;
                while let Some((&c, tail)) = rest.split_first() {
                    rest = tail;
                    let b = match c {
                        b'+' => b' ',
                        b'%' => {
                            let Some((&[hi, lo], tail)) = rest.split_first_chunk::<2>() else {
                                return Err(InvalidMessage::BadPercentEncoding.into());
                            };
                            let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                                return Err(InvalidMessage::BadPercentEncoding.into());
                            };
                            rest = tail;
                            (hi << 4) | lo
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
                                required: Len::new(decoded_len(s).max(n + 1)),
                            });
                        }
                    }
                    n += 1;
                }
                core::str::from_utf8(&buf[..n]).map_err(|_| InvalidMessage::NotUtf8.into())
            }
            let mut a = vec![0u8; out_len];
            let mut b = vec![0u8; out_len];
            proptest::prop_assert_eq!(form_decode(&bytes, &mut a), previous(&bytes, &mut b));
        }

        #[test]
        fn form_round_trip(s in "\\PC*") {
            let mut buf = [0u8; 2048];
            let n = form_encode(&s, &mut buf).unwrap();
            let mut out = [0u8; 2048];
            proptest::prop_assert_eq!(form_decode(&buf[..n], &mut out).unwrap(), s.as_str());
        }

        #[test]
        fn form_decode_never_panics(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(b"%+aF0=".to_vec()),
                ],
                0..256,
            ),
            out_len in 0usize..80,
        ) {
            let mut out = vec![0u8; out_len];
            // A too-small buffer always asks for more than it has.
            if let Err(Error::BufferTooSmall { required }) = form_decode(&bytes, &mut out) {
                proptest::prop_assert!(required > crate::Len::new(out_len), "required {required}, had {out_len}");
            }
        }
    }
}
