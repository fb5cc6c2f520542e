//! # latchkey-core
//!
//! The whole OAuth 2.0 client protocol — PKCE, state, authorization URLs, callback and
//! postMessage parsing, token requests and responses — as a `#![no_std]`, allocation-free,
//! safe-code-only (`#![forbid(unsafe_code)]`), sans-IO library. The caller passes bytes, the
//! time and entropy in; the core writes what to send into caller-supplied buffers and parses
//! what came back into borrowed, already-validated types. It never reads a clock, draws
//! randomness or does I/O.
//!
//! It speaks plain RFC 6749/7636 (+ RFC 7009, 8628, 9207), the CRM "Client OAuth" API and
//! Kommo; see [`profile::Profile`].
//!
//! ## Features
//! | feature | default | what it adds |
//! |---|---|---|
//! | `crm` | yes | the CRM "Client OAuth" dialect: [`Profile::crm`], the iframe postMessage flow (`message`) |
//! | `kommo` | yes | the Kommo dialect: [`Profile::kommo`], `referer` validation, the widget install |
//! | `device` | yes | the RFC 8628 device authorization grant |
//! | `password-grant` | no | the CRM password grant and its MFA steps (implies `crm`; RFC 9700 §2.4 discourages it) |
//! | `pkce-plain` | no | the `plain` PKCE method, never chosen unless asked for |
//! | `zeroize` | no | wipe secrets from memory on drop |
//! | `getrandom` | no | draw entropy from the OS (the API always takes bytes too) |
//!
//! Without default features the core is plain RFC 6749: authorization code + PKCE, state and
//! issuer checks, refresh with rotation, revocation and logout, client credentials and
//! snapshots — what firmware that talks to one standard server links.
//!
//! ## Capacities
//! Every bound is a constant below; exceeding one is an error
//! ([`Error::CapacityExceeded`] or [`Error::BufferTooSmall`]), never a truncation or a panic.
//!
//! ## The calling protocol
//! The stateful way in is [`session::Session`]: one state machine that carries a sign-in
//! from the first URL to logout (see its documentation for the calling protocol and the
//! crash-safety contract). Underneath, every message is also available as a stateless
//! function, so a caller can build exactly what it needs:
//!
//! 1. [`state::PendingAuthorization::from_entropy`] turns 48 CSPRNG bytes into a PKCE
//!    verifier and a state bound to it.
//! 2. [`authorize::AuthorizationRequest::write_url`] writes the authorization URL (or
//!    [`message::write_code_request`] the CRM postMessage).
//! 3. [`callback::parse_callback`] + [`callback::Callback::verify`] parse the redirect and
//!    check state, issuer and Kommo `referer` (or [`message::parse_code_reply`]).
//! 4. [`token::TokenRequest`] writes the token request, consuming the verifier.
//! 5. [`token::parse_token_response`] parses the answer, JSON escapes decoded.
//!
//! ```
//! use latchkey_core::authorize::AuthorizationRequest;
//! use latchkey_core::callback::parse_callback;
//! use latchkey_core::http::Response;
//! use latchkey_core::state::PendingAuthorization;
//! use latchkey_core::token::{TokenReply, TokenRequest, parse_token_response};
//! use latchkey_core::{Client, Profile};
//!
//! let profile = Profile::crm("https://portal.example", "https://api.example")?;
//! let client = Client::new("my-app", "https://app.example/cb")?
//!     .with_secret("s3cret")?
//!     .with_scope("user-portal:user:*")?;
//!
//! // 1–2. Fresh secrets for this request (48 bytes from a CSPRNG in real use), then the URL.
//! let pending = PendingAuthorization::from_entropy(&[0x42; 48])?;
//! let challenge = pending.challenge();
//! let mut url = [0u8; 512];
//! let n = AuthorizationRequest::new(&profile, &client, &challenge, pending.state())
//!     .write_url(&mut url)?;
//! assert!(url[..n].starts_with(b"https://portal.example/login?client_id=my-app&scope="));
//!
//! // 3. The browser comes back to the redirect URI with a code and our state.
//! let query = format!("code=SplxlOBeZQQYbYS6WxSbIA&state={}", pending.state().as_str());
//! let mut scratch = [0u8; 256];
//! let verified = parse_callback(query.as_bytes(), &mut scratch)?
//!     .verify(pending.state(), &profile)?;
//! let (code, _kommo_account) = verified.into_parts();
//!
//! // 4. The token request; the verifier is moved into it and cannot be sent twice.
//! let (verifier, _state) = pending.into_parts();
//! let mut buf = [0u8; 1024];
//! let req = TokenRequest::new(&profile, &client)?.authorization_code(code, verifier, &mut buf)?;
//! assert_eq!(req.url, "https://api.example/oauth/token");
//! assert_eq!(req.header("Authorization"), Some("Basic bXktYXBwOnMzY3JldA=="));
//! assert!(req.body.starts_with(br#"{"grant_type":"authorization_code","code":"SplxlOBeZQQYbYS6WxSbIA","code_verifier":""#));
//!
//! // 5. The response, as a PHP server writes it: `\/` and `\u0041` are decoded.
//! let body = br#"{"access_token":"abc\/def\u0041","token_type":"bearer","expires_in":"3599","refresh_token":"r\/1"}"#;
//! let mut scratch = [0u8; 256];
//! let TokenReply::Token(token) = parse_token_response(Response::new(200, body), &mut scratch)? else {
//!     panic!("not a token response");
//! };
//! token.require_bearer()?;
//! assert_eq!(token.access_token_secret(), "abc/defA");
//! assert_eq!(token.refresh_token_secret(), Some("r/1"));
//! assert_eq!(token.expires_in(), Some(3599));
//! # Ok::<(), latchkey_core::Error>(())
//! ```
//!
//! ## Features
//! - `pkce-plain`: the RFC 7636 `plain` method exists (never chosen by default, PKCE-3).
//! - `password-grant`: the CRM password grant and MFA steps (discouraged by RFC 9700 §2.4).
//! - `zeroize`: secrets are wiped from memory on drop.
//! - `getrandom`: `state::PendingAuthorization::generate` draws entropy from the OS (the
//!   API always takes entropy bytes too; needs an OS or a custom getrandom backend).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authorize;
pub mod callback;
pub mod client;
pub mod encode;
pub mod error;
pub mod http;
#[cfg(feature = "crm")]
pub mod message;
pub mod pkce;
pub mod profile;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod token;

mod json;

pub use client::{Client, ClientSecret};
pub use error::{
    ApiMisuse, Capacity, CheckFailed, Error, ErrorKind, HttpStatus, InvalidMessage, Len, Name,
    ServerError, ServerMisbehaved,
};
pub use profile::Profile;

/// Seconds since the Unix epoch, as passed in by the caller. The core never reads a clock.
pub type UnixTime = u64;

/// Longest endpoint URL, redirect URI or issuer (bytes).
pub const MAX_URL_LEN: usize = 256;
/// Longest DNS host name (RFC 1035): a Kommo `referer` or an allowlist suffix.
pub const MAX_HOST_LEN: usize = 253;
/// Most `referer` suffixes a Kommo profile allows.
pub const MAX_ALLOWLIST: usize = 4;
/// Longest client id.
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// Longest client secret.
pub const MAX_SECRET_LEN: usize = 256;
/// Longest scope string.
pub const MAX_SCOPE_LEN: usize = 512;
/// Longest callback query string (the part after `?`), in bytes.
pub const MAX_CALLBACK_LEN: usize = 8192;
/// Longest decoded callback parameter value (`code`, `state`, `iss`, `error_description`…).
pub const MAX_PARAM_LEN: usize = 2048;
/// Longest token (access, refresh, MFA, device code) the parsers accept, after unescaping.
pub const MAX_TOKEN_LEN: usize = 8192;
/// Largest response body the parsers accept (TOK-5).
pub const MAX_RESPONSE_LEN: usize = 32 * 1024;
/// Largest postMessage JSON the parser accepts.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Most extra authorization-request parameters.
pub const MAX_EXTRA_PARAMS: usize = 8;
/// Deepest nesting of JSON objects/arrays the parsers accept (the top-level object counts
/// as one level). Parsing is iterative; the bound keeps hostile bodies cheap.
pub const MAX_JSON_DEPTH: usize = 32;

/// What a configuration string may hold: one compiled check for client ids, secrets,
/// scopes, redirect URIs and endpoint URLs ([`Rule::allows`]). Four bytes, so it is passed
/// in a register.
#[derive(Clone, Copy)]
pub(crate) struct Rule {
    /// The lowest byte allowed.
    pub(crate) lowest: u8,
    /// The highest byte allowed (`0x7e`: ASCII only; `0xff`: UTF-8 text too). `0x7f` is
    /// never allowed.
    pub(crate) highest: u8,
    /// Two more bytes that are not allowed (`0x7f` where there is none).
    pub(crate) banned: [u8; 2],
}

impl Rule {
    /// Whether every byte of `s` follows the rule (an empty `s` does).
    #[inline(never)]
    pub(crate) fn allows(self, s: &[u8]) -> bool {
        let [a, b] = self.banned;
        s.iter()
            .all(|&c| (self.lowest..=self.highest).contains(&c) && c != 0x7f && c != a && c != b)
    }
}

/// The SHA-256 of `parts`, one after the other: the one compiled copy of the hasher, for
/// the PKCE challenge and the snapshot's binding and check.
///
/// Two drivers around sha2's compression function, by target: `sha2::Sha256` on 64-bit
/// hosts (the `pkce_s256` bench), [`sha256_compact`] elsewhere (the firmware size budget).
#[inline(never)]
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    #[cfg(target_pointer_width = "64")]
    {
        sha256_digest(parts)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        sha256_compact(parts)
    }
}

/// [`sha256`] through `sha2::Sha256` (its buffered `Digest` API).
#[cfg(any(target_pointer_width = "64", test))]
fn sha256_digest(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// [`sha256`] with its own block buffer and padding (FIPS 180-4 §5.1.1) around
/// `sha2::block_api::compress256`, one byte at a time: the `Digest` API's buffering and finalisation
/// compile to ≈ 320 bytes on `thumbv7em`, this to about a third of that. Tests compile it
/// everywhere and hold it to `sha2::Sha256` (a differential proptest).
#[cfg(any(not(target_pointer_width = "64"), test))]
fn sha256_compact(parts: &[&[u8]]) -> [u8; 32] {
    /// The initial hash value (FIPS 180-4 §5.3.3).
    const IV: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    /// The chaining value, the block being filled and how much of it is.
    struct Hasher {
        state: [u32; 8],
        block: [u8; 64],
        fill: usize,
    }
    impl Hasher {
        /// Appends a byte, compressing a full block.
        fn push(&mut self, b: u8) {
            if let Some(slot) = self.block.get_mut(self.fill) {
                *slot = b;
            }
            self.fill += 1;
            if self.fill == 64 {
                sha2::block_api::compress256(&mut self.state, core::slice::from_ref(&self.block));
                self.fill = 0;
            }
        }
    }
    let mut h = Hasher {
        state: IV,
        block: [0; 64],
        fill: 0,
    };
    let mut bits = 0u64;
    for part in parts {
        for &b in *part {
            h.push(b);
        }
        bits = bits.wrapping_add((part.len() as u64) << 3);
    }
    // `0x80`, zeros up to 8 bytes before a block's end, then the length in bits.
    h.push(0x80);
    while h.fill != 56 {
        h.push(0);
    }
    for b in bits.to_be_bytes() {
        h.push(b);
    }
    // The digest, big-endian, through the (spent) block buffer.
    for (o, w) in h.block.chunks_exact_mut(4).zip(h.state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    h.block.first_chunk().copied().unwrap_or_default()
}

/// Overwrites a secret string's whole buffer with zeros (the `zeroize` feature).
#[cfg(feature = "zeroize")]
pub(crate) fn wipe<const N: usize>(s: &mut heapless::String<N>) {
    zeroize::Zeroize::zeroize(s);
}

/// Replaces the text of a bounded string with `s`; longer than its capacity →
/// [`Error::CapacityExceeded`] (`what`, limit the capacity).
///
/// Size: one compiled body for every capacity, through heapless's `StringView`, where
/// `String::try_from` and `Clone` are compiled once per capacity (see [`copied`]).
#[inline(never)]
pub(crate) fn put(
    dst: &mut heapless::string::StringView,
    s: &str,
    what: Capacity,
) -> Result<(), Error> {
    dst.clear();
    dst.push_str(s).map_err(|_| Error::CapacityExceeded {
        what,
        limit: crate::error::limit(dst.capacity()),
    })
}

/// A copy of a bounded string made with [`put`]: what `Clone` does, without a body per
/// capacity.
#[inline]
pub(crate) fn copied<const N: usize>(s: &heapless::String<N>) -> heapless::String<N> {
    let mut out = heapless::String::new();
    // Cannot fail: the same capacity.
    let _ = put(out.as_mut_view(), s, Capacity::Config);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    /// FIPS 180-4 examples and the padding edges: 55 bytes (length fits the block), 56
    /// (it does not), 63, 64 and 119/120 (two blocks).
    #[test]
    fn compact_sha256_known_answers_and_padding_edges() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha256_compact(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(sha256_compact(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(sha256_compact(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let data = vec![0x61u8; n];
            assert_eq!(sha256_compact(&[&data]), sha256_digest(&[&data]), "{n}");
        }
    }

    proptest::proptest! {
        /// The compact driver (firmware) and sha2's `Digest` (64-bit hosts) agree on every
        /// input, cut into parts anywhere.
        #[test]
        fn compact_sha256_matches_the_digest_api(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            a in 0usize..300,
            b in 0usize..300,
        ) {
            let (a, b) = (a.min(data.len()), b.min(data.len()));
            let (x, rest) = data.split_at(a.min(b));
            let (y, z) = rest.split_at(a.max(b) - a.min(b));
            proptest::prop_assert_eq!(sha256_compact(&[x, y, z]), sha256_digest(&[&data]));
            proptest::prop_assert_eq!(sha256_compact(&[&data]), sha256_digest(&[x, y, z]));
        }
    }
}
