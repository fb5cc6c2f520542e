//! Session tests: the CRM password grant and its MFA steps (`password-grant` feature;
//! protocol.md §2.3, CRM-2, CRM-3).
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects
#![cfg(feature = "password-grant")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::Phase;
use latchkey_core::token::MfaType;
use latchkey_core::{ApiMisuse, Error, ErrorKind, HttpStatus, ServerError};
use latchkey_testkit::{
    ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, CRM_API, DAVE_PASSWORD, MfaState, USER_ALICE,
    USER_BOB, USER_CAROL, USER_DAVE,
};
use util::*;

fn invalid_grant() -> Error {
    Error::ServerError(ServerError {
        code: ErrorKind::InvalidGrant,
        status: HttpStatus::new(400),
    })
}

fn last_description(p: &Pair) -> String {
    let json = p.responses.last().unwrap().json().unwrap();
    json["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Password login that stops at `MfaRequired`; returns the MFA token the server issued.
fn login_to_mfa(p: &mut Pair, user: &str, password: &str) -> String {
    p.session
        .start_password_login(user, password, p.now())
        .unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::MfaRequired)));
    assert_eq!(p.session.phase(), Phase::MfaRequired);
    let body = p.responses.last().unwrap().json().unwrap();
    body["mfa_token"].as_str().unwrap().to_owned()
}

fn path_of(p: &Pair, i: usize) -> String {
    p.api_requests()[i].path().to_owned()
}

#[test]
fn crm_password_grant_without_mfa() {
    let mut p = Pair::new(crm_confidential());
    p.session
        .start_password_login(USER_ALICE, ALICE_PASSWORD, p.now())
        .unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
    let req = p.api_requests()[0].clone();
    assert_eq!(req.url, format!("{CRM_API}/oauth/token"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("authorization").unwrap().starts_with("Basic "));
    let body = req.body.as_bytes();
    assert_eq!(param_in(body, "grant_type").as_deref(), Some("password"));
    assert_eq!(param_in(body, "username").as_deref(), Some(USER_ALICE));
    // The password was used once and is not in the snapshot.
    let disk = p.disk.clone().unwrap();
    assert!(
        !disk
            .windows(ALICE_PASSWORD.len())
            .any(|w| w == ALICE_PASSWORD.as_bytes())
    );
    assert!(!format!("{:?}", p.session).contains(ALICE_PASSWORD));
}

#[test]
fn crm_wrong_password_is_invalid_grant() {
    let mut p = Pair::new(crm_confidential());
    p.session
        .start_password_login(USER_ALICE, "nope", p.now())
        .unwrap();
    assert_eq!(p.drive(), Err(invalid_grant()));
    assert_eq!(last_description(&p), "Invalid username or password");
    assert_eq!(p.session.phase(), Phase::Failed);
}

#[test]
fn s_crm_3_password_grant_is_for_crm_confidential_clients_only() {
    for cfg in [rfc_basic(), kommo()] {
        let mut p = Pair::new(cfg);
        assert!(matches!(
            p.session
                .start_password_login(USER_ALICE, ALICE_PASSWORD, p.now()),
            Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
        ));
    }
    let mut p = Pair::new(crm_public());
    assert_eq!(
        p.session
            .start_password_login(USER_ALICE, ALICE_PASSWORD, p.now()),
        Err(ApiMisuse::NoClientSecret.into())
    );
    assert_eq!(p.session.phase(), Phase::Idle);
    assert!(p.server.log().is_empty());
}

#[test]
fn crm_password_then_totp() {
    let mut p = Pair::new(crm_confidential());
    let mfa = login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    assert_eq!(last_description(&p), "Multi-factor authentication required");
    let otp = p.server.totp_now(USER_BOB, p.now()).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
    let verify = p.api_requests()[1].clone();
    assert_eq!(verify.path(), "/oauth/mfa/verify");
    assert_eq!(param_in(verify.body.as_bytes(), "mfa_token"), Some(mfa));
    assert_eq!(param_in(verify.body.as_bytes(), "otp_code"), Some(otp));
}

#[test]
fn crm_wrong_otp_is_rejected_and_the_user_can_try_again() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    p.session.submit_otp("000000", p.now()).unwrap();
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::MfaRejected(invalid_grant())))
    );
    assert_eq!(last_description(&p), "Invalid or expired OTP code");
    assert_eq!(p.session.phase(), Phase::MfaRequired);
    let otp = p.server.totp_now(USER_BOB, p.now()).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
}

#[test]
fn crm_expired_mfa_token_is_invalid_mfa_token() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    p.clock.advance(p.server.config().mfa_token_lifetime + 1);
    let otp = p.server.totp_now(USER_BOB, p.now()).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::MfaRejected(invalid_grant())))
    );
    assert_eq!(last_description(&p), "Invalid Mfa token");
}

#[test]
fn s_crm_2_mfa_token_is_forgotten_after_the_step() {
    let mut p = Pair::new(crm_confidential());
    let mfa = login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    assert!(!format!("{:?}", p.session).contains(&mfa), "SEC-1");
    let otp = p.server.totp_now(USER_BOB, p.now()).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    // The step is over: no MFA call is possible any more, and the MFA token appears in no
    // later request, nor in the snapshot.
    assert_eq!(p.session.phase(), Phase::Authorized);
    assert_eq!(
        p.session.submit_otp("123456", p.now()),
        Err(ApiMisuse::WrongState.into())
    );
    assert_eq!(
        p.session.send_email_otp(p.now()),
        Err(ApiMisuse::WrongState.into())
    );
    let disk = p.disk.clone().unwrap();
    assert!(!disk.windows(mfa.len()).any(|w| w == mfa.as_bytes()));
    let seen = p.server.log().len();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Refreshed)));
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    assert!(p.server.log()[seen..].iter().all(|r| !r.carries(&mfa)));
    assert_eq!(p.server.log().iter().filter(|r| r.carries(&mfa)).count(), 1);

    // Logging out of a pending MFA step forgets the token too.
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    p.session.logout(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::LoggedOut(Ok(())))));
    assert_eq!(
        p.session.submit_otp("123456", p.now()),
        Err(ApiMisuse::WrongState.into())
    );
}

#[test]
fn crm_email_otp_path() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_CAROL, CAROL_PASSWORD);
    p.session.send_email_otp(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Accepted)));
    assert_eq!(path_of(&p, 1), "/oauth/mfa/email/send");
    let otp = p.server.last_email_otp(USER_CAROL).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
}

#[test]
fn crm_get_secret_bind_authenticator_then_verify() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_DAVE, DAVE_PASSWORD);
    p.session.request_mfa_secret(p.now()).unwrap();
    let Ok(Stop::Done(Done::MfaSecret(secret))) = p.drive() else {
        panic!()
    };
    // The base32 secret, PHP-escaping undone; the server's authenticator uses the same one.
    let raw = latchkey_testkit::totp::base32_decode(&secret).unwrap();
    assert_eq!(raw.len(), 20);
    let otp = p.server.totp_now(USER_DAVE, p.now()).unwrap();
    assert_eq!(otp, latchkey_testkit::totp::totp_code(&raw, p.now()));
    p.session
        .bind_mfa(MfaType::Authenticator, &otp, p.now())
        .unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Accepted)));
    assert!(matches!(
        p.server.mfa_state(USER_DAVE),
        Some(MfaState::Authenticator { .. })
    ));
    // Next TOTP step, then verify.
    p.clock.advance(30);
    let otp = p.server.totp_now(USER_DAVE, p.now()).unwrap();
    p.session.submit_otp(&otp, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
    let paths: Vec<_> = p
        .api_requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/oauth/token",
            "/oauth/mfa/secret",
            "/oauth/mfa/bind",
            "/oauth/mfa/verify"
        ]
    );
}

#[test]
fn crm_bind_with_a_wrong_code_is_rejected() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_DAVE, DAVE_PASSWORD);
    p.session.request_mfa_secret(p.now()).unwrap();
    assert!(matches!(p.drive(), Ok(Stop::Done(Done::MfaSecret(_)))));
    p.session
        .bind_mfa(MfaType::Authenticator, "000000", p.now())
        .unwrap();
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::MfaRejected(invalid_grant())))
    );
    assert_eq!(last_description(&p), "Invalid Otp code");
    assert_eq!(p.session.phase(), Phase::MfaRequired);
}

#[test]
fn crm_deactivate_mfa() {
    let mut p = Pair::new(crm_confidential());
    login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    p.session.deactivate_mfa(p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Accepted)));
    assert!(p.server.mfa_deactivation_requested(USER_BOB));
    assert_eq!(path_of(&p, 1), "/oauth/mfa/deactivation/request");
}

#[test]
fn crm_forgot_password_and_rate_limit() {
    let mut p = Pair::new(crm_confidential());
    p.session.forgot_password(USER_ALICE, p.now()).unwrap();
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Accepted)));
    assert_eq!(p.server.password_reset_requests(USER_ALICE), 1);
    assert_eq!(path_of(&p, 0), "/oauth/forget");
    assert_eq!(p.session.phase(), Phase::Idle);
    // Again, too soon.
    p.session.forgot_password(USER_ALICE, p.now()).unwrap();
    let limited = Error::ServerError(ServerError {
        code: ErrorKind::RateLimitExceeded,
        status: HttpStatus::new(400),
    });
    assert_eq!(p.drive(), Err(limited));
    assert_eq!(p.server.password_reset_requests(USER_ALICE), 1);
}

#[test]
fn mfa_calls_out_of_turn_are_api_misuse_and_change_nothing() {
    let mut p = Pair::new(crm_confidential());
    assert_eq!(
        p.session.submit_otp("1", p.now()),
        Err(ApiMisuse::WrongState.into())
    );
    login_to_mfa(&mut p, USER_BOB, BOB_PASSWORD);
    p.session.send_email_otp(p.now()).unwrap();
    // One step at a time: a second one while the first is queued is refused.
    assert_eq!(
        p.session.deactivate_mfa(p.now()),
        Err(ApiMisuse::WrongState.into())
    );
    assert!(matches!(
        p.session.submit_otp("", p.now()),
        Err(Error::ApiMisuse(_))
    ));
    assert_eq!(p.session.phase(), Phase::MfaRequired);
    // Bob has an authenticator: the server refuses the email step.
    assert_eq!(
        p.drive(),
        Ok(Stop::Done(Done::MfaRejected(invalid_grant())))
    );
    assert_eq!(last_description(&p), "Invalid Mfa Type");
}
