//! Public-API tests of `latchkey_core::authorize`: exact URLs per dialect with fixed entropy
//! (RFC 7636 App. B), security rules by id, and a parse-back property test.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests

use latchkey_core::authorize::{AuthorizationRequest, RESERVED_PARAMS};
use latchkey_core::encode::form_decode;
use latchkey_core::pkce::{CodeChallenge, CodeVerifier};
use latchkey_core::profile::KommoMode;
use latchkey_core::state::StateToken;
use latchkey_core::{ApiMisuse, Capacity, Client, Error, Len, MAX_EXTRA_PARAMS, Name, Profile};

const APP_B_ENTROPY: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];
const APP_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APP_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI";

struct Fixture {
    challenge: CodeChallenge,
    state: StateToken,
}

fn fixture() -> Fixture {
    let verifier = CodeVerifier::from_entropy(&APP_B_ENTROPY).unwrap();
    assert_eq!(verifier.secret(), APP_B_VERIFIER);
    Fixture {
        challenge: CodeChallenge::s256(&verifier),
        state: StateToken::parse(STATE).unwrap(),
    }
}

fn rfc() -> Profile {
    Profile::rfc6749("https://as.example/authorize", "https://as.example/token").unwrap()
}

fn client() -> Client {
    Client::new("s6BhdRkqt3", "https://client.example.com/cb")
        .unwrap()
        .with_scope("openid profile")
        .unwrap()
}

fn url(profile: &Profile, client: &Client, extra: &[(&str, &str)]) -> Result<String, Error> {
    let f = fixture();
    let req = AuthorizationRequest::new(profile, client, &f.challenge, &f.state).with_extra(extra);
    let mut buf = vec![0u8; 4096];
    let n = req.write_url(&mut buf)?;
    Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
}

/// Splits a URL's query into decoded `(name, value)` pairs.
fn query_pairs(url: &str) -> Vec<(String, String)> {
    let (_, q) = url.split_once('?').unwrap();
    q.split('&')
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(n), decode(v))
        })
        .collect()
}

/// Decodes a query component: with `encode::form_decode` when it has no escaped control
/// characters (which that decoder refuses, as a callback parser must), else by hand.
fn decode(s: &str) -> String {
    let mut buf = vec![0u8; s.len()];
    if let Ok(d) = form_decode(s.as_bytes(), &mut buf) {
        return d.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            assert_ne!(b[i], b'+', "percent-encoding never writes `+`");
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn param(url: &str, name: &str) -> Vec<String> {
    query_pairs(url)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

// ---- Exact URLs ----------------------------------------------------------------------------

#[test]
fn rfc6749_exact_url() {
    assert_eq!(
        url(&rfc(), &client(), &[]).unwrap(),
        format!(
            "https://as.example/authorize?response_type=code&client_id=s6BhdRkqt3\
             &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=openid%20profile\
             &state={STATE}&code_challenge={APP_B_CHALLENGE}&code_challenge_method=S256"
        )
    );
}

#[test]
fn rfc6749_endpoint_with_query_and_empty_scope() {
    let p = Profile::rfc6749(
        "https://as.example/authorize?tenant=t1",
        "https://as.example/t",
    )
    .unwrap();
    let c = Client::new("id", "http://127.0.0.1:8080/cb").unwrap();
    assert_eq!(
        url(&p, &c, &[]).unwrap(),
        format!(
            "https://as.example/authorize?tenant=t1&response_type=code&client_id=id\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb\
             &state={STATE}&code_challenge={APP_B_CHALLENGE}&code_challenge_method=S256"
        )
    );
}

#[test]
fn crm_exact_url() {
    let p = Profile::crm("https://portal.example.com/", "https://api.example.com").unwrap();
    let c = Client::new("app-1", "https://app.example.com/oauth/cb")
        .unwrap()
        .with_scope("user-portal:user:*")
        .unwrap();
    assert_eq!(
        url(&p, &c, &[]).unwrap(),
        format!(
            "https://portal.example.com/login?client_id=app-1&scope=user-portal%3Auser%3A%2A\
             &response_type=code&code_challenge={APP_B_CHALLENGE}&code_challenge_method=S256\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fcb&state={STATE}"
        )
    );
}

#[test]
fn kommo_exact_urls() {
    let c = Client::new("0a1b-2c3d", "https://app.example.com/kommo").unwrap();
    assert_eq!(
        url(&Profile::kommo(), &c, &[]).unwrap(),
        format!("https://www.kommo.com/oauth?client_id=0a1b-2c3d&state={STATE}&mode=popup")
    );
    let pm = Profile::kommo()
        .with_kommo_mode(KommoMode::PostMessage)
        .unwrap()
        .with_consent_url("https://consent.example/oauth?lang=es")
        .unwrap();
    assert_eq!(
        url(&pm, &c, &[]).unwrap(),
        format!(
            "https://consent.example/oauth?lang=es&client_id=0a1b-2c3d&state={STATE}&mode=post_message"
        )
    );
}

#[test]
fn extra_parameters_follow_the_protocol_ones() {
    let u = url(
        &rfc(),
        &client(),
        &[
            ("prompt", "login consent"),
            ("login_hint", "user@example.com"),
            ("resource", "https://api.example.com/"),
            ("resource", "urn:x"),
        ],
    )
    .unwrap();
    assert!(
        u.ends_with(
            "&code_challenge_method=S256&prompt=login%20consent&login_hint=user%40example.com\
             &resource=https%3A%2F%2Fapi.example.com%2F&resource=urn%3Ax"
        ),
        "{u}"
    );
    let k = url(&Profile::kommo(), &client(), &[("lang", "pt")]).unwrap();
    assert!(k.ends_with("&mode=popup&lang=pt"), "{k}");
}

#[test]
fn extra_parameter_names_checked() {
    let bad_name = Error::ApiMisuse(ApiMisuse::BadConfig(Name::ExtraParameterName));
    for name in RESERVED_PARAMS {
        assert_eq!(
            url(&rfc(), &client(), &[(name, "x")]),
            Err(bad_name),
            "{name}"
        );
        let upper = name.to_ascii_uppercase();
        assert_eq!(
            url(&rfc(), &client(), &[(&upper, "x")]),
            Err(bad_name),
            "{upper}"
        );
    }
    for name in [
        "",
        "a&b",
        "a=b",
        "a b",
        "a%20",
        "a#",
        "é",
        "a\r\nb",
        &"n".repeat(65),
    ] {
        assert_eq!(
            url(&rfc(), &client(), &[(name, "x")]),
            Err(bad_name),
            "{name:?}"
        );
    }
    let many = [("x", "y"); MAX_EXTRA_PARAMS + 1];
    assert_eq!(
        url(&rfc(), &client(), &many),
        Err(Error::CapacityExceeded {
            what: Capacity::ExtraParams,
            limit: MAX_EXTRA_PARAMS as u16
        })
    );
    assert!(url(&rfc(), &client(), &many[..MAX_EXTRA_PARAMS]).is_ok());
}

#[test]
fn buffer_too_small_is_exact_and_writes_nothing() {
    let f = fixture();
    for profile in [
        rfc(),
        Profile::crm("https://p.example", "https://a.example").unwrap(),
        Profile::kommo(),
    ] {
        let c = client();
        let req = AuthorizationRequest::new(&profile, &c, &f.challenge, &f.state)
            .with_extra(&[("prompt", "a b")]);
        let mut big = [0u8; 1024];
        let n = req.write_url(&mut big).unwrap();
        let mut small = vec![0xEEu8; n - 1];
        assert_eq!(
            req.write_url(&mut small),
            Err(Error::BufferTooSmall {
                required: Len::new(n)
            })
        );
        assert!(small.iter().all(|&b| b == 0xEE));
        let mut exact = vec![0u8; n];
        assert_eq!(req.write_url(&mut exact), Ok(n));
        assert_eq!(exact, big[..n]);
    }
}

// ---- Security rules ------------------------------------------------------------------------

#[test]
fn s_tok_7_hostile_extra_values_are_encoded() {
    let hostile = "x&state=evil&redirect_uri=https://evil.example/#frag =\r\nü\0+%";
    for profile in [
        rfc(),
        Profile::crm("https://p.example", "https://a.example").unwrap(),
        Profile::kommo(),
    ] {
        let u = url(&profile, &client(), &[("login_hint", hostile)]).unwrap();
        assert!(
            u.ends_with(
                "&login_hint=x%26state%3Devil%26redirect_uri%3Dhttps%3A%2F%2Fevil.example%2F\
                 %23frag%20%3D%0D%0A%C3%BC%00%2B%25"
            ),
            "{u}"
        );
        assert!(!u.contains(['#', ' ', '\r', '\n', '\0']), "{u}");
        assert_eq!(param(&u, "state"), [STATE]);
        assert_eq!(param(&u, "login_hint"), [hostile]);
        assert_eq!(
            param(&u, "redirect_uri").len(),
            usize::from(profile != Profile::kommo())
        );
    }
}

#[test]
fn s_tok_7_hostile_scope_and_client_id_are_encoded() {
    let c = Client::new("id&state=x", "https://client.example.com/cb")
        .unwrap()
        .with_scope("a&code_challenge_method=plain b")
        .unwrap();
    for profile in [
        rfc(),
        Profile::crm("https://p.example", "https://a.example").unwrap(),
    ] {
        let u = url(&profile, &c, &[]).unwrap();
        assert!(
            u.contains("scope=a%26code_challenge_method%3Dplain%20b"),
            "{u}"
        );
        assert_eq!(param(&u, "code_challenge_method"), ["S256"]);
        assert_eq!(param(&u, "client_id"), ["id&state=x"]);
        assert_eq!(param(&u, "state"), [STATE]);
    }
}

#[test]
fn s_cb_5_redirect_uri_is_exactly_the_clients() {
    for redirect in [
        "https://client.example.com/cb",
        "https://client.example.com/cb?x=1&y=%2F",
        "http://127.0.0.1:53123/callback",
        "http://[::1]:1/cb",
        "com.example.app:/oauth2redirect",
    ] {
        let c = Client::new("id", redirect).unwrap();
        for profile in [
            rfc(),
            Profile::crm("https://p.example", "https://a.example").unwrap(),
        ] {
            let u = url(&profile, &c, &[]).unwrap();
            assert_eq!(param(&u, "redirect_uri"), [c.redirect_uri()], "{u}");
        }
    }
}

#[test]
fn s_pkce_5_verifier_never_in_the_url_and_s256_is_sent() {
    for profile in [
        rfc(),
        Profile::crm("https://p.example", "https://a.example").unwrap(),
        Profile::kommo(),
    ] {
        let u = url(&profile, &client(), &[]).unwrap();
        assert!(!u.contains(APP_B_VERIFIER), "{u}");
        if profile != Profile::kommo() {
            assert_eq!(param(&u, "code_challenge"), [APP_B_CHALLENGE]);
            assert_eq!(param(&u, "code_challenge_method"), ["S256"]);
        }
    }
}

#[test]
fn s_state_1_state_always_sent() {
    for profile in [
        rfc(),
        Profile::crm("https://p.example", "https://a.example").unwrap(),
        Profile::kommo(),
    ] {
        let u = url(&profile, &client(), &[]).unwrap();
        assert_eq!(param(&u, "state"), [STATE], "{u}");
    }
}

// ---- Properties ----------------------------------------------------------------------------

proptest::proptest! {
    #[test]
    fn extra_values_parse_back_exactly(
        extra in proptest::collection::vec(("[a-z][a-z0-9._-]{0,15}", ".{0,40}"), 0..=MAX_EXTRA_PARAMS),
        kommo in proptest::bool::ANY,
    ) {
        let extra: Vec<(String, String)> = extra
            .into_iter()
            .filter(|(n, _)| !RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(n)))
            .collect();
        let borrowed: Vec<(&str, &str)> =
            extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let profile = if kommo { Profile::kommo() } else { rfc() };
        let u = url(&profile, &client(), &borrowed).unwrap();
        let pairs = query_pairs(&u);
        let expected_protocol: Vec<(String, String)> = if kommo {
            vec![
                ("client_id".into(), "s6BhdRkqt3".into()),
                ("state".into(), STATE.into()),
                ("mode".into(), "popup".into()),
            ]
        } else {
            vec![
                ("response_type".into(), "code".into()),
                ("client_id".into(), "s6BhdRkqt3".into()),
                ("redirect_uri".into(), "https://client.example.com/cb".into()),
                ("scope".into(), "openid profile".into()),
                ("state".into(), STATE.into()),
                ("code_challenge".into(), APP_B_CHALLENGE.into()),
                ("code_challenge_method".into(), "S256".into()),
            ]
        };
        let n = expected_protocol.len();
        proptest::prop_assert_eq!(&pairs[..n], &expected_protocol[..]);
        proptest::prop_assert_eq!(&pairs[n..], &extra[..]);
    }
}
