#!/usr/bin/env bash
# Runs the benchmarks (criterion, bench profile: release + thin LTO) and the allocation
# count, then prints a markdown table of medians and ratios against design.md's goals and
# writes it into README.md between <!-- bench:start --> and <!-- bench:end --> (the section
# is appended when the markers are absent; the rest of README.md is left alone).
# Usage: scripts/bench.sh           (BENCH_NO_README=1 only prints)
set -euo pipefail
cd "$(dirname "$0")/.."

CRITERION_ARGS=(--warm-up-time 1 --measurement-time 3 --noplot)
cargo +stable bench --locked -p latchkey-benches --bench compare -- "${CRITERION_ARGS[@]}" >&2
allocs=$(cargo +stable bench --locked -p latchkey-benches --bench allocs 2>/dev/null) || {
  echo "$allocs"
  echo "bench: a latchkey-core operation allocated" >&2
  exit 1
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(rustc +stable --version | cut -d' ' -f1-2)"

table=$(CRITERION_DIR=target/criterion MACHINE="$machine" ALLOCS="$allocs" python3 - <<'EOF'
import json, os

base = os.environ["CRITERION_DIR"]

def median(group, fn):
    path = os.path.join(base, group, fn, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

def ns(v):
    return f"{v:,.0f} ns" if v >= 100 else f"{v:.1f} ns"

rows = [
    # (operation, group, latchkey, peer, peer name, goal text, check(latchkey/peer) -> bool)
    ("PKCE S256 from a 43-char verifier", "pkce_s256", "latchkey", "floor",
     "bare sha2+base64 (floor)", "≤ 1.1× floor", lambda r: r <= 1.1),
    ("PKCE S256 vs oauth2-rs", "pkce_s256", "latchkey", "oauth2",
     "oauth2 `from_code_verifier_sha256`", "—", None),
    ("verifier + challenge with OS entropy", "pkce_generate", "latchkey", "oauth2",
     "oauth2 `new_random_sha256`", "—", None),
    ("authorization URL", "authorize_url", "latchkey", "oauth2",
     "oauth2 `authorize_url`", "≥ 4× faster", lambda r: r <= 0.25),
    ("callback parse + state check", "callback", "latchkey", "url_form_urlencoded",
     "`url::form_urlencoded`", "≥ 3× faster", lambda r: r <= 1 / 3),
    ("token response parse (escapes decoded)", "token_response", "latchkey",
     "oauth2_serde_json", "oauth2 `BasicTokenResponse` + serde_json", "≥ 2× faster",
     lambda r: r <= 0.5),
]
out = [
    f"Measured by `scripts/bench.sh` on {os.environ['MACHINE']} "
    "(criterion medians, `--warm-up-time 1 --measurement-time 3`, bench profile: release + thin LTO).",
    "",
    "| operation | latchkey | peer | peer median | latchkey / peer | speed-up | goal | met |",
    "|---|---:|---|---:|---:|---:|---|---|",
]
for name, group, lk, peer, peer_name, goal, check in rows:
    a, b = median(group, lk), median(group, peer)
    r = a / b
    met = "—" if check is None else ("yes" if check(r) else "**no**")
    out.append(f"| {name} | {ns(a)} | {peer_name} | {ns(b)} | {r:.2f} | {b / a:.1f}× | {goal} | {met} |")
flow = median("code_flow", "latchkey_session_testkit")
out.append(f"| full code flow: session + testkit server (no I/O) | {ns(flow)} | — | — | — | — | — | — |")
out += ["", "Heap allocations per operation (counting global allocator, `benches/benches/allocs.rs`; "
        "goal: 0 for every core operation):", "", os.environ["ALLOCS"].strip()]
print("\n".join(out))
EOF
)

echo "$table"
[ "${BENCH_NO_README:-0}" = 1 ] && exit 0

README=README.md
section="<!-- bench:start -->
$table
<!-- bench:end -->"
if [ -f "$README" ] && grep -q '<!-- bench:start -->' "$README" && grep -q '<!-- bench:end -->' "$README"; then
  SECTION="$section" python3 - "$README" <<'EOF'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
new = re.sub(r"<!-- bench:start -->.*?<!-- bench:end -->", lambda _: os.environ["SECTION"],
             text, count=1, flags=re.S)
open(path, "w").write(new)
EOF
else
  {
    [ -s "$README" ] && echo
    echo "## Performance"
    echo
    echo "$section"
  } >>"$README"
fi
echo "bench: table written to $README" >&2
