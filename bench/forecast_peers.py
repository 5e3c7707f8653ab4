#!/usr/bin/env python3
"""Python peers of the forecasting benchmark: Prophet and statsforecast on one hourly series.

    python3 bench/forecast_peers.py --csv taylor_hourly.csv --holdout 336 --level 0.9 [--runs 3]

Reads a `ts,value` CSV (hourly, gap-free; see bench/fetch_series.py), keeps the final
`holdout` hours as the test set, fits every model on all hours before them and forecasts
`holdout` steps in one go with a central interval at `level`. Prints one JSON line per model:

    {"model", "mase", "smape", "mape", "coverage", "first_day_coverage", "fit_predict_s"}

with the metrics of bench/forecast_metrics.py (fractions; MASE scaled by the training part's
weekly seasonal-naive MAE, period 168; first_day_coverage over the first 24 steps, the lead
times alerts see) and fit_predict_s = median wall time of fit+predict
over --runs runs. With --refresh-every N the hold-out is scored as a deployed forecaster
sees it: every N hours from its start each model is re-fitted on all hours so far and
forecasts the N hours up to the next refresh; the pieces are scored together and
fit_predict_s is the median over the refreshes (each run once). Imports happen before timing, and each statsforecast model gets one untimed
warm-up run first. Models: Prophet (daily+weekly seasonality, interval_width=level, defaults
otherwise, seeded so runs repeat), AutoETS(season_length=24), MSTL(season_length=[24,168],
trend_forecaster=AutoETS(model="ZZN")), SeasonalNaive(season_length=168) as a sanity baseline.
Install: python3 -m pip install -r bench/forecast_requirements.txt
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forecast_metrics import coverage, mape, mase, smape  # noqa: E402

SEASON = 168  # MASE period: one week of hours


def load(path: str, holdout: int) -> pd.DataFrame:
    df = pd.read_csv(path)
    if list(df.columns) != ["ts", "value"]:
        sys.exit(f"{path}: header must be ts,value, got {','.join(map(str, df.columns))}")
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    if df["value"].isna().any():
        sys.exit(f"{path}: {int(df['value'].isna().sum())} missing values")
    steps = df["ts"].diff().dropna()
    if (steps != pd.Timedelta(hours=1)).any():
        sys.exit(f"{path}: timestamps must be hourly and gap-free (first bad step at line "
                 f"{int(steps.index[(steps != pd.Timedelta(hours=1)).to_numpy()][0]) + 2})")
    need = holdout + 2 * SEASON
    if holdout < 1 or len(df) < need:
        sys.exit(f"{path}: {len(df)} rows; need at least holdout ({holdout}) + 2 weeks "
                 f"({2 * SEASON}) = {need} (MSTL needs two weekly periods to train on)")
    return df


def prophet_model(level: float):
    for name in ("cmdstanpy", "prophet", "prophet.plot"):  # silence them before import: with a
        logging.getLogger(name).addHandler(logging.NullHandler())  # handler present cmdstanpy
        logging.getLogger(name).setLevel(logging.CRITICAL)  # keeps this level
    from prophet import Prophet

    def run(train: pd.DataFrame, h: int):
        np.random.seed(0)  # Prophet draws its interval samples from numpy's global RNG
        m = Prophet(daily_seasonality=True, weekly_seasonality=True, interval_width=level)
        m.fit(pd.DataFrame({"ds": train["ts"].dt.tz_localize(None), "y": train["value"]}))
        fc = m.predict(m.make_future_dataframe(periods=h, freq="h", include_history=False))
        return fc["yhat"].to_numpy(), fc["yhat_lower"].to_numpy(), fc["yhat_upper"].to_numpy()

    return run


def statsforecast_model(make, level: float):
    pct = round(level * 100, 6)
    pct = int(pct) if float(pct).is_integer() else pct

    def run(train: pd.DataFrame, h: int):
        m = make()
        m.fit(train["value"].to_numpy(dtype=np.float64))
        out = m.predict(h=h, level=[pct])
        lo = next(v for k, v in out.items() if k.startswith("lo-"))
        hi = next(v for k, v in out.items() if k.startswith("hi-"))
        return out["mean"], lo, hi

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--holdout", type=int, default=336)
    ap.add_argument("--level", type=float, default=0.9)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--refresh-every", type=int, default=0)
    args = ap.parse_args()
    if not 0 < args.level < 1 or args.runs < 1 or args.refresh_every < 0:
        sys.exit("--level must be in (0, 1), --runs >= 1 and --refresh-every >= 0")

    df = load(args.csv, args.holdout)
    train, test = df.iloc[: -args.holdout], df.iloc[-args.holdout :]
    y, actual = train["value"].to_numpy(), test["value"].to_numpy()
    print(f"{args.csv}: {len(df)} rows, train {len(train)} ({train['ts'].iloc[0]:%Y-%m-%dT%H}.."
          f"{train['ts'].iloc[-1]:%Y-%m-%dT%H}), test {len(test)}, level {args.level}, "
          f"runs {args.runs}", file=sys.stderr)

    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    models = [
        ("Prophet", prophet_model(args.level), False),
        ("AutoETS", statsforecast_model(lambda: AutoETS(season_length=24), args.level), True),
        ("MSTL", statsforecast_model(
            lambda: MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")), args.level), True),
        ("SeasonalNaive", statsforecast_model(lambda: SeasonalNaive(season_length=168), args.level), True),
    ]
    for name, run, warm_up in models:
        if warm_up:
            run(train, args.holdout)
        times = []
        if args.refresh_every:
            pieces = []
            for origin in range(0, args.holdout, args.refresh_every):
                steps = min(args.refresh_every, args.holdout - origin)
                t0 = time.perf_counter()
                pieces.append(run(df.iloc[: len(train) + origin], steps))
                times.append(time.perf_counter() - t0)
            mean, lo, hi = (np.concatenate([np.asarray(p[k]) for p in pieces]) for k in range(3))
        for _ in range(0 if args.refresh_every else args.runs):
            t0 = time.perf_counter()
            mean, lo, hi = run(train, args.holdout)
            times.append(time.perf_counter() - t0)
        print(json.dumps({
            "model": name,
            "mase": round(mase(actual, mean, insample=y, season=SEASON), 6),
            "smape": round(smape(actual, mean), 6),
            "mape": round(mape(actual, mean), 6),
            "coverage": round(coverage(actual, lo, hi), 6),
            "first_day_coverage": round(coverage(actual[:24], lo[:24], hi[:24]), 6),
            "fit_predict_s": round(statistics.median(times), 4),
        }), flush=True)


if __name__ == "__main__":
    main()
