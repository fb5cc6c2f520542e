//! PKCE (RFC 7636): the code verifier, its challenge and the challenge method.
//!
//! A [`CodeVerifier`] is made from caller-supplied CSPRNG entropy
//! ([`CodeVerifier::from_entropy`], at least [`MIN_ENTROPY`] bytes) or parsed from text
//! ([`CodeVerifier::parse`]); either way it is 43..=128 characters of `[A-Za-z0-9-._~]`
//! (PKCE-1). Its [`CodeChallenge`] goes into the authorization request; the verifier itself
//! goes only into the token request, which takes it by move (PKCE-4), and never into a URL,
//! a log line or `Debug` output (PKCE-5).
//!
//! ```
//! use latchkey_core::pkce::{ChallengeMethod, CodeVerifier};
//!
//! // RFC 7636 Appendix B.
//! let entropy = [
//!     116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
//!     37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
//! ];
//! let verifier = CodeVerifier::from_entropy(&entropy)?;
//! assert_eq!(verifier.secret(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
//! let challenge = verifier.challenge(ChallengeMethod::S256);
//! assert_eq!(challenge.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
//! assert_eq!(challenge.method().as_str(), "S256");
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use core::fmt;

use heapless::String;

use crate::error::{ApiMisuse, Capacity, Error, InvalidMessage};
use crate::put;

/// Fewest entropy bytes a verifier is made from (256 bits; RFC 7636 §7.1, PKCE-1).
pub const MIN_ENTROPY: usize = 32;
/// Most entropy bytes a verifier is made from: 96 bytes encode to [`VERIFIER_MAX_LEN`]
/// characters.
pub const MAX_ENTROPY: usize = 96;
/// Shortest code verifier (RFC 7636 §4.1).
pub const VERIFIER_MIN_LEN: usize = 43;
/// Longest code verifier (RFC 7636 §4.1).
pub const VERIFIER_MAX_LEN: usize = 128;
/// Length of an `S256` code challenge: base64url of a SHA-256 digest, without padding.
pub const S256_CHALLENGE_LEN: usize = 43;

/// Capacity of a [`CodeChallenge`]: a `plain` challenge is the verifier itself.
#[cfg(feature = "pkce-plain")]
const CHALLENGE_CAP: usize = VERIFIER_MAX_LEN;
#[cfg(not(feature = "pkce-plain"))]
const CHALLENGE_CAP: usize = S256_CHALLENGE_LEN;

/// A PKCE code verifier (RFC 7636 §4.1): 43..=128 characters of `[A-Za-z0-9-._~]`.
///
/// It is a secret: `Debug` prints `CodeVerifier([redacted])`, there is no `Display`, and the
/// text is only reachable through [`CodeVerifier::secret`] (PKCE-5). It is not `Clone`: one
/// verifier serves one authorization request and is consumed by the token request that
/// proves it (PKCE-4). With the `zeroize` feature it is wiped from memory on drop.
///
/// It cannot be formatted with `{}`:
/// ```compile_fail,E0277
/// let v = latchkey_core::pkce::CodeVerifier::from_entropy(&[7u8; 32]).unwrap();
/// let _ = format!("{}", v);
/// ```
/// and it cannot be cloned:
/// ```compile_fail,E0599
/// let v = latchkey_core::pkce::CodeVerifier::from_entropy(&[7u8; 32]).unwrap();
/// let _w = v.clone();
/// ```
pub struct CodeVerifier(String<VERIFIER_MAX_LEN>);

impl CodeVerifier {
    /// Makes a verifier from caller-supplied CSPRNG bytes: their base64url encoding without
    /// padding (RFC 7636 §4.1; 32 bytes → 43 characters, 96 bytes → 128).
    ///
    /// Fewer than [`MIN_ENTROPY`] bytes is [`ApiMisuse::NotEnoughEntropy`]. More than
    /// [`MAX_ENTROPY`] bytes is [`Error::CapacityExceeded`] (`Capacity::Entropy`) rather
    /// than a silent truncation: pass exactly the bytes the verifier should use.
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, Error> {
        let mut verifier = Self::empty();
        verifier.fill(entropy).map(|()| verifier)
    }

    /// An empty verifier, only ever a placeholder for [`CodeVerifier::fill`].
    pub(crate) const fn empty() -> Self {
        Self(String::new())
    }

    /// [`CodeVerifier::from_entropy`] in place (no verifier moves through a `Result`). Too
    /// little or too much entropy writes nothing: the lengths are checked first.
    pub(crate) fn fill(&mut self, entropy: &[u8]) -> Result<(), Error> {
        if entropy.len() < MIN_ENTROPY {
            return Err(ApiMisuse::NotEnoughEntropy {
                required: MIN_ENTROPY as u8,
            }
            .into());
        }
        let too_long = Error::CapacityExceeded {
            what: Capacity::Entropy,
            limit: crate::error::limit(MAX_ENTROPY),
        };
        if entropy.len() > MAX_ENTROPY {
            return Err(too_long);
        }
        let mut tmp = [0u8; VERIFIER_MAX_LEN];
        // Unreachable, as `put` failing is: 96 bytes encode to exactly 128 characters
        // (nothing is written to `tmp` when it is too small).
        let result = match crate::encode::base64url(entropy, &mut tmp) {
            Some(text) => put(self.0.as_mut_view(), text, Capacity::Entropy),
            None => Err(too_long),
        };
        #[cfg(feature = "zeroize")]
        zeroize::Zeroize::zeroize(&mut tmp);
        result
    }

    /// Parses a verifier given as text (e.g. restored from storage): 43..=128 characters of
    /// `[A-Za-z0-9-._~]`, else [`InvalidMessage::BadCodeVerifier`] (PKCE-1).
    pub fn parse(s: &str) -> Result<Self, Error> {
        if !(VERIFIER_MIN_LEN..=VERIFIER_MAX_LEN).contains(&s.len())
            || !s.bytes().all(crate::encode::is_unreserved)
        {
            return Err(InvalidMessage::BadCodeVerifier.into());
        }
        let mut text = String::new();
        put(text.as_mut_view(), s, Capacity::Config)
            .map(|()| Self(text))
            .map_err(|_| InvalidMessage::BadCodeVerifier.into())
    }

    /// The verifier text, for the token request only (never a URL, PKCE-5).
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The challenge for this verifier with `method`. Use [`ChallengeMethod::S256`];
    /// `plain` exists only behind the `pkce-plain` feature and only when asked for (PKCE-3).
    pub fn challenge(&self, method: ChallengeMethod) -> CodeChallenge {
        match method {
            ChallengeMethod::S256 => CodeChallenge::s256(self),
            #[cfg(feature = "pkce-plain")]
            ChallengeMethod::Plain => {
                // A verifier always fits: both capacities are VERIFIER_MAX_LEN here.
                let mut bytes = [0u8; CHALLENGE_CAP];
                let v = self.secret().as_bytes();
                let len = match bytes.get_mut(..v.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(v);
                        v.len()
                    }
                    None => 0,
                };
                CodeChallenge {
                    bytes,
                    len,
                    method: ChallengeMethod::Plain,
                }
            }
        }
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

#[cfg(feature = "zeroize")]
impl Drop for CodeVerifier {
    fn drop(&mut self) {
        crate::wipe(&mut self.0);
    }
}

/// A PKCE code challenge (RFC 7636 §4.2), sent in the authorization request. Not secret.
///
/// Held as the ASCII bytes of its base64url text in a fixed array ([`S256_CHALLENGE_LEN`]
/// bytes, or [`VERIFIER_MAX_LEN`] with `pkce-plain`); [`CodeChallenge::as_str`] views them.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    bytes: [u8; CHALLENGE_CAP],
    len: usize,
    method: ChallengeMethod,
}

impl CodeChallenge {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))` without padding: 43 characters (PKCE-2).
    ///
    /// One SHA-256 and one base64url encode straight into the challenge's own array: no
    /// allocation, no copy, no generic code, so it costs what bare `sha2` + `base64` cost
    /// (the UTF-8 view is made only when [`CodeChallenge::as_str`] is called).
    pub fn s256(verifier: &CodeVerifier) -> Self {
        let digest = digest(verifier.secret().as_bytes());
        let mut challenge = Self {
            bytes: [0u8; CHALLENGE_CAP],
            len: 0,
            method: ChallengeMethod::S256,
        };
        // Always Ok(43): 32 bytes encode to 43 characters and the array holds at least 43.
        challenge.len = crate::encode::base64url_into(&digest, &mut challenge.bytes).unwrap_or(0);
        challenge
    }

    /// The challenge text (the `code_challenge` parameter).
    pub fn as_str(&self) -> &str {
        // The bytes are base64url (or, for `plain`, a verifier): always ASCII, so the
        // fallback is unreachable.
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The challenge's bytes, without the UTF-8 view.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The method it was made with (the `code_challenge_method` parameter).
    pub fn method(&self) -> ChallengeMethod {
        self.method
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeChallenge")
            .field("value", &self.as_str())
            .field("method", &self.method)
            .finish()
    }
}

/// SHA-256 of the verifier on 64-bit hosts: sha2's one-shot digest, inlined, which the
/// `pkce_s256` bench holds to its speed goal. Other targets (the firmware size budget) use
/// the core's one shared hasher ([`crate::sha256`]) instead, so only one copy of the hasher
/// is linked; a test holds the two to the same digests.
#[cfg(any(target_pointer_width = "64", test))]
fn digest(verifier: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(verifier).into()
}

/// See the 64-bit [`digest`].
#[cfg(not(target_pointer_width = "64"))]
fn digest(verifier: &[u8]) -> [u8; 32] {
    crate::sha256(&[verifier])
}

/// The PKCE code challenge method (RFC 7636 §4.3).
///
/// [`ChallengeMethod::S256`] is the default and, without the `pkce-plain` feature, the only
/// method. `Plain` sends the verifier itself as the challenge; it exists only with the
/// feature and is never chosen unless the caller names it (PKCE-3, RFC 9700 §2.1.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChallengeMethod {
    /// `S256`: the SHA-256 of the verifier, base64url-encoded.
    #[default]
    S256,
    /// `plain`: the verifier itself. Only for servers that cannot do `S256`.
    #[cfg(feature = "pkce-plain")]
    Plain,
}

impl ChallengeMethod {
    /// The wire name: `"S256"` or `"plain"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            #[cfg(feature = "pkce-plain")]
            Self::Plain => "plain",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    const APP_B_ENTROPY: [u8; 32] = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];

    #[test]
    fn s_pkce_2_rfc7636_appendix_b() {
        let v = CodeVerifier::from_entropy(&APP_B_ENTROPY).unwrap();
        assert_eq!(v.secret(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let c = CodeChallenge::s256(&v);
        assert_eq!(c.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(c.method(), ChallengeMethod::S256);
    }

    #[test]
    fn s_pkce_1_entropy_bounds() {
        assert_eq!(
            CodeVerifier::from_entropy(&[0u8; 31]).unwrap_err(),
            Error::ApiMisuse(ApiMisuse::NotEnoughEntropy { required: 32 })
        );
        assert_eq!(
            CodeVerifier::from_entropy(&[0u8; 32])
                .unwrap()
                .secret()
                .len(),
            43
        );
        assert_eq!(
            CodeVerifier::from_entropy(&[0xFFu8; 96])
                .unwrap()
                .secret()
                .len(),
            128
        );
        assert_eq!(
            CodeVerifier::from_entropy(&[0u8; 97]).unwrap_err(),
            Error::CapacityExceeded {
                what: Capacity::Entropy,
                limit: 96
            }
        );
    }

    proptest::proptest! {
        /// The shared hasher (firmware) and sha2's one-shot digest (64-bit hosts) agree, and
        /// hashing parts is hashing their concatenation.
        #[test]
        fn shared_hasher_matches_sha2(a in proptest::collection::vec(proptest::num::u8::ANY, 0..200), cut in 0usize..200) {
            let (x, y) = a.split_at(cut.min(a.len()));
            proptest::prop_assert_eq!(crate::sha256(&[&a]), digest(&a));
            proptest::prop_assert_eq!(crate::sha256(&[x, y]), digest(&a));
        }
    }

    #[test]
    fn s_pkce_5_debug_is_redacted() {
        let v = CodeVerifier::from_entropy(&APP_B_ENTROPY).unwrap();
        let dbg = format!("{v:?}");
        assert_eq!(dbg, "CodeVerifier([redacted])");
    }
}
