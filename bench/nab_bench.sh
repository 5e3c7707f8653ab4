#!/usr/bin/env bash
# NAB benchmark (issue 31): `gras replay` (the production detector, one configuration for
# every file, no labels) over the 38 NAB series in ../shared/data/nab, then NAB's own scorer
# (../shared/tools/nab-score: thresholds chosen by NAB's optimiser per profile).
#   bash bench/nab_bench.sh [RUNS]     (GRAS_BENCH_NO_BUILD=1 skips the release build)
# Prints the replay time of each run and the three NAB scores (one JSON line).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=$(realpath "${GRAS_SHARED:-$here/../shared}")
data=$shared/data/nab/data
runs=${1:-3}
cd "$here"
[[ ${GRAS_BENCH_NO_BUILD:-} == 1 ]] || cargo build -q --release -p gras-cli
gras=$here/target/release/gras
out=$(mktemp -d)
[[ -n ${GRAS_NAB_KEEP:-} ]] && out=$GRAS_NAB_KEEP && mkdir -p "$out" || trap 'rm -rf "$out"' EXIT
files=$(cd "$data" && find . -name '*.csv' | sort)
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  for f in $files; do
    cat=$(dirname "${f#./}"); name=$(basename "$f")
    mkdir -p "$out/gras/$cat"
    "$gras" replay --csv "$data/$f" --out "$out/gras/$cat/gras_$name" 2>/dev/null
  done
  end=$(date +%s.%N)
  echo "run $run: replay of $(echo "$files" | wc -l) files in $(echo "$end - $start" | bc) s"
done
"$shared/tools/nab-score" "$data" "$out" gras
