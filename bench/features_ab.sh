#!/usr/bin/env bash
# A/B timing of two (or more) `gras` binaries on the batch features job, for deciding whether
# a change is faster: the runs are interleaved (A B A B ...) so that the machine's drift hits
# every binary alike, and each run starts from a fresh copy of the same generated lake.
#
#   bash bench/features_ab.sh RUNS BIN_A BIN_B [BIN...]
#
# DAYS and SERIES (environment, defaults 30 and 200) size the lake, generated (seed 7) by the
# first binary. Prints per binary the median and minimum wall seconds and the largest peak
# RSS (GNU time). Build the baseline first and copy it aside, e.g.
#   git stash && cargo build --release -p gras-cli && cp target/release/gras /tmp/gras-base
#   git stash pop && cargo build --release -p gras-cli
#   bash bench/features_ab.sh 9 /tmp/gras-base target/release/gras
set -euo pipefail

usage() { echo "usage: bash bench/features_ab.sh RUNS BIN_A BIN_B [BIN...]" >&2; exit 2; }
(( $# >= 3 )) || usage
RUNS=$1; shift
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage
for b in "$@"; do [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 2; }; done
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "$TIME (GNU time) is required" >&2; exit 2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=$PWD/config/gras.toml
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gras-ab.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$1" generate --lake "$TMP/pristine" --days "${DAYS:-30}" --series "${SERIES:-200}" --seed 7 \
    --config "$CONFIG" >/dev/null
for ((i = 1; i <= RUNS; i++)); do
    for j in $(seq 1 $#); do
        bin=${!j}
        rm -rf "$TMP/lake" && cp -a "$TMP/pristine" "$TMP/lake"
        "$TIME" -f '%e %M' -o "$TMP/t" "$bin" features --lake "$TMP/lake" --config "$CONFIG" >/dev/null
        tail -n 1 "$TMP/t" >>"$TMP/times.$j"
    done
done
for j in $(seq 1 $#); do
    sort -n "$TMP/times.$j" | awk -v bin="${!j}" '
        { s[NR] = $1; if ($2 > rss) rss = $2 }
        END { printf "%s: median %.3f s, min %.3f s, peak RSS %.1f MiB (%d runs)\n",
                     bin, s[int((NR + 1) / 2)], s[1], rss / 1024, NR }'
done
