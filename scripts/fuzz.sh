#!/usr/bin/env bash
# Fuzzing latchkey-core with cargo-fuzz (nightly + libFuzzer). Installs what it needs,
# idempotently: the nightly toolchain and cargo-fuzz from crates.io.
#
# Usage:
#   scripts/fuzz.sh build            # build every target (debug assertions on)
#   scripts/fuzz.sh smoke [secs]     # build, then run each target briefly (default 20 s)
#   scripts/fuzz.sh long [secs]      # run each target longer (default 300 s)
#   scripts/fuzz.sh run TARGET [secs]
#
# Seeds are committed in fuzz/seeds/<target>/ (read only); the working corpus grows in
# fuzz/target/corpus/<target>/ (ignored). A crash fails the script and leaves the input in
# fuzz/artifacts/<target>/: fix the core, add a regression test, and copy the input into
# fuzz/seeds/<target>/ so every later run replays it. Each run prints the executions the
# target survived.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(callback token_response message_reply kommo_referer device_authorization
  mfa_responses snapshot_restore pkce_verifier session)

setup() {
  if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal --no-self-update
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +stable install cargo-fuzz --locked
  fi
}

build() {
  cargo +nightly fuzz build --debug-assertions
}

# run TARGET SECS: prints "TARGET: N executions in S s" and fails on a crash.
run() {
  local t=$1 secs=$2 log
  mkdir -p "fuzz/target/corpus/$t" "fuzz/seeds/$t"
  log=$(mktemp)
  if ! cargo +nightly fuzz run --debug-assertions "$t" "fuzz/target/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -max_len=8192 \
      ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
      >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (input saved under fuzz/artifacts/$t/)" >&2
    rm -f "$log"
    return 1
  fi
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  printf 'fuzz: %-22s %12s executions in %s s, corpus %s inputs\n' \
    "$t" "${execs:-?}" "$secs" "$(find "fuzz/target/corpus/$t" -type f | wc -l)"
  rm -f "$log"
}

mode=${1:-smoke}
case "$mode" in
  build)
    setup
    build
    ;;
  smoke | long)
    default=20
    [ "$mode" = long ] && default=300
    # The smoke run is reproducible: a fixed libFuzzer seed over the committed seeds, so a
    # run finds what the previous one found (FUZZ_SEED=0 asks libFuzzer for a random seed).
    [ "$mode" = smoke ] && export FUZZ_SEED=${FUZZ_SEED:-1}
    [ "${FUZZ_SEED:-}" = 0 ] && unset FUZZ_SEED
    secs=${2:-$default}
    setup
    build
    for t in "${TARGETS[@]}"; do run "$t" "$secs"; done
    ;;
  run)
    setup
    run "${2:?target}" "${3:-60}"
    ;;
  *)
    echo "usage: $0 build | smoke [secs] | long [secs] | run TARGET [secs]" >&2
    exit 2
    ;;
esac
