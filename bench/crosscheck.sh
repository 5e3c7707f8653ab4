#!/usr/bin/env bash
# Cross-checks the Rust feature engine against the independent pandas implementation of
# the contract (bench/pandas_features.py) on a generated lake: both must produce the same
# silver, cell by cell (floats within 1e-9 relative). Run by scripts/test.sh.
#
# The incremental path is checked too: the same bronze, ingested by `gras ingest` in a
# shuffled order (a few keys per call, some keys twice), must give the same silver.
#
# Usage: bash bench/crosscheck.sh [DAYS] [SERIES]     (defaults 45 5: the 30-day totals
# need 15 days of values before they are defined)
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-45}
series=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c 'import pandas, pyarrow' 2>/dev/null || python3 -m pip install --quiet -r bench/requirements.txt
gras=${GRAS:-}
if [ -z "$gras" ]; then
  cargo build --quiet -p gras-cli
  gras=target/debug/gras
fi
$gras generate --lake "$work/lake" --days "$days" --series "$series" --seed 11 >/dev/null
# A bad file must fail alone in both implementations.
printf 'not parquet' > "$work/lake/bronze/gras/metric=G/year=2024/month=01/day=02/zz-broken.parquet"
$gras features --lake "$work/lake" --config config/gras.toml || test $? -eq 1
python3 bench/pandas_features.py --lake "$work/lake" --config config/gras.toml --out "$work/pandas" >/dev/null
python3 bench/compare_silver.py "$work/lake" "$work/pandas"

# Incremental: the same bronze in a shuffled order, 8 keys per call, every 5th key twice.
mkdir -p "$work/inc"
cp -r "$work/lake/bronze" "$work/inc/bronze"
(cd "$work/inc" && find bronze -name '*.parquet' | sort) |
  python3 -c 'import random, sys
keys = sys.stdin.read().split()
random.Random(7).shuffle(keys)
keys += keys[::5]
for i in range(0, len(keys), 8):
    print(" ".join(keys[i:i + 8]))' > "$work/batches"
echo "incremental: $(wc -w < "$work/batches") keys in $(wc -l < "$work/batches") calls"
while read -r -a keys; do
  $gras ingest --lake "$work/inc" --config config/gras.toml "${keys[@]}" >/dev/null || test $? -eq 1
done < "$work/batches"
python3 bench/compare_silver.py "$work/inc" "$work/pandas"
