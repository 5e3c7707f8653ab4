#!/usr/bin/env python3
"""Compares two silver trees cell by cell (contract section 4).

    python3 bench/compare_silver.py A B

A and B are lake (or output) folders; the files compared are
`<X>/silver/gras/features/metric=<M>/date=<YYYY-MM-DD>/*.parquet`. They must have the same
partitions, the same schema (column names, order and types), the same rows in the same
order, and equal cells. Floats are equal when both are null, both NaN, or equal within a
relative difference of 1e-9 (absolute floor 1e-12), the contract's allowance for
floating-point sums. Prints a summary and the first 20 differences; exits 1 on any
difference, 0 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REL_TOL = 1e-9
ABS_TOL = 1e-12
SHOW = 20
SILVER = Path("silver/gras/features")


def partitions(root: Path) -> dict[str, list[Path]]:
    """Partition (`metric=M/date=D`) -> its Parquet files."""
    base = root / SILVER
    out: dict[str, list[Path]] = {}
    for f in sorted(base.rglob("*.parquet")) if base.is_dir() else []:
        out.setdefault(f.parent.relative_to(base).as_posix(), []).append(f)
    return out


def read(files: list[Path]) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in files]) if len(files) > 1 else pq.read_table(files[0])


def fmt(v) -> str:
    return "null" if v is None else repr(v)


def compare_column(name: str, a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    """Indices of rows whose cells differ."""
    a, b = a.combine_chunks(), b.combine_chunks()
    a_null = a.is_null().to_numpy(zero_copy_only=False)
    b_null = b.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(a.type) and pa.types.is_floating(b.type):
        x = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
        y = b.cast(pa.float64()).to_numpy(zero_copy_only=False)
        x_nan, y_nan = np.isnan(x) & ~a_null, np.isnan(y) & ~b_null
        with np.errstate(invalid="ignore", over="ignore"):
            scale = np.maximum(np.abs(x), np.abs(y))
            close = (x == y) | (np.abs(x - y) <= np.maximum(REL_TOL * scale, ABS_TOL))
        same = np.where(
            a_null | b_null, a_null & b_null,
            np.where(x_nan | y_nan, x_nan & y_nan, close),
        )
    else:
        eq = a.equals(b)
        if eq:
            return np.array([], dtype=np.int64)
        try:
            same = np.asarray(pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            same = np.array([x == y for x, y in zip(a.to_pylist(), b.to_pylist())])
        same = np.where(a_null | b_null, a_null & b_null, same)
    return np.flatnonzero(~same)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root_a, root_b = Path(argv[1]), Path(argv[2])
    pa_a, pa_b = partitions(root_a), partitions(root_b)
    if not pa_a and not pa_b:
        print(f"no silver partitions under {root_a / SILVER} nor {root_b / SILVER}", file=sys.stderr)
        return 2

    diffs: list[str] = []
    n_diff = 0
    rows_compared = 0
    cells_differing: dict[str, int] = {}

    def note(msg: str) -> None:
        nonlocal n_diff
        n_diff += 1
        if len(diffs) < SHOW:
            diffs.append(msg)

    warnings: list[str] = []

    for p in sorted(set(pa_a) - set(pa_b)):
        note(f"{p}: partition only in A")
    for p in sorted(set(pa_b) - set(pa_a)):
        note(f"{p}: partition only in B")

    common = sorted(set(pa_a) & set(pa_b))
    for p in common:
        ta, tb = read(pa_a[p]), read(pa_b[p])
        sa, sb = ta.schema, tb.schema
        if sa.names != sb.names or [f.type for f in sa] != [f.type for f in sb]:
            note(f"{p}: schema differs:\n  A: {[(f.name, str(f.type)) for f in sa]}\n  B: {[(f.name, str(f.type)) for f in sb]}")
            # Compare what can be compared: the shared columns.
        elif [f.nullable for f in sa] != [f.nullable for f in sb] and len(warnings) < SHOW:
            # Not a difference in names or types; reported, not counted.
            warnings.append(f"{p}: nullability differs: A {[f.name for f in sa if not f.nullable]} "
                            f"required, B {[f.name for f in sb if not f.nullable]} required")
        if ta.num_rows != tb.num_rows:
            note(f"{p}: {ta.num_rows} rows in A, {tb.num_rows} in B")
            n = min(ta.num_rows, tb.num_rows)
            ta, tb = ta.slice(0, n), tb.slice(0, n)
        rows_compared += ta.num_rows
        key_a = ta.column("series_key").to_pylist() if "series_key" in sa.names else None
        ts_a = ta.column("ts").to_pylist() if "ts" in sa.names else None
        for name in [c for c in sa.names if c in sb.names]:
            ca, cb = ta.column(name), tb.column(name)
            if ca.type != cb.type and not (pa.types.is_floating(ca.type) and pa.types.is_floating(cb.type)):
                try:
                    cb = cb.cast(ca.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    note(f"{p}: column {name}: types {ca.type} and {cb.type} are not comparable")
                    continue
            bad = compare_column(name, ca, cb)
            if len(bad):
                cells_differing[name] = cells_differing.get(name, 0) + len(bad)
            n_diff += len(bad)
            for i in bad[: max(0, SHOW - len(diffs))]:
                i = int(i)
                where = f"row {i}"
                if key_a is not None and ts_a is not None:
                    where += f" ({key_a[i]}, {ts_a[i]})"
                diffs.append(f"{p} {where} {name}: A={fmt(ca[i].as_py())} B={fmt(cb[i].as_py())}")

    print(f"A: {root_a / SILVER} ({len(pa_a)} partitions)")
    print(f"B: {root_b / SILVER} ({len(pa_b)} partitions)")
    print(f"compared {len(common)} common partitions, {rows_compared} rows")
    for w in warnings:
        print("note: " + w)
    if cells_differing:
        print("differing cells by column: " + ", ".join(f"{k}={v}" for k, v in sorted(cells_differing.items())))
    if n_diff == 0:
        print("IDENTICAL (floats within rel 1e-9, abs floor 1e-12)")
        return 0
    print(f"DIFFERENT: {n_diff} difference(s); first {len(diffs)}:")
    for d in diffs:
        print("  " + d)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
