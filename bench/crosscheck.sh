#!/usr/bin/env bash
# Cross-checks the Rust feature engine against the independent pandas implementation of
# the contract (bench/pandas_features.py) on a generated lake: both must produce the same
# silver, cell by cell (floats within 1e-9 relative). Run by scripts/test.sh.
#
# Usage: bash bench/crosscheck.sh [DAYS] [SERIES]     (defaults 10 5)
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-10}
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
