#!/usr/bin/env bash
# Installs the interop peer (the `oidc-provider` npm package, pinned in
# interop/oidc-provider/package-lock.json), idempotently: `npm ci` only when node_modules is
# missing or older than the lock file, so a second run takes milliseconds.
#
# Usage:
#   scripts/interop-setup.sh            # install if needed
#   scripts/interop-setup.sh --smoke    # install if needed, then run interop/oidc-provider/smoke.mjs
#                                       # (start the provider, code+PKCE, refresh, revoke)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=interop/oidc-provider
STAMP="$DIR/node_modules/.latchkey-installed"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "interop-setup: node and npm are needed for the oidc-provider interop peer." >&2
  echo "interop-setup: install them (Debian: apt-get install nodejs npm), then run this again." >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "interop-setup: node $(node --version) is too old; oidc-provider needs node >= 20.18." >&2
  exit 1
fi

# The stamp is newer than package-lock.json exactly when the last `npm ci` installed this lock.
if [ ! -f "$STAMP" ] || [ "$DIR/package-lock.json" -nt "$STAMP" ] || [ ! -d "$DIR/node_modules/oidc-provider" ]; then
  echo "interop-setup: npm ci in $DIR" >&2
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$STAMP"
fi

if [ "${1:-}" = "--smoke" ]; then
  node "$DIR/smoke.mjs"
fi
