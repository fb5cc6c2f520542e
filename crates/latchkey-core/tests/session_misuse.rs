//! Session tests: misuse and replays — calls out of turn are `ApiMisuse` and change
//! nothing; callbacks and replies with nothing pending are `NothingPending` (STATE-4,
//! STATE-5, PM-3); a too-small buffer loses no action; each verifier is sent once (PKCE-4).
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::{Phase, Session};
use latchkey_core::state::AUTHORIZATION_ENTROPY;
use latchkey_core::{ApiMisuse, CheckFailed, Error, Len, ServerMisbehaved};
use latchkey_testkit::RFC_REDIRECT_URI;
use util::*;

fn verifiers(p: &Pair) -> Vec<String> {
    p.api_requests()
        .iter()
        .filter_map(|r| param_in(r.body.as_bytes(), "code_verifier"))
        .collect()
}

#[test]
fn s_state_5_callback_with_nothing_pending_is_rejected_and_changes_nothing() {
    let mut p = Pair::new(rfc_public());
    let query = format!("code=abc&state=xyz&iss={}", "https%3A%2F%2Fas.example");
    assert_eq!(p.callback(&query), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.session.phase(), Phase::Idle);
    p.sign_in();
    let token = p.access_token().unwrap();
    assert_eq!(p.callback(&query), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(p.access_token().unwrap(), token);
    assert_eq!(p.api_requests().len(), 1);
    // A Kommo widget install (no state) is never bound to a browser session either.
    let mut p = Pair::new(kommo());
    let install = "code=abc&referer=example.kommo.com&from_widget=1&client_id=x";
    assert_eq!(p.callback(install), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.session.phase(), Phase::Idle);
}

#[test]
fn s_state_4_replayed_callback_fails() {
    for cfg in [rfc_public(), crm_confidential(), kommo()] {
        let mut p = Pair::new(cfg);
        p.sign_in();
        let replay = p.last_callback.clone().unwrap();
        let token = p.access_token().unwrap();
        assert_eq!(p.callback(&replay), Err(CheckFailed::NothingPending.into()));
        assert_eq!(p.session.phase(), Phase::Authorized);
        assert_eq!(p.access_token().unwrap(), token);
        assert_eq!(p.poll().map(|e| matches!(e, Event::WaitUntil(_))), Ok(true));
        assert_eq!(p.api_requests().len(), 1, "no second exchange");

        // Replayed into a new authorization: its state differs, so it is refused and the
        // pending request is discarded.
        p.session.logout(p.now()).unwrap();
        assert!(matches!(p.drive(), Ok(Stop::Done(Done::LoggedOut(_)))));
        p.auto_browser = false;
        p.start_authorization().unwrap();
        assert!(matches!(p.step(), Ok(Event::OpenUrl(_))));
        assert_eq!(p.callback(&replay), Err(CheckFailed::StateMismatch.into()));
        assert_eq!(p.session.phase(), Phase::Failed);
    }
}

#[test]
fn s_state_4_replay_while_the_exchange_is_queued_is_ignored() {
    let mut p = Pair::new(crm_public());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let Ok(Event::OpenUrl(url)) = p.step() else {
        panic!()
    };
    let resp = p
        .server
        .handle(p.now(), &latchkey_testkit::HttpRequest::get(&url));
    let query = resp
        .location()
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    p.callback(&query).unwrap();
    assert_eq!(p.callback(&query), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.api_requests().len(), 1);
}

#[test]
fn s_pm_3_duplicate_or_late_reply_is_rejected_and_changes_nothing() {
    let mut p = Pair::new(crm_confidential());
    p.start_iframe().unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    let reply = p.last_reply.clone().unwrap();
    assert_eq!(p.message(&reply), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(p.api_requests().len(), 1);

    // A reply while a redirect flow (not the iframe flow) is pending: nothing pending.
    let mut p = Pair::new(crm_confidential());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    assert!(matches!(p.step(), Ok(Event::OpenUrl(_))));
    assert_eq!(p.message(&reply), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.session.phase(), Phase::ExpectCallback);

    // The duplicate arriving before the exchange is sent: ignored, one exchange.
    let mut p = Pair::new(crm_confidential());
    p.auto_browser = false;
    p.start_iframe().unwrap();
    let Ok(Event::PostMessage { json, .. }) = p.step() else {
        panic!()
    };
    let reply = p.server.answer_postmessage(p.now(), &json).unwrap();
    p.message(&reply).unwrap();
    assert_eq!(p.message(&reply), Err(CheckFailed::NothingPending.into()));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.api_requests().len(), 1);
}

#[test]
fn s_pkce_4_each_verifier_is_sent_once() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.session.logout(p.now()).unwrap();
    assert!(matches!(p.drive(), Ok(Stop::Done(Done::LoggedOut(_)))));
    p.sign_in();
    let v = verifiers(&p);
    assert_eq!(v.len(), 2);
    assert_ne!(v[0], v[1], "a fresh verifier per authorization request");

    // An exchange that gets no answer is not sent again (the code is single-use anyway).
    let mut p = Pair::new(rfc_public());
    p.start_authorization().unwrap();
    let _ = p.next_send();
    assert_eq!(
        p.session.handle_timeout(p.now()),
        Err(ServerMisbehaved::NoResponse.into())
    );
    assert_eq!(p.poll(), Err(ApiMisuse::Poisoned.into()));
    assert_eq!(p.sends().len(), 1);
    // The verifier was never in the URL the browser opened (PKCE-5).
    let Event::Send(req) = p
        .events
        .iter()
        .find(|e| matches!(e, Event::Send(_)))
        .unwrap()
    else {
        panic!()
    };
    let verifier = param_in(&req.body, "code_verifier").unwrap();
    assert!(p.server.log().iter().all(|r| !r.url.contains(&verifier)));
}

#[test]
fn calls_out_of_turn_are_api_misuse_and_change_nothing() {
    let mut p = Pair::new(crm_confidential());
    let now = p.now();
    // Nothing in flight.
    let resp = latchkey_testkit::HttpResponse {
        status: 200,
        headers: vec![],
        body: b"{}".to_vec(),
    };
    assert_eq!(p.deliver(&resp), Err(ApiMisuse::WrongState.into()));
    assert_eq!(
        p.session.handle_timeout(now),
        Err(ApiMisuse::WrongState.into())
    );
    assert_eq!(p.session.refresh(now), Err(ApiMisuse::WrongState.into()));
    assert_eq!(
        p.session.access_token(now).err(),
        Some(ApiMisuse::WrongState.into())
    );
    assert_eq!(p.session.phase(), Phase::Idle);
    // Too little entropy.
    assert_eq!(
        p.session
            .start_authorization(&[1u8; AUTHORIZATION_ENTROPY - 1], now),
        Err(ApiMisuse::NotEnoughEntropy {
            required: AUTHORIZATION_ENTROPY as u8
        }
        .into())
    );
    assert_eq!(p.session.phase(), Phase::Idle);
    // Signed in: no new flow on top.
    p.sign_in();
    let e = p.fresh_entropy();
    assert_eq!(
        p.session.start_authorization(&e, now),
        Err(ApiMisuse::WrongState.into())
    );
    assert_eq!(
        p.session.start_client_credentials(now),
        Err(ApiMisuse::WrongState.into())
    );
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(p.call_api(), 200);
    // A response while the refresh is only queued (not yet sent).
    p.session.refresh(p.now()).unwrap();
    assert_eq!(p.deliver(&resp), Err(ApiMisuse::WrongState.into()));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
}

#[test]
fn a_new_authorization_replaces_a_pending_one() {
    let mut p = Pair::new(rfc_public());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    let Ok(Event::OpenUrl(first)) = p.step() else {
        panic!()
    };
    p.auto_browser = true;
    p.start_authorization().unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    let Event::OpenUrl(second) = p
        .events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::OpenUrl(_)))
        .unwrap()
    else {
        panic!()
    };
    assert_ne!(&first, second);
}

#[test]
fn poisoned_sessions_refuse_everything_but_logout() {
    let mut p = Pair::new(rfc_public());
    p.server.misbehave().callback_wrong_state = true;
    p.start_authorization().unwrap();
    assert_eq!(p.drive(), Err(CheckFailed::StateMismatch.into()));
    assert_eq!(p.session.failure(), Some(CheckFailed::StateMismatch.into()));
    let now = p.now();
    let poisoned: Error = ApiMisuse::Poisoned.into();
    assert_eq!(p.poll(), Err(poisoned));
    assert_eq!(p.callback("code=a&state=b"), Err(poisoned));
    assert_eq!(p.message("{}"), Err(poisoned));
    assert_eq!(p.session.handle_timeout(now), Err(poisoned));
    assert_eq!(p.session.refresh(now), Err(poisoned));
    let e = p.fresh_entropy();
    assert_eq!(p.session.start_authorization(&e, now), Err(poisoned));
    assert_eq!(p.session.access_token(now).err(), Some(poisoned));
    // The one way out: logout (it holds no tokens, so it only erases the store).
    assert_eq!(p.session.logout(now), Ok(()));
    assert_eq!(p.poll(), Ok(Event::Erase));
}

#[test]
fn a_too_small_buffer_loses_no_action() {
    use latchkey_core::session::Action;
    let mut p = Pair::new(crm_confidential());
    p.start_authorization().unwrap();
    let now = p.now();
    let mut tiny = [0u8; 8];
    // The URL: too small, then exactly enough.
    let Err(Error::BufferTooSmall { required }) = p.session.poll_action(now, &mut tiny) else {
        panic!()
    };
    assert_eq!(p.session.phase(), Phase::ExpectCallback);
    let mut exact = vec![0u8; required.get()];
    let Ok(Action::OpenUrl(url)) = p.session.poll_action(now, &mut exact) else {
        panic!()
    };
    let url = url.to_owned();
    let resp = p
        .server
        .handle(now, &latchkey_testkit::HttpRequest::get(&url));
    let query = resp
        .location()
        .unwrap()
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    p.callback(&query).unwrap();
    // The exchange: too small (the verifier is not consumed), then enough.
    let Err(Error::BufferTooSmall { required }) = p.session.poll_action(now, &mut tiny) else {
        panic!()
    };
    assert_eq!(p.session.phase(), Phase::ExpectTokenResponse);
    assert!(required > Len::new(tiny.len()));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
}

#[test]
fn a_too_small_buffer_for_the_snapshot_keeps_it_queued() {
    let mut p = Pair::new(crm_confidential());
    p.start_authorization().unwrap();
    // Drive to the token response, then poll the Persist with a small buffer.
    let req = p.next_send();
    let resp = p.exchange(&req);
    p.deliver(&resp).unwrap();
    let now = p.now();
    let mut small = [0u8; 16];
    assert!(matches!(
        p.session.poll_action(now, &mut small),
        Err(Error::BufferTooSmall { .. })
    ));
    assert!(matches!(p.poll(), Ok(Event::Persist(_))));
    assert_eq!(p.poll(), Ok(Event::Done(Done::Authorized)));
    let _ = RFC_REDIRECT_URI;
}

#[test]
fn debug_output_shows_no_secret() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let token = p.access_token().unwrap();
    let debug = format!("{:?}", p.session);
    assert!(!debug.contains(&token));
    assert!(!debug.contains(latchkey_testkit::CRM_CLIENT_SECRET));
    assert!(debug.contains("Authorized"));
    let _: Option<Session> = None;
}
