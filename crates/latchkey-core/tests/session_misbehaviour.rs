//! Session tests: the testkit's misbehaviour switches — callbacks that lie (state, iss,
//! duplicates, hostile Kommo referers) and token endpoints that break the protocol
//! (redirects, oversize or malformed bodies, wrong token types, odd numbers).
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::Phase;
use latchkey_core::{ApiMisuse, CheckFailed, Error, InvalidMessage, Name, ServerMisbehaved};
use latchkey_testkit::{
    EVIL_TOKEN_URL, ExpiresInQuirk, KOMMO_ACCOUNT_HOST, KOMMO_CLIENT_SECRET, Misbehaviour,
};
use util::*;

/// Signs in with `m` set on the server; the result of the drive.
fn sign_in_with(
    cfg: latchkey_core::session::Config,
    m: Misbehaviour,
) -> (Pair, Result<Stop, Error>) {
    let mut p = Pair::new(cfg);
    *p.server.misbehave() = m;
    p.start_authorization().unwrap();
    let r = p.drive();
    (p, r)
}

fn assert_no_token_request(p: &Pair) {
    assert!(p.api_requests().is_empty(), "{:?}", p.api_requests());
    assert_eq!(p.session.phase(), Phase::Failed);
}

// ------------------------------------------------------------------------------------------
// Callbacks
// ------------------------------------------------------------------------------------------

#[test]
fn s_state_2_wrong_missing_or_duplicated_state_aborts_before_the_token_request() {
    for cfg in [rfc_public(), crm_confidential(), kommo()] {
        let cases: [(Misbehaviour, Error); 3] = [
            (
                Misbehaviour {
                    callback_wrong_state: true,
                    ..Default::default()
                },
                CheckFailed::StateMismatch.into(),
            ),
            (
                Misbehaviour {
                    callback_missing_state: true,
                    ..Default::default()
                },
                CheckFailed::StateMissing.into(),
            ),
            (
                Misbehaviour {
                    callback_duplicate_state: true,
                    ..Default::default()
                },
                InvalidMessage::Duplicate(Name::State).into(),
            ),
        ];
        for (m, want) in cases {
            let (p, r) = sign_in_with(cfg.clone(), m);
            assert_eq!(r, Err(want));
            assert_no_token_request(&p);
        }
    }
}

#[test]
fn s_state_3_error_with_a_wrong_state_is_csrf_not_a_denial() {
    let m = Misbehaviour {
        deny_consent: true,
        callback_wrong_state: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(crm_public(), m);
    assert_eq!(r, Err(CheckFailed::StateMismatch.into()));
    assert_no_token_request(&p);
}

#[test]
fn s_cb_3_wrong_or_missing_iss_aborts_before_the_token_request() {
    let m = Misbehaviour {
        callback_wrong_iss: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(rfc_basic(), m);
    assert_eq!(r, Err(CheckFailed::IssuerMismatch.into()));
    assert_no_token_request(&p);
    assert!(
        p.server
            .log()
            .iter()
            .all(|r| !r.carries(latchkey_testkit::RFC_CONFIDENTIAL_CLIENT_SECRET))
    );

    let m = Misbehaviour {
        callback_missing_iss: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(rfc_basic(), m);
    assert_eq!(r, Err(CheckFailed::IssuerMissing.into()));
    assert_no_token_request(&p);
}

#[test]
fn s_cb_1_duplicate_code_is_refused() {
    for cfg in [rfc_public(), crm_public()] {
        let m = Misbehaviour {
            callback_duplicate_code: true,
            ..Default::default()
        };
        let (p, r) = sign_in_with(cfg, m);
        assert_eq!(r, Err(InvalidMessage::Duplicate(Name::Code).into()));
        assert_no_token_request(&p);
    }
}

#[test]
fn s_ref_3_hostile_kommo_referers_never_get_a_token_request() {
    let hostile = [
        "evil.com",
        "example.kommo.com.evil.com",
        "kommo.com@evil.com",
        "evilkommo.com",
        "kommo.com",
        "example.kommo.com:443",
        "example.kommo.com/path",
        "example.kommo.com.",
        "https://example.kommo.com",
        "example.kommo.com%2fevil.com",
        "127.0.0.1",
        "example.kommo.com\\evil.com",
        "exa mple.kommo.com",
        "",
    ];
    for referer in hostile {
        let m = Misbehaviour {
            kommo_hostile_referer: Some(referer.to_owned()),
            ..Default::default()
        };
        let (p, r) = sign_in_with(kommo(), m);
        let err = r.expect_err(referer);
        assert!(
            matches!(
                err,
                Error::CheckFailed(CheckFailed::RefererMalformed | CheckFailed::RefererNotAllowed)
                    | Error::InvalidMessage(_)
            ),
            "{referer}: {err:?}"
        );
        assert_no_token_request(&p);
        // The browser's consent page was the only request; the secret never left.
        let log = p.server.log();
        assert_eq!(log.len(), 1, "{referer}");
        assert_eq!(log[0].host(), "www.kommo.com");
        assert!(!log[0].carries(KOMMO_CLIENT_SECRET));
        // Polling again builds nothing.
        let mut p = p;
        assert_eq!(p.poll(), Err(ApiMisuse::Poisoned.into()));
    }
}

#[test]
fn s_ref_3_allowed_referer_in_capitals_is_used_lowercase() {
    let m = Misbehaviour {
        kommo_hostile_referer: Some(KOMMO_ACCOUNT_HOST.to_ascii_uppercase()),
        ..Default::default()
    };
    let (p, r) = sign_in_with(kommo(), m);
    assert_eq!(r, Ok(Stop::Done(Done::Authorized)));
    assert_eq!(
        p.server.log()[1].url,
        format!("https://{KOMMO_ACCOUNT_HOST}/oauth2/access_token")
    );
    // Only the allowlisted host ever saw the secret.
    for req in p.server.log() {
        assert!(req.host() == KOMMO_ACCOUNT_HOST || !req.carries(KOMMO_CLIENT_SECRET));
    }
}

// ------------------------------------------------------------------------------------------
// Token endpoint
// ------------------------------------------------------------------------------------------

#[test]
fn s_tok_6_a_307_on_the_token_endpoint_poisons_and_is_never_followed() {
    for cfg in [rfc_basic(), crm_confidential(), kommo()] {
        let m = Misbehaviour {
            redirect_307: Some(EVIL_TOKEN_URL.to_owned()),
            ..Default::default()
        };
        let (mut p, r) = sign_in_with(cfg, m);
        assert_eq!(r, Err(ServerMisbehaved::Redirect.into()));
        assert_eq!(p.session.phase(), Phase::Failed);
        assert_eq!(p.session.failure(), Some(ServerMisbehaved::Redirect.into()));
        assert!(p.server.log().iter().all(|r| r.host() != "evil.example"));
        assert_eq!(p.poll(), Err(ApiMisuse::Poisoned.into()));
        assert_eq!(
            p.api_requests().len(),
            1,
            "the code was sent once, never re-posted"
        );
    }
    // On refresh too.
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.server.misbehave().redirect_307 = Some(EVIL_TOKEN_URL.to_owned());
    assert_eq!(p.drive(), Err(ServerMisbehaved::Redirect.into()));
    assert!(p.server.log().iter().all(|r| r.host() != "evil.example"));
}

#[test]
fn s_tok_5_oversize_body_is_refused() {
    let m = Misbehaviour {
        oversize_body: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(crm_confidential(), m);
    assert_eq!(r, Err(ServerMisbehaved::ResponseTooLarge.into()));
    assert_eq!(p.session.phase(), Phase::Failed);
}

#[test]
fn malformed_json_and_html_500_are_errors() {
    let m = Misbehaviour {
        malformed_json: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(rfc_public(), m);
    assert!(
        matches!(
            r,
            Err(Error::InvalidMessage(_) | Error::ServerMisbehaved(_))
        ),
        "{r:?}"
    );
    assert_eq!(p.session.phase(), Phase::Failed);

    let m = Misbehaviour {
        html_500: true,
        ..Default::default()
    };
    let (_, r) = sign_in_with(crm_confidential(), m);
    assert!(
        matches!(
            r,
            Err(Error::ServerMisbehaved(_) | Error::InvalidMessage(_))
        ),
        "{r:?}"
    );
}

#[test]
fn s_tok_4_a_200_with_an_error_member_is_an_error() {
    let m = Misbehaviour {
        error_in_200: true,
        ..Default::default()
    };
    let (p, r) = sign_in_with(crm_confidential(), m);
    assert_eq!(r, Err(ServerMisbehaved::ErrorInSuccess.into()));
    assert_eq!(p.disk, None, "no tokens stored");
}

#[test]
fn s_tok_8_duplicate_members_are_refused() {
    let m = Misbehaviour {
        duplicate_members: true,
        ..Default::default()
    };
    let (_, r) = sign_in_with(crm_confidential(), m);
    assert_eq!(r, Err(InvalidMessage::Duplicate(Name::AccessToken).into()));
}

#[test]
fn s_tok_3_lowercase_bearer_is_accepted_and_example_is_refused() {
    let m = Misbehaviour {
        token_type: Some("bearer".to_owned()),
        ..Default::default()
    };
    let (mut p, r) = sign_in_with(rfc_public(), m);
    assert_eq!(r, Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);

    let m = Misbehaviour {
        token_type: Some("example".to_owned()),
        ..Default::default()
    };
    let (p, r) = sign_in_with(rfc_public(), m);
    assert_eq!(r, Err(ServerMisbehaved::UnsupportedTokenType.into()));
    assert_eq!(p.disk, None, "a token we cannot use is not stored");
}

#[test]
fn s_tok_3_unknown_nested_fields_are_ignored() {
    let m = Misbehaviour {
        unknown_nested_fields: true,
        ..Default::default()
    };
    let (mut p, r) = sign_in_with(crm_confidential(), m);
    assert_eq!(r, Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
}

#[test]
fn s_tok_8_expires_in_quirks() {
    let t0 = latchkey_testkit::FixedClock::default().now();
    let m = Misbehaviour {
        expires_in: Some(ExpiresInQuirk::AsString),
        ..Default::default()
    };
    let (p, r) = sign_in_with(crm_confidential(), m);
    assert_eq!(r, Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.session.expires_at(), Some(t0 + 3600));
    for q in [
        ExpiresInQuirk::BeyondU64Max,
        ExpiresInQuirk::Negative,
        ExpiresInQuirk::Fractional,
    ] {
        let m = Misbehaviour {
            expires_in: Some(q),
            ..Default::default()
        };
        let (p, r) = sign_in_with(crm_confidential(), m);
        assert!(
            matches!(
                r,
                Err(Error::InvalidMessage(InvalidMessage::NumberOutOfRange(_)))
            ),
            "{q:?}: {r:?}"
        );
        assert_eq!(p.disk, None);
    }
}
