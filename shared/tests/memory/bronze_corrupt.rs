//! Crafted bronze files that hit bugs of the `parquet` crate 60.1.0 found by fuzzing
//! (BENCHMARKS.md, "Fuzzing (issue 9)"), fixed by the vendored patch in `third_party/parquet`
//! (see its PATCHES.md). Each must be an error of that one file, returned at once.
//!
//! Without the patch, the first three aborted the test process (an allocation sized by a
//! count from the file failed) and the last two ran for minutes. The files and how they are
//! made: `tests/data/corrupt/make_corrupt.py`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use gras_shared::bronze::{read_bronze, BronzeError};
use gras_shared::config::RowBounds;
use gras_shared::MetricId;

/// Reads `tests/data/corrupt/<name>` as a bronze file of metric `G` and returns the error.
fn refused(name: &str) -> BronzeError {
    let path = format!("{}/tests/data/corrupt/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let metric = MetricId::new("G").unwrap();
    let start = Instant::now();
    let result = read_bronze(Bytes::from(body), &metric, Some(&RowBounds::DEFAULT));
    let elapsed = start.elapsed();
    // Not a timing test: a bound far above the time taken (milliseconds) that shows the
    // reader does not hang.
    assert!(elapsed < Duration::from_secs(10), "{name} took {elapsed:?}");
    let e = result.expect_err(name);
    eprintln!("{name}: {elapsed:?}: {e}");
    // A plain decoder error of the file, not a panic caught on the way.
    assert!(
        matches!(e, BronzeError::Parquet(_) | BronzeError::Arrow(_)),
        "{name}: {e}"
    );
    e
}

fn assert_says(e: &BronzeError, what: &str) {
    assert!(e.to_string().contains(what), "{e}");
}

/// DELTA_BYTE_ARRAY strings whose prefix lengths declare 2^50 values in a page of 64: the
/// decoder allocated 4 bytes per declared value (2^52 bytes; the process aborted).
#[test]
fn delta_byte_array_count_larger_than_the_page() {
    let e = refused("delta-byte-array-count.parquet");
    assert_says(
        &e,
        "DELTA_BYTE_ARRAY declares 1125899906842624 values but the page has at most 64",
    );
}

/// DELTA_LENGTH_BYTE_ARRAY strings whose lengths declare 2^50 values in a page of 64.
#[test]
fn delta_length_byte_array_count_larger_than_the_page() {
    let e = refused("delta-length-byte-array-count.parquet");
    assert_says(
        &e,
        "DELTA_LENGTH_BYTE_ARRAY declares 1125899906842624 values but the page has at most 64",
    );
}

/// An INT96 dictionary page of 56 bytes declaring i32::MAX values: the dictionary was
/// allocated for all of them (24 GiB; the process aborted).
#[test]
fn dictionary_page_count_larger_than_its_bytes() {
    let e = refused("dictionary-count.parquet");
    assert_says(
        &e,
        "dictionary page declares 2147483647 values of type INT96 but has only 56 bytes",
    );
}

/// A footer with 16 unknown fields, each a list of booleans declaring i32::MAX elements
/// and holding none: skipping each looped 2^31 times without reading input.
#[test]
fn footer_bool_list_larger_than_the_input() {
    let e = refused("thrift-bool-list.parquet");
    assert_says(
        &e,
        "Thrift collection size 2147483647 exceeds remaining input length",
    );
}

/// A data page header with an unknown field, a list of doubles declaring i32::MAX elements:
/// the page header reader (a `Read`, which cannot tell the remaining length) skipped the
/// elements past the end of the column chunk without reading anything, 2^31 times.
#[test]
fn page_header_list_larger_than_the_chunk() {
    let e = refused("thrift-page-header-list.parquet");
    assert_says(&e, "Unexpected EOF");
}

/// Consistent in its lie: a DELTA_BYTE_ARRAY page header and its lengths both declare
/// i32::MAX values, in a row group of 16 rows. The delta check (count <= page values)
/// passes; the page reader refuses a page of a column without repetition holding more
/// values than its row group has rows (the decoder would have sized 8 GiB of lengths).
#[test]
fn page_values_over_the_row_group_rows() {
    let e = refused("page-values-over-rows.parquet");
    assert_says(
        &e,
        "data page declares 2147483647 values but its row group has 16 rows",
    );
}

/// Found by the fuzzer after the patches above (kept as it was found, 624 bytes): a schema
/// element declaring about 671 million children. The count sized the children's vector
/// before any child was read (a 5 GiB allocation, refused by the fuzzer's memory limit;
/// a Lambda without that much memory aborts); now a group cannot declare more children
/// than schema elements follow it.
#[test]
fn schema_children_count_larger_than_the_schema() {
    let e = refused("schema-children-count.parquet");
    assert_says(&e, "children but only");
}
