# Sourced by the forecasting benches (forecast_bench.sh, forecast_origins.sh) from the
# repository root: the Python peers' venv in bench/.venv-forecast (created and filled on
# first use), the release CLI in $GRAS (built unless SKIP_BUILD is set), a scratch dir
# $TMP removed on exit, and the series in $TMP/series.csv: the benchmark's (taylor), or
# SERIES=vic for the second one (see bench/fetch_series.py).
VENV=bench/.venv-forecast
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import prophet, statsforecast, pmdarima' 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --only-binary=:all: -r bench/forecast_requirements.txt
fi
GRAS=${GRAS:-target/release/gras}
if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release --quiet -p gras-cli
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$VENV/bin/python" bench/fetch_series.py --series "${SERIES:-taylor}" --out "$TMP/series.csv" >&2
