#!/usr/bin/env python3
"""Pins the metric definitions of bench/forecast_metrics.py on hand-computed cases.

    python3 bench/test_forecast_metrics.py      (plain asserts, no dependency)
    python3 -m pytest bench/test_forecast_metrics.py
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from forecast_metrics import coverage, mape, mase, smape  # noqa: E402


def close(x, y):
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15)


def test_mape_skips_zero_actuals():
    # |10|/100 = 0.1, |50|/200 = 0.25; the a=0 point is left out -> (0.1+0.25)/2
    assert close(mape([100, 200, 0], [110, 150, 5]), 0.175)
    assert math.isnan(mape([0, 0], [1, 2]))


def test_smape_both_zero_counts_zero():
    assert close(smape([100, 200, 0], [110, 150, 0]), (20 / 210 + 100 / 350) / 3)
    assert close(smape([0, 5], [0, 0]), (0 + 2.0) / 2)  # a=5,f=0 -> 2*5/5 = 2
    assert smape([0, 0], [0, 0]) == 0.0


def test_mase_uses_seasonal_naive_insample_scale():
    # errors 2, 4 -> 3; in-sample |3-1|, |4-2|, |7-3| = 2, 2, 4 -> 8/3
    assert close(mase([10, 10], [8, 14], insample=[1, 2, 3, 4, 7], season=2), 3 / (8 / 3))
    # default season 168: y_t = t for 170 points -> every seasonal difference is 168
    assert close(mase([0], [84], insample=list(range(170))), 0.5)
    assert mase([1], [2], insample=[5, 5, 5], season=1) == math.inf
    assert mase([1], [1], insample=[5, 5, 5], season=1) == 0.0


def test_coverage_bounds_inclusive():
    # 1 in [1,2] yes (on the bound), 2 in [0,1] no, 3 in [3.5,4] no, 4 in [0,4] yes
    assert coverage([1, 2, 3, 4], [1, 0, 3.5, 0], [2, 1, 4, 4]) == 0.5
    assert coverage([5.0], [5.0], [5.0]) == 1.0


def test_bad_input_raises():
    for call in (
        lambda: mape([1, 2], [1]),
        lambda: smape([], []),
        lambda: mase([1], [1], insample=[1, 2], season=2),
        lambda: coverage([1], [0, 0], [2]),
    ):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("expected ValueError")


if __name__ == "__main__":
    tests = [f for name, f in sorted(globals().items()) if name.startswith("test_")]
    failed = 0
    for t in tests:
        try:
            t()
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {t.__name__}: {e!r}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
