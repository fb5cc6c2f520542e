//! Misbehaviour switches and the rendering of token responses they distort.

use crate::http::{HttpResponse, SIMULATED_TIMEOUT_HEADER};
use crate::server::wire::{html_page, json_object, json_response, json_str};

/// Length of the padding member [`Misbehaviour::oversize_body`] adds (1 MiB).
pub const OVERSIZE_BODY_LEN: usize = 1 << 20;
/// The `state` sent by [`Misbehaviour::callback_wrong_state`].
pub const WRONG_STATE: &str = "c3RhdGUtZnJvbS1hbi1hdHRhY2tlcg";
/// The `iss` sent by [`Misbehaviour::callback_wrong_iss`] (a mix-up attacker's issuer).
pub const WRONG_ISSUER: &str = "https://evil.as.example";
/// A convenient target for [`Misbehaviour::redirect_307`].
pub const EVIL_TOKEN_URL: &str = "https://evil.example/oauth/token";

/// How [`Misbehaviour::expires_in`] distorts the `expires_in` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiresInQuirk {
    /// The real lifetime as a JSON string: `"expires_in":"3600"` (some servers do this).
    AsString,
    /// No `expires_in` member at all.
    Missing,
    /// `18446744073709551615` (`u64::MAX`): adding it to `now` must not wrap.
    U64Max,
    /// `18446744073709551616` (`u64::MAX + 1`): out of range, must be an error.
    BeyondU64Max,
    /// `-1`.
    Negative,
    /// `3599.5`.
    Fractional,
}

/// Switches that make the server misbehave, so client defences are tested, not assumed.
///
/// All are off by default. Each switch is **one-shot**: it is consumed (reset) by the first
/// request it applies to, except [`slow_down_storm`](Self::slow_down_storm), which counts
/// down. Switches on token-response bodies apply to the next *successful* token response
/// (CRM `/oauth/token` and `/oauth/mfa/verify`, Kommo `/oauth2/access_token`, RFC 6749
/// `/token`): the server first does its job (a code is redeemed, a refresh token rotated, the
/// tokens in the body are live) and then distorts the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Misbehaviour {
    // ---- authorization endpoints: the callback redirect ----
    /// The user declines consent: the callback carries `error=access_denied` (and `state`).
    pub deny_consent: bool,
    /// The callback carries [`WRONG_STATE`] instead of the request's state (also the state the
    /// CRM parent page echoes in its postMessage reply).
    pub callback_wrong_state: bool,
    /// The callback carries no `state` (postMessage reply: no echoed state).
    pub callback_missing_state: bool,
    /// The callback carries the (correct) `state` parameter twice.
    pub callback_duplicate_state: bool,
    /// RFC 6749 callback: `iss` is [`WRONG_ISSUER`] (RFC 9207 mix-up).
    pub callback_wrong_iss: bool,
    /// RFC 6749 callback: no `iss` parameter.
    pub callback_missing_iss: bool,
    /// The callback carries `code` twice (the second a different, unknown code).
    pub callback_duplicate_code: bool,
    /// Kommo callback: `referer` is this string (e.g. `evil.com`,
    /// `example.kommo.com.evil.com`, `kommo.com@evil.com`) instead of the account host.
    pub kommo_hostile_referer: Option<String>,

    // ---- API endpoints (token, revoke, device authorization, MFA, forget) ----
    /// The next POST to any API endpoint answers `307 Temporary Redirect` with this
    /// `Location` (e.g. [`EVIL_TOKEN_URL`]); the request is not processed.
    pub redirect_307: Option<String>,
    /// The next token-endpoint request answers 500 with an HTML body; not processed.
    pub html_500: bool,
    /// The next successful refresh rotates the refresh token but the answer is lost: a 504
    /// carrying [`SIMULATED_TIMEOUT_HEADER`] (a socket harness drops the connection instead).
    pub lose_response_after_rotation: bool,
    /// The next presentation of a rotated-out refresh token is accepted once (a grace
    /// window: a new token pair is issued and every other refresh token of the grant is
    /// rotated out). Any later replay of a rotated-out token revokes the grant as usual.
    pub accept_rotated_once: bool,
    /// The next N device-code polls answer `slow_down` (each adds 5 s to the interval).
    pub slow_down_storm: u32,
    /// The next revocation request answers 503 with `Retry-After` of this many seconds; the
    /// token is **not** revoked.
    pub revoke_503: Option<u64>,

    // ---- successful token response bodies ----
    /// Adds a member of [`OVERSIZE_BODY_LEN`] bytes to the body.
    pub oversize_body: bool,
    /// The body is cut short (invalid JSON).
    pub malformed_json: bool,
    /// Status 200 whose body also has `error` / `error_description` members.
    pub error_in_200: bool,
    /// The body has `access_token` twice (the second a decoy that is not a live token).
    pub duplicate_members: bool,
    /// `token_type` is this value instead of `Bearer` (e.g. `"example"`, `"bearer"`).
    pub token_type: Option<String>,
    /// Distorts `expires_in`.
    pub expires_in: Option<ExpiresInQuirk>,
    /// Adds unknown members holding nested objects, arrays, `null`, booleans and escapes.
    pub unknown_nested_fields: bool,
}

/// Tokens issued by one successful token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenIssue {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: u64,
    pub(crate) scope: Option<String>,
}

impl Misbehaviour {
    /// Renders a successful token response, consuming the body switches that are set.
    /// `php_escape` writes `/` as `\/`; `decoy` is the second `access_token` for
    /// [`Self::duplicate_members`].
    pub(crate) fn render_token(
        &mut self,
        issue: &TokenIssue,
        php_escape: bool,
        decoy: &str,
    ) -> HttpResponse {
        let s = |v: &str| json_str(v, php_escape);
        let mut members: Vec<(&str, String)> = Vec::new();
        if std::mem::take(&mut self.error_in_200) {
            members.push(("error", s("invalid_grant")));
            members.push(("error_description", s("The grant has been revoked")));
        }
        members.push(("access_token", s(&issue.access_token)));
        if std::mem::take(&mut self.duplicate_members) {
            members.push(("access_token", s(decoy)));
        }
        let token_type = self
            .token_type
            .take()
            .unwrap_or_else(|| "Bearer".to_owned());
        members.push(("token_type", s(&token_type)));
        match self.expires_in.take() {
            None => members.push(("expires_in", issue.expires_in.to_string())),
            Some(ExpiresInQuirk::AsString) => {
                members.push(("expires_in", s(&issue.expires_in.to_string())));
            }
            Some(ExpiresInQuirk::Missing) => {}
            Some(ExpiresInQuirk::U64Max) => members.push(("expires_in", u64::MAX.to_string())),
            Some(ExpiresInQuirk::BeyondU64Max) => {
                members.push(("expires_in", "18446744073709551616".to_owned()));
            }
            Some(ExpiresInQuirk::Negative) => members.push(("expires_in", "-1".to_owned())),
            Some(ExpiresInQuirk::Fractional) => members.push(("expires_in", "3599.5".to_owned())),
        }
        if let Some(refresh) = &issue.refresh_token {
            members.push(("refresh_token", s(refresh)));
        }
        if let Some(scope) = &issue.scope {
            members.push(("scope", s(scope)));
        }
        if std::mem::take(&mut self.unknown_nested_fields) {
            members.push((
                "x_testkit_extension",
                r#"{"nested":{"list":[1,-2.5e3,{"deep":null}],"flag":true},"text":"caf\u00e9 \/ \ud83d\ude00","empty":{}}"#
                    .to_owned(),
            ));
            members.push(("id_token_hint", "null".to_owned()));
            members.push(("scopes", r#"["a","b"]"#.to_owned()));
        }
        if std::mem::take(&mut self.oversize_body) {
            members.push(("padding", format!("\"{}\"", "x".repeat(OVERSIZE_BODY_LEN))));
        }
        let mut body = json_object(&members);
        if std::mem::take(&mut self.malformed_json) {
            body.pop();
            body.push(',');
        }
        json_response(200, body)
    }

    /// The 504 that stands for a response lost after the server acted.
    pub(crate) fn respond_lost() -> HttpResponse {
        let mut resp = html_page(504, "504 Gateway Timeout", "upstream timed out");
        resp.headers
            .push((SIMULATED_TIMEOUT_HEADER.to_owned(), "1".to_owned()));
        resp
    }

    /// A 500 with an HTML body, as a crashed PHP backend behind a proxy answers.
    pub(crate) fn respond_500_html() -> HttpResponse {
        html_page(
            500,
            "500 Internal Server Error",
            "Whoops, looks like something went wrong.",
        )
    }

    /// A 307 to `location`.
    pub(crate) fn respond_307(location: &str) -> HttpResponse {
        HttpResponse {
            status: 307,
            headers: vec![("location".to_owned(), location.to_owned())],
            body: Vec::new(),
        }
    }

    /// A 503 with `Retry-After`.
    pub(crate) fn respond_503(retry_after: u64) -> HttpResponse {
        let mut resp = json_response(
            503,
            json_object(&[
                ("error", json_str("temporarily_unavailable", false)),
                ("error_description", json_str("try again later", false)),
            ]),
        );
        resp.headers
            .push(("retry-after".to_owned(), retry_after.to_string()));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> TokenIssue {
        TokenIssue {
            access_token: "at/1".to_owned(),
            refresh_token: Some("rt/1".to_owned()),
            expires_in: 3600,
            scope: None,
        }
    }

    #[test]
    fn default_rendering_is_a_plain_token_response_and_php_escapes() {
        let mut m = Misbehaviour::default();
        let resp = m.render_token(&issue(), true, "decoy");
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.body_str(),
            r#"{"access_token":"at\/1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt\/1"}"#
        );
        assert_eq!(m, Misbehaviour::default());
    }

    #[test]
    fn body_switches_apply_once() {
        let mut m = Misbehaviour {
            duplicate_members: true,
            token_type: Some("bearer".to_owned()),
            expires_in: Some(ExpiresInQuirk::AsString),
            error_in_200: true,
            ..Misbehaviour::default()
        };
        let body = m
            .render_token(&issue(), false, "decoy")
            .body_str()
            .to_owned();
        assert!(body.starts_with(r#"{"error":"invalid_grant","#));
        assert!(body.contains(r#""access_token":"at/1","access_token":"decoy""#));
        assert!(body.contains(r#""token_type":"bearer""#));
        assert!(body.contains(r#""expires_in":"3600""#));
        assert_eq!(m, Misbehaviour::default());
        let again = m.render_token(&issue(), false, "decoy");
        assert!(!again.body_str().contains("decoy"));
    }

    #[test]
    fn malformed_oversize_and_huge_numbers() {
        let mut m = Misbehaviour {
            malformed_json: true,
            ..Misbehaviour::default()
        };
        assert!(m.render_token(&issue(), false, "d").json().is_none());
        let mut m = Misbehaviour {
            oversize_body: true,
            ..Misbehaviour::default()
        };
        assert!(m.render_token(&issue(), false, "d").body.len() > OVERSIZE_BODY_LEN);
        let mut m = Misbehaviour {
            expires_in: Some(ExpiresInQuirk::BeyondU64Max),
            ..Default::default()
        };
        assert!(
            m.render_token(&issue(), false, "d")
                .body_str()
                .contains("18446744073709551616,")
        );
        let mut m = Misbehaviour {
            unknown_nested_fields: true,
            ..Misbehaviour::default()
        };
        let v = m.render_token(&issue(), false, "d").json().unwrap();
        assert_eq!(v["x_testkit_extension"]["text"], "café / 😀");
    }
}
