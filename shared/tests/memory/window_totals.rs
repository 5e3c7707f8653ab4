//! The v2 window totals (contract section 4: `roll_sum_168h`, `roll_sum_720h`,
//! `roll_mean_720h`) over 45 days: day files arriving in any order, with replays, give the
//! silver and online items of a batch run, and both hold what the columns' definitions give
//! when computed the plain way from the silver values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gras_shared::contract::silver_col::TOTALS;
use gras_shared::features::SilverRows;
use gras_shared::pipeline::features::{EngineOptions, FeatureEngine};
use gras_shared::storage::table::Attr;
use gras_shared::storage::Stores;
use gras_shared::testkit::{assert_silver_eq, online, silver, BronzeFile, DAY_MS, HOUR_MS, T0_MS};
use gras_shared::Config;
use proptest::prelude::*;

const DAYS: usize = 45;
const HOUR_US: i64 = 3_600_000_000;

fn config() -> Arc<Config> {
    Arc::new(Config::from_toml("[metrics.G]\naggregation = \"sum\"\n", None).unwrap())
}

fn engine(stores: &Stores) -> FeatureEngine {
    FeatureEngine::new(stores.clone(), config()).with_options(EngineOptions {
        not_found_retries: 0,
        ..EngineOptions::default()
    })
}

/// Day `d`'s file: `kind` 0 = no file (a whole missing day), 1 = a third of the hours,
/// otherwise every hour but a few; values drawn from `seed`, of both signs.
fn day_file(d: usize, kind: u8, seed: u64) -> Option<BronzeFile> {
    if kind == 0 {
        return None;
    }
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut rows = Vec::new();
    for h in 0..24i64 {
        let keep = if kind == 1 {
            next() % 3 == 0
        } else {
            next() % 10 != 0
        };
        if !keep {
            continue;
        }
        for series in [Some("a"), Some("b"), None] {
            let ts = T0_MS + d as i64 * DAY_MS + h * HOUR_MS + (next() % 3_000_000) as i64;
            let value = (next() % 200_000) as f64 / 100.0 - 300.0;
            rows.push((series, ts, value));
        }
    }
    Some(BronzeFile {
        metric: "G",
        day: d as i64,
        name: "part-0.parquet".into(),
        rows,
    })
}

/// Checks every row's totals against their definitions over the silver values: the sum and
/// mean of the non-null values at t-(h-1)h..t, null under half the window non-null.
fn assert_totals_follow_the_definition(lake: &BTreeMap<String, SilverRows>) {
    let mut values: HashMap<(String, i64), Option<f64>> = HashMap::new();
    let mut rows = Vec::new();
    for part in lake.values() {
        for i in 0..part.len() {
            let key = (part.series_key[i].to_string(), part.ts_us[i]);
            values.insert(key.clone(), part.value.get(i));
            rows.push((key, [0, 1, 2].map(|c| part.totals[c].get(i))));
        }
    }
    let mut non_null = [0usize; 3];
    for ((series, t), got) in rows {
        let window = |hours: i64| -> (usize, f64, f64) {
            let (mut n, mut sum, mut abs) = (0, 0.0, 0.0);
            for k in 0..hours {
                let key = (series.clone(), t - k * HOUR_US);
                if let Some(Some(v)) = values.get(&key) {
                    n += 1;
                    sum += v;
                    abs += v.abs();
                }
            }
            (n, sum, abs)
        };
        let (n7, s7, a7) = window(168);
        let (n30, s30, a30) = window(720);
        let want = [
            (n7 >= 84).then_some((s7, a7)),
            (n30 >= 360).then_some((s30, a30)),
            (n30 >= 360).then_some((s30 / n30 as f64, a30 / n30 as f64)),
        ];
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            match (g, w) {
                (None, None) => {}
                (Some(g), Some((w, scale))) => {
                    non_null[c] += 1;
                    assert!(
                        (g - w).abs() <= 1e-9 * scale.max(1.0),
                        "{series} at {t}: {} = {g}, definition {w}",
                        TOTALS[c]
                    );
                }
                _ => panic!("{series} at {t}: {} = {g:?}, definition {w:?}", TOTALS[c]),
            }
        }
    }
    assert!(
        non_null.iter().all(|n| *n > 0) || lake.len() < 20,
        "a long lake has some totals ({non_null:?})"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 20, .. ProptestConfig::default() })]

    /// Day files in a random order with replays equal batch and the definitions.
    #[test]
    fn a_month_and_a_half_in_any_order_equals_batch_and_the_definition(
        days in prop::collection::vec((0u8..8, any::<u64>()), DAYS),
        order_seed in any::<u64>(),
        replays in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let files: Vec<BronzeFile> = days
            .iter()
            .enumerate()
            .filter_map(|(d, (kind, seed))| day_file(d, *kind, *seed))
            .collect();
        prop_assume!(!files.is_empty());
        crate::runtime().block_on(async {
            let expected = Stores::memory();
            for f in &files {
                expected.blobs.put(&f.key(), f.body()).await.unwrap();
            }
            FeatureEngine::new(expected.clone(), config()).batch().await.unwrap();

            let mut order: Vec<usize> = (0..files.len()).collect();
            let mut s = order_seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            for r in &replays {
                let pos = r.index(order.len());
                order.insert(pos + 1, order[pos]);
            }
            let inc = Stores::memory();
            let e = engine(&inc);
            let mut extent: Option<(i64, i64)> = None;
            for i in order {
                let f = &files[i];
                inc.blobs.put(&f.key(), f.body()).await.unwrap();
                let r = e.ingest_one(&f.key()).await.unwrap();
                // A late day inside the timeline reaches the day before and the 31 after at
                // most (a day that extends the timeline also rewrites the stretch it adds).
                if extent.is_some_and(|(lo, hi)| lo < f.day && f.day < hi) {
                    assert!(r.partitions.len() <= 33, "day {}: {:?}", f.day, r.partitions);
                }
                extent = Some(extent.map_or((f.day, f.day), |(lo, hi)| (lo.min(f.day), hi.max(f.day))));
            }
            let (want, got) = (silver(&*expected.blobs).await, silver(&*inc.blobs).await);
            assert_silver_eq(&want, &got);
            assert_totals_follow_the_definition(&want);

            let pks: Vec<String> = ["a", "b", "_all"].iter().map(|s| format!("G#{s}")).collect();
            let items = online(&*inc.tables, &pks).await;
            assert_eq!(items, online(&*expected.tables, &pks).await, "online items");
            // The online item carries the newest row's totals.
            let newest = want.values().next_back().unwrap();
            for (c, name) in TOTALS.iter().enumerate() {
                let i = newest.series_key.iter().rposition(|k| &**k == "a").unwrap();
                let want = newest.totals[c].get(i).map_or(Attr::Null, Attr::N);
                assert_eq!(items["G#a"][*name], want, "{name}");
            }
        });
    }
}
