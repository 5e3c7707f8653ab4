"""Writes the crafted bronze files of `shared/tests/memory/bronze_corrupt.rs` into this folder.

Each is a small, otherwise well-formed pyarrow file (uncompressed, page v1, no page
checksums) with one count made huge, for the bugs of the `parquet` crate 60.1.0 that the
vendored patch fixes (third_party/parquet/PATCHES.md):

- delta-byte-array-count.parquet, delta-length-byte-array-count.parquet: the
  DELTA_BINARY_PACKED header of the (required) `series_key` column's lengths declares
  2^50 values instead of 64; unpatched, the decoder allocates 4 bytes per declared value
  up front (2^52 bytes: the allocation fails and the process aborts).
- dictionary-count.parquet: the dictionary page header of the INT96 `ts` column declares
  i32::MAX values; unpatched, the dictionary is allocated for all of them (24 GiB).
- thrift-bool-list.parquet: the footer holds 16 unknown fields, each a list<bool>
  declaring i32::MAX elements with no data; unpatched, skipping each loops 2^31 times
  without reading input.
- page-values-over-rows.parquet: consistent in its lie: the data page header of the
  DELTA_BYTE_ARRAY `series_key` column and its lengths' header both declare i32::MAX
  values, in a row group of 16 rows; refused by the page reader's check that a page of a
  column without repetition holds at most its row group's rows.
- thrift-page-header-list.parquet: the data page header of `value` holds an unknown
  field, a list<double> declaring i32::MAX elements; unpatched, the page header reader
  (a `Read`, without a remaining length) skipped the elements past the end of the column
  chunk without reading anything, 2^31 times.

Run from the repository root (needs pyarrow): python3 shared/tests/data/corrupt/make_corrupt.py
"""

import datetime as dt
import io
import os
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq

OUT = os.path.dirname(os.path.abspath(__file__))
N = 64
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
MS = int(T0.timestamp() * 1000)


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return uleb((n << 1) ^ (n >> 63))


def write(table, **kw):
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none", data_page_version="1.0",
                   write_statistics=False, store_schema=False, **kw)
    return bytearray(buf.getvalue())


def column_chunk(data, name):
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    rg = meta.row_group(0)
    for i in range(rg.num_columns):
        c = rg.column(i)
        if c.path_in_schema == name:
            return c
    raise KeyError(name)


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(data))
    print(f"{name}: {len(data)} bytes")


# -- Thrift compact protocol: just enough to read and rewrite a page header. --

def read_varint(b, i):
    n = shift = 0
    while True:
        byte = b[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i


def read_struct(b, i):
    """A struct as a list of (field id, compact type, value); values of structs nest."""
    fields, last = [], 0
    while True:
        head = b[i]
        i += 1
        if head == 0:
            return fields, i
        ftype, delta = head & 0x0F, head >> 4
        if delta:
            fid = last + delta
        else:
            z, i = read_varint(b, i)
            fid = (z >> 1) ^ -(z & 1)
        if ftype in (1, 2):  # bool in the field header
            value = ftype == 1
        elif ftype in (4, 5, 6):  # i16, i32, i64 (zigzag varints)
            z, i = read_varint(b, i)
            value = (z >> 1) ^ -(z & 1)
        elif ftype == 8:  # binary
            n, i = read_varint(b, i)
            value, i = bytes(b[i:i + n]), i + n
        elif ftype == 12:
            value, i = read_struct(b, i)
        else:
            raise ValueError(f"page header field type {ftype} not handled")
        fields.append((fid, ftype, value))
        last = fid


def write_struct(fields):
    out, last = bytearray(), 0
    for fid, ftype, value in fields:
        if ftype in (1, 2):
            ftype = 1 if value else 2
        if 0 < fid - last <= 15:
            out.append(((fid - last) << 4) | ftype)
        else:
            out.append(ftype)
            out += zigzag(fid)
        if ftype in (4, 5, 6):
            out += zigzag(value)
        elif ftype == 8:
            out += uleb(len(value)) + value
        elif ftype == 12:
            out += write_struct(value)
        last = fid
    out.append(0)
    return bytes(out)


def field(fields, fid):
    return next(v for f, _, v in fields if f == fid)


def set_field(fields, fid, value):
    return [(f, t, value if f == fid else v) for f, t, v in fields]


# -- The files. --

def series_table(n):
    """`n` hourly rows with a required `series_key` string column."""
    return pa.table({
        "ts": pa.array([MS + h * 3_600_000 for h in range(n)], pa.int64()),
        "value": pa.array([float(h % 7) for h in range(n)]),
        "series_key": pa.array([f"store-{h % 3:04}" for h in range(n)]),
    }, schema=pa.schema([("ts", pa.int64()), ("value", pa.float64()),
                         pa.field("series_key", pa.string(), nullable=False)]))


def tiny_table():
    """Four hourly rows of `ts` and `value`."""
    return pa.table({"ts": pa.array([MS + h * 3_600_000 for h in range(4)], pa.int64()),
                     "value": pa.array([1.0, 2.0, 3.0, 4.0])})


def delta_count(encoding, name):
    """`series_key` with `encoding`; the lengths' header declares 2^50 values."""
    table = series_table(N)
    data = write(table, use_dictionary=False, column_encoding={"series_key": encoding})
    start = column_chunk(data, "series_key").data_page_offset
    # The page data of a required column starts with the DELTA_BINARY_PACKED header of
    # the (prefix or value) lengths: block size 128, 4 mini blocks, 64 values, first value.
    header = bytes([0x80, 0x01, 0x04]) + uleb(N)
    at = data.find(header, start)
    assert at > start, "lengths header not found"
    # Overwrite in place (the page keeps its size): count 2^50, first value 0. What
    # follows is garbage, read only after the count sized the allocation.
    patch = uleb(1 << 50) + zigzag(0)
    data[at + 3:at + 3 + len(patch)] = patch
    save(name, data)


def page_values_over_rows():
    """DELTA_BYTE_ARRAY `series_key` whose page and lengths both declare i32::MAX values."""
    big, n = 2**31 - 1, 16
    table = series_table(n)
    data = write(table, use_dictionary=False, column_encoding={"series_key": "DELTA_BYTE_ARRAY"})
    at = column_chunk(data, "series_key").data_page_offset
    header, end = read_struct(data, at)
    assert field(header, 1) == 0, "not a data page"
    size = field(header, 2)
    assert size == field(header, 3)
    page = bytearray(data[end:end + size])
    lengths = bytes([0x80, 0x01, 0x04]) + uleb(n)
    assert page.startswith(lengths), "lengths header not at the start of the page"
    page[3:3 + len(uleb(n))] = b""
    page[3:3] = uleb(big)
    page_header = set_field(field(header, 5), 1, big)
    # Keep the column chunk's layout: the header grows (its count), so the page data loses
    # as many bytes from its end, and what the lengths' count grows by as well (the end
    # is read only after the counts were checked). Sizes stay one-byte varints.
    header_grow = len(write_struct(set_field(header, 5, page_header))) - (end - at)
    new_size = size - header_grow
    assert 0 < new_size < 128 and size < 128
    page = page[:new_size]
    header = set_field(set_field(set_field(header, 5, page_header), 2, new_size), 3, new_size)
    new = write_struct(header)
    assert len(new) + new_size == (end - at) + size, "layout changed"
    data[at:end + size] = new + page
    save("page-values-over-rows.parquet", data)


def dictionary_count():
    """INT96 `ts` with a dictionary page that declares i32::MAX values."""
    ts = pa.array([T0 + dt.timedelta(hours=h % 5) for h in range(N)], pa.timestamp("ns"))
    table = pa.table({"ts": ts, "value": pa.array([float(h % 7) for h in range(N)])})
    data = write(table, use_dictionary=["ts"], use_deprecated_int96_timestamps=True)
    chunk = column_chunk(data, "ts")
    at = chunk.dictionary_page_offset
    assert at is not None and at > 0, "no dictionary page"
    header, end = read_struct(data, at)
    assert field(header, 1) == 2, "not a dictionary page"
    dict_header = set_field(field(header, 7), 1, 2**31 - 1)
    new = bytearray(write_struct(set_field(header, 7, dict_header)))
    grow = len(new) - (end - at)
    # Keep the column chunk's layout: the header grows by `grow` bytes, the page data
    # shrinks by as many (its sizes are rewritten; both stay one-byte varints).
    size = field(header, 2) - grow
    assert field(header, 2) == field(header, 3) and 0 < size < 128
    header = set_field(set_field(header, 2, size), 3, size)
    new = write_struct(set_field(header, 7, dict_header))
    assert len(new) - (end - at) == grow
    data[at:end + size + grow] = new + data[end:end + size]
    save("dictionary-count.parquet", data)


def thrift_page_header_list():
    """The data page header of `value` gets an unknown list<double> of i32::MAX elements."""
    table = tiny_table()
    data = write(table, use_dictionary=False)
    at = column_chunk(data, "value").data_page_offset
    header, end = read_struct(data, at)
    assert field(header, 1) == 0, "not a data page"
    # Field 100, type list (9), full id; list header: double elements (7), size in a varint.
    unknown = bytes([0x09]) + zigzag(100) + bytes([0xF7]) + uleb(2**31 - 1)
    grow = len(unknown)
    # Keep the column chunk's layout, as for the dictionary page above.
    size = field(header, 2) - grow
    assert field(header, 2) == field(header, 3) and 0 < size < 128
    header = set_field(set_field(header, 2, size), 3, size)
    new = write_struct(header)
    new = new[:-1] + unknown + new[-1:]
    assert len(new) - (end - at) == grow
    data[at:end + size + grow] = new + data[end:end + size]
    save("thrift-page-header-list.parquet", data)


def thrift_bool_list():
    """A footer with 16 unknown fields, each a list<bool> declaring i32::MAX elements."""
    table = tiny_table()
    data = write(table)
    footer_len = struct.unpack("<I", data[-8:-4])[0]
    footer = data[-8 - footer_len:-8]
    assert footer[-1] == 0, "FileMetaData ends with a stop byte"
    # Field 100, type list (9), written with its full id; list header: bool elements
    # (type 1), size in a varint (0xF_); then no element at all.
    unknown = bytes([0x09]) + zigzag(100) + bytes([0xF1]) + uleb(2**31 - 1)
    footer = footer[:-1] + unknown * 16 + footer[-1:]
    data = data[:-8 - footer_len] + footer + struct.pack("<I", len(footer)) + b"PAR1"
    save("thrift-bool-list.parquet", data)


if __name__ == "__main__":
    print(f"pyarrow {pa.__version__}", file=sys.stderr)
    delta_count("DELTA_BYTE_ARRAY", "delta-byte-array-count.parquet")
    delta_count("DELTA_LENGTH_BYTE_ARRAY", "delta-length-byte-array-count.parquet")
    dictionary_count()
    page_values_over_rows()
    thrift_bool_list()
    thrift_page_header_list()
