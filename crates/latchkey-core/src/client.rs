//! The client's own registration: id, optional secret, redirect URI, scope.

use core::fmt;

use heapless::String;

use crate::error::{ApiMisuse, Capacity, CheckFailed, Error};
use crate::profile::{authority, is_loopback_authority};
use crate::{MAX_CLIENT_ID_LEN, MAX_SCOPE_LEN, MAX_SECRET_LEN, MAX_URL_LEN};

/// A client registration: who we are to the authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiMisuse::BadConfig("client_id").into());
        }
        validate_redirect_uri(redirect_uri)?;
        Ok(Self {
            id: copy(id, MAX_CLIENT_ID_LEN)?,
            secret: None,
            redirect_uri: copy(redirect_uri, MAX_URL_LEN)?,
            scope: String::new(),
        })
    }

    /// Makes this a confidential client with this secret (never for a browser, WASM-2).
    pub fn with_secret(mut self, secret: &str) -> Result<Self, Error> {
        if secret.is_empty() || secret.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(ApiMisuse::BadConfig("client_secret").into());
        }
        self.secret = Some(ClientSecret(copy(secret, MAX_SECRET_LEN)?));
        Ok(self)
    }

    /// Sets the space-separated scope (e.g. `user-portal:user:*` for CRM portal users).
    pub fn with_scope(mut self, scope: &str) -> Result<Self, Error> {
        if scope.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(ApiMisuse::BadConfig("scope").into());
        }
        self.scope = copy(scope, MAX_SCOPE_LEN)?;
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

/// A client secret. `Debug` prints `[redacted]`; there is no `Display` (SEC-1).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String<MAX_SECRET_LEN>);

impl ClientSecret {
    /// The secret itself, for sending to the token endpoint.
    pub fn secret(&self) -> &str {
        &self.0
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

fn validate_redirect_uri(uri: &str) -> Result<(), Error> {
    let bad = || Error::ApiMisuse(ApiMisuse::BadConfig("redirect_uri"));
    if uri.contains('#') || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad());
    }
    if let Some(rest) = uri.strip_prefix("http://") {
        // `authority` also stops at `#`, which was rejected above.
        if !is_loopback_authority(authority(rest)) {
            return Err(CheckFailed::InsecureUrl.into());
        }
        return Ok(());
    }
    if let Some(rest) = uri.strip_prefix("https://") {
        return if rest.is_empty() || rest.starts_with('/') {
            Err(bad())
        } else {
            Ok(())
        };
    }
    // A private-use URI scheme (RFC 8252 §7.1): reverse domain name, so it has a dot.
    match uri.split_once(':') {
        Some((scheme, _))
            if scheme.contains('.')
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')) =>
        {
            Ok(())
        }
        _ => Err(bad()),
    }
}

pub(crate) fn copy<const N: usize>(s: &str, limit: usize) -> Result<String<N>, Error> {
    String::try_from(s).map_err(|_| Error::CapacityExceeded {
        what: Capacity::Config,
        limit,
    })
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
