//! CRM Open API "Client OAuth": portal login, iframe postMessage, token, refresh, revoke.

use crate::config::{ClientRegistration, Dialect};
use crate::http::{HttpRequest, HttpResponse, decode_basic_raw};
use crate::server::Server;
use crate::server::misbehave::TokenIssue;
use crate::server::store::{CodeRecord, GrantId, RefreshRefusal};
use crate::server::wire::{
    JsonObject, Params, authorization, html_page, invalid_client, invalid_grant, invalid_request,
    is_code_verifier, is_s256_challenge, json_object, json_str, oauth_error, ok_json,
    redirect_uri_matches, require_content_type, s256,
};

pub(crate) const CODE_INVALID: &str = "Authorization code is invalid or does not exist";
pub(crate) const CODE_EXPIRED: &str = "Authorization code has expired";
pub(crate) const VERIFIER_MISMATCH: &str = "Code verifier does not match code challenge";
pub(crate) const REFRESH_INVALID: &str = "Refresh token is invalid or expired";

/// The payload of a `GET_CLIENT_OAUTH_CODE` postMessage from the integrator's iframe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostMessageRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri` (must be registered, as for the redirect flow).
    pub redirect_uri: String,
    /// `scope`.
    pub scope: String,
    /// `response_type` (must be `code`).
    pub response_type: String,
    /// `code_challenge` (S256, 43 base64url characters).
    pub code_challenge: String,
    /// `code_challenge_method` (must be `S256`).
    pub code_challenge_method: String,
    /// `state`, echoed back when [`crate::ServerConfig::crm_postmessage_echo_state`] is set.
    pub state: Option<String>,
}

/// The parent page's `CLIENT_OAUTH_CODE` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMessageReply {
    /// The authorization code.
    pub code: String,
    /// The echoed state, if the parent echoes it.
    pub state: Option<String>,
}

/// An authorization request the server refused (postMessage flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    /// The OAuth error code, e.g. `invalid_request` or `access_denied`.
    pub error: String,
    /// The description, e.g. `invalid code challenge`.
    pub description: String,
}

impl AuthorizeError {
    fn new(error: &str, description: &str) -> Self {
        Self {
            error: error.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// Where a refused authorization request goes: a 400 page (client or redirect URI cannot be
/// trusted) or back to the redirect URI.
enum Refusal {
    Page(String),
    Redirect(String, AuthorizeError),
}

impl Server {
    /// `GET {portal}/login?...`: the logged-in user consents and is redirected back.
    pub(crate) fn crm_login(&mut self, now: u64, query: &str) -> HttpResponse {
        let params = match Params::parse(query) {
            Ok(p) => p,
            Err(e) => return html_page(400, "invalid_request", &e),
        };
        let field = |name: &str| params.get(name).unwrap_or_default().to_owned();
        let request = PostMessageRequest {
            client_id: field("client_id"),
            redirect_uri: field("redirect_uri"),
            scope: field("scope"),
            response_type: field("response_type"),
            code_challenge: field("code_challenge"),
            code_challenge_method: field("code_challenge_method"),
            state: params.get("state").map(str::to_owned),
        };
        let state = request.state.clone();
        if params.count("client_id") > 1 || params.count("redirect_uri") > 1 {
            return html_page(
                400,
                "invalid_request",
                "duplicate client_id or redirect_uri",
            );
        }
        let checked = match params.first_duplicate() {
            Some(name) => {
                let refusal = self.crm_check_client(&request);
                match refusal {
                    Err(r) => Err(r),
                    Ok(_) => Err(Refusal::Redirect(
                        request.redirect_uri.clone(),
                        AuthorizeError::new(
                            "invalid_request",
                            &format!("duplicate parameter: {name}"),
                        ),
                    )),
                }
            }
            None => self.crm_check(&request),
        };
        match checked {
            Err(Refusal::Page(description)) => html_page(400, "invalid_request", &description),
            Err(Refusal::Redirect(uri, e)) => self.callback(
                &uri,
                Err((&e.error, &e.description)),
                state.as_deref(),
                None,
                None,
            ),
            Ok(()) if std::mem::take(&mut self.misbehaviour.deny_consent) => self.callback(
                &request.redirect_uri,
                Err(("access_denied", "The user denied the request")),
                state.as_deref(),
                None,
                None,
            ),
            Ok(()) => {
                let code = self.crm_issue_code(now, &request);
                self.callback(
                    &request.redirect_uri,
                    Ok(&code),
                    state.as_deref(),
                    None,
                    None,
                )
            }
        }
    }

    /// Plays the CRM parent page answering a `GET_CLIENT_OAUTH_CODE` postMessage: validates
    /// the payload exactly as `/login` does and returns the `CLIENT_OAUTH_CODE` reply.
    ///
    /// The state echo follows [`crate::ServerConfig::crm_postmessage_echo_state`] and the
    /// `callback_wrong_state` / `callback_missing_state` / `deny_consent` misbehaviours.
    pub fn authorize_postmessage(
        &mut self,
        now: u64,
        request: &PostMessageRequest,
    ) -> Result<PostMessageReply, AuthorizeError> {
        match self.crm_check(request) {
            Err(Refusal::Page(description)) => {
                return Err(AuthorizeError::new("invalid_request", &description));
            }
            Err(Refusal::Redirect(_, e)) => return Err(e),
            Ok(()) => {}
        }
        if std::mem::take(&mut self.misbehaviour.deny_consent) {
            return Err(AuthorizeError::new(
                "access_denied",
                "The user denied the request",
            ));
        }
        let code = self.crm_issue_code(now, request);
        let wrong = std::mem::take(&mut self.misbehaviour.callback_wrong_state);
        let missing = std::mem::take(&mut self.misbehaviour.callback_missing_state);
        let state = if wrong {
            Some(crate::server::WRONG_STATE.to_owned())
        } else if missing || !self.config.crm_postmessage_echo_state {
            None
        } else {
            request.state.clone()
        };
        Ok(PostMessageReply { code, state })
    }

    /// Plays the CRM parent page on a raw postMessage `data` JSON string:
    /// `{"type":"GET_CLIENT_OAUTH_CODE","source":"iframe","payload":{...}}`. Returns the JSON
    /// reply `{"type":"CLIENT_OAUTH_CODE","payload":{"code":...,"state":...}}`, an error reply
    /// `{"type":"CLIENT_OAUTH_CODE","payload":{"error":...,"error_description":...}}` (the
    /// error shape is the testkit's choice: the vendor documents none), or `None` for a
    /// message the parent ignores (not JSON, another `type`, no payload object).
    pub fn answer_postmessage(&mut self, now: u64, message: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(message).ok()?;
        if value.get("type")?.as_str()? != "GET_CLIENT_OAUTH_CODE" {
            return None;
        }
        let payload = value.get("payload")?.as_object()?;
        let field = |name: &str| {
            payload
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let request = PostMessageRequest {
            client_id: field("client_id"),
            redirect_uri: field("redirect_uri"),
            scope: field("scope"),
            response_type: field("response_type"),
            code_challenge: field("code_challenge"),
            code_challenge_method: field("code_challenge_method"),
            state: payload
                .get("state")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        };
        let payload = match self.authorize_postmessage(now, &request) {
            Ok(reply) => {
                let mut members = vec![("code", json_str(&reply.code, false))];
                if let Some(state) = &reply.state {
                    members.push(("state", json_str(state, false)));
                }
                json_object(&members)
            }
            Err(e) => json_object(&[
                ("error", json_str(&e.error, false)),
                ("error_description", json_str(&e.description, false)),
            ]),
        };
        Some(json_object(&[
            ("type", json_str("CLIENT_OAUTH_CODE", false)),
            ("payload", payload),
        ]))
    }

    /// Client id and redirect URI checks: failures that cannot go back to the redirect URI.
    fn crm_check_client(&self, r: &PostMessageRequest) -> Result<(), Refusal> {
        let registered_anywhere = self.config.clients.iter().any(|c| {
            c.dialect == Dialect::Crm
                && c.redirect_uris
                    .iter()
                    .any(|u| redirect_uri_matches(u, &r.redirect_uri))
        });
        let Some(client) = self.client(&r.client_id, Dialect::Crm) else {
            return Err(if registered_anywhere {
                Refusal::Redirect(
                    r.redirect_uri.clone(),
                    AuthorizeError::new("invalid_request", "invalid client id"),
                )
            } else {
                Refusal::Page("invalid client id".to_owned())
            });
        };
        if !client
            .redirect_uris
            .iter()
            .any(|u| redirect_uri_matches(u, &r.redirect_uri))
        {
            return Err(Refusal::Page("invalid redirect uri".to_owned()));
        }
        Ok(())
    }

    fn crm_check(&self, r: &PostMessageRequest) -> Result<(), Refusal> {
        self.crm_check_client(r)?;
        let refuse = |error: &str, description: &str| {
            Err(Refusal::Redirect(
                r.redirect_uri.clone(),
                AuthorizeError::new(error, description),
            ))
        };
        if r.response_type != "code" {
            return refuse("unsupported_response_type", "invalid response type");
        }
        let scopes_ok = !r.scope.is_empty()
            && r.scope
                .split(' ')
                .all(|s| self.config.crm_scopes.iter().any(|k| k == s));
        if !scopes_ok {
            return refuse("invalid_scope", "invalid scope");
        }
        if r.code_challenge_method != "S256" {
            return refuse("invalid_request", "invalid code challenge method");
        }
        if !is_s256_challenge(&r.code_challenge) {
            return refuse("invalid_request", "invalid code challenge");
        }
        Ok(())
    }

    fn crm_issue_code(&mut self, now: u64, r: &PostMessageRequest) -> String {
        let code = self.mint(Dialect::Crm, "code");
        let record = CodeRecord {
            client_id: r.client_id.clone(),
            dialect: Dialect::Crm,
            redirect_uri: r.redirect_uri.clone(),
            redirect_uri_in_request: true,
            code_challenge: Some(r.code_challenge.clone()),
            scope: Some(r.scope.clone()),
            username: self.config.browser_user.clone(),
            account_host: None,
            expires_at: now.saturating_add(self.config.code_lifetime),
            used: false,
            grant: None,
        };
        self.codes.insert(code.clone(), record);
        code
    }

    /// CRM client authentication: `Authorization: Basic base64(id:secret)` (no form-encoding)
    /// for confidential clients; `Ok(None)` when no header was sent.
    pub(crate) fn crm_client(
        &self,
        req: &HttpRequest<'_>,
    ) -> Result<Option<ClientRegistration>, HttpResponse> {
        let header = authorization(req).map_err(|e| invalid_request(&e))?;
        let Some(header) = header else {
            return Ok(None);
        };
        let Some((id, secret)) = decode_basic_raw(header) else {
            return Err(invalid_client("malformed Basic credentials"));
        };
        match self.client(&id, Dialect::Crm) {
            Some(c) if c.secret.as_deref() == Some(secret.as_str()) => Ok(Some(c.clone())),
            _ => Err(invalid_client("Client authentication failed")),
        }
    }

    /// Parses a CRM API request: JSON content type and body, Basic client authentication.
    pub(crate) fn crm_request(
        &self,
        req: &HttpRequest<'_>,
    ) -> Result<(JsonObject, Option<ClientRegistration>), HttpResponse> {
        require_content_type(req, "application/json").map_err(|e| invalid_request(&e))?;
        let body = JsonObject::parse(req.body).map_err(|e| invalid_request(&e))?;
        let client = self.crm_client(req)?;
        Ok((body, client))
    }

    /// `POST {api}/oauth/token`.
    pub(crate) fn crm_token(&mut self, now: u64, req: &HttpRequest<'_>) -> HttpResponse {
        let (body, client) = match self.crm_request(req) {
            Ok(parsed) => parsed,
            Err(resp) => return resp,
        };
        let outcome = match body.str("grant_type") {
            Ok(Some("authorization_code")) => self.crm_code_grant(now, &body, client.as_ref()),
            Ok(Some("refresh_token")) => self.crm_refresh_grant(now, &body, client.as_ref()),
            Ok(Some("password")) => self.crm_password_grant(now, &body, client.as_ref()),
            Ok(_) => Err(invalid_grant("invalid grant type")),
            Err(e) => Err(invalid_request(&e)),
        };
        match outcome {
            Ok((issue, refreshed)) => self.token_success(Dialect::Crm, &issue, refreshed),
            Err(resp) => resp,
        }
    }

    fn crm_code_grant(
        &mut self,
        now: u64,
        body: &JsonObject,
        client: Option<&ClientRegistration>,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        let code = body.require("code").map_err(|e| invalid_request(&e))?;
        let verifier = body
            .require("code_verifier")
            .map_err(|e| invalid_request(&e))?;
        let body_client = body.str("client_id").map_err(|e| invalid_request(&e))?;
        let redirect_uri = body.str("redirect_uri").map_err(|e| invalid_request(&e))?;
        let record = self
            .redeem_code(code, Dialect::Crm)
            .map_err(|_| invalid_grant(CODE_INVALID))?;
        if now >= record.expires_at {
            return Err(invalid_grant(CODE_EXPIRED));
        }
        let code_client = self
            .client(&record.client_id, Dialect::Crm)
            .cloned()
            .ok_or_else(|| invalid_grant(CODE_INVALID))?;
        match client {
            Some(c) if c.client_id != code_client.client_id => {
                return Err(invalid_grant(CODE_INVALID));
            }
            None if code_client.is_confidential() => {
                return Err(invalid_client("Client authentication required"));
            }
            _ => {}
        }
        if body_client.is_some_and(|id| id != code_client.client_id) {
            return Err(invalid_grant(CODE_INVALID));
        }
        if redirect_uri.is_some_and(|u| u != record.redirect_uri) {
            return Err(invalid_grant("redirect uri does not match"));
        }
        if !is_code_verifier(verifier) {
            return Err(invalid_request(
                "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
            ));
        }
        if record.code_challenge.as_deref() != Some(s256(verifier).as_str()) {
            return Err(invalid_grant(VERIFIER_MISMATCH));
        }
        let grant = self.grant_for_code(code, &record);
        Ok((self.issue_tokens(grant, now, true), false))
    }

    fn crm_refresh_grant(
        &mut self,
        now: u64,
        body: &JsonObject,
        client: Option<&ClientRegistration>,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        let token = body
            .require("refresh_token")
            .map_err(|e| invalid_request(&e))?;
        let client_id = self.refresh_client(token, client.map(|c| c.client_id.as_str()))?;
        match self.redeem_refresh(now, token, &client_id, Dialect::Crm) {
            Ok((_, issue)) => Ok((issue, true)),
            Err(RefreshRefusal::Invalid | RefreshRefusal::ReuseDetected) => {
                Err(invalid_grant(REFRESH_INVALID))
            }
        }
    }

    /// The client a refresh token is presented by: the authenticated one, or — for a public
    /// client, which sends no credentials — the one the token was issued to, provided that
    /// client really is public.
    pub(crate) fn refresh_client(
        &self,
        token: &str,
        authenticated: Option<&str>,
    ) -> Result<String, HttpResponse> {
        if let Some(id) = authenticated {
            return Ok(id.to_owned());
        }
        let Some(grant) = self.grant_of_token(token) else {
            return Err(invalid_grant(REFRESH_INVALID));
        };
        let g = &self.grants[grant.0];
        match self.client(&g.client_id, g.dialect) {
            Some(c) if !c.is_confidential() => Ok(c.client_id.clone()),
            Some(_) => Err(invalid_client("Client authentication required")),
            None => Err(invalid_grant(REFRESH_INVALID)),
        }
    }

    /// `POST {api}/oauth/revoke` with `{"refresh_token": …}`: 200, and the grant is revoked.
    pub(crate) fn crm_revoke(&mut self, req: &HttpRequest<'_>) -> HttpResponse {
        if let Some(retry_after) = self.misbehaviour.revoke_503.take() {
            return crate::server::Misbehaviour::respond_503(retry_after);
        }
        let (body, client) = match self.crm_request(req) {
            Ok(parsed) => parsed,
            Err(resp) => return resp,
        };
        let token = match body.require("refresh_token") {
            Ok(t) => t,
            Err(e) => return invalid_request(&e),
        };
        let client_id =
            match self.refresh_client(token, client.as_ref().map(|c| c.client_id.as_str())) {
                Ok(id) => id,
                Err(resp) if resp.status == 401 => return resp,
                Err(_) => return ok_json("{}".to_owned()),
            };
        if let Some(grant) = self.grant_of_token(token) {
            if self.grants[grant.0].client_id != client_id {
                return oauth_error(
                    400,
                    "unauthorized_client",
                    "token was issued to another client",
                );
            }
            self.revoke_grant(grant);
        }
        ok_json("{}".to_owned())
    }

    /// Marks `code` used and returns its record; a replayed code revokes the grant issued
    /// from it. `Err(())` for unknown, replayed, or other-dialect codes.
    pub(crate) fn redeem_code(&mut self, code: &str, dialect: Dialect) -> Result<CodeRecord, ()> {
        let Some(record) = self.codes.get_mut(code) else {
            return Err(());
        };
        if record.dialect != dialect {
            return Err(());
        }
        if record.used {
            if let Some(grant) = record.grant {
                self.revoke_grant(grant);
            }
            return Err(());
        }
        record.used = true;
        Ok(record.clone())
    }

    /// Starts the grant for a successfully redeemed code and remembers it on the code.
    pub(crate) fn grant_for_code(&mut self, code: &str, record: &CodeRecord) -> GrantId {
        let grant = self.new_grant(
            &record.client_id,
            Some(&record.username),
            record.scope.as_deref(),
            record.dialect,
            record.account_host.as_deref(),
        );
        if let Some(r) = self.codes.get_mut(code) {
            r.grant = Some(grant);
        }
        grant
    }

    /// Renders a successful token response through the misbehaviour switches.
    pub(crate) fn token_success(
        &mut self,
        dialect: Dialect,
        issue: &TokenIssue,
        refreshed: bool,
    ) -> HttpResponse {
        if refreshed && std::mem::take(&mut self.misbehaviour.lose_response_after_rotation) {
            return crate::server::Misbehaviour::respond_lost();
        }
        let decoy = self.mint(dialect, "decoy");
        let php = dialect != Dialect::Rfc6749;
        self.misbehaviour.render_token(issue, php, &decoy)
    }
}
