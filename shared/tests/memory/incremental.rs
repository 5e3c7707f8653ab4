//! Contract section 4's invariant: after any sequence of bronze uploads, in any order, with
//! replays and late files, silver equals what one batch run over all bronze produces. So do
//! the online features.

use std::sync::Arc;

use bytes::Bytes;
use gras_shared::pipeline::features::{
    Change, EngineOptions, FeatureEngine, FeaturesError, ObjectOutcome,
};
use gras_shared::state;
use gras_shared::storage::Stores;
use gras_shared::testkit::{assert_silver_eq, online, silver, BronzeFile};
use gras_shared::Config;
use proptest::prelude::*;

use gras_shared::testkit::DAY_MS;

fn config() -> Arc<Config> {
    Arc::new(
        Config::from_toml(
            "holidays = [\"2024-01-03\"]\n[metrics.G]\naggregation = \"sum\"\n[metrics.A]\naggregation = \"mean\"\n[metrics.L]\naggregation = \"last\"\noutlier_z = 1.5\n",
            None,
        )
        .unwrap(),
    )
}

type File = BronzeFile;

fn file_strategy(idx: usize) -> impl Strategy<Value = File> {
    (
        prop::sample::select(vec!["G", "A", "L"]),
        0i64..14,
        // density of hours present, row multiplicity, value spread
        prop::collection::vec(
            (
                prop::sample::select(vec![Some("a"), Some("b"), None]),
                0i64..24 * 60,
                0u8..6,
                any::<bool>(),
            ),
            10..120,
        ),
        0u8..10,
    )
        .prop_map(move |(metric, d, raw, late)| {
            let mut rows = Vec::new();
            for (s, minute, v, dup) in raw {
                // A late file occasionally carries rows of the previous or next day.
                let shift = match late {
                    0 => -DAY_MS,
                    1 => DAY_MS,
                    _ => 0,
                };
                let ts = d * DAY_MS + minute * 60_000 + shift + 1_704_067_200_000;
                let value = f64::from(v) * 1.5 + if minute % 7 == 0 { 40.0 } else { 0.0 };
                rows.push((s, ts, value));
                if dup {
                    rows.push((s, ts, value)); // exact duplicate
                }
            }
            File {
                metric,
                day: d,
                name: format!("part-{idx}.parquet"),
                rows,
            }
        })
}

async fn batch(files: &[File]) -> Stores {
    let stores = Stores::memory();
    for f in files {
        stores.blobs.put(&f.key(), f.body()).await.unwrap();
    }
    let s = FeatureEngine::new(stores.clone(), config())
        .batch()
        .await
        .unwrap();
    assert!(s.failed.is_empty(), "{s}");
    stores
}

fn engine(stores: &Stores) -> FeatureEngine {
    FeatureEngine::new(stores.clone(), config()).with_options(EngineOptions {
        not_found_retries: 0,
        ..EngineOptions::default()
    })
}

fn pks() -> Vec<String> {
    let mut out = Vec::new();
    for m in ["G", "A", "L"] {
        for s in ["a", "b", "_all"] {
            out.push(format!("{m}#{s}"));
        }
    }
    out
}

async fn assert_same(a: &Stores, b: &Stores) {
    assert_silver_eq(&silver(&*a.blobs).await, &silver(&*b.blobs).await);
    assert_eq!(
        online(&*a.tables, &pks()).await,
        online(&*b.tables, &pks()).await,
        "online features differ"
    );
}

#[test]
fn in_order_daily_files_equal_batch() {
    crate::runtime().block_on(async {
        let mut files = Vec::new();
        for d in 0..12 {
            // Day 5 has a gap of 3 (interpolated), day 6 a gap of 4 (not); day 9 is missing.
            let skip: &[i64] = match d {
                5 => &[3, 4, 5],
                6 => &[10, 11, 12, 13],
                _ => &[],
            };
            if d != 9 {
                files.push(BronzeFile::dense("G", d, "part-0.parquet", skip));
            }
        }
        let expected = batch(&files).await;
        let inc = Stores::memory();
        let e = engine(&inc);
        for f in &files {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
            let r = e.ingest_one(&f.key()).await.unwrap();
            assert_eq!(r.outcome, ObjectOutcome::Processed);
            // In-order arrival only touches the file's day and the day before (after the
            // missing day 9, also the day 9 partition of nulls).
            let most = if f.day == 10 { 3 } else { 2 };
            assert!(r.partitions.len() <= most, "{:?}", r.partitions);
        }
        assert_same(&expected, &inc).await;
        let silver = silver(&*inc.blobs).await;
        // Day 9 exists as a partition of null values (a long gap inside the timeline).
        let d9 = &silver["silver/gras/features/metric=G/date=2024-01-10/part-0.parquet"];
        assert!(d9.value.iter().all(|v| v.is_none()) && d9.len() == 48);
        let d5 = &silver["silver/gras/features/metric=G/date=2024-01-06/part-0.parquet"];
        assert_eq!(
            d5.is_imputed.iter().filter(|b| **b).count(),
            6,
            "3 buckets x 2 series"
        );
    });
}

#[test]
fn reverse_order_late_files_and_replays_equal_batch() {
    crate::runtime().block_on(async {
        let mut files: Vec<File> = (0..11)
            .map(|d| BronzeFile::dense("A", d, "part-0.parquet", &[]))
            .collect();
        files.push(BronzeFile::dense("A", 3, "late-1.parquet", &[1, 2]));
        let expected = batch(&files).await;
        let inc = Stores::memory();
        let e = engine(&inc);
        for f in files.iter().rev() {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
            e.ingest_one(&f.key()).await.unwrap();
        }
        for f in &files {
            let r = e.ingest_one(&f.key()).await.unwrap();
            assert_eq!(r.outcome, ObjectOutcome::Replay);
            assert!(r.partitions.is_empty());
        }
        assert_same(&expected, &inc).await;
    });
}

#[test]
fn replaced_and_removed_objects_and_bad_files() {
    crate::runtime().block_on(async {
        let files: Vec<File> = (0..9)
            .map(|d| BronzeFile::dense("L", d, "part-0.parquet", &[]))
            .collect();
        let inc = Stores::memory();
        let e = engine(&inc);
        for f in &files {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
            e.ingest_one(&f.key()).await.unwrap();
        }
        // Replace the last day's object with one hour only: the extent shrinks.
        let mut short = BronzeFile::dense("L", 8, "part-0.parquet", &[]);
        short.rows.truncate(2);
        inc.blobs.put(&short.key(), short.body()).await.unwrap();
        let r = e.ingest_one(&short.key()).await.unwrap();
        assert!(r.rebuilt, "a replacement that shortens the series rebuilds");
        let mut now = files[..8].to_vec();
        now.push(short.clone());
        assert_same(&batch(&now).await, &inc).await;

        // A stale removal (an old version deleted on a versioned bucket) of an object that
        // still exists changes nothing.
        let r = e.remove_one(&files[3].key()).await.unwrap();
        assert_ne!(r.outcome, ObjectOutcome::Removed);
        assert_same(&batch(&now).await, &inc).await;

        // Remove day 7: the object is gone when its event is handled.
        inc.blobs.delete(&files[7].key()).await.unwrap();
        let r = e.ingest_one(&files[7].key()).await.unwrap();
        assert_eq!(r.outcome, ObjectOutcome::Removed);
        now.remove(7);
        assert_same(&batch(&now).await, &inc).await;

        // A bad file fails alone and changes nothing; a non-bronze key is ignored.
        let bad = "bronze/gras/metric=L/year=2024/month=01/day=02/broken.parquet";
        inc.blobs
            .put(bad, Bytes::from_static(b"PAR1 not really"))
            .await
            .unwrap();
        let summary = e
            .ingest(&[
                bad.to_string(),
                "bronze/gras/readme.txt".to_string(),
                files[0].key(),
            ])
            .await;
        assert_eq!(summary.failed.len(), 1, "{summary}");
        assert!(!summary.failed[0].retryable);
        assert_eq!((summary.ignored, summary.replays), (1, 1), "{summary}");
        inc.blobs.delete(bad).await.unwrap();
        assert_same(&batch(&now).await, &inc).await;
    });
}

#[test]
fn batch_rerun_drops_what_vanished() {
    crate::runtime().block_on(async {
        let g = gras_shared::MetricId::new("G").unwrap();
        let dense: Vec<File> = (0..4)
            .map(|d| BronzeFile::dense("G", d, "part-0.parquet", &[]))
            .collect();
        let mut only_b = BronzeFile::dense("G", 1, "b.parquet", &[]);
        for r in &mut only_b.rows {
            r.0 = Some("b");
        }
        let mut all = dense.clone();
        all.push(only_b.clone());
        let stores = batch(&all).await;
        let index_keys = |entries: Vec<(chrono::NaiveDate, String)>| {
            entries
                .into_iter()
                .map(|(_, k)| k)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let before = state::query_index_all(&*stores.tables, &g).await.unwrap();
        assert!(index_keys(before).contains(&only_b.key()));
        assert!(online(&*stores.tables, &["G#b".to_string()])
            .await
            .contains_key("G#b"));

        // Series b's only object goes away and a bad file arrives: a re-run forgets both.
        stores.blobs.delete(&only_b.key()).await.unwrap();
        let bad = "bronze/gras/metric=G/year=2024/month=01/day=03/broken.parquet";
        stores
            .blobs
            .put(bad, Bytes::from_static(b"PAR1 not really"))
            .await
            .unwrap();
        let s = FeatureEngine::new(stores.clone(), config())
            .batch()
            .await
            .unwrap();
        assert_eq!(s.failed.len(), 1, "{s}");
        let after = state::query_index_all(&*stores.tables, &g).await.unwrap();
        assert_eq!(
            after.len(),
            dense.len(),
            "one entry per day file: {after:?}"
        );
        assert_eq!(
            index_keys(after),
            dense.iter().map(File::key).collect(),
            "stale entries are removed, current ones kept"
        );
        let extents = state::load_extents(&*stores.tables, &g).await.unwrap();
        let series: Vec<&str> = extents.keys().map(|k| k.as_str()).collect();
        assert_eq!(series, vec!["_all", "a"]);
        assert!(
            online(&*stores.tables, &["G#b".to_string()])
                .await
                .is_empty(),
            "the vanished series' online item is deleted"
        );
        stores.blobs.delete(bad).await.unwrap();
        assert_same(&batch(&dense).await, &stores).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// Random files; a random upload order with replays, handled in SQS batches of random
    /// sizes (1 = one object at a time); checked against a batch run of the files uploaded so
    /// far after a random midpoint batch and at the end.
    #[test]
    fn any_order_with_replays_equals_batch(
        files in (2usize..9).prop_flat_map(|n| (0..n).map(file_strategy).collect::<Vec<_>>()),
        order_seed in any::<u64>(),
        replays in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        mid in any::<prop::sample::Index>(),
        batch_sizes in prop::collection::vec(1usize..5, 1..6),
    ) {
        crate::runtime().block_on(async {
            // Random permutation from the seed, then replays inserted after their first upload.
            let mut order: Vec<usize> = (0..files.len()).collect();
            let mut s = order_seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut steps = order.clone();
            for r in &replays {
                let pos = r.index(steps.len());
                steps.insert(pos + 1, steps[pos]);
            }
            let mid = mid.index(steps.len());
            let inc = Stores::memory();
            let e = engine(&inc);
            let mut uploaded: Vec<usize> = Vec::new();
            let (mut start, mut b) = (0, 0);
            while start < steps.len() {
                let end = (start + batch_sizes[b % batch_sizes.len()]).min(steps.len());
                b += 1;
                let mut changes = Vec::new();
                for &f in &steps[start..end] {
                    inc.blobs.put(&files[f].key(), files[f].body()).await.unwrap();
                    changes.push(Change::Created(files[f].key()));
                    if !uploaded.contains(&f) {
                        uploaded.push(f);
                    }
                }
                for r in e.apply(&changes).await {
                    r.unwrap();
                }
                if (start..end).contains(&mid) {
                    let so_far: Vec<File> = uploaded.iter().map(|&u| files[u].clone()).collect();
                    assert_same(&batch(&so_far).await, &inc).await;
                }
                start = end;
            }
            assert_same(&batch(&files).await, &inc).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// Random files, all uploaded; then random objects get other content under the same key,
    /// are removed, or come back after a removal, handled in SQS batches of random sizes.
    /// Silver and the online store equal a batch run over what the lake holds at the end.
    #[test]
    fn replacements_and_removals_equal_batch(
        files in (2usize..8).prop_flat_map(|n| (0..n).map(file_strategy).collect::<Vec<_>>()),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::of(file_strategy(99))),
            1..7,
        ),
        batch_sizes in prop::collection::vec(1usize..4, 1..4),
    ) {
        crate::runtime().block_on(async {
            let inc = Stores::memory();
            let e = engine(&inc);
            for f in &files {
                inc.blobs.put(&f.key(), f.body()).await.unwrap();
                e.ingest_one(&f.key()).await.unwrap();
            }
            // What each key holds now (None: removed).
            let mut now: Vec<Option<File>> = files.iter().cloned().map(Some).collect();
            let (mut start, mut b) = (0, 0);
            while start < edits.len() {
                let end = (start + batch_sizes[b % batch_sizes.len()]).min(edits.len());
                b += 1;
                let mut changes = Vec::new();
                for (which, content) in &edits[start..end] {
                    let i = which.index(files.len());
                    let key = files[i].key();
                    match content {
                        // Other content under the same key, moved to the key's day.
                        Some(alt) => {
                            let mut f = files[i].clone();
                            let shift = (f.day - alt.day) * DAY_MS;
                            f.rows = alt.rows.iter().map(|&(s, ts, v)| (s, ts + shift, v)).collect();
                            inc.blobs.put(&key, f.body()).await.unwrap();
                            now[i] = Some(f);
                            changes.push(Change::Created(key));
                        }
                        None => {
                            inc.blobs.delete(&key).await.unwrap();
                            now[i] = None;
                            changes.push(Change::Removed(key));
                        }
                    }
                }
                for r in e.apply(&changes).await {
                    r.unwrap();
                }
                start = end;
            }
            let present: Vec<File> = now.into_iter().flatten().collect();
            assert_same(&batch(&present).await, &inc).await;
        });
    }
}

/// Thirty days of daily files; then a corrected day in the middle, a corrected newest day and
/// the removal of day 1 each recompute only the dates their rows reach (their own, the day
/// before for interpolation, a week after for lags and windows) and read only the bronze
/// those dates need. Day 0 misses its last two hours: once day 1 is gone they are no longer
/// interpolated, so day 0 changes too. Removing the newest day shrinks the series' extents,
/// which rebuilds the metric. Silver always equals a batch run.
#[test]
fn a_replaced_or_removed_day_recomputes_only_what_it_reaches() {
    crate::runtime().block_on(async {
        let (blobs, stores) = TestBlobs::stores();
        let e = engine(&stores);
        // Days 0..N-1: long enough that a change in the middle reaches 31 days on.
        const N: i64 = 45;
        let mut now: Vec<File> = (0..N)
            .map(|d| {
                let skip: &[i64] = if d == 0 { &[22, 23] } else { &[] };
                BronzeFile::dense("G", d, "part-0.parquet", skip)
            })
            .collect();
        for f in &now {
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            e.ingest_one(&f.key()).await.unwrap();
        }
        let day =
            |d: u64| chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(d);
        let dates = |r: &gras_shared::pipeline::features::ObjectReport| {
            r.partitions.iter().map(|(_, d)| *d).collect::<Vec<_>>()
        };
        let days = |a: u64, b: u64| (a..=b).map(day).collect::<Vec<_>>();
        // (which day, new content or removal, dates recomputed, (bronze reads, silver
        // reads)): the object itself and the bronze of the recomputed dates; the 31 days
        // before and the day after come from their silver partitions. A changed day reaches
        // the day before and the 31 after: the 720-hour windows (30 days) of the buckets
        // after it, shifted by the interpolation reach (up to 4 hours each side).
        // `f` with 1.5 added to every value (same key, same hours).
        let plus = |f: &File| {
            let mut f = f.clone();
            for r in &mut f.rows {
                r.2 += 1.5;
            }
            f
        };
        let corrected = |d: usize| plus(&BronzeFile::dense("G", d as i64, "part-0.parquet", &[]));
        // Uploads `f` over its key and ingests it: the report, and the object reads it took
        // (bronze, silver).
        let upload = async |f: &File| {
            let before = blobs.reads();
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            let r = e.ingest_one(&f.key()).await.unwrap();
            let after = blobs.reads();
            (r, (after.0 - before.0, after.1 - before.1))
        };
        let cases = [
            (12, Some(corrected(12)), days(11, 43), (1 + 33, 11 + 1)),
            (44, Some(corrected(44)), days(43, 44), (1 + 2, 31)),
            (1, None, days(0, 32), (1 + 32, 1)),
        ];
        for (d, content, want, want_reads) in cases {
            let key = BronzeFile::dense("G", d as i64, "part-0.parquet", &[]).key();
            let before = blobs.reads();
            let r = match &content {
                Some(f) => {
                    stores.blobs.put(&key, f.body()).await.unwrap();
                    e.ingest_one(&key).await.unwrap()
                }
                None => {
                    stores.blobs.delete(&key).await.unwrap();
                    e.ingest_one(&key).await.unwrap()
                }
            };
            assert_eq!(dates(&r), want, "day {d}: partitions recomputed");
            assert!(!r.rebuilt, "day {d}: no rebuild");
            let after = blobs.reads();
            assert_eq!(
                (after.0 - before.0, after.1 - before.1),
                want_reads,
                "day {d}: object reads (bronze, silver)"
            );
            let pos = now.iter().position(|f| f.key() == key).unwrap();
            match content {
                Some(f) => now[pos] = f,
                None => {
                    now.remove(pos);
                }
            }
            assert_same(&batch(&now).await, &stores).await;
        }

        // A new newest day as two files, hours 0-11 and 12-23. A corrected first half cannot
        // have held the series' last hours (its manifest records its rows' span): it
        // recomputes its day and the day before only.
        let first_half = BronzeFile::dense("G", N, "am.parquet", &(12..24).collect::<Vec<_>>());
        let second_half = BronzeFile::dense("G", N, "pm.parquet", &(0..12).collect::<Vec<_>>());
        for f in [&first_half, &second_half] {
            upload(f).await;
        }
        let fixed = plus(&first_half);
        let (r, reads) = upload(&fixed).await;
        assert_eq!(dates(&r), days(44, 45), "half a day corrected: partitions");
        assert!(!r.rebuilt);
        // The object, the bronze of days 44 and 45 (one day file, two halves), and the
        // silver of days 13-43.
        assert_eq!(
            reads,
            (1 + 3, 31),
            "half a day corrected: reads (bronze, silver)"
        );
        now.push(fixed);
        now.push(second_half);
        assert_same(&batch(&now).await, &stores).await;

        // The newest hours go: the series end earlier, so every date is recomputed.
        let last = now.last().unwrap().key();
        let before = blobs.reads();
        stores.blobs.delete(&last).await.unwrap();
        let r = e.ingest_one(&last).await.unwrap();
        assert_eq!(r.outcome, ObjectOutcome::Removed);
        assert!(r.rebuilt, "the newest hours' removal rebuilds");
        assert_eq!(
            dates(&r),
            days(0, 45),
            "a rebuild rewrites or deletes every partition"
        );
        // The rebuild reads every object left once (under the leases it reads only what
        // changed since: nothing here), and no silver.
        let after = blobs.reads();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1 + 45, 0),
            "a rebuild reads every object once"
        );
        now.pop();
        assert_same(&batch(&now).await, &stores).await;

        // A new newest day as one file per series. Correcting series `a`'s file (same
        // hours, other values) cannot shorten the other series, whose last hours are in the
        // same span: the manifest's series filter says that file never held them. It
        // recomputes its day and the day before, without a rebuild.
        let of_series = |name: &str, series: Option<&str>| {
            let mut f = BronzeFile::dense("G", N + 1, name, &[]);
            f.rows.retain(|r| r.0 == series);
            f
        };
        let (series_a, series_all) = (
            of_series("a.parquet", Some("a")),
            of_series("all.parquet", None),
        );
        for f in [&series_a, &series_all] {
            upload(f).await;
        }
        let fixed = plus(&series_a);
        let (r, reads) = upload(&fixed).await;
        assert!(!r.rebuilt, "one series' file corrected: no rebuild");
        assert_eq!(
            dates(&r),
            days(45, 46),
            "one series' file corrected: partitions"
        );
        // The object, the bronze of day 45 (its first half is left) and day 46 (two
        // files), and the silver of days 14-44.
        assert_eq!(
            reads,
            (1 + 3, 31),
            "one series' file corrected: reads (bronze, silver)"
        );
        now.push(fixed);
        now.push(series_all);
        assert_same(&batch(&now).await, &stores).await;
    });
}

/// Issue 32's goal: one late day-file touches at most 31 days of partitions (its day and
/// the 30 after, which its buckets' 720-hour windows reach). The day before and the 31st
/// after are recomputed only because interpolation might carry the file's values into them;
/// they are rewritten only when it does: when a gap of at most three hours borders the file
/// and the interpolated hours reach the day before, or their windows the 31st day after.
#[test]
fn a_late_day_rewrites_its_day_and_the_30_after_unless_a_gap_borders_it() {
    crate::runtime().block_on(async {
        let (blobs, stores) = TestBlobs::stores();
        let e = engine(&stores);
        const N: i64 = 45;
        // Days 12, 4 and 8 arrive late; day 3 lacks its last hour, day 5 its first, day 9
        // its first two.
        let file = |d: i64| {
            let skip: &[i64] = match d {
                3 => &[23],
                5 => &[0],
                9 => &[0, 1],
                _ => &[],
            };
            BronzeFile::dense("G", d, "part-0.parquet", skip)
        };
        let mut now: Vec<File> = Vec::new();
        for d in (0..N).filter(|d| ![4, 8, 12].contains(d)) {
            let f = file(d);
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            e.ingest_one(&f.key()).await.unwrap();
            now.push(f);
        }
        let day =
            |d: u64| chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(d);
        let days = |a: u64, b: u64| (a..=b).map(day).collect::<Vec<_>>();
        // (late day, partitions written): day 12's neighbours are observed. Day 4's are
        // not: day 3's last hour is interpolated now, so day 3 changes; day 5's first hour
        // is too, but its windows end on day 34, so day 35 does not. Day 9's first two hours
        // are interpolated, the second's windows reach day 39's first hour: day 39 changes.
        for (d, want) in [(12, days(12, 42)), (4, days(3, 34)), (8, days(8, 39))] {
            let f = file(d);
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            let before = blobs.counts();
            let r = e.ingest_one(&f.key()).await.unwrap();
            let after = blobs.counts();
            let got: Vec<_> = r.partitions.iter().map(|(_, d)| *d).collect();
            assert_eq!(got, want, "late day {d}: partitions");
            assert_eq!(
                after.1 - before.1,
                want.len() as u64,
                "late day {d}: writes"
            );
            now.push(f);
            assert_same(&batch(&now).await, &stores).await;
        }
    });
}

/// A lake for tests: it answers "not found" to the first `misses` reads of each key (as S3
/// can briefly do for an object that was just written), counts object reads and writes, can
/// fail the next silver write, and can run another invocation's ingestion on a given read.
#[derive(Debug)]
struct TestBlobs {
    inner: Arc<dyn gras_shared::storage::BlobStore>,
    misses: u32,
    seen: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    gets: std::sync::atomic::AtomicU64,
    silver_gets: std::sync::atomic::AtomicU64,
    puts: std::sync::atomic::AtomicU64,
    fail_silver: std::sync::atomic::AtomicBool,
    hook: tokio::sync::Mutex<Option<Interleave>>,
    /// Milliseconds every read waits before it returns (an object store's latency).
    latency_ms: std::sync::atomic::AtomicU64,
    /// Every read: key, start, end.
    spans: std::sync::Mutex<Vec<(String, std::time::Instant, std::time::Instant)>>,
}

/// On the first read of `trigger`, `engine` ingests `key` to completion first (after
/// writing `body` under it, if given): a concurrent invocation's whole ingestion, run while
/// the reader is between two of its steps.
struct Interleave {
    trigger: String,
    engine: FeatureEngine,
    key: String,
    body: Option<Bytes>,
}

impl std::fmt::Debug for Interleave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interleave({} on {})", self.key, self.trigger)
    }
}

impl TestBlobs {
    fn new(inner: Arc<dyn gras_shared::storage::BlobStore>, misses: u32) -> Self {
        Self {
            inner,
            misses,
            seen: Default::default(),
            gets: Default::default(),
            silver_gets: Default::default(),
            puts: Default::default(),
            fail_silver: Default::default(),
            hook: Default::default(),
            latency_ms: Default::default(),
            spans: Default::default(),
        }
    }

    /// Stores over `inner` that run `hook` on its trigger read (and their lake, to count).
    fn interleaved(inner: &Stores, hook: Interleave) -> (Arc<Self>, Stores) {
        let mut blobs = Self::new(inner.blobs.clone(), 0);
        blobs.hook = tokio::sync::Mutex::new(Some(hook));
        let blobs = Arc::new(blobs);
        let stores = Stores {
            blobs: blobs.clone(),
            tables: inner.tables.clone(),
        };
        (blobs, stores)
    }

    /// A lake in memory: stores with it and in-memory tables.
    fn stores() -> (Arc<Self>, Stores) {
        let blobs = Arc::new(Self::new(Stores::memory().blobs, 0));
        let stores = Stores {
            blobs: blobs.clone(),
            tables: Stores::memory().tables,
        };
        (blobs, stores)
    }

    /// Object reads and writes so far.
    fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.gets.load(Relaxed), self.puts.load(Relaxed))
    }

    /// Object reads so far: (bronze and other objects, silver partitions).
    fn reads(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let silver = self.silver_gets.load(Relaxed);
        (self.gets.load(Relaxed) - silver, silver)
    }

    /// Fails the next silver write with a retryable backend error.
    fn fail_next_silver_write(&self) {
        self.fail_silver
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl gras_shared::storage::BlobStore for TestBlobs {
    async fn get(&self, key: &str) -> Result<Bytes, gras_shared::storage::BlobError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if key.starts_with("silver/") {
            self.silver_gets
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(key.to_string()).or_default();
            *n += 1;
            *n
        };
        if n <= self.misses {
            return Err(gras_shared::storage::BlobError::NotFound { key: key.into() });
        }
        let hook = {
            let mut hook = self.hook.lock().await;
            match &*hook {
                Some(h) if h.trigger == key => hook.take(),
                _ => None,
            }
        };
        if let Some(h) = hook {
            // Run to completion right here (holding no future across an await of `get`).
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    if let Some(body) = h.body {
                        self.inner
                            .put(&h.key, body)
                            .await
                            .expect("the concurrent upload");
                    }
                    h.engine.ingest_one(&h.key).await
                })
            })
            .expect("the concurrent ingestion");
        }
        let start = std::time::Instant::now();
        let latency = self.latency_ms.load(std::sync::atomic::Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        }
        let got = self.inner.get(key).await;
        let span = (key.to_string(), start, std::time::Instant::now());
        self.spans.lock().unwrap().push(span);
        got
    }
    async fn put(&self, key: &str, body: Bytes) -> Result<(), gras_shared::storage::BlobError> {
        self.puts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if key.starts_with("silver/")
            && self
                .fail_silver
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(gras_shared::storage::BlobError::Backend {
                key: key.into(),
                retryable: true,
                source: "injected: slow down".into(),
            });
        }
        self.inner.put(key, body).await
    }
    async fn delete(&self, key: &str) -> Result<(), gras_shared::storage::BlobError> {
        self.inner.delete(key).await
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<gras_shared::storage::ObjectMeta>, gras_shared::storage::BlobError> {
        self.inner.list(prefix).await
    }
}

#[test]
fn a_just_written_object_that_reads_as_missing_is_retried() {
    crate::runtime().block_on(async {
        let f = BronzeFile::dense("G", 0, "part-0.parquet", &[]);
        for (misses, retries, processed) in [(2, 3, true), (4, 3, false)] {
            let mem = Stores::memory();
            mem.blobs.put(&f.key(), f.body()).await.unwrap();
            let lagging = Stores {
                blobs: Arc::new(TestBlobs::new(mem.blobs.clone(), misses)),
                tables: mem.tables.clone(),
            };
            let opts = EngineOptions {
                not_found_retries: retries,
                not_found_delay: std::time::Duration::from_millis(1),
                ..EngineOptions::default()
            };
            let r = FeatureEngine::new(lagging, config())
                .with_options(opts)
                .ingest_one(&f.key())
                .await
                .unwrap();
            if processed {
                assert_eq!(
                    r.outcome,
                    ObjectOutcome::Processed,
                    "{misses} misses within {retries} retries"
                );
            } else {
                // Still missing after every retry: handled as a removed object (nothing to remove).
                assert_eq!(r.outcome, ObjectOutcome::Removed);
                assert!(r.partitions.is_empty());
            }
        }
    });
}

/// Ten days of daily files, then day 10 arrives as six files of four hours each.
fn burst() -> (Vec<File>, Vec<File>) {
    let days: Vec<File> = (0..10)
        .map(|d| BronzeFile::dense("G", d, "part-0.parquet", &[]))
        .collect();
    let parts: Vec<File> = (0..6)
        .map(|p| {
            let skip: Vec<i64> = (0..24).filter(|h| h / 4 != p).collect();
            BronzeFile::dense("G", 10, &format!("hour-{p}.parquet"), &skip)
        })
        .collect();
    (days, parts)
}

#[test]
fn a_burst_in_one_batch_reads_and_writes_its_days_once() {
    crate::runtime().block_on(async {
        let (days, parts) = burst();
        let mut all = days.clone();
        all.extend(parts.iter().cloned());
        let expected = batch(&all).await;
        let mut counts = Vec::new();
        for batched in [false, true] {
            let (blobs, stores) = TestBlobs::stores();
            let e = engine(&stores);
            for f in &days {
                stores.blobs.put(&f.key(), f.body()).await.unwrap();
                e.ingest_one(&f.key()).await.unwrap();
            }
            for f in &parts {
                stores.blobs.put(&f.key(), f.body()).await.unwrap();
            }
            let before = blobs.counts();
            let changes: Vec<Change> = parts.iter().map(|f| Change::Created(f.key())).collect();
            let results = if batched {
                e.apply(&changes).await
            } else {
                let mut out = Vec::new();
                for c in &changes {
                    out.push(e.apply(std::slice::from_ref(c)).await.pop().unwrap());
                }
                out
            };
            for r in results {
                assert_eq!(r.unwrap().outcome, ObjectOutcome::Processed);
            }
            let after = blobs.counts();
            counts.push((after.0 - before.0, after.1 - before.1));
            assert_same(&expected, &stores).await;
        }
        let ((seq_gets, seq_puts), (batch_gets, batch_puts)) = (counts[0], counts[1]);
        // One at a time: each part reads itself, the parts so far and the days around its
        // recomputation, and rewrites day 10 (and day 9's neighbour reach). Batched: one
        // recomputation.
        assert!(
            batch_gets * 3 <= seq_gets,
            "reads: batched {batch_gets}, one at a time {seq_gets}"
        );
        assert!(
            batch_puts * 3 <= seq_puts,
            "silver writes: batched {batch_puts}, one at a time {seq_puts}"
        );
    });
}

/// Hourly files: a new hour recomputes its day from that day's bronze and reads the week
/// before back from silver (one partition a day), not the week's 168 bronze files. A
/// missing silver partition of a day with bronze (a first write that never happened) or an
/// unreadable one is replaced by that day's bronze, and silver still equals batch.
#[test]
fn a_new_hour_reads_its_day_from_bronze_and_the_month_before_from_silver() {
    crate::runtime().block_on(async {
        let hour = |d: i64, h: i64| {
            let skip: Vec<i64> = (0..24).filter(|x| *x != h).collect();
            BronzeFile::dense("G", d, &format!("h{h:02}.parquet"), &skip)
        };
        let (blobs, stores) = TestBlobs::stores();
        let e = engine(&stores);
        let mut all = Vec::new();
        // Days 0-8, then the first six hours of day 9 (an hour shortly after midnight also
        // recomputes the day before: the hours just before it may have been a short gap).
        for d in 0..10 {
            for h in 0..if d < 9 { 24 } else { 6 } {
                let f = hour(d, h);
                stores.blobs.put(&f.key(), f.body()).await.unwrap();
                e.ingest_one(&f.key()).await.unwrap();
                all.push(f);
            }
        }
        let day =
            |d: u64| chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(d);
        for (d, h) in [(9, 6), (9, 7), (9, 8)] {
            let f = hour(d, h);
            let before = blobs.reads();
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
            let r = e.ingest_one(&f.key()).await.unwrap();
            let after = blobs.reads();
            assert_eq!(
                r.partitions.iter().map(|(_, d)| *d).collect::<Vec<_>>(),
                vec![day(9)],
                "hour {h} of day {d}: its day only"
            );
            // The object, its day's files so far (itself included), the silver of days 0-8
            // (the 31 days before, as far as there are any).
            assert_eq!(
                (after.0 - before.0, after.1 - before.1),
                (1 + (h as u64 + 1), 9),
                "hour {h} of day {d}: reads (bronze, silver)"
            );
            all.push(f);
            assert_same(&batch(&all).await, &stores).await;
        }

        // Day 5's partition lost, day 6's unreadable, day 7's from an older build: their
        // bronze is read instead.
        let g = gras_shared::ids::MetricId::new("G").unwrap();
        stores
            .blobs
            .delete(&gras_shared::contract::silver_key(&g, day(5)))
            .await
            .unwrap();
        stores
            .blobs
            .put(
                &gras_shared::contract::silver_key(&g, day(6)),
                Bytes::from_static(b"not parquet"),
            )
            .await
            .unwrap();
        // Day 7's partition as an older build wrote it: the same rows, without the version of
        // the rules that produced its observed buckets.
        let key7 = gras_shared::contract::silver_key(&g, day(7));
        let rows7 =
            gras_shared::silver::read_parquet(stores.blobs.get(&key7).await.unwrap()).unwrap();
        let mut old = Vec::new();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut old, gras_shared::silver::schema(), None)
                .unwrap();
        w.write(&gras_shared::silver::to_batch(&rows7).unwrap())
            .unwrap();
        w.close().unwrap();
        stores.blobs.put(&key7, Bytes::from(old)).await.unwrap();
        let f = hour(9, 9);
        let before = blobs.reads();
        stores.blobs.put(&f.key(), f.body()).await.unwrap();
        e.ingest_one(&f.key()).await.unwrap();
        let after = blobs.reads();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1 + 10 + 3 * 24, 9),
            "three days' bronze instead of their silver"
        );
        all.push(f);
        // Only the recomputed day is compared: days 5 to 7 stay as they were left.
        let expected = batch(&all).await;
        let key = gras_shared::contract::silver_key(&g, day(9));
        let mut day9 = Vec::new();
        for lake in [&stores, &expected] {
            let body = lake.blobs.get(&key).await.unwrap();
            let rows = gras_shared::silver::read_parquet(body).unwrap();
            day9.push(std::collections::BTreeMap::from([(key.clone(), rows)]));
        }
        assert_silver_eq(&day9[0], &day9[1]);

        // With a store's latency on every read, the bronze of the run's day is fetched while
        // the silver around it is: it starts before the last silver read ends.
        blobs
            .latency_ms
            .store(30, std::sync::atomic::Ordering::Relaxed);
        blobs.spans.lock().unwrap().clear();
        let f = hour(9, 10);
        stores.blobs.put(&f.key(), f.body()).await.unwrap();
        e.ingest_one(&f.key()).await.unwrap();
        let spans = blobs.spans.lock().unwrap().clone();
        let silver_end = spans
            .iter()
            .filter(|(k, _, _)| k.starts_with("silver/"))
            .map(|(_, _, end)| *end)
            .max()
            .expect("silver reads");
        // The object is read once on its own first (to learn its dates); its day's files,
        // itself among them, are read again for the recomputation.
        let day_key = |h: i64| hour(9, h).key();
        let run_start = spans
            .iter()
            .skip(1)
            .filter(|(k, _, _)| (0..=10).any(|h| *k == day_key(h)))
            .map(|(_, start, _)| *start)
            .min()
            .expect("the day's bronze reads");
        assert!(
            run_start < silver_end,
            "the day's bronze was read only after the silver around it"
        );
        assert_eq!(spans.len(), 1 + 11 + 3 * 24 + 9, "reads");
    });
}

#[test]
fn a_batch_with_a_removal_and_a_repeated_key_equals_batch() {
    crate::runtime().block_on(async {
        let (days, parts) = burst();
        let inc = Stores::memory();
        let e = engine(&inc);
        for f in &days {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
        }
        for r in e
            .apply(
                &days
                    .iter()
                    .map(|f| Change::Created(f.key()))
                    .collect::<Vec<_>>(),
            )
            .await
        {
            assert_eq!(r.unwrap().outcome, ObjectOutcome::Processed);
        }
        assert_same(&batch(&days).await, &inc).await;
        for f in &parts {
            inc.blobs.put(&f.key(), f.body()).await.unwrap();
        }
        inc.blobs.delete(&days[3].key()).await.unwrap();
        let changes = vec![
            Change::Created(parts[0].key()),
            Change::Created(parts[1].key()),
            Change::Removed(days[3].key()),
            Change::Created(parts[2].key()),
            Change::Created(parts[0].key()),
            Change::Created(parts[3].key()),
            Change::Created(parts[4].key()),
            Change::Created(parts[5].key()),
        ];
        let outcomes: Vec<ObjectOutcome> = e
            .apply(&changes)
            .await
            .into_iter()
            .map(|r| r.unwrap().outcome)
            .collect();
        use ObjectOutcome::{Processed, Removed, Replay};
        assert_eq!(
            outcomes,
            vec![Processed, Processed, Removed, Processed, Replay, Processed, Processed, Processed]
        );
        let mut now: Vec<File> = days.clone();
        now.remove(3);
        now.extend(parts.iter().cloned());
        assert_same(&batch(&now).await, &inc).await;
    });
}

#[test]
fn a_failed_shared_recomputation_fails_every_object_and_the_redelivery_resumes() {
    crate::runtime().block_on(async {
        let (days, parts) = burst();
        let (blobs, stores) = TestBlobs::stores();
        let e = engine(&stores);
        for f in days.iter().chain(&parts) {
            stores.blobs.put(&f.key(), f.body()).await.unwrap();
        }
        let first: Vec<Change> = days.iter().map(|f| Change::Created(f.key())).collect();
        assert!(e.apply(&first).await.iter().all(Result::is_ok));
        let changes: Vec<Change> = parts.iter().map(|f| Change::Created(f.key())).collect();
        blobs.fail_next_silver_write();
        let results = e.apply(&changes).await;
        assert_eq!(results.len(), parts.len());
        for (n, r) in results.iter().enumerate() {
            let err = r.as_ref().expect_err("the shared work failed");
            assert!(err.is_retryable(), "{err}");
            assert_eq!(
                matches!(err, FeaturesError::SharedWork { .. }),
                n > 0,
                "the first object carries the original error: {err}"
            );
        }
        // SQS redelivers the batch: the unfinished objects resume from the dates their
        // manifests recorded (day 10, and day 9 within the interpolation reach), without
        // rebuilding the metric's 11 partitions.
        let before = blobs.counts();
        for r in e.apply(&changes).await {
            let r = r.unwrap();
            assert_eq!(r.outcome, ObjectOutcome::Processed);
            assert_eq!(r.partitions.len(), 2, "{:?}", r.partitions);
        }
        let after = blobs.counts();
        assert_eq!(after.1 - before.1, 2, "two silver writes");
        let mut all = days.clone();
        all.extend(parts.iter().cloned());
        assert_same(&batch(&all).await, &stores).await;
    });
}

/// A rebuild (the newest day replaced by a file that ends earlier) reads the extents and the
/// index; then, while it loads the bronze, another invocation ingests a later day in full:
/// it indexes it, widens the extents and writes its partitions. The rebuild must neither
/// undo that widening nor delete that partition as stale. When the later day widens a
/// series the rebuild read, the rebuild's replacement of the extents notices it, and a
/// second pass reads that day's file only; when it holds a new series only, the rebuild
/// leaves that series alone and keeps that day's partition. Either way silver ends equal to
/// a batch run.
#[test]
fn a_rebuild_never_undoes_a_concurrent_ingestion() {
    crate::runtime().block_on(async {
        let mut new_series = BronzeFile::dense("G", 6, "c.parquet", &[]);
        new_series.rows.retain(|r| r.0.is_some());
        for r in &mut new_series.rows {
            r.0 = Some("c");
        }
        let mut corrected = BronzeFile::dense("G", 2, "a.parquet", &[]);
        for r in &mut corrected.rows {
            r.2 += 1.5;
        }
        // (the concurrent upload, whether it is read after the rebuild read its key's
        // previous content, what the case is)
        let cases = [
            (
                BronzeFile::dense("G", 6, "b.parquet", &[]),
                false,
                "later day",
            ),
            (new_series, false, "later day, new series"),
            (corrected, true, "day 2 corrected"),
        ];
        for (later, replaces, case) in cases {
            let mem = Stores::memory();
            let mut files: Vec<File> = (0..5)
                .map(|d| BronzeFile::dense("G", d, "a.parquet", &[]))
                .collect();
            let e = engine(&mem);
            for f in &files {
                mem.blobs.put(&f.key(), f.body()).await.unwrap();
                e.ingest_one(&f.key()).await.unwrap();
            }
            if !replaces {
                mem.blobs.put(&later.key(), later.body()).await.unwrap();
            }
            let shorter = BronzeFile::dense("G", 4, "a.parquet", &[20, 21, 22, 23]);
            mem.blobs.put(&shorter.key(), shorter.body()).await.unwrap();
            let (blobs, interleaved) = TestBlobs::interleaved(
                &mem,
                Interleave {
                    // Files are read in key order: day 3's comes after day 2's.
                    trigger: files[if replaces { 3 } else { 0 }].key(),
                    engine: e.clone(),
                    key: later.key(),
                    body: replaces.then(|| later.body()),
                },
            );
            let r = engine(&interleaved)
                .ingest_one(&shorter.key())
                .await
                .unwrap();
            assert!(r.rebuilt);
            // The object, then the rebuild's first pass over the five day files, then the
            // concurrent upload alone: read by a second pass when it widened the extents,
            // else by the recomputation under the leases, which finds it newly indexed or
            // its manifest changed.
            assert_eq!(blobs.reads(), (1 + 5 + 1, 0), "{case}");
            files[4] = shorter;
            if replaces {
                files[2] = later;
            } else {
                files.push(later);
            }
            assert_same(&batch(&files).await, &mem).await;
        }
    });
}
