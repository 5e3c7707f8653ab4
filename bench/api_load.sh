#!/usr/bin/env bash
# Requests per second of `gras serve` under load from a second process (wrk) on loopback.
# Builds the release CLI, writes a demo lake (30 days x 20 series), serves it, and runs wrk
# RUNS times for 10 s against GET /v1/forecasts (one day of one series: 24 points) and GET /health (the baseline: HTTP and
# routing only), alternating, in the same go.
#
# Usage: bash bench/api_load.sh [RUNS=3] [CONNECTIONS=32]
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
conns=${2:-32}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "wrk is missing: apt-get install wrk" >&2; exit 1
  fi
fi
cargo build --release -p gras-cli
gras=target/release/gras
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$gras" demo --lake "$work/lake" --days 30 --series 20 >/dev/null 2>&1
"$gras" serve --lake "$work/lake" --addr 127.0.0.1:0 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$work/serve.log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/serve.log" | head -1)
last=$(curl -s "$url/v1/forecasts/G?series=store-0001&limit=1000" |
  python3 -c 'import json,sys; p=json.load(sys.stdin)["points"]; print(p[0]["timestamp"], len(p))')
first_ts=${last% *}
day=${first_ts%T*}
fc="$url/v1/forecasts/G?series=store-0001&from=${day}T00:00:00Z&to=${day}T23:00:00Z"
n=$(curl -s "$fc" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')
echo "forecast request: $fc ($n points); $(nproc) cores; wrk -t1 -c$conns -d10s"
for r in $(seq 1 "$runs"); do
  for u in "$url/health" "$fc"; do
    out=$(wrk -t1 -c"$conns" -d10s --latency "$u")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    printf 'run %s %-60s %10s req/s  p50 %8s  p99 %8s\n' "$r" "${u#$url}" "$rps" "$p50" "$p99"
  done
done
