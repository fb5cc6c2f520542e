//! Session tests: refresh, rotation and time — LIFE-1/2/3/8/9 against the strict testkit
//! server, whose refresh tokens rotate on every use and whose reuse detection revokes the
//! grant.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::{DEFAULT_EXPIRES_IN, DEFAULT_REFRESH_SKEW, EndReason, Phase};
use latchkey_core::{Error, ErrorKind, HttpStatus, ServerError};
use latchkey_testkit::{ExpiresInQuirk, HttpResponse};
use util::*;

const DAY: u64 = 86_400;

fn invalid_grant() -> ServerError {
    ServerError {
        code: ErrorKind::InvalidGrant,
        status: HttpStatus::new(400),
    }
}

/// Every refresh token the session presented, in order.
fn presented(p: &Pair) -> Vec<String> {
    p.sends()
        .iter()
        .filter(|r| param_in(&r.body, "grant_type").as_deref() == Some("refresh_token"))
        .map(|r| refresh_token_in(&r.body).unwrap())
        .collect()
}

#[test]
fn refresh_when_due_rotates_and_the_new_tokens_work() {
    for cfg in [
        rfc_public(),
        rfc_basic(),
        rfc_post(),
        crm_confidential(),
        crm_public(),
        kommo(),
    ] {
        let mut p = Pair::new(cfg);
        p.sign_in();
        let first = p.access_token().unwrap();
        let old_refresh = p.current_refresh_token();
        let due = p.session.refresh_due_at().unwrap();
        assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
        assert_eq!(p.now(), due, "the refresh was sent when it became due");
        let second = p.access_token().unwrap();
        assert_ne!(first, second);
        assert_eq!(p.call_api(), 200);
        assert!(
            !p.server.is_refresh_token_live(&old_refresh, p.now()),
            "rotated out"
        );
        assert_eq!(p.stored_refresh_token(), Some(p.current_refresh_token()));
    }
}

#[test]
fn rotation_server_sees_each_refresh_token_at_most_once() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    for _ in 0..5 {
        assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    }
    let tokens = presented(&p);
    assert_eq!(tokens.len(), 5);
    for t in &tokens {
        assert_eq!(p.server.refresh_token_presentations(t), 1, "presented once");
    }
    let mut unique = tokens.clone();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    assert_eq!(p.server.live_grants(), 1, "no reuse detected");
    assert_eq!(p.call_api(), 200);
}

#[test]
fn s_life_2_persist_comes_before_refreshed_and_holds_only_the_new_token() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let old_refresh = p.current_refresh_token();
    let from = p.events.len();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    let tail: Vec<_> = p.events[from..]
        .iter()
        .filter(|e| !matches!(e, Event::WaitUntil(_)))
        .collect();
    assert!(matches!(tail[0], Event::Send(_)));
    let Event::Persist(snapshot) = tail[1] else {
        panic!(
            "Persist must follow the refresh response, got {:?}",
            tail[1]
        );
    };
    assert_eq!(tail[2], &Event::Done(Done::Refreshed));
    assert_eq!(tail.len(), 3);
    let new_refresh = p.current_refresh_token();
    let contains = |needle: &str| {
        snapshot
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(
        contains(&new_refresh),
        "the persisted snapshot holds the new refresh token"
    );
    assert!(!contains(&old_refresh), "and not the old one");
    assert!(p.session.has_refresh_token());
}

#[test]
fn s_life_3_invalid_grant_on_refresh_ends_the_session_without_retry() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    // The refresh token expires on the server (30 days); the access token long before.
    p.clock.advance(31 * DAY);
    let from = p.events.len();
    let stop = p.drive();
    assert_eq!(
        stop,
        Ok(Stop::Done(Done::SignInRequired(
            EndReason::RefreshRejected(invalid_grant())
        )))
    );
    assert_eq!(
        p.responses.last().unwrap().json().unwrap()["error_description"],
        "Refresh token is invalid or expired"
    );
    let tail = &p.events[from..];
    let erase = tail.iter().position(|e| *e == Event::Erase).unwrap();
    let done = tail
        .iter()
        .position(|e| matches!(e, Event::Done(_)))
        .unwrap();
    assert!(erase < done, "Erase before the outcome");
    assert_eq!(p.disk, None, "every stored token forgotten");
    assert_eq!(presented(&p).len(), 1);
    // No retry loop: the session idles, sends nothing more, holds no token.
    for _ in 0..3 {
        assert_eq!(p.poll(), Ok(Event::Idle));
    }
    assert_eq!(presented(&p).len(), 1);
    assert_eq!(p.session.phase(), Phase::LoggedOut);
    assert!(!p.session.has_refresh_token());
    assert!(p.session.access_token(p.now()).is_err());
}

#[test]
fn s_life_9_lost_response_after_rotation_one_retry_then_sign_in() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let old_refresh = p.current_refresh_token();
    p.server.misbehave().lose_response_after_rotation = true;
    let stop = p.drive();
    // The retry presented the rotated-out token: the server revoked the grant.
    assert_eq!(
        stop,
        Ok(Stop::Done(Done::SignInRequired(
            EndReason::RefreshRejected(invalid_grant())
        )))
    );
    assert_eq!(
        presented(&p),
        vec![old_refresh.clone(), old_refresh.clone()],
        "one retry"
    );
    assert_eq!(p.server.refresh_token_presentations(&old_refresh), 2);
    assert_eq!(
        p.server.live_grants(),
        0,
        "reuse detection revoked the grant"
    );
    assert_eq!(p.disk, None);
    assert_eq!(p.poll(), Ok(Event::Idle));
    assert_eq!(presented(&p).len(), 2, "never a third presentation");
}

#[test]
fn s_life_9_two_silences_end_with_outcome_unknown() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let old_refresh = p.current_refresh_token();
    let due = p.session.refresh_due_at().unwrap();
    p.clock.set(due);
    let first = p.next_send();
    p.session.handle_timeout(p.now()).unwrap();
    let second = p.next_send();
    assert_eq!(
        refresh_token_in(&second.body),
        Some(old_refresh.clone()),
        "same token retried"
    );
    assert_eq!(first.body, second.body);
    p.session.handle_timeout(p.now()).unwrap();
    assert_eq!(p.poll(), Ok(Event::Erase));
    assert_eq!(
        p.poll(),
        Ok(Event::Done(Done::SignInRequired(
            EndReason::RefreshOutcomeUnknown
        )))
    );
    assert_eq!(p.poll(), Ok(Event::Idle));
    assert_eq!(
        p.sends().len(),
        3,
        "exchange + two refresh attempts, nothing more"
    );
    assert!(
        p.server.is_refresh_token_live(&old_refresh, p.now()),
        "nothing reached it"
    );
}

#[test]
fn lost_response_with_a_grace_window_recovers() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.server.misbehave().lose_response_after_rotation = true;
    p.server.misbehave().accept_rotated_once = true;
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    assert_eq!(presented(&p).len(), 2);
    assert_eq!(p.call_api(), 200);
    assert_eq!(p.stored_refresh_token(), Some(p.current_refresh_token()));
    // And the next rotation is ordinary.
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    assert_eq!(p.server.live_grants(), 1);
}

#[test]
fn s_life_9_a_5xx_on_refresh_is_an_unknown_outcome_retried_once() {
    // One HTML 500: the tokens are still good, the same refresh token is sent once more.
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let before = p.stored_refresh_token().unwrap();
    p.server.misbehave().html_500 = true;
    p.session.refresh(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    assert_eq!(p.call_api(), 200);
    assert_ne!(p.stored_refresh_token().unwrap(), before);

    // Two in a row: sign in again, never a loop.
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.session.refresh(p.now()).unwrap();
    for _ in 0..2 {
        let req = p.next_send();
        p.server.misbehave().html_500 = true;
        let resp = p.exchange(&req);
        assert_eq!(resp.status, 500);
        p.deliver(&resp).unwrap();
    }
    assert_eq!(p.step(), Ok(Event::Erase));
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::SignInRequired(
            EndReason::RefreshOutcomeUnknown
        )))
    );
    assert!(p.disk.is_none());
    assert_eq!(
        p.sends().len(),
        3,
        "code exchange + one refresh + one retry"
    );
}

#[test]
fn forced_refresh_and_refresh_without_a_refresh_token() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    p.session.refresh(p.now()).unwrap();
    assert_eq!(p.session.phase(), Phase::Refreshing);
    assert_eq!(p.session.access_token(p.now()), Err(Error::RefreshDue));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));

    // Client credentials: no refresh token; the token is served until it expires.
    let mut p = Pair::new(rfc_basic());
    p.session.start_client_credentials(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert!(!p.session.has_refresh_token());
    assert_eq!(p.call_api(), 200);
    let expires = p.session.expires_at().unwrap();
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::SignInRequired(EndReason::Expired)))
    );
    assert_eq!(
        p.now(),
        expires,
        "served until expiry, not just until the skew"
    );
    assert_eq!(p.disk, None);
}

#[test]
fn client_credentials_end_to_end() {
    let mut p = Pair::new(rfc_post());
    p.session.start_client_credentials(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
    let req = p.api_requests()[0].clone();
    assert_eq!(
        param_in(req.body.as_bytes(), "grant_type").as_deref(),
        Some("client_credentials")
    );
    // Public clients and other dialects cannot.
    let mut p = Pair::new(rfc_public());
    assert!(matches!(
        p.session.start_client_credentials(p.now()),
        Err(Error::ApiMisuse(_))
    ));
    let mut p = Pair::new(crm_confidential());
    assert!(matches!(
        p.session.start_client_credentials(p.now()),
        Err(Error::ApiMisuse(_))
    ));
}

// ------------------------------------------------------------------------------------------
// Time
// ------------------------------------------------------------------------------------------

#[test]
fn s_life_1_refresh_exactly_at_the_skew_boundary() {
    let mut p = Pair::new(crm_confidential());
    let t0 = p.now();
    p.sign_in();
    let due = t0 + 3600 - u64::from(DEFAULT_REFRESH_SKEW);
    assert_eq!(p.session.expires_at(), Some(t0 + 3600));
    assert_eq!(p.session.refresh_due_at(), Some(due));
    // One second before: still valid, and the session waits.
    p.clock.set(due - 1);
    assert!(p.session.access_token(due - 1).is_ok());
    assert_eq!(p.poll(), Ok(Event::WaitUntil(due)));
    // At the boundary: due, and the refresh is sent.
    p.clock.set(due);
    assert_eq!(p.session.access_token(due), Err(Error::RefreshDue));
    let req = p.next_send();
    assert_eq!(
        param_in(&req.body, "grant_type").as_deref(),
        Some("refresh_token")
    );
}

#[test]
fn s_life_1_custom_skew() {
    let mut p = Pair::new(rfc_public().with_refresh_skew(600));
    let t0 = p.now();
    p.sign_in();
    assert_eq!(p.session.refresh_due_at(), Some(t0 + 3600 - 600));
    assert_eq!(p.poll(), Ok(Event::WaitUntil(t0 + 3000)));
}

#[test]
fn s_life_1_clock_going_backwards_never_extends_a_token() {
    let mut p = Pair::new(crm_confidential());
    let t0 = p.now();
    p.sign_in();
    let due = p.session.refresh_due_at().unwrap();
    // The session sees a late time once (any input counts) ...
    let _ = p
        .session
        .handle_callback(b"code=x&state=y", due + 5, &mut [0u8; 64]);
    // ... then the clock jumps back: the token is still due, and the refresh is sent.
    assert_eq!(p.session.access_token(t0), Err(Error::RefreshDue));
    let mut buf = vec![0u8; BUF_LEN];
    let action = p.session.poll_action(t0, &mut buf).unwrap();
    assert!(
        matches!(action, latchkey_core::session::Action::Send(_)),
        "{action:?}"
    );
}

#[test]
fn s_life_1_missing_expires_in_uses_the_documented_default() {
    let mut p = Pair::new(crm_confidential());
    let t0 = p.now();
    p.server.misbehave().expires_in = Some(ExpiresInQuirk::Missing);
    p.sign_in();
    assert_eq!(
        p.session.expires_at(),
        Some(t0 + u64::from(DEFAULT_EXPIRES_IN))
    );

    let mut p = Pair::new(crm_confidential().with_default_expires_in(120));
    p.server.misbehave().expires_in = Some(ExpiresInQuirk::Missing);
    p.sign_in();
    assert_eq!(p.session.expires_at(), Some(t0 + 120));
    assert_eq!(p.session.refresh_due_at(), Some(t0 + 60));
}

#[test]
fn expires_in_as_a_string_is_accepted() {
    let mut p = Pair::new(rfc_public());
    let t0 = p.now();
    p.server.misbehave().expires_in = Some(ExpiresInQuirk::AsString);
    p.sign_in();
    assert_eq!(p.session.expires_at(), Some(t0 + 3600));
    assert_eq!(p.call_api(), 200);
}

#[test]
fn s_life_8_expires_in_u64_max_saturates() {
    let mut p = Pair::new(crm_confidential());
    p.server.misbehave().expires_in = Some(ExpiresInQuirk::U64Max);
    p.sign_in();
    assert_eq!(p.session.expires_at(), Some(u64::MAX));
    assert_eq!(
        p.session.refresh_due_at(),
        Some(u64::MAX - u64::from(DEFAULT_REFRESH_SKEW))
    );
    assert_eq!(
        p.poll(),
        Ok(Event::WaitUntil(u64::MAX - u64::from(DEFAULT_REFRESH_SKEW)))
    );
    assert!(
        p.session
            .access_token(u64::MAX - u64::from(DEFAULT_REFRESH_SKEW) - 1)
            .is_ok()
    );
    // It survives the snapshot.
    p.restore_from_disk().unwrap();
    assert_eq!(p.session.expires_at(), Some(u64::MAX));
}

#[test]
fn s_life_8_expiry_counts_from_when_the_request_was_sent() {
    let mut p = Pair::new(crm_confidential());
    let t0 = p.now();
    p.sign_in();
    let due = p.session.refresh_due_at().unwrap();
    p.clock.set(due);
    let req = p.next_send();
    let resp: HttpResponse = p.exchange(&req);
    p.clock.advance(100); // a slow network
    p.deliver(&resp).unwrap();
    assert_eq!(p.session.expires_at(), Some(due + 3600));
    assert!(p.session.expires_at() < Some(p.now() + 3600));
    let _ = t0;
}

#[test]
fn s_life_4_one_refresh_in_flight() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let due = p.session.refresh_due_at().unwrap();
    p.clock.set(due);
    let req = p.next_send();
    // While it is in flight: no second request, however long the answer takes.
    for _ in 0..3 {
        assert_eq!(p.poll(), Ok(Event::Idle));
        p.clock.advance(3600);
    }
    assert_eq!(
        p.session.refresh(p.now()),
        Err(latchkey_core::ApiMisuse::WrongState.into())
    );
    assert_eq!(p.session.access_token(p.now()), Err(Error::RefreshDue));
    assert_eq!(presented(&p).len(), 1);
    let resp = p.exchange(&req);
    p.deliver(&resp).unwrap();
    assert!(matches!(p.poll(), Ok(Event::Persist(_))));
    assert_eq!(p.poll(), Ok(Event::Done(Done::Refreshed)));
    // Counted from the send (LIFE-8): the late answer is due again at once.
    assert_eq!(p.session.expires_at(), Some(due + 3600));
    let issued = p.responses.last().unwrap().json().unwrap()["access_token"].clone();
    assert!(
        p.server
            .is_access_token_live(issued.as_str().unwrap(), due + 1)
    );
}

#[test]
fn a_refresh_that_was_never_delivered_keeps_the_tokens() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let disk = p.disk.clone();
    let token = p.stored_refresh_token().unwrap();
    p.session.refresh(p.now()).unwrap();
    let first = p.next_send();
    // Connection refused: nothing reached the server, nothing was rotated.
    p.session.handle_send_failed(p.now()).unwrap();
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(
        p.disk, disk,
        "no Erase, no Persist: the stored grant is untouched"
    );
    // The next poll sends the same token, once; the server then sees it once.
    let again = p.next_send();
    assert_eq!(refresh_token_in(&first.body), Some(token.clone()));
    assert_eq!(refresh_token_in(&again.body), Some(token.clone()));
    let resp = p.exchange(&again);
    p.deliver(&resp).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    assert_eq!(p.server.refresh_token_presentations(&token), 1);
}

#[test]
fn the_server_error_description_is_kept_for_display() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let old_snapshot = p.disk.clone();
    p.session.refresh(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    // A stale copy presents the rotated-out token: the server refuses it.
    p.disk = old_snapshot;
    p.restore_from_disk().unwrap();
    p.session.refresh(p.now()).unwrap();
    assert!(matches!(
        p.drive(),
        Ok(Stop::Done(Done::SignInRequired(
            EndReason::RefreshRejected(_)
        )))
    ));
    assert_eq!(
        p.session.error_description(),
        Some("Refresh token is invalid or expired")
    );
}

#[test]
fn s_life_1_without_a_refresh_token_the_token_is_served_until_it_expires() {
    // client_credentials issues no refresh token.
    let mut p = Pair::new(rfc_basic());
    p.session.start_client_credentials(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert!(!p.session.has_refresh_token());
    let expires_at = p.session.expires_at().unwrap();
    p.clock.set(expires_at - 1);
    assert!(
        p.session.access_token(p.now()).is_ok(),
        "due but unrefreshable: still valid"
    );
    p.clock.set(expires_at);
    assert!(p.session.access_token(p.now()).is_err());
}
