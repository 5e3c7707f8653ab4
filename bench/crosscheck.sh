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
# A hostile file (contract v2, section 3): rows dated 1970 and 2200 (seconds read as
# milliseconds and the like) and a value of 1e308 beside one good row. Both implementations
# must reject the three by reason and write no partition outside the range, no infinite cell.
python3 - "$work/lake/bronze/gras/metric=G/year=2024/month=01/day=03/zz-hostile.parquet" <<'PY'
import datetime as dt, sys
import pyarrow as pa, pyarrow.parquet as pq
utc = dt.timezone.utc
ts = [dt.datetime(1970, 1, 1, tzinfo=utc), dt.datetime(2200, 1, 1, tzinfo=utc),
      dt.datetime(2024, 1, 3, 5, tzinfo=utc), dt.datetime(2024, 1, 3, 6, 30, tzinfo=utc)]
pq.write_table(pa.table({"ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
                         "value": [1.0, 2.0, 1e308, 4.0], "series_key": ["hostile"] * 4}), sys.argv[1])
PY
$gras features --lake "$work/lake" --config config/gras.toml || test $? -eq 1
python3 bench/pandas_features.py --lake "$work/lake" --config config/gras.toml --out "$work/pandas" >/dev/null
python3 bench/compare_silver.py "$work/lake" "$work/pandas"
python3 - "$work/lake" "$work/pandas" "$days" <<'PY'
import datetime as dt, math, pathlib, sys
import pyarrow.parquet as pq
first = dt.date(2024, 1, 1)
last = first + dt.timedelta(days=int(sys.argv[3]) - 1)
for lake in sys.argv[1:3]:
    parts = sorted(pathlib.Path(lake, "silver").rglob("*.parquet"))
    dates = {dt.date.fromisoformat(p.parent.name.removeprefix("date=")) for p in parts}
    assert dates and min(dates) >= first and max(dates) <= last, (lake, min(dates), max(dates))
    for p in parts:
        t = pq.read_table(p)
        for c in t.column_names:
            if t.schema.field(c).type == "double":
                assert not any(v is not None and math.isinf(v) for v in t.column(c).to_pylist()), (p, c)
    print(f"{lake}: {len(parts)} partitions, {min(dates)}..{max(dates)}, no infinite cell")
PY

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
