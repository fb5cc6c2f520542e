//! RFC 8628 device authorization grant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{ClientRegistration, Dialect};
use crate::http::{HttpRequest, HttpResponse};
use crate::server::Server;
use crate::server::misbehave::TokenIssue;
use crate::server::wire::Params;
use crate::server::wire::{
    invalid_grant, invalid_request, json_object, json_str, oauth_error, ok_json,
};

/// RFC 8628 §6.1 user-code alphabet: consonants only, no vowels, no look-alikes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Seconds added to the interval on every `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN_STEP: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
enum DeviceStatus {
    Pending,
    Approved(String),
    Denied,
    Redeemed,
}

/// One pending device authorization.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRecord {
    device_code: String,
    user_code: String,
    client_id: String,
    scope: Option<String>,
    expires_at: u64,
    interval: u64,
    last_poll: Option<u64>,
    status: DeviceStatus,
}

/// Upper-case letters only, so `wdjb-mjht`, `WDJBMJHT` and `WDJB-MJHT` are the same code.
fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Server {
    /// `POST {issuer}/device_authorization` (form-encoded, client authentication as at
    /// `/token`) → `device_code`, `user_code`, `verification_uri(_complete)`, `expires_in`,
    /// `interval`.
    pub(crate) fn device_authorization(&mut self, now: u64, req: &HttpRequest<'_>) -> HttpResponse {
        let (params, client) = match self.rfc_request(req) {
            Ok(parsed) => parsed,
            Err(resp) => return resp,
        };
        let device_code = URL_SAFE_NO_PAD.encode(self.rng.vec(32));
        let letters: String = (0..8)
            .map(|_| char::from(USER_CODE_ALPHABET[self.rng.below(20) as usize]))
            .collect();
        let user_code = format!("{}-{}", &letters[..4], &letters[4..]);
        let verification_uri = format!("{}/device", self.config.issuer.trim_end_matches('/'));
        let complete = format!("{verification_uri}?user_code={user_code}");
        let record = DeviceRecord {
            device_code: device_code.clone(),
            user_code: user_code.clone(),
            client_id: client.client_id,
            scope: params
                .get("scope")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            expires_at: now.saturating_add(self.config.device_code_lifetime),
            interval: self.config.device_interval,
            last_poll: None,
            status: DeviceStatus::Pending,
        };
        self.devices.push(record);
        ok_json(json_object(&[
            ("device_code", json_str(&device_code, false)),
            ("user_code", json_str(&user_code, false)),
            ("verification_uri", json_str(&verification_uri, false)),
            ("verification_uri_complete", json_str(&complete, false)),
            ("expires_in", self.config.device_code_lifetime.to_string()),
            ("interval", self.config.device_interval.to_string()),
        ]))
    }

    /// The token endpoint's device-code grant (RFC 8628 §3.4/§3.5).
    pub(crate) fn device_poll(
        &mut self,
        now: u64,
        params: &Params,
        client: &ClientRegistration,
    ) -> Result<(TokenIssue, bool), HttpResponse> {
        let device_code = params
            .require("device_code")
            .map_err(|e| invalid_request(&e))?;
        let storm = &mut self.misbehaviour.slow_down_storm;
        let Some(record) = self
            .devices
            .iter_mut()
            .find(|d| d.device_code == device_code && d.client_id == client.client_id)
        else {
            return Err(invalid_grant("unknown device_code"));
        };
        let error = |code: &str, description: &str| Err(oauth_error(400, code, description));
        if now >= record.expires_at {
            return error("expired_token", "the device code has expired");
        }
        match &record.status {
            DeviceStatus::Denied => return error("access_denied", "the user denied the request"),
            DeviceStatus::Redeemed => return Err(invalid_grant("device code already used")),
            _ => {}
        }
        let too_fast = record
            .last_poll
            .is_some_and(|t| now < t.saturating_add(record.interval));
        record.last_poll = Some(now);
        if *storm > 0 || too_fast {
            *storm = storm.saturating_sub(1);
            record.interval = record.interval.saturating_add(SLOW_DOWN_STEP);
            return error(
                "slow_down",
                "polling too fast; add 5 seconds to the interval",
            );
        }
        let DeviceStatus::Approved(username) = record.status.clone() else {
            return error(
                "authorization_pending",
                "the user has not yet approved the request",
            );
        };
        record.status = DeviceStatus::Redeemed;
        let (client_id, scope) = (record.client_id.clone(), record.scope.clone());
        let grant = self.new_grant(
            &client_id,
            Some(&username),
            scope.as_deref(),
            Dialect::Rfc6749,
            None,
        );
        Ok((self.issue_tokens(grant, now, true), false))
    }

    fn device_mut(&mut self, user_code: &str) -> Option<&mut DeviceRecord> {
        let wanted = normalize_user_code(user_code);
        self.devices.iter_mut().find(|d| {
            normalize_user_code(&d.user_code) == wanted && d.status == DeviceStatus::Pending
        })
    }

    /// The browser user approves the pending device request `user_code` (case and dashes
    /// ignored). `false` if no such pending request.
    pub fn approve_device(&mut self, user_code: &str) -> bool {
        let user = self.config.browser_user.clone();
        self.device_mut(user_code)
            .map(|d| d.status = DeviceStatus::Approved(user))
            .is_some()
    }

    /// The browser user denies the pending device request `user_code`.
    pub fn deny_device(&mut self, user_code: &str) -> bool {
        self.device_mut(user_code)
            .map(|d| d.status = DeviceStatus::Denied)
            .is_some()
    }

    /// The current polling interval the server enforces for `device_code` (grows on
    /// `slow_down`).
    pub fn device_interval(&self, device_code: &str) -> Option<u64> {
        self.devices
            .iter()
            .find(|d| d.device_code == device_code)
            .map(|d| d.interval)
    }
}
