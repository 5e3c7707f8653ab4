#!/usr/bin/env bash
# Forecasting benchmark: training's model selection (`gras holdout`: backtest, select by MASE,
# calibrate, fit, forecast) against Prophet and statsforecast (bench/forecast_peers.py) on the
# same real series and split, in the same go.
#
#   bash bench/forecast_bench.sh [RUNS]        (default 5)
#
# Series: Taylor's half-hourly electricity demand of England and Wales (June-August 2000),
# as shipped on disk by the PyPI package pmdarima, summed to 2016 hourly values
# (bench/fetch_series.py). The final two weeks (336 h) are held out and forecast in one go
# at nominal 90% coverage. Python peers run in their own venv (bench/.venv-forecast).
#
# A second table scores the same fortnight as deployed: trained once on the part before it
# (training's 168 h horizon), then every 24 h re-fitted on all hours so far and forecasting
# the next 24 (inference re-forecasts hourly, and an actual meets the newest forecast made
# before its day's file arrived); gras's bounds carry the online interval factor, which
# learns from each day's actuals. The peers re-fit the same way.
set -euo pipefail
RUNS=${1:-5}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/forecast_setup.sh
source bench/forecast_setup.sh
"$GRAS" holdout --json --csv "$TMP/series.csv" --holdout 336 --level 0.9 --runs "$RUNS" > "$TMP/gras.jsonl"
"$VENV/bin/python" bench/forecast_peers.py --csv "$TMP/series.csv" --holdout 336 --level 0.9 --runs "$RUNS" > "$TMP/peers.jsonl"
python3 - "$TMP/gras.jsonl" "$TMP/peers.jsonl" <<'PY'
import json, sys
gras = [json.loads(l) for l in open(sys.argv[1])]
peers = [json.loads(l) for l in open(sys.argv[2])]
prophet = next(p for p in peers if p["model"] == "Prophet")
print("| model | selected | MASE | sMAPE | MAPE | coverage (nominal 0.90) | first-day coverage | fit+predict s | Prophet time / model time |")
print("|---|---|---|---|---|---|---|---|---|")
for g in gras:
    cov = f'{g["coverage"]:.3f} (raw {g["raw_coverage"]:.3f}, scales {g["backtest"]["near_scale"]:.2f} / {g["backtest"]["interval_scale"]:.2f})'
    print(f'| {g["model"]} | {"yes" if g["selected"] else ""} | {g["mase"]:.4f} | {g["smape"]:.4f} | {g["mape"]:.4f} | {cov} | {g["first_day_coverage"]:.3f} | {g["fit_predict_s"]:.4f} | {prophet["fit_predict_s"] / max(g["fit_predict_s"], 1e-9):.0f}x |')
for p in peers:
    print(f'| {p["model"]} |  | {p["mase"]:.4f} | {p["smape"]:.4f} | {p["mape"]:.4f} | {p["coverage"]:.3f} | {p["first_day_coverage"]:.3f} | {p["fit_predict_s"]:.4f} | {prophet["fit_predict_s"] / max(p["fit_predict_s"], 1e-9):.1f}x |')
sel = next(g for g in gras if g["selected"])
print()
print(f'selected: {sel["model"]}; backtest (selection + calibration) of all candidates: {sum(g["backtest_s"] for g in gras):.3f} s; '
      f'whole training procedure {sum(g["backtest_s"] for g in gras) + sum(g["fit_predict_s"] for g in gras):.3f} s vs Prophet fit+predict {prophet["fit_predict_s"]:.3f} s')
PY
"$GRAS" holdout --json --csv "$TMP/series.csv" --holdout 336 --level 0.9 --refresh-every 24 > "$TMP/gras-daily.jsonl"
"$GRAS" holdout --json --csv "$TMP/series.csv" --holdout 336 --level 0.9 --refresh-every 24 --adapt-rate 0 > "$TMP/gras-daily-fixed.jsonl"
"$VENV/bin/python" bench/forecast_peers.py --csv "$TMP/series.csv" --holdout 336 --level 0.9 --refresh-every 24 > "$TMP/peers-daily.jsonl"
python3 - "$TMP/gras-daily.jsonl" "$TMP/gras-daily-fixed.jsonl" "$TMP/peers-daily.jsonl" <<'PY'
import json, sys
gras = [json.loads(l) for l in open(sys.argv[1])]
fixed = {g["model"]: g for g in (json.loads(l) for l in open(sys.argv[2]))}
peers = [json.loads(l) for l in open(sys.argv[3])]
prophet = next(p for p in peers if p["model"] == "Prophet")
print()
print("As deployed: trained once, re-fitted and re-forecast every 24 h over the same fortnight")
print()
print("| model | selected | MASE | sMAPE | coverage (nominal 0.90) | without the online factor | fit+predict s (median of 14) | Prophet time / model time |")
print("|---|---|---|---|---|---|---|---|")
for g in gras:
    print(f'| {g["model"]} | {"yes" if g["selected"] else ""} | {g["mase"]:.4f} | {g["smape"]:.4f} | {g["coverage"]:.3f} | {fixed[g["model"]]["coverage"]:.3f} | {g["fit_predict_s"]:.4f} | {prophet["fit_predict_s"] / max(g["fit_predict_s"], 1e-9):.0f}x |')
for p in peers:
    print(f'| {p["model"]} |  | {p["mase"]:.4f} | {p["smape"]:.4f} | {p["coverage"]:.3f} | | {p["fit_predict_s"]:.4f} | {prophet["fit_predict_s"] / max(p["fit_predict_s"], 1e-9):.1f}x |')
PY
