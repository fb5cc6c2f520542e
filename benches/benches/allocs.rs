//! Heap allocations per operation, counted by a global allocator wrapper: latchkey-core must
//! show 0 for every operation; the peers' counts are shown for comparison. Prints a markdown
//! table and exits non-zero if a core operation allocated.
#![allow(clippy::unwrap_used, clippy::expect_used)] // reason: a measuring tool, fails loudly

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use latchkey_benches::{
    CALLBACK_QUERY, CRM_TOKEN_BODY, CodeFlow, Latchkey, Meter, Peer, SCRATCH, VERIFIER, floor_s256,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RUNS: usize = 100;

/// Allocations per call of `f`, averaged over [`RUNS`] calls after one warm-up call.
fn count<T>(mut f: impl FnMut() -> T) -> f64 {
    black_box(f());
    let region = Region::new(GLOBAL);
    for _ in 0..RUNS {
        black_box(f());
    }
    region.change().allocations as f64 / RUNS as f64
}

/// Counts allocations inside the core calls of the session flow only (the testkit server
/// and the glue that plays the adapter allocate, and are not counted).
struct CoreAllocs(usize);

impl Meter for CoreAllocs {
    fn core<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let region = Region::new(GLOBAL);
        let out = f();
        self.0 += region.change().allocations;
        out
    }
}

fn main() -> ExitCode {
    let lk = Latchkey::new();
    let peer = Peer::new();
    let mut buf = [0u8; 512];
    let mut scratch = [0u8; SCRATCH];

    let pkce = count(|| lk.pkce_s256());
    let generate = count(Latchkey::pkce_generate);
    let url = count(|| lk.authorize_url(&mut buf));
    let cb = count(|| lk.callback(CALLBACK_QUERY.as_bytes(), &mut scratch));
    let token = count(|| Latchkey::token_response(CRM_TOKEN_BODY, &mut scratch));
    let mut flow = CodeFlow::new();
    let mut meter = CoreAllocs(0);
    flow.run(1_700_000_000, &[7u8; 48], &mut meter); // warm-up
    meter.0 = 0;
    for i in 0..RUNS as u64 {
        flow.run(1_700_000_001 + i, &[7u8; 48], &mut meter);
    }
    let session = meter.0 as f64 / RUNS as f64;

    let rows = [
        (
            "PKCE S256 (43-char verifier)",
            pkce,
            Some(count(|| peer.pkce_s256())),
            Some(count(|| floor_s256(VERIFIER))),
        ),
        (
            "PKCE generate (OS entropy)",
            generate,
            Some(count(Peer::pkce_generate)),
            None,
        ),
        (
            "authorization URL",
            url,
            Some(count(|| peer.authorize_url())),
            None,
        ),
        (
            "callback parse + state check",
            cb,
            Some(count(|| Peer::callback(CALLBACK_QUERY.as_bytes()))),
            None,
        ),
        (
            "token response parse",
            token,
            Some(count(|| Peer::token_response(CRM_TOKEN_BODY))),
            None,
        ),
        ("session code flow (core calls only)", session, None, None),
    ];
    println!("| operation | latchkey allocs | peer allocs | floor allocs |");
    println!("|---|---:|---:|---:|");
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v}"));
    let mut ok = true;
    for (name, core, peer, floor) in rows {
        ok &= core == 0.0;
        println!("| {name} | {core} | {} | {} |", fmt(peer), fmt(floor));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("allocs: a latchkey-core operation allocated");
        ExitCode::FAILURE
    }
}
