//! Every physical type of contract section 2 read from a Parquet file written here, and
//! every kind of bad file rejected cleanly.

use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::*;
use bytes::Bytes;
use gras_shared::bronze::{read_bronze, BronzeError, RejectReason};
use gras_shared::config::RowBounds;
use gras_shared::testkit::parquet;
use gras_shared::MetricId;

const T0_MS: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const T0_NS: i64 = T0_MS * 1_000_000;

fn g() -> MetricId {
    MetricId::new("G").unwrap()
}

fn values() -> ArrayRef {
    Arc::new(Float64Array::from(vec![1.5, 2.5]))
}

fn read_ts(ts: ArrayRef) -> Vec<i64> {
    let f = read_bronze(
        parquet(vec![("ts", ts), ("value", values())]),
        &g(),
        Some(&RowBounds::DEFAULT),
    )
    .unwrap();
    assert_eq!(f.rows_read, 2);
    assert!(f.rejected.0.is_empty(), "{:?}", f.rejected);
    f.rows.ts
}

#[test]
fn timestamp_units_and_zones() {
    let want = vec![T0_NS, T0_NS + 1_000_000_000];
    let secs = vec![T0_MS / 1000, T0_MS / 1000 + 1];
    assert_eq!(
        read_ts(Arc::new(TimestampSecondArray::from(secs.clone()))),
        want
    );
    let ms: Vec<i64> = secs.iter().map(|s| s * 1000).collect();
    assert_eq!(
        read_ts(Arc::new(TimestampMillisecondArray::from(ms.clone()))),
        want
    );
    assert_eq!(
        read_ts(Arc::new(
            TimestampMillisecondArray::from(ms.clone()).with_timezone("UTC")
        )),
        want
    );
    let us: Vec<i64> = ms.iter().map(|m| m * 1000).collect();
    assert_eq!(
        read_ts(Arc::new(
            TimestampMicrosecondArray::from(us.clone()).with_timezone("+02:00")
        )),
        want
    );
    let ns: Vec<i64> = us.iter().map(|u| u * 1000).collect();
    assert_eq!(read_ts(Arc::new(TimestampNanosecondArray::from(ns))), want);
    // int64 epoch milliseconds.
    assert_eq!(read_ts(Arc::new(Int64Array::from(ms))), want);
}

#[test]
fn rfc3339_strings_with_and_without_zone() {
    let s = StringArray::from(vec!["2024-01-01T02:00:00+02:00", "2024-01-01T00:00:01"]);
    assert_eq!(read_ts(Arc::new(s)), vec![T0_NS, T0_NS + 1_000_000_000]);
    let s = LargeStringArray::from(vec!["2024-01-01T00:00:00Z", "2024-01-01 00:00:01.000"]);
    assert_eq!(read_ts(Arc::new(s)), vec![T0_NS, T0_NS + 1_000_000_000]);
    let mut d = StringDictionaryBuilder::<Int32Type>::new();
    d.append_value("2024-01-01T00:00:00.000Z");
    d.append_value("2024-01-01T00:00:01Z");
    assert_eq!(
        read_ts(Arc::new(d.finish())),
        vec![T0_NS, T0_NS + 1_000_000_000]
    );
}

#[test]
fn int96_timestamps() {
    // Written with the low-level writer, as legacy Spark/Hive/Impala do.
    use parquet::data_type::Int96;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = Arc::new(
        parse_message_type("message m { required int96 ts; required double value; }").unwrap(),
    );
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, schema, Default::default()).unwrap();
    let mut rg = w.next_row_group().unwrap();
    // INT96: nanoseconds of the day (two u32 words), then the Julian day.
    let julian = 2_440_588 + (T0_MS / 86_400_000) as u32;
    let mut t = Int96::new();
    t.set_data(0, 0, julian);
    let mut t2 = Int96::new();
    let nanos: u64 = 3_600_000_000_000;
    t2.set_data(nanos as u32, (nanos >> 32) as u32, julian);
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<parquet::data_type::Int96Type>()
        .write_batch(&[t, t2], None, None)
        .unwrap();
    col.close().unwrap();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<parquet::data_type::DoubleType>()
        .write_batch(&[1.0, 2.0], None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
    let f = read_bronze(Bytes::from(buf), &g(), Some(&RowBounds::DEFAULT)).unwrap();
    assert_eq!(f.rows.ts, vec![T0_NS, T0_NS + 3_600_000_000_000]);
}

#[test]
fn every_numeric_value_type() {
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![T0_MS, T0_MS + 1]));
    let mut dec = Decimal128Builder::new()
        .with_precision_and_scale(18, 4)
        .unwrap();
    dec.append_value(12_345); // 1.2345
    dec.append_value(-5_000); // -0.5
    let cases: Vec<(ArrayRef, Vec<f64>)> = vec![
        (
            Arc::new(Float32Array::from(vec![1.5f32, -2.25])),
            vec![1.5, -2.25],
        ),
        (
            Arc::new(Float64Array::from(vec![1.5, -2.25])),
            vec![1.5, -2.25],
        ),
        (Arc::new(Int8Array::from(vec![1i8, -2])), vec![1.0, -2.0]),
        (Arc::new(Int16Array::from(vec![1i16, -2])), vec![1.0, -2.0]),
        (Arc::new(Int32Array::from(vec![1i32, -2])), vec![1.0, -2.0]),
        (Arc::new(Int64Array::from(vec![1i64, -2])), vec![1.0, -2.0]),
        (Arc::new(UInt8Array::from(vec![1u8, 200])), vec![1.0, 200.0]),
        (Arc::new(UInt16Array::from(vec![1u16, 2])), vec![1.0, 2.0]),
        (Arc::new(UInt32Array::from(vec![1u32, 2])), vec![1.0, 2.0]),
        (Arc::new(UInt64Array::from(vec![1u64, 2])), vec![1.0, 2.0]),
        (Arc::new(dec.finish()), vec![1.2345, -0.5]),
    ];
    for (v, want) in cases {
        let dt = v.data_type().clone();
        let f = read_bronze(
            parquet(vec![("ts", ts.clone()), ("value", v)]),
            &g(),
            Some(&RowBounds::DEFAULT),
        )
        .unwrap();
        assert_eq!(f.rows.value, want, "{dt}");
    }
}

#[test]
fn metric_and_series_columns_of_every_string_type() {
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![T0_MS; 4]));
    let v: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]));
    let metric: ArrayRef = Arc::new(LargeStringArray::from(vec![
        Some("G"),
        None,
        Some("R"),
        Some("G"),
    ]));
    let mut series = StringDictionaryBuilder::<Int32Type>::new();
    series.append_value("eu");
    series.append_null();
    series.append_value("eu");
    series.append_value("bad#key");
    let extra: ArrayRef = Arc::new(StringArray::from(vec!["x"; 4]));
    let f = read_bronze(
        parquet(vec![
            ("extra", extra),
            ("series_key", Arc::new(series.finish())),
            ("ts", ts),
            ("metric_id", metric),
            ("value", v),
        ]),
        &g(),
        Some(&RowBounds::DEFAULT),
    )
    .unwrap();
    let keys: Vec<&str> = f
        .rows
        .series
        .iter()
        .map(|&s| f.rows.keys[s as usize].as_str())
        .collect();
    assert_eq!(
        keys,
        vec!["eu", "_all"],
        "null metric_id takes the path's; null series_key is _all"
    );
    assert_eq!(f.rejected.0[&RejectReason::MetricMismatch], 1);
    assert_eq!(f.rejected.0[&RejectReason::InvalidSeriesKey], 1);
}

#[test]
fn row_rejections_by_reason() {
    let ts: ArrayRef = Arc::new(StringArray::from(vec![
        Some("2024-01-01T00:00:00Z"),
        None,
        Some("yesterday"),
        Some("2024-01-01T00:00:00Z"),
        Some("2024-01-01T00:00:00Z"),
        Some("2024-01-01T00:00:00Z"),
        Some("2024-01-01T00:00:00Z"),
    ]));
    let v: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(1.0),
        Some(1.0),
        Some(1.0),
        None,
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
    ]));
    let f = read_bronze(
        parquet(vec![("ts", ts.clone()), ("value", v.clone())]),
        &g(),
        Some(&RowBounds::DEFAULT),
    )
    .unwrap();
    assert_eq!(f.rows.len(), 1);
    let r = &f.rejected.0;
    assert_eq!(
        (
            r[&RejectReason::NullTs],
            r[&RejectReason::InvalidTs],
            r[&RejectReason::NullValue],
            r[&RejectReason::NanValue],
            r[&RejectReason::InfiniteValue]
        ),
        (1, 1, 1, 1, 2)
    );
    // An unconfigured metric rejects every otherwise valid row.
    let f = read_bronze(parquet(vec![("ts", ts), ("value", v)]), &g(), None).unwrap();
    assert_eq!(f.rejected.0[&RejectReason::UnknownMetric], 1);
    assert!(f.rows.is_empty());
}

#[test]
fn overflowing_epoch_is_invalid_not_a_panic() {
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, T0_MS]));
    let f = read_bronze(
        parquet(vec![("ts", ts), ("value", values())]),
        &g(),
        Some(&RowBounds::DEFAULT),
    )
    .unwrap();
    assert_eq!(f.rejected.0[&RejectReason::InvalidTs], 1);
    assert_eq!(f.rows.len(), 1);
}

#[test]
fn bad_files_are_rejected_with_reasons() {
    let good = parquet(vec![
        ("ts", Arc::new(Int64Array::from(vec![T0_MS])) as ArrayRef),
        ("value", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
    ]);
    let not_parquet = Bytes::from_static(b"ts,value\n2024-01-01T00:00:00Z,1\n");
    let truncated = good.slice(0..good.len() / 2);
    let chopped_tail = good.slice(0..good.len() - 3);
    let empty = Bytes::new();
    for (name, body) in [
        ("csv", not_parquet),
        ("truncated", truncated),
        ("tail", chopped_tail),
        ("empty", empty),
    ] {
        let e = read_bronze(body, &g(), Some(&RowBounds::DEFAULT)).unwrap_err();
        assert!(matches!(e, BronzeError::Parquet(_)), "{name}: {e}");
        assert!(
            e.to_string().contains("not a readable Parquet file"),
            "{name}: {e}"
        );
    }
    let no_ts = parquet(vec![("value", values())]);
    assert!(matches!(
        read_bronze(no_ts, &g(), Some(&RowBounds::DEFAULT)),
        Err(BronzeError::MissingColumn("ts"))
    ));
    let no_value = parquet(vec![(
        "ts",
        Arc::new(Int64Array::from(vec![T0_MS, T0_MS])) as ArrayRef,
    )]);
    assert!(matches!(
        read_bronze(no_value, &g(), Some(&RowBounds::DEFAULT)),
        Err(BronzeError::MissingColumn("value"))
    ));
    let text_value = parquet(vec![
        ("ts", Arc::new(Int64Array::from(vec![T0_MS])) as ArrayRef),
        ("value", Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
    ]);
    let e = read_bronze(text_value, &g(), Some(&RowBounds::DEFAULT)).unwrap_err();
    assert!(
        e.to_string()
            .contains("column `value` has unsupported type"),
        "{e}"
    );
    let bool_ts = parquet(vec![
        ("ts", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        ("value", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
    ]);
    assert!(matches!(
        read_bronze(bool_ts, &g(), Some(&RowBounds::DEFAULT)),
        Err(BronzeError::UnsupportedType { column: "ts", .. })
    ));
}

#[test]
fn zero_row_file_is_a_no_op() {
    let f = read_bronze(
        parquet(vec![
            (
                "ts",
                Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
            ),
            (
                "value",
                Arc::new(Float64Array::from(Vec::<f64>::new())) as ArrayRef,
            ),
        ]),
        &g(),
        Some(&RowBounds::DEFAULT),
    )
    .unwrap();
    assert_eq!(f.rows_read, 0);
    assert!(f.rows.is_empty());
}

#[test]
fn several_row_groups_stream_through() {
    use parquet::file::properties::WriterProperties;
    let n = 200_000i64;
    let ts: ArrayRef = Arc::new(Int64Array::from(
        (0..n).map(|i| T0_MS + i).collect::<Vec<_>>(),
    ));
    let v: ArrayRef = Arc::new(Float64Array::from(
        (0..n).map(|i| i as f64).collect::<Vec<_>>(),
    ));
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("ts", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("value", arrow_schema::DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ts, v]).unwrap();
    let mut buf = Vec::new();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(50_000))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::serialized_reader::SerializedFileReader::new(Bytes::from(buf.clone()))
            .unwrap(),
    )
    .num_row_groups();
    assert_eq!(meta, 4);
    let f = read_bronze(Bytes::from(buf), &g(), Some(&RowBounds::DEFAULT)).unwrap();
    assert_eq!(f.rows.len(), n as usize);
    assert_eq!(f.rows.value[199_999], 199_999.0);
}

/// Metric and series strings are read through dictionaries when the file allows it (each
/// distinct string checked once): the rows and rejections must be exactly those of reading
/// every row's string, whatever the encoding, across row groups with their own
/// dictionaries, with nulls, invalid keys and other metrics among them.
#[test]
fn string_columns_read_the_same_through_dictionaries_or_not() {
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    let n = 300usize;
    let ts: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..n as i64).map(|i| T0_MS + i * 60_000),
    ));
    let v: ArrayRef = Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64)));
    let metric: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| match i % 7 {
        0 => None,
        3 => Some("R"),
        _ => Some("G"),
    })));
    // Row group 1 (rows 0..100) sees other keys than the later ones.
    let series: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| match i % 11 {
        0 => None,
        5 => Some("bad#key".to_string()),
        k if i < 100 => Some(format!("early-{k}")),
        k => Some(format!("late-{}", k % 4)),
    })));
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("ts", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("value", arrow_schema::DataType::Float64, false),
        arrow_schema::Field::new("metric_id", arrow_schema::DataType::Utf8, true),
        arrow_schema::Field::new("series_key", arrow_schema::DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ts, v, metric, series]).unwrap();
    let write = |dictionary: bool| -> Bytes {
        let props = WriterProperties::builder()
            .set_dictionary_enabled(dictionary)
            .set_max_row_group_row_count(Some(100))
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        Bytes::from(buf)
    };
    let read = |body: Bytes| {
        let f = read_bronze(body, &g(), Some(&RowBounds::DEFAULT)).unwrap();
        let keys: Vec<String> = f
            .rows
            .series
            .iter()
            .map(|&s| f.rows.keys[s as usize].as_str().to_string())
            .collect();
        (keys, f.rows.ts, f.rows.value, f.rejected)
    };
    let with_dictionary = read(write(true));
    let plain = read(write(false));
    assert_eq!(with_dictionary, plain);
    // The expected counts, from the rules themselves.
    let mismatch = (0..n).filter(|i| i % 7 == 3).count() as u64;
    let invalid = (0..n).filter(|i| i % 7 != 3 && i % 11 == 5).count() as u64;
    assert_eq!(
        with_dictionary.3 .0[&RejectReason::MetricMismatch],
        mismatch
    );
    assert_eq!(
        with_dictionary.3 .0[&RejectReason::InvalidSeriesKey],
        invalid
    );
    assert_eq!(
        with_dictionary.0.len() as u64,
        n as u64 - mismatch - invalid
    );
    let all = (0..n).filter(|i| i % 7 != 3 && i % 11 == 0).count();
    assert_eq!(
        with_dictionary.0.iter().filter(|k| *k == "_all").count(),
        all
    );
    assert!(with_dictionary.0.iter().any(|k| k == "early-1"));
    assert!(with_dictionary.0.iter().any(|k| k == "late-2"));
}
