//! The client's own registration: id, optional secret, redirect URI, scope.

use core::fmt;

use heapless::String;
use heapless::string::StringView;

use crate::error::{ApiMisuse, Capacity, Error};
use crate::profile::{after, web_authority};
use crate::{MAX_CLIENT_ID_LEN, MAX_SCOPE_LEN, MAX_SECRET_LEN, MAX_URL_LEN, copied, put};

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
    pub fn new(id: &str, redirect_uri: &str) -> Result<Self, Error> {
        check(id, Rule::ID, "client_id")?;
        validate_redirect_uri(redirect_uri.as_bytes())?;
        let mut client = Self {
            id: String::new(),
            secret: None,
            redirect_uri: String::new(),
            scope: String::new(),
        };
        put(client.id.as_mut_view(), id, Capacity::Config)?;
        put(
            client.redirect_uri.as_mut_view(),
            redirect_uri,
            Capacity::Config,
        )?;
        Ok(client)
    }

    /// Makes this a confidential client with this secret (never for a browser, WASM-2).
    pub fn with_secret(self, secret: &str) -> Result<Self, Error> {
        self.with(secret, Rule::SECRET, "client_secret", |c| {
            c.secret.insert(ClientSecret(String::new())).0.as_mut_view()
        })
    }

    /// Sets the space-separated scope (e.g. `user-portal:user:*` for CRM portal users).
    pub fn with_scope(self, scope: &str) -> Result<Self, Error> {
        self.with(scope, Rule::SCOPE, "scope", |c| c.scope.as_mut_view())
    }

    /// The body of the builders, compiled once: checks `s` against `rule` (else
    /// [`ApiMisuse::BadConfig`]`(what)`) and copies it into the string `field` picks. On an
    /// error `self` is dropped, so a half-set field is never seen.
    #[inline(never)]
    fn with(
        mut self,
        s: &str,
        rule: Rule,
        what: &'static str,
        field: fn(&mut Self) -> &mut StringView,
    ) -> Result<Self, Error> {
        check(s, rule, what)?;
        put(field(&mut self), s, Capacity::Config)?;
        Ok(self)
    }

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

/// Field by field through [`crate::copied`]: one compiled copy routine for every
/// capacity instead of heapless's `Clone` per capacity.
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

/// What a configuration string may hold (see [`check`]).
#[derive(Clone, Copy)]
struct Rule {
    /// Whether it may be empty.
    empty: bool,
    /// The lowest byte allowed (`0x7f` is never allowed).
    lowest: u8,
    /// Whether non-ASCII (UTF-8) text is allowed.
    utf8: bool,
}

impl Rule {
    /// Client ids: one or more visible ASCII characters.
    const ID: Self = Self {
        empty: false,
        lowest: 0x21,
        utf8: false,
    };
    /// Secrets: non-empty, no control characters.
    const SECRET: Self = Self {
        empty: false,
        lowest: 0x20,
        utf8: true,
    };
    /// Scopes: no control characters.
    const SCOPE: Self = Self {
        empty: true,
        lowest: 0x20,
        utf8: true,
    };
}

/// Checks a configuration string against `rule`, else [`ApiMisuse::BadConfig`]`(what)`.
#[inline(never)]
fn check(s: &str, rule: Rule, what: &'static str) -> Result<(), Error> {
    let ok = (rule.empty || !s.is_empty())
        && s.bytes()
            .all(|b| b >= rule.lowest && b != 0x7f && (rule.utf8 || b < 0x80));
    if ok {
        Ok(())
    } else {
        Err(ApiMisuse::BadConfig(what).into())
    }
}

fn validate_redirect_uri(uri: &[u8]) -> Result<(), Error> {
    let bad = Error::ApiMisuse(ApiMisuse::BadConfig("redirect_uri"));
    if uri.iter().any(|&b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(bad);
    }
    // `https://` followed by something other than a path, or a loopback `http://`.
    if web_authority(uri)?.is_some() {
        return match after(uri, b"https://").map(<[u8]>::first) {
            Some(None | Some(b'/')) => Err(bad),
            _ => Ok(()),
        };
    }
    // A private-use URI scheme (RFC 8252 §7.1): reverse domain name, so it has a dot.
    let scheme = uri.split(|&b| b == b':').next().unwrap_or_default();
    if scheme.len() < uri.len()
        && scheme.contains(&b'.')
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    {
        Ok(())
    } else {
        Err(bad)
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
