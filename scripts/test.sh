#!/usr/bin/env bash
# Runs every check of the project on a fresh machine: installs what is missing (Python
# tools from PyPI, the arm64 Rust target), starts a moto server on 127.0.0.1 for the AWS
# integration tests, then: formatting, clippy, unit/integration/property tests, the SAM
# template checks (cfn-lint, checkov, sam validate), the local
# Lambda invocation smoke test, the cross-check against the independent pandas
# implementation, and the arm64 release build of every function with cargo-lambda.
#
# Usage: bash scripts/test.sh          (CI runs exactly this via .ci/run)
# Env:   GRAS_QUICK=1                  skip the release build and the pandas cross-check
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
quick=${GRAS_QUICK:-0}

step() { printf '\n==> %s\n' "$*"; }

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
trap 'kill $moto_pid $moto_serial_pid 2>/dev/null || true; wait $moto_pid $moto_serial_pid 2>/dev/null || true' EXIT
for port in "$moto_port" "$moto_serial_port"; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
done
export GRAS_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
export GRAS_TEST_AWS_SERIAL_ENDPOINT="http://127.0.0.1:$moto_serial_port"
echo "moto at $GRAS_TEST_AWS_ENDPOINT, serial moto at $GRAS_TEST_AWS_SERIAL_ENDPOINT"

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "rustdoc (warnings are errors: broken links, private items)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "tests"
cargo test --workspace

step "fuzz smoke run (cargo fuzz, bounded)"
GRAS_FUZZ_PROFILE=dev bash scripts/fuzz.sh 20

step "API property-based test (schemathesis against gras serve)"
bash scripts/api_check.sh

step "SAM template: cfn-lint, checkov, sam validate"
bash scripts/check_template.sh

step "local Lambda invocation (cargo lambda watch + invoke) against moto"
bash scripts/lambda_smoke.sh

if [ "$quick" != 1 ]; then
  step "cross-check against the pandas reference implementation"
  bash bench/crosscheck.sh

  sam=${GRAS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gras-tools}/aws-sam-cli/bin/sam
  if [ "$lambda_arch" = --arm64 ] && [ -x "$sam" ]; then
    # The template's own build: BuildMethod rust-cargolambda runs cargo lambda build
    # --release --arm64 per function (no Docker needed), artifacts in .aws-sam/build/.
    step "sam build (SAM CLI + cargo lambda, arm64)"
    "$sam" build --beta-features
    ls -l .aws-sam/build/*/bootstrap
  else
    step "release build of the Lambdas (cargo lambda, $lambda_arch)"
    for fn in features train infer api; do
      cargo lambda build --release $lambda_arch -p "$fn"
    done
    ls -l target/lambda/*/bootstrap
  fi
fi

step "all checks passed"
