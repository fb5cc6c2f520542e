//! The snapshot: a signed-in session as bytes, for adapters to persist.
//!
//! # Format (version 1)
//! All integers big-endian; `str16` is a `u16` length followed by that many UTF-8 bytes.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `LKSS` |
//! | 4 | 1 | format version, `1` |
//! | 5 | 1 | dialect: `1` RFC 6749, `2` CRM, `3` Kommo |
//! | 6 | 8 | binding: first 8 bytes of SHA-256 over dialect, client id and token host |
//! | 14 | 8 | `expires_at`, Unix seconds (`u64::MAX`: never stated) |
//! | 22 | str16 | access token |
//! | … | str16 | refresh token (length 0: none) |
//! | … | str16 | granted scope |
//! | … | str16 | Kommo account host (length 0: none) |
//! | end − 8 | 8 | check: first 8 bytes of SHA-256 over everything before it |
//!
//! [`Session::restore`](crate::session::Session::restore) rejects (LIFE-7): a wrong magic,
//! a short or overlong buffer, a bad length or check, non-UTF-8 text
//! ([`InvalidMessage::BadSnapshot`]); a version other than 1
//! ([`InvalidMessage::SnapshotVersion`], checked before the check bytes, whose layout a
//! future version may change); a binding that does not match the configuration
//! ([`CheckFailed::ForeignSnapshot`]).
//!
//! The check detects corruption, not forgery: the snapshot is as secret as the tokens it
//! holds, and its storage must be protected accordingly (mode 0600, a keyring, …).

use crate::encode::Writer;
use crate::error::{CheckFailed, Error, InvalidMessage, Len};
use crate::profile::{Dialect, Profile};
use crate::session::Config;

/// The magic bytes at the start of every snapshot.
pub const MAGIC: &[u8; 4] = b"LKSS";
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 22;
const CHECK_LEN: usize = 8;

/// The decoded fields of a snapshot, borrowing the snapshot's bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot<'a> {
    pub(crate) access: &'a str,
    pub(crate) refresh: Option<&'a str>,
    pub(crate) expires_at: u64,
    pub(crate) scope: &'a str,
    pub(crate) account: Option<&'a str>,
}

impl<'a> Snapshot<'a> {
    /// Parses and checks a snapshot against the configuration it is restored into.
    pub(crate) fn parse(bytes: &'a [u8], config: &Config) -> Result<Self, Error> {
        let bad = Error::InvalidMessage(InvalidMessage::BadSnapshot);
        let (Some((body, check)), true) = (
            bytes.split_last_chunk::<CHECK_LEN>(),
            bytes.len() >= HEADER_LEN + 4 * 2 + CHECK_LEN,
        ) else {
            return Err(bad);
        };
        let Some((header, mut rest)) = body.split_first_chunk::<HEADER_LEN>() else {
            return Err(bad);
        };
        // Constant positions in a fixed-size header: no bounds checks.
        if header[..4] != *MAGIC {
            return Err(bad);
        }
        if header[4] != VERSION {
            return Err(InvalidMessage::SnapshotVersion.into());
        }
        if sha8(&[body]) != *check {
            return Err(bad);
        }
        if header[5..14] != identity(config) {
            return Err(CheckFailed::ForeignSnapshot.into());
        }
        // Access token, refresh token, scope, account: each a `u16` length and UTF-8 text.
        let mut fields = [""; 4];
        for field in &mut fields {
            *field = str16(&mut rest).ok_or(bad)?;
        }
        let [access, refresh, scope, account] = fields;
        if !rest.is_empty() || access.is_empty() {
            return Err(bad);
        }
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&header[14..]);
        Ok(Self {
            access,
            refresh: (!refresh.is_empty()).then_some(refresh),
            expires_at: u64::from_be_bytes(expires),
            scope,
            account: (!account.is_empty()).then_some(account),
        })
    }
}

/// Writes a snapshot for `config` into `buf` (nothing written when too small).
pub(crate) fn write(snap: &Snapshot<'_>, config: &Config, buf: &mut [u8]) -> Result<usize, Error> {
    let fields = [
        snap.access,
        snap.refresh.unwrap_or(""),
        snap.scope,
        snap.account.unwrap_or(""),
    ];
    let mut required = HEADER_LEN + CHECK_LEN;
    for f in &fields {
        if f.len() > usize::from(u16::MAX) {
            return Err(Error::CapacityExceeded {
                what: crate::Capacity::Token,
                limit: u16::MAX,
            });
        }
        required += 2 + f.len();
    }
    let Some((body, check)) = buf
        .get_mut(..required)
        .and_then(|out| out.split_last_chunk_mut::<CHECK_LEN>())
    else {
        return Err(Error::BufferTooSmall {
            required: Len::new(required),
        });
    };
    // The fixed-size header first, then one write of it.
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = VERSION;
    header[5..14].copy_from_slice(&identity(config));
    header[14..].copy_from_slice(&snap.expires_at.to_be_bytes());
    let mut w = Writer::new(body);
    w.bytes(&header);
    for f in &fields {
        // Lengths were checked above.
        w.bytes(&(f.len() as u16).to_be_bytes());
        w.str(f);
    }
    *check = sha8(&[body]);
    Ok(required)
}

fn dialect_byte(d: Dialect) -> u8 {
    match d {
        Dialect::Rfc6749 => 1,
        Dialect::Crm => 2,
        Dialect::Kommo => 3,
    }
}

/// The dialect byte, then the binding (the first 8 bytes of the SHA-256 over the dialect,
/// client id and token host): what ties a snapshot to its client (header bytes 5..14).
fn identity(config: &Config) -> [u8; 9] {
    let host: &[u8] = match &config.profile {
        Profile::Rfc6749(r) => r.token.as_str().as_bytes(),
        #[cfg(feature = "crm")]
        Profile::Crm(c) => c.api.as_str().as_bytes(),
        #[cfg(feature = "kommo")]
        Profile::Kommo(_) => b"kommo",
    };
    let dialect = dialect_byte(config.profile.dialect());
    let [a, b, c, d, e, f, g, h, ..] =
        crate::sha256(&[&[dialect], config.client.id().as_bytes(), &[0], host]);
    [dialect, a, b, c, d, e, f, g, h]
}

/// The first 8 bytes of the SHA-256 of `parts`, one after the other (the binding, the
/// check).
fn sha8(parts: &[&[u8]]) -> [u8; 8] {
    let [a, b, c, d, e, f, g, h, ..] = crate::sha256(parts);
    [a, b, c, d, e, f, g, h]
}

/// Takes a `str16` (a `u16` length, then that many UTF-8 bytes) off the front of `rest`.
fn str16<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    let (s, tail) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
    *rest = tail;
    core::str::from_utf8(s).ok()
}
