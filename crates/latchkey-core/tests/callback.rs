//! Public-API tests of `latchkey_core::callback`: published vectors first, then one test per
//! security rule (named after it), then property tests.
#![cfg(all(feature = "crm", feature = "kommo", feature = "device"))] // reason: mixes the dialects; tests/session_rfc6749_only.rs runs with any features
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

use latchkey_core::callback::{Callback, parse_callback, validate_referer};
use latchkey_core::encode::form_encode;
use latchkey_core::state::StateToken;
use latchkey_core::{
    Capacity, CheckFailed, Error, ErrorKind, HttpStatus, InvalidMessage, Len, MAX_CALLBACK_LEN,
    MAX_PARAM_LEN, Name, Profile, ServerError,
};

/// The state of the RFC 9207 §2.1 example.
const RFC9207_STATE: &str = "ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI";
const RFC9207_QUERY: &[u8] = b"code=x1848ZT64p4IirMPT0R-X3141MFPTuBX-VFL_cvaplMH58\
&state=ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI&iss=https%3A%2F%2Fhonest.as.example";

fn rfc_profile() -> Profile {
    Profile::rfc6749("https://as.example/authorize", "https://as.example/token").unwrap()
}

fn rfc_profile_with_issuer(iss: &str) -> Profile {
    rfc_profile().with_issuer(iss).unwrap()
}

fn our_state() -> StateToken {
    StateToken::parse(RFC9207_STATE).unwrap()
}

fn parse(q: &[u8]) -> Result<Callback<'static>, Error> {
    let scratch: &'static mut [u8] = Box::leak(vec![0u8; q.len() + 16].into_boxed_slice());
    let q: &'static [u8] = Box::leak(q.to_vec().into_boxed_slice());
    parse_callback(q, scratch)
}

fn parse_err(q: &[u8]) -> Error {
    parse(q).expect_err(&String::from_utf8_lossy(q))
}

fn code_query(extra: &str) -> Vec<u8> {
    format!("code=abc&state={RFC9207_STATE}{extra}").into_bytes()
}

// ---- Published vectors -------------------------------------------------------------------

#[test]
fn rfc6749_4_1_2_code_callback() {
    let cb = parse(b"code=SplxlOBeZQQYbYS6WxSbIA&state=xyz").unwrap();
    let Callback::Code(c) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(c.code().secret(), "SplxlOBeZQQYbYS6WxSbIA");
    assert_eq!(c.state(), Some("xyz"));
    assert_eq!(c.iss(), None);
    assert!(!c.from_widget());
    // `xyz` is not our state.
    assert_eq!(
        cb.verify(&our_state(), &rfc_profile()),
        Err(CheckFailed::StateMismatch.into())
    );
}

#[test]
fn rfc6749_4_1_2_1_error_callback() {
    let cb = parse(b"error=access_denied&state=xyz").unwrap();
    let Callback::Error(e) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(e.error(), "access_denied");
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    assert_eq!(e.state(), Some("xyz"));
    assert_eq!(cb.state(), Some("xyz"));
}

#[test]
fn rfc9207_2_1_vector_verifies() {
    let cb = parse(RFC9207_QUERY).unwrap();
    let Callback::Code(c) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(c.iss(), Some("https://honest.as.example"));
    let v = cb
        .verify(
            &our_state(),
            &rfc_profile_with_issuer("https://honest.as.example"),
        )
        .unwrap();
    assert_eq!(
        v.code().secret(),
        "x1848ZT64p4IirMPT0R-X3141MFPTuBX-VFL_cvaplMH58"
    );
    assert_eq!(v.kommo_account(), None);
}

// ---- Input forms ---------------------------------------------------------------------------

#[test]
fn accepts_full_url_leading_question_mark_and_drops_fragment() {
    for q in [
        "https://app.example.com/cb?code=c1&state=s1",
        "?code=c1&state=s1",
        "code=c1&state=s1",
        "code=c1&state=s1#frag&code=c2",
        "http://127.0.0.1:5000/cb?code=c1&state=s1#code=c2",
        "&&code=c1&&state=s1&",
    ] {
        let cb = parse(q.as_bytes()).unwrap();
        let Callback::Code(c) = &cb else {
            panic!("{q}: {cb:?}")
        };
        assert_eq!(c.code().secret(), "c1", "{q}");
        assert_eq!(c.state(), Some("s1"), "{q}");
    }
    // A `?` inside a raw query value is part of the value, not a URL prefix.
    let cb = parse(b"code=a?b&state=s").unwrap();
    let Callback::Code(c) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(c.code().secret(), "a?b");
}

#[test]
fn decodes_values_and_escaped_names() {
    let cb = parse(b"%63ode=a%2Bb+c&state=%7E%2F&error_description_x=1&x=%20").unwrap();
    let Callback::Code(c) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(c.code().secret(), "a+b c");
    assert_eq!(c.state(), Some("~/"));
}

#[test]
fn unknown_parameters_are_ignored() {
    let cb = parse(b"code=c&session_state=abc&foo&bar=&state=s&lang=en").unwrap();
    let Callback::Code(c) = &cb else {
        panic!("{cb:?}")
    };
    assert_eq!(c.code().secret(), "c");
}

#[test]
fn missing_and_empty_code_or_error() {
    assert_eq!(
        parse_err(b"state=s"),
        InvalidMessage::Missing(Name::Code).into()
    );
    assert_eq!(parse_err(b""), InvalidMessage::Missing(Name::Code).into());
    assert_eq!(
        parse_err(b"code=&state=s"),
        InvalidMessage::Empty(Name::Code).into()
    );
    assert_eq!(
        parse_err(b"code&state=s"),
        InvalidMessage::Empty(Name::Code).into()
    );
    assert_eq!(
        parse_err(b"error=&state=s"),
        InvalidMessage::Empty(Name::Error).into()
    );
}

#[test]
fn scratch_too_small_reports_a_sufficient_size() {
    // Values without escapes are borrowed from the query: no scratch needed.
    let plain = b"code=abcdef&state=012345";
    let cb = parse_callback(plain, &mut []).unwrap();
    assert_eq!(cb.state(), Some("012345"));
    // Escaped values are decoded into scratch.
    let q = b"code=ab%2Fcdef&state=01%2F2345";
    let mut small = [0u8; 8];
    assert_eq!(
        parse_callback(q, &mut small),
        Err(Error::BufferTooSmall {
            required: Len::new(q.len())
        })
    );
    let mut exact = vec![0u8; q.len()];
    let cb = parse_callback(q, &mut exact).unwrap();
    assert_eq!(cb.state(), Some("01/2345"));
    // Also with a URL prefix: `required` counts the query part only.
    let url = b"https://a.example/cb?code=ab%2Fcdef&state=01%2F2345";
    assert_eq!(
        parse_callback(url, &mut small),
        Err(Error::BufferTooSmall {
            required: Len::new(q.len())
        })
    );
}

// ---- CB ------------------------------------------------------------------------------------

#[test]
fn s_cb_1_duplicate_parameters() {
    for (q, name) in [
        ("code=a&code=b&state=s", Name::Code),
        ("code=a&state=s&state=s", Name::State),
        ("code=a&state=s&iss=x&iss=x", Name::Iss),
        ("error=a&error=b&state=s", Name::Error),
        (
            "code=a&state=s&referer=a.kommo.com&referer=b.kommo.com",
            Name::Referer,
        ),
        ("code=a&%63ode=b&state=s", Name::Code),
        ("code=a&state=s&st%61te=t", Name::State),
        (
            "code=a&state=s&error_description=x&error_description=y",
            Name::ErrorDescription,
        ),
        (
            "code=a&state=s&from_widget=1&from_widget=1",
            Name::FromWidget,
        ),
        ("code=a&state=s&client_id=1&client_id=1", Name::ClientId),
    ] {
        assert_eq!(
            parse_err(q.as_bytes()),
            InvalidMessage::Duplicate(name).into(),
            "{q}"
        );
    }
    // An empty duplicate is still a duplicate.
    assert_eq!(
        parse_err(b"code=a&state=&state=s"),
        InvalidMessage::Duplicate(Name::State).into()
    );
}

#[test]
fn s_cb_2_code_and_error_rejected() {
    assert_eq!(
        parse_err(b"code=a&error=access_denied&state=s"),
        InvalidMessage::CodeAndError.into()
    );
    assert_eq!(
        parse_err(b"error=access_denied&state=s&code=a"),
        InvalidMessage::CodeAndError.into()
    );
}

#[test]
fn s_cb_2_bad_escapes_and_control_bytes_rejected() {
    let bad_escape = Error::from(InvalidMessage::BadPercentEncoding);
    let control = Error::from(InvalidMessage::ControlCharacter);
    let not_utf8 = Error::from(InvalidMessage::NotUtf8);
    for (q, err) in [
        (&b"code=a%2&state=s"[..], bad_escape),
        (b"code=a%zz&state=s", bad_escape),
        (b"code=a&state=%", bad_escape),
        (b"code=a%00&state=s", control),
        (b"code=a&state=s%0D%0ASet-Cookie:x", control),
        (b"code=a\nb&state=s", control),
        (b"code=a&state=s\0", control),
        (b"code=a&state=s&error_description=%7F", control),
        (b"code=a&state=%FF", not_utf8),
        (b"code=a&state=\xC3", not_utf8),
        // Unknown parameters are ignored but must be well-formed, names too.
        (b"x=%G1&code=a&state=s", bad_escape),
        (b"%G1=x&code=a&state=s", bad_escape),
        (b"x=%01&code=a&state=s", control),
        (b"from_widget=%0A&code=a&state=s", control),
    ] {
        assert_eq!(parse_err(q), err, "{}", String::from_utf8_lossy(q));
    }
}

#[test]
fn s_cb_3_issuer_checked_when_expected() {
    let cb = parse(RFC9207_QUERY).unwrap();
    assert_eq!(
        cb.verify(
            &our_state(),
            &rfc_profile_with_issuer("https://evil.as.example")
        ),
        Err(CheckFailed::IssuerMismatch.into())
    );
    // Exact comparison: no normalisation of case or a trailing slash.
    assert_eq!(
        cb.verify(
            &our_state(),
            &rfc_profile_with_issuer("https://honest.as.example/")
        ),
        Err(CheckFailed::IssuerMismatch.into())
    );
    assert_eq!(
        cb.verify(
            &our_state(),
            &rfc_profile_with_issuer("https://HONEST.as.example")
        ),
        Err(CheckFailed::IssuerMismatch.into())
    );
    // Missing `iss` while one is expected.
    let no_iss = parse(&code_query("")).unwrap();
    assert_eq!(
        no_iss.verify(
            &our_state(),
            &rfc_profile_with_issuer("https://honest.as.example")
        ),
        Err(CheckFailed::IssuerMissing.into())
    );
    // Error responses are checked too (a mix-up attacker's error is not the honest AS's).
    let err = parse(
        format!("error=access_denied&state={RFC9207_STATE}&iss=https%3A%2F%2Fevil.example")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        err.verify(
            &our_state(),
            &rfc_profile_with_issuer("https://honest.as.example")
        ),
        Err(CheckFailed::IssuerMismatch.into())
    );
    // Without an expected issuer, `iss` is not required.
    assert!(no_iss.verify(&our_state(), &rfc_profile()).is_ok());
}

#[test]
fn s_cb_4_oversize_query_rejected() {
    // Many small unknown parameters (each value well under MAX_PARAM_LEN).
    let mut q = code_query("");
    while q.len() < MAX_CALLBACK_LEN {
        q.extend_from_slice(b"&p=");
        q.extend(std::iter::repeat_n(b'a', 100));
    }
    q.truncate(MAX_CALLBACK_LEN);
    assert!(parse(&q).is_ok());
    q.push(b'a');
    assert_eq!(
        parse_err(&q),
        Error::CapacityExceeded {
            what: Capacity::Callback,
            limit: MAX_CALLBACK_LEN as u16
        }
    );
    // One value longer than MAX_PARAM_LEN once decoded.
    let long = "a".repeat(MAX_PARAM_LEN + 1);
    let too_long = Error::CapacityExceeded {
        what: Capacity::Parameter,
        limit: MAX_PARAM_LEN as u16,
    };
    assert_eq!(
        parse_err(format!("code={long}&state=s").as_bytes()),
        too_long
    );
    assert_eq!(
        parse_err(format!("code=a&state=s&x={long}").as_bytes()),
        too_long
    );
    // Exactly MAX_PARAM_LEN decoded is fine, even when its raw form is longer.
    let escaped = "%41".repeat(MAX_PARAM_LEN);
    let cb = parse(format!("code={escaped}&state=s").as_bytes()).unwrap();
    let Callback::Code(c) = &cb else { panic!() };
    assert_eq!(c.code().secret().len(), MAX_PARAM_LEN);
}

#[test]
fn s_cb_6_implicit_and_hybrid_leftovers_rejected() {
    for name in [
        Name::AccessToken,
        Name::IdToken,
        Name::TokenType,
        Name::Response,
    ] {
        let q = code_query(&format!("&{name}=x"));
        assert_eq!(
            parse_err(&q),
            InvalidMessage::Unexpected(name).into(),
            "{name}"
        );
        // Also when escaped or empty.
        let escaped: String = name.as_str().bytes().map(|b| format!("%{b:02X}")).collect();
        let q = code_query(&format!("&{escaped}"));
        assert_eq!(
            parse_err(&q),
            InvalidMessage::Unexpected(name).into(),
            "{name}"
        );
    }
}

// ---- STATE ---------------------------------------------------------------------------------

#[test]
fn s_state_2_missing_empty_duplicate_mismatch() {
    let state = our_state();
    let p = rfc_profile();
    let missing = parse(b"code=abc").unwrap();
    assert_eq!(
        missing.verify(&state, &p),
        Err(CheckFailed::StateMissing.into())
    );
    let empty = parse(b"code=abc&state=").unwrap();
    assert_eq!(
        empty.verify(&state, &p),
        Err(CheckFailed::StateMissing.into())
    );
    let dup = format!("code=abc&state={RFC9207_STATE}&state={RFC9207_STATE}");
    assert_eq!(
        parse_err(dup.as_bytes()),
        InvalidMessage::Duplicate(Name::State).into()
    );
    // One character off, a prefix, a longer value, another case.
    let mut off = RFC9207_STATE.to_owned().into_bytes();
    off[42] ^= 1;
    let off = String::from_utf8(off).unwrap();
    for bad in [
        off.as_str(),
        &RFC9207_STATE[..42],
        &format!("{RFC9207_STATE}x"),
        &RFC9207_STATE.to_ascii_lowercase(),
    ] {
        let cb = parse(format!("code=abc&state={bad}").as_bytes()).unwrap();
        assert_eq!(
            cb.verify(&state, &p),
            Err(CheckFailed::StateMismatch.into()),
            "{bad}"
        );
    }
    let good = parse(&code_query("")).unwrap();
    assert_eq!(good.verify(&state, &p).unwrap().code().secret(), "abc");
}

#[test]
fn s_state_3_error_with_wrong_state_is_csrf_not_denial() {
    let p = rfc_profile();
    let wrong = parse(b"error=access_denied&state=xyz").unwrap();
    assert_eq!(
        wrong.verify(&our_state(), &p),
        Err(CheckFailed::StateMismatch.into())
    );
    let missing = parse(b"error=access_denied").unwrap();
    assert_eq!(
        missing.verify(&our_state(), &p),
        Err(CheckFailed::StateMissing.into())
    );
    // With our state it is the server's (or user's) answer, description kept.
    let q = format!(
        "error=access_denied&error_description=The+user+said+no&error_uri=https%3A%2F%2Fas.example%2Fe&state={RFC9207_STATE}"
    );
    let good = parse(q.as_bytes()).unwrap();
    assert_eq!(
        good.verify(&our_state(), &p),
        Err(Error::ServerError(ServerError {
            code: ErrorKind::AccessDenied,
            status: HttpStatus::new(0)
        }))
    );
    let Callback::Error(e) = &good else { panic!() };
    assert_eq!(e.description(), Some("The user said no"));
    assert_eq!(e.uri(), Some("https://as.example/e"));
    // An unregistered code keeps its text.
    let odd = parse(format!("error=weird_thing&state={RFC9207_STATE}").as_bytes()).unwrap();
    assert_eq!(
        odd.verify(&our_state(), &p),
        Err(Error::ServerError(ServerError {
            code: ErrorKind::Other,
            status: HttpStatus::new(0)
        }))
    );
}

#[test]
fn s_state_5_widget_install_not_accepted_as_browser_callback() {
    let kommo = Profile::kommo();
    let install = parse(b"code=def&referer=example.kommo.com&from_widget=1&client_id=abc").unwrap();
    let Callback::Code(c) = &install else {
        panic!()
    };
    assert!(c.from_widget());
    assert_eq!(c.client_id(), Some("abc"));
    assert_eq!(c.referer(), Some("example.kommo.com"));
    assert_eq!(
        install.verify(&our_state(), &kommo),
        Err(CheckFailed::StateMissing.into())
    );
    // Even carrying our state, an install is not a browser sign-in.
    let with_state = parse(&code_query("&referer=example.kommo.com&from_widget=1")).unwrap();
    assert_eq!(
        with_state.verify(&our_state(), &kommo),
        Err(InvalidMessage::Unexpected(Name::FromWidget).into())
    );
    // The server-side install handler has its own entry point, which still checks REF-1/2.
    let v = install.verify_widget_install(&kommo).unwrap();
    assert_eq!(v.kommo_account().unwrap().host(), "example.kommo.com");
    let evil = parse(b"code=def&referer=evil.com&from_widget=1").unwrap();
    assert_eq!(
        evil.verify_widget_install(&kommo),
        Err(CheckFailed::RefererNotAllowed.into())
    );
    let browser = parse(b"code=def&referer=example.kommo.com").unwrap();
    assert_eq!(
        browser.verify_widget_install(&kommo),
        Err(InvalidMessage::Missing(Name::FromWidget).into())
    );
    assert!(install.verify_widget_install(&rfc_profile()).is_err());
}

// ---- REF -----------------------------------------------------------------------------------

#[test]
fn s_ref_1_hostile_referers_rejected() {
    let kommo = Profile::kommo();
    let malformed = Error::from(CheckFailed::RefererMalformed);
    let not_allowed = Error::from(CheckFailed::RefererNotAllowed);
    let long_label = format!("{}.kommo.com", "a".repeat(64));
    let long_host = format!("{}kommo.com", "abcdefghi.".repeat(25));
    for (referer, err) in [
        ("evil.com", not_allowed),
        ("example.kommo.com.evil.com", not_allowed),
        ("evilkommo.com", not_allowed),
        ("kommo.com", not_allowed),
        ("kommo.com@evil.com", malformed),
        ("example.kommo.com@evil.com", malformed),
        ("user@example.kommo.com", malformed),
        ("example.kommo.com:443", malformed),
        ("https://example.kommo.com", malformed),
        ("//example.kommo.com", malformed),
        ("example.kommo.com/path", malformed),
        ("example.kommo.com?x=1", malformed),
        ("example.kommo.com#x", malformed),
        ("example.kommo.com.", malformed),
        (".example.kommo.com", malformed),
        ("ex%41mple.kommo.com", malformed),
        ("exa mple.kommo.com", malformed),
        ("example.kommo.com ", malformed),
        ("example.kommo.com\t", malformed),
        ("-x.kommo.com", malformed),
        ("x-.kommo.com", malformed),
        ("x..kommo.com", malformed),
        ("127.0.0.1", malformed),
        ("2130706433", malformed),
        ("10.0.0.1.kommo.com.0x7f", malformed),
        ("[::1]", malformed),
        ("[::1].kommo.com", malformed),
        (long_label.as_str(), malformed),
        (long_host.as_str(), malformed),
        ("example.kommo.com\\@evil", malformed),
        ("example.kommo.com\\", malformed),
        ("ex\u{0430}mple.kommo.com", malformed), // Cyrillic а
        ("example.kommo\u{FF0E}com", malformed), // fullwidth full stop
        ("example.k\u{043E}mmo.com", malformed), // Cyrillic о
        ("example.kommo.com\u{0000}", malformed),
        ("", malformed),
    ] {
        assert_eq!(validate_referer(referer, &kommo), Err(err), "{referer:?}");
    }
    // 63-character labels are fine.
    let ok = format!("{}.kommo.com", "a".repeat(63));
    assert_eq!(validate_referer(&ok, &kommo).unwrap().host(), ok);
    // Only Kommo profiles have referers.
    assert!(validate_referer("example.kommo.com", &rfc_profile()).is_err());
}

#[test]
fn s_ref_1_hostile_referer_in_callback_gives_no_account() {
    let kommo = Profile::kommo();
    for referer in [
        "kommo.com%40evil.com",
        "example.kommo.com%3A443",
        "https%3A%2F%2Fexample.kommo.com",
        "example.kommo.com.evil.com",
        "example.kommo.com%2F",
        "example.kommo.com.",
    ] {
        let cb = parse(&code_query(&format!("&referer={referer}"))).unwrap();
        assert!(cb.verify(&our_state(), &kommo).is_err(), "{referer}");
    }
    // A Kommo code callback must name its account.
    let no_referer = parse(&code_query("")).unwrap();
    assert_eq!(
        no_referer.verify(&our_state(), &kommo),
        Err(InvalidMessage::Missing(Name::Referer).into())
    );
}

#[test]
fn s_ref_2_suffix_on_label_boundary_case_insensitive_url_lowercase() {
    let kommo = Profile::kommo();
    let a = validate_referer("X.KOMMO.COM", &kommo).unwrap();
    assert_eq!(a.host(), "x.kommo.com");
    let mut buf = [0u8; 64];
    let n = a.token_url(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"https://x.kommo.com/oauth2/access_token");
    let mut small = [0xEEu8; 38];
    assert_eq!(
        a.token_url(&mut small),
        Err(Error::BufferTooSmall {
            required: Len::new(39)
        })
    );
    assert_eq!(small, [0xEE; 38]);

    let deep = validate_referer("Team-1.Sub.Kommo.Com", &kommo).unwrap();
    assert_eq!(deep.host(), "team-1.sub.kommo.com");
    for bad in [
        "kommo.com",
        "evilkommo.com",
        "kommo.com.evil.com",
        "xkommo.com",
        "amocrm.ru",
    ] {
        assert_eq!(
            validate_referer(bad, &kommo),
            Err(CheckFailed::RefererNotAllowed.into()),
            "{bad}"
        );
    }
    // An added suffix, matched the same way.
    let more = Profile::kommo().with_referer_suffix(".AmoCRM.ru").unwrap();
    assert_eq!(
        validate_referer("shop.amocrm.RU", &more).unwrap().host(),
        "shop.amocrm.ru"
    );
    assert!(validate_referer("example.kommo.com", &more).is_ok());
    assert!(validate_referer("evilamocrm.ru", &more).is_err());

    // A suffix without its leading dot (set through the public field, bypassing
    // `with_referer_suffix`) never matches: no label boundary, no match.
    let mut raw = Profile::kommo();
    if let Profile::Kommo(k) = &mut raw {
        k.referer_allowlist.clear();
        k.referer_allowlist
            .push(heapless::String::try_from("kommo.com").unwrap())
            .unwrap();
    }
    for host in ["evilkommo.com", "x.kommo.com"] {
        assert_eq!(
            validate_referer(host, &raw),
            Err(CheckFailed::RefererNotAllowed.into()),
            "{host}"
        );
    }

    // Through the callback: the verified account is the lowercase host.
    let cb = parse(&code_query("&referer=Example.Kommo.com")).unwrap();
    let v = cb.verify(&our_state(), &kommo).unwrap();
    assert_eq!(v.kommo_account().unwrap().host(), "example.kommo.com");
    let (code, account) = v.into_parts();
    assert_eq!(code.secret(), "abc");
    assert_eq!(account.unwrap().host(), "example.kommo.com");
}

// ---- SEC -----------------------------------------------------------------------------------

#[test]
fn s_sec_1_callback_debug_redacts_code_and_state() {
    let cb = parse(RFC9207_QUERY).unwrap();
    let dbg = format!("{cb:?}");
    assert!(!dbg.contains("x1848ZT64"), "{dbg}");
    assert!(!dbg.contains(RFC9207_STATE), "{dbg}");
    assert!(dbg.contains("[redacted]"), "{dbg}");
    let v = cb
        .verify(
            &our_state(),
            &rfc_profile_with_issuer("https://honest.as.example"),
        )
        .unwrap();
    let dbg = format!("{v:?}");
    assert!(!dbg.contains("x1848ZT64"), "{dbg}");
    let e = parse(format!("error=access_denied&state={RFC9207_STATE}").as_bytes()).unwrap();
    assert!(!format!("{e:?}").contains(RFC9207_STATE));
}

// ---- Properties ----------------------------------------------------------------------------

proptest::proptest! {
    #[test]
    fn s_sec_2_parse_never_panics_on_bytes(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        scratch_len in 0usize..600,
    ) {
        let mut scratch = vec![0u8; scratch_len];
        if let Ok(cb) = parse_callback(&bytes, &mut scratch) {
            let _ = cb.verify(&our_state(), &Profile::kommo());
        }
    }

    #[test]
    fn s_sec_2_parse_never_panics_on_ascii_queries(
        q in "([a-z_%=&?#+0-9A-F.]{0,12}){0,24}",
    ) {
        let mut scratch = vec![0u8; q.len()];
        if let Ok(cb) = parse_callback(q.as_bytes(), &mut scratch) {
            let _ = cb.verify(&our_state(), &rfc_profile_with_issuer("https://a.example"));
        }
    }

    #[test]
    fn values_round_trip(code in "\\PC{1,64}", state in "\\PC{0,64}", iss in "\\PC{0,64}") {
        let enc = |s: &str| {
            let mut buf = vec![0u8; s.len() * 3];
            let n = form_encode(s, &mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        let q = format!("code={}&state={}&iss={}", enc(&code), enc(&state), enc(&iss));
        let mut scratch = vec![0u8; q.len()];
        let cb = parse_callback(q.as_bytes(), &mut scratch).unwrap();
        let Callback::Code(c) = &cb else { panic!() };
        proptest::prop_assert_eq!(c.code().secret(), code.as_str());
        proptest::prop_assert_eq!(c.state(), Some(state.as_str()));
        proptest::prop_assert_eq!(c.iss(), Some(iss.as_str()));
    }

    #[test]
    fn referer_validation_never_panics(s in "\\PC{0,80}") {
        let _ = validate_referer(&s, &Profile::kommo());
    }
}
