#!/usr/bin/env bash
# Runs every check of the project on a fresh machine: installs what is missing (Python
# tools from PyPI, the arm64 Rust target), starts a moto server on 127.0.0.1 for the AWS
# integration tests, then: formatting, clippy, unit/integration/property tests, the SAM
# template checks (cfn-lint, checkov, sam validate), the local
# Lambda invocation smoke test, the README's shell blocks (scripts/readme_check.sh), the
# cross-check against the independent pandas
# implementation, and `sam build` of every function (arm64, in the background throughout).
#
# Usage: bash scripts/test.sh          (CI runs exactly this via .ci/run)
# Env:   GRAS_QUICK=1                  skip the Lambda build and the pandas cross-check
#        GRAS_RELEASE_BUILD=1          build the Lambdas as deployed (release, thin LTO)
#                                      instead of SAM's debug mode
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A build from nothing gains nothing from incremental compilation data, and pays to write it.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
quick=${GRAS_QUICK:-0}

# Stage timing: every step's wall time is printed at the end, pass or fail.
stage_names=(); stage_secs=(); stage_start=$(date +%s); stage_name=""
stage_end() {
  [ -n "$stage_name" ] || return 0
  stage_names+=("$stage_name"); stage_secs+=($(( $(date +%s) - stage_start )))
  stage_name=""
}
stage_report() {
  stage_end
  printf '\n==> stage times (s)\n'
  local i total=0
  for i in "${!stage_names[@]}"; do
    printf '%6d  %s\n' "${stage_secs[$i]}" "${stage_names[$i]}"
    total=$(( total + stage_secs[i] ))
  done
  printf '%6d  total\n' "$total"
}
step() { stage_end; stage_name="$*"; stage_start=$(date +%s); printf '\n==> %s\n' "$*"; }

moto_pid=; moto_serial_pid=; tools_pid=; build_pid=; fuzz_pid=; dash_pid=
cleanup() {
  # The background builds run in sessions of their own: stop all of each (cargo, rustc, zig).
  local pid
  for pid in $build_pid $fuzz_pid; do kill -- -"$pid" 2>/dev/null || true; done
  kill $moto_pid $moto_serial_pid $tools_pid $build_pid $fuzz_pid $dash_pid 2>/dev/null || true
  wait $moto_pid $moto_serial_pid $tools_pid $build_pid $fuzz_pid $dash_pid 2>/dev/null || true
  stage_report
}
trap cleanup EXIT

step "tools"
need=()
python3 -c 'import moto, flask' 2>/dev/null || need+=("moto[server]==5.2.5")
command -v cargo-lambda >/dev/null || need+=("cargo-lambda==1.9.2")
python3 -c 'import pandas, pyarrow' 2>/dev/null || need+=(-r bench/requirements.txt)
if [ ${#need[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi
hash -r
rustup component add rustfmt clippy >/dev/null 2>&1 || true
lambda_arch=--arm64
if ! rustup target list --installed | grep -q aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu || { echo "aarch64 target unavailable: building x86_64 Lambdas"; lambda_arch=--x86-64; }
fi
cargo --version; cargo lambda -V; python3 -c 'import moto; print("moto", moto.__version__)'
# The checks' own Python tools (cfn-lint, checkov, schemathesis, SAM CLI: scripts/tools.sh)
# install in the background while Rust compiles; wait_tools waits for them.
tools_log=$(mktemp)
(
  for t in cfn-lint checkov schemathesis; do
    timeout 900 nice -n 10 bash -c "source scripts/tools.sh; ensure_tool $t" >/dev/null || echo "$t: install failed"
  done
) >"$tools_log" 2>&1 &
tools_pid=$!
# Debian's chromium and the dashboard's npm packages, for its browser test, meanwhile too.
dash_log=$(mktemp)
nice -n 10 bash scripts/dashboard_check.sh --install >"$dash_log" 2>&1 &
dash_pid=$!
wait_tools() {
  [ -n "$tools_pid" ] || return 0
  wait "$tools_pid" || true
  tools_pid=
  cat "$tools_log"
}

# The Lambdas' build: the template's own `sam build` (BuildMethod rust-cargolambda: cargo
# lambda build --arm64 per function, no Docker), or cargo lambda per function when the SAM
# CLI or the arm64 target is missing. Its own target directory (no lock shared with the
# stages' cargo), at the lowest CPU priority from the start: it compiles for arm64 while the
# other stages leave a core idle (emulator-bound tests, single-threaded Python checks), and
# the last stage waits for what is left of it. CI builds in SAM's debug mode
# (SAM_BUILD_MODE=debug: the dev profile; same template, builder, binaries and target);
# GRAS_RELEASE_BUILD=1 builds as deployed (release, thin LTO; BENCHMARKS.md).
build_mode=debug
[ "${GRAS_RELEASE_BUILD:-0}" = 1 ] && build_mode=release
build_log=$(mktemp); sam_ready=$(mktemp -u); build_pid=
lambda_build() {
  local start=$SECONDS sam=""
  sam=$(timeout 900 bash -c 'source scripts/tools.sh; ensure_tool aws-sam-cli') || sam=""
  touch "$sam_ready"
  export CARGO_TARGET_DIR=$PWD/target/lambda-build
  if [ "$lambda_arch" = --arm64 ] && [ -n "$sam" ]; then
    echo "sam build (SAM CLI + cargo lambda, arm64, $build_mode)"
    local mode=(); [ "$build_mode" = debug ] && mode=(SAM_BUILD_MODE=debug)
    env "${mode[@]}" SAM_CLI_TELEMETRY=0 "$sam" build --beta-features
    ls -l .aws-sam/build/*/bootstrap
  else
    echo "$build_mode build of the Lambdas (cargo lambda, $lambda_arch; no SAM CLI or no arm64 target)"
    local release=(); [ "$build_mode" = release ] && release=(--release)
    for fn in features train infer api; do
      cargo lambda build "${release[@]}" $lambda_arch -p "$fn"
    done
    ls -l "$CARGO_TARGET_DIR"/lambda/*/bootstrap
  fi
  echo "lambda build: $((SECONDS - start)) s in the background"
}
# background NICE CMD...: runs CMD in a session of its own at a low CPU priority (NICE). With the kernel's
# autogroup scheduling (one group per session), nice only ranks processes inside their own
# session's group, and a new session's group would get an equal share of the CPU: so the
# group itself is lowered too (/proc/self/autogroup) before CMD starts. Called as
# `background NICE CMD... &`: the job is then the session leader, so `kill -- -PID` stops it all.
background() {
  # shellcheck disable=SC2016
  local level=$1
  shift
  exec setsid -w bash -c 'echo "$0" >/proc/self/autogroup 2>/dev/null || true; exec nice -n "$0" "$@"' \
    "$level" "$@"
}
# promote PID: a background job that a stage now waits for gets the normal priority back
# (its autogroup and every process of its group; best effort, it needs the right to raise).
promote() {
  echo 0 >"/proc/$1/autogroup" 2>/dev/null || true
  renice -n 0 -g "$1" >/dev/null 2>&1 || true
}

# The fuzz targets' build (cargo-fuzz install, AddressSanitizer dev build into target/fuzz/)
# the same way, for the fuzz stage to run them; needed sooner, so a little less low.
fuzz_log=$(mktemp)
background 15 env GRAS_FUZZ_PROFILE=dev GRAS_FUZZ_STEPS=build bash scripts/fuzz.sh >"$fuzz_log" 2>&1 &
fuzz_pid=$!
if [ "$quick" != 1 ]; then
  background 19 bash -c "$(declare -f lambda_build); lambda_arch=$lambda_arch build_mode=$build_mode \
    sam_ready=$sam_ready lambda_build" >"$build_log" 2>&1 &
  build_pid=$!
else
  touch "$sam_ready"
fi

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "rustdoc (warnings are errors: broken links, private items)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "moto servers on 127.0.0.1 (threaded; single-threaded for transaction races)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
moto_log=$(mktemp)
moto_server -H 127.0.0.1 -p "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
# Threaded moto does not isolate concurrent TransactWriteItems; the approval race test runs
# on this serial one, as DynamoDB serializes conflicting transactions (scripts/moto_serial.py).
moto_serial_port=$(free_port)
python3 scripts/moto_serial.py "$moto_serial_port" >"$moto_log.serial" 2>&1 &
moto_serial_pid=$!
for port in "$moto_port" "$moto_serial_port"; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
done
export GRAS_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
export GRAS_TEST_AWS_SERIAL_ENDPOINT="http://127.0.0.1:$moto_serial_port"
echo "moto at $GRAS_TEST_AWS_ENDPOINT, serial moto at $GRAS_TEST_AWS_SERIAL_ENDPOINT"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  # Every test binary's tests in one pool (.config/nextest.toml): the long fault and soak
  # tests run beside the rest instead of after them. Doctests are cargo test's.
  cargo nextest run --workspace --profile ci
  cargo test --workspace --doc
else
  cargo test --workspace
fi
# The CLI the later checks drive, built by the step above (no second build).
export GRAS_BIN=$PWD/target/debug/gras

step "fuzz smoke run (cargo fuzz, bounded; the three targets side by side)"
promote "$fuzz_pid"
fuzz_built=0; wait "$fuzz_pid" && fuzz_built=1; fuzz_pid=
cat "$fuzz_log"
[ "$fuzz_built" = 1 ] || { echo "the fuzz build failed" >&2; exit 1; }
GRAS_FUZZ_PROFILE=dev bash scripts/fuzz.sh 30

wait_tools

step "API property-based test (schemathesis against gras serve)"
bash scripts/api_check.sh

step "README's shell blocks, run as written (scripts/readme_check.sh)"
bash scripts/readme_check.sh

step "dashboard in Debian's chromium (Playwright; scripts/dashboard_check.sh)"
dash_ok=0; wait "$dash_pid" && dash_ok=1; dash_pid=
cat "$dash_log"
[ "$dash_ok" = 1 ] || { echo "installing chromium or the npm packages failed" >&2; exit 1; }
bash scripts/dashboard_check.sh

step "SAM template: cfn-lint, checkov, sam validate"
# The background build installs the SAM CLI first; wait for it (never two installs at once).
while [ ! -e "$sam_ready" ] && [ -n "$build_pid" ] && kill -0 "$build_pid" 2>/dev/null; do sleep 1; done
bash scripts/check_template.sh

step "local Lambda invocation (cargo lambda watch + invoke) against moto"
bash scripts/lambda_smoke.sh

if [ "$quick" != 1 ]; then
  step "cross-check against the pandas reference implementation"
  GRAS=$GRAS_BIN bash bench/crosscheck.sh

  step "Lambda build (finishing in the background since the start)"
  promote "$build_pid"
  if wait "$build_pid"; then build_pid=; cat "$build_log"; else build_pid=; cat "$build_log"; exit 1; fi
fi

step "all checks passed"
