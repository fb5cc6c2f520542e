#!/usr/bin/env bash
# The one test command (README): installs what it needs, then runs every check.
# Usage: scripts/test.sh            # everything
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-always}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh
MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

step "format"
cargo +stable fmt --all --check

step "clippy (all targets, -D warnings)"
cargo +stable clippy --workspace --all-targets --locked -- -D warnings
cargo +stable clippy -p latchkey-core --all-targets --all-features --locked -- -D warnings
# The smallest configuration (plain RFC 6749) and each dialect alone must stand on their own.
for f in "" crm kommo device; do
  cargo +stable clippy -p latchkey-core --all-targets --no-default-features --features "$f" \
    --locked -- -D warnings
done

step "interop peer (oidc-provider, npm ci when needed)"
scripts/interop-setup.sh

step "tests"
cargo +stable test --workspace --locked
cargo +stable test -p latchkey-core --all-features --locked
# Plain RFC 6749 (what firmware links): unit tests and tests/session_rfc6749_only.rs.
cargo +stable test -p latchkey-core --no-default-features --lib --tests --locked

step "bare-metal builds (no_std, no alloc)"
# Every feature that makes sense without an OS: all but `getrandom`.
BARE_FEATURES=pkce-plain,password-grant,zeroize
for t in thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
  cargo +stable build -p latchkey-core --release --locked --target "$t" --no-default-features
  cargo +stable build -p latchkey-core --release --locked --target "$t"
  cargo +stable build -p latchkey-core --release --locked --target "$t" --features "$BARE_FEATURES"
done

step "benches build (criterion, allocation count)"
cargo +stable bench --workspace --no-run --locked

step "allocations: 0 in every core operation"
cargo +stable bench -p latchkey-benches --bench allocs --locked

step "size report (firmware .text, gzipped wasm)"
scripts/size.sh

step "fuzz smoke (every target, ${FUZZ_SECS:-20} s each)"
scripts/fuzz.sh smoke "${FUZZ_SECS:-20}"

step "docs (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo +stable doc --workspace --no-deps --locked
RUSTDOCFLAGS="-D warnings" cargo +stable doc -p latchkey-core --no-deps --all-features --locked

step "MSRV $MSRV"
cargo +"$MSRV" test -p latchkey-core --all-features --locked

step "all checks passed"
