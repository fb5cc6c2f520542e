//! Session tests that build with any set of the core's features, so that the smallest
//! configuration (`default-features = false`: plain RFC 6749, what the firmware size budget
//! measures) runs the whole lifecycle against the strict testkit server: code + PKCE,
//! state and issuer checks, refresh with rotation, the LIFE-9 retry, snapshots, logout.
//! The test command runs this file with and without the default features.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::{EndReason, Phase, Session};
use latchkey_core::{CheckFailed, Error, ErrorKind, HttpStatus, ServerError};
use util::*;

#[test]
fn code_flow_signs_in_and_the_token_works() {
    for cfg in [rfc_public(), rfc_basic(), rfc_post()] {
        let mut p = Pair::new(cfg);
        p.sign_in();
        assert_eq!(p.session.phase(), Phase::Authorized);
        assert_eq!(p.call_api(), 200);
        assert!(p.disk.is_some(), "the tokens were handed out to persist");
        // PKCE-1: the token request carried the verifier whose challenge was in the URL.
        let exchange = &p.sends()[0];
        assert_eq!(
            param_in(&exchange.body, "grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(
            param_in(&exchange.body, "code_verifier").map(|v| v.len()),
            Some(43)
        );
    }
}

#[test]
fn s_state_2_a_callback_with_another_state_is_refused_and_nothing_is_sent() {
    let mut p = Pair::new(rfc_public());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    assert!(matches!(p.poll(), Ok(Event::OpenUrl(_))));
    let r = p.callback("code=abc&state=not-ours&iss=https%3A%2F%2Fas.example");
    assert_eq!(r, Err(Error::CheckFailed(CheckFailed::StateMismatch)));
    assert_eq!(p.session.phase(), Phase::Failed);
    assert!(p.sends().is_empty());
}

#[test]
fn s_cb_3_a_callback_from_another_issuer_is_refused() {
    let mut p = Pair::new(rfc_public());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let Ok(Event::OpenUrl(url)) = p.poll() else {
        panic!("no URL")
    };
    let state = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let r = p.callback(&format!(
        "code=abc&state={state}&iss=https%3A%2F%2Fevil.example"
    ));
    assert_eq!(r, Err(Error::CheckFailed(CheckFailed::IssuerMismatch)));
    assert!(p.sends().is_empty());
}

#[test]
fn refresh_rotates_and_the_old_token_is_dead() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let first = p.access_token().unwrap();
    let old_refresh = p.current_refresh_token();
    let due = p.session.refresh_due_at().unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    assert_eq!(p.now(), due);
    assert_ne!(p.access_token().unwrap(), first);
    assert_eq!(p.call_api(), 200);
    assert!(!p.server.is_refresh_token_live(&old_refresh, p.now()));
    assert_eq!(p.stored_refresh_token(), Some(p.current_refresh_token()));
}

#[test]
fn s_life_9_a_lost_refresh_answer_is_retried_once_then_sign_in() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let old_refresh = p.current_refresh_token();
    p.server.misbehave().lose_response_after_rotation = true;
    // The retry presents the rotated-out token; the server revokes the grant.
    let rejected = ServerError {
        code: ErrorKind::InvalidGrant,
        status: HttpStatus::new(400),
    };
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::SignInRequired(
            EndReason::RefreshRejected(rejected)
        )))
    );
    assert_eq!(p.server.refresh_token_presentations(&old_refresh), 2);
    assert_eq!(p.disk, None, "the store was erased");
    assert_eq!(p.poll(), Ok(Event::Idle));
}

#[test]
fn s_life_7_snapshot_round_trip_and_a_foreign_one_is_refused() {
    let mut p = Pair::new(rfc_public());
    p.sign_in();
    let token = p.access_token().unwrap();
    p.restore_from_disk().unwrap();
    assert_eq!(p.access_token().unwrap(), token);
    assert_eq!(p.call_api(), 200);
    // The same bytes under another client are refused.
    let disk = p.disk.clone().unwrap();
    let other: Result<Session, _> = Session::restore(rfc_basic(), &disk);
    assert_eq!(
        other.err(),
        Some(Error::CheckFailed(CheckFailed::ForeignSnapshot))
    );
    // A flipped byte is refused.
    let mut bad = disk;
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(Session::<4096, 2048>::restore(rfc_public(), &bad).is_err());
}

#[test]
fn s_life_5_logout_erases_then_revokes() {
    let mut p = Pair::new(rfc_public());
    p.sign_in();
    let refresh = p.current_refresh_token();
    let from = p.events.len();
    p.session.logout(p.now()).unwrap();
    assert!(!p.session.has_refresh_token());
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    assert_eq!(p.events[from], Event::Erase);
    let Event::Send(revoke) = &p.events[from + 1] else {
        panic!("{:?}", p.events[from + 1])
    };
    assert!(revoke.url.ends_with("/revoke"));
    assert_eq!(param_in(&revoke.body, "token"), Some(refresh.clone()));
    assert!(!p.server.is_refresh_token_live(&refresh, p.now()));
    assert_eq!(p.disk, None);
    assert_eq!(p.session.phase(), Phase::LoggedOut);
}
