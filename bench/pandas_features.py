#!/usr/bin/env python3
"""Independent pandas implementation of the GRAS data contract, sections 2-4.

Bronze Parquet files -> cleansing -> silver feature partitions, written the way one would
write it with pandas (groupby, reindex, rolling, interpolate), as a reference to check the
Rust pipeline against (`bench/compare_silver.py`) and to benchmark it (`bench/features_bench.sh`).

    python3 bench/pandas_features.py --lake DIR --config config/gras.toml --out OUTDIR

Reads every `*.parquet` under `DIR/bronze/gras/` and writes
`OUTDIR/silver/gras/features/metric=<M>/date=<YYYY-MM-DD>/part-0.parquet`. Existing
partitions with the same name are overwritten, other files under OUTDIR are left alone, so
use a fresh OUTDIR for a clean comparison. One JSON summary line goes to stdout; skipped
files are reported on stderr.

The contract (shared/spec/CONTRACT.md) is the only source of truth for this file; the Rust
code is deliberately not consulted for semantics. The reject-reason names are the ones the
`gras` summary line prints so the two summaries can be compared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

NS_PER_MINUTE = 60 * 10**9
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR

# Contract section 3, step 4: gaps of at most this many missing buckets are interpolated.
MAX_INTERPOLATED_GAP = 3
# Contract section 4: rolling windows (in hours, t-(h-1)h .. t) and their minimum counts.
ROLLING = {"24h": (24, 12), "168h": (168, 84)}
ALL_SERIES = "_all"

# Contract section 4, in column order. Only the float features (and value) are nullable.
FLOAT_FEATURES = [
    "lag_1h", "lag_24h", "lag_168h",
    "roll_mean_24h", "roll_std_24h", "roll_mean_168h", "roll_std_168h",
    "diff_24h", "pct_change_168h", "zscore_168h",
]
# Contract v2, section 4: window totals (after is_outlier): name -> (hours, minimum count,
# "sum" or "mean").
TOTALS = {
    "roll_sum_168h": (168, 84, "sum"),
    "roll_sum_720h": (720, 360, "sum"),
    "roll_mean_720h": (720, 360, "mean"),
}
SILVER_SCHEMA = pa.schema(
    [
        pa.field("metric_id", pa.string(), nullable=False),
        pa.field("series_key", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("is_imputed", pa.bool_(), nullable=False),
        pa.field("hour", pa.int32(), nullable=False),
        pa.field("day_of_week", pa.int32(), nullable=False),
        pa.field("is_weekend", pa.bool_(), nullable=False),
        pa.field("is_holiday", pa.bool_(), nullable=False),
        *[pa.field(name, pa.float64()) for name in FLOAT_FEATURES],
        pa.field("is_outlier", pa.bool_(), nullable=False),
        *[pa.field(name, pa.float64()) for name in TOTALS],
    ]
)

# Row reject reasons (contract section 3, step 1), checked in this order: a row counts
# once, under the first reason that applies.
REASONS = [
    None,  # code 0: accepted
    "null_ts",
    "invalid_ts",  # unparseable RFC 3339 text, or an instant outside the int64-ns range
    "null_value",
    "nan_value",
    "infinite_value",
    "metric_mismatch",  # metric_id column differs from the path's metric=<M>
    "unknown_metric",
    "ts_out_of_range",  # v2: outside the metric's ts_range (half-open)
    "value_out_of_range",  # v2: |value| > the metric's max_abs_value
]
CODE = {name: i for i, name in enumerate(REASONS)}

# RFC 3339 date-time (seconds mandatory, optional fraction), zone optional (= UTC), and
# ' ' accepted for 'T'; matched after upper-casing. pandas alone would also accept e.g. a
# bare date.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"


# ---------------------------------------------------------------------------------------
# Configuration (contract section 1)
# ---------------------------------------------------------------------------------------
@dataclass
class MetricCfg:
    aggregation: str  # sum | mean | last
    width_ns: int  # bucket width
    per_hour: int  # buckets per hour
    outlier_z: float
    holiday_days: np.ndarray  # holiday dates as days since 1970-01-01 (UTC)
    ts_from_ns: int  # v2 bounds (contract section 3): ts in [ts_from_ns, ts_until_ns)
    ts_until_ns: int
    max_abs_value: float  # |value| <= max_abs_value


def parse_frequency(text: str) -> int:
    """`1h`, `<n>m`, `<n>min` -> minutes; the width must divide one hour (features are
    defined in hours: lags of 1h/24h/168h must land on buckets)."""
    m = re.fullmatch(r"(\d+)(h|min|m)", text)
    minutes = None if m is None else int(m[1]) * (60 if m[2] == "h" else 1)
    if not minutes or 60 % minutes != 0:
        raise ValueError(f"unsupported frequency {text!r}: use a width dividing one hour")
    return minutes


def as_epoch_day(d) -> int:
    if isinstance(d, str):
        d = dt.date.fromisoformat(d)
    return (d - dt.date(1970, 1, 1)).days


def instant_ns(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def bounds(table: dict, base: tuple[int, int, float]) -> tuple[int, int, float]:
    lo, hi, mx = base
    if "ts_range" in table:
        lo, hi = (instant_ns(t) for t in table["ts_range"])
    return lo, hi, float(table.get("max_abs_value", mx))


def load_config(path: Path) -> dict[str, MetricCfg]:
    raw = tomllib.loads(path.read_text())
    shared = [as_epoch_day(d) for d in raw.get("holidays", [])]
    top = bounds(raw, (instant_ns("2000-01-01T00:00:00Z"), instant_ns("2100-01-01T00:00:00Z"), 1e15))
    out = {}
    for metric, m in raw.get("metrics", {}).items():
        default_agg = "mean" if metric in ("A", "S") else "sum"
        aggregation = m.get("aggregation", default_agg)
        if aggregation not in ("sum", "mean", "last"):
            raise ValueError(f"metrics.{metric}.aggregation = {aggregation!r}")
        minutes = parse_frequency(m.get("frequency", "1h"))
        own = [as_epoch_day(d) for d in m.get("holidays", [])]
        ts_from, ts_until, max_abs = bounds(m, top)
        out[metric] = MetricCfg(
            aggregation=aggregation,
            width_ns=minutes * NS_PER_MINUTE,
            per_hour=60 // minutes,
            outlier_z=float(m.get("outlier_z", 3.0)),
            holiday_days=np.array(sorted(set(shared + own)), dtype=np.int64),
            ts_from_ns=ts_from, ts_until_ns=ts_until, max_abs_value=max_abs,
        )
    if not out:
        raise ValueError("no metrics configured")
    return out


# ---------------------------------------------------------------------------------------
# Bronze (contract section 2) and cleansing step 1
# ---------------------------------------------------------------------------------------
class SkipFile(Exception):
    """The whole file is rejected (not Parquet, truncated, missing or unusable column)."""


def metric_from_path(path: Path) -> str | None:
    for part in path.parts:
        if part.startswith("metric="):
            return part[len("metric="):]
    return None


def plain(col: pa.ChunkedArray) -> pa.Array:
    """One contiguous array, dictionary-decoded."""
    arr = col.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def is_stringy(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def decode_ts(arr: pa.Array, reason: np.ndarray) -> np.ndarray:
    """Event times as int64 nanoseconds since the epoch (UTC); marks null/invalid rows."""
    null = arr.is_null().to_numpy(zero_copy_only=False)
    reason[(reason == 0) & null] = CODE["null_ts"]
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_int64(t):
        # A zoned timestamp stores the UTC instant, so the raw int64 is already UTC.
        # int64 means epoch milliseconds (contract section 2).
        unit = t.unit if pa.types.is_timestamp(t) else "ms"
        factor = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
        raw = arr.cast(pa.int64()).fill_null(0).to_numpy()
        limit = np.iinfo(np.int64).max // factor
        out_of_range = (raw > limit) | (raw < -limit)  # as nanoseconds it would overflow
        reason[(reason == 0) & out_of_range] = CODE["invalid_ts"]
        return np.where(out_of_range, 0, raw) * factor
    if is_stringy(t):
        # RFC 3339 allows lowercase 't' and 'z'; pandas' ISO 8601 parser does not.
        text = pc.utf8_upper(pc.utf8_trim_whitespace(arr.cast(pa.string())))
        ok = pc.fill_null(pc.match_substring_regex(text, RFC3339), False).to_numpy(zero_copy_only=False)
        parsed = pd.to_datetime(
            text.to_pandas().where(ok),  # unmatched text -> NaT
            format="ISO8601", utc=True, errors="coerce",
        ).dt.as_unit("ns")
        bad = parsed.isna().to_numpy() & ~null
        reason[(reason == 0) & bad] = CODE["invalid_ts"]
        return np.where(parsed.isna().to_numpy(), 0, parsed.array.asi8)
    raise SkipFile(f"column `ts` has unsupported type {t}")


def is_value_type(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def decode_value(arr: pa.Array, reason: np.ndarray) -> np.ndarray:
    """Values as float64; marks null/NaN/infinite rows."""
    t = arr.type
    if not is_value_type(t):
        raise SkipFile(f"column `value` has unsupported type {t}")
    null = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_decimal(t):
        # Through the decimal text, so the float is the correctly rounded decimal value
        # (a direct decimal->float64 cast can be one ulp off).
        arr = arr.cast(pa.string())
    values = arr.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    for name, mask in (
        ("null_value", null),
        ("nan_value", np.isnan(values) & ~null),
        ("infinite_value", np.isinf(values)),
    ):
        reason[(reason == 0) & mask] = CODE[name]
    # -0.0 and 0.0 are the same value for exact-duplicate detection (pandas' hashing
    # already agrees; normalising keeps it independent of that detail).
    return values + 0.0


def read_bronze(path: Path, metrics: dict[str, MetricCfg]) -> tuple[pd.DataFrame, int, Counter]:
    """Reads one bronze file: (accepted rows [metric, series_key, ts_ns, value], rows read,
    rejected rows by reason). Raises SkipFile when the file is unusable as a whole."""
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        for required in ("ts", "value"):
            if required not in names:
                raise SkipFile(f"required column `{required}` is missing")
        wanted = [c for c in ("ts", "value", "metric_id", "series_key") if c in names]
        table = pf.read(columns=wanted)
    except SkipFile:
        raise
    except Exception as e:  # not Parquet, truncated, corrupt
        raise SkipFile(f"not a readable Parquet file: {e}") from e

    n = table.num_rows
    reason = np.zeros(n, dtype=np.int8)
    ts_ns = decode_ts(plain(table["ts"]), reason)
    value = decode_value(plain(table["value"]), reason)

    def text_column(name: str) -> pa.Array | None:
        if name not in table.column_names:
            return None
        arr = plain(table[name])
        if not is_stringy(arr.type) and not pa.types.is_null(arr.type):
            raise SkipFile(f"column `{name}` has unsupported type {arr.type}")
        return arr.cast(pa.string())

    path_metric = metric_from_path(path)
    metric_col = text_column("metric_id")
    if path_metric is not None:
        metric = np.full(n, path_metric, dtype=object)
        if metric_col is not None:
            differs = pc.fill_null(pc.not_equal(metric_col, path_metric), False)
            reason[(reason == 0) & differs.to_numpy(zero_copy_only=False)] = CODE["metric_mismatch"]
    elif metric_col is not None:  # no metric= in the path: the row's metric_id decides
        metric = np.asarray(metric_col.to_pandas(), dtype=object)
    else:
        metric = np.full(n, None, dtype=object)
    configured = np.array([m in metrics for m in metric], dtype=bool) if path_metric is None \
        else np.full(n, path_metric in metrics)
    reason[(reason == 0) & ~configured] = CODE["unknown_metric"]
    for name, cfg in metrics.items():  # v2 bounds, by each row's metric
        mine = (reason == 0) & (metric == name)
        ts_bad = (ts_ns < cfg.ts_from_ns) | (ts_ns >= cfg.ts_until_ns)
        reason[mine & ts_bad] = CODE["ts_out_of_range"]
        mine = (reason == 0) & (metric == name)
        reason[mine & (np.abs(value) > cfg.max_abs_value)] = CODE["value_out_of_range"]

    series_col = text_column("series_key")
    if series_col is None:
        series = np.full(n, ALL_SERIES, dtype=object)
    else:  # null means `_all` (contract section 1)
        series = np.asarray(pc.fill_null(series_col, ALL_SERIES).to_pandas(), dtype=object)

    keep = reason == 0
    rejected = Counter({REASONS[c]: int(k) for c, k in zip(*np.unique(reason[~keep], return_counts=True))})
    rows = pd.DataFrame(
        {"metric": metric[keep], "series_key": series[keep], "ts_ns": ts_ns[keep], "value": value[keep]}
    )
    return rows, n, rejected


# ---------------------------------------------------------------------------------------
# Cleansing steps 2-4 and features (contract sections 3 and 4), one metric at a time
# ---------------------------------------------------------------------------------------
def cleanse(rows: pd.DataFrame, cfg: MetricCfg) -> tuple[pd.DataFrame, int]:
    """Steps 2-4: the dense per-series timeline [series_key, bucket, value, is_imputed],
    sorted by series_key, bucket; and the number of exact duplicates dropped."""
    # Step 2: exact duplicates (series, ts at full precision, value) of this metric.
    before = len(rows)
    rows = rows.drop_duplicates(subset=["series_key", "ts_ns", "value"])
    duplicates = before - len(rows)

    # Step 3: bucket = floor(ts, width) in UTC (floor division also floors before 1970).
    # Sorting by (series, ts, value) makes `last` = greatest ts, ties greatest value, and
    # gives every sum one fixed order.
    rows = rows.assign(bucket=rows["ts_ns"].to_numpy() // cfg.width_ns)
    rows = rows.sort_values(["series_key", "ts_ns", "value"], kind="stable")
    grouped = rows.groupby(["series_key", "bucket"], sort=True)["value"]
    observed = {"sum": grouped.sum, "mean": grouped.mean, "last": grouped.last}[cfg.aggregation]()

    # Step 4: each series' timeline runs from its first to its last observed bucket.
    extent = observed.reset_index().groupby("series_key")["bucket"].agg(["min", "max"])
    length = (extent["max"] - extent["min"] + 1).to_numpy()
    keys = np.repeat(extent.index.to_numpy(), length)
    offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    buckets = np.repeat(extent["min"].to_numpy(), length) + offset
    grid = pd.MultiIndex.from_arrays([keys, buckets], names=["series_key", "bucket"])
    timeline = observed.reindex(grid).reset_index()

    # Gap filling. Each series' timeline starts and ends with an observed bucket, so a run
    # of missing buckets never crosses a series boundary and both operations below can run
    # over all series at once:
    # - the length of each run of missing buckets (rows of one run share `run`, the count
    #   of observed buckets before them);
    # - linear interpolation between the observed neighbours ('linear' ignores the index and
    #   treats rows as equally spaced, which they are on the dense grid).
    # interpolate(limit=3) alone would be wrong: it partially fills longer gaps. Instead only
    # runs of <= MAX_INTERPOLATED_GAP keep their interpolated values; longer gaps stay null.
    missing = timeline["value"].isna()
    run = (~missing).cumsum()
    run_length = missing.groupby(run).transform("sum")
    imputed = missing & (run_length <= MAX_INTERPOLATED_GAP)
    interpolated = timeline["value"].interpolate(method="linear", limit_area="inside")
    timeline["value"] = interpolated.where(~missing | imputed)
    timeline["is_imputed"] = imputed
    timeline["bucket"] = timeline["bucket"] * cfg.width_ns  # bucket index -> start (ns)
    return timeline, duplicates


def features(tl: pd.DataFrame, metric: str, cfg: MetricCfg) -> pd.DataFrame:
    """Section 4 over the dense timeline (sorted by series_key, bucket)."""
    value = tl["value"]
    by_series = value.groupby(tl["series_key"], sort=False)
    out = tl

    # Lags by time: on the dense grid t-h hours is exactly h*per_hour rows back within the
    # series; before the series' first bucket the lag is absent (null).
    for h in (1, 24, 168):
        out[f"lag_{h}h"] = by_series.shift(h * cfg.per_hour)

    # Rolling windows t-(h-1)h .. t: (h-1)*per_hour + 1 buckets. min_periods counts non-null
    # values, exactly the contract's "null if fewer than N are non-null".
    for name, (hours, min_count) in ROLLING.items():
        roll = by_series.rolling((hours - 1) * cfg.per_hour + 1, min_periods=min_count)
        mean = roll.mean().droplevel(0)
        std = roll.std(ddof=1).droplevel(0)  # sample std; null below 2 values by itself
        # Running sums can leave a tiny non-zero std on a constant window; the contract's
        # "std is 0" (-> zscore null) must hold exactly for an exactly constant window.
        # (pandas 2.x/3.x already special-cases constant windows; this makes it explicit.)
        constant = (roll.max().droplevel(0) == roll.min().droplevel(0)) & std.notna()
        out[f"roll_mean_{name}"] = mean
        out[f"roll_std_{name}"] = std.mask(constant, 0.0)

    out["diff_24h"] = value - out["lag_24h"]
    lag = out["lag_168h"]
    out["pct_change_168h"] = ((value - lag) / lag.abs()).where(lag.notna() & (lag != 0))
    m, s = out["roll_mean_168h"], out["roll_std_168h"]
    out["zscore_168h"] = ((value - m) / s).where(m.notna() & s.notna() & (s != 0))
    out["is_outlier"] = out["zscore_168h"].abs() > cfg.outlier_z  # NaN compares False

    # v2 totals: sums and means of the non-null values, null under the minimum count.
    for name, (hours, min_count, how) in TOTALS.items():
        roll = by_series.rolling((hours - 1) * cfg.per_hour + 1, min_periods=min_count)
        out[name] = (roll.sum() if how == "sum" else roll.mean()).droplevel(0)

    # Calendar of the bucket start, UTC.
    ts = pd.to_datetime(out["bucket"], unit="ns", utc=True)
    out["ts"] = ts
    out["hour"] = ts.dt.hour.astype("int32")
    out["day_of_week"] = ts.dt.day_of_week.astype("int32")  # 0 = Monday
    out["is_weekend"] = out["day_of_week"] >= 5
    day = out["bucket"] // NS_PER_DAY
    out["is_holiday"] = day.isin(cfg.holiday_days)
    out["day"] = day
    out["metric_id"] = metric
    return out


def write_partitions(df: pd.DataFrame, metric: str, out_dir: Path) -> int:
    """One file per UTC date; rows stay in (series_key, ts) order within each date."""
    n = 0
    for day, part in df.groupby("day", sort=True):
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
        target = out_dir / "silver/gras/features" / f"metric={metric}" / f"date={date}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part[SILVER_SCHEMA.names], schema=SILVER_SCHEMA, preserve_index=False)
        pq.write_table(table.replace_schema_metadata(None), target, compression="zstd")
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", required=True, type=Path, help="lake folder holding bronze/gras/")
    ap.add_argument("--config", required=True, type=Path, help="GRAS TOML configuration")
    ap.add_argument("--out", required=True, type=Path, help="output folder (silver/ is written under it)")
    args = ap.parse_args()
    started = time.perf_counter()
    try:
        metrics = load_config(args.config)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        print(f"pandas_features: bad configuration {args.config}: {e}", file=sys.stderr)
        return 2

    files = sorted((args.lake / "bronze" / "gras").rglob("*.parquet"))
    frames, rows_read, rejected, failed = [], 0, Counter(), 0
    for path in files:
        try:
            rows, n, rej = read_bronze(path, metrics)
        except SkipFile as e:
            failed += 1
            print(f"skipped {path}: {e}", file=sys.stderr)
            continue
        rows_read += n
        rejected += rej
        frames.append(rows)

    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"metric": [], "series_key": [], "ts_ns": np.array([], np.int64), "value": []})
    partitions = duplicates = rows_written = 0
    for metric, metric_rows in rows.groupby("metric", sort=True):
        cfg = metrics[metric]
        timeline, dups = cleanse(metric_rows.drop(columns="metric"), cfg)
        duplicates += dups
        silver = features(timeline, metric, cfg)
        partitions += write_partitions(silver, metric, args.out)
        rows_written += len(silver)

    print(json.dumps({
        "files": len(files),
        "rows_read": rows_read,
        "rows_rejected": dict(sorted(rejected.items())),
        "partitions": partitions,
        "seconds": round(time.perf_counter() - started, 3),
        "files_failed": failed,
        "duplicates": duplicates,
        "rows_written": rows_written,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
