//! Helpers shared by the integration tests: writing bronze Parquet files in memory and
//! collecting silver from a store.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use bytes::Bytes;
use gras_shared::features::SilverRows;
use gras_shared::storage::{table::query_all, BlobStore, Query, TableStore};
use parquet::arrow::ArrowWriter;

/// Writes columns as one Parquet file (nullable fields).
pub fn parquet(cols: Vec<(&str, ArrayRef)>) -> Bytes {
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    Bytes::from(buf)
}

/// Every silver partition in a store: key -> decoded rows.
pub async fn silver(blobs: &dyn BlobStore) -> BTreeMap<String, SilverRows> {
    let mut out = BTreeMap::new();
    for m in blobs.list("silver/").await.unwrap() {
        let body = blobs.get(&m.key).await.unwrap();
        out.insert(m.key.clone(), gras_shared::silver::read_parquet(body).unwrap());
    }
    out
}

/// Every online feature item, by pk, without `updated_at`/`ttl`.
pub async fn online(tables: &dyn TableStore, pks: &[String]) -> BTreeMap<String, gras_shared::storage::Item> {
    let mut out = BTreeMap::new();
    for pk in pks {
        if let Some(mut item) = tables.get(&gras_shared::online::FEATURES, pk, "").await.unwrap() {
            item.remove("updated_at");
            item.remove("ttl");
            out.insert(pk.clone(), item);
        }
    }
    let _ = query_all;
    let _ = Query::all("");
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
        assert_eq!(ra.series_key, rb.series_key, "{k}: series");
        assert_eq!(ra.ts_us, rb.ts_us, "{k}: ts");
        assert_eq!(ra.is_imputed, rb.is_imputed, "{k}: is_imputed");
        assert_eq!(ra.is_outlier, rb.is_outlier, "{k}: is_outlier");
        assert_eq!(ra.is_holiday, rb.is_holiday, "{k}: is_holiday");
        let close = |x: &Option<f64>, y: &Option<f64>| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12),
            _ => false,
        };
        for (i, (x, y)) in ra.value.iter().zip(&rb.value).enumerate() {
            assert!(close(x, y), "{k} row {i} value: {x:?} vs {y:?}");
        }
        for c in 0..10 {
            for (i, (x, y)) in ra.floats[c].iter().zip(&rb.floats[c]).enumerate() {
                assert!(close(x, y), "{k} row {i} feature {c}: {x:?} vs {y:?}");
            }
        }
    }
}
