//! Test support shared by the test suites of every crate (feature `testkit`): bronze files
//! built in memory, silver collected from a store, and the contract's equality of silver.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;

use crate::contract::BronzeKey;
use crate::features::SilverRows;
use crate::ids::MetricId;
use crate::storage::{BlobStore, Item, TableStore};

/// 2024-01-01T00:00:00Z in epoch milliseconds.
pub const T0_MS: i64 = 1_704_067_200_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Writes columns as one Parquet file (nullable fields).
pub fn parquet(cols: Vec<(&str, ArrayRef)>) -> Bytes {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
        .expect("columns fit");
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    Bytes::from(buf)
}

/// A bronze file of one metric and day: rows of `(series_key, ts_ms, value)`.
#[derive(Debug, Clone)]
pub struct BronzeFile {
    /// Metric id.
    pub metric: &'static str,
    /// Day offset from 2024-01-01.
    pub day: i64,
    /// Object name.
    pub name: String,
    /// Rows.
    pub rows: Vec<(Option<&'static str>, i64, f64)>,
}

impl BronzeFile {
    /// The object key.
    pub fn key(&self) -> String {
        let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
            + chrono::Days::new(self.day as u64);
        BronzeKey::key(
            &MetricId::new(self.metric).expect("metric"),
            date,
            &self.name,
        )
    }

    /// The Parquet bytes.
    pub fn body(&self) -> Bytes {
        let series: ArrayRef = Arc::new(StringArray::from(
            self.rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(
            self.rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ));
        let v: ArrayRef = Arc::new(Float64Array::from(
            self.rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        ));
        parquet(vec![("series_key", series), ("ts", ts), ("value", v)])
    }

    /// Hourly rows for series `a` and `_all` on day `d`, skipping the hours in `skip`.
    pub fn dense(metric: &'static str, d: i64, name: &str, skip: &[i64]) -> Self {
        let mut rows = Vec::new();
        for h in 0..24 {
            if skip.contains(&h) {
                continue;
            }
            for s in [Some("a"), None] {
                let ts = T0_MS + d * DAY_MS + h * HOUR_MS + 60_000 * (h % 3);
                rows.push((s, ts, 10.0 + ((h * 7 + d * 3) % 11) as f64));
            }
        }
        Self {
            metric,
            day: d,
            name: name.into(),
            rows,
        }
    }
}

/// Every silver partition in a store: key -> decoded rows.
pub async fn silver(blobs: &dyn BlobStore) -> BTreeMap<String, SilverRows> {
    let mut out = BTreeMap::new();
    for m in blobs.list("silver/").await.expect("list silver") {
        let body = blobs.get(&m.key).await.expect("get silver");
        out.insert(
            m.key.clone(),
            crate::silver::read_parquet(body).expect("silver parquet"),
        );
    }
    out
}

/// The online feature items of `pks`, without `updated_at`/`ttl`.
pub async fn online(tables: &dyn TableStore, pks: &[String]) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    for pk in pks {
        if let Some(mut item) = tables
            .get(&crate::online::FEATURES, pk, "")
            .await
            .expect("get online item")
        {
            item.remove("updated_at");
            item.remove("ttl");
            out.insert(pk.clone(), item);
        }
    }
    out
}

/// Asserts two silver sets are equal: same partitions, rows, and cells (floats within
/// 1e-9 relative, the contract's tolerance).
pub fn assert_silver_eq(a: &BTreeMap<String, SilverRows>, b: &BTreeMap<String, SilverRows>) {
    let ka: Vec<_> = a.keys().collect();
    let kb: Vec<_> = b.keys().collect();
    assert_eq!(ka, kb, "partition sets differ");
    for (k, ra) in a {
        let rb = &b[k];
        assert_eq!(ra.len(), rb.len(), "{k}: row counts differ");
        assert_eq!(ra.metric_id, rb.metric_id, "{k}: metric_id");
        assert_eq!(ra.series_key, rb.series_key, "{k}: series");
        assert_eq!(ra.ts_us, rb.ts_us, "{k}: ts");
        assert_eq!(ra.is_imputed, rb.is_imputed, "{k}: is_imputed");
        assert_eq!(
            (&ra.hour, &ra.day_of_week, &ra.is_weekend),
            (&rb.hour, &rb.day_of_week, &rb.is_weekend),
            "{k}: calendar"
        );
        assert_eq!(ra.is_outlier, rb.is_outlier, "{k}: is_outlier");
        assert_eq!(ra.is_holiday, rb.is_holiday, "{k}: is_holiday");
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12),
            _ => false,
        };
        for (i, (x, y)) in ra.value.iter().zip(rb.value.iter()).enumerate() {
            assert!(close(x, y), "{k} row {i} value: {x:?} vs {y:?}");
        }
        for c in 0..10 {
            for (i, (x, y)) in ra.floats[c].iter().zip(rb.floats[c].iter()).enumerate() {
                assert!(close(x, y), "{k} row {i} feature {c}: {x:?} vs {y:?}");
            }
        }
        for (name, (ca, cb)) in crate::contract::silver_col::TOTALS
            .iter()
            .zip(ra.totals.iter().zip(&rb.totals))
        {
            for (i, (x, y)) in ca.iter().zip(cb.iter()).enumerate() {
                assert!(close(x, y), "{k} row {i} {name}: {x:?} vs {y:?}");
            }
        }
    }
}
