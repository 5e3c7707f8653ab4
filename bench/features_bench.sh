#!/usr/bin/env bash
# Batch features benchmark: `gras features` (Rust) against the pandas implementation of the
# same contract (bench/pandas_features.py), on the same generated bronze lake.
#
#   bash bench/features_bench.sh [DAYS] [SERIES] [RUNS]      (defaults: 30 200 3)
#
# Builds the CLI, generates DAYS days x SERIES series of bronze data (seed 7), then runs the
# two tools RUNS times each, alternating, every run on a fresh copy of the lake (gras) or
# into an empty output folder (pandas). Wall seconds and peak RSS come from
# `/usr/bin/time -f '%e %M'`. Input rows are the rows read as counted by pandas. Finally the
# two silver trees are compared cell by cell (bench/compare_silver.py) and a Markdown table is
# printed. Exit status: 0 when the silver layers agree, 1 when they differ, 2 on errors.
# KEEP=1 keeps the working folder (printed at the end) for inspection. GRAS=path and
# SKIP_BUILD=1 run another binary without building (to test this script itself).
# FLOOR=1 also runs, after each gras run, the I/O floor (shared/examples/io_floor.rs: the
# same bronze decoding and silver encoding with nothing between them) and its counterpart in
# pyarrow (bench/pyarrow_floor.py, the library under the pandas job), and reports how much of
# gras's time each is and the throughput ratio a job of that time alone would reach.
set -euo pipefail

DAYS=${1:-30}
SERIES=${2:-200}
RUNS=${3:-3}
for n in "$DAYS" "$SERIES" "$RUNS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "usage: bash bench/features_bench.sh [DAYS] [SERIES] [RUNS]" >&2; exit 2; }
done
(( RUNS >= 1 )) || { echo "RUNS must be at least 1" >&2; exit 2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=config/gras.toml
GRAS=${GRAS:-target/release/gras}
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gras-bench.XXXXXX")
cleanup() { if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

step() { echo "== $*" >&2; }

# --- dependencies ----------------------------------------------------------------------
if ! python3 -c 'import pandas, pyarrow, numpy' 2>/dev/null; then
    step "installing bench/requirements.txt"
    python3 -m pip install --quiet -r bench/requirements.txt
fi

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    step "cargo build --release -p gras-cli"
    cargo build --release --quiet -p gras-cli
    if [[ "${FLOOR:-0}" == 1 ]]; then
        step "cargo build --release -p gras-shared --example io_floor"
        cargo build --release --quiet -p gras-shared --example io_floor
    fi
fi
FLOOR_BIN=$(dirname "$GRAS")/examples/io_floor
if [[ "${FLOOR:-0}" == 1 && ! -x $FLOOR_BIN ]]; then
    echo "$FLOOR_BIN was not built" >&2
    exit 2
fi
[[ -x $GRAS ]] || { echo "$GRAS was not built" >&2; exit 2; }

# --- data ------------------------------------------------------------------------------
step "generating $DAYS days x $SERIES series (seed 7)"
"$GRAS" generate --lake "$TMP/lake" --days "$DAYS" --series "$SERIES" --seed 7 --config "$CONFIG" >&2
# A pristine copy: every gras run starts from exactly the generated lake (no silver yet,
# the state database as the generator left it).
cp -a "$TMP/lake" "$TMP/pristine"

# --- runs ------------------------------------------------------------------------------
# Appends "<tool> <seconds> <peak KiB>" to $TMP/times.
timed() {
    local tool=$1 out=$2; shift 2
    if ! "$TIME" -f '%e %M' -o "$TMP/time.txt" "$@" >"$out" 2>"$TMP/$tool.err"; then
        echo "$tool failed: $*" >&2
        tail -n 20 "$TMP/$tool.err" >&2
        exit 2
    fi
    echo "$tool $(tail -n 1 "$TMP/time.txt")" >>"$TMP/times"
}

# The floors print "median: read R s, write_zstd Z s, ...": the seconds after NAME there.
median_field() { # FILE NAME
    awk -v name="$2" '/^median:/ { gsub(/,|;/, ""); for (i = 2; i < NF; i++) if ($i == name) print $(i + 1) }' "$1"
}
floor_line() { # TOOL FILE READ WRITE: "TOOL <read + write seconds> 0" into the times
    local r w
    r=$(median_field "$2" "$3"); w=$(median_field "$2" "$4")
    [[ -n $r && -n $w ]] || { echo "no '$3'/'$4' on the median line of $2" >&2; cat "$2" >&2; exit 2; }
    awk -v t="$1" -v r="$r" -v w="$w" 'BEGIN { printf "%s %.3f 0\n", t, r + w }' >>"$TMP/times"
}
: >"$TMP/times"
for ((i = 1; i <= RUNS; i++)); do
    step "run $i/$RUNS: gras"
    rm -rf "$TMP/lake" && cp -a "$TMP/pristine" "$TMP/lake"
    timed gras "$TMP/gras.out" "$GRAS" features --lake "$TMP/lake" --config "$CONFIG"
    if [[ "${FLOOR:-0}" == 1 ]]; then
        step "run $i/$RUNS: I/O floor"
        "$FLOOR_BIN" "$TMP/lake" 1 >"$TMP/floor.out"
        floor_line floor_zstd "$TMP/floor.out" read write_zstd
        floor_line floor_snappy "$TMP/floor.out" read write_snappy
        step "run $i/$RUNS: I/O floor in pyarrow"
        python3 bench/pyarrow_floor.py "$TMP/lake" 1 >"$TMP/pyfloor.out"
        floor_line pyarrow_floor_zstd "$TMP/pyfloor.out" read write_zstd
        floor_line pyarrow_floor_zstd_gras "$TMP/pyfloor.out" read write_zstd_gras
    fi
    step "run $i/$RUNS: pandas"
    rm -rf "$TMP/pandas_out"
    timed pandas "$TMP/pandas.out" python3 bench/pandas_features.py --lake "$TMP/lake" --config "$CONFIG" --out "$TMP/pandas_out"
done

# --- comparison ------------------------------------------------------------------------
step "comparing silver: gras ($TMP/lake) vs pandas ($TMP/pandas_out)"
set +e
python3 bench/compare_silver.py "$TMP/lake" "$TMP/pandas_out" >"$TMP/compare.txt" 2>&1
COMPARE=$?
set -e
cat "$TMP/compare.txt" >&2

# --- report ----------------------------------------------------------------------------
python3 - "$TMP" "$COMPARE" "$DAYS" "$SERIES" "$RUNS" <<'PY'
import json, re, statistics, subprocess, sys
from pathlib import Path

tmp, compare, days, series, runs = Path(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
times = {}
for line in (tmp / "times").read_text().split("\n"):
    if line.strip():
        tool, secs, kib = line.split()
        times.setdefault(tool, []).append((float(secs), int(kib)))
summary = json.loads((tmp / "pandas.out").read_text().strip().splitlines()[-1])
rows = summary["rows_read"]
gras_out = (tmp / "gras.out").read_text()
m = re.search(r'"?rows_read"?[=:]\s*(\d+)', gras_out)
if m and int(m.group(1)) != rows:
    print(f"warning: gras read {m.group(1)} rows, pandas {rows}", file=sys.stderr)

stats = {}
for tool in ("gras", "pandas"):
    secs = statistics.median(s for s, _ in times[tool])
    rss = max(k for _, k in times[tool]) / 1024
    stats[tool] = (secs, rows / secs if secs > 0 else float("inf"), rss)

def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "?"

print()
print(f"### Batch features: {days} days x {series} series, {rows:,} bronze rows, {summary['files']} files, "
      f"{summary['partitions']} silver partitions")
print()
print("| tool | runs | median seconds | rows/s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
for tool, label in (("gras", "gras features (Rust)"), ("pandas", "pandas_features.py")):
    secs, rps, rss = stats[tool]
    print(f"| {label} | {len(times[tool])} | {secs:.2f} | {rps:,.0f} | {rss:,.1f} |")
g, p = stats["gras"], stats["pandas"]
print()
print(f"- throughput gras/pandas: **{g[1] / p[1]:.1f}x**")
print(f"- peak RSS gras/pandas: **{g[2] / p[2]:.2f}x**")
print(f"- silver identical (rel 1e-9): **{'yes' if compare == 0 else 'NO'}**")
for tool, what in (("floor_zstd", "I/O floor, gras's reader and writer, zstd silver"),
                   ("floor_snappy", "I/O floor, gras's reader and writer, snappy silver"),
                   ("pyarrow_floor_zstd", "I/O floor in pyarrow, zstd silver as pandas_features.py writes it"),
                   ("pyarrow_floor_zstd_gras", "I/O floor in pyarrow, zstd silver with gras's dictionary choices")):
    if tool in times:
        f = statistics.median(s for s, _ in times[tool])
        print(f"- {what} (bronze read + silver write, nothing between): "
              f"median {f:.3f} s, {f / g[0]:.0%} of gras's time; a job of that time alone would be "
              f"**{p[0] / f:.1f}x** pandas")
print(f"- all runs (seconds, peak KiB): " + "; ".join(
    f"{t}: " + ", ".join(f"{s:.2f}/{k}" for s, k in v) for t, v in times.items()))
print(f"- machine: {version(['nproc'])} CPUs, {version(['uname', '-m'])}; "
      f"{version(['rustc', '--version'])}; Python {sys.version.split()[0]}, "
      f"pandas {version(['python3', '-c', 'import pandas; print(pandas.__version__)'])}, "
      f"pyarrow {version(['python3', '-c', 'import pyarrow; print(pyarrow.__version__)'])}")
print()
print("Command:")
print()
print("```sh")
print(f"{'FLOOR=1 ' if 'floor_zstd' in times else ''}bash bench/features_bench.sh {days} {series} {runs}")
print("# per run:")
print("target/release/gras features --lake $TMP/lake --config config/gras.toml")
print("python3 bench/pandas_features.py --lake $TMP/lake --config config/gras.toml --out $TMP/pandas_out")
print("```")
PY

exit $(( COMPARE == 0 ? 0 : 1 ))
