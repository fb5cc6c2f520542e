//! RFC 4226 HOTP / RFC 6238 TOTP (HMAC-SHA-1) and RFC 4648 base32, as authenticator apps use.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// TOTP time step in seconds (RFC 6238 default).
pub const TOTP_STEP: u64 = 30;
/// Digits of the codes the CRM server expects.
pub const TOTP_DIGITS: u32 = 6;

/// RFC 4226 HOTP value with `digits` digits (1..=9; larger values are clamped to 9).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let digits = digits.clamp(1, 9);
    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset],
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10u32.pow(digits)
}

/// RFC 6238 TOTP value at `unix_time` (30 s step, HMAC-SHA-1).
pub fn totp(secret: &[u8], unix_time: u64, digits: u32) -> u32 {
    hotp(secret, unix_time / TOTP_STEP, digits)
}

/// The 6-digit TOTP code at `unix_time`, zero-padded, as an authenticator app shows it.
pub fn totp_code(secret: &[u8], unix_time: u64) -> String {
    format!("{:06}", totp(secret, unix_time, TOTP_DIGITS))
}

/// Checks a 6-digit `code` against the steps `now/30 - window ..= now/30 + window`.
/// Returns the matching time step, or `None`.
pub fn verify_totp(secret: &[u8], code: &str, unix_time: u64, window: u64) -> Option<u64> {
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = unix_time / TOTP_STEP;
    (step.saturating_sub(window)..=step.saturating_add(window))
        .find(|&s| format!("{:06}", hotp(secret, s, TOTP_DIGITS)) == code)
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 (upper case, no padding), the form `otpauth://` URIs carry.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Decodes RFC 4648 base32; case-insensitive, `=` padding and spaces ignored. `None` on any
/// other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes().filter(|&c| c != b'=' && c != b' ') {
        let value = BASE32_ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC6238_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        assert_eq!(totp(RFC6238_KEY, 59, 8), 94_287_082);
        assert_eq!(totp(RFC6238_KEY, 1_111_111_109, 8), 7_081_804);
        assert_eq!(totp(RFC6238_KEY, 1_111_111_111, 8), 14_050_471);
        assert_eq!(totp(RFC6238_KEY, 1_234_567_890, 8), 89_005_924);
        assert_eq!(totp(RFC6238_KEY, 2_000_000_000, 8), 69_279_037);
        assert_eq!(totp(RFC6238_KEY, 20_000_000_000, 8), 65_353_130);
    }

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC6238_KEY, counter as u64, 6), *want);
        }
    }

    #[test]
    fn six_digit_codes_are_zero_padded_and_windowed() {
        // T=59 → 8-digit 94287082 → 6 digits 287082.
        assert_eq!(totp_code(RFC6238_KEY, 59), "287082");
        // RFC 4226 counter 5 → 254676; T = 5*30 = 150.
        let code = totp_code(RFC6238_KEY, 150);
        assert_eq!(code, "254676");
        assert_eq!(verify_totp(RFC6238_KEY, &code, 150, 1), Some(5));
        assert_eq!(verify_totp(RFC6238_KEY, &code, 150 + 30, 1), Some(5));
        assert_eq!(verify_totp(RFC6238_KEY, &code, 150 - 30, 1), Some(5));
        assert_eq!(verify_totp(RFC6238_KEY, &code, 150 + 60, 1), None);
        assert_eq!(verify_totp(RFC6238_KEY, "25467", 150, 1), None);
        assert_eq!(verify_totp(RFC6238_KEY, "25467a", 150, 1), None);
    }

    #[test]
    fn base32_rfc4648_vectors_round_trip() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
        ];
        for (raw, text) in cases {
            assert_eq!(base32_encode(raw), text);
            assert_eq!(base32_decode(text).as_deref(), Some(raw));
        }
        assert_eq!(
            base32_decode("mzxw6ytboi======").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(base32_decode("MZ1"), None);
        assert_eq!(
            base32_encode(RFC6238_KEY),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }
}
