//! Contract v2, section 3: the bounds of cleansing (`ts_range`, `max_abs_value`) and the
//! ceiling on the partitions one bronze object may make the incremental path write. A
//! hostile file (rows dated 1970 and 2200, a value of 1e308) leaves no partition outside
//! the data's range and no infinite cell; a file that would rewrite more partitions than
//! the ceiling fails alone, naming itself, with nothing written.

use std::sync::Arc;

use gras_shared::bronze::RejectReason;
use gras_shared::pipeline::features::{EngineOptions, FeatureEngine, FeaturesError};
use gras_shared::storage::Stores;
use gras_shared::testkit::{assert_silver_eq, silver, BronzeFile, DAY_MS, T0_MS};
use gras_shared::Config;

fn config(extra: &str) -> Arc<Config> {
    let text = format!("{extra}[metrics.G]\naggregation = \"sum\"\n[metrics.L]\naggregation = \"last\"\nmax_abs_value = 50.0\n");
    Arc::new(Config::from_toml(&text, None).unwrap())
}

fn engine(stores: &Stores, config: Arc<Config>) -> FeatureEngine {
    FeatureEngine::new(stores.clone(), config).with_options(EngineOptions {
        not_found_retries: 0,
        ..EngineOptions::default()
    })
}

/// A file of `metric` on day `d` (its key's date) with rows at `ts_ms` of value `value`.
fn file(metric: &'static str, d: i64, name: &str, rows: &[(i64, f64)]) -> BronzeFile {
    BronzeFile {
        metric,
        day: d,
        name: name.into(),
        rows: rows.iter().map(|&(t, v)| (Some("a"), t, v)).collect(),
    }
}

const MS_1970: i64 = 0;
/// 2200-01-01T00:00:00Z.
const MS_2200: i64 = 7_258_118_400_000;

#[test]
fn a_hostile_file_is_cleansed_by_reason_in_batch_and_incremental_alike() {
    crate::runtime().block_on(async {
        let mut files: Vec<BronzeFile> = (0..3)
            .flat_map(|d| {
                [
                    BronzeFile::dense("G", d, "part-0.parquet", &[]),
                    BronzeFile::dense("L", d, "part-0.parquet", &[]),
                ]
            })
            .collect();
        let t = T0_MS + DAY_MS + 5 * 3_600_000;
        files.push(file(
            "G",
            1,
            "hostile.parquet",
            &[
                (MS_1970, 1.0),
                (MS_2200, 2.0),
                (t, 1e308),
                (t + 60_000, 4.0),
            ],
        ));
        // L's own bound is 50: 51 goes, -50 stays.
        files.push(file("L", 1, "big.parquet", &[(t, 51.0), (t + 1, -50.0)]));
        let cfg = config("");

        let batch = Stores::memory();
        for f in &files {
            batch.blobs.put(&f.key(), f.body()).await.unwrap();
        }
        let summary = FeatureEngine::new(batch.clone(), cfg.clone())
            .batch()
            .await
            .unwrap();
        assert!(summary.failed.is_empty(), "{summary}");

        let inc = Stores::memory();
        let e = engine(&inc, cfg.clone());
        for f in files.iter().rev() {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
            let r = e.ingest_one(&f.key()).await.unwrap();
            let rejected = &r.rejected.0;
            match f.name.as_str() {
                "hostile.parquet" => {
                    assert_eq!(rejected.get(&RejectReason::TsOutOfRange), Some(&2));
                    assert_eq!(rejected.get(&RejectReason::ValueOutOfRange), Some(&1));
                    assert_eq!(r.rows_read, 4);
                    assert!(r.partitions.len() <= 3, "{:?}", r.partitions);
                }
                "big.parquet" => {
                    assert_eq!(rejected.get(&RejectReason::ValueOutOfRange), Some(&1));
                    assert_eq!(rejected.len(), 1);
                }
                _ => assert!(rejected.is_empty()),
            }
        }
        let (want, got) = (silver(&*batch.blobs).await, silver(&*inc.blobs).await);
        assert_silver_eq(&want, &got);
        // Three days per metric, nothing in 1970 or 2200, every float finite.
        assert_eq!(want.len(), 6, "{:?}", want.keys().collect::<Vec<_>>());
        for (key, rows) in &want {
            assert!(key.contains("date=2024-01-0"), "{key}");
            let cols = rows.floats.iter().chain(&rows.totals).chain([&rows.value]);
            for col in cols {
                assert!(col.iter().flatten().all(|v| v.is_finite()), "{key}");
            }
        }
        // The good rows of both files are in: G's bucket 05:00 holds only the 4.0 row.
        let g1 = &want["silver/gras/features/metric=G/date=2024-01-02/part-0.parquet"];
        let at = |hour: i64| {
            let ts = (T0_MS + DAY_MS + hour * 3_600_000) * 1_000;
            (0..g1.len())
                .find(|&i| &*g1.series_key[i] == "a" && g1.ts_us[i] == ts)
                .map(|i| g1.value.get(i))
        };
        assert_eq!(at(5), Some(Some(4.0 + 10.0 + ((5 * 7 + 3) % 11) as f64)));
    });
}

#[test]
fn a_file_that_would_rewrite_more_partitions_than_the_ceiling_fails_alone_and_writes_nothing() {
    crate::runtime().block_on(async {
        let stores = Stores::memory();
        let e = engine(&stores, config("max_partitions_per_file = 40\n"));
        for d in 0..3 {
            let f = BronzeFile::dense("G", d, "part-0.parquet", &[]);
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            e.ingest_one(&f.key()).await.unwrap();
        }
        let before = silver(&*stores.blobs).await;
        // In range, but 60 days before the series starts: 63 partitions, over the 40 allowed.
        let far = file(
            "G",
            2,
            "far.parquet",
            &[(T0_MS - 60 * DAY_MS, 1.0), (T0_MS + 2 * DAY_MS, 2.0)],
        );
        stores.blobs.put(&far.key(), far.body()).await.unwrap();
        let err = e.ingest_one(&far.key()).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        match &err {
            FeaturesError::TooManyPartitions {
                key,
                partitions,
                ceiling,
            } => {
                assert_eq!(key, &far.key());
                assert_eq!(*partitions, 63);
                assert_eq!(*ceiling, 40);
            }
            other => panic!("{other}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&far.key()) && message.contains("max_partitions_per_file"),
            "{message}"
        );
        // Nothing written: silver, index and manifest as before.
        assert_eq!(silver(&*stores.blobs).await, before);
        let manifest = gras_shared::state::get_manifest(&*stores.tables, &far.key())
            .await
            .unwrap();
        assert!(manifest.is_none(), "{manifest:?}");
        // The other files still go through; a later, ordinary file too.
        let next = BronzeFile::dense("G", 3, "part-0.parquet", &[]);
        stores.blobs.put(&next.key(), next.body()).await.unwrap();
        e.ingest_one(&next.key()).await.unwrap();
        // With the default ceiling, the same object is processed and silver equals batch.
        let raised = engine(&stores, config(""));
        let r = raised.ingest_one(&far.key()).await.unwrap();
        assert_eq!(
            r.partitions.len(),
            64,
            "63 days, and day 3 (within 31 days of day 2)"
        );
        let expected = Stores::memory();
        for f in (0..4)
            .map(|d| BronzeFile::dense("G", d, "part-0.parquet", &[]))
            .chain([far])
        {
            expected.blobs.put(&f.key(), f.body()).await.unwrap();
        }
        FeatureEngine::new(expected.clone(), config(""))
            .batch()
            .await
            .unwrap();
        assert_silver_eq(
            &silver(&*expected.blobs).await,
            &silver(&*stores.blobs).await,
        );
    });
}
