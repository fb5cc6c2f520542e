//! The `state` parameter (RFC 6749 §10.12) and the verifier + state pair of one
//! authorization request.
//!
//! A [`StateToken`] is made from at least [`STATE_ENTROPY`] bytes (128 bits) of
//! caller-supplied CSPRNG entropy (STATE-1), compared in constant time against what comes
//! back (STATE-2), and is not `Clone`: [`StateToken::consume`] takes it by move, so a state
//! can be checked once and never again (STATE-4). [`PendingAuthorization`] makes the
//! verifier and the state of one request from one entropy block, so the two are bound
//! together (STATE-1, PKCE-4).
//!
//! ```
//! use latchkey_core::state::{AUTHORIZATION_ENTROPY, PendingAuthorization};
//!
//! let entropy = [42u8; AUTHORIZATION_ENTROPY]; // from a CSPRNG in real code
//! let pending = PendingAuthorization::from_entropy(&entropy)?;
//! let state_in_url = pending.state().as_str();
//! assert_eq!(state_in_url.len(), 22);
//! assert!(pending.state().verify(state_in_url).is_ok());
//! assert!(pending.state().verify("forged").is_err());
//! # Ok::<(), latchkey_core::Error>(())
//! ```

use core::fmt;

use heapless::String;
use subtle::ConstantTimeEq as _;

use crate::error::{ApiMisuse, Capacity, CheckFailed, Error, InvalidMessage, Name};
use crate::pkce::{ChallengeMethod, CodeChallenge, CodeVerifier, MIN_ENTROPY};
use crate::put;

/// Fewest entropy bytes a state is made from: 128 bits (STATE-1).
pub const STATE_ENTROPY: usize = 16;
/// Most entropy bytes a state is made from.
pub const MAX_STATE_ENTROPY: usize = 48;
/// Shortest state text: [`STATE_ENTROPY`] bytes in base64url without padding.
pub const MIN_STATE_LEN: usize = 22;
/// Longest state text: [`MAX_STATE_ENTROPY`] bytes in base64url without padding.
pub const MAX_STATE_LEN: usize = 64;
/// Entropy bytes [`PendingAuthorization::from_entropy`] uses: the first
/// [`MIN_ENTROPY`] (32) for the verifier, the next [`STATE_ENTROPY`] (16) for the state.
pub const AUTHORIZATION_ENTROPY: usize = MIN_ENTROPY + STATE_ENTROPY;
// `ApiMisuse::NotEnoughEntropy` carries the entropy sizes in a byte.
const _: () = assert!(AUTHORIZATION_ENTROPY <= u8::MAX as usize);

/// The `state` of one authorization request: at least 128 bits of entropy, base64url
/// without padding (16 bytes → 22 characters, up to 48 bytes → 64 characters).
///
/// It goes into the authorization URL or message (hence [`StateToken::as_str`]), but it is
/// still treated as a secret: `Debug` prints `StateToken([redacted])` and there is no
/// `Display`. It is not `Clone`: a state serves one request and is consumed once
/// (STATE-4). With the `zeroize` feature it is wiped from memory on drop.
///
/// ```compile_fail,E0599
/// let s = latchkey_core::state::StateToken::from_entropy(&[7u8; 16]).unwrap();
/// let _t = s.clone();
/// ```
pub struct StateToken(String<MAX_STATE_LEN>);

impl StateToken {
    /// Makes a state from caller-supplied CSPRNG bytes: their base64url encoding without
    /// padding.
    ///
    /// Fewer than [`STATE_ENTROPY`] bytes is [`ApiMisuse::NotEnoughEntropy`]; more than
    /// [`MAX_STATE_ENTROPY`] is [`Error::CapacityExceeded`] (`Capacity::Entropy`), never a
    /// truncation.
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, Error> {
        let mut state = Self(String::new());
        state.fill(entropy).map(|()| state)
    }

    /// [`StateToken::from_entropy`] in place (no state moves through a `Result`). Too
    /// little or too much entropy writes nothing: the lengths are checked first.
    fn fill(&mut self, entropy: &[u8]) -> Result<(), Error> {
        if entropy.len() < STATE_ENTROPY {
            return Err(ApiMisuse::NotEnoughEntropy {
                required: STATE_ENTROPY as u8,
            }
            .into());
        }
        let too_long = Error::CapacityExceeded {
            what: Capacity::Entropy,
            limit: crate::error::limit(MAX_STATE_ENTROPY),
        };
        if entropy.len() > MAX_STATE_ENTROPY {
            return Err(too_long);
        }
        let mut tmp = [0u8; MAX_STATE_LEN];
        // Unreachable: 48 bytes encode to exactly 64 ASCII characters.
        let result = match crate::encode::base64url(entropy, &mut tmp) {
            Some(text) => {
                crate::put(self.0.as_mut_view(), text, Capacity::Entropy).map_err(|_| too_long)
            }
            None => Err(too_long),
        };
        #[cfg(feature = "zeroize")]
        zeroize::Zeroize::zeroize(&mut tmp);
        result
    }

    /// Parses a state this library made earlier (e.g. restored from a snapshot):
    /// [`MIN_STATE_LEN`]..=[`MAX_STATE_LEN`] characters of the base64url alphabet, else
    /// [`InvalidMessage::BadValue`]`("state")`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidMessage(InvalidMessage::BadValue(Name::State));
        if !(MIN_STATE_LEN..=MAX_STATE_LEN).contains(&s.len())
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
        let mut state = Self(String::new());
        put(state.0.as_mut_view(), s, Capacity::Config).map_err(|_| bad())?;
        Ok(state)
    }

    /// The state text, for the authorization URL or message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a returned state against this one (STATE-2).
    ///
    /// Empty → [`CheckFailed::StateMissing`]; different → [`CheckFailed::StateMismatch`].
    /// Equal-length values are compared in constant time (`subtle`). A length difference
    /// returns early: the length of a state is public (it follows from the entropy size,
    /// which is a documented constant), so this leaks nothing about its bytes.
    ///
    /// This borrows; the session drops the token after one check either way. Use
    /// [`StateToken::consume`] to have the type system enforce single use.
    pub fn verify(&self, received: &str) -> Result<(), Error> {
        if received.is_empty() {
            return Err(CheckFailed::StateMissing.into());
        }
        let ours = self.0.as_bytes();
        let theirs = received.as_bytes();
        if ours.len() != theirs.len() || !bool::from(ct_eq_same_len(ours, theirs)) {
            return Err(CheckFailed::StateMismatch.into());
        }
        Ok(())
    }

    /// Checks a returned state and consumes this token whatever the outcome: after a
    /// success it cannot be replayed (STATE-4), after a failure the pending request is gone
    /// and must start again with a fresh state (STATE-2).
    ///
    /// `None` (no `state` parameter at all) is [`CheckFailed::StateMissing`].
    ///
    /// A consumed state cannot be checked again:
    /// ```compile_fail,E0382
    /// let s = latchkey_core::state::StateToken::from_entropy(&[7u8; 16]).unwrap();
    /// let echoed = String::from(s.as_str());
    /// s.consume(Some(&echoed)).unwrap();
    /// s.verify(&echoed).unwrap(); // error[E0382]: use of moved value
    /// ```
    pub fn consume(self, received: Option<&str>) -> Result<(), Error> {
        self.verify(received.unwrap_or(""))
    }
}

/// Whether two equally long byte strings are equal, in time that depends on their length
/// only (see `words_ct_eq` and `bytes_ct_eq`).
fn ct_eq_same_len(a: &[u8], b: &[u8]) -> subtle::Choice {
    #[cfg(target_pointer_width = "64")]
    let diff = words_ct_eq(a, b);
    #[cfg(not(target_pointer_width = "64"))]
    let diff = bytes_ct_eq(a, b);
    // Different lengths never get here (see `verify`); should they, they differ.
    let len_differs = u64::from(a.len() != b.len());
    (diff | len_differs).ct_eq(&0)
}

/// The OR of `a ^ b` over equally long byte strings, for 64-bit targets: the XOR of every
/// 8-byte word (then of the last eight bytes, which overlap the words when the length is
/// not a multiple of eight, or of every byte of a string shorter than eight) is OR-folded
/// into one `u64` without a branch on the contents. (Byte-wise `subtle` comparison is as
/// safe but sends every byte through an optimisation barrier.) 32-bit targets would
/// emulate the words with register pairs: they use the smaller `bytes_ct_eq`, which
/// tests check against this one.
#[cfg(any(target_pointer_width = "64", test))]
fn words_ct_eq(a: &[u8], b: &[u8]) -> u64 {
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        // Branches on lengths only.
        (Some(x), Some(y)) if !a_tail.is_empty() => {
            diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
        }
        _ => {
            for (x, y) in a_tail.iter().zip(b_tail) {
                diff |= u64::from(x ^ y);
            }
        }
    }
    diff
}

/// `words_ct_eq` byte by byte, for targets other than 64-bit ones (firmware), where size
/// matters more: every byte's XOR OR-folded, without a branch on the contents.
#[cfg(any(not(target_pointer_width = "64"), test))]
fn bytes_ct_eq(a: &[u8], b: &[u8]) -> u64 {
    let diff = a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y));
    u64::from(diff)
}

impl fmt::Debug for StateToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateToken([redacted])")
    }
}

#[cfg(feature = "zeroize")]
impl Drop for StateToken {
    fn drop(&mut self) {
        crate::wipe(&mut self.0);
    }
}

/// The secrets of one authorization request: its PKCE verifier and its state, made from
/// one entropy block so they belong together (STATE-1, PKCE-4).
///
/// Not `Clone`; `Debug` shows neither secret.
#[derive(Debug)]
pub struct PendingAuthorization {
    verifier: CodeVerifier,
    state: StateToken,
}

impl PendingAuthorization {
    /// Makes the verifier from the first 32 bytes of `entropy` and the state from the next
    /// 16 ([`AUTHORIZATION_ENTROPY`] = 48 bytes in all).
    ///
    /// Fewer than 48 bytes is [`ApiMisuse::NotEnoughEntropy`]. Bytes after the first 48 are
    /// not used (the layout is fixed, so this changes no output length).
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, Error> {
        let mut pending = Self::empty();
        pending.fill(entropy).map(|()| pending)
    }

    /// A request with empty secrets, only ever a placeholder for
    /// [`PendingAuthorization::fill`].
    pub(crate) const fn empty() -> Self {
        Self {
            verifier: CodeVerifier::empty(),
            state: StateToken(String::new()),
        }
    }

    /// [`PendingAuthorization::from_entropy`] in place: no verifier or state moves through
    /// a `Result` (the session fills one, then moves it into its state once). Too little
    /// entropy writes nothing: it is checked first, and then nothing else can fail.
    pub(crate) fn fill(&mut self, entropy: &[u8]) -> Result<(), Error> {
        let not_enough = ApiMisuse::NotEnoughEntropy {
            required: AUTHORIZATION_ENTROPY as u8,
        };
        let (v, rest) = entropy.split_at_checked(MIN_ENTROPY).ok_or(not_enough)?;
        let s = rest.get(..STATE_ENTROPY).ok_or(not_enough)?;
        // One error exit for both (not one per `?`).
        self.verifier.fill(v).and_then(|()| self.state.fill(s))
    }

    /// Draws [`AUTHORIZATION_ENTROPY`] bytes from the operating system (`getrandom`) and
    /// calls [`PendingAuthorization::from_entropy`].
    ///
    /// If the OS cannot supply entropy this is [`ApiMisuse::NotEnoughEntropy`]: pass bytes
    /// from another CSPRNG to `from_entropy` instead.
    #[cfg(feature = "getrandom")]
    pub fn generate() -> Result<Self, Error> {
        let mut entropy = [0u8; AUTHORIZATION_ENTROPY];
        let result = match getrandom::fill(&mut entropy) {
            Ok(()) => Self::from_entropy(&entropy),
            Err(_) => Err(ApiMisuse::NotEnoughEntropy {
                required: AUTHORIZATION_ENTROPY as u8,
            }
            .into()),
        };
        #[cfg(feature = "zeroize")]
        zeroize::Zeroize::zeroize(&mut entropy);
        result
    }

    /// The PKCE verifier (for the token request).
    pub fn verifier(&self) -> &CodeVerifier {
        &self.verifier
    }

    /// The state (for the authorization request and the callback check).
    pub fn state(&self) -> &StateToken {
        &self.state
    }

    /// The `S256` challenge of the verifier (for the authorization request).
    pub fn challenge(&self) -> CodeChallenge {
        self.verifier.challenge(ChallengeMethod::S256)
    }

    /// Splits into the verifier and the state, e.g. to move the verifier into the token
    /// request once the state has been checked.
    pub fn into_parts(self) -> (CodeVerifier, StateToken) {
        (self.verifier, self.state)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    #[test]
    fn s_state_1_at_least_128_bits() {
        assert_eq!(
            StateToken::from_entropy(&[1u8; 15]).unwrap_err(),
            Error::ApiMisuse(ApiMisuse::NotEnoughEntropy { required: 16 })
        );
        let a = StateToken::from_entropy(&[1u8; 16]).unwrap();
        assert_eq!(a.as_str().len(), MIN_STATE_LEN);
        assert_eq!(
            StateToken::from_entropy(&[1u8; 48]).unwrap().as_str().len(),
            64
        );
        assert!(StateToken::from_entropy(&[1u8; 49]).is_err());
    }

    #[test]
    fn s_state_2_missing_empty_mismatch() {
        let s = StateToken::from_entropy(&[9u8; 16]).unwrap();
        let good = std::string::String::from(s.as_str());
        assert_eq!(s.verify(""), Err(CheckFailed::StateMissing.into()));
        assert_eq!(s.verify("x"), Err(CheckFailed::StateMismatch.into()));
        let mut flipped = good.clone().into_bytes();
        flipped[21] ^= 1;
        let flipped = std::string::String::from_utf8(flipped).unwrap();
        assert_eq!(s.verify(&flipped), Err(CheckFailed::StateMismatch.into()));
        assert_eq!(s.verify(&good), Ok(()));
        assert_eq!(s.consume(None), Err(CheckFailed::StateMissing.into()));
    }

    #[test]
    fn s_state_2_word_fold_compare_sees_every_bit() {
        // Every length a state can have and more (whole words, tails, both), every byte
        // position, every bit: a single flipped bit anywhere is a mismatch.
        for len in 0..=MAX_STATE_LEN + 9 {
            let a: std::vec::Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert!(bool::from(ct_eq_same_len(&a, &a)), "{len}");
            assert_eq!(words_ct_eq(&a, &a), 0);
            assert_eq!(bytes_ct_eq(&a, &a), 0);
            for pos in 0..len {
                for bit in 0..8 {
                    let mut b = a.clone();
                    b[pos] ^= 1 << bit;
                    assert!(!bool::from(ct_eq_same_len(&a, &b)), "{len} {pos} {bit}");
                    // Both folds, whichever this target uses.
                    assert_ne!(words_ct_eq(&a, &b), 0, "{len} {pos} {bit}");
                    assert_ne!(bytes_ct_eq(&a, &b), 0, "{len} {pos} {bit}");
                }
            }
        }
        assert!(!bool::from(ct_eq_same_len(b"abc", b"ab")));
        // Through `verify`, at every position of a real state.
        let s = StateToken::from_entropy(&[0x5au8; 48]).unwrap();
        let good = s.as_str().as_bytes().to_vec();
        for pos in 0..good.len() {
            let mut bad = good.clone();
            bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
            let bad = std::string::String::from_utf8(bad).unwrap();
            assert_eq!(
                s.verify(&bad),
                Err(CheckFailed::StateMismatch.into()),
                "{pos}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let p = PendingAuthorization::from_entropy(&[3u8; 48]).unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains(p.state().as_str()), "{dbg}");
        assert!(!dbg.contains(p.verifier().secret()), "{dbg}");
    }
}
