//! Public-API tests for `pkce` and `state`: RFC 7636 App. B, PKCE-1/2/3/5, STATE-1/2/4.
#![allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests

use latchkey_core::pkce::{
    ChallengeMethod, CodeChallenge, CodeVerifier, MAX_ENTROPY, MIN_ENTROPY, S256_CHALLENGE_LEN,
    VERIFIER_MAX_LEN, VERIFIER_MIN_LEN,
};
use latchkey_core::state::{
    AUTHORIZATION_ENTROPY, MAX_STATE_LEN, PendingAuthorization, STATE_ENTROPY, StateToken,
};
use latchkey_core::{ApiMisuse, Capacity, CheckFailed, Error, InvalidMessage, Name};
use proptest::prelude::*;

const APP_B_ENTROPY: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];
const APP_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APP_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn is_verifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

#[test]
fn s_pkce_2_rfc7636_appendix_b_both_steps() {
    let v = CodeVerifier::from_entropy(&APP_B_ENTROPY).unwrap();
    assert_eq!(v.secret(), APP_B_VERIFIER);
    assert_eq!(CodeChallenge::s256(&v).as_str(), APP_B_CHALLENGE);
    assert_eq!(v.challenge(ChallengeMethod::S256).as_str(), APP_B_CHALLENGE);
    // The same through a parsed verifier.
    let parsed = CodeVerifier::parse(APP_B_VERIFIER).unwrap();
    assert_eq!(CodeChallenge::s256(&parsed).as_str(), APP_B_CHALLENGE);
    assert_eq!(
        CodeChallenge::s256(&parsed).as_str().len(),
        S256_CHALLENGE_LEN
    );
}

#[test]
fn s_pkce_1_entropy_below_32_bytes_rejected() {
    assert_eq!(MIN_ENTROPY, 32);
    for n in [0, 1, 16, 31] {
        assert_eq!(
            CodeVerifier::from_entropy(&vec![0xA5; n]).unwrap_err(),
            Error::ApiMisuse(ApiMisuse::NotEnoughEntropy { required: 32 }),
            "{n} bytes"
        );
    }
    assert_eq!(
        CodeVerifier::from_entropy(&[0xA5; MAX_ENTROPY + 1]).unwrap_err(),
        Error::CapacityExceeded {
            what: Capacity::Entropy,
            limit: MAX_ENTROPY as u16
        }
    );
}

#[test]
fn s_pkce_1_verifier_length_and_charset() {
    assert_eq!(
        CodeVerifier::from_entropy(&[0; 32]).unwrap().secret().len(),
        VERIFIER_MIN_LEN
    );
    assert_eq!(
        CodeVerifier::from_entropy(&[0xFF; 96])
            .unwrap()
            .secret()
            .len(),
        VERIFIER_MAX_LEN
    );
    let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_eq!(CodeVerifier::parse(all).unwrap().secret(), all);
    assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
    assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
    let bad = Err::<(), _>(Error::InvalidMessage(InvalidMessage::BadCodeVerifier));
    for s in [
        String::new(),
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(42)),
        format!("{}/", "a".repeat(42)),
        format!("{}=", "a".repeat(42)),
        format!("{} ", "a".repeat(42)),
        format!("{}%41", "a".repeat(40)),
        format!("{}é", "a".repeat(41)),
        format!("{}\0", "a".repeat(42)),
    ] {
        assert_eq!(CodeVerifier::parse(&s).map(|_| ()), bad, "{s:?}");
    }
}

#[test]
fn s_pkce_3_s256_is_the_default_method() {
    assert_eq!(ChallengeMethod::default(), ChallengeMethod::S256);
    assert_eq!(ChallengeMethod::S256.as_str(), "S256");
    let p = PendingAuthorization::from_entropy(&[1; AUTHORIZATION_ENTROPY]).unwrap();
    assert_eq!(p.challenge().method(), ChallengeMethod::S256);
    assert_eq!(p.challenge().method().as_str(), "S256");
    assert_eq!(
        p.challenge().as_str(),
        "VtX6czP210fbQsI5QH5dpMMvTHnzXQkrE0_TWkAtnFw",
        "the challenge is S256 of the verifier, never the verifier itself"
    );
    assert_ne!(p.challenge().as_str(), p.verifier().secret());
    assert_eq!(
        CodeChallenge::s256(p.verifier()).method(),
        ChallengeMethod::S256
    );
}

/// With `pkce-plain` the method exists, but only an explicit `challenge(Plain)` picks it.
#[cfg(feature = "pkce-plain")]
#[test]
fn s_pkce_3_plain_only_when_asked_for() {
    assert_eq!(ChallengeMethod::Plain.as_str(), "plain");
    assert_eq!(ChallengeMethod::default(), ChallengeMethod::S256);
    let p = PendingAuthorization::from_entropy(&[1; AUTHORIZATION_ENTROPY]).unwrap();
    assert_eq!(p.challenge().method(), ChallengeMethod::S256);
    let plain = p.verifier().challenge(ChallengeMethod::Plain);
    assert_eq!(plain.method(), ChallengeMethod::Plain);
    assert_eq!(plain.as_str(), p.verifier().secret());
}

#[test]
fn s_pkce_5_debug_output_is_redacted() {
    let v = CodeVerifier::from_entropy(&APP_B_ENTROPY).unwrap();
    assert_eq!(format!("{v:?}"), "CodeVerifier([redacted])");
    assert_eq!(format!("{v:#?}"), "CodeVerifier([redacted])");
    let s = StateToken::from_entropy(&[9; 16]).unwrap();
    assert_eq!(format!("{s:?}"), "StateToken([redacted])");
    let p = PendingAuthorization::from_entropy(&[9; 48]).unwrap();
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(p.verifier().secret()), "{dbg}");
    assert!(!dbg.contains(p.state().as_str()), "{dbg}");
    assert!(dbg.contains("[redacted]"), "{dbg}");
}

#[test]
fn s_state_1_at_least_128_bits() {
    assert_eq!(STATE_ENTROPY, 16);
    assert_eq!(
        StateToken::from_entropy(&[7; 15]).unwrap_err(),
        Error::ApiMisuse(ApiMisuse::NotEnoughEntropy { required: 16 })
    );
    assert_eq!(
        StateToken::from_entropy(&[7; 16]).unwrap().as_str().len(),
        22
    );
    assert_eq!(
        StateToken::from_entropy(&[7; 48]).unwrap().as_str().len(),
        MAX_STATE_LEN
    );
    assert!(matches!(
        StateToken::from_entropy(&[7; 49]),
        Err(Error::CapacityExceeded {
            what: Capacity::Entropy,
            ..
        })
    ));
    let seq: Vec<u8> = (0..16).collect();
    assert_eq!(
        StateToken::from_entropy(&seq).unwrap().as_str(),
        "AAECAwQFBgcICQoLDA0ODw"
    );
}

#[test]
fn s_state_1_bound_to_its_verifier() {
    assert_eq!(AUTHORIZATION_ENTROPY, 48);
    assert_eq!(
        PendingAuthorization::from_entropy(&[0; 47]).unwrap_err(),
        Error::ApiMisuse(ApiMisuse::NotEnoughEntropy { required: 48 })
    );
    let mut e: Vec<u8> = (0..48).collect();
    let a = PendingAuthorization::from_entropy(&e).unwrap();
    assert_eq!(
        a.verifier().secret(),
        CodeVerifier::from_entropy(&e[..32]).unwrap().secret()
    );
    assert_eq!(
        a.state().as_str(),
        StateToken::from_entropy(&e[32..]).unwrap().as_str()
    );
    // Verifier and state come from disjoint bytes: neither is derivable from the other.
    e[40] ^= 1;
    let b = PendingAuthorization::from_entropy(&e).unwrap();
    assert_eq!(a.verifier().secret(), b.verifier().secret());
    assert_ne!(a.state().as_str(), b.state().as_str());
    let (v, s) = b.into_parts();
    assert_eq!(v.secret(), a.verifier().secret());
    assert!(s.verify(&String::from(s.as_str())).is_ok());
}

#[test]
fn s_state_2_missing_empty_mismatched_rejected() {
    let s = StateToken::from_entropy(&[0x5A; 16]).unwrap();
    let good = s.as_str().to_owned();
    let missing = Err(Error::CheckFailed(CheckFailed::StateMissing));
    let mismatch = Err(Error::CheckFailed(CheckFailed::StateMismatch));
    assert_eq!(s.verify(""), missing);
    assert_eq!(s.verify(&good[..21]), mismatch, "shorter");
    assert_eq!(s.verify(&format!("{good}A")), mismatch, "longer");
    assert_eq!(s.verify(&good.to_uppercase()), mismatch, "case differs");
    let mut last = good.clone().into_bytes();
    *last.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        s.verify(std::str::from_utf8(&last).unwrap()),
        mismatch,
        "last byte"
    );
    assert_eq!(s.verify(&good), Ok(()));
    assert_eq!(StateToken::parse(&good).unwrap().consume(None), missing);
    assert_eq!(
        StateToken::parse(&good).unwrap().consume(Some("nope")),
        mismatch
    );
    assert_eq!(s.consume(Some(&good)), Ok(()));
}

#[test]
fn state_parse_round_trip_and_rejects() {
    let s = StateToken::from_entropy(&[3; 32]).unwrap();
    assert_eq!(StateToken::parse(s.as_str()).unwrap().as_str(), s.as_str());
    for bad in [
        "",
        "short",
        &"a".repeat(65),
        "AAECAwQFBgcICQoLDA0OD+",
        "AAECAwQFBgcICQoLDA0OD=",
    ] {
        assert_eq!(
            StateToken::parse(bad).map(|_| ()),
            Err(Error::InvalidMessage(InvalidMessage::BadValue(Name::State))),
            "{bad}"
        );
    }
}

#[cfg(feature = "getrandom")]
#[test]
fn s_state_1_generate_is_fresh() {
    let a = PendingAuthorization::generate().unwrap();
    let b = PendingAuthorization::generate().unwrap();
    assert_ne!(a.state().as_str(), b.state().as_str());
    assert_ne!(a.verifier().secret(), b.verifier().secret());
}

proptest! {
    #[test]
    fn s_pkce_1_any_entropy_gives_a_valid_verifier(e in proptest::collection::vec(any::<u8>(), 32..=96)) {
        let v = CodeVerifier::from_entropy(&e).unwrap();
        let s = v.secret();
        prop_assert_eq!(s.len(), (e.len() * 4).div_ceil(3));
        prop_assert!((VERIFIER_MIN_LEN..=VERIFIER_MAX_LEN).contains(&s.len()));
        prop_assert!(s.chars().all(is_verifier_char));
        let parsed = CodeVerifier::parse(s).unwrap();
        prop_assert_eq!(parsed.secret(), s);
        prop_assert_eq!(CodeChallenge::s256(&parsed), CodeChallenge::s256(&v));
        prop_assert_eq!(CodeChallenge::s256(&v).as_str().len(), S256_CHALLENGE_LEN);
    }

    #[test]
    fn s_pkce_1_parse_accepts_exactly_the_rfc_grammar(s in "\\PC{0,140}|[A-Za-z0-9._~-]{40,130}") {
        let valid = (43..=128).contains(&s.len()) && s.chars().all(is_verifier_char);
        match CodeVerifier::parse(&s) {
            Ok(v) => { prop_assert!(valid); prop_assert_eq!(v.secret(), s.as_str()); }
            Err(e) => {
                prop_assert!(!valid);
                prop_assert_eq!(e, Error::InvalidMessage(InvalidMessage::BadCodeVerifier));
            }
        }
    }

    #[test]
    fn s_state_1_different_entropy_different_state(
        a in proptest::collection::vec(any::<u8>(), 16..=48),
        b in proptest::collection::vec(any::<u8>(), 16..=48),
    ) {
        let sa = StateToken::from_entropy(&a).unwrap();
        let sb = StateToken::from_entropy(&b).unwrap();
        prop_assert_eq!(a == b, sa.as_str() == sb.as_str());
    }

    #[test]
    fn s_state_2_verify_ok_iff_equal(e in proptest::collection::vec(any::<u8>(), 16..=48), x in "\\PC{0,70}") {
        let s = StateToken::from_entropy(&e).unwrap();
        prop_assert!(s.verify(s.as_str()).is_ok());
        prop_assert_eq!(s.verify(&x).is_ok(), x == s.as_str());
        let mut near = s.as_str().to_owned();
        near.pop();
        prop_assert!(s.verify(&near).is_err());
    }

    #[test]
    fn state_parse_never_panics(x in "\\PC{0,80}") {
        let _ = StateToken::parse(&x);
    }
}
