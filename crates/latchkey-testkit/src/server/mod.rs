//! The in-memory authorization server: routing, shared state and test helpers.

use std::collections::HashMap;

use crate::config::{ClientRegistration, Dialect, MfaState, ServerConfig, User};
use crate::entropy::SeededEntropy;
use crate::http::{HttpRequest, HttpResponse, LoggedRequest};
use crate::server::wire::{html_page, invalid_request, json_object, json_response, json_str};

mod crm;
mod crm_mfa;
mod device;
mod kommo;
mod misbehave;
mod rfc6749;
mod store;
mod wire;

pub use crm::{AuthorizeError, PostMessageReply, PostMessageRequest};
pub use misbehave::{
    EVIL_TOKEN_URL, ExpiresInQuirk, Misbehaviour, OVERSIZE_BODY_LEN, WRONG_ISSUER, WRONG_STATE,
};
pub use store::{GrantId, GrantInfo};

use crm_mfa::MfaStore;
use device::DeviceRecord;
use store::{AccessRecord, CodeRecord, Grant, RefreshRecord, RefreshState};

/// A strict in-memory authorization server for the RFC 6749, CRM and Kommo dialects.
///
/// It has no transport: feed it [`HttpRequest`]s with [`Server::handle`] and read the
/// [`HttpResponse`]. Time is whatever `now` the caller passes (unix seconds), randomness comes
/// from a [`SeededEntropy`] seeded by [`ServerConfig::seed`], so every run is deterministic.
///
/// Strictness, as real servers behave: codes are single-use, bound to client, redirect URI and
/// PKCE challenge, and expire; replaying a code revokes the tokens issued from it; refresh
/// tokens rotate on every use and replaying a rotated-out one revokes the whole grant; request
/// encodings, content types, client authentication and duplicate parameters are checked.
///
/// ```
/// use latchkey_testkit::{HttpRequest, Server, ServerConfig, FixedClock};
/// let mut server = Server::new(ServerConfig::default());
/// let clock = FixedClock::default();
/// let resp = server.handle(clock.now(), &HttpRequest::get("https://as.example/nowhere"));
/// assert_eq!(resp.status, 404);
/// assert_eq!(server.log().len(), 1);
/// ```
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    rng: SeededEntropy,
    misbehaviour: Misbehaviour,
    log: Vec<LoggedRequest>,
    grants: Vec<Grant>,
    codes: HashMap<String, CodeRecord>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    access_tokens: HashMap<String, AccessRecord>,
    mfa: MfaStore,
    devices: Vec<DeviceRecord>,
}

/// Which endpoint a URL addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    CrmLogin,
    CrmToken,
    CrmRevoke,
    CrmMfaVerify,
    CrmMfaSecret,
    CrmMfaEmailSend,
    CrmMfaBind,
    CrmMfaDeactivation,
    CrmForget,
    CrmMe,
    RfcAuthorize,
    RfcToken,
    RfcRevoke,
    RfcDeviceAuthorization,
    RfcUserinfo,
    KommoConsent,
    KommoToken(String),
    KommoAccountApi(String),
}

impl Route {
    /// Browser endpoints and resource endpoints are `GET`; everything else is `POST`.
    fn method(&self) -> &'static str {
        match self {
            Self::CrmLogin
            | Self::RfcAuthorize
            | Self::KommoConsent
            | Self::CrmMe
            | Self::RfcUserinfo
            | Self::KommoAccountApi(_) => "GET",
            _ => "POST",
        }
    }

    fn is_token_endpoint(&self) -> bool {
        matches!(
            self,
            Self::CrmToken | Self::CrmMfaVerify | Self::RfcToken | Self::KommoToken(_)
        )
    }
}

impl Server {
    /// A server with `config`.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            rng: SeededEntropy::new(config.seed),
            config,
            misbehaviour: Misbehaviour::default(),
            log: Vec::new(),
            grants: Vec::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            mfa: MfaStore::default(),
            devices: Vec::new(),
        }
    }

    /// Handles one request at time `now` (unix seconds). Routes by URL prefix against the
    /// configured base URLs; unknown URLs get 404, wrong methods 405, unparseable requests
    /// 400 `invalid_request` with a description. Every request is appended to [`Self::log`].
    pub fn handle(&mut self, now: u64, req: &HttpRequest<'_>) -> HttpResponse {
        self.log.push(LoggedRequest {
            now,
            method: req.method.to_owned(),
            url: req.url.to_owned(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: String::from_utf8_lossy(req.body).into_owned(),
        });
        if req.url.contains('#') {
            return invalid_request("request URL must not contain a fragment");
        }
        if req.url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid_request("request URL contains whitespace or control characters");
        }
        let bad_header = |s: &str| s.contains(['\r', '\n', '\0']);
        if req
            .headers
            .iter()
            .any(|(n, v)| n.is_empty() || bad_header(n) || bad_header(v))
        {
            return invalid_request("malformed header field (empty name, CR, LF or NUL)");
        }
        let (target, query) = req.url.split_once('?').unwrap_or((req.url, ""));
        let Some(route) = self.route(target) else {
            return json_response(404, json_object(&[("error", json_str("not_found", false))]));
        };
        if req.method != route.method() {
            let mut resp = html_page(405, "405 Method Not Allowed", "method not allowed");
            resp.headers
                .push(("allow".to_owned(), route.method().to_owned()));
            return resp;
        }
        if route.method() == "POST" {
            if let Some(location) = self.misbehaviour.redirect_307.take() {
                return Misbehaviour::respond_307(&location);
            }
            if route.is_token_endpoint() && std::mem::take(&mut self.misbehaviour.html_500) {
                return Misbehaviour::respond_500_html();
            }
            if !query.is_empty() {
                return invalid_request("query parameters are not accepted at this endpoint");
            }
        }
        match route {
            Route::CrmLogin => self.crm_login(now, query),
            Route::CrmToken => self.crm_token(now, req),
            Route::CrmRevoke => self.crm_revoke(req),
            Route::CrmMfaVerify => self.crm_mfa_verify(now, req),
            Route::CrmMfaSecret => self.crm_mfa_secret(now, req),
            Route::CrmMfaEmailSend => self.crm_mfa_email_send(now, req),
            Route::CrmMfaBind => self.crm_mfa_bind(now, req),
            Route::CrmMfaDeactivation => self.crm_mfa_deactivation(now, req),
            Route::CrmForget => self.crm_forget(now, req),
            Route::RfcAuthorize => self.rfc_authorize(now, query),
            Route::RfcToken => self.rfc_token(now, req),
            Route::RfcRevoke => self.rfc_revoke(req),
            Route::RfcDeviceAuthorization => self.device_authorization(now, req),
            Route::KommoConsent => self.kommo_consent(now, query),
            Route::KommoToken(host) => self.kommo_token(now, &host, req),
            Route::CrmMe | Route::RfcUserinfo | Route::KommoAccountApi(_) => {
                self.resource(now, req)
            }
        }
    }

    fn route(&self, target: &str) -> Option<Route> {
        let strip = |base: &str| -> Option<String> {
            let base = base.trim_end_matches('/');
            let rest = target.strip_prefix(base)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
        };
        let mut candidates: Vec<(usize, Route)> = Vec::new();
        let mut add = |base: &str, route: Option<Route>| {
            if let Some(route) = route {
                candidates.push((base.len(), route));
            }
        };
        if let Some(rest) = strip(&self.config.crm_portal) {
            add(
                &self.config.crm_portal,
                (rest == "/login").then_some(Route::CrmLogin),
            );
        }
        if let Some(rest) = strip(&self.config.crm_api) {
            let route = match rest.as_str() {
                "/oauth/token" => Some(Route::CrmToken),
                "/oauth/revoke" => Some(Route::CrmRevoke),
                "/oauth/mfa/verify" => Some(Route::CrmMfaVerify),
                "/oauth/mfa/secret" => Some(Route::CrmMfaSecret),
                "/oauth/mfa/email/send" => Some(Route::CrmMfaEmailSend),
                "/oauth/mfa/bind" => Some(Route::CrmMfaBind),
                "/oauth/mfa/deactivation/request" => Some(Route::CrmMfaDeactivation),
                "/oauth/forget" => Some(Route::CrmForget),
                "/me" => Some(Route::CrmMe),
                _ => None,
            };
            add(&self.config.crm_api, route);
        }
        if let Some(rest) = strip(&self.config.issuer) {
            let route = match rest.as_str() {
                "/authorize" => Some(Route::RfcAuthorize),
                "/token" => Some(Route::RfcToken),
                "/revoke" => Some(Route::RfcRevoke),
                "/device_authorization" => Some(Route::RfcDeviceAuthorization),
                "/userinfo" => Some(Route::RfcUserinfo),
                _ => None,
            };
            add(&self.config.issuer, route);
        }
        if let Some(rest) = strip(&self.config.kommo_consent_url) {
            add(
                &self.config.kommo_consent_url,
                rest.is_empty().then_some(Route::KommoConsent),
            );
        }
        for account in &self.config.kommo_accounts {
            if let Some(rest) = strip(&account.base_url) {
                let route = match rest.as_str() {
                    "/oauth2/access_token" => Some(Route::KommoToken(account.host.clone())),
                    "/api/v4/account" => Some(Route::KommoAccountApi(account.host.clone())),
                    _ => None,
                };
                add(&account.base_url, route);
            }
        }
        candidates.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        candidates.into_iter().next().map(|(_, route)| route)
    }

    /// `GET` on a resource endpoint (`{api}/me`, `{issuer}/userinfo`,
    /// `{kommo account}/api/v4/account`) with `Authorization: Bearer <access token>`.
    fn resource(&mut self, now: u64, req: &HttpRequest<'_>) -> HttpResponse {
        let unauthorized = |error: Option<&str>| {
            let mut resp = json_response(
                401,
                json_object(&[("error", json_str(error.unwrap_or("unauthorized"), false))]),
            );
            let challenge = match error {
                Some(e) => format!("Bearer error=\"{e}\""),
                None => "Bearer".to_owned(),
            };
            resp.headers
                .push(("www-authenticate".to_owned(), challenge));
            resp
        };
        let mut values = req.header_values("authorization");
        let (Some(value), None) = (values.next(), values.next()) else {
            return unauthorized(None);
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return unauthorized(Some("invalid_request")),
        };
        let Some(grant) = self.live_access(token, now) else {
            return unauthorized(Some("invalid_token"));
        };
        let g = &self.grants[grant.0];
        let subject = g.username.clone().unwrap_or_else(|| g.client_id.clone());
        json_response(
            200,
            json_object(&[
                ("sub", json_str(&subject, false)),
                ("client_id", json_str(&g.client_id, false)),
            ]),
        )
    }

    /// The registered client `client_id` of `dialect`.
    fn client(&self, client_id: &str, dialect: Dialect) -> Option<&ClientRegistration> {
        self.config
            .clients
            .iter()
            .find(|c| c.client_id == client_id && c.dialect == dialect)
    }

    fn user(&self, username: &str) -> Option<&User> {
        self.config.users.iter().find(|u| u.username == username)
    }

    fn user_mut(&mut self, username: &str) -> Option<&mut User> {
        self.config
            .users
            .iter_mut()
            .find(|u| u.username == username)
    }

    /// Builds the authorization callback redirect, applying the callback misbehaviours.
    /// `iss` is only sent for RFC 6749, `referer` only for Kommo.
    fn callback(
        &mut self,
        redirect_uri: &str,
        outcome: Result<&str, (&str, &str)>,
        state: Option<&str>,
        iss: Option<&str>,
        referer: Option<&str>,
    ) -> HttpResponse {
        let m = &mut self.misbehaviour;
        let decoy_code;
        let mut params: Vec<(&str, &str)> = Vec::new();
        match outcome {
            Ok(code) => {
                params.push(("code", code));
                if std::mem::take(&mut m.callback_duplicate_code) {
                    decoy_code = format!("{code}-decoy");
                    params.push(("code", &decoy_code));
                }
            }
            Err((error, description)) => {
                params.push(("error", error));
                params.push(("error_description", description));
            }
        }
        let state = if std::mem::take(&mut m.callback_wrong_state) {
            Some(WRONG_STATE)
        } else {
            state
        };
        let missing_state = std::mem::take(&mut m.callback_missing_state);
        let duplicate_state = std::mem::take(&mut m.callback_duplicate_state);
        if let Some(state) = state.filter(|_| !missing_state) {
            params.push(("state", state));
            if duplicate_state {
                params.push(("state", state));
            }
        }
        if let Some(iss) = iss {
            let missing = std::mem::take(&mut m.callback_missing_iss);
            let wrong = std::mem::take(&mut m.callback_wrong_iss);
            if !missing {
                params.push(("iss", if wrong { WRONG_ISSUER } else { iss }));
            }
        }
        let hostile;
        if let Some(referer) = referer {
            hostile = m.kommo_hostile_referer.take();
            params.push(("referer", hostile.as_deref().unwrap_or(referer)));
        }
        wire::redirect(redirect_uri, &params)
    }

    // ---------------------------------------------------------------- test helpers

    /// The misbehaviour switches; set fields to make the next matching request(s) misbehave.
    pub fn misbehave(&mut self) -> &mut Misbehaviour {
        &mut self.misbehaviour
    }

    /// Every request seen, in order.
    pub fn log(&self) -> &[LoggedRequest] {
        &self.log
    }

    /// Forgets the request log.
    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    /// The configuration, including users' current MFA state and registered clients.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The configuration, to change it while the server runs (for example a shorter
    /// device polling interval for a demo). Changes apply to requests from then on.
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        &mut self.config
    }

    /// Registers (or replaces, by id and dialect) a client.
    pub fn register_client(&mut self, client: ClientRegistration) {
        self.config
            .clients
            .retain(|c| !(c.client_id == client.client_id && c.dialect == client.dialect));
        self.config.clients.push(client);
    }

    /// Adds (or replaces, by user name) a user.
    pub fn add_user(&mut self, user: User) {
        self.config.users.retain(|u| u.username != user.username);
        self.config.users.push(user);
    }

    /// Sets the user who is logged in in the browser and consents automatically.
    pub fn set_browser_user(&mut self, username: &str) {
        self.config.browser_user = username.to_owned();
    }

    /// The current MFA state of `username`.
    pub fn mfa_state(&self, username: &str) -> Option<&MfaState> {
        self.user(username).map(|u| &u.mfa)
    }

    /// The TOTP code an authenticator app would show `username` at `now`: from the bound
    /// secret, or else from the secret most recently handed out by `/oauth/mfa/secret`.
    pub fn totp_now(&self, username: &str, now: u64) -> Option<String> {
        match self.mfa_state(username) {
            Some(MfaState::Authenticator { secret }) => Some(crate::totp::totp_code(secret, now)),
            _ => self
                .mfa
                .pending_secret(username)
                .map(|s| crate::totp::totp_code(s, now)),
        }
    }

    /// The last email OTP sent to `username` by `/oauth/mfa/email/send`.
    pub fn last_email_otp(&self, username: &str) -> Option<String> {
        self.mfa.last_email_otp(username)
    }

    /// How many `/oauth/forget` requests for `username` were accepted.
    pub fn password_reset_requests(&self, username: &str) -> usize {
        self.mfa.forget_count(username)
    }

    /// Whether `/oauth/mfa/deactivation/request` was accepted for `username`.
    pub fn mfa_deactivation_requested(&self, username: &str) -> bool {
        self.mfa.deactivation_requested(username)
    }

    /// Number of grants ever issued.
    pub fn grant_count(&self) -> usize {
        self.grants.len()
    }

    /// Number of grants not revoked.
    pub fn live_grants(&self) -> usize {
        self.grants.iter().filter(|g| !g.revoked).count()
    }

    /// What the server knows about `grant`.
    pub fn grant(&self, grant: GrantId) -> Option<GrantInfo> {
        let g = self.grants.get(grant.0)?;
        let current_refresh_token = self
            .refresh_tokens
            .iter()
            .find(|(_, r)| r.grant == grant && r.state == RefreshState::Active)
            .map(|(t, _)| t.clone());
        Some(GrantInfo {
            id: grant,
            client_id: g.client_id.clone(),
            username: g.username.clone(),
            scope: g.scope.clone(),
            dialect: g.dialect,
            revoked: g.revoked,
            current_refresh_token,
        })
    }

    /// Whether `grant` has been revoked (unknown grants count as revoked).
    pub fn is_grant_revoked(&self, grant: GrantId) -> bool {
        self.grants.get(grant.0).is_none_or(|g| g.revoked)
    }

    /// The grant an access or refresh token belongs to.
    pub fn grant_of_token(&self, token: &str) -> Option<GrantId> {
        self.access_tokens
            .get(token)
            .map(|r| r.grant)
            .or_else(|| self.refresh_tokens.get(token).map(|r| r.grant))
    }

    /// Whether `token` is a refresh token that would be accepted at `now`.
    pub fn is_refresh_token_live(&self, token: &str, now: u64) -> bool {
        self.refresh_tokens.get(token).is_some_and(|r| {
            r.state == RefreshState::Active && now < r.expires_at && !self.grants[r.grant.0].revoked
        })
    }

    /// Whether `token` is an access token that would be accepted at `now`.
    pub fn is_access_token_live(&self, token: &str, now: u64) -> bool {
        self.live_access(token, now).is_some()
    }

    /// How many times `refresh_token` was presented to a token endpoint (0 if unknown).
    pub fn refresh_token_presentations(&self, refresh_token: &str) -> u32 {
        self.refresh_tokens
            .get(refresh_token)
            .map_or(0, |r| r.presented)
    }

    /// Whether the authorization code `code` has been redeemed (or replayed).
    pub fn is_code_used(&self, code: &str) -> Option<bool> {
        self.codes.get(code).map(|c| c.used)
    }
}

#[cfg(test)]
mod tests;
