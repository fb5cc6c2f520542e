//! The RFC 8252 loopback listener (CB-8): exact path, 400 and keep waiting, timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod common;

use std::thread;
use std::time::{Duration, Instant};

use latchkey::{Error, LoopbackListener, Transport};

use common::{TempDir, browse, crm_client};

fn get(url: &str) -> (u16, String, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().unwrap();
    let referrer = r
        .headers()
        .get("referrer-policy")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap(), referrer)
}

#[test]
fn s_cb_8_wrong_path_gets_400_and_the_listener_keeps_waiting() {
    let listener = LoopbackListener::bind(0).unwrap();
    let base = format!("http://127.0.0.1:{}", listener.port());
    let client = thread::spawn(move || {
        let wrong = get(&format!("{base}/callbackx?code=a&state=b"));
        let favicon = get(&format!("{base}/favicon.ico"));
        let right = get(&format!("{base}/callback?code=a&state=b"));
        (wrong, favicon, right)
    });
    let mut seen = Vec::new();
    listener
        .wait(Duration::from_secs(5), |q| {
            seen.push(q.to_owned());
            Ok(())
        })
        .unwrap();
    let (wrong, favicon, right) = client.join().unwrap();
    assert_eq!(wrong.0, 400);
    assert_eq!(favicon.0, 400);
    assert_eq!(right.0, 200);
    assert!(right.1.contains("signed in"), "{}", right.1);
    assert_eq!(right.2.as_deref(), Some("no-referrer"), "CB-7");
    assert_eq!(
        seen,
        ["code=a&state=b"],
        "only the exact path reaches the handler"
    );
}

#[test]
fn s_cb_8_wrong_state_gets_400_and_keeps_waiting_until_the_timeout() {
    let mock = latchkey_testkit::MockServer::start().unwrap();
    let dir = TempDir::new("state");
    let listener = LoopbackListener::bind(0).unwrap();
    let mut client = crm_client(&mock, &dir, "s", &listener.redirect_uri());
    mock.with_server(|s| s.misbehave().callback_wrong_state = true);
    let mut agent = None;
    let start = Instant::now();
    let result = client.login(listener, Duration::from_millis(800), |url| {
        let url = url.to_owned();
        agent = Some(thread::spawn(move || {
            let callback = browse(&url);
            let first = Transport::default().get(&callback, None).unwrap().status;
            // The listener is still there after the rejected callback.
            let second = Transport::default().get(&callback, None).unwrap().status;
            (first, second)
        }));
        Ok(())
    });
    let (first, second) = agent.unwrap().join().unwrap();
    assert_eq!(first, 400);
    assert_eq!(second, 400);
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "kept waiting"
    );
    match result {
        Err(Error::BrowserTimeout {
            rejected: Some(latchkey_core::Error::CheckFailed(c)),
            ..
        }) => {
            assert_eq!(c, latchkey_core::CheckFailed::StateMismatch);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        mock.with_server(|s| s
            .log()
            .iter()
            .filter(|r| r.url.contains("/oauth/token"))
            .count()),
        0,
        "no token request after a wrong state"
    );
}

#[test]
fn browser_never_returning_times_out_with_a_clear_message() {
    let listener = LoopbackListener::bind(0).unwrap();
    let start = Instant::now();
    let e = listener
        .wait(Duration::from_millis(300), |_| Ok(()))
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(
        matches!(e, Error::BrowserTimeout { rejected: None, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("did not come back"), "{msg}");
    assert!(msg.contains("--timeout"), "{msg}");
}

#[test]
fn user_denial_ends_the_wait_at_once() {
    let mock = latchkey_testkit::MockServer::start().unwrap();
    let dir = TempDir::new("deny");
    let listener = LoopbackListener::bind(0).unwrap();
    let mut client = crm_client(&mock, &dir, "d", &listener.redirect_uri());
    mock.with_server(|s| s.misbehave().deny_consent = true);
    let start = Instant::now();
    let mut agent = None;
    let result = client.login(listener, Duration::from_secs(10), |url| {
        let url = url.to_owned();
        agent = Some(thread::spawn(move || {
            Transport::default()
                .get(&browse(&url), None)
                .unwrap()
                .status
        }));
        Ok(())
    });
    assert_eq!(agent.unwrap().join().unwrap(), 400);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            result,
            Err(Error::Core(latchkey_core::Error::ServerError(_)))
        ),
        "{result:?}"
    );
}
