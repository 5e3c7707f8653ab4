#!/usr/bin/env bash
# Panning and zooming a year of hourly data on the dashboard's series page, for 3 series, in
# Debian's chromium (issue 34's goal "a year of hourly data for 3 series stays smooth to pan
# and zoom"). Builds the release `gras`, makes a `gras demo --days 366 --series 3` lake,
# and runs web/bench/pan_zoom.mjs (several runs; each interaction timed in the page from its
# event to the frame that shows it). Prints JSON lines; BENCHMARKS.md records the figures.
#
# Usage: bash bench/dashboard_bench.sh [runs]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
[ -n "${GRAS_BENCH_NO_BUILD:-}" ] || cargo build --release -q -p gras-cli
bash scripts/dashboard_check.sh --install >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
target/release/gras demo --lake "$work/lake" --days 366 --series 3 >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
echo "demo lake (366 days, 3 series per metric) in $((SECONDS - start)) s" >&2
node web/bench/pan_zoom.mjs --bin target/release/gras --lake "$work/lake" --metric G \
  --series store-0001,store-0002,store-0003 --runs "$runs"
