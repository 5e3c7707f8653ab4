//! Silver Parquet partitions (contract section 4): the exact schema, the writer, the reader.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, NullBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::column::F64Column;
use crate::contract::silver_col as col;
use crate::features::SilverRows;
use crate::ids::SeriesKey;

/// Errors writing or reading silver.
#[derive(Debug, thiserror::Error)]
pub enum SilverError {
    /// Parquet encoding or decoding failed.
    #[error("silver parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The Arrow data does not fit the schema.
    #[error("silver arrow error: {0}")]
    Arrow(#[from] ArrowError),
    /// A file does not have the silver schema.
    #[error("not a silver file: {0}")]
    Schema(String),
    /// A partition's observed buckets were produced by other reading, cleansing or
    /// aggregation rules than this build's ([`OBSERVED_RULES_VERSION`]).
    #[error(
        "written under observed-bucket rules {found:?}, this build has {OBSERVED_RULES_VERSION}"
    )]
    OtherRules {
        /// The version recorded in the file, if any.
        found: Option<String>,
    },
}

/// Version of the rules that give a partition its observed buckets (contract sections 2-3:
/// the bronze reader, cleansing and aggregation into hourly buckets). Every partition
/// records it in its Parquet key-value metadata under [`OBSERVED_RULES_KEY`];
/// [`read_observed`] refuses a partition written under another version, so the
/// incremental path reads that date's bronze instead of carrying old buckets into new
/// computations. Raise it with any change to those rules; the test
/// `observed_buckets_of_a_pinned_lake_match_the_rules_version` pins a digest of the
/// observed buckets of a generated lake per version. Feature formulas (section 4) are not
/// covered: observed buckets do not depend on them.
pub const OBSERVED_RULES_VERSION: u32 = 1;

/// The Parquet key-value metadata key of [`OBSERVED_RULES_VERSION`].
pub const OBSERVED_RULES_KEY: &str = "gras.observed_rules";

/// The silver schema: names, types and nullability of contract section 4 (v2).
pub fn schema() -> SchemaRef {
    let f64_col = |name: &str| Field::new(name, DataType::Float64, true);
    let mut fields = vec![
        Field::new(col::METRIC_ID, DataType::Utf8, false),
        Field::new(col::SERIES_KEY, DataType::Utf8, false),
        Field::new(
            col::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        f64_col(col::VALUE),
        Field::new(col::IS_IMPUTED, DataType::Boolean, false),
        Field::new(col::HOUR, DataType::Int32, false),
        Field::new(col::DAY_OF_WEEK, DataType::Int32, false),
        Field::new(col::IS_WEEKEND, DataType::Boolean, false),
        Field::new(col::IS_HOLIDAY, DataType::Boolean, false),
    ];
    fields.extend(col::FLOAT_FEATURES.iter().map(|n| f64_col(n)));
    fields.push(Field::new(col::IS_OUTLIER, DataType::Boolean, false));
    fields.extend(col::TOTALS.iter().map(|n| f64_col(n)));
    Arc::new(Schema::new(fields))
}

/// Builds a record batch with the silver schema from rows (one pass per column, no copies
/// of the row vectors).
pub fn to_batch(rows: &SilverRows) -> Result<RecordBatch, SilverError> {
    to_batch_chunks(&[rows])
}

/// [`to_batch`] of the concatenation of `chunks`, in order (without concatenating them).
pub fn to_batch_chunks(chunks: &[&SilverRows]) -> Result<RecordBatch, SilverError> {
    let n: usize = chunks.iter().map(|c| c.len()).sum();
    let floats = |f: &dyn Fn(&SilverRows) -> &F64Column| -> ArrayRef {
        let mut values: Vec<f64> = Vec::with_capacity(n);
        let mut valid = BooleanBufferBuilder::new(n);
        for c in chunks {
            let col = f(c);
            values.extend_from_slice(col.values());
            valid.append_slice(col.validity());
        }
        let nulls = NullBuffer::new(valid.finish());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Arc::new(Float64Array::new(values.into(), nulls))
    };
    let bools = |f: &dyn Fn(&SilverRows) -> &[bool]| -> ArrayRef {
        let mut b = BooleanBufferBuilder::new(n);
        for c in chunks {
            let col = f(c);
            b.append_buffer(&BooleanBuffer::collect_bool(col.len(), |i| col[i]));
        }
        Arc::new(BooleanArray::new(b.finish(), None))
    };
    fn concat<T: Copy>(
        chunks: &[&SilverRows],
        n: usize,
        f: impl Fn(&SilverRows) -> &[T],
    ) -> Vec<T> {
        let mut values = Vec::with_capacity(n);
        for c in chunks {
            values.extend_from_slice(f(c));
        }
        values
    }
    let ints = |f: &dyn Fn(&SilverRows) -> &[i32]| -> ArrayRef {
        Arc::new(Int32Array::new(concat(chunks, n, f).into(), None))
    };
    let strings = |f: &dyn Fn(&SilverRows) -> &[Arc<str>]| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            chunks.iter().flat_map(|c| f(c).iter().map(|s| &**s)),
        ))
    };
    let mut cols: Vec<ArrayRef> = vec![
        strings(&|c| &c.metric_id),
        strings(&|c| &c.series_key),
        Arc::new(
            TimestampMicrosecondArray::new(concat(chunks, n, |c| &c.ts_us).into(), None)
                .with_timezone("UTC"),
        ),
        floats(&|c| &c.value),
        bools(&|c| &c.is_imputed),
        ints(&|c| &c.hour),
        ints(&|c| &c.day_of_week),
        bools(&|c| &c.is_weekend),
        bools(&|c| &c.is_holiday),
    ];
    for k in 0..col::FLOAT_FEATURES.len() {
        cols.push(floats(&|c| &c.floats[k]));
    }
    cols.push(bools(&|c| &c.is_outlier));
    for k in 0..col::TOTALS.len() {
        cols.push(floats(&|c| &c.totals[k]));
    }
    Ok(RecordBatch::try_new(schema(), cols)?)
}

/// Encodes rows as one silver Parquet file (zstd, statistics on, one row group per 128k rows).
pub fn write_parquet(rows: &SilverRows) -> Result<Bytes, SilverError> {
    write_parquet_chunks(&[rows])
}

/// [`write_parquet`] of the concatenation of `chunks`, in order.
pub fn write_parquet_chunks(chunks: &[&SilverRows]) -> Result<Bytes, SilverError> {
    encode_batch(&to_batch_chunks(chunks)?, writer_properties())
}

/// The properties every silver file is written with: zstd (level 1), statistics on, one
/// row group per 128k rows, no dictionary for the float and timestamp columns (nearly all
/// distinct: a dictionary would only cost hashing), and the rules-version key in the file's
/// metadata.
pub fn writer_properties() -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by("gras".to_string())
        .set_key_value_metadata(Some(vec![KeyValue::new(
            OBSERVED_RULES_KEY.to_string(),
            OBSERVED_RULES_VERSION.to_string(),
        )]));
    for name in [col::TS, col::VALUE]
        .into_iter()
        .chain(col::FLOAT_FEATURES.iter().copied())
        .chain(col::TOTALS.iter().copied())
    {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    props.build()
}

/// Encodes a batch of the silver schema as one Parquet file with `props`;
/// [`write_parquet_chunks`] passes [`writer_properties`].
pub fn encode_batch(batch: &RecordBatch, props: WriterProperties) -> Result<Bytes, SilverError> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 40 + 4096);
    let mut writer = ArrowWriter::try_new(&mut buf, schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

/// Checks that a file's Arrow schema has the silver columns, in order, with their types:
/// all of them (v2) or those of v1 (the first [`col::V1_COLUMNS`]). Returns how many.
fn check_schema(got: &Schema) -> Result<usize, SilverError> {
    let want = schema();
    let n = got.fields().len();
    if !(n == want.fields().len() || n == col::V1_COLUMNS)
        || got
            .fields()
            .iter()
            .zip(want.fields())
            .any(|(a, b)| a.name() != b.name() || a.data_type() != b.data_type())
    {
        return Err(SilverError::Schema(format!(
            "unexpected columns {:?}",
            got.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
        )));
    }
    Ok(n)
}

/// Decodes a silver Parquet file, checking it has the silver schema; a v1 file (without
/// the totals) reads with the totals null.
pub fn read_parquet(body: Bytes) -> Result<SilverRows, SilverError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(body)?;
    let columns = check_schema(builder.schema())?;
    let reader = builder.build()?;
    let mut rows = SilverRows::default();
    for batch in reader {
        let batch = batch?;
        let c = |i: usize| batch.column(i);
        // Consecutive equal strings share one allocation (rows come grouped by series).
        let strings = |a: &ArrayRef| {
            let mut prev: Option<Arc<str>> = None;
            a.as_string::<i32>()
                .iter()
                .map(|s| {
                    let s = s.unwrap_or_default();
                    match &prev {
                        Some(p) if &**p == s => Arc::clone(p),
                        _ => {
                            let p: Arc<str> = Arc::from(s);
                            prev = Some(Arc::clone(&p));
                            p
                        }
                    }
                })
                .collect::<Vec<_>>()
        };
        let bools = |a: &ArrayRef| {
            a.as_boolean()
                .iter()
                .map(|b| b.unwrap_or(false))
                .collect::<Vec<_>>()
        };
        let ints = |a: &ArrayRef| a.as_primitive::<Int32Type>().values().to_vec();
        rows.metric_id.extend(strings(c(0)));
        rows.series_key.extend(strings(c(1)));
        rows.ts_us.extend(
            c(2).as_primitive::<TimestampMicrosecondType>()
                .values()
                .iter()
                .copied(),
        );
        fn floats(a: &ArrayRef) -> &Float64Array {
            a.as_primitive()
        }
        rows.value.extend_from_arrow(floats(c(3)));
        rows.is_imputed.extend(bools(c(4)));
        rows.hour.extend(ints(c(5)));
        rows.day_of_week.extend(ints(c(6)));
        rows.is_weekend.extend(bools(c(7)));
        rows.is_holiday.extend(bools(c(8)));
        for (k, col) in rows.floats.iter_mut().enumerate() {
            col.extend_from_arrow(floats(c(9 + k)));
        }
        rows.is_outlier.extend(bools(c(19)));
        for (k, out) in rows.totals.iter_mut().enumerate() {
            if columns > col::V1_COLUMNS {
                out.extend_from_arrow(floats(c(col::V1_COLUMNS + k)));
            } else {
                out.append(&mut F64Column::nulls(batch.num_rows()));
            }
        }
    }
    Ok(rows)
}

/// One observed bucket read back from a silver partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedBucket {
    /// The series.
    pub series: SeriesKey,
    /// Bucket start, nanoseconds since the epoch.
    pub bucket_ns: i64,
    /// The bucket's aggregated value (contract section 3, step 3).
    pub value: f64,
}

/// The observed buckets of a silver partition: its rows with a value that is not
/// interpolated (`is_imputed` false, `value` not null), which are exactly the buckets
/// holding bronze rows, with their aggregated values bit for bit. Only the `series_key`,
/// `ts`, `value` and `is_imputed` columns are decoded; the file must have the silver schema
/// and have been written under this build's [`OBSERVED_RULES_VERSION`].
pub fn read_observed(body: Bytes) -> Result<Vec<ObservedBucket>, SilverError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(body)?;
    check_schema(builder.schema())?;
    let found = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == OBSERVED_RULES_KEY))
        .and_then(|e| e.value.clone());
    if found.as_deref() != Some(OBSERVED_RULES_VERSION.to_string().as_str()) {
        return Err(SilverError::OtherRules { found });
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), [1, 2, 3, 4]);
    let reader = builder.with_projection(mask).build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let keys = batch.column(0).as_string::<i32>();
        let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        let value = batch.column(2).as_primitive::<Float64Type>();
        let imputed = batch.column(3).as_boolean();
        let mut prev: Option<SeriesKey> = None;
        for r in 0..batch.num_rows() {
            if value.is_null(r) || imputed.is_null(r) || imputed.value(r) {
                continue;
            }
            let key = keys.value(r);
            let series = match &prev {
                Some(p) if p.as_str() == key => p.clone(),
                _ => {
                    let k = SeriesKey::new(key)
                        .map_err(|e| SilverError::Schema(format!("bad series_key: {e}")))?;
                    prev = Some(k.clone());
                    k
                }
            };
            let bucket_ns = ts
                .value(r)
                .checked_mul(1_000)
                .ok_or_else(|| SilverError::Schema(format!("ts {} out of range", ts.value(r))))?;
            out.push(ObservedBucket {
                series,
                bucket_ns,
                value: value.value(r),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `batch` as a Parquet file with its own schema (none of the silver writer's settings).
    fn file_of(batch: &RecordBatch, props: Option<WriterProperties>) -> Bytes {
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), props).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        Bytes::from(buf)
    }

    #[test]
    fn schema_matches_the_contract_column_order_and_types() {
        let s = schema();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "metric_id",
                "series_key",
                "ts",
                "value",
                "is_imputed",
                "hour",
                "day_of_week",
                "is_weekend",
                "is_holiday",
                "lag_1h",
                "lag_24h",
                "lag_168h",
                "roll_mean_24h",
                "roll_std_24h",
                "roll_mean_168h",
                "roll_std_168h",
                "diff_24h",
                "pct_change_168h",
                "zscore_168h",
                "is_outlier",
                "roll_sum_168h",
                "roll_sum_720h",
                "roll_mean_720h"
            ]
        );
        assert_eq!(
            s.field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(s.field(5).data_type(), &DataType::Int32);
        assert!(s.field(3).is_nullable() && s.field(9).is_nullable());
        assert!(s.fields()[20..]
            .iter()
            .all(|f| f.is_nullable() && f.data_type() == &DataType::Float64));
    }

    #[test]
    fn parquet_round_trip() {
        let mut rows = SilverRows::default();
        for i in 0..3 {
            rows.metric_id.push("G".into());
            rows.series_key.push("_all".into());
            rows.ts_us.push(1_700_000_000_000_000 + i * 3_600_000_000);
            rows.value.push(if i == 1 { None } else { Some(i as f64) });
            rows.is_imputed.push(i == 2);
            rows.hour.push(i as i32);
            rows.day_of_week.push(3);
            rows.is_weekend.push(false);
            rows.is_holiday.push(true);
            for c in rows.floats.iter_mut() {
                c.push(Some(0.5));
            }
            rows.is_outlier.push(false);
            for (k, c) in rows.totals.iter_mut().enumerate() {
                c.push(Some(100.0 * k as f64 + i as f64));
            }
        }
        rows.floats[9].set(0, None);
        rows.totals[1].set(2, None);
        let bytes = write_parquet(&rows).unwrap();
        assert_eq!(read_parquet(bytes).unwrap(), rows);

        // A v1 file (the same rows without the totals) still reads, with the totals null.
        let batch = to_batch(&rows).unwrap();
        let v1 = batch
            .project(&(0..col::V1_COLUMNS).collect::<Vec<_>>())
            .unwrap();
        let got = read_parquet(file_of(&v1, None)).unwrap();
        let mut want = rows.clone();
        want.totals = std::array::from_fn(|_| F64Column::nulls(3));
        assert_eq!(got, want);
        // Any other column count is not silver.
        let cut = batch
            .project(&(0..col::V1_COLUMNS + 1).collect::<Vec<_>>())
            .unwrap();
        assert!(matches!(
            read_parquet(file_of(&cut, None)),
            Err(SilverError::Schema(_))
        ));
    }

    #[test]
    fn observed_buckets_are_the_rows_with_a_value_that_is_not_imputed() {
        let mut rows = SilverRows::default();
        // (series, value, imputed): observed, long gap, interpolated, observed, observed.
        let data = [
            ("a", Some(1.5), false),
            ("a", None, false),
            ("a", Some(2.0), true),
            ("a", Some(-0.0), false),
            ("b", Some(7.0), false),
        ];
        for (i, (key, value, imputed)) in data.into_iter().enumerate() {
            rows.metric_id.push("G".into());
            rows.series_key.push(key.into());
            rows.ts_us
                .push(1_700_000_000_000_000 + i as i64 * 3_600_000_000);
            rows.value.push(value);
            rows.is_imputed.push(imputed);
            rows.hour.push(0);
            rows.day_of_week.push(0);
            rows.is_weekend.push(false);
            rows.is_holiday.push(false);
            for c in rows.floats.iter_mut() {
                c.push(None);
            }
            rows.is_outlier.push(false);
            for c in rows.totals.iter_mut() {
                c.push(None);
            }
        }
        let body = write_parquet(&rows).unwrap();
        let got = read_observed(body.clone()).unwrap();
        // The same partition written without the rules version, or under another one.
        for version in [None, Some("0")] {
            let mut props = WriterProperties::builder();
            if let Some(v) = version {
                props = props.set_key_value_metadata(Some(vec![KeyValue::new(
                    OBSERVED_RULES_KEY.to_string(),
                    v.to_string(),
                )]));
            }
            let other = file_of(&to_batch(&rows).unwrap(), Some(props.build()));
            assert_eq!(read_parquet(other.clone()).unwrap().len(), rows.len());
            assert!(
                matches!(
                    read_observed(other),
                    Err(SilverError::OtherRules { found }) if found.as_deref() == version
                ),
                "rules {version:?}"
            );
        }
        let want: Vec<(&str, i64, f64)> = vec![
            ("a", 1_700_000_000_000_000_000, 1.5),
            ("a", 1_700_010_800_000_000_000, -0.0),
            ("b", 1_700_014_400_000_000_000, 7.0),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (k, b, v)) in got.iter().zip(want) {
            assert_eq!((g.series.as_str(), g.bucket_ns), (k, b));
            assert_eq!(g.value.to_bits(), v.to_bits());
        }
    }

    #[test]
    fn observed_buckets_need_the_silver_schema() {
        let batch = RecordBatch::try_from_iter([(
            "value",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )])
        .unwrap();
        assert!(matches!(
            read_observed(file_of(&batch, None)),
            Err(SilverError::Schema(_))
        ));
        assert!(read_observed(Bytes::from_static(b"not parquet")).is_err());
    }
}
