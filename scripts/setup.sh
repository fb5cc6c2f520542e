#!/usr/bin/env bash
# Installs what the checks need, idempotently; fast when everything is already there.
# Needs only rustup + cargo on the machine (RUSTUP_AUTO_INSTALL=0 is respected: every
# toolchain and target is added explicitly here).
set -euo pipefail
cd "$(dirname "$0")/.."

MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
TARGETS=(thumbv7em-none-eabihf riscv32imc-unknown-none-elf)

have_target() { rustup target list --installed --toolchain "$1" 2>/dev/null | grep -qx "$2"; }
have_toolchain() { rustup toolchain list 2>/dev/null | grep -q "^$1"; }
have_component() { rustup component list --installed --toolchain "$1" 2>/dev/null | grep -q "^$2"; }

for c in rustfmt clippy; do
  have_component stable "$c" || rustup component add --toolchain stable "$c"
done
for t in "${TARGETS[@]}"; do
  have_target stable "$t" || rustup target add --toolchain stable "$t"
done
if ! have_toolchain "$MSRV"; then
  rustup toolchain install "$MSRV" --profile minimal --no-self-update
fi
echo "setup: stable with ${TARGETS[*]}, MSRV $MSRV toolchain present"
