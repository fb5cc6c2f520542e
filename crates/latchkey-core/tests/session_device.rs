//! Session tests: the RFC 8628 device grant (DEV-1, DEV-2, DEV-3) against the testkit.
#![cfg(feature = "device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod util;

use latchkey_core::session::{MAX_DEVICE_INTERVAL, Phase};
use latchkey_core::{ApiMisuse, Error, ErrorKind, HttpStatus, ServerError};
use latchkey_testkit::{ISSUER, ServerConfig};
use util::*;

fn device_polls(p: &Pair) -> Vec<u64> {
    p.server
        .log()
        .iter()
        .filter(|r| r.body.contains("device_code") && r.path() == "/token")
        .map(|r| r.now)
        .collect()
}

fn start(p: &mut Pair) -> String {
    p.session.start_device_authorization(p.now()).unwrap();
    match p.drive() {
        Ok(Stop::UserCode(code)) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn device_grant_end_to_end() {
    let mut p = Pair::new(rfc_public());
    let t0 = p.now();
    let user_code = start(&mut p);
    // DEV-2: shown as given, with the verification URI; nothing was opened.
    let shown = p.events.iter().find_map(|e| match e {
        Event::ShowUserCode {
            verification_uri,
            verification_uri_complete,
            ..
        } => Some((verification_uri.clone(), verification_uri_complete.clone())),
        _ => None,
    });
    let (uri, complete) = shown.unwrap();
    assert!(uri.starts_with(ISSUER));
    assert!(complete.is_none_or(|c| c.contains(&user_code)));
    assert!(!p.events.iter().any(|e| matches!(e, Event::OpenUrl(_))));
    assert_eq!(p.session.phase(), Phase::ExpectDeviceApproval);

    // A few pending polls, then the user approves.
    for _ in 0..3 {
        assert!(matches!(p.step(), Ok(Event::WaitUntil(_))));
        assert!(matches!(p.step(), Ok(Event::Send(_))));
    }
    assert!(p.server.approve_device(&user_code));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    assert_eq!(p.call_api(), 200);
    let polls = device_polls(&p);
    assert_eq!(
        polls,
        vec![t0 + 5, t0 + 10, t0 + 15, t0 + 20],
        "at the server's interval"
    );
    assert!(p.disk.is_some());
}

#[test]
fn s_dev_1_slow_down_adds_five_seconds_to_every_later_poll() {
    let mut p = Pair::new(rfc_public());
    let t0 = p.now();
    let user_code = start(&mut p);
    p.server.misbehave().slow_down_storm = 2;
    for _ in 0..3 {
        assert!(matches!(p.step(), Ok(Event::WaitUntil(_))));
        assert!(matches!(p.step(), Ok(Event::Send(_))));
    }
    assert!(p.server.approve_device(&user_code));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
    // Polls at +5; slow_down → 10 s; slow_down → 15 s; pending; approved.
    assert_eq!(device_polls(&p), vec![t0 + 5, t0 + 15, t0 + 30, t0 + 45]);
}

#[test]
fn s_dev_1_access_denied_stops_polling() {
    let mut p = Pair::new(rfc_public());
    let user_code = start(&mut p);
    assert!(p.server.deny_device(&user_code));
    let denied = Error::ServerError(ServerError {
        code: ErrorKind::AccessDenied,
        status: HttpStatus::new(400),
    });
    assert_eq!(p.drive(), Err(denied));
    assert_eq!(device_polls(&p).len(), 1);
    assert_eq!(p.session.phase(), Phase::Failed);
    assert_eq!(p.poll(), Err(ApiMisuse::Poisoned.into()));
    assert_eq!(device_polls(&p).len(), 1);
}

#[test]
fn s_dev_1_expired_token_stops_at_expires_in() {
    let server = ServerConfig {
        device_code_lifetime: 60,
        ..ServerConfig::default()
    };
    let mut p = Pair::with_server(rfc_public(), server);
    let t0 = p.now();
    start(&mut p);
    let err = loop {
        if let Err(e) = p.step() {
            break e;
        }
    };
    assert!(
        matches!(
            err,
            Error::ServerError(ServerError {
                code: ErrorKind::ExpiredToken,
                ..
            })
        ),
        "{err:?}"
    );
    let polls = device_polls(&p);
    assert_eq!(polls.len(), 11, "every 5 s until expires_in");
    assert!(
        polls.iter().all(|&t| t < t0 + 60),
        "no poll at or after expires_in"
    );
    assert_eq!(
        p.now(),
        t0 + 60,
        "the last wait ends at expires_in, not after it"
    );
}

#[test]
fn s_dev_1_server_side_expired_token_ends_the_flow() {
    // The server's code expires sooner than it said (clock skew): its expired_token ends it.
    let mut p = Pair::new(rfc_public());
    start(&mut p);
    let req = p.next_send();
    p.clock.advance(1800);
    let resp = p.exchange(&req);
    let expired = Error::ServerError(ServerError {
        code: ErrorKind::ExpiredToken,
        status: HttpStatus::new(400),
    });
    assert_eq!(p.deliver(&resp), Err(expired));
    assert_eq!(p.session.phase(), Phase::Failed);
}

#[test]
fn s_dev_3_polling_backs_off_on_timeouts() {
    let mut p = Pair::new(rfc_public());
    let user_code = start(&mut p);
    let mut waits = Vec::new();
    for _ in 0..8 {
        let _ = p.next_send();
        p.session.handle_timeout(p.now()).unwrap();
        let before = p.now();
        match p.poll().unwrap() {
            Event::WaitUntil(t) => {
                waits.push(t - before);
                p.clock.set(t);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        waits,
        vec![
            10,
            20,
            40,
            80,
            160,
            MAX_DEVICE_INTERVAL,
            MAX_DEVICE_INTERVAL,
            MAX_DEVICE_INTERVAL
        ]
    );
    // Still pending; the flow can finish.
    let _ = user_code;
}

#[test]
fn s_dev_3_back_off_ends_when_the_server_answers_again() {
    let mut p = Pair::new(rfc_public());
    let user_code = start(&mut p);
    // Three polls lost: the wait doubles from the server's 5 s interval.
    for expected in [10, 20, 40] {
        let _ = p.next_send();
        p.session.handle_timeout(p.now()).unwrap();
        let before = p.now();
        match p.poll().unwrap() {
            Event::WaitUntil(t) => {
                assert_eq!(t - before, expected);
                p.clock.set(t);
            }
            other => panic!("{other:?}"),
        }
    }
    // The next poll is answered (authorization_pending): back to the server's interval,
    // not stuck at the backed-off one.
    let req = p.next_send();
    let resp = p.exchange(&req);
    p.deliver(&resp).unwrap();
    let before = p.now();
    match p.poll().unwrap() {
        Event::WaitUntil(t) => assert_eq!(t - before, 5),
        other => panic!("{other:?}"),
    }
    assert!(p.server.approve_device(&user_code));
    assert_eq!(p.drive(), Ok(Stop::Done(Done::Authorized)));
}

#[test]
fn s_dev_3_the_device_client_is_public_and_rfc_only() {
    let mut p = Pair::new(rfc_public());
    start(&mut p);
    let polls: Vec<_> = p.api_requests().into_iter().cloned().collect();
    assert!(polls.iter().all(|r| r.header("authorization").is_none()));
    #[allow(unused_mut)] // reason: empty when neither other dialect is compiled in
    let mut others = Vec::new();
    #[cfg(feature = "crm")]
    others.push(crm_confidential());
    #[cfg(feature = "kommo")]
    others.push(kommo());
    for cfg in others {
        let mut p = Pair::new(cfg);
        assert!(matches!(
            p.session.start_device_authorization(p.now()),
            Err(Error::ApiMisuse(ApiMisuse::NoEndpoint(_)))
        ));
        assert_eq!(p.session.phase(), Phase::Idle);
    }
}

#[test]
fn s_dev_1_expiry_counts_from_when_the_request_was_sent() {
    let server = ServerConfig {
        device_code_lifetime: 60,
        ..ServerConfig::default()
    };
    let mut p = Pair::with_server(rfc_public(), server);
    let t0 = p.now();
    p.session.start_device_authorization(t0).unwrap();
    let req = p.next_send();
    let resp = p.exchange(&req);
    p.clock.advance(20); // a slow network: the code is 20 s old when it arrives
    p.deliver(&resp).unwrap();
    let err = loop {
        if let Err(e) = p.step() {
            break e;
        }
    };
    assert!(matches!(
        err,
        Error::ServerError(ServerError {
            code: ErrorKind::ExpiredToken,
            ..
        })
    ));
    assert_eq!(
        p.now(),
        t0 + 60,
        "stops when the server's code expires, not 20 s later"
    );
    assert!(device_polls(&p).iter().all(|&t| t < t0 + 60));
}

/// A session in `ExpectDeviceApproval` after the device authorization response `body`.
fn after_device_response(body: &str) -> (latchkey_core::session::Session, Result<(), Error>) {
    use latchkey_core::http::Response;
    use latchkey_core::session::{Action, Session};
    let mut s: Session = Session::new(rfc_public());
    let (mut buf, mut scratch) = ([0u8; 4096], [0u8; 4096]);
    s.start_device_authorization(1_000).unwrap();
    assert!(matches!(
        s.poll_action(1_000, &mut buf),
        Ok(Action::Send(_))
    ));
    let r = s.handle_response(Response::new(200, body.as_bytes()), 1_000, &mut scratch);
    (s, r)
}

#[test]
fn s_dev_2_too_small_a_buffer_reports_the_whole_user_code_action() {
    use latchkey_core::session::Action;
    let body = r#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://as.example/device","verification_uri_complete":"https://as.example/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5}"#;
    let (mut s, r) = after_device_response(body);
    r.unwrap();
    let whole = "WDJB-MJHT".len()
        + "https://as.example/device".len()
        + "https://as.example/device?user_code=WDJB-MJHT".len();
    // Too small for any piece, then for the last one only: the size of all three, and the
    // action stays queued.
    for short in [4, whole - 1] {
        let mut buf = vec![0u8; short];
        assert_eq!(
            s.poll_action(1_000, &mut buf),
            Err(Error::BufferTooSmall {
                required: latchkey_core::Len::new(whole)
            })
        );
        assert_eq!(s.phase(), Phase::ExpectDeviceApproval);
    }
    let mut exact = vec![0u8; whole];
    assert_eq!(
        s.poll_action(1_000, &mut exact),
        Ok(Action::ShowUserCode {
            user_code: "WDJB-MJHT",
            verification_uri: "https://as.example/device",
            verification_uri_complete: Some("https://as.example/device?user_code=WDJB-MJHT"),
        })
    );
}

#[test]
fn s_dev_2_oversized_device_texts_are_capacity_errors() {
    use latchkey_core::session::MAX_USER_CODE_LEN;
    use latchkey_core::{Capacity, MAX_URL_LEN};
    let long_code = "W".repeat(MAX_USER_CODE_LEN + 1);
    let long_uri = format!("https://as.example/{}", "d".repeat(MAX_URL_LEN));
    let ok_uri = "https://as.example/device";
    let cases = [
        (
            long_code.as_str(),
            ok_uri,
            None,
            Capacity::Token,
            MAX_USER_CODE_LEN,
        ),
        ("WDJB", long_uri.as_str(), None, Capacity::Url, MAX_URL_LEN),
        (
            "WDJB",
            ok_uri,
            Some(long_uri.as_str()),
            Capacity::Url,
            MAX_URL_LEN,
        ),
    ];
    for (user_code, uri, complete, what, limit) in cases {
        let complete = complete.map_or(String::new(), |c| {
            format!(r#","verification_uri_complete":"{c}""#)
        });
        let body = format!(
            r#"{{"device_code":"dc","user_code":"{user_code}","verification_uri":"{uri}"{complete},"expires_in":1800}}"#
        );
        let (s, r) = after_device_response(&body);
        let limit = u16::try_from(limit).unwrap();
        let e = Error::CapacityExceeded { what, limit };
        assert_eq!(r, Err(e), "{body}");
        assert_eq!(s.phase(), Phase::Failed);
        assert_eq!(s.failure(), Some(e));
    }
    // At the limits, they fit.
    let code = "W".repeat(MAX_USER_CODE_LEN);
    let uri = format!("https://as.example/{}", "d".repeat(MAX_URL_LEN - 19));
    let body = format!(
        r#"{{"device_code":"dc","user_code":"{code}","verification_uri":"{uri}","verification_uri_complete":"{uri}","expires_in":1800}}"#
    );
    let (s, r) = after_device_response(&body);
    assert_eq!(r, Ok(()));
    assert_eq!(s.phase(), Phase::ExpectDeviceApproval);
}
