//! Kommo: the consent page and the per-account `/oauth2/access_token` endpoint.

use crate::config::Dialect;
use crate::http::{HttpRequest, HttpResponse};
use crate::server::Server;
use crate::server::store::{CodeRecord, RefreshRefusal};
use crate::server::wire::{
    JsonObject, Params, html_page, invalid_client, invalid_grant, invalid_request,
    redirect_uri_matches, require_content_type,
};

impl Server {
    /// `GET {consent}?client_id&state&mode=popup|post_message[&redirect_uri]`: the logged-in
    /// user consents and is redirected to the integration's registered redirect URI (the
    /// first one, or the registered one `redirect_uri` names) with `code`,
    /// `state` and `referer` (the account host).
    pub(crate) fn kommo_consent(&mut self, now: u64, query: &str) -> HttpResponse {
        let params = match Params::parse(query) {
            Ok(p) => p,
            Err(e) => return html_page(400, "Bad Request", &e),
        };
        if let Some(name) = params.first_duplicate() {
            return html_page(400, "Bad Request", &format!("duplicate parameter: {name}"));
        }
        let Some(client) = params
            .get("client_id")
            .and_then(|id| self.client(id, Dialect::Kommo))
        else {
            return html_page(400, "Bad Request", "integration not found");
        };
        // Kommo redirects to the URI registered with the integration. A `redirect_uri`
        // parameter, when present, picks one of the registered URIs (a loopback one with any
        // port, RFC 8252 §7.3), so a native client can receive the callback on its own port.
        let (client_id, redirect_uri) = match params.get("redirect_uri") {
            Some(given)
                if client
                    .redirect_uris
                    .iter()
                    .any(|u| redirect_uri_matches(u, given)) =>
            {
                (client.client_id.clone(), given.to_owned())
            }
            Some(_) => {
                return html_page(
                    400,
                    "Bad Request",
                    "redirect_uri is not registered for the integration",
                );
            }
            None => match client.redirect_uris.first() {
                Some(uri) => (client.client_id.clone(), uri.clone()),
                None => return html_page(400, "Bad Request", "integration has no redirect URI"),
            },
        };
        if !matches!(params.get("mode"), None | Some("popup" | "post_message")) {
            return html_page(400, "Bad Request", "mode must be popup or post_message");
        }
        let state = params.get("state");
        if std::mem::take(&mut self.misbehaviour.deny_consent) {
            return self.callback(
                &redirect_uri,
                Err(("access_denied", "The user declined access")),
                state,
                None,
                None,
            );
        }
        let code = self.mint(Dialect::Kommo, "code");
        let account = self.config.kommo_referer.clone();
        self.codes.insert(
            code.clone(),
            CodeRecord {
                client_id,
                dialect: Dialect::Kommo,
                redirect_uri: redirect_uri.clone(),
                redirect_uri_in_request: false,
                code_challenge: None,
                scope: None,
                username: self.config.browser_user.clone(),
                account_host: Some(account.clone()),
                expires_at: now.saturating_add(self.config.kommo_code_lifetime),
                used: false,
                grant: None,
            },
        );
        self.callback(&redirect_uri, Ok(&code), state, None, Some(&account))
    }

    /// `POST https://{account}/oauth2/access_token` (JSON; secret in the body).
    pub(crate) fn kommo_token(
        &mut self,
        now: u64,
        account_host: &str,
        req: &HttpRequest<'_>,
    ) -> HttpResponse {
        if let Err(e) = require_content_type(req, "application/json") {
            return invalid_request(&e);
        }
        let body = match JsonObject::parse(req.body) {
            Ok(b) => b,
            Err(e) => return invalid_request(&e),
        };
        let fields = ["client_id", "client_secret", "grant_type", "redirect_uri"];
        let [client_id, secret, grant_type, redirect_uri] = match fields.map(|f| body.require(f)) {
            [Ok(a), Ok(b), Ok(c), Ok(d)] => [a, b, c, d],
            [Err(e), ..] | [_, Err(e), ..] | [_, _, Err(e), _] | [.., Err(e)] => {
                return invalid_request(&e);
            }
        };
        let Some(client) = self.client(client_id, Dialect::Kommo).cloned() else {
            return invalid_client("Client authentication failed");
        };
        if client.secret.as_deref() != Some(secret) {
            return invalid_client("Client authentication failed");
        }
        if !client
            .redirect_uris
            .iter()
            .any(|u| redirect_uri_matches(u, redirect_uri))
        {
            return invalid_grant("redirect_uri does not match the integration");
        }
        let outcome = match grant_type {
            "authorization_code" => {
                let code = match body.require("code") {
                    Ok(c) => c,
                    Err(e) => return invalid_request(&e),
                };
                let Ok(record) = self.redeem_code(code, Dialect::Kommo) else {
                    return invalid_grant("Authorization code has been revoked or does not exist");
                };
                if now >= record.expires_at {
                    return invalid_grant("Authorization code has expired");
                }
                if record.client_id != client.client_id
                    || record.account_host.as_deref() != Some(account_host)
                    || record.redirect_uri != redirect_uri
                {
                    return invalid_grant("Authorization code has been revoked or does not exist");
                }
                let grant = self.grant_for_code(code, &record);
                Ok((self.issue_tokens(grant, now, true), false))
            }
            "refresh_token" => {
                let token = match body.require("refresh_token") {
                    Ok(t) => t,
                    Err(e) => return invalid_request(&e),
                };
                let wrong_account = self.grant_of_token(token).is_some_and(|g| {
                    self.grants[g.0].account_host.as_deref() != Some(account_host)
                });
                if wrong_account {
                    Err(RefreshRefusal::Invalid)
                } else {
                    self.redeem_refresh(now, token, &client.client_id, Dialect::Kommo)
                        .map(|(_, issue)| (issue, true))
                }
            }
            _ => return invalid_request("grant_type must be authorization_code or refresh_token"),
        };
        match outcome {
            Ok((issue, refreshed)) => self.token_success(Dialect::Kommo, &issue, refreshed),
            Err(_) => invalid_grant("Token has been revoked"),
        }
    }
}
