//! Public-API tests for the CRM iframe postMessage exchange: PM-1, PM-3, PM-4, CRM-1.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests

use latchkey_core::message::{
    CODE_REPLY_TYPE, CODE_REQUEST_TYPE, TargetOrigin, parse_code_reply, write_code_request,
};
use latchkey_core::state::{AUTHORIZATION_ENTROPY, PendingAuthorization, StateToken};
use latchkey_core::{
    ApiMisuse, Capacity, CheckFailed, Client, Error, InvalidMessage, Len, MAX_MESSAGE_LEN, Name,
};
use proptest::prelude::*;

const APP_B_ENTROPY: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];

fn client() -> Client {
    Client::new("app-1", "https://app.example.com/cb")
        .unwrap()
        .with_scope("user-portal:user:*")
        .unwrap()
}

/// RFC 7636 App. B entropy for the verifier, bytes 0..16 for the state.
fn fixed_pending() -> PendingAuthorization {
    let mut e = APP_B_ENTROPY.to_vec();
    e.extend(0u8..16);
    PendingAuthorization::from_entropy(&e).unwrap()
}

fn request(client: &Client, p: &PendingAuthorization) -> String {
    let mut buf = [0u8; 1024];
    let n = write_code_request(client, &p.challenge(), p.state(), &mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn reply(json: &str) -> Result<(String, Option<String>), Error> {
    let mut scratch = [0u8; MAX_MESSAGE_LEN];
    parse_code_reply(json.as_bytes(), &mut scratch)
        .map(|r| (r.code.secret().to_owned(), r.state.map(str::to_owned)))
}

#[test]
fn get_client_oauth_code_exact_bytes() {
    assert_eq!(CODE_REQUEST_TYPE, "GET_CLIENT_OAUTH_CODE");
    assert_eq!(
        request(&client(), &fixed_pending()),
        concat!(
            r#"{"type":"GET_CLIENT_OAUTH_CODE","source":"iframe","payload":{"#,
            r#""client_id":"app-1","redirect_uri":"https://app.example.com/cb","#,
            r#""scope":"user-portal:user:*","response_type":"code","#,
            r#""code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","#,
            r#""code_challenge_method":"S256","state":"AAECAwQFBgcICQoLDA0ODw"}}"#,
        )
    );
}

#[test]
fn s_pkce_5_request_carries_the_challenge_never_the_verifier() {
    let p = fixed_pending();
    let msg = request(&client(), &p);
    assert!(!msg.contains(p.verifier().secret()), "{msg}");
    assert!(msg.contains(p.challenge().as_str()));
}

#[test]
fn s_tok_7_hostile_values_are_json_escaped() {
    // client ids cannot hold spaces or controls (Client::new), scopes cannot hold controls;
    // quotes, backslashes and `</script>` must still not break out of their strings.
    let c = Client::new(r#"a"b\c</script>"#, "https://app.example.com/cb")
        .unwrap()
        .with_scope(r#"x","state":"evil\"#)
        .unwrap();
    let msg = request(&c, &fixed_pending());
    assert!(msg.contains(r#""client_id":"a\"b\\c</script>","#), "{msg}");
    assert!(
        msg.contains(r#""scope":"x\",\"state\":\"evil\\","#),
        "{msg}"
    );
    assert_eq!(msg.matches(r#","state":"#).count(), 1, "{msg}");
    assert!(
        msg.ends_with(r#","state":"AAECAwQFBgcICQoLDA0ODw"}}"#),
        "{msg}"
    );
}

#[test]
fn request_buffer_too_small_writes_nothing() {
    let p = fixed_pending();
    let needed = request(&client(), &p).len();
    let mut buf = [0xEEu8; 64];
    assert_eq!(
        write_code_request(&client(), &p.challenge(), p.state(), &mut buf),
        Err(Error::BufferTooSmall {
            required: Len::new(needed)
        })
    );
    assert_eq!(buf, [0xEE; 64]);
}

#[test]
fn s_crm_1_fresh_verifier_per_request() {
    let a = PendingAuthorization::from_entropy(&[1; AUTHORIZATION_ENTROPY]).unwrap();
    let b = PendingAuthorization::from_entropy(&[2; AUTHORIZATION_ENTROPY]).unwrap();
    assert_ne!(a.verifier().secret(), b.verifier().secret());
    assert_ne!(a.challenge(), b.challenge());
    assert_ne!(a.state().as_str(), b.state().as_str());
    let (ma, mb) = (request(&client(), &a), request(&client(), &b));
    assert_ne!(ma, mb);
    // The vendor sample's constant verifier is not something this API can produce without
    // the caller passing constant entropy: the verifier is exactly the entropy's encoding.
    assert_ne!(
        ma.split("code_challenge\":").nth(1),
        mb.split("code_challenge\":").nth(1)
    );
}

#[test]
fn s_pm_1_wildcard_and_path_origins_refused() {
    let wildcard = Err(Error::ApiMisuse(ApiMisuse::WildcardOrigin));
    for o in [
        "*",
        "https://crm.example.com/",
        "https://crm.example.com/login",
        "https://crm.example.com/?a",
        "https://crm.example.com#top",
        "https://*.example.com",
    ] {
        assert_eq!(TargetOrigin::parse(o), wildcard, "{o}");
    }
    assert_eq!(
        TargetOrigin::parse("http://crm.example.com"),
        Err(Error::CheckFailed(CheckFailed::InsecureUrl))
    );
    for o in [
        "",
        "null",
        "crm.example.com",
        "https://u:p@crm.example.com",
        "https://crm.example.com:99999",
    ] {
        assert_eq!(
            TargetOrigin::parse(o),
            Err(Error::ApiMisuse(ApiMisuse::BadConfig(Name::TargetOrigin))),
            "{o}"
        );
    }
    let t = TargetOrigin::parse("https://CRM.example.com:443").unwrap();
    assert_eq!(t.as_str(), "https://crm.example.com");
    assert!(t.matches("https://crm.example.com"));
    assert!(!t.matches("https://crm.example.com:8443"));
    assert!(!t.matches("https://crm.example.com.evil.example"));
    assert!(!t.matches("http://crm.example.com"));
    assert!(
        TargetOrigin::parse("http://127.0.0.1:8080")
            .unwrap()
            .matches("http://127.0.0.1:8080")
    );
}

#[test]
fn s_pm_3_echoed_wrong_state_rejected() {
    let p = fixed_pending();
    let mut scratch = [0u8; 256];
    let wrong =
        br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c","state":"AAECAwQFBgcICQoLDA0ODx"}}"#;
    let r = parse_code_reply(wrong, &mut scratch).unwrap();
    assert_eq!(
        r.verify_state(p.state()),
        Err(Error::CheckFailed(CheckFailed::StateMismatch))
    );

    let mut scratch = [0u8; 256];
    let top = br#"{"type":"CLIENT_OAUTH_CODE","state":"other","payload":{"code":"c"}}"#;
    let r = parse_code_reply(top, &mut scratch).unwrap();
    assert_eq!(
        r.verify_state(p.state()),
        Err(Error::CheckFailed(CheckFailed::StateMismatch))
    );

    let mut scratch = [0u8; 256];
    let empty = br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c","state":""}}"#;
    let r = parse_code_reply(empty, &mut scratch).unwrap();
    assert_eq!(
        r.verify_state(p.state()),
        Err(Error::CheckFailed(CheckFailed::StateMissing))
    );

    let mut scratch = [0u8; 256];
    let right =
        br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c","state":"AAECAwQFBgcICQoLDA0ODw"}}"#;
    let r = parse_code_reply(right, &mut scratch).unwrap();
    assert_eq!(r.verify_state(p.state()), Ok(()));
    assert_eq!(r.code.secret(), "c");
}

#[test]
fn s_pm_3_missing_state_allowed_only_when_not_echoed() {
    let p = fixed_pending();
    let mut scratch = [0u8; 256];
    let r = parse_code_reply(
        br#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c"}}"#,
        &mut scratch,
    )
    .unwrap();
    assert_eq!(r.state, None);
    assert_eq!(r.verify_state(p.state()), Ok(()));
    // An echoed state that is not a string is not "absent".
    assert_eq!(
        reply(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c","state":null}}"#),
        Err(Error::InvalidMessage(InvalidMessage::BadValue(Name::State)))
    );
}

#[test]
fn s_pm_4_foreign_or_malformed_replies_are_typed_errors() {
    assert_eq!(CODE_REPLY_TYPE, "CLIENT_OAUTH_CODE");
    let wrong_type = Err(Error::InvalidMessage(InvalidMessage::WrongMessageType));
    assert_eq!(
        reply(r#"{"type":"GET_CLIENT_OAUTH_CODE","payload":{"code":"c"}}"#),
        wrong_type
    );
    assert_eq!(
        reply(r#"{"type":"client_oauth_code","payload":{"code":"c"}}"#),
        wrong_type
    );
    assert_eq!(
        reply(r#"{"type":["CLIENT_OAUTH_CODE"],"payload":{"code":"c"}}"#),
        wrong_type
    );
    let bad_json = Err(Error::InvalidMessage(InvalidMessage::BadJson));
    for s in [
        "",
        "null",
        "42",
        "\"CLIENT_OAUTH_CODE\"",
        "[]",
        r#"[{"type":"CLIENT_OAUTH_CODE"}]"#,
        "{",
        "{}}",
    ] {
        assert_eq!(reply(s), bad_json, "{s:?}");
    }
    assert_eq!(
        reply(r#"{"type":"CLIENT_OAUTH_CODE","payload":[{"code":"c"}]}"#),
        Err(Error::InvalidMessage(InvalidMessage::BadValue(
            Name::Payload
        )))
    );
    assert_eq!(
        reply(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"a","code":"b"}}"#),
        Err(Error::InvalidMessage(InvalidMessage::Duplicate(Name::Code)))
    );
    assert_eq!(
        reply(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"state":"s"}}"#),
        Err(Error::InvalidMessage(InvalidMessage::Missing(Name::Code)))
    );
    assert_eq!(
        reply(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":""}}"#),
        Err(Error::InvalidMessage(InvalidMessage::Empty(Name::Code)))
    );
    let mut huge = String::from(r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"c"},"pad":""#);
    huge.push_str(&"x".repeat(MAX_MESSAGE_LEN));
    huge.push_str("\"}");
    assert_eq!(
        reply(&huge),
        Err(Error::CapacityExceeded {
            what: Capacity::Message,
            limit: MAX_MESSAGE_LEN as u16
        })
    );
    let deep = format!(
        r#"{{"type":"CLIENT_OAUTH_CODE","payload":{{"code":"c","x":{}{}}}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    assert!(matches!(reply(&deep), Err(Error::CapacityExceeded { .. })));
}

#[test]
fn reply_strings_are_unescaped_and_redacted_in_debug() {
    let mut scratch = [0u8; 64];
    let r = parse_code_reply(
        br#"{"type":"CLIENT_OAUTH_CODE","source":"parent","payload":{"code":"ab\/c\u0064","state":"s\u0031"}}"#,
        &mut scratch,
    )
    .unwrap();
    assert_eq!(r.code.secret(), "ab/cd");
    assert_eq!(r.state, Some("s1"));
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("ab/cd") && !dbg.contains("s1"), "{dbg}");
}

#[test]
fn request_then_reply_round_trip() {
    let p = fixed_pending();
    let json = format!(
        r#"{{"type":"CLIENT_OAUTH_CODE","payload":{{"code":"SplxlOBeZQQYbYS6WxSbIA","state":"{}"}}}}"#,
        p.state().as_str()
    );
    let mut scratch = [0u8; 128];
    let r = parse_code_reply(json.as_bytes(), &mut scratch).unwrap();
    r.verify_state(p.state()).unwrap();
    let (_verifier, state): (_, StateToken) = p.into_parts();
    assert_eq!(state.consume(r.state), Ok(()));
    assert_eq!(r.code.secret(), "SplxlOBeZQQYbYS6WxSbIA");
}

proptest! {
    #[test]
    fn s_pm_4_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..=MAX_MESSAGE_LEN + 8)) {
        let mut scratch = [0u8; 32];
        let _ = parse_code_reply(&bytes, &mut scratch);
    }

    #[test]
    fn s_pm_4_jsonish_never_panics(s in r#"[{}\[\]",:\\ a-zA-Z_0-9]{0,200}"#) {
        let mut scratch = [0u8; 16];
        let _ = parse_code_reply(s.as_bytes(), &mut scratch);
    }

    #[test]
    fn reply_code_round_trips_any_printable_code(code in "[^\\p{Cc}]{1,200}") {
        let mut enc = String::new();
        for c in code.chars() {
            match c {
                '"' => enc.push_str("\\\""),
                '\\' => enc.push_str("\\\\"),
                c => enc.push(c),
            }
        }
        let json = format!(r#"{{"type":"CLIENT_OAUTH_CODE","payload":{{"code":"{enc}"}}}}"#);
        let (got, state) = reply(&json).unwrap();
        prop_assert_eq!(got, code);
        prop_assert_eq!(state, None);
    }

    #[test]
    fn target_origin_parse_never_panics(s in "\\PC{0,80}") {
        if let Ok(t) = TargetOrigin::parse(&s) {
            prop_assert!(t.as_str() != "*");
            prop_assert!(!t.as_str().ends_with('/'));
        }
    }
}

/// Found by the `message_reply` fuzzer: a C1 control character (U+0089) in the code.
#[test]
fn s_pm_4_c1_control_characters_are_rejected_too() {
    let json = "{\"type\":\"CLIENT_OAUTH_CODE\",\"payload\":{\"code\":\"def\u{89}666\"}}";
    let mut scratch = [0u8; 256];
    assert_eq!(
        parse_code_reply(json.as_bytes(), &mut scratch).map(|r| r.code.secret().len()),
        Err(latchkey_core::InvalidMessage::ControlCharacter.into())
    );
    let escaped = r#"{"type":"CLIENT_OAUTH_CODE","payload":{"code":"def\u0089666"}}"#;
    assert_eq!(
        parse_code_reply(escaped.as_bytes(), &mut scratch).map(|r| r.code.secret().len()),
        Err(latchkey_core::InvalidMessage::ControlCharacter.into())
    );
}
