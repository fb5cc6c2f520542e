//! Session tests: logout and revocation (LIFE-5, TOK-9, RFC 7009, protocol.md §2.4).
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::Phase;
use latchkey_core::{ApiMisuse, Error, ErrorKind, HttpStatus, ServerError, ServerMisbehaved};
use latchkey_testkit::{CRM_API, ISSUER};
use util::*;

#[test]
fn s_life_5_logout_erases_first_then_revokes() {
    for (cfg, url) in [
        (rfc_basic(), format!("{ISSUER}/revoke")),
        (rfc_public(), format!("{ISSUER}/revoke")),
        (crm_confidential(), format!("{CRM_API}/oauth/revoke")),
    ] {
        let mut p = Pair::new(cfg);
        p.sign_in();
        let refresh = p.current_refresh_token();
        let access = p.access_token().unwrap();
        let from = p.events.len();
        p.session.logout(p.now()).unwrap();
        // Tokens are gone from memory at once.
        assert!(p.session.access_token(p.now()).is_err());
        assert!(!p.session.has_refresh_token());
        assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
        let tail = &p.events[from..];
        assert_eq!(
            tail[0],
            Event::Erase,
            "the store is emptied before anything is sent"
        );
        let Event::Send(revoke) = &tail[1] else {
            panic!("{:?}", tail[1])
        };
        assert_eq!(revoke.url, url);
        // RFC 7009 names it `token` (+ hint); the CRM names it `refresh_token`.
        let sent = param_in(&revoke.body, "token").or_else(|| refresh_token_in(&revoke.body));
        assert_eq!(sent, Some(refresh.clone()));
        assert_eq!(p.disk, None);
        assert!(
            !p.server.is_refresh_token_live(&refresh, p.now()),
            "revoked"
        );
        assert_eq!(p.session.phase(), Phase::LoggedOut);
        assert_eq!(p.poll(), Ok(Event::Idle));
        // The access token cannot be revoked server-side (protocol.md §2.1); it is simply
        // forgotten locally.
        assert!(
            !p.sends()
                .iter()
                .any(|r| r.body.windows(access.len()).any(|w| w == access.as_bytes()))
        );
    }
}

#[test]
fn s_tok_9_revocation_503_waits_for_retry_after_then_retries() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let refresh = p.current_refresh_token();
    p.server.misbehave().revoke_503 = Some(7);
    p.session.logout(p.now()).unwrap();
    let t = p.now();
    assert_eq!(p.step(), Ok(Event::Erase));
    assert_eq!(p.disk, None, "emptied before the server answered");
    assert!(matches!(p.step(), Ok(Event::Send(_))));
    assert!(
        p.server.is_refresh_token_live(&refresh, p.now()),
        "503: still live"
    );
    assert_eq!(p.step(), Ok(Event::WaitUntil(t + 7)));
    assert!(matches!(p.step(), Ok(Event::Send(_))));
    assert_eq!(p.step(), Ok(Event::Done(Done::LoggedOut(Ok(())))));
    assert!(!p.server.is_refresh_token_live(&refresh, p.now()));
    let revokes: Vec<_> = p
        .api_requests()
        .into_iter()
        .filter(|r| r.path() == "/oauth/revoke")
        .collect();
    assert_eq!(revokes.len(), 2);
    assert_eq!(revokes[1].now - revokes[0].now, 7);
}

#[test]
fn s_tok_9_revocation_that_keeps_failing_is_reported_and_the_store_is_empty() {
    let mut p = Pair::new(rfc_basic());
    p.sign_in();
    let refresh = p.current_refresh_token();
    p.session.logout(p.now()).unwrap();
    let mut outcome = None;
    for _ in 0..MAX_STEPS {
        p.server.misbehave().revoke_503 = Some(1);
        match p.step().unwrap() {
            Event::Done(d) => {
                outcome = Some(d);
                break;
            }
            Event::Idle => break,
            _ => {}
        }
    }
    assert_eq!(
        outcome,
        Some(Done::LoggedOut(Err(Error::ServerError(ServerError {
            code: ErrorKind::TemporarilyUnavailable,
            status: HttpStatus::new(503),
        }))))
    );
    assert_eq!(
        p.api_requests()
            .iter()
            .filter(|r| r.path() == "/revoke")
            .count(),
        usize::from(latchkey_core::session::MAX_REVOKE_ATTEMPTS)
    );
    assert_eq!(p.disk, None);
    assert!(
        p.server.is_refresh_token_live(&refresh, p.now()),
        "reported: it may be live"
    );
    assert_eq!(p.session.phase(), Phase::LoggedOut);
}

#[test]
fn s_life_5_logout_completes_when_revocation_gets_no_answer_or_a_redirect() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.step(), Ok(Event::Erase));
    assert!(matches!(p.poll(), Ok(Event::Send(_))));
    p.session.handle_timeout(p.now()).unwrap();
    assert_eq!(
        p.poll(),
        Ok(Event::Done(Done::LoggedOut(Err(
            ServerMisbehaved::NoResponse.into()
        ))))
    );
    assert_eq!(p.disk, None);

    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    p.server.misbehave().redirect_307 = Some(latchkey_testkit::EVIL_TOKEN_URL.to_owned());
    p.session.logout(p.now()).unwrap();
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::LoggedOut(Err(
            ServerMisbehaved::Redirect.into()
        ))))
    );
    assert!(
        p.server.log().iter().all(|r| r.host() != "evil.example"),
        "TOK-6"
    );
    assert_eq!(p.disk, None);
}

#[test]
fn kommo_logout_just_forgets() {
    let mut p = Pair::new(kommo());
    p.sign_in();
    let before = p.server.log().len();
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.step(), Ok(Event::Erase));
    assert_eq!(p.step(), Ok(Event::Done(Done::LoggedOut(Ok(())))));
    assert_eq!(
        p.server.log().len(),
        before,
        "Kommo has no revocation endpoint"
    );
    assert_eq!(p.disk, None);
}

#[test]
fn rfc_without_revocation_endpoint_just_forgets() {
    let mut cfg = rfc_basic();
    if let latchkey_core::Profile::Rfc6749(r) = &mut cfg.profile {
        r.revocation = None;
    }
    let mut p = Pair::new(cfg);
    p.sign_in();
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    assert_eq!(p.api_requests().len(), 1, "only the code exchange");
    assert_eq!(p.disk, None);
}

#[test]
fn logout_while_a_refresh_is_in_flight_revokes_that_token() {
    let mut p = Pair::new(crm_confidential());
    p.sign_in();
    let refresh = p.current_refresh_token();
    p.clock.set(p.session.refresh_due_at().unwrap());
    let in_flight = p.next_send();
    let answer = p.exchange(&in_flight);
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.session.phase(), Phase::Revoking);
    // The answer to the abandoned refresh is refused without disturbing the logout.
    assert_eq!(p.deliver(&answer), Err(ApiMisuse::WrongState.into()));
    assert_eq!(p.session.phase(), Phase::Revoking);
    assert_eq!(p.step(), Ok(Event::Erase));
    let Ok(Event::Send(revoke)) = p.step() else {
        panic!()
    };
    assert_eq!(refresh_token_in(&revoke.body), Some(refresh));
    assert_eq!(p.step(), Ok(Event::Done(Done::LoggedOut(Ok(())))));
    // The refresh had rotated the token on the server; revoking the old one still ends the
    // whole grant, so the new token the session never saw is dead too.
    assert_eq!(p.server.live_grants(), 0);
}

#[test]
fn logout_in_every_state() {
    // Idle and pending-authorization sessions: nothing to revoke.
    let mut p = Pair::new(crm_confidential());
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    let mut p = Pair::new(crm_confidential());
    p.auto_browser = false;
    p.start_authorization().unwrap();
    assert!(matches!(p.step(), Ok(Event::OpenUrl(_))));
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    // A poisoned session holds no tokens: logout only erases the store.
    let mut p = Pair::new(crm_confidential());
    p.server.misbehave().callback_wrong_state = true;
    p.start_authorization().unwrap();
    assert!(p.drive().is_err());
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.step(), Ok(Event::Erase));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
}
