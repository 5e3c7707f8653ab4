#!/usr/bin/env bash
# A/B timing of two (or more) `gras` binaries on the incremental features path: what the
# features Lambda does for one new day file (the newest day) and for one late day file (a
# day in the middle of the history arriving after the days around it).
#
#   bash bench/ingest_ab.sh RUNS BIN_A BIN_B [BIN...]
#
# DAYS and SERIES (environment, defaults 60 and 200) size the lake, generated (seed 7) by
# the first binary; CONFIG (default config/gras.toml) must be readable by every binary (give
# an older binary's own config). Every binary first builds its own silver from all days but
# the newest and the middle one (batch, not timed); each run then starts from a fresh copy of
# that lake and times `gras ingest` of the newest day's files, then of the middle day's. The
# runs are interleaved (A B A B ...). Prints per binary and case the median and minimum wall
# seconds, the largest peak RSS (GNU time) and the partitions written.
set -euo pipefail

usage() { echo "usage: bash bench/ingest_ab.sh RUNS BIN_A BIN_B [BIN...]" >&2; exit 2; }
(( $# >= 3 )) || usage
RUNS=$1; shift
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage
for b in "$@"; do [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 2; }; done
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=${CONFIG:-$PWD/config/gras.toml}
DAYS=${DAYS:-60}
SERIES=${SERIES:-200}
(( DAYS >= 3 )) || { echo "DAYS must be at least 3" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gras-ingest-ab.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$1" generate --config "$CONFIG" --lake "$TMP/gen" --days "$DAYS" --series "$SERIES" --seed 7 >/dev/null
day_dir() { date -u -d "2024-01-01 + $1 days" +'year=%Y/month=%m/day=%d'; }
newest=$(day_dir $((DAYS - 1)))
late=$(day_dir $((DAYS / 2)))
# The held-out files: keys relative to the lake.
mkdir -p "$TMP/held"
(cd "$TMP/gen" && find bronze -path "*/$newest/*" -name '*.parquet' | sort) > "$TMP/newest.keys"
(cd "$TMP/gen" && find bronze -path "*/$late/*" -name '*.parquet' | sort) > "$TMP/late.keys"
while read -r k; do mkdir -p "$TMP/held/$(dirname "$k")"; mv "$TMP/gen/$k" "$TMP/held/$k"; done < <(cat "$TMP/newest.keys" "$TMP/late.keys")
echo "lake: $DAYS days x $SERIES series; newest day $newest ($(wc -l < "$TMP/newest.keys") files), late day $late ($(wc -l < "$TMP/late.keys") files)" >&2

i=0
for b in "$@"; do
  i=$((i + 1))
  cp -r "$TMP/gen" "$TMP/prepared-$i"
  "$b" features --config "$CONFIG" --lake "$TMP/prepared-$i" >/dev/null
done

: > "$TMP/results"
for r in $(seq 1 "$RUNS"); do
  i=0
  for b in "$@"; do
    i=$((i + 1))
    lake="$TMP/run"
    rm -rf "$lake"
    cp -r "$TMP/prepared-$i" "$lake"
    cp -r "$TMP/held/bronze" "$lake/"
    for case in newest late; do
      mapfile -t keys < "$TMP/$case.keys"
      out=$("$TIME" -f '%e %M' "$b" --json ingest --config "$CONFIG" --lake "$lake" "${keys[@]}" 2> "$TMP/time" )
      parts=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("partitions_written", "?"))' 2>/dev/null || echo "?")
      echo "$i $case $(tail -1 "$TMP/time") $parts" >> "$TMP/results"
    done
  done
  echo "run $r/$RUNS done" >&2
done

python3 - "$TMP/results" "$@" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
bins = sys.argv[2:]
print("| binary | case | median s | min s | peak RSS MiB | partitions written |")
print("|---|---|---|---|---|---|")
for i, b in enumerate(bins, 1):
    for case in ("newest", "late"):
        mine = [r for r in rows if r[0] == str(i) and r[1] == case]
        secs = [float(r[2]) for r in mine]
        rss = max(int(r[3]) for r in mine) / 1024
        parts = sorted({r[4] for r in mine})
        print(f"| {b} | {case} | {statistics.median(secs):.3f} | {min(secs):.3f} | {rss:.0f} | {','.join(parts)} |")
PY
