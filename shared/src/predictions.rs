//! Predictions (contract section 7): DynamoDB items of `gras_predictions` and the Parquet copy
//! at `predictions/metric=<M>/date=<YYYYMMDD>/data.parquet`.
//!
//! Item: `metric_id` (HASH: `"G"` for series `_all`, else `"G#<series_key>"`), `timestamp`
//! (RANGE, RFC 3339 UTC with seconds), `forecast` (M: `value`, `lower`, `upper`),
//! `model_version`, `generated_at`, `ttl` (generated_at + 90 days, epoch seconds). Items are
//! keyed by series and forecast time, so re-running overwrites rather than duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::contract::table;
use crate::ids::{MetricId, SeriesKey};
use crate::silver::SilverError;
use crate::storage::{Attr, Item, TableSpec};

/// The `gras_predictions` table.
pub const PREDICTIONS: TableSpec = TableSpec {
    name: table::PREDICTIONS,
    pk: attr::METRIC_ID,
    sk: Some(attr::TIMESTAMP),
};

/// Retention of prediction items.
pub const TTL_DAYS: i64 = 90;

/// Attribute names.
pub mod attr {
    /// Partition key.
    pub const METRIC_ID: &str = "metric_id";
    /// Sort key.
    pub const TIMESTAMP: &str = "timestamp";
    /// The forecast map.
    pub const FORECAST: &str = "forecast";
    /// Point forecast (inside `forecast`).
    pub const VALUE: &str = "value";
    /// Lower bound (inside `forecast`).
    pub const LOWER: &str = "lower";
    /// Upper bound (inside `forecast`).
    pub const UPPER: &str = "upper";
    /// Quantiles (inside `forecast`, v2): a map from the level as text (`"0.1"`) to the value.
    pub const QUANTILES: &str = "q";
    /// Model version.
    pub const MODEL_VERSION: &str = "model_version";
    /// Run time.
    pub const GENERATED_AT: &str = "generated_at";
    /// Expiry, epoch seconds.
    pub const TTL: &str = "ttl";
}

/// The partition key of a series: `"G"` for `_all`, else `"G#<series_key>"`.
pub fn partition_key(metric: &MetricId, series: &SeriesKey) -> String {
    if series.as_str() == "_all" {
        metric.to_string()
    } else {
        format!("{metric}#{series}")
    }
}

/// One forecast step of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The metric.
    pub metric: MetricId,
    /// The series.
    pub series: SeriesKey,
    /// The bucket forecast.
    pub ts: DateTime<Utc>,
    /// Point forecast.
    pub value: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Quantiles (level, value), ascending by level (contract v2 §7); empty for rows written
    /// before they existed.
    pub quantiles: Vec<(f64, f64)>,
    /// The approved model version that produced it.
    pub model_version: String,
    /// The run time.
    pub generated_at: DateTime<Utc>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Prediction {
    /// The DynamoDB item (non-finite numbers become NULL).
    pub fn to_item(&self) -> Item {
        let mut forecast = BTreeMap::new();
        forecast.insert(attr::VALUE.to_string(), Attr::opt_n(Some(self.value)));
        forecast.insert(attr::LOWER.to_string(), Attr::opt_n(Some(self.lower)));
        forecast.insert(attr::UPPER.to_string(), Attr::opt_n(Some(self.upper)));
        if !self.quantiles.is_empty() {
            let q = self
                .quantiles
                .iter()
                .map(|(level, v)| (level.to_string(), Attr::opt_n(Some(*v))))
                .collect();
            forecast.insert(attr::QUANTILES.to_string(), Attr::M(q));
        }
        let mut i = Item::new();
        i.insert(
            attr::METRIC_ID.into(),
            Attr::S(partition_key(&self.metric, &self.series)),
        );
        i.insert(attr::TIMESTAMP.into(), Attr::S(rfc3339(self.ts)));
        i.insert(attr::FORECAST.into(), Attr::M(forecast));
        i.insert(
            attr::MODEL_VERSION.into(),
            Attr::S(self.model_version.clone()),
        );
        i.insert(
            attr::GENERATED_AT.into(),
            Attr::S(rfc3339(self.generated_at)),
        );
        i.insert(
            attr::TTL.into(),
            Attr::N((self.generated_at.timestamp() + TTL_DAYS * 86_400) as f64),
        );
        i
    }

    /// Reads an item back (`None` when it is not a prediction item).
    pub fn from_item(item: &Item) -> Option<Self> {
        let s = |k: &str| item.get(k).and_then(Attr::as_s);
        let pk = s(attr::METRIC_ID)?;
        let (metric, series) = match pk.split_once('#') {
            Some((m, k)) => (m, k),
            None => (pk, "_all"),
        };
        let t = |k: &str| {
            DateTime::parse_from_rfc3339(s(k)?)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        };
        let Some(Attr::M(f)) = item.get(attr::FORECAST) else {
            return None;
        };
        let n = |k: &str| match f.get(k) {
            Some(Attr::N(v)) => *v,
            _ => f64::NAN,
        };
        Some(Self {
            metric: MetricId::new(metric).ok()?,
            series: SeriesKey::new(series).ok()?,
            ts: t(attr::TIMESTAMP)?,
            value: n(attr::VALUE),
            lower: n(attr::LOWER),
            upper: n(attr::UPPER),
            quantiles: quantiles_of(f.get(attr::QUANTILES)),
            model_version: s(attr::MODEL_VERSION)?.to_string(),
            generated_at: t(attr::GENERATED_AT)?,
        })
    }
}

/// The `q` map of a stored forecast as (level, value), ascending by level; a key that is not
/// a level is left out, a NULL value reads as NaN.
pub fn quantiles_of(q: Option<&Attr>) -> Vec<(f64, f64)> {
    let Some(Attr::M(m)) = q else {
        return Vec::new();
    };
    let mut out: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| Some((k.parse::<f64>().ok()?, v.as_n().unwrap_or(f64::NAN))))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The Parquet schema of the S3 copy.
pub fn schema() -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("metric_id", DataType::Utf8, false),
        Field::new("series_key", DataType::Utf8, false),
        Field::new("timestamp", ts.clone(), false),
        Field::new("value", DataType::Float64, true),
        Field::new("lower", DataType::Float64, true),
        Field::new("upper", DataType::Float64, true),
        Field::new("model_version", DataType::Utf8, false),
        Field::new("generated_at", ts, false),
    ]))
}

/// Encodes predictions as one Parquet file (zstd).
pub fn write_parquet(rows: &[Prediction]) -> Result<Bytes, SilverError> {
    let f = |v: f64| v.is_finite().then_some(v);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|p| p.metric.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|p| p.series.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|p| p.ts.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter(rows.iter().map(|p| f(p.value)))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|p| f(p.lower)))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|p| f(p.upper)))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|p| p.model_version.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|p| p.generated_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(schema(), cols)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_created_by("gras".to_string())
        .build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(series: &str) -> Prediction {
        Prediction {
            metric: MetricId::new("G").expect("id"),
            series: SeriesKey::new(series).expect("key"),
            ts: DateTime::parse_from_rfc3339("2024-01-29T14:00:00Z")
                .expect("t")
                .with_timezone(&Utc),
            value: 10.5,
            lower: 8.0,
            upper: 13.0,
            quantiles: vec![(0.05, 8.0), (0.1, 8.6), (0.5, 10.5), (0.95, 13.0)],
            model_version: "v20240129000000-abcdef".into(),
            generated_at: DateTime::parse_from_rfc3339("2024-01-29T03:00:00Z")
                .expect("t")
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn items_follow_section_7_and_round_trip() {
        let all = p("_all").to_item();
        assert_eq!(all.get("metric_id"), Some(&Attr::S("G".into())));
        assert_eq!(
            all.get("timestamp"),
            Some(&Attr::S("2024-01-29T14:00:00Z".into()))
        );
        assert_eq!(
            all.get("generated_at"),
            Some(&Attr::S("2024-01-29T03:00:00Z".into()))
        );
        // generated_at + 90 days.
        assert_eq!(
            all.get("ttl"),
            Some(&Attr::N((1_706_497_200 + 90 * 86_400) as f64))
        );
        let Some(Attr::M(f)) = all.get("forecast") else {
            panic!("forecast map")
        };
        assert_eq!(f.get("value"), Some(&Attr::N(10.5)));
        assert_eq!(f.get("lower"), Some(&Attr::N(8.0)));
        assert_eq!(f.get("upper"), Some(&Attr::N(13.0)));
        // v2: the quantiles, keyed by the level as text.
        let Some(Attr::M(q)) = f.get("q") else {
            panic!("q map: {f:?}")
        };
        let keys: Vec<&str> = q.keys().map(String::as_str).collect();
        assert_eq!(keys, ["0.05", "0.1", "0.5", "0.95"]);
        assert_eq!(q.get("0.1"), Some(&Attr::N(8.6)));
        // A v1 row (no `q`) reads with no quantiles.
        let mut v1 = all.clone();
        if let Some(Attr::M(f)) = v1.get_mut("forecast") {
            f.remove("q");
        }
        assert!(Prediction::from_item(&v1)
            .expect("v1 row")
            .quantiles
            .is_empty());
        let store = p("store-0001").to_item();
        assert_eq!(
            store.get("metric_id"),
            Some(&Attr::S("G#store-0001".into()))
        );
        assert_eq!(Prediction::from_item(&store), Some(p("store-0001")));
        assert_eq!(Prediction::from_item(&all), Some(p("_all")));
    }

    #[test]
    fn parquet_copy_has_the_schema_and_rows() {
        let body = write_parquet(&[p("_all"), p("a")]).expect("parquet");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
            .expect("reader")
            .build()
            .expect("build");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read");
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
        assert_eq!(batches[0].schema().fields().len(), 8);
    }
}
