"""The I/O floor of the batch features job in pyarrow (issue 2): how long C++ Arrow, the
library under pandas_features.py, takes only to read and decode a lake's bronze files and to
encode and write its silver partitions, with none of the work between them.

    python3 bench/pyarrow_floor.py LAKE [RUNS]     # LAKE after `gras features` (it needs silver)

The counterpart of shared/examples/io_floor.rs, on the same lake. Each run, on a thread pool
of one worker per CPU (pyarrow releases the GIL while it decodes and encodes):
- read: every bronze file's needed columns (`ts`, `value`, `metric_id`, `series_key`) read
  and decoded; `ts` cast to nanosecond timestamps (text parsed by Arrow's ISO 8601 parser;
  int64 as epoch milliseconds), `value` to float64. Looser than the contract's step 1 (no
  per-row rejection reasons), so a lower bound of pandas_features.py's reading;
- write_zstd: every silver partition of the lake, read into Arrow tables before the clock
  starts, written with zstd as pandas_features.py writes it (pyarrow's defaults);
  write_zstd_gras: the same with gras's dictionary choices (none for the timestamp and float
  columns); write_snappy: pyarrow's defaults with snappy.
Prints one line per run and a "median:" line. Files go to LAKE/.pyarrow_floor/ (removed).
"""
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TS = pa.timestamp("ns", "UTC")


def dictionary_columns(path: Path) -> list[str]:
    """The columns gras wrote dictionary-encoded in this silver file (silver::writer_properties
    turns dictionaries off for the timestamp and float columns)."""
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return [group.column(j).path_in_schema for j in range(group.num_columns)
            if any("DICTIONARY" in e for e in group.column(j).encodings)]


def read(path: Path) -> int:
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    table = pf.read(columns=[c for c in ("ts", "value", "metric_id", "series_key") if c in names])
    ts = table["ts"].combine_chunks()
    if pa.types.is_string(ts.type):
        try:
            ts = pc.cast(ts, TS)  # RFC 3339 text with a zone
        except pa.ArrowInvalid:
            ts = pc.cast(ts, pa.timestamp("ns"))  # the generator also writes text without one
    elif pa.types.is_int64(ts.type):
        ts = pc.multiply(ts, 1_000_000)  # epoch milliseconds
    else:
        ts = pc.cast(ts, TS)
    pc.cast(table["value"].combine_chunks(), pa.float64(), safe=False)
    return len(ts)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print("usage: pyarrow_floor.py LAKE [RUNS]", file=sys.stderr)
        return 2
    lake, runs = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) == 3 else 5
    bronze = sorted((lake / "bronze").rglob("*.parquet"))
    silver = sorted((lake / "silver").rglob("*.parquet"))
    if not bronze or not silver:
        print(f"{lake} needs bronze and silver files (run `gras features` on it first)", file=sys.stderr)
        return 2
    tables = [pq.read_table(p) for p in silver]
    scratch = lake / ".pyarrow_floor"
    scratch.mkdir(exist_ok=True)
    gras_dictionary = dictionary_columns(silver[0])
    writers = {
        "write_zstd": dict(compression="zstd"),
        "write_zstd_gras": dict(compression="zstd", use_dictionary=gras_dictionary),
        "write_snappy": dict(compression="snappy"),
    }
    pool = ThreadPoolExecutor(max_workers=os.cpu_count())
    print(f"{len(bronze)} bronze files, {len(tables)} silver partitions "
          f"({sum(t.num_rows for t in tables)} rows), {os.cpu_count()} threads, pyarrow {pa.__version__}")
    results: dict[str, list[float]] = {"read": [], **{w: [] for w in writers}}
    for run in range(1, runs + 1):
        start = time.perf_counter()
        rows = sum(pool.map(read, bronze))
        results["read"].append(time.perf_counter() - start)
        for name, kwargs in writers.items():
            start = time.perf_counter()
            list(pool.map(lambda it: pq.write_table(it[1], scratch / f"{it[0]}.parquet", **kwargs),
                          enumerate(tables)))
            results[name].append(time.perf_counter() - start)
        print(f"run {run}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in results.items()) + f" ({rows} rows)")
    shutil.rmtree(scratch)
    m = {k: statistics.median(v) for k, v in results.items()}
    print("median: " + ", ".join(f"{k} {v:.3f} s" for k, v in m.items())
          + f"; floor read+write_zstd {m['read'] + m['write_zstd']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
