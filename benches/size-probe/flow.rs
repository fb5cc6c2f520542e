//! The flow the size probes link: what a device or a page needs to sign in and stay signed
//! in — PKCE + authorization URL (poll), callback parse and checks, token request, token
//! response parse, snapshot save/restore, refresh (and one unanswered refresh, LIFE-9),
//! logout with revocation. With the `full` feature it also runs the CRM and Kommo dialects
//! (chosen at run time, so neither can be optimised away) and the device grant; without
//! it, plain RFC 6749 — the configuration of the design's 16 KiB firmware budget. Every
//! input is `black_box`ed.

use core::hint::black_box;

use latchkey_core::http::Response;
use latchkey_core::session::{Action, Config, Session};
use latchkey_core::{Client, Error, Profile};

/// Access/refresh token capacities a small device would pick.
type Probe = Session<1024, 512>;

fn profile(dialect: u8) -> Result<Profile, Error> {
    match dialect {
        #[cfg(feature = "full")]
        1 => Profile::crm(
            black_box("https://portal.crm.example"),
            black_box("https://api.crm.example"),
        ),
        #[cfg(feature = "full")]
        2 => Profile::kommo().with_referer_suffix(black_box(".amocrm.ru")),
        _ => {
            let p = Profile::rfc6749(
                black_box("https://as.example/authorize"),
                black_box("https://as.example/token"),
            )?
            .with_revocation(black_box("https://as.example/revoke"))?;
            #[cfg(feature = "full")]
            let p = p.with_device_authorization(black_box("https://as.example/device"))?;
            p.with_issuer(black_box("https://as.example"))
        }
    }
}

fn weight(action: &Action<'_>) -> usize {
    match action {
        Action::OpenUrl(u) => u.len(),
        Action::Send(r) => r.url.len() + r.body.len() + r.headers().len(),
        Action::Persist(b) => b.len(),
        #[cfg(feature = "full")]
        Action::PostMessage { json, .. } => json.len(),
        #[cfg(feature = "full")]
        Action::ShowUserCode { user_code, .. } => user_code.len(),
        _ => 1,
    }
}

/// Runs the flow; returns a checksum so nothing is dead.
pub fn run(dialect: u8, entropy: &[u8; 48], now: u64) -> usize {
    let mut sum = 0usize;
    let mut buf = [0u8; 2048];
    let mut scratch = [0u8; 2048];
    let Ok(profile) = profile(dialect) else {
        return 0;
    };
    let Ok(client) = Client::new(black_box("device-app"), black_box("https://app.example/cb"))
        .and_then(|c| c.with_secret(black_box("s3cret")))
        .and_then(|c| c.with_scope(black_box("user-portal:user:*")))
    else {
        return 0;
    };
    let config = Config::new(profile, client);
    let mut s = Probe::new(config.clone());

    let _ = s.start_authorization(entropy, now);
    if let Ok(a) = s.poll_action(now, &mut buf) {
        sum += weight(&a);
    }
    let query: &[u8] = black_box(b"code=SplxlOBeZQQYbYS6WxSbIA&state=Rm9yIHRoZSBiZW5jaG1hcms&iss=https%3A%2F%2Fas.example&referer=x.kommo.com");
    let _ = s.handle_callback(query, now, &mut scratch);
    if let Ok(a) = s.poll_action(now, &mut buf) {
        sum += weight(&a);
    }
    let body: &[u8] = black_box(br#"{"access_token":"at\/1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt1"}"#);
    let _ = s.handle_response(Response::new(black_box(200), body), now, &mut scratch);
    for _ in 0..black_box(2) {
        if let Ok(a) = s.poll_action(now, &mut buf) {
            sum += weight(&a);
        }
    }
    if let Ok(t) = s.access_token(now) {
        sum += t.secret().len();
    }

    // Persist and restore, as an adapter does across restarts.
    if let Ok(n) = s.save(&mut buf) {
        if let Ok(restored) = Probe::restore(config, &buf[..n]) {
            s = restored;
        }
    }

    // Refresh, an unanswered refresh (LIFE-9), then logout with revocation.
    let later = now + black_box(4000);
    let _ = s.refresh(later);
    if let Ok(a) = s.poll_action(later, &mut buf) {
        sum += weight(&a);
    }
    let _ = s.handle_timeout(later);
    if let Ok(a) = s.poll_action(later, &mut buf) {
        sum += weight(&a);
    }
    let _ = s.handle_response(Response::new(black_box(200), body), later, &mut scratch);
    let _ = s.logout(later);
    for _ in 0..black_box(3) {
        if let Ok(a) = s.poll_action(later, &mut buf) {
            sum += weight(&a);
        }
    }
    let _ = s.handle_response(Response::new(black_box(503), b""), later, &mut scratch);

    // The device grant: request, user code, one pending poll.
    #[cfg(feature = "full")]
    {
        let body: &[u8] = black_box(br#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://as.example/device","expires_in":1800,"interval":5}"#);
        let pending: &[u8] = black_box(br#"{"error":"authorization_pending"}"#);
        let _ = s.start_device_authorization(later);
        for reply in [body, pending] {
            for _ in 0..black_box(3) {
                if let Ok(a) = s.poll_action(later, &mut buf) {
                    sum += weight(&a);
                }
            }
            let status = if reply == pending { 400 } else { 200 };
            let _ = s.handle_response(Response::new(black_box(status), reply), later, &mut scratch);
        }
        let _ = s.handle_timeout(later);
    }
    sum
}
