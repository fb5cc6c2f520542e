//! The client's own registration: id, optional secret, redirect URI, scope.

use core::fmt;

use heapless::String;

use crate::error::{ApiMisuse, Capacity, CheckFailed, Error, Name};
use crate::profile::{Web, after, web_authority};
use crate::{MAX_CLIENT_ID_LEN, MAX_SCOPE_LEN, MAX_SECRET_LEN, MAX_URL_LEN, Rule, copied, put};

/// A client registration: who we are to the authorization server.
#[derive(Debug, PartialEq, Eq)]
pub struct Client {
    id: String<MAX_CLIENT_ID_LEN>,
    secret: Option<ClientSecret>,
    redirect_uri: String<MAX_URL_LEN>,
    scope: String<MAX_SCOPE_LEN>,
}

impl Client {
    /// A public client (no secret) with this id and redirect URI and an empty scope.
    ///
    /// The redirect URI must be `https://`, a loopback `http://` URI (RFC 8252 §7.3) or a
    /// private-use scheme with a dot (`com.example.app:/cb`, RFC 8252 §7.1), with no
    /// fragment. It is sent byte-for-byte in both the authorization and the token request
    /// (CB-5).
    ///
    /// Size: compiled once and filled in place, so a call is one small call (the builders
    /// move a 1.2 KB value through `Result`; inlined, every move was a copy at the caller).
    #[inline(never)]
    pub fn new(id: &str, redirect_uri: &str) -> Result<Self, Error> {
        let mut client = Self::EMPTY;
        client.set(Field::Id, id)?;
        client.set(Field::RedirectUri, redirect_uri)?;
        Ok(client)
    }

    /// Makes this a confidential client with this secret (never for a browser, WASM-2).
    pub fn with_secret(self, secret: &str) -> Result<Self, Error> {
        self.with(Field::Secret, secret)
    }

    /// Sets the space-separated scope (e.g. `user-portal:user:*` for CRM portal users).
    pub fn with_scope(self, scope: &str) -> Result<Self, Error> {
        self.with(Field::Scope, scope)
    }

    /// The body of the builders, compiled once. On an error `self` is dropped, so a
    /// half-set field is never seen.
    #[inline(never)]
    fn with(mut self, field: Field, s: &str) -> Result<Self, Error> {
        self.set(field, s)?;
        Ok(self)
    }

    /// Checks `s` against `field`'s rule (else [`ApiMisuse::BadConfig`] naming the field)
    /// and copies it into the field (else [`Error::CapacityExceeded`]).
    #[inline(never)]
    fn set(&mut self, field: Field, s: &str) -> Result<(), Error> {
        let (rule, what) = field.rule();
        let ok = (field == Field::Scope || !s.is_empty())
            && rule.allows(s.as_bytes())
            && (field != Field::RedirectUri || redirect_uri_shape(s.as_bytes())?);
        if !ok {
            return Err(ApiMisuse::BadConfig(what).into());
        }
        let dst = match field {
            Field::Id => self.id.as_mut_view(),
            Field::RedirectUri => self.redirect_uri.as_mut_view(),
            Field::Secret => self
                .secret
                .insert(ClientSecret(String::new()))
                .0
                .as_mut_view(),
            Field::Scope => self.scope.as_mut_view(),
        };
        put(dst, s, Capacity::Config)
    }

    /// No fields set yet: what [`Client::new`] fills in.
    const EMPTY: Self = Self {
        id: String::new(),
        secret: None,
        redirect_uri: String::new(),
        scope: String::new(),
    };

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client secret, if this is a confidential client.
    pub fn secret(&self) -> Option<&ClientSecret> {
        self.secret.as_ref()
    }

    /// The redirect URI.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The scope (may be empty).
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

// Field by field through `crate::copied`: one compiled copy routine for every
// capacity instead of heapless's `Clone` per capacity.
impl Clone for Client {
    fn clone(&self) -> Self {
        Self {
            id: copied(&self.id),
            secret: self.secret.clone(),
            redirect_uri: copied(&self.redirect_uri),
            scope: copied(&self.scope),
        }
    }
}

/// A client secret. `Debug` prints `[redacted]`; there is no `Display` (SEC-1).
#[derive(PartialEq, Eq)]
pub struct ClientSecret(String<MAX_SECRET_LEN>);

impl ClientSecret {
    /// The secret itself, for sending to the token endpoint.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl Clone for ClientSecret {
    fn clone(&self) -> Self {
        Self(copied(&self.0))
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

#[cfg(feature = "zeroize")]
impl Drop for ClientSecret {
    fn drop(&mut self) {
        crate::wipe(&mut self.0);
    }
}

/// A string field of [`Client`], as the builders name it to [`Client::set`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    RedirectUri,
    Secret,
    Scope,
}

/// The rules of [`Client`]'s fields (see [`Client::set`]).
impl Field {
    /// The field's rule and its name in [`ApiMisuse::BadConfig`]: a look-up in a static
    /// table (data, not code).
    fn rule(self) -> (Rule, Name) {
        /// A rule with one banned byte.
        const fn rule(lowest: u8, highest: u8, banned: u8) -> Rule {
            Rule {
                lowest,
                highest,
                banned: [banned, banned],
            }
        }
        /// By [`Field`]: the rule (stored whole, so it is loaded as one word) and the name.
        static RULES: [(Rule, Name); 4] = [
            // One or more visible ASCII characters.
            (rule(0x21, 0x7e, 0x7f), Name::ClientId),
            // No whitespace, control bytes or `#` (then [`redirect_uri_shape`]).
            (rule(0x21, 0xff, b'#'), Name::RedirectUri),
            // No control characters (and, but for the scope, not empty).
            (rule(0x20, 0xff, 0x7f), Name::ClientSecret),
            (rule(0x20, 0xff, 0x7f), Name::Scope),
        ];
        // One entry per variant, indexed by `Field as usize`.
        const _: () = assert!(Field::Scope as usize + 1 == RULES.len());
        RULES[self as usize]
    }
}

/// Whether a redirect URI (already free of whitespace, control bytes and `#`) has an allowed
/// shape: `https://` followed by something other than a path, a loopback `http://`, or a
/// private-use scheme (RFC 8252 §7.1: a reverse domain name, so it has a dot). Another
/// `http://` is [`crate::CheckFailed::InsecureUrl`].
#[allow(clippy::manual_contains)] // reason: size: `<[u8]>::contains` is a 160-byte `memchr` on thumbv7em
fn redirect_uri_shape(uri: &[u8]) -> Result<bool, Error> {
    match web_authority(uri) {
        Web::Secure(_) => Ok(!matches!(
            after(uri, b"https://").map(<[u8]>::first),
            Some(None | Some(b'/'))
        )),
        Web::Loopback => Ok(true),
        Web::Insecure => Err(CheckFailed::InsecureUrl.into()),
        Web::Other => {
            let scheme = uri.split(|&b| b == b':').next().unwrap_or_default();
            Ok(scheme.len() < uri.len()
                && scheme.iter().any(|&b| b == b'.')
                && scheme
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:53123/callback",
            "http://[::1]:1/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(Client::new("id", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "javascript:alert(1)",
            "https://",
            "/relative",
        ] {
            assert!(Client::new("id", bad).is_err(), "{bad}");
        }
    }

    /// The field rules [`Client::set`] applies through the shared [`Rule`].
    #[test]
    fn field_rules() {
        let bad = |what| Err(Error::ApiMisuse(ApiMisuse::BadConfig(what)));
        let base = || Client::new("id", "https://a.example/cb").unwrap();
        for id in ["", "a b", "é", "a\x7f", "a\tb"] {
            assert_eq!(
                Client::new(id, "https://a.example/cb").map(drop),
                bad(crate::Name::ClientId),
                "{id:?}"
            );
        }
        assert!(Client::new("!~", "https://a.example/cb").is_ok());
        for secret in ["", "a\nb", "a\x7f"] {
            assert_eq!(
                base().with_secret(secret).map(drop),
                bad(crate::Name::ClientSecret),
                "{secret:?}"
            );
        }
        assert!(base().with_secret("a b é").is_ok());
        assert_eq!(
            base().with_scope("a\x7f").map(drop),
            bad(crate::Name::Scope)
        );
        assert_eq!(base().with_scope("").unwrap().scope(), "");
        assert_eq!(base().with_scope("a é").unwrap().scope(), "a é");
        for uri in [
            "",
            "https://a.example/c b",
            "https://a.example/é#",
            "com.example.app:/x#",
        ] {
            assert_eq!(
                Client::new("id", uri).map(drop),
                bad(crate::Name::RedirectUri),
                "{uri:?}"
            );
        }
        assert!(Client::new("id", "https://a.example/é").is_ok());
        assert_eq!(
            Client::new("id", "http://app.example.com/cb").map(drop),
            Err(Error::CheckFailed(CheckFailed::InsecureUrl))
        );
        let long = "x".repeat(MAX_CLIENT_ID_LEN + 1);
        assert!(matches!(
            Client::new(&long, "https://a.example/cb"),
            Err(Error::CapacityExceeded { .. })
        ));
    }

    #[test]
    fn s_sec_1_client_secret_debug_is_redacted() {
        let c = Client::new("id", "https://a.example/cb")
            .unwrap()
            .with_secret("hunter2-secret")
            .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }
}
