//! Silver history as the models read it: one series' values on a regular grid of the
//! metric's buckets ([`SeriesHistory`]), loaded from the silver partitions of a date range.
//! Training, inference, analyze now and the CLI's plots all read it from here.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::contract;
use crate::ids::{MetricId, SeriesKey};
use crate::silver;
use crate::storage::{BlobError, Stores};

/// Why history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The lake failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A silver partition could not be decoded.
    #[error(transparent)]
    Silver(#[from] silver::SilverError),
}

impl HistoryError {
    /// True when reading again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            HistoryError::Blob(e) => e.is_retryable(),
            HistoryError::Silver(_) => false,
        }
    }
}

/// Silver history of one series: values per bucket of the metric's frequency, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesHistory {
    /// The series.
    pub key: SeriesKey,
    /// First bucket, microseconds.
    pub start_us: i64,
    /// Bucket width, microseconds: value `i` is the bucket starting at
    /// `start_us + i * step_us`.
    pub step_us: i64,
    /// Values (null: missing).
    pub values: Vec<Option<f64>>,
}

impl SeriesHistory {
    /// Start of bucket `i`, microseconds.
    pub fn ts_us(&self, i: usize) -> i64 {
        self.start_us + i as i64 * self.step_us
    }
}

/// Reads the silver history of a metric for dates `[from, to]`, grouped by series, on
/// buckets `step_us` wide (the metric's frequency, [`Frequency::micros`]; must be positive).
///
/// [`Frequency::micros`]: crate::config::Frequency::micros
pub async fn load_history(
    stores: &Stores,
    metric: &MetricId,
    from: NaiveDate,
    to: NaiveDate,
    step_us: i64,
) -> Result<Vec<SeriesHistory>, HistoryError> {
    let step_us = step_us.max(1);
    let mut by_series: BTreeMap<String, Vec<(i64, Option<f64>)>> = BTreeMap::new();
    for_each_partition(stores, metric, from, to, |rows| {
        for i in 0..rows.len() {
            by_series
                .entry(rows.series_key[i].to_string())
                .or_default()
                .push((rows.ts_us[i], rows.value.get(i)));
        }
    })
    .await?;
    let mut out = Vec::new();
    for (key, mut points) in by_series {
        points.sort_by_key(|p| p.0);
        let (Some(first), Some(last)) = (points.first().map(|p| p.0), points.last().map(|p| p.0))
        else {
            continue;
        };
        let mut values = vec![None; ((last - first) / step_us + 1) as usize];
        for (t, v) in points {
            values[((t - first) / step_us) as usize] = v;
        }
        let Ok(key) = SeriesKey::new(key) else {
            continue;
        };
        out.push(SeriesHistory {
            key,
            start_us: first,
            step_us,
            values,
        });
    }
    Ok(out)
}

/// One series' silver buckets for dates `[from, to]`: `(bucket start, microseconds; value)`,
/// oldest first, only the buckets silver holds (a missing bucket is absent; a null value
/// stays `None`).
pub async fn load_series_points(
    stores: &Stores,
    metric: &MetricId,
    series: &SeriesKey,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(i64, Option<f64>)>, HistoryError> {
    let mut points = Vec::new();
    for_each_partition(stores, metric, from, to, |rows| {
        for i in 0..rows.len() {
            if *rows.series_key[i] == *series.as_str() {
                points.push((rows.ts_us[i], rows.value.get(i)));
            }
        }
    })
    .await?;
    points.sort_by_key(|p| p.0);
    Ok(points)
}

/// How many silver partitions are read at once (S3 GETs overlap; the local lake is cheap
/// either way).
const CONCURRENT_READS: usize = 16;

/// Calls `each` with every silver partition of a metric on dates `[from, to]`, decoded, in
/// no particular order; at most [`CONCURRENT_READS`] are held at once.
async fn for_each_partition(
    stores: &Stores,
    metric: &MetricId,
    from: NaiveDate,
    to: NaiveDate,
    mut each: impl FnMut(crate::features::SilverRows),
) -> Result<(), HistoryError> {
    use futures::stream::{self, StreamExt, TryStreamExt};

    let keys: Vec<String> = stores
        .blobs
        .list(&contract::silver_metric_prefix(metric))
        .await?
        .into_iter()
        .filter(|meta| {
            contract::parse_silver_key(&meta.key).is_some_and(|(_, d)| d >= from && d <= to)
        })
        .map(|meta| meta.key)
        .collect();
    stream::iter(keys)
        .map(|key| async move {
            let body = stores.blobs.get(&key).await?;
            Ok::<_, HistoryError>(silver::read_parquet(body)?)
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_for_each(|rows| {
            each(rows);
            futures::future::ready(Ok(()))
        })
        .await
}

/// The newest silver date of a metric.
pub async fn newest_silver_date(
    stores: &Stores,
    metric: &MetricId,
) -> Result<Option<NaiveDate>, HistoryError> {
    let keys = stores
        .blobs
        .list(&contract::silver_metric_prefix(metric))
        .await?;
    Ok(keys
        .iter()
        .filter_map(|m| contract::parse_silver_key(&m.key))
        .map(|(_, d)| d)
        .max())
}
