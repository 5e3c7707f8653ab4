"""Point and interval forecast metrics of the forecasting benchmark (bench/forecast_peers.py).

Pure Python (no numpy) so that bench/test_forecast_metrics.py runs anywhere. Every function
takes sequences of numbers (lists, tuples, numpy arrays) of equal length and returns a
float; all results are fractions, not percents:

    mape     = mean(|a-f| / |a|) over the points with a != 0 (nan if there is none)
    smape    = mean(2|a-f| / (|a|+|f|)), a point with a == f == 0 counts 0
    mase     = mean|a-f| / mean_{t>=m} |y_t - y_{t-m}|, y = the in-sample (training) series,
               m = season (168 = one week of hours in the benchmark); inf if that scale is 0
    coverage = fraction of points with lower <= a <= upper (bounds inclusive)
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _pairs(actual: Sequence[float], forecast: Sequence[float]) -> list[tuple[float, float]]:
    if len(actual) != len(forecast):
        raise ValueError(f"length mismatch: {len(actual)} actual vs {len(forecast)} forecast")
    if len(actual) == 0:
        raise ValueError("no points to score")
    return [(float(a), float(f)) for a, f in zip(actual, forecast)]


def mape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    terms = [abs(a - f) / abs(a) for a, f in _pairs(actual, forecast) if a != 0]
    return math.fsum(terms) / len(terms) if terms else math.nan


def smape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    pairs = _pairs(actual, forecast)
    terms = [0.0 if a == 0 and f == 0 else 2 * abs(a - f) / (abs(a) + abs(f)) for a, f in pairs]
    return math.fsum(terms) / len(pairs)


def mase(
    actual: Sequence[float], forecast: Sequence[float], insample: Sequence[float], season: int = 168
) -> float:
    pairs = _pairs(actual, forecast)
    y = [float(v) for v in insample]
    if season < 1 or len(y) <= season:
        raise ValueError(f"mase needs more than season={season} in-sample points, got {len(y)}")
    scale = math.fsum(abs(y[t] - y[t - season]) for t in range(season, len(y))) / (len(y) - season)
    mae = math.fsum(abs(a - f) for a, f in pairs) / len(pairs)
    if scale == 0:
        return 0.0 if mae == 0 else math.inf
    return mae / scale


def coverage(actual: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> float:
    if not len(actual) == len(lower) == len(upper):
        raise ValueError(f"length mismatch: {len(actual)}/{len(lower)}/{len(upper)}")
    if len(actual) == 0:
        raise ValueError("no points to score")
    inside = sum(1 for a, lo, hi in zip(actual, lower, upper) if float(lo) <= float(a) <= float(hi))
    return inside / len(actual)
