#!/usr/bin/env bash
# Inference benchmark: `gras infer` for 4 metrics x 200 store series (+ the total) x 168
# steps on the embedded backend (SQLite for the tables, a folder for the lake).
#
#   bash bench/infer_bench.sh [RUNS]      (default 3)
#
# Generates 60 days of bronze (seed 7), builds silver, trains and approves (default config),
# then times RUNS inference runs (each one re-fits every series with its approved spec,
# forecasts 168 h, writes the prediction items and the Parquet copies; later runs overwrite).
set -euo pipefail
RUNS=${1:-3}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GRAS=${GRAS:-target/release/gras}
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release --quiet -p gras-cli
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
L=$TMP/lake
"$GRAS" generate --lake "$L" --days 60 --series 200 --seed 7 >/dev/null
"$GRAS" features --lake "$L" >/dev/null
/usr/bin/time -f 'train: %e s, peak %M KiB' "$GRAS" train --lake "$L" | cut -c1-110
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "infer run $i: %e s, peak %M KiB" "$GRAS" infer --lake "$L" | cut -c1-130
done
