#!/usr/bin/env bash
# Size report (design.md, Budgets): latchkey-core's flow (benches/size-probe/flow.rs: PKCE +
# authorization URL + callback + token request/response + session, snapshot, refresh,
# logout) built with the min-size profile (opt "z", LTO, codegen-units 1, panic abort) and
# sha2's compact software backend, as
#   - a thumbv7em-none-eabihf firmware binary with the core's default features off (plain
#     RFC 6749): its `.text` must be ≤ 16 KiB (the design budget);
#   - the same binary with every dialect and flow (`full`: CRM, Kommo, device grant):
#     reported, and held under a regression ceiling;
#   - a wasm32-unknown-unknown cdylib with every dialect (plain extern "C" export):
#     gzip -9 ≤ 64 KiB.
# Prints every figure whatever happens, then fails if a design budget is exceeded or the
# every-dialect build (which has no budget) grows above its regression ceiling.
# Usage: scripts/size.sh   (the test command runs it)
# scripts/size-explain.py shows where the bytes come from.
set -euo pipefail
cd "$(dirname "$0")/.."

TEXT_BUDGET=$((16 * 1024))
WASM_GZ_BUDGET=$((64 * 1024))
# Regression ceiling for the build without a budget: today's figure plus a little room.
# Lower it as the core shrinks; never raise it without a reason in the commit message.
FULL_TEXT_CEILING=$((24 * 1024))
PROBE=benches/size-probe
TARGET_DIR=target/size-probe

for t in thumbv7em-none-eabihf wasm32-unknown-unknown; do
  rustup target list --installed --toolchain stable 2>/dev/null | grep -qx "$t" ||
    rustup target add --toolchain stable "$t"
done

# The probe is its own workspace, so it repeats the root's [profile.min-size]: keep them equal.
profile_of() { sed -n '/^\[profile\.min-size\]/,/^\[/{/^[a-z-]* *=/p}' "$1"; }
if [ "$(profile_of Cargo.toml)" != "$(profile_of "$PROBE/Cargo.toml")" ]; then
  echo "size: [profile.min-size] in $PROBE/Cargo.toml differs from the root Cargo.toml" >&2
  exit 1
fi

# sha2 0.11: the portable backend, in its compact (smaller, slower) variant.
export RUSTFLAGS='--cfg sha2_backend="soft" --cfg sha2_backend_soft="compact"'
build() { # target package target-dir [cargo args…]
  local target=$1 package=$2 dir=$3
  shift 3
  cargo +stable build --quiet --locked --manifest-path "$PROBE/Cargo.toml" \
    --target-dir "$dir" --profile min-size --target "$target" -p "$package" "$@"
}
build thumbv7em-none-eabihf latchkey-size-firmware "$TARGET_DIR/minimal"
build thumbv7em-none-eabihf latchkey-size-firmware "$TARGET_DIR/full" --features full
build wasm32-unknown-unknown latchkey-size-wasm "$TARGET_DIR/full"

ELF="$TARGET_DIR/minimal/thumbv7em-none-eabihf/min-size/latchkey-size-firmware"
FULL_ELF="$TARGET_DIR/full/thumbv7em-none-eabihf/min-size/latchkey-size-firmware"
WASM="$TARGET_DIR/full/wasm32-unknown-unknown/min-size/latchkey_size_wasm.wasm"

# A section's size from the ELF section headers (no binutils needed): section_of ELF NAME.
section_of() {
  python3 - "$1" "$2" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
if d[:4] != b"\x7fELF":
    sys.exit("not an ELF file")
is64, E = d[4] == 2, "<" if d[5] == 1 else ">"
if is64:
    (shoff,) = struct.unpack_from(E + "Q", d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(E + "HHH", d, 0x3A)
    fmt = E + "IIQQQQ"
else:
    (shoff,) = struct.unpack_from(E + "I", d, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from(E + "HHH", d, 0x2E)
    fmt = E + "IIIIII"
secs = [struct.unpack_from(fmt, d, shoff + i * shentsize) for i in range(shnum)]
names = secs[shstrndx][4]
for name, _typ, _flags, _addr, _off, size in secs:
    if d[names + name : d.index(b"\0", names + name)] == sys.argv[2].encode():
        print(size)
        break
else:
    print(0)
EOF
}
text=$(section_of "$ELF" .text)
full_text=$(section_of "$FULL_ELF" .text)
rodata=$(section_of "$ELF" .rodata)
full_rodata=$(section_of "$FULL_ELF" .rodata)
[ "$text" -gt 0 ] && [ "$full_text" -gt 0 ] || { echo "size: no .text section in the probe" >&2; exit 1; }
wasm_raw=$(wc -c <"$WASM")
wasm_gz=$(gzip -9 -c "$WASM" | wc -c)

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
status=0
printf 'size: thumbv7em .text, RFC 6749 only   %6d bytes (%s), budget %d (%s), %d to spare' \
  "$text" "$(kib "$text")" "$TEXT_BUDGET" "$(kib "$TEXT_BUDGET")" "$((TEXT_BUDGET - text))"
if [ "$text" -le "$TEXT_BUDGET" ]; then echo "  ok"; else echo "  OVER BUDGET"; status=1; fi
printf 'size: thumbv7em .text, every dialect   %6d bytes (%s), no budget; ceiling %d (%s)' \
  "$full_text" "$(kib "$full_text")" "$FULL_TEXT_CEILING" "$(kib "$FULL_TEXT_CEILING")"
if [ "$full_text" -le "$FULL_TEXT_CEILING" ]; then echo "  ok"; else echo "  ABOVE CEILING"; status=1; fi
printf 'size: wasm32 gzip -9, every dialect    %6d bytes (%s), budget %d (%s); raw %d bytes' \
  "$wasm_gz" "$(kib "$wasm_gz")" "$WASM_GZ_BUDGET" "$(kib "$WASM_GZ_BUDGET")" "$wasm_raw"
if [ "$wasm_gz" -le "$WASM_GZ_BUDGET" ]; then echo "  ok"; else echo "  OVER BUDGET"; status=1; fi
# The budget counts `.text`; tables and strings live in `.rodata`, which flash holds too.
printf 'size: thumbv7em .rodata (not budgeted)  %6d bytes RFC 6749 only, %d every dialect; flash .text+.rodata %d / %d\n' \
  "$rodata" "$full_rodata" "$((text + rodata))" "$((full_text + full_rodata))"

if [ "$status" -ne 0 ]; then
  echo "size: over budget (design.md, Budgets) — scripts/size-explain.py shows where the bytes are"
fi
exit "$status"
