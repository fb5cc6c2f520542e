//! latchkey-core side by side with oauth2-rs 5, `url` and a bare sha2+base64 floor, on the
//! same inputs in one run. `scripts/bench.sh` runs it and turns the medians into ratios.
#![allow(missing_docs)] // reason: criterion_main! generates an undocumented `main`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_benches::{
    CALLBACK_QUERY, CRM_TOKEN_BODY, CodeFlow, Latchkey, NoMeter, Peer, SCRATCH, VERIFIER,
    floor_s256,
};

fn pkce(c: &mut Criterion) {
    let lk = Latchkey::new();
    let peer = Peer::new();
    let mut g = c.benchmark_group("pkce_s256");
    g.bench_function("latchkey", |b| b.iter(|| black_box(&lk).pkce_s256()));
    g.bench_function("oauth2", |b| b.iter(|| black_box(&peer).pkce_s256()));
    g.bench_function("floor", |b| b.iter(|| floor_s256(black_box(VERIFIER))));
    g.finish();

    let mut g = c.benchmark_group("pkce_generate");
    g.bench_function("latchkey", |b| b.iter(Latchkey::pkce_generate));
    g.bench_function("oauth2", |b| b.iter(Peer::pkce_generate));
    g.finish();
}

fn authorize_url(c: &mut Criterion) {
    let lk = Latchkey::new();
    let peer = Peer::new();
    let mut g = c.benchmark_group("authorize_url");
    g.bench_function("latchkey", |b| {
        let mut buf = [0u8; 512];
        b.iter(|| black_box(&lk).authorize_url(black_box(&mut buf)))
    });
    g.bench_function("oauth2", |b| b.iter(|| black_box(&peer).authorize_url()));
    g.finish();
}

fn callback(c: &mut Criterion) {
    let lk = Latchkey::new();
    let mut g = c.benchmark_group("callback");
    g.bench_function("latchkey", |b| {
        let mut scratch = [0u8; SCRATCH];
        b.iter(|| black_box(&lk).callback(black_box(CALLBACK_QUERY.as_bytes()), &mut scratch))
    });
    g.bench_function("url_form_urlencoded", |b| {
        b.iter(|| Peer::callback(black_box(CALLBACK_QUERY.as_bytes())))
    });
    g.finish();
}

fn token_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("token_response");
    g.bench_function("latchkey", |b| {
        let mut scratch = [0u8; SCRATCH];
        b.iter(|| Latchkey::token_response(black_box(CRM_TOKEN_BODY), &mut scratch))
    });
    g.bench_function("oauth2_serde_json", |b| {
        b.iter(|| Peer::token_response(black_box(CRM_TOKEN_BODY)))
    });
    g.finish();
}

fn code_flow(c: &mut Criterion) {
    let mut flow = CodeFlow::new();
    let mut now = 1_700_000_000;
    let mut g = c.benchmark_group("code_flow");
    g.bench_function("latchkey_session_testkit", |b| {
        b.iter(|| {
            now += 1;
            flow.run(now, &[7u8; 48], &mut NoMeter);
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    pkce,
    authorize_url,
    callback,
    token_response,
    code_flow
);
criterion_main!(benches);
