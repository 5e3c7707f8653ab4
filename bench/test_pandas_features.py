#!/usr/bin/env python3
"""Self-test of bench/pandas_features.py and bench/compare_silver.py (no pytest needed).

    python3 bench/test_pandas_features.py [--keep DIR]

Builds a small bronze lake with pyarrow that exercises contract section 2 (every physical
type of ts/value/series_key, metric_id present/absent/mismatching, bad files), section 3
(exact duplicates across files and encodings, sub-hour rows, sum/mean/last with ties, gaps
of 3 and 4 buckets, a long gap, null series_key) and section 4 (constant windows, zero
lags, holidays, weekends, an outlier). Then:

1. runs pandas_features.py on it and checks its summary (rows read, rejections by reason);
2. checks a handful of cells computed by hand;
3. computes the whole silver layer again with a deliberately naive pure-Python reference
   (dicts and loops, exact statistics via the `statistics` module) and requires
   compare_silver.py to find the two identical; then perturbs one cell and requires
   compare_silver.py to report it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pandas_features import SILVER_SCHEMA  # noqa: E402
H = 3_600 * 10**9  # one hour in ns
T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9  # a Monday

CONFIG = """
holidays = ["2024-01-01", 2024-01-06]   # a string and a TOML date
[metrics.G]
aggregation = "sum"
frequency = "1h"
[metrics.A]
aggregation = "mean"
holidays = ["2024-01-03"]
[metrics.L]
aggregation = "last"
outlier_z = 2.0
"""
AGG = {"G": "sum", "A": "mean", "L": "last"}
OUTLIER_Z = {"G": 3.0, "A": 3.0, "L": 2.0}
HOLIDAYS = {
    "G": {dt.date(2024, 1, 1), dt.date(2024, 1, 6)},
    "A": {dt.date(2024, 1, 1), dt.date(2024, 1, 6), dt.date(2024, 1, 3)},
    "L": {dt.date(2024, 1, 1), dt.date(2024, 1, 6)},
}


def q(x: float) -> float:
    """Round to a multiple of 1/4: exact in float32, decimal(18,4) and float64 alike."""
    return round(x * 4) / 4


# ---------------------------------------------------------------------------------------
# The clean rows (metric, series_key or None, ts_ns, value) the lake is built from
# ---------------------------------------------------------------------------------------
def clean_rows() -> list[tuple[str, str | None, int, float]]:
    rows = []
    # G/s1: hourly for 10 days; gap of 3 (10..12), gap of 4 (20..23), long gap 100..150,
    # a spike at 200; hour 0 split into two sub-hour events; hour 5 has two events with the
    # same ts but different values (not duplicates).
    gaps = set(range(10, 13)) | set(range(20, 24)) | set(range(100, 151))
    for h in range(240):
        if h in gaps:
            continue
        v = q(100 + 10 * math.sin(h) + h) * (8 if h == 200 else 1)
        t = T0 + h * H
        if h == 0:
            rows += [("G", "s1", t + 10 * 60 * 10**9, 40.0), ("G", "s1", t + 50 * 60 * 10**9, v - 40)]
        elif h == 5:
            rows += [("G", "s1", t + 123 * 10**9, 1.5), ("G", "s1", t + 123 * 10**9, v - 1.5)]
        else:
            rows.append(("G", "s1", t + (h % 60) * 10**9, v))
    # G/const: constant 7 for 200 hours (std exactly 0, zscore null).
    rows += [("G", "const", T0 + h * H, 7.0) for h in range(200)]
    # G/zero: 0 for the first 10 hours (pct_change null where lag_168h == 0), then h.
    rows += [("G", "zero", T0 + h * H + 1, 0.0 if h < 10 else float(h)) for h in range(200)]
    # G/_all: total without a series key, starting on day 2; in the data below half of its
    # rows come with a null series_key, half from a file without the column.
    rows += [("G", None, T0 + h * H + 7 * 10**9, q(1000 + 50 * math.cos(h / 3))) for h in range(24, 200)]
    # G/month: hourly for 800 hours (the 720-hour totals), a long gap at 300..420.
    rows += [("G", "month", T0 + h * H + 5, float(h % 13 + 1)) for h in range(800) if not 300 <= h <= 420]
    # A/m1 (mean): 1..3 readings per hour for 3 days, a 4-bucket gap at 30..33.
    for h in range(72):
        if 30 <= h <= 33:
            continue
        for k in range(1 + h % 3):
            rows.append(("A", "m1", T0 + h * H + k * 600 * 10**9, q(20 + h / 4 + k)))
    # A/zeros: 0.0 and 4.0 in hour 0; a replay re-sends the 0.0 as -0.0 (still a duplicate,
    # so the mean stays 2.0).
    rows += [("A", "zeros", T0, 0.0), ("A", "zeros", T0 + 10**9, 4.0)]
    # L/k (last): two rows with the same greatest ts in hour 1 (tie -> greatest value), and
    # a later row with a smaller value in hour 2 (last = greatest ts, not greatest value).
    for h in range(48):
        rows.append(("L", "k", T0 + h * H, q(5 + h % 7)))
    rows += [("L", "k", T0 + 1 * H + 30 * 60 * 10**9, 9.25), ("L", "k", T0 + 1 * H + 30 * 60 * 10**9, 3.0),
             ("L", "k", T0 + 2 * H + 59 * 60 * 10**9, -1.0), ("L", "k", T0 + 2 * H + 1, 100.0)]
    # L/"ünï cödé" key (unicode order) with a single bucket.
    rows.append(("L", "ünï cödé", T0 + 5 * H, 2.0))
    return rows


# ---------------------------------------------------------------------------------------
# Physical encodings (contract section 2)
# ---------------------------------------------------------------------------------------
TS_KINDS = ["ts_ms", "ts_us_utc", "ts_ns_plus2", "ts_s", "int64_ms", "str_z", "str_nozone",
            "str_offset", "dict_str_z"]
VALUE_KINDS = ["float64", "float32", "decimal", "int32", "uint16", "float16", "decimal256"]
KEY_KINDS = ["utf8", "large_utf8", "dict"]


def ts_array(ts: list[int | None], kind: str) -> pa.Array:
    def text(t, tz_min):
        if t is None:
            return None
        d = dt.datetime.fromtimestamp(t // 10**9, dt.timezone(dt.timedelta(minutes=tz_min)))
        frac = t % 10**9
        s = d.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac:09d}" if frac else "")
        if kind == "str_nozone":
            return s
        return s + ("Z" if tz_min == 0 else d.strftime("%z")[:3] + ":" + d.strftime("%z")[3:])
    if kind == "ts_ms":
        assert all(t is None or t % 10**6 == 0 for t in ts), kind
        return pa.array([None if t is None else t // 10**6 for t in ts], pa.timestamp("ms"))
    if kind == "ts_us_utc":
        assert all(t is None or t % 10**3 == 0 for t in ts), kind
        return pa.array([None if t is None else t // 10**3 for t in ts], pa.timestamp("us", tz="UTC"))
    if kind == "ts_ns_plus2":
        return pa.array(ts, pa.timestamp("ns", tz="+02:00"))
    if kind == "ts_s":
        assert all(t is None or t % 10**9 == 0 for t in ts), kind
        return pa.array([None if t is None else t // 10**9 for t in ts], pa.timestamp("s"))
    if kind == "int64_ms":
        assert all(t is None or t % 10**6 == 0 for t in ts), kind
        return pa.array([None if t is None else t // 10**6 for t in ts], pa.int64())
    if kind in ("str_z", "str_nozone"):
        return pa.array([text(t, 0) for t in ts], pa.string())
    if kind == "str_offset":
        return pa.array([text(t, -330) for t in ts], pa.large_string())
    if kind == "dict_str_z":
        return pa.array([text(t, 0) for t in ts], pa.string()).dictionary_encode()
    raise ValueError(kind)


def value_array(values: list, kind: str) -> pa.Array:
    if kind == "float64":
        return pa.array(values, pa.float64())
    if kind == "float32":
        return pa.array(values, pa.float32())
    if kind == "float16":  # only small multiples of 1/4 are exact
        return pa.array(np.array([np.nan if v is None else v for v in values], np.float16),
                        mask=np.array([v is None for v in values]))
    if kind in ("decimal", "decimal256"):
        t = pa.decimal128(18, 4) if kind == "decimal" else pa.decimal256(40, 4)
        return pa.array([None if v is None else decimal.Decimal(repr(v)) for v in values], t)
    if kind in ("int32", "uint16"):
        return pa.array([None if v is None else int(v) for v in values], getattr(pa, kind)())
    raise ValueError(kind)


def pick(ok: list[str], used: set, i: int) -> str:
    """A kind not used yet if possible, else rotate: every kind appears in a small lake."""
    fresh = [k for k in ok if k not in used]
    return fresh[0] if fresh else ok[i % len(ok)]


def value_kind_for(values: list, i: int, used: set) -> str:
    """Rotate through the value types that represent every value of the file exactly."""
    vals = [v for v in values if v is not None]
    specials = any(isinstance(v, float) and not math.isfinite(v) for v in vals)
    ok = ["float64", "float32", "decimal", "decimal256"]
    if not specials and all(float(v).is_integer() for v in vals):
        ok.append("int32")
        if all(0 <= v < 65536 for v in vals):
            ok.append("uint16")
    if not specials and all(abs(v) < 256 for v in vals):
        ok.append("float16")
    if specials:
        ok = ["float64", "float32"]
    return pick(ok, used, i)


def ts_kind_for(ts: list, i: int, used: set) -> str:
    ok = [k for k in TS_KINDS if not (
        (k == "ts_s" and any(t is not None and t % 10**9 for t in ts))
        or (k in ("ts_ms", "int64_ms") and any(t is not None and t % 10**6 for t in ts))
        or (k == "ts_us_utc" and any(t is not None and t % 10**3 for t in ts)))]
    return pick(ok, used, i)


def write_file(path: Path, cols: dict[str, pa.Array], int96: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, use_deprecated_int96_timestamps=int96)


def day_dir(lake: Path, metric: str, t: int) -> Path:
    d = dt.datetime.fromtimestamp(t // 10**9, dt.timezone.utc)
    return lake / f"bronze/gras/metric={metric}/year={d:%Y}/month={d:%m}/day={d:%d}"


def build_lake(lake: Path) -> dict:
    """Writes the bronze lake; returns what the pandas summary must report."""
    rows = clean_rows()
    expected_rejects: Counter = Counter()
    rows_in_good_files = 0
    by_file: dict[Path, list] = defaultdict(list)
    for r in rows:
        metric, key, t, v = r
        # G/_all: alternate between a null series_key and a file without the column.
        # One file per metric, day and series, so the physical types rotate a lot.
        name = f"part-{key or 'all'}.parquet"
        if metric == "G" and key is None and (t // H) % 2:
            name = "part-all-nokey.parquet"
        by_file[day_dir(lake, metric, t) / name].append(r)

    # Faults on the main files: invalid rows, and in-place duplicates.
    for i, (path, frows) in enumerate(sorted(by_file.items())):
        t_first = frows[0][2]
        if "nokey" not in path.name and i % 3 == 0:
            m = frows[0][0]
            bad = [
                (m, "s1", None, 1.0, "null_ts"),
                (m, "s1", "not a time", 1.0, "invalid_ts"),
                (m, "s1", "2024-01-01", 1.0, "invalid_ts"),  # a date is not an RFC 3339 date-time
                (m, "s1", t_first, None, "null_value"),
                (m, "s1", t_first, float("nan"), "nan_value"),
                (m, "s1", t_first, float("-inf"), "infinite_value"),
            ]
            frows += [(b[0], b[1], ("TEXT", b[2]) if isinstance(b[2], str) else b[2], b[3], b[4]) for b in bad]
            frows += [r for r in frows[:3] if len(r) == 4]  # exact duplicates in place
            for b in bad:
                expected_rejects[b[4]] += 1

    files_written = 0
    used = defaultdict(set)
    for i, (path, frows) in enumerate(sorted(by_file.items())):
        ts_raw = [r[2] for r in frows]
        has_text = any(isinstance(t, tuple) for t in ts_raw)
        ts_int = [None if isinstance(t, tuple) else t for t in ts_raw]
        tkind = ts_kind_for(ts_int, i, used["ts"])
        if has_text:  # invalid text only fits a string column: format the rest, then patch
            tkind = ["str_z", "str_nozone", "str_offset"][i % 3]
            texts = ts_array(ts_int, tkind).cast(pa.string()).to_pylist()
            ts_col = pa.array([t[1] if isinstance(t, tuple) else x for t, x in zip(ts_raw, texts)], pa.string())
        else:
            ts_col = ts_array(ts_int, tkind)
        values = [r[3] for r in frows]
        vkind = value_kind_for(values, i // 2, used["value"])
        cols = {"ts": ts_col, "value": value_array(values, vkind)}
        used["ts"].add(tkind)
        used["value"].add(vkind)
        if "nokey" not in path.name:
            kk = pick(KEY_KINDS, used["series_key"], i // 4)
            used["series_key"].add(kk)
            keys = [r[1] for r in frows]
            cols["series_key"] = {"utf8": pa.array(keys, pa.string()), "large_utf8": pa.array(keys, pa.large_string()),
                                  "dict": pa.array(keys, pa.string()).dictionary_encode()}[kk]
        if i % 5 in (1, 3):  # metric_id present (equal to the path's metric) and an extra column
            cols = {"source": pa.array(["x"] * len(frows)), **cols,
                    "metric_id": pa.array([frows[0][0]] * len(frows)).dictionary_encode()}
        # Parquet has no seconds unit (pyarrow stores ts_s as ms); ts_us_utc files alternate
        # with the legacy INT96 physical type.
        int96 = tkind == "ts_us_utc" and "int96" not in used["ts"]
        used["ts"].add("int96") if int96 else None
        write_file(path, cols, int96=int96)
        rows_in_good_files += len(frows)
        files_written += 1

    # A replay file re-sending G/s1 rows of day 1 in another encoding (all duplicates), plus
    # one row whose metric_id mismatches, and one with a null metric_id (kept).
    d1 = [r for r in rows if r[0] == "G" and r[1] == "s1" and r[2] < T0 + 24 * H]
    extra_t = T0 + 7 * H + 17 * 10**9  # a new event in hour 7 (null metric_id: allowed)
    replay_ts = [r[2] for r in d1] + [T0 + 3 * H, extra_t]
    write_file(day_dir(lake, "G", T0) / "replay-0001.parquet", {
        "value": pa.array([r[3] for r in d1] + [555.0, 0.25], pa.float64()),
        "ts": ts_array(replay_ts, "str_offset"),
        "series_key": pa.array(["s1"] * (len(d1) + 2), pa.large_string()),
        "metric_id": pa.array(["G"] * len(d1) + ["R", None], pa.string()),
    })
    rows_in_good_files += len(d1) + 2
    files_written += 1
    expected_rejects["metric_mismatch"] += 1

    write_file(day_dir(lake, "A", T0) / "replay-0001.parquet", {
        "ts": ts_array([T0], "ts_ns_plus2"), "value": pa.array([-0.0]),
        "series_key": pa.array(["zeros"]).dictionary_encode()})
    rows_in_good_files += 1
    files_written += 1

    # Unconfigured metric X: every row rejected.
    write_file(day_dir(lake, "X", T0) / "part-0000.parquet",
               {"ts": ts_array([T0, T0 + H], "ts_ms"), "value": pa.array([1.0, 2.0])})
    rows_in_good_files += 2
    files_written += 1
    expected_rejects["unknown_metric"] += 2

    # Bad files, each skipped whole.
    bad_dir = day_dir(lake, "G", T0 + 24 * H)
    (bad_dir / "not-parquet.parquet").write_text("this is not parquet\n")
    write_file(bad_dir / "no-value.parquet", {"ts": ts_array([T0], "ts_ms"), "amount": pa.array([1.0])})
    write_file(bad_dir / "text-value.parquet", {"ts": ts_array([T0], "ts_ms"), "value": pa.array(["1.0"])})
    body = (day_dir(lake, "G", T0) / "part-s1.parquet").read_bytes()
    (bad_dir / "truncated.parquet").write_bytes(body[: len(body) // 2])
    return {
        "used": used,
        "files": files_written + 4,
        "files_failed": 4,
        "rows_read": rows_in_good_files,
        "rows_rejected": dict(sorted(expected_rejects.items())),
        # in-place duplicates, plus the replay (all duplicates but the two extra rows).
        "extra_rows": [("G", "s1", extra_t, 0.25)],
    }


# ---------------------------------------------------------------------------------------
# A naive reference implementation of sections 3-4 (loops, exact statistics)
# ---------------------------------------------------------------------------------------
def reference(rows: list[tuple], out: Path) -> None:
    series: dict[tuple, set] = defaultdict(set)
    for m, k, t, v in rows:
        series[(m, k or "_all")].add((t, v + 0.0))  # a set: exact duplicates vanish
    parts: dict[tuple, list] = defaultdict(list)
    for (m, k), events in sorted(series.items()):
        buckets: dict[int, list] = defaultdict(list)
        for t, v in events:
            buckets[t // H].append((t, v))
        agg = {}
        for b, evs in buckets.items():
            vals = [v for _, v in evs]
            agg[b] = {"sum": math.fsum(vals), "mean": statistics.fmean(vals), "last": max(evs)[1]}[AGG[m]]
        first, last = min(agg), max(agg)
        obs = sorted(agg)
        value, imputed = {}, {}
        for b in range(first, last + 1):
            value[b], imputed[b] = agg.get(b), False
        for b0, b1 in zip(obs, obs[1:]):
            missing = b1 - b0 - 1
            if 1 <= missing <= 3:
                for j in range(1, missing + 1):
                    value[b0 + j] = agg[b0] + (agg[b1] - agg[b0]) * j / (missing + 1)
                    imputed[b0 + j] = True
        for b in range(first, last + 1):
            v = value[b]
            lag = {h: value.get(b - h) for h in (1, 24, 168)}

            def stats(hours, min_count):
                w = [value.get(x) for x in range(b - hours + 1, b + 1)]
                w = [x for x in w if x is not None]
                if len(w) < min_count:
                    return None, None
                return statistics.fmean(w), (statistics.stdev(w) if len(w) >= 2 else None)

            m24, s24 = stats(24, 12)
            m168, s168 = stats(168, 84)

            def total(hours, min_count):
                w = [value.get(x) for x in range(b - hours + 1, b + 1)]
                w = [x for x in w if x is not None]
                return (math.fsum(w), statistics.fmean(w)) if len(w) >= min_count else (None, None)

            sum168, _ = total(168, 84)
            sum720, mean720 = total(720, 360)
            diff = None if v is None or lag[24] is None else v - lag[24]
            pct = None if v is None or not lag[168] else (v - lag[168]) / abs(lag[168])
            z = None if v is None or m168 is None or not s168 else (v - m168) / s168
            d = dt.datetime.fromtimestamp(b * 3600, dt.timezone.utc)
            parts[(m, d.date())].append({
                "metric_id": m, "series_key": k, "ts": d, "value": v, "is_imputed": imputed[b],
                "hour": d.hour, "day_of_week": d.weekday(), "is_weekend": d.weekday() >= 5,
                "is_holiday": d.date() in HOLIDAYS[m],
                "lag_1h": lag[1], "lag_24h": lag[24], "lag_168h": lag[168],
                "roll_mean_24h": m24, "roll_std_24h": s24, "roll_mean_168h": m168, "roll_std_168h": s168,
                "diff_24h": diff, "pct_change_168h": pct, "zscore_168h": z,
                "is_outlier": z is not None and abs(z) > OUTLIER_Z[m],
                "roll_sum_168h": sum168, "roll_sum_720h": sum720, "roll_mean_720h": mean720,
            })
    for (m, date), prows in parts.items():
        prows.sort(key=lambda r: (r["series_key"], r["ts"]))
        target = out / f"silver/gras/features/metric={m}/date={date}/part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(prows, schema=SILVER_SCHEMA), target)


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------
def cell(out: Path, metric: str, key: str, hour: int) -> dict:
    t = dt.datetime.fromtimestamp((T0 + hour * H) // 10**9, dt.timezone.utc)
    table = pq.read_table(out / f"silver/gras/features/metric={metric}/date={t.date()}/part-0.parquet")
    for r in table.to_pylist():
        if r["series_key"] == key and r["ts"] == t:
            return r
    raise AssertionError(f"no row {metric}/{key} at hour {hour}")


def close(a, b) -> bool:
    return a is not None and abs(a - b) <= 1e-12 * max(1.0, abs(b))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="gras-pandas-test-"))
    if args.keep and tmp.exists():
        shutil.rmtree(tmp)
    lake, out, ref = tmp / "lake", tmp / "pandas_out", tmp / "reference"
    (tmp / "gras.toml").parent.mkdir(parents=True, exist_ok=True)
    (tmp / "gras.toml").write_text(CONFIG)
    expected = build_lake(lake)
    failures = []
    for what, kinds in (("ts", TS_KINDS), ("value", VALUE_KINDS), ("series_key", KEY_KINDS)):
        missing = set(kinds) - expected["used"][what]
        if missing:
            print(f"FAIL the test lake lacks {what} encodings {sorted(missing)}")
            failures.append(f"{what} coverage")

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    run = subprocess.run(
        [sys.executable, str(HERE / "pandas_features.py"), "--lake", str(lake), "--config", str(tmp / "gras.toml"),
         "--out", str(out)], capture_output=True, text=True)
    print(run.stderr.strip())
    check(run.returncode == 0, f"pandas_features.py exits 0 ({run.returncode})")
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(summary))
    for k in ("files", "files_failed", "rows_read", "rows_rejected"):
        check(summary[k] == expected[k], f"summary {k} = {summary[k]} (expected {expected[k]})")
    check(run.stderr.count("skipped") == 4, "4 bad files reported on stderr")

    # Hand-computed cells (G/s1 values: v(h) = q(100 + 10 sin h + h)).
    v = {h: q(100 + 10 * math.sin(h) + h) for h in range(240)}
    actual = dict(v)
    actual[7] += 0.25  # the replay file's extra event
    r = cell(out, "G", "s1", 0)
    check(r["value"] == v[0] and r["is_holiday"] and r["day_of_week"] == 0 and not r["is_weekend"],
          f"G/s1 h0: two sub-hour events summed ({r['value']} == {v[0]}), Monday holiday")
    check(r["lag_1h"] is None and r["roll_mean_24h"] is None, "G/s1 h0: no lag, rolling null below 12 values")
    r = cell(out, "G", "s1", 3)
    check(r["value"] == v[3], "G/s1 h3: replayed rows are duplicates; the mismatching-metric row is rejected")
    r = cell(out, "G", "s1", 5)
    check(r["value"] == v[5], "G/s1 h5: same ts, different values are both kept (1.5 + rest)")
    r = cell(out, "G", "s1", 7)
    check(r["value"] == v[7] + 0.25, "G/s1 h7: row with null metric_id kept")
    for h, j in ((10, 1), (11, 2), (12, 3)):
        r = cell(out, "G", "s1", h)
        want = v[9] + (v[13] - v[9]) * j / 4
        check(r["is_imputed"] and close(r["value"], want), f"G/s1 h{h}: gap of 3 interpolated {r['value']} ~ {want}")
    for h in range(20, 24):
        r = cell(out, "G", "s1", h)
        check(r["value"] is None and not r["is_imputed"], f"G/s1 h{h}: gap of 4 stays null, not imputed")
    r = cell(out, "G", "s1", 24)
    check(r["lag_1h"] is None and r["lag_24h"] == v[0] and r["diff_24h"] == v[24] - v[0],
          "G/s1 h24: lag_1h null (gap), lag_24h and diff_24h")
    window = [actual[h] if h not in (10, 11, 12) else v[9] + (v[13] - v[9]) * (h - 9) / 4
              for h in range(7, 31) if not 20 <= h <= 23]
    r = cell(out, "G", "s1", 30)
    check(len(window) == 20 and close(r["roll_mean_24h"], statistics.fmean(window))
          and close(r["roll_std_24h"], statistics.stdev(window)),
          f"G/s1 h30: 24h mean/std over 20 non-null values ({r['roll_mean_24h']}, {r['roll_std_24h']})")
    r = cell(out, "G", "s1", 160)  # window 137..160: only 10 non-null (151..160)
    check(r["roll_mean_24h"] is None and r["roll_std_24h"] is None, "G/s1 h160: 10 values < 12 -> null")
    r = cell(out, "G", "s1", 162)  # 12 non-null values 151..162
    check(close(r["roll_mean_24h"], statistics.fmean(v[h] for h in range(151, 163))), "G/s1 h162: 12 values -> mean")
    r = cell(out, "G", "s1", 200)
    w = [v[h] * (8 if h == 200 else 1) for h in range(33, 201) if not 100 <= h <= 150]
    z = (v[200] * 8 - statistics.fmean(w)) / statistics.stdev(w)
    check(close(r["zscore_168h"], z) and r["is_outlier"], f"G/s1 h200: spike z={r['zscore_168h']:.3f} ~ {z:.3f} is an outlier")
    check(close(r["pct_change_168h"], (v[200] * 8 - v[32]) / abs(v[32])), "G/s1 h200: pct_change_168h")
    r = cell(out, "G", "s1", 5 * 24 + 3)  # 2024-01-06, Saturday, holiday from a TOML date
    check(r["is_weekend"] and r["day_of_week"] == 5 and r["is_holiday"] and r["hour"] == 3, "G 2024-01-06: Saturday, holiday, hour 3")
    r = cell(out, "G", "const", 190)
    check(r["roll_std_168h"] == 0.0 and r["roll_std_24h"] == 0.0 and r["zscore_168h"] is None and not r["is_outlier"]
          and r["roll_mean_168h"] == 7.0 and r["pct_change_168h"] == 0.0,
          "G/const: std exactly 0, zscore null, pct_change 0")
    for h, want in ((170, None), (178, (178 - 10) / 10)):
        r = cell(out, "G", "zero", h)
        check(r["pct_change_168h"] == want if want is None else close(r["pct_change_168h"], want),
              f"G/zero h{h}: pct_change_168h {r['pct_change_168h']} (lag {r['lag_168h']})")
    r = cell(out, "G", "_all", 24)
    check(r["value"] == q(1000 + 50 * math.cos(8)), "G/_all: null series_key and a file without the column")
    r = cell(out, "A", "m1", 2)
    check(close(r["value"], statistics.fmean([q(20 + 2 / 4 + k) for k in range(3)])), "A/m1 h2: mean of 3 readings")
    r = cell(out, "A", "m1", 50)
    check(r["is_holiday"] and r["day_of_week"] == 2, "A 2024-01-03: metric's own holiday")
    check(not cell(out, "G", "s1", 50)["is_holiday"], "G 2024-01-03: not a holiday for G")
    check(cell(out, "A", "zeros", 0)["value"] == 2.0, "A/zeros h0: -0.0 duplicates 0.0 (mean 2.0)")
    check(cell(out, "A", "m1", 31)["value"] is None, "A/m1: 4-bucket gap null")
    check(cell(out, "L", "k", 1)["value"] == 9.25, "L/k h1: last, tie on ts -> greatest value")
    check(cell(out, "L", "k", 2)["value"] == -1.0, "L/k h2: last = greatest ts, not greatest value")

    # v2 totals (G/month: v(h) = h % 13 + 1, hours 300..420 missing).
    month = {h: float(h % 13 + 1) for h in range(800) if not 300 <= h <= 420}
    r = cell(out, "G", "month", 799)
    w = [month[h] for h in range(80, 800) if h in month]
    check(len(w) == 599 and close(r["roll_sum_720h"], math.fsum(w)) and close(r["roll_mean_720h"], statistics.fmean(w))
          and close(r["roll_sum_168h"], math.fsum(month[h] for h in range(632, 800))),
          f"G/month h799: 720h sum/mean over 599 values, 168h sum ({r['roll_sum_720h']}, {r['roll_mean_720h']})")
    r = cell(out, "G", "month", 480)
    check(r["roll_sum_720h"] is not None and r["roll_sum_168h"] is None, "G/month h480: 360 of 720 -> total; 60 of 168 -> null")
    r = cell(out, "G", "month", 479)
    check(r["roll_sum_720h"] is None and r["roll_mean_720h"] is None, "G/month h479: 359 values < 360 -> null")

    # Schema and order of one partition.
    t = pq.read_table(out / "silver/gras/features/metric=L/date=2024-01-01/part-0.parquet")
    check(t.schema.remove_metadata().equals(SILVER_SCHEMA), "silver schema equals contract section 4")
    keys = t.column("series_key").to_pylist()
    check(keys == sorted(keys) and keys[-1] == "ünï cödé", "rows sorted by series_key (code point order)")

    # Full comparison against the naive reference.
    good = [r for r in clean_rows()] + expected["extra_rows"]
    reference(good, ref)
    cmp = subprocess.run([sys.executable, str(HERE / "compare_silver.py"), str(ref), str(out)], capture_output=True, text=True)
    print(cmp.stdout)
    check(cmp.returncode == 0, "compare_silver: pandas output == naive reference")

    # compare_silver must notice a perturbed cell, a missing partition, a schema change.
    p = ref / "silver/gras/features/metric=G/date=2024-01-05/part-0.parquet"
    t = pq.read_table(p)
    vals = t.column("roll_mean_24h").to_pylist()
    i = next(j for j, x in enumerate(vals) if x is not None)
    vals[i] *= 1 + 1e-7
    pq.write_table(t.set_column(t.schema.get_field_index("roll_mean_24h"), "roll_mean_24h",
                                pa.array(vals, pa.float64())), p)
    cmp = subprocess.run([sys.executable, str(HERE / "compare_silver.py"), str(ref), str(out)], capture_output=True, text=True)
    check(cmp.returncode == 1 and "roll_mean_24h" in cmp.stdout, "compare_silver: detects a 1e-7 relative change")
    vals[i] /= 1 + 1e-7
    vals[i] *= 1 + 1e-11
    pq.write_table(t.set_column(t.schema.get_field_index("roll_mean_24h"), "roll_mean_24h",
                                pa.array(vals, pa.float64())), p)
    cmp = subprocess.run([sys.executable, str(HERE / "compare_silver.py"), str(ref), str(out)], capture_output=True, text=True)
    check(cmp.returncode == 0, "compare_silver: tolerates a 1e-11 relative change")
    pq.write_table(t.set_column(t.schema.get_field_index("hour"), "hour", t.column("hour").cast(pa.int64())), p)
    cmp = subprocess.run([sys.executable, str(HERE / "compare_silver.py"), str(ref), str(out)], capture_output=True, text=True)
    check(cmp.returncode == 1 and "schema differs" in cmp.stdout, "compare_silver: detects a type change")
    p.unlink()
    cmp = subprocess.run([sys.executable, str(HERE / "compare_silver.py"), str(ref), str(out)], capture_output=True, text=True)
    check(cmp.returncode == 1 and "only in B" in cmp.stdout, "compare_silver: detects a missing partition")

    if not args.keep:
        shutil.rmtree(tmp)
    print(f"\n{len(failures)} failure(s)" if failures else "\nall checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
