//! Grants, authorization codes and tokens: issuing, rotation, reuse detection, revocation.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::config::Dialect;
use crate::server::Server;
use crate::server::misbehave::TokenIssue;

/// Identifies one grant: everything issued from one authorization (a code redemption, a
/// password/MFA login, a device approval or a client-credentials request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId(pub(crate) usize);

/// What the server knows about one grant (see [`Server::grant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInfo {
    /// The grant's id.
    pub id: GrantId,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner; `None` for client credentials.
    pub username: Option<String>,
    /// The granted scope, if any.
    pub scope: Option<String>,
    /// The dialect it was issued through.
    pub dialect: Dialect,
    /// Whether the whole grant has been revoked (every token dead).
    pub revoked: bool,
    /// The refresh token currently valid for it, if any.
    pub current_refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) username: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) dialect: Dialect,
    pub(crate) account_host: Option<String>,
    pub(crate) revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshState {
    Active,
    RotatedOut { grace_used: bool },
    Revoked,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) grant: GrantId,
    pub(crate) state: RefreshState,
    pub(crate) expires_at: u64,
    pub(crate) presented: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub(crate) grant: GrantId,
    pub(crate) expires_at: u64,
    pub(crate) revoked: bool,
}

/// One authorization code and what it is bound to.
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) dialect: Dialect,
    pub(crate) redirect_uri: String,
    /// Whether `redirect_uri` was in the authorization request (RFC 6749 §4.1.3).
    pub(crate) redirect_uri_in_request: bool,
    pub(crate) code_challenge: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) username: String,
    pub(crate) account_host: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) used: bool,
    /// The grant issued when the code was redeemed (revoked if the code is replayed).
    pub(crate) grant: Option<GrantId>,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    /// Unknown, expired, revoked, or issued to another client.
    Invalid,
    /// A rotated-out token was replayed: the whole grant is now revoked.
    ReuseDetected,
}

impl Server {
    /// Mints an opaque string for `kind` in `dialect`'s style.
    ///
    /// CRM and RFC 6749 values contain `/` (and RFC ones `+` and `=`) so clients must escape
    /// and unescape them properly; Kommo access tokens are ~1 KB JWT-shaped strings.
    pub(crate) fn mint(&mut self, dialect: Dialect, kind: &str) -> String {
        match (dialect, kind) {
            (Dialect::Kommo, "access") => self.mint_kommo_jwt(),
            (Dialect::Kommo, _) => format!("def50200{}", hex(&self.rng.vec(400))),
            (Dialect::Crm, "code") => {
                format!("crm.code/{}", URL_SAFE_NO_PAD.encode(self.rng.vec(24)))
            }
            (Dialect::Crm, _) => format!("crm.{kind}/{}", STANDARD.encode(self.rng.vec(32))),
            (Dialect::Rfc6749, _) => format!("rfc.{kind}+/{}", STANDARD.encode(self.rng.vec(32))),
        }
    }

    fn mint_kommo_jwt(&mut self) -> String {
        let jti = hex(&self.rng.vec(16));
        let header = format!(r#"{{"typ":"JWT","alg":"RS256","jti":"{jti}"}}"#);
        let payload = format!(
            r#"{{"aud":"{aud}","jti":"{jti}","iat":1700000000,"nbf":1700000000,"exp":1800000000,"sub":"{sub}","grant_type":"","account_id":{acc},"base_domain":"kommo.com","version":2,"scopes":["push_notifications","files","crm","files_delete","notifications"],"hash_uuid":"{uuid}","api_domain":"api-c.kommo.com"}}"#,
            aud = crate::config::KOMMO_CLIENT_ID,
            sub = self.rng.below(100_000_000),
            acc = self.rng.below(100_000_000),
            uuid = hex(&self.rng.vec(16)),
        );
        let signature = self.rng.vec(256);
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// Starts a new grant.
    pub(crate) fn new_grant(
        &mut self,
        client_id: &str,
        username: Option<&str>,
        scope: Option<&str>,
        dialect: Dialect,
        account_host: Option<&str>,
    ) -> GrantId {
        self.grants.push(Grant {
            client_id: client_id.to_owned(),
            username: username.map(str::to_owned),
            scope: scope.map(str::to_owned),
            dialect,
            account_host: account_host.map(str::to_owned),
            revoked: false,
        });
        GrantId(self.grants.len() - 1)
    }

    /// Issues an access token (and, with `with_refresh`, a new refresh token, rotating out
    /// every other refresh token of the grant).
    pub(crate) fn issue_tokens(
        &mut self,
        grant: GrantId,
        now: u64,
        with_refresh: bool,
    ) -> TokenIssue {
        let dialect = self.grants[grant.0].dialect;
        let lifetime = match dialect {
            Dialect::Kommo => self.config.kommo_access_token_lifetime,
            _ => self.config.access_token_lifetime,
        };
        let access_token = self.mint(dialect, "access");
        self.access_tokens.insert(
            access_token.clone(),
            AccessRecord {
                grant,
                expires_at: now.saturating_add(lifetime),
                revoked: false,
            },
        );
        let refresh_token = with_refresh.then(|| {
            self.rotate_out_refresh_tokens(grant);
            let token = self.mint(dialect, "refresh");
            let expires_at = now.saturating_add(self.config.refresh_token_lifetime);
            self.refresh_tokens.insert(
                token.clone(),
                RefreshRecord {
                    grant,
                    state: RefreshState::Active,
                    expires_at,
                    presented: 0,
                },
            );
            token
        });
        let scope = match dialect {
            Dialect::Rfc6749 => self.grants[grant.0].scope.clone(),
            _ => None,
        };
        TokenIssue {
            access_token,
            refresh_token,
            expires_in: lifetime,
            scope,
        }
    }

    fn rotate_out_refresh_tokens(&mut self, grant: GrantId) {
        for record in self.refresh_tokens.values_mut() {
            if record.grant == grant && record.state == RefreshState::Active {
                record.state = RefreshState::RotatedOut { grace_used: false };
            }
        }
    }

    /// Revokes a whole grant: every refresh and access token issued under it dies.
    pub(crate) fn revoke_grant(&mut self, grant: GrantId) {
        if let Some(g) = self.grants.get_mut(grant.0) {
            g.revoked = true;
        }
        for record in self
            .refresh_tokens
            .values_mut()
            .filter(|r| r.grant == grant)
        {
            record.state = RefreshState::Revoked;
        }
        for record in self.access_tokens.values_mut().filter(|r| r.grant == grant) {
            record.revoked = true;
        }
    }

    /// Redeems a refresh token presented by `client_id`: rotation on success; replay of a
    /// rotated-out token revokes the grant (unless [`crate::Misbehaviour::accept_rotated_once`]).
    pub(crate) fn redeem_refresh(
        &mut self,
        now: u64,
        token: &str,
        client_id: &str,
        dialect: Dialect,
    ) -> Result<(GrantId, TokenIssue), RefreshRefusal> {
        let Some(record) = self.refresh_tokens.get_mut(token) else {
            return Err(RefreshRefusal::Invalid);
        };
        record.presented = record.presented.saturating_add(1);
        let (grant, state, expires_at) = (record.grant, record.state, record.expires_at);
        let g = &self.grants[grant.0];
        if g.client_id != client_id || g.dialect != dialect || g.revoked {
            return Err(RefreshRefusal::Invalid);
        }
        match state {
            RefreshState::Active if now < expires_at => {
                record.state = RefreshState::RotatedOut { grace_used: false };
                Ok((grant, self.issue_tokens(grant, now, true)))
            }
            RefreshState::Active | RefreshState::Revoked => Err(RefreshRefusal::Invalid),
            RefreshState::RotatedOut { grace_used: false }
                if std::mem::take(&mut self.misbehaviour.accept_rotated_once) =>
            {
                record.state = RefreshState::RotatedOut { grace_used: true };
                Ok((grant, self.issue_tokens(grant, now, true)))
            }
            RefreshState::RotatedOut { .. } => {
                self.revoke_grant(grant);
                Err(RefreshRefusal::ReuseDetected)
            }
        }
    }

    /// The grant behind a live access token.
    pub(crate) fn live_access(&self, token: &str, now: u64) -> Option<GrantId> {
        let record = self.access_tokens.get(token)?;
        (!record.revoked && now < record.expires_at && !self.grants[record.grant.0].revoked)
            .then_some(record.grant)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
