//! The features handler's time for one day-file of 100k rows (issue: features Lambda).
//!
//! `cargo bench -p gras-shared --features testkit --bench handler`
//! Builds a bronze day-file of metric G with 200 series x 24 hours x ~21 sub-hour events
//! (100,800 rows), then times the incremental path on in-memory stores: in order (the file
//! extends 7 days of history: the common case) and as a late file (it changes the next 7
//! days too). Then a burst: the same day as six files of four hours each, handled one
//! file at a time and as one SQS batch (`FeatureEngine::apply`, which shares the
//! recomputation). Then a correction: after 30 days, the file of day 11 is uploaded again
//! with other values (same key), and the newest day replaced by a shorter file (a rebuild of
//! the metric), and the newest day's file of half the series corrected (the day in two
//! files by series). Then hourly files: after 8 days and 6 hours of one file per
//! hour, the next hour's file arrives, in memory and with 20 ms on every blob call (an
//! object store's round trip). Reports the median of several runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, StringArray, TimestampMillisecondArray};
use gras_shared::contract::BronzeKey;
use gras_shared::pipeline::features::{Change, FeatureEngine, ObjectReport};
use gras_shared::storage::{BlobError, BlobStore, ObjectMeta, Stores};
use gras_shared::testkit::{parquet, DAY_MS, T0_MS};
use gras_shared::{Config, MetricId};

const SERIES: usize = 200;
const EVENTS_PER_HOUR: usize = 21;

fn day_file(day: i64) -> (String, bytes::Bytes, usize) {
    hours_file(day, 0..24, "part-0000.parquet", 0.0)
}

fn hours_file(
    day: i64,
    hours: std::ops::Range<i64>,
    name: &str,
    correction: f64,
) -> (String, bytes::Bytes, usize) {
    series_file(day, hours, 0..SERIES, name, correction)
}

/// The rows of `series` (indices into the 200 stores) for `hours` of `day`.
fn series_file(
    day: i64,
    hours: std::ops::Range<i64>,
    stores: std::ops::Range<usize>,
    name: &str,
    correction: f64,
) -> (String, bytes::Bytes, usize) {
    let names: Vec<(usize, String)> = stores.map(|s| (s, format!("store-{s:04}"))).collect();
    let (mut series, mut ts, mut value) = (Vec::new(), Vec::new(), Vec::new());
    for h in hours {
        for (s, name) in names.iter().map(|(s, n)| (*s, n)) {
            for e in 0..EVENTS_PER_HOUR as i64 {
                series.push(name.clone());
                ts.push(T0_MS + day * DAY_MS + h * 3_600_000 + e * 170_000 + s as i64);
                value.push(1.0 + ((h * 13 + e * 7 + s as i64) % 17) as f64 + correction);
            }
        }
    }
    let n = ts.len();
    let body = parquet(vec![
        (
            "series_key",
            Arc::new(StringArray::from(series)) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")) as ArrayRef,
        ),
        ("value", Arc::new(Float64Array::from(value)) as ArrayRef),
    ]);
    let date =
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date") + chrono::Days::new(day as u64);
    (
        BronzeKey::key(&MetricId::new("G").expect("G"), date, name),
        body,
        n,
    )
}

/// In-memory stores and an engine that has ingested `days`, one file at a time.
async fn with_history(
    config: &Arc<Config>,
    days: &[(String, bytes::Bytes, usize)],
) -> (Stores, FeatureEngine) {
    let stores = Stores::memory();
    let engine = FeatureEngine::new(stores.clone(), config.clone());
    for (key, body, _) in days {
        stores.blobs.put(key, body.clone()).await.expect("put");
        engine.ingest_one(key).await.expect("ingest");
    }
    (stores, engine)
}

/// Times `runs` times, each on a fresh engine that has ingested `history`, the ingestion of
/// `file` uploaded over its key; returns the times and the last run's report.
async fn replace_after(
    config: &Arc<Config>,
    history: &[(String, bytes::Bytes, usize)],
    file: &(String, bytes::Bytes, usize),
    runs: usize,
) -> (Vec<f64>, ObjectReport) {
    let (mut times, mut report) = (Vec::new(), None);
    for _ in 0..runs {
        let (stores, engine) = with_history(config, history).await;
        let (key, body, _) = file;
        stores.blobs.put(key, body.clone()).await.expect("put");
        let t = Instant::now();
        report = Some(engine.ingest_one(key).await.expect("ingest"));
        times.push(t.elapsed().as_secs_f64());
    }
    (times, report.expect("at least one run"))
}

/// Latency added to every blob call in the slow hour-file case (about S3's time to first
/// byte for small objects).
const SLOW_MS: u64 = 20;

/// A blob store that waits `latency` before every call (an object store's round trip).
#[derive(Debug)]
struct Slow {
    inner: Arc<dyn BlobStore>,
    latency: Duration,
}

#[async_trait::async_trait]
impl BlobStore for Slow {
    async fn get(&self, key: &str) -> Result<bytes::Bytes, BlobError> {
        tokio::time::sleep(self.latency).await;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: bytes::Bytes) -> Result<(), BlobError> {
        tokio::time::sleep(self.latency).await;
        self.inner.put(key, body).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        tokio::time::sleep(self.latency).await;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BlobError> {
        tokio::time::sleep(self.latency).await;
        self.inner.list(prefix).await
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = Arc::new(Config::gras_defaults());
    let days: Vec<_> = (0..15).map(day_file).collect();
    let rows = days[0].2;
    let runs = 5;
    let (mut in_order, mut late) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        rt.block_on(async {
            // 7 days of history, then time day 8 arriving in order.
            let (stores, engine) = with_history(&config, &days[..7]).await;
            let (key, body, _) = &days[7];
            stores.blobs.put(key, body.clone()).await.expect("put");
            let t = Instant::now();
            engine.ingest_one(key).await.expect("ingest");
            in_order.push(t.elapsed().as_secs_f64());
            // Days 9..15, then day 9 replaced by a late version: recomputes 8 partitions.
            for (key, body, _) in &days[9..] {
                stores.blobs.put(key, body.clone()).await.expect("put");
                engine.ingest_one(key).await.expect("ingest");
            }
            let (key, body, _) = &days[8];
            stores.blobs.put(key, body.clone()).await.expect("put");
            let t = Instant::now();
            let r = engine.ingest_one(key).await.expect("ingest");
            late.push(t.elapsed().as_secs_f64());
            assert!(
                r.partitions.len() >= 8,
                "late file recomputes the following week"
            );
        });
    }
    // The burst: day 8 (index 7) as six 4-hour files after 7 days of history.
    let parts: Vec<_> = (0..6)
        .map(|p| hours_file(7, p * 4..p * 4 + 4, &format!("hours-{p}.parquet"), 0.0))
        .collect();
    let (mut one_by_one, mut batched) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for batch in [false, true] {
            rt.block_on(async {
                let (stores, engine) = with_history(&config, &days[..7]).await;
                for (key, body, _) in &parts {
                    stores.blobs.put(key, body.clone()).await.expect("put");
                }
                let changes: Vec<Change> = parts
                    .iter()
                    .map(|(key, _, _)| Change::Created(key.clone()))
                    .collect();
                let t = Instant::now();
                if batch {
                    for r in engine.apply(&changes).await {
                        r.expect("ingest");
                    }
                    batched.push(t.elapsed().as_secs_f64());
                } else {
                    for c in &changes {
                        for r in engine.apply(std::slice::from_ref(c)).await {
                            r.expect("ingest");
                        }
                    }
                    one_by_one.push(t.elapsed().as_secs_f64());
                }
            });
        }
    }
    // The correction: 30 days ingested, then day 11 (index 10) again with other values.
    let month: Vec<_> = (0..30).map(day_file).collect();
    let corrected = hours_file(10, 0..24, "part-0000.parquet", 0.5);
    let (correction, correction_report) =
        rt.block_on(replace_after(&config, &month, &corrected, runs));
    // A rebuild: after the 30 days, the newest day's file is replaced by one that ends at
    // 20:00 (the series end earlier, which only a rebuild of the metric can tell).
    let shortened = hours_file(29, 0..20, "part-0000.parquet", 0.0);
    let (rebuild, rebuild_report) = rt.block_on(replace_after(&config, &month, &shortened, runs));
    assert!(rebuild_report.rebuilt, "a shortened newest day rebuilds");
    // The newest day as two files of 100 series each; the first corrected (same hours).
    let mut halves = month.clone();
    halves.pop();
    halves.push(series_file(
        29,
        0..24,
        0..SERIES / 2,
        "part-0000.parquet",
        0.0,
    ));
    halves.push(series_file(
        29,
        0..24,
        SERIES / 2..SERIES,
        "part-0001.parquet",
        0.0,
    ));
    let half_fixed = series_file(29, 0..24, 0..SERIES / 2, "part-0000.parquet", 0.5);
    let (half, half_report) = rt.block_on(replace_after(&config, &halves, &half_fixed, runs));
    let (correction_partitions, rebuild_partitions) = (
        correction_report.partitions.len(),
        rebuild_report.partitions.len(),
    );
    // Hourly files: days 1-8 and the first six hours of day 9, one file per hour (written by
    // the batch path, which leaves the same state), then hour 6 of day 9 arrives.
    let hourly: Vec<_> = (0..8)
        .flat_map(|d| (0..24).map(move |h| (d, h)))
        .chain((0..6).map(|h| (8, h)))
        .map(|(d, h)| hours_file(d, h..h + 1, &format!("hour-{h:02}.parquet"), 0.0))
        .collect();
    let next_hour = hours_file(8, 6..7, "hour-06.parquet", 0.0);
    // The same, in memory and then with an object store's latency on every blob call.
    let (mut hour, mut hour_slow) = (Vec::new(), Vec::new());
    for latency_ms in [0, SLOW_MS] {
        for _ in 0..runs {
            rt.block_on(async {
                let stores = Stores::memory();
                for (key, body, _) in &hourly {
                    stores.blobs.put(key, body.clone()).await.expect("put");
                }
                FeatureEngine::new(stores.clone(), config.clone())
                    .batch()
                    .await
                    .expect("batch");
                let (key, body, _) = &next_hour;
                stores.blobs.put(key, body.clone()).await.expect("put");
                let stores = Stores {
                    blobs: Arc::new(Slow {
                        inner: stores.blobs.clone(),
                        latency: Duration::from_millis(latency_ms),
                    }),
                    tables: stores.tables.clone(),
                };
                let engine = FeatureEngine::new(stores, config.clone());
                let t = Instant::now();
                let r = engine.ingest_one(key).await.expect("ingest");
                let times = if latency_ms == 0 {
                    &mut hour
                } else {
                    &mut hour_slow
                };
                times.push(t.elapsed().as_secs_f64());
                assert_eq!(r.partitions.len(), 1, "a new hour rewrites its day");
            });
        }
    }
    println!("day-file rows: {rows}, series: {SERIES}, runs: {runs}");
    println!(
        "in-order day-file: median {:.3}s ({:.0} rows/s)",
        median(in_order.clone()),
        rows as f64 / median(in_order)
    );
    println!(
        "late day-file (rewrites 8 partitions): median {:.3}s",
        median(late)
    );
    println!(
        "burst of 6 four-hour files of one day: one at a time median {:.3}s, one batch median {:.3}s",
        median(one_by_one),
        median(batched)
    );
    println!(
        "corrected day-file inside 30 days: median {:.3}s ({correction_partitions} partitions)",
        median(correction)
    );
    println!(
        "newest day-file shortened after 30 days (rebuild): median {:.3}s ({rebuild_partitions} partitions)",
        median(rebuild)
    );
    println!(
        "newest day's file of half the series corrected after 30 days: median {:.3}s ({} partitions{})",
        median(half),
        half_report.partitions.len(),
        if half_report.rebuilt { ", rebuild" } else { "" }
    );
    println!(
        "in-order hour-file after 8 days of hourly files: median {:.3}s ({} rows)",
        median(hour),
        next_hour.2
    );
    println!(
        "the same hour-file with {SLOW_MS} ms on every blob call: median {:.3}s",
        median(hour_slow)
    );
}
