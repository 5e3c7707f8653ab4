//! Upload plans for the fault and soak tests: good bronze files split in parts per day,
//! uploaded mostly in date order with some arriving late, some uploaded again unchanged
//! (replays), some uploaded again with corrected content (replacements), and some unusable
//! (bad files that must end in the dead-letter queue).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray, TimestampMillisecondArray};
use bytes::Bytes;
use gras_shared::storage::Stores;
use gras_shared::testkit::{self, BronzeFile, DAY_MS, HOUR_MS, T0_MS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Metrics the plans use (all in the GRAS defaults).
pub const METRICS: [&str; 4] = ["G", "R", "A", "S"];

/// What an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// A good file, first upload.
    Good,
    /// A good file uploaded after files of later dates.
    Late,
    /// A good file uploaded again with the same content.
    Replay,
    /// A good file uploaded again under the same key with corrected values, every other
    /// one also without its last row.
    Corrected,
    /// An unusable file.
    Bad,
}

/// One object put into the bucket.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The object key.
    pub key: String,
    /// Its bytes.
    pub body: Bytes,
    /// What it is.
    pub kind: UploadKind,
}

/// The shape of a plan.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    /// Metrics used (a prefix of [`METRICS`]).
    pub metrics: usize,
    /// Days per metric.
    pub days: i64,
    /// Parts per day (each part holds the hours `h % parts == p`).
    pub parts: i64,
    /// Fraction of good files that arrive late.
    pub late: f64,
    /// Fraction of good files uploaded a second time.
    pub replays: f64,
    /// Fraction of good files uploaded again with corrected content.
    pub corrections: f64,
    /// Number of bad files.
    pub bad: usize,
    /// Seed of the shuffles.
    pub seed: u64,
}

/// A plan: the uploads in order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Uploads in the order they are put.
    pub uploads: Vec<Upload>,
}

impl Plan {
    /// Builds a plan.
    pub fn new(spec: &PlanSpec) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let mut good = Vec::new();
        let mut files = BTreeMap::new();
        for d in 0..spec.days {
            for m in METRICS.iter().take(spec.metrics) {
                for p in 0..spec.parts {
                    let skip: Vec<i64> = (0..24).filter(|h| h % spec.parts != p).collect();
                    let f = BronzeFile::dense(m, d, &format!("part-{p:03}.parquet"), &skip);
                    files.insert(f.key(), f.clone());
                    good.push(Upload {
                        key: f.key(),
                        body: f.body(),
                        kind: UploadKind::Good,
                    });
                }
            }
        }
        // Late: taken out of date order and put at random places after a later date.
        let n_late = (good.len() as f64 * spec.late).round() as usize;
        let mut late_idx: Vec<usize> = (0..good.len()).collect();
        late_idx.shuffle(&mut rng);
        late_idx.truncate(n_late);
        late_idx.sort_unstable();
        let mut late = Vec::new();
        for i in late_idx.into_iter().rev() {
            let mut u = good.remove(i);
            u.kind = UploadKind::Late;
            late.push((i, u));
        }
        let mut uploads = good;
        for (orig, u) in late {
            let lo = (orig + uploads.len() / 10 + 1).min(uploads.len());
            let at = rng.random_range(lo..=uploads.len());
            uploads.insert(at, u);
        }
        // Replays: the same bytes again, some time after the first upload.
        let n_replays = (uploads.len() as f64 * spec.replays).round() as usize;
        for _ in 0..n_replays {
            let i = rng.random_range(0..uploads.len());
            let mut u = uploads[i].clone();
            if u.kind == UploadKind::Bad || u.kind == UploadKind::Replay {
                continue;
            }
            u.kind = UploadKind::Replay;
            let at = rng.random_range(i + 1..=uploads.len());
            uploads.insert(at, u);
        }
        // Corrections: other values under the same key, some time after the first upload;
        // every other one also drops the file's last row (its series may then end earlier).
        let n_corrections = (uploads.len() as f64 * spec.corrections).round() as usize;
        for c in 0..n_corrections {
            let i = rng.random_range(0..uploads.len());
            let Some(f) = files.get(&uploads[i].key) else {
                continue;
            };
            let mut f = f.clone();
            for r in &mut f.rows {
                r.2 += 1.5;
            }
            if c % 2 == 1 {
                f.rows.pop();
            }
            let at = rng.random_range(i + 1..=uploads.len());
            uploads.insert(
                at,
                Upload {
                    key: f.key(),
                    body: f.body(),
                    kind: UploadKind::Corrected,
                },
            );
        }
        // Bad files of several kinds, anywhere.
        for b in 0..spec.bad {
            let m = METRICS[b % spec.metrics.max(1)];
            let d = rng.random_range(0..spec.days.max(1));
            let f = BronzeFile::dense(m, d, &format!("bad-{b:03}.parquet"), &[]);
            let body = match b % 3 {
                0 => Bytes::from_static(b"this is not a parquet file"),
                1 => {
                    let full = f.body();
                    full.slice(..full.len() / 2)
                }
                _ => missing_value_column(d),
            };
            let at = rng.random_range(0..=uploads.len());
            uploads.insert(
                at,
                Upload {
                    key: f.key(),
                    body,
                    kind: UploadKind::Bad,
                },
            );
        }
        Self { uploads }
    }

    /// The final content of every good key (its last upload).
    pub fn good_objects(&self) -> BTreeMap<String, Bytes> {
        self.uploads
            .iter()
            .filter(|u| u.kind != UploadKind::Bad)
            .map(|u| (u.key.clone(), u.body.clone()))
            .collect()
    }

    /// The keys of the bad files.
    pub fn bad_keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .uploads
            .iter()
            .filter(|u| u.kind == UploadKind::Bad)
            .map(|u| u.key.clone())
            .collect();
        k.sort();
        k
    }

    /// Uploads of a kind.
    pub fn count(&self, kind: UploadKind) -> usize {
        self.uploads.iter().filter(|u| u.kind == kind).count()
    }

    /// Online-store hash keys of every series in the plan.
    pub fn online_pks(&self, metrics: usize) -> Vec<String> {
        METRICS
            .iter()
            .take(metrics)
            .flat_map(|m| [format!("{m}#a"), format!("{m}#_all")])
            .collect()
    }

    /// Silver and online features of a batch run over the good objects (the reference).
    pub async fn batch_reference(&self) -> Stores {
        let stores = Stores::memory();
        for (k, b) in self.good_objects() {
            stores.blobs.put(&k, b).await.expect("put");
        }
        gras_shared::pipeline::features::FeatureEngine::new(
            stores.clone(),
            Arc::new(gras_shared::Config::gras_defaults()),
        )
        .batch()
        .await
        .expect("batch reference");
        stores
    }
}

/// A Parquet file with `ts` and `series_key` but no `value` column.
fn missing_value_column(d: i64) -> Bytes {
    let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
        T0_MS + d * DAY_MS,
        T0_MS + d * DAY_MS + HOUR_MS,
    ]));
    let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "a"]));
    testkit::parquet(vec![("ts", ts), ("series_key", s)])
}
