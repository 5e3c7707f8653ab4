#!/usr/bin/env bash
# Inference benchmark: `gras infer` for 4 metrics x 200 store series (+ the total) x 168
# steps on the embedded backend (SQLite for the tables, a folder for the lake).
#
#   bash bench/infer_bench.sh [RUNS]      (default 3)
#
# Generates 60 days of bronze (seed 7), builds silver, trains and approves (default config),
# approves what the policy left pending (so all 4 metrics are forecast), then times RUNS
# inference runs (each one re-fits every series with its approved spec,
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
/usr/bin/time -f 'train: %e s, peak %M KiB' "$GRAS" train --lake "$L" > "$TMP/train.txt"
cut -c1-110 "$TMP/train.txt"
# Versions the policy left pending (coverage at the edge of its tolerance) are approved by
# hand, so that inference always forecasts the 4 metrics.
sed -n 's/^metric=\([^ ]*\) version=\([^ ]*\) .*status=PendingApproval.*/\1 \2/p' "$TMP/train.txt" |
  while read -r m v; do "$GRAS" approve --lake "$L" --metric "$m" --version "$v" >/dev/null; done
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "infer run $i: %e s, peak %M KiB" "$GRAS" infer --lake "$L" | cut -c1-130
done
