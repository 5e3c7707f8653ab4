#!/usr/bin/env bash
# Fuzz run of the targets in fuzz/ (issue 9): the bronze reader, the S3/SQS event decoding
# and the API request handling. Installs cargo-fuzz if missing, builds the targets into
# target/fuzz/, builds the seed corpus at run time, runs each target for a bounded time and
# prints per target the executions, exec/s, corpus size and new coverage units. Exits
# non-zero when any target crashed (a panic, a failed oracle assertion, a timeout or an
# out-of-memory); the crashing input is kept under target/fuzz-artifacts/<target>/.
#
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 30 s, all targets)
# Env:   GRAS_FUZZ_PROFILE=release|dev      (default release: optimized, with debug assertions
#                                            and overflow checks; dev builds in about a third
#                                            of the time and runs about 20 times slower: the
#                                            CI smoke run, see BENCHMARKS.md)
#        GRAS_FUZZ_SANITIZER=address|none   (default address)
#        GRAS_FUZZ_CODEGEN_UNITS=N           (default: cargo-fuzz's, 1 in release)
#        GRAS_FUZZ_JOBS=N                    parallel fuzzing processes per target (default 1)
#        GRAS_FUZZ_STEPS=build               install cargo-fuzz and build the targets, no run
#        GRAS_FUZZ_SERIAL=1                  fuzz the targets one after the other (default: all
#                                            at once, each for SECONDS_PER_TARGET)
#
# Layout (all under target/, git-ignored):
#   target/fuzz/                        cargo target dir of the fuzz build
#   target/fuzz-corpus/seeds/<target>/  seeds, rebuilt at every run
#   target/fuzz-corpus/<target>/        the growing corpus (new inputs libFuzzer keeps)
#   target/fuzz-artifacts/<target>/     crashing inputs, with a log per run
#
# Reproduce a crash:  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir target/fuzz \
#                       <target> target/fuzz-artifacts/<target>/crash-...   (--dev for dev)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(bronze_reader s3_sqs_events api_request)
sanitizer=${GRAS_FUZZ_SANITIZER:-address}
jobs=${GRAS_FUZZ_JOBS:-1}
profile=${GRAS_FUZZ_PROFILE:-release}
codegen_units=${GRAS_FUZZ_CODEGEN_UNITS:-}
cargo_fuzz_version=0.13.2

# The machine has one toolchain, stable. cargo-fuzz's instrumentation flags are stable
# (-Cpasses=sancov-module, -Cllvm-args=...), but AddressSanitizer is -Zsanitizer=address,
# which stable rustc accepts only with RUSTC_BOOTSTRAP=1 (cargo-fuzz then also treats the
# compiler as nightly); the stable toolchain ships the ASan runtime for
# x86_64-unknown-linux-gnu. No -Zbuild-std (it needs the rust-src component), so std itself
# is not instrumented; our crates and every dependency are. `GRAS_FUZZ_SANITIZER=none` needs
# no -Z flag at all; what ASan adds for Rust is a check of the `unsafe` code (the
# Parquet/Arrow decoders).
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
fuzz=(cargo fuzz)
fuzz_opts=(--fuzz-dir fuzz --target-dir target/fuzz --sanitizer "$sanitizer")
# Seconds one input may take before it counts as a hang.
case $profile in
  release) timeout=10 ;; # cargo-fuzz's default: optimized, with debug assertions
  dev) fuzz_opts+=(--dev) timeout=60 ;;
  *) echo "GRAS_FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac
[ -z "$codegen_units" ] || fuzz_opts+=(--codegen-units "$codegen_units")

step() { printf '\n--> %s\n' "$*"; }

step "cargo-fuzz $cargo_fuzz_version"
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
cargo fuzz --version

step "build ($profile, debug assertions, sanitizer: $sanitizer)"
start=$(date +%s)
build_log=target/fuzz-build.log
mkdir -p target
# One cargo invocation for all targets (cargo-fuzz builds every target when none is named):
# their shared code is compiled once and the links run in parallel.
build_targets=("${targets[@]}")
[ ${#targets[@]} -eq 3 ] && build_targets=()
if ! "${fuzz[@]}" build "${fuzz_opts[@]}" "${build_targets[@]:0:1}" >"$build_log" 2>&1; then
  tail -n 40 "$build_log"
  exit 1
fi
for t in "${build_targets[@]:1}"; do
  if ! "${fuzz[@]}" build "${fuzz_opts[@]}" "$t" >>"$build_log" 2>&1; then
    tail -n 40 "$build_log"
    exit 1
  fi
done
echo "build: $(($(date +%s) - start)) s"
[ "${GRAS_FUZZ_STEPS:-all}" = build ] && exit 0

seeds=target/fuzz-corpus/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{bronze_reader,s3_sqs_events,api_request}

step "seed corpus"
# Bronze: the generator's files (every layout it writes: timestamp units and zones, int64
# epochs, RFC 3339 text, dictionaries, totals, late and replayed files) ...
gen=target/fuzz-corpus/generated-lake
rm -rf "$gen"
gras=${GRAS_BIN:-}
if [ -z "$gras" ]; then
  cargo build --quiet -p gras-cli
  gras=target/debug/gras
fi
"$gras" generate --lake "$gen" --days 3 --series 2 --seed 11 >/dev/null
find "$gen/bronze" -name '*.parquet' | sort | while read -r f; do
  cp "$f" "$seeds/bronze_reader/gen-$(echo "${f#"$gen"/bronze/gras/}" | tr '/=' '__')"
done
# ... and hand-made files written by an independent writer (pyarrow): every physical type
# the reader accepts (contract section 2), INT96, every string kind, rejected rows of every
# reason, and files the reader must refuse (codecs it lacks, wrong types, missing columns).
if ! python3 -c 'import pyarrow' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
python3 - "$seeds/bronze_reader" <<'PY'
import datetime as dt, decimal, io, os, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq

out = sys.argv[1]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
MS = int(T0.timestamp() * 1000)
n = 4

def write(name, cols, **kw):
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf, **kw)
    with open(os.path.join(out, f"hand-{name}.parquet"), "wb") as f:
        f.write(buf.getvalue())

vals = pa.array([1.5, -2.0, None, 4.0])
series = pa.array(["store-0001", None, "store-0002", "store-0001"])
metric = pa.array(["G", "G", None, "R"])
for unit in ["s", "ms", "us", "ns"]:
    for tz in [None, "UTC", "+02:00"]:
        ts = pa.array([T0 + dt.timedelta(hours=h) for h in range(n)], pa.timestamp(unit, tz))
        write(f"ts-{unit}-{tz or 'naive'}".replace(":", ""), {"ts": ts, "value": vals})
write("ts-int64", {"ts": pa.array([MS + h * 3_600_000 for h in range(n)]), "value": vals})
text = ["2024-01-01T00:00:00Z", "2024-01-01T02:00:00+02:00", "2024-01-01 02:00:00.5", None]
write("ts-utf8", {"ts": pa.array(text), "value": vals})
write("ts-large-utf8", {"ts": pa.array(text, pa.large_string()), "value": vals})
write("ts-dict", {"ts": pa.array(text).dictionary_encode(), "value": vals})
write("ts-int96", {"ts": pa.array([T0 + dt.timedelta(hours=h) for h in range(n)], pa.timestamp("ns")),
                   "value": vals}, use_deprecated_int96_timestamps=True)
ts = pa.array([MS + h * 3_600_000 for h in range(n)])
values = {
    "f16": pa.array(np.array([1.5, 2.5, 0.0, -1.0], dtype=np.float16)),
    "f32": pa.array([1.5, float("nan"), float("inf"), None], pa.float32()),
    "f64": pa.array([1.5, -0.0, float("-inf"), None]),
    "dec32": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50"), decimal.Decimal("0")], pa.decimal32(5, 2)),
    "dec64": pa.array([decimal.Decimal("1.250"), None, decimal.Decimal("-3.5"), decimal.Decimal("7")], pa.decimal64(12, 3)),
    "dec128": pa.array([decimal.Decimal("1.2345"), None, decimal.Decimal("-0.5"), decimal.Decimal("9")], pa.decimal128(18, 4)),
    "dec256": pa.array([decimal.Decimal("1.2345"), None, decimal.Decimal("-0.5"), decimal.Decimal("9")], pa.decimal256(40, 4)),
    "dict-f64": pa.array([1.0, 2.0, 1.0, None]).dictionary_encode(),
}
for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
    values[t] = pa.array([1, 2, None, 100], getattr(pa, t)())
for name, v in values.items():
    write(f"value-{name}", {"ts": ts, "value": v})
write("cols-all", {"extra": pa.array(["x"] * n), "series_key": series.dictionary_encode(),
                   "ts": ts, "metric_id": metric.cast(pa.large_string()), "value": vals})
write("cols-bad-keys", {"ts": ts, "value": vals, "metric_id": metric,
                        "series_key": pa.array(["", "a#b", "tab\tkey", "x" * 300])})
write("rows-rejected", {"ts": pa.array([None, "yesterday", "2024-01-01T00:00:00Z", "+999999-01-01T00:00:00Z"]),
                        "value": pa.array([1.0, 1.0, None, float("nan")])})
write("ts-overflow", {"ts": pa.array([2**63 - 1, -(2**63), 0, MS]), "value": vals})
write("empty", {"ts": pa.array([], pa.int64()), "value": pa.array([], pa.float64())})
# Encodings, pages and codecs.
big = {"ts": pa.array([MS + h * 3_600_000 for h in range(64)]),
       "value": pa.array([float(h % 7) for h in range(64)]),
       "series_key": pa.array([f"store-{h % 3:04}" for h in range(64)])}
write("rowgroups", big, row_group_size=16)
write("page-v2", big, data_page_version="2.0", data_page_size=128)
write("no-dict-stats", big, use_dictionary=False, write_statistics=False)
write("byte-stream-split", big, use_dictionary=False, use_byte_stream_split=["value"])
write("delta", big, use_dictionary=False, column_encoding={"ts": "DELTA_BINARY_PACKED", "series_key": "DELTA_BYTE_ARRAY"})
write("no-arrow-schema", big, store_schema=False)
for codec in ["none", "snappy", "zstd", "gzip", "brotli", "lz4"]:
    write(f"codec-{codec}", big, compression=codec)
# Files the reader refuses.
write("bad-value-type", {"ts": ts, "value": pa.array(["1", "2", "3", "4"])})
write("bad-ts-type", {"ts": pa.array([True, False, True, None]), "value": vals})
write("no-ts", {"value": vals})
write("nested", {"ts": ts, "value": vals, "series_key": pa.array([{"a": 1}] * n)})
PY
# Events: every sample event whole, and each SQS record's body alone.
cp events/*.json "$seeds/s3_sqs_events/"
python3 - "$seeds" <<'PY'
import glob, json, os, sys

seeds = sys.argv[1]
def put(target, name, data):
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

for path in sorted(glob.glob("events/*.json")):
    base = os.path.basename(path)[:-5]
    event = json.load(open(path))
    for i, r in enumerate(event.get("Records", [])):
        if isinstance(r.get("body"), str):
            put("s3_sqs_events", f"{base}-body{i}", r["body"])
    # API Gateway v2 events in the API target's text form.
    http = event.get("requestContext", {}).get("http")
    if base.startswith("apigw-") and http:
        target = event["rawPath"] + ("?" + event["rawQueryString"] if event.get("rawQueryString") else "")
        lines = [f"{http['method']} {target}"]
        lines += [f"{k}: {v}" for k, v in event.get("headers", {}).items()]
        arn = ((event["requestContext"].get("authorizer") or {}).get("iam") or {}).get("userArn")
        if arn:
            lines.append(f"x-fuzz-caller: {arn}")
        put("api_request", base, "\n".join(lines) + "\n\n" + (event.get("body") or ""))
# A raw key, a multi-record body and a removal, for the key decoder and the batch.
put("s3_sqs_events", "key", "bronze/gras/metric%3DG/year%3D2024/month%3D01/day%3D01/part+0000.parquet")
put("s3_sqs_events", "body-multi", json.dumps({"Records": [
    {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "gras-lake-local"}, "object": {"key": "bronze/gras/metric%3DG/year%3D2024/month%3D01/day%3D01/part+0000.parquet"}}},
    {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "gras-lake-local"}, "object": {"key": "bronze/gras/metric%3DG/year%3D2024/month%3D01/day%3D02/broken+file.parquet"}}},
    {"eventName": "ObjectRestore:Completed", "s3": {"bucket": {"name": "other"}, "object": {"key": "caf%C3%A9"}}}]}))
# Every route of the API with the placeholders of the target ({version}, {pending}, {token}).
api = {
    "health": "GET /health\n\n",
    "forecasts": "GET /v1/forecasts/G?series=store-0001&from=2024-01-19T00:00:00Z&to=2024-01-20T00:00:00Z&limit=5&cursor=MjAyNC0wMS0xOVQwMjowMDowMFo\n\n",
    "features": "GET /v1/features/R?series=_all\n\n",
    "models": "GET /v1/models/G\n\n",
    "approve-bearer": "POST /v1/models/G/{pending}/approve\ncontent-type: application/json\nauthorization: Bearer {token}\n\n{\"reason\": \"fuzz\"}",
    "approve-approved": "POST /v1/models/G/{version}/approve\nx-fuzz-caller: arn:aws:iam::1:user/u\n\n",
    "analyze-bearer": "POST /v1/analyze\nauthorization: Bearer {token}\n\n{\"metric\": \"G\", \"horizon\": 3}",
    "analyze-gateway": "POST /v1/analyze\nx-fuzz-caller: arn:aws:iam::1:user/u\n\n{\"metric\": \"R\", \"series\": \"store-0002\"}",
    "alerts": "GET /v1/alerts?metric=G&series=store-0001&since=2024-01-18T00:00:00%2B01:00&limit=2\n\n",
    "alerts-index": "GET /v1/alerts?metric=G&since=2024-01-01T00:00:00Z&cursor=x\n\n",
    "head": "HEAD /v1/models/G\n\n",
    "method": "DELETE /v1/analyze\n\n",
}
for name, text in api.items():
    put("api_request", f"route-{name}", text)
PY
for t in bronze_reader s3_sqs_events api_request; do
  echo "$t: $(find "$seeds/$t" -type f | wc -l) seeds"
done

final_stat() {  # final_stat NAME LOG...: the sum of a -print_final_stats value over the logs
  cat "${@:2}" | grep -oE "^stat::$1:[[:space:]]+[0-9]+" | awk '{s += $2} END {print s + 0}'
}

# fuzz_one TARGET: fuzzes one target for $secs seconds; its summary line goes to
# $artifacts/summary, its exit status says whether it crashed.
fuzz_one() {
  local t=$1
  local corpus=target/fuzz-corpus/$t artifacts=target/fuzz-artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/run-*.log "$artifacts/summary"
  local dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
  [ "$jobs" -gt 1 ] && dict+=(-fork="$jobs")
  local start result=ok log=$artifacts/run-1.log status=0
  start=$(date +%s)
  if ! "${fuzz[@]}" run "${fuzz_opts[@]}" "$t" "$corpus" "$seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout="$timeout" \
    -print_final_stats=1 -artifact_prefix="$root/$artifacts/" "${dict[@]}" >"$log" 2>&1; then
    local input
    input=$(grep -oE 'Test unit written to .*' "$log" | sed 's/^Test unit written to //' | tail -n 1)
    result=CRASH
    status=1
    grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" | head -n 10 || true
    echo "$t: crashing input: ${input:-?}; full log: $log"
  fi
  local elapsed runs added cov files
  elapsed=$(($(date +%s) - start))
  runs=$(final_stat number_of_executed_units "$log")
  added=$(final_stat new_units_added "$log")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)
  files=$(find "$corpus" -type f | wc -l)
  printf '%-14s %-5s runs=%-9s exec/s=%-6s new_units=%-5s corpus_files=%-5s %s\n' \
    "$t" "$result" "${runs:-?}" "$(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) ))" "${added:-?}" \
    "$files" "${cov:-?}" >"$artifacts/summary"
  return "$status"
}

# The targets run side by side (GRAS_FUZZ_SERIAL=1: one after the other).
step "fuzz ${targets[*]} for ${secs}s each"
status=0
pids=()
for t in "${targets[@]}"; do
  if [ "${GRAS_FUZZ_SERIAL:-0}" = 1 ]; then
    fuzz_one "$t" || status=1
  else
    fuzz_one "$t" &
    pids+=($!)
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
summary=()
for t in "${targets[@]}"; do
  summary+=("$(cat "target/fuzz-artifacts/$t/summary" 2>/dev/null || echo "$t: no summary")")
done

step "summary (${secs}s per target, $profile build, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
if [ "$status" -ne 0 ]; then
  echo "FUZZING FOUND A CRASH: inputs in target/fuzz-artifacts/<target>/" >&2
fi
exit "$status"
