//! Smoke tests of the `latchkey` binary itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // reason: tests

mod common;

use std::process::Command;

use common::TempDir;

fn latchkey(dir: &TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    c.env("LATCHKEY_CONFIG", dir.0.join("latchkey.toml"))
        .env("LATCHKEY_DATA_DIR", dir.0.join("data"))
        .env_remove("LATCHKEY_PROFILE")
        .env_remove("LATCHKEY_CLIENT_SECRET")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let dir = TempDir::new("help");
    let out = latchkey(&dir).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "demo",
        "serve-mock",
        "login",
        "token",
        "status",
        "refresh",
        "revoke",
        "logout",
        "pkce",
        "password-login",
        "mfa",
        "forgot-password",
        "device",
        "Exit codes",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
    let out = latchkey(&dir).args(["login", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("LATCHKEY_CLIENT_ID"), "{text}");
    assert!(!text.contains("--client-secret "), "no secret flag (SEC-4)");
}

#[test]
fn demo_passes() {
    let dir = TempDir::new("demo");
    let out = latchkey(&dir).args(["demo", "--json"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["failed"], 0);
    assert!(v["passed"].as_u64().unwrap() >= 8);
}

#[test]
fn wrong_flag_missing_profile_and_not_signed_in_exit_codes() {
    let dir = TempDir::new("codes");
    let out = latchkey(&dir)
        .args(["token", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = latchkey(&dir)
        .args(["token", "--profile", "work"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no profile `work`") && err.contains("latchkey login --profile work"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let out = latchkey(&dir)
        .args([
            "token",
            "--dialect",
            "crm",
            "--portal",
            "https://p.example",
            "--api",
            "https://a.example",
            "--client-id",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not signed in"), "{err}");
}

#[test]
fn pkce_json_is_well_formed() {
    let dir = TempDir::new("pkce");
    let out = latchkey(&dir).args(["pkce", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code_challenge_method"], "S256");
    assert_eq!(v["code_verifier"].as_str().unwrap().len(), 43);
}
