//! Plain RFC 6749 / 7636 / 7009 / 9207: `/authorize`, `/token`, `/revoke`.

use crate::config::{ClientAuthMethod, ClientRegistration, Dialect};
use crate::http::{HttpRequest, HttpResponse, decode_basic_rfc6749};
use crate::server::Server;
use crate::server::misbehave::TokenIssue;
use crate::server::store::{CodeRecord, RefreshRefusal};
use crate::server::wire::{
    Params, authorization, html_page, invalid_client, invalid_grant, invalid_request,
    is_code_verifier, is_s256_challenge, oauth_error, ok_json, redirect_uri_matches,
    require_content_type, s256,
};

/// The device grant type (RFC 8628 §3.4).
pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl Server {
    /// `GET {issuer}/authorize?...` (RFC 6749 §4.1.1 + PKCE S256, required for every client).
    /// Every callback carries `iss` (RFC 9207).
    pub(crate) fn rfc_authorize(&mut self, now: u64, query: &str) -> HttpResponse {
        let params = match Params::parse(query) {
            Ok(p) => p,
            Err(e) => return html_page(400, "invalid_request", &e),
        };
        if params.count("client_id") > 1 || params.count("redirect_uri") > 1 {
            return html_page(
                400,
                "invalid_request",
                "duplicate client_id or redirect_uri",
            );
        }
        let Some(client) = params
            .get("client_id")
            .and_then(|id| self.client(id, Dialect::Rfc6749))
        else {
            return html_page(400, "invalid_request", "unknown client_id");
        };
        let client = client.clone();
        let (redirect_uri, in_request) = match params.get("redirect_uri") {
            Some(uri)
                if client
                    .redirect_uris
                    .iter()
                    .any(|r| redirect_uri_matches(r, uri)) =>
            {
                (uri.to_owned(), true)
            }
            Some(_) => return html_page(400, "invalid_request", "redirect_uri is not registered"),
            None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
            None => return html_page(400, "invalid_request", "redirect_uri is required"),
        };
        let issuer = self.config.issuer.clone();
        let state = params.get("state").map(str::to_owned);
        let refuse = |server: &mut Self, error: &str, description: &str| {
            server.callback(
                &redirect_uri,
                Err((error, description)),
                state.as_deref(),
                Some(&issuer),
                None,
            )
        };
        if let Some(name) = params.first_duplicate() {
            return refuse(
                self,
                "invalid_request",
                &format!("duplicate parameter: {name}"),
            );
        }
        if params.get("response_type") != Some("code") {
            return refuse(
                self,
                "unsupported_response_type",
                "response_type must be code",
            );
        }
        let Some(challenge) = params.get("code_challenge") else {
            return refuse(self, "invalid_request", "code_challenge is required (PKCE)");
        };
        if params.get("code_challenge_method") != Some("S256") {
            return refuse(
                self,
                "invalid_request",
                "code_challenge_method must be S256",
            );
        }
        if !is_s256_challenge(challenge) {
            return refuse(self, "invalid_request", "invalid code_challenge");
        }
        if std::mem::take(&mut self.misbehaviour.deny_consent) {
            return refuse(
                self,
                "access_denied",
                "The resource owner denied the request",
            );
        }
        let code = self.mint(Dialect::Rfc6749, "code");
        self.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: client.client_id.clone(),
                dialect: Dialect::Rfc6749,
                redirect_uri: redirect_uri.clone(),
                redirect_uri_in_request: in_request,
                code_challenge: Some(challenge.to_owned()),
                scope: params
                    .get("scope")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                username: self.config.browser_user.clone(),
                account_host: None,
                expires_at: now.saturating_add(self.config.code_lifetime),
                used: false,
                grant: None,
            },
        );
        self.callback(
            &redirect_uri,
            Ok(&code),
            state.as_deref(),
            Some(&issuer),
            None,
        )
    }

    /// Parses a form-encoded request (content type, strict decoding, no duplicate parameters)
    /// and authenticates the client (RFC 6749 §2.3, one method only, as registered).
    pub(crate) fn rfc_request(
        &self,
        req: &HttpRequest<'_>,
    ) -> Result<(Params, ClientRegistration), HttpResponse> {
        require_content_type(req, "application/x-www-form-urlencoded")
            .map_err(|e| invalid_request(&e))?;
        let body =
            std::str::from_utf8(req.body).map_err(|_| invalid_request("body is not UTF-8"))?;
        let params = Params::parse(body).map_err(|e| invalid_request(&e))?;
        if let Some(name) = params.first_duplicate() {
            return Err(invalid_request(&format!("duplicate parameter: {name}")));
        }
        let header = authorization(req).map_err(|e| invalid_request(&e))?;
        let body_id = params.get("client_id");
        let (client_id, secret, method) = match (header, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(invalid_request(
                    "more than one client authentication method",
                ));
            }
            (Some(h), None) => {
                let (id, secret) = decode_basic_rfc6749(h)
                    .ok_or_else(|| invalid_client("malformed Basic credentials"))?;
                if body_id.is_some_and(|b| b != id) {
                    return Err(invalid_request("client_id does not match the credentials"));
                }
                (id, Some(secret), ClientAuthMethod::ClientSecretBasic)
            }
            (None, Some(secret)) => {
                let id = body_id.ok_or_else(|| invalid_request("missing parameter: client_id"))?;
                (
                    id.to_owned(),
                    Some(secret.to_owned()),
                    ClientAuthMethod::ClientSecretPost,
                )
            }
            (None, None) => {
                let id = body_id.ok_or_else(|| invalid_request("missing parameter: client_id"))?;
                (id.to_owned(), None, ClientAuthMethod::None)
            }
        };
        let Some(client) = self.client(&client_id, Dialect::Rfc6749) else {
            return Err(invalid_client("unknown client"));
        };
        if client.auth_method != method {
            return Err(invalid_client(match client.auth_method {
                ClientAuthMethod::None => "public client must not send credentials",
                ClientAuthMethod::ClientSecretBasic => "client must use client_secret_basic",
                ClientAuthMethod::ClientSecretPost => "client must use client_secret_post",
            }));
        }
        if client.secret != secret {
            return Err(invalid_client("client authentication failed"));
        }
        Ok((params, client.clone()))
    }

    /// `POST {issuer}/token`.
    pub(crate) fn rfc_token(&mut self, now: u64, req: &HttpRequest<'_>) -> HttpResponse {
        let (params, client) = match self.rfc_request(req) {
            Ok(parsed) => parsed,
            Err(resp) => return resp,
        };
        let outcome = match params.get("grant_type") {
            None => Err(invalid_request("missing parameter: grant_type")),
            Some("authorization_code") => self.rfc_code_grant(now, &params, &client),
            Some("refresh_token") => self.rfc_refresh_grant(now, &params, &client),
            Some("client_credentials") => self.rfc_client_credentials(now, &params, &client),
            Some(DEVICE_GRANT) => self.device_poll(now, &params, &client),
            Some(_) => Err(oauth_error(
                400,
                "unsupported_grant_type",
                "unsupported grant_type",
            )),
        };
        match outcome {
            Ok((issue, refreshed)) => self.token_success(Dialect::Rfc6749, &issue, refreshed),
            Err(resp) => resp,
        }
    }

    fn rfc_code_grant(
        &mut self,
        now: u64,
        params: &Params,
        client: &ClientRegistration,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        let code = params.require("code").map_err(|e| invalid_request(&e))?;
        let Ok(record) = self.redeem_code(code, Dialect::Rfc6749) else {
            return Err(invalid_grant(
                "authorization code is invalid, expired, or already used",
            ));
        };
        if now >= record.expires_at {
            return Err(invalid_grant("authorization code has expired"));
        }
        if record.client_id != client.client_id {
            return Err(invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        match params.get("redirect_uri") {
            Some(uri) if uri == record.redirect_uri => {}
            None if !record.redirect_uri_in_request => {}
            _ => {
                return Err(invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
        }
        let verifier = params
            .require("code_verifier")
            .map_err(|e| invalid_request(&e))?;
        if !is_code_verifier(verifier) {
            return Err(invalid_request(
                "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
            ));
        }
        if record.code_challenge.as_deref() != Some(s256(verifier).as_str()) {
            return Err(invalid_grant("PKCE verification failed"));
        }
        let grant = self.grant_for_code(code, &record);
        Ok((self.issue_tokens(grant, now, true), false))
    }

    fn rfc_refresh_grant(
        &mut self,
        now: u64,
        params: &Params,
        client: &ClientRegistration,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        let token = params
            .require("refresh_token")
            .map_err(|e| invalid_request(&e))?;
        if let (Some(requested), Some(grant)) = (params.get("scope"), self.grant_of_token(token)) {
            let granted = self.grants[grant.0].scope.clone().unwrap_or_default();
            if !requested
                .split(' ')
                .all(|s| granted.split(' ').any(|g| g == s))
            {
                return Err(oauth_error(
                    400,
                    "invalid_scope",
                    "scope exceeds the original grant",
                ));
            }
        }
        match self.redeem_refresh(now, token, &client.client_id, Dialect::Rfc6749) {
            Ok((_, issue)) => Ok((issue, true)),
            Err(RefreshRefusal::Invalid) => Err(invalid_grant(
                "refresh token is invalid, expired, or revoked",
            )),
            Err(RefreshRefusal::ReuseDetected) => Err(invalid_grant(
                "refresh token reuse detected; the grant has been revoked",
            )),
        }
    }

    fn rfc_client_credentials(
        &mut self,
        now: u64,
        params: &Params,
        client: &ClientRegistration,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        if !client.is_confidential() {
            return Err(oauth_error(
                400,
                "unauthorized_client",
                "client_credentials requires a confidential client",
            ));
        }
        let scope = params.get("scope").filter(|s| !s.is_empty());
        let grant = self.new_grant(&client.client_id, None, scope, Dialect::Rfc6749, None);
        Ok((self.issue_tokens(grant, now, false), false))
    }

    /// `POST {issuer}/revoke` (RFC 7009): 200 even for unknown tokens. Revoking a refresh
    /// token revokes the whole grant; revoking an access token revokes that token only.
    pub(crate) fn rfc_revoke(&mut self, req: &HttpRequest<'_>) -> HttpResponse {
        if let Some(retry_after) = self.misbehaviour.revoke_503.take() {
            return crate::server::Misbehaviour::respond_503(retry_after);
        }
        let (params, client) = match self.rfc_request(req) {
            Ok(parsed) => parsed,
            Err(resp) => return resp,
        };
        let token = match params.require("token") {
            Ok(t) => t,
            Err(e) => return invalid_request(&e),
        };
        let Some(grant) = self.grant_of_token(token) else {
            return ok_json("{}".to_owned());
        };
        if self.grants[grant.0].client_id != client.client_id {
            return oauth_error(
                400,
                "unauthorized_client",
                "token was issued to another client",
            );
        }
        if self.refresh_tokens.contains_key(token) {
            self.revoke_grant(grant);
        } else if let Some(record) = self.access_tokens.get_mut(token) {
            record.revoked = true;
        }
        ok_json("{}".to_owned())
    }
}
