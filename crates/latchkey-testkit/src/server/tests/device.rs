//! RFC 8628 device authorization grant.

use super::*;

fn start(s: &mut Server, now: u64) -> Value {
    let resp = post_form(
        s,
        now,
        &format!("{ISSUER}/device_authorization"),
        None,
        &[("client_id", RFC_PUBLIC_CLIENT_ID), ("scope", "read")],
    );
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    json(&resp)
}

fn poll(s: &mut Server, now: u64, device_code: &str) -> HttpResponse {
    post_form(
        s,
        now,
        &rfc_token_url(),
        None,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", RFC_PUBLIC_CLIENT_ID),
        ],
    )
}

#[test]
fn device_authorization_response_has_every_rfc8628_field() {
    let mut s = server();
    let v = start(&mut s, NOW);
    let user_code = v["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert_eq!(v["verification_uri"], "https://as.example/device");
    assert_eq!(
        v["verification_uri_complete"],
        format!("https://as.example/device?user_code={user_code}")
    );
    assert_eq!(
        (v["expires_in"].as_u64(), v["interval"].as_u64()),
        (Some(1800), Some(5))
    );
    assert!(v["device_code"].as_str().unwrap().len() >= 43);
}

#[test]
fn polling_pending_slow_down_then_tokens_once() {
    let mut s = server();
    let v = start(&mut s, NOW);
    let device_code = v["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&mut s, NOW, device_code)).0,
        "authorization_pending"
    );
    // Polled again after 4 s: too fast → slow_down, and the interval grows to 10 s.
    assert_eq!(error_of(&poll(&mut s, NOW + 4, device_code)).0, "slow_down");
    assert_eq!(s.device_interval(device_code), Some(10));
    assert_eq!(
        error_of(&poll(&mut s, NOW + 13, device_code)).0,
        "slow_down"
    );
    assert_eq!(s.device_interval(device_code), Some(15));
    assert_eq!(
        error_of(&poll(&mut s, NOW + 28, device_code)).0,
        "authorization_pending"
    );
    assert!(
        s.approve_device(
            &v["user_code"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .replace('-', "")
        )
    );
    let resp = poll(&mut s, NOW + 43, device_code);
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let access = json(&resp)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.grant(s.grant_of_token(&access).unwrap())
            .unwrap()
            .scope
            .as_deref(),
        Some("read")
    );
    assert_eq!(
        error_of(&poll(&mut s, NOW + 60, device_code)).0,
        "invalid_grant"
    );
    assert!(
        !s.approve_device(v["user_code"].as_str().unwrap()),
        "no longer pending"
    );
}

#[test]
fn denial_expiry_and_storms() {
    let mut s = server();
    let v = start(&mut s, NOW);
    assert!(s.deny_device(v["user_code"].as_str().unwrap()));
    assert_eq!(
        error_of(&poll(&mut s, NOW, v["device_code"].as_str().unwrap())).0,
        "access_denied"
    );
    let v = start(&mut s, NOW);
    assert_eq!(
        error_of(&poll(
            &mut s,
            NOW + 1800,
            v["device_code"].as_str().unwrap()
        ))
        .0,
        "expired_token"
    );
    let v = start(&mut s, NOW);
    let device_code = v["device_code"].as_str().unwrap();
    s.approve_device(v["user_code"].as_str().unwrap());
    s.misbehave().slow_down_storm = 3;
    let mut now = NOW;
    for _ in 0..3 {
        assert_eq!(error_of(&poll(&mut s, now, device_code)).0, "slow_down");
        now += 100;
    }
    assert_eq!(s.misbehave().slow_down_storm, 0);
    assert_eq!(s.device_interval(device_code), Some(20));
    assert_eq!(poll(&mut s, now, device_code).status, 200);
    // Another client's device code is unknown to this client.
    let v = start(&mut s, NOW);
    let resp = post_form(
        &mut s,
        NOW,
        &rfc_token_url(),
        Some(&rfc_basic()),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", v["device_code"].as_str().unwrap()),
        ],
    );
    assert_eq!(error_of(&resp).0, "invalid_grant");
}
