#!/usr/bin/env bash
# The web dashboard in a real browser: Debian's chromium (apt) driven by playwright-core
# (npm, pinned in web/package-lock.json; Playwright's own browser download is not used),
# against `gras serve` with a token on a fresh demo lake (100 days, 3 series per metric, and
# a second training of G so that one version waits for approval). web/test/dashboard.mjs
# asserts that every page loads without console errors or CSP violations, that the charts
# draw, that filters, ranges and time zones change what is shown, and that approval is
# refused without the token and done with it.
#
# Usage: bash scripts/dashboard_check.sh [gras binary]   (default: $GRAS_BIN, else
#                                                          target/debug/gras, built if missing)
#        bash scripts/dashboard_check.sh --install       (only install chromium and the npm
#                                                          packages; test.sh runs it early, in
#                                                          the background)
# Env:   GRAS_DASHBOARD_SHOTS=DIR  keep the screenshots there (docs/img for the README)
#        GRAS_DASHBOARD_TIMING=FILE  append the pages' load timings (JSON lines)
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
  if ! [ -x /usr/bin/chromium ]; then
    local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "installing Debian's chromium (apt)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
      { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
  /usr/bin/chromium --version
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  # The copy of uPlot that the binary embeds is the locked one.
  node web/vendor.mjs --check
}

if [ "${1:-}" = --install ]; then
  install
  exit 0
fi

gras=${1:-${GRAS_BIN:-target/debug/gras}}
[ -x "$gras" ] || cargo build -p gras-cli
[ -x /usr/bin/chromium ] && [ -d web/node_modules/playwright-core ] || install
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
"$gras" demo --lake "$work/lake" --days 100 --series 3 >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
"$gras" train --lake "$work/lake" --metric G >"$work/train.log" 2>&1 || { cat "$work/train.log"; exit 1; }
grep -q 'status=PendingApproval' "$work/train.log" || { echo "dashboard check: the second training of G left no pending version:"; cat "$work/train.log"; exit 1; }
echo "demo lake in $((SECONDS - start)) s"
shots=${GRAS_DASHBOARD_SHOTS:-$work/shots}
timing=${GRAS_DASHBOARD_TIMING:-$work/timing.jsonl}
node web/test/dashboard.mjs --bin "$gras" --lake "$work/lake" --shots "$shots" --timing "$timing"
