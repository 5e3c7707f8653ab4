//! The feature engine use case: bronze objects in, silver partitions and online features out.
//!
//! Two entry points share one computation:
//! - [`FeatureEngine::ingest`]: the incremental path of the features Lambda. For each new,
//!   late, replayed or replaced bronze object it recomputes exactly the silver partitions the
//!   object can affect, from the bronze of those dates and, for the days before and after
//!   that their features and interpolation read, the observed buckets of those days' final
//!   silver partitions.
//! - [`FeatureEngine::batch`]: every bronze object into silver at once.
//!
//! Both produce the same silver (contract section 4's invariant), which the property tests
//! check. How concurrent invocations stay correct is described in `state` and ARCHITECTURE.md ("Incremental processing and concurrency").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate};
use futures::future::OptionFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use tracing::{debug, info, warn};

use super::{system_clock, Clock};
use crate::bronze::{read_bronze, BronzeError, BronzeRows, Rejections};
use crate::cleanse::{
    aggregate_on, bucket_extents, bucket_of, timeline, SeriesBuckets, MAX_INTERPOLATED_GAP,
};
use crate::config::{Config, MetricConfig};
use crate::contract::{self, BronzeKey, BRONZE_PREFIX};
use crate::features::{series_rows, SilverRows, LOOKBACK_HOURS};
use crate::ids::{MetricId, SeriesKey};
use crate::online;
use crate::parallel::{blocking, run_jobs, worker_threads};
use crate::silver::{self, ObservedBucket, SilverError};
use crate::state::{self, Extent, Manifest, SeriesFilter};
use crate::storage::{BlobError, Condition, Stores, TableError};

mod compute;
mod reach;

use compute::*;
use reach::*;

const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;
/// Whole days before a recomputed date that its features can read ([`LOOKBACK_HOURS`] plus
/// the interpolation reach of an hourly metric, the widest, rounded up to days: 31).
const LOOKBACK_DAYS: i64 = (LOOKBACK_HOURS + MAX_INTERPOLATED_GAP + 1 + 23) / 24;
/// Objects fetched and decoded at once.
const FETCH_CONCURRENCY: usize = 8;
/// Silver partitions written to the lake at once.
const WRITE_CONCURRENCY: usize = 8;
/// Passes a rebuild makes over the bronze before it gives up retryably: each pass after the
/// first reads only the objects indexed or changed since the one before.
const REBUILD_PASSES: usize = 4;

/// Errors of the feature engine, classified for the edge.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// The bronze file is unusable; retrying cannot help.
    #[error("bad bronze file {key}: {source}")]
    BadFile {
        /// The object key.
        key: String,
        /// Why it was rejected.
        #[source]
        source: BronzeError,
    },
    /// Lake access failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Table access failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Writing silver failed.
    #[error(transparent)]
    Silver(#[from] SilverError),
    /// Another invocation kept a partition busy past the wait limit.
    #[error(
        "silver partition metric={metric} date={date} is being rewritten by another invocation"
    )]
    Busy {
        /// The metric.
        metric: MetricId,
        /// The partition date.
        date: NaiveDate,
    },
    /// A rebuild kept meeting writers that widened the extents while it read the bronze.
    #[error("rebuilding metric {metric}: extents kept changing under concurrent writers ({passes} passes)")]
    Contended {
        /// The metric.
        metric: MetricId,
        /// Passes made over the bronze.
        passes: usize,
    },
    /// The object would make the incremental path rewrite more silver partitions than
    /// `max_partitions_per_file` allows (timestamps far from the rest of the series, such
    /// as seconds read as milliseconds); nothing was written for it.
    #[error(
        "bronze file {key} would rewrite {partitions} silver partitions, more than max_partitions_per_file = {ceiling}: check its timestamps (seconds instead of milliseconds?), or raise the ceiling in the configuration and send the object again (a batch run, `gras features`, has no ceiling)"
    )]
    TooManyPartitions {
        /// The object key.
        key: String,
        /// Partitions the object would rewrite.
        partitions: u64,
        /// The configured ceiling.
        ceiling: u32,
    },
    /// The recomputation this object shared with other objects of its batch failed (the
    /// first of them carries the original error).
    #[error("recomputing metric {metric} for this batch failed: {reason}")]
    SharedWork {
        /// The metric.
        metric: MetricId,
        /// The original error's message.
        reason: String,
        /// Whether the original error was retryable.
        retryable: bool,
    },
}

impl FeaturesError {
    /// True when the same object may succeed later (throttling, 5xx, a busy partition).
    pub fn is_retryable(&self) -> bool {
        match self {
            FeaturesError::BadFile { .. }
            | FeaturesError::Silver(_)
            | FeaturesError::TooManyPartitions { .. } => false,
            FeaturesError::Blob(e) => e.is_retryable(),
            FeaturesError::Table(e) => e.is_retryable(),
            FeaturesError::Busy { .. } | FeaturesError::Contended { .. } => true,
            FeaturesError::SharedWork { retryable, .. } => *retryable,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ObjectOutcome {
    /// Read and its partitions recomputed.
    Processed,
    /// Same content as already processed: nothing to do.
    Replay,
    /// Not a bronze object key.
    Ignored {
        /// Why.
        reason: String,
    },
    /// The object no longer exists; its rows were removed from silver.
    Removed,
}

/// The result of processing one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectReport {
    /// The object key.
    pub key: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ObjectOutcome,
    /// Rows in the file.
    pub rows_read: u64,
    /// Rejected rows by reason.
    pub rejected: Rejections,
    /// Silver partitions written or deleted.
    pub partitions: BTreeSet<(MetricId, NaiveDate)>,
    /// Online feature items upserted.
    pub online_items: u64,
    /// Handling it rebuilt its metric from every indexed bronze object: its previous rows
    /// may have held a series' first or last bucket, or an earlier attempt was interrupted
    /// before it recorded its dates. The slow path, worth watching (metric `Rebuilds`).
    pub rebuilt: bool,
}

/// A failed object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFailure {
    /// The object key.
    pub key: String,
    /// The reason.
    pub reason: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// Totals of a run over several objects: the one-line summary of `gras features/ingest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Bronze objects read (processed or failed).
    pub files: u64,
    /// Keys that were not bronze objects.
    pub ignored: u64,
    /// Objects skipped as replays of processed content.
    pub replays: u64,
    /// Objects found removed.
    pub removed: u64,
    /// Rows in the files read.
    pub rows_read: u64,
    /// Rejected rows by reason.
    pub rejected: Rejections,
    /// Exact duplicate rows dropped (batch runs only; incremental runs re-read shared days).
    pub duplicates: u64,
    /// Distinct silver partitions written or deleted.
    pub partitions_written: u64,
    /// Online feature items upserted.
    pub online_items: u64,
    /// Objects whose handling rebuilt their metric ([`ObjectReport::rebuilt`]).
    pub rebuilds: u64,
    /// Failed objects.
    pub failed: Vec<FileFailure>,
}

impl RunSummary {
    /// Adds the totals of another run (`partitions_written` then counts partition writes:
    /// a partition rewritten by both runs counts twice).
    pub fn merge(&mut self, other: RunSummary) {
        self.files += other.files;
        self.ignored += other.ignored;
        self.replays += other.replays;
        self.removed += other.removed;
        self.rows_read += other.rows_read;
        self.rejected.merge(&other.rejected);
        self.duplicates += other.duplicates;
        self.partitions_written += other.partitions_written;
        self.online_items += other.online_items;
        self.rebuilds += other.rebuilds;
        self.failed.extend(other.failed);
    }

    /// Counts one object's report; its partitions go to `partitions` (the run's distinct
    /// partitions, from which the caller sets `partitions_written`).
    pub fn add(&mut self, r: &ObjectReport, partitions: &mut BTreeSet<(MetricId, NaiveDate)>) {
        match r.outcome {
            ObjectOutcome::Processed => self.files += 1,
            ObjectOutcome::Replay => self.replays += 1,
            ObjectOutcome::Ignored { .. } => self.ignored += 1,
            ObjectOutcome::Removed => self.removed += 1,
        }
        self.rows_read += r.rows_read;
        self.online_items += r.online_items;
        self.rebuilds += u64::from(r.rebuilt);
        self.rejected.merge(&r.rejected);
        partitions.extend(r.partitions.iter().cloned());
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "files={} failed={} ignored={} replays={} removed={} rows_read={} rows_rejected={} ({}) duplicates={} partitions_written={} online_items={} rebuilds={}",
            self.files + self.failed.len() as u64,
            self.failed.len(),
            self.ignored,
            self.replays,
            self.removed,
            self.rows_read,
            self.rejected.total(),
            self.rejected,
            self.duplicates,
            self.partitions_written,
            self.online_items,
            self.rebuilds
        )
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Lease lifetime on a partition; must exceed the function timeout so that a killed
    /// invocation can never write after its lease was taken over.
    pub lease_ttl: Duration,
    /// How long to wait for a busy partition before failing retryably.
    pub lease_wait: Duration,
    /// Retries of a read that answers "not found" (a just-written object), with doubling delay.
    pub not_found_retries: u32,
    /// First delay of those retries.
    pub not_found_delay: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(900),
            lease_wait: Duration::from_secs(60),
            not_found_retries: 3,
            not_found_delay: Duration::from_millis(200),
        }
    }
}

/// The feature engine over a pair of stores.
#[derive(Clone)]
pub struct FeatureEngine {
    stores: Stores,
    config: Arc<Config>,
    clock: Clock,
    owner: String,
    options: EngineOptions,
}

impl fmt::Debug for FeatureEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureEngine")
            .field("stores", &self.stores)
            .field("owner", &self.owner)
            .finish()
    }
}

/// A bronze object read by the batch path: its key, content and fingerprint.
type ReadFile = (BronzeKey, crate::bronze::BronzeFile, String);

/// Partitions written or deleted, and online items upserted.
type Written = (BTreeSet<(MetricId, NaiveDate)>, u64);

/// A change to one object, as an S3 notification reports it (keys already URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The object was written.
    Created(String),
    /// The object was deleted.
    Removed(String),
}

impl Change {
    /// The object key.
    pub fn key(&self) -> &str {
        match self {
            Change::Created(k) | Change::Removed(k) => k,
        }
    }
}

/// An object whose rows are indexed and whose series' extents are widened, with the
/// recomputation it needs still to do (shared with the other objects of its metric in the
/// same batch); its manifest is marked done once that work succeeded.
struct Pending {
    report: ObjectReport,
    metric: MetricId,
    cfg: MetricConfig,
    manifest: Manifest,
    /// The metric must be rebuilt (replaced content that may shrink a series' extent, or an
    /// earlier attempt interrupted before it recorded its affected dates).
    rebuild: bool,
    /// Silver dates whose partitions may change.
    dates: BTreeSet<NaiveDate>,
    /// Those of `dates` that change only if interpolation carries the new content into them.
    margins: Margins,
}

/// The first phase of ingesting an object: finished, or pending its recomputation.
enum Prepared {
    Done(ObjectReport),
    Pending(Box<Pending>),
}

/// A rebuild's bronze, object by object: the fingerprint of the bytes read (`None` when the
/// object was gone) and the object's valid rows. Kept between the rebuild's passes and its
/// recomputation, which re-read only what changed (see [`FeatureEngine::refresh_read`]).
#[derive(Default)]
struct RebuildRead {
    objects: BTreeMap<String, (Option<String>, BronzeRows)>,
}

impl RebuildRead {
    /// All rows, in key order.
    fn rows(&self) -> BronzeRows {
        BronzeRows::concat(self.objects.values().map(|(_, rows)| rows))
    }
}

/// Where a recomputation's rows come from.
enum Source<'a> {
    /// The bronze of the recomputed dates; the days around them from silver. The margin
    /// dates shown unchanged are not written.
    Incremental(&'a Margins),
    /// A rebuild's objects, brought up to date under the leases.
    Rebuild(&'a mut RebuildRead),
}

fn fingerprint(body: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(body))
}

impl FeatureEngine {
    /// An engine over `stores` with `config`, the system clock and default options.
    pub fn new(stores: Stores, config: Arc<Config>) -> Self {
        let owner = format!("{}-{:x}", std::process::id(), rand::random::<u64>());
        Self {
            stores,
            config,
            clock: system_clock(),
            owner,
            options: EngineOptions::default(),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Ingests the keys as the features Lambda handles one batch of their S3 events (see
    /// [`FeatureEngine::apply`]): a failing object is reported in [`RunSummary::failed`] and
    /// does not stop the others.
    pub async fn ingest(&self, keys: &[String]) -> RunSummary {
        let mut summary = RunSummary::default();
        let mut partitions = BTreeSet::new();
        let changes: Vec<Change> = keys.iter().cloned().map(Change::Created).collect();
        let results = self.apply(&changes).await;
        for (key, result) in keys.iter().zip(results) {
            match result {
                Ok(report) => summary.add(&report, &mut partitions),
                Err(e) => {
                    warn!(key = %key, error = %e, retryable = e.is_retryable(), "bronze object failed");
                    summary.failed.push(FileFailure {
                        key: key.clone(),
                        reason: e.to_string(),
                        retryable: e.is_retryable(),
                    });
                }
            }
        }
        summary.partitions_written = partitions.len() as u64;
        summary
    }

    async fn get_with_retry(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        let mut delay = self.options.not_found_delay;
        for attempt in 0..=self.options.not_found_retries {
            match self.stores.blobs.get(key).await {
                Ok(b) => return Ok(Some(b)),
                Err(BlobError::NotFound { .. }) if attempt < self.options.not_found_retries => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(BlobError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Applies a batch of object changes in order, as the features Lambda does for one SQS
    /// batch; returns one result per change, in the same order. The result is the same as
    /// handling the changes one by one ([`FeatureEngine::ingest_one`],
    /// [`FeatureEngine::remove_one`]), but consecutive new objects of one metric share one
    /// recomputation of the union of the partitions they affect: a burst of files of the
    /// same days reads the days' bronze and rewrites their partitions once, not once per file.
    /// A removal, or a key seen again in the batch, first finishes the work pending before it.
    pub async fn apply(&self, changes: &[Change]) -> Vec<Result<ObjectReport, FeaturesError>> {
        let mut results: Vec<(usize, Result<ObjectReport, FeaturesError>)> =
            Vec::with_capacity(changes.len());
        let mut pending: Vec<(usize, Pending)> = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            if matches!(change, Change::Removed(_))
                || pending.iter().any(|(_, p)| p.report.key == change.key())
            {
                results.extend(self.settle(std::mem::take(&mut pending)).await);
            }
            match change {
                Change::Removed(key) => results.push((i, self.remove_one(key).await)),
                Change::Created(key) => match self.prepare(key).await {
                    Ok(Prepared::Done(report)) => results.push((i, Ok(report))),
                    Ok(Prepared::Pending(p)) => pending.push((i, *p)),
                    Err(e) => results.push((i, Err(e))),
                },
            }
        }
        results.extend(self.settle(pending).await);
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// The incremental path for one object key (already URL-decoded).
    pub async fn ingest_one(&self, key: &str) -> Result<ObjectReport, FeaturesError> {
        match self.prepare(key).await? {
            Prepared::Done(report) => Ok(report),
            Prepared::Pending(p) => {
                let written = self.recompute_pending(&p.metric, &p.cfg, &[&*p]).await?;
                self.finish(*p, &written, true).await
            }
        }
    }

    /// Does the pending objects' recomputations, one per metric over the union of their
    /// dates (or one rebuild), then marks each object's manifest done. Returns each object's
    /// result with its index.
    async fn settle(
        &self,
        pending: Vec<(usize, Pending)>,
    ) -> Vec<(usize, Result<ObjectReport, FeaturesError>)> {
        let mut by_metric: BTreeMap<MetricId, Vec<(usize, Pending)>> = BTreeMap::new();
        for (i, p) in pending {
            by_metric.entry(p.metric.clone()).or_default().push((i, p));
        }
        let mut out = Vec::new();
        for (metric, group) in by_metric {
            let Some(cfg) = group.first().map(|(_, p)| p.cfg.clone()) else {
                continue;
            };
            let refs: Vec<&Pending> = group.iter().map(|(_, p)| p).collect();
            match self.recompute_pending(&metric, &cfg, &refs).await {
                Ok(written) => {
                    for (n, (i, p)) in group.into_iter().enumerate() {
                        out.push((i, self.finish(p, &written, n == 0).await));
                    }
                }
                Err(e) => {
                    let (reason, retryable) = (e.to_string(), e.is_retryable());
                    let mut first = Some(e);
                    for (i, _) in group {
                        let err = first.take().unwrap_or_else(|| FeaturesError::SharedWork {
                            metric: metric.clone(),
                            reason: reason.clone(),
                            retryable,
                        });
                        out.push((i, Err(err)));
                    }
                }
            }
        }
        out
    }

    /// The recomputation that pending objects of one metric need together: a rebuild if any
    /// of them needs one, else the union of their dates, run by run.
    async fn recompute_pending(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        pending: &[&Pending],
    ) -> Result<Written, FeaturesError> {
        if pending.iter().any(|p| p.rebuild) {
            info!(
                metric = %metric,
                objects = pending.len(),
                "rebuilding metric (an extent may shrink, or an earlier attempt was interrupted)"
            );
            return self.rebuild_metric(metric, cfg).await;
        }
        let dates: BTreeSet<NaiveDate> = pending
            .iter()
            .flat_map(|p| p.dates.iter().copied())
            .collect();
        // A date is a margin only if it is one for every object whose dates hold it.
        let hard: BTreeSet<NaiveDate> = pending
            .iter()
            .flat_map(|p| p.dates.iter().filter(|d| !p.margins.contains_key(d)))
            .copied()
            .collect();
        let mut margins = Margins::new();
        for p in pending {
            for (d, beside) in &p.margins {
                if !hard.contains(d) {
                    margins
                        .entry(*d)
                        .or_default()
                        .extend(beside.iter().cloned());
                }
            }
        }
        self.recompute_dates(metric, cfg, &dates, &margins).await
    }

    /// Recomputes the partitions of `metric` on `dates`, run by run of consecutive dates;
    /// the `margins` shown unchanged are not written.
    async fn recompute_dates(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        dates: &BTreeSet<NaiveDate>,
        margins: &Margins,
    ) -> Result<Written, FeaturesError> {
        let mut written: Written = (BTreeSet::new(), 0);
        for (d1, d2) in runs(dates) {
            let (partitions, online) = self
                .recompute(metric, cfg, d1, d2, Source::Incremental(margins))
                .await?;
            written.0.extend(partitions);
            written.1 += online;
        }
        Ok(written)
    }

    /// Marks a pending object's manifest done after its recomputation `written`; `first`
    /// says whether its report carries the online items (counted once per recomputation).
    async fn finish(
        &self,
        mut p: Pending,
        written: &Written,
        first: bool,
    ) -> Result<ObjectReport, FeaturesError> {
        p.manifest.done = true;
        p.manifest.affected = None;
        state::put_manifest(
            &*self.stores.tables,
            &p.report.key,
            &p.manifest,
            (self.clock)(),
        )
        .await?;
        p.report.partitions = written.0.clone();
        p.report.online_items = if first { written.1 } else { 0 };
        p.report.rebuilt = p.rebuild;
        Ok(p.report)
    }

    /// Ingests one object up to its recomputation: reads it, indexes its rows, writes its
    /// manifest (not done yet) and widens its series' extents; the affected dates are
    /// returned as pending work. Bad files, replays, foreign keys and unconfigured metrics
    /// finish here.
    async fn prepare(&self, key: &str) -> Result<Prepared, FeaturesError> {
        let mut report = ObjectReport {
            key: key.to_string(),
            outcome: ObjectOutcome::Processed,
            rows_read: 0,
            rejected: Rejections::default(),
            partitions: BTreeSet::new(),
            online_items: 0,
            rebuilt: false,
        };
        let bk = match BronzeKey::parse(key) {
            Ok(bk) => bk,
            Err(e) => {
                info!(key, reason = e.reason, "ignoring non-bronze key");
                report.outcome = ObjectOutcome::Ignored {
                    reason: e.reason.to_string(),
                };
                return Ok(Prepared::Done(report));
            }
        };
        let Some(body) = self.get_with_retry(key).await? else {
            return self.remove_rows(key).await.map(Prepared::Done);
        };
        let fp = fingerprint(&body);
        let tables = &*self.stores.tables;
        let old = state::get_manifest(tables, key).await?;
        if old.as_ref().is_some_and(|m| m.done && m.fingerprint == fp) {
            debug!(key, "replay of processed content");
            report.outcome = ObjectOutcome::Replay;
            return Ok(Prepared::Done(report));
        }
        let cfg = self.config.metric(&bk.metric).cloned();
        let file = match read_bronze(body, &bk.metric, cfg.as_ref().map(|c| &c.bounds)) {
            Ok(f) => f,
            Err(source) => {
                if old.is_some() {
                    // The object was replaced by an unusable one: its previous rows must
                    // leave silver, as a batch run (which skips the bad file) would have it.
                    self.remove_rows(key).await?;
                }
                return Err(FeaturesError::BadFile {
                    key: key.to_string(),
                    source,
                });
            }
        };
        report.rows_read = file.rows_read;
        report.rejected = file.rejected.clone();
        let Some(cfg) = cfg else {
            state::put_manifest(
                tables,
                key,
                &Manifest {
                    fingerprint: fp,
                    dates: BTreeSet::new(),
                    span: None,
                    series: None,
                    done: true,
                    affected: None,
                },
                (self.clock)(),
            )
            .await?;
            return Ok(Prepared::Done(report));
        };
        let width = cfg.frequency.nanos();

        // Per-date row counts and per-series bucket ranges of the new content.
        let per_date = date_counts(&file.rows.ts);
        let mut ranges: HashMap<u32, (i64, i64)> = HashMap::new();
        for (r, &ts) in file.rows.ts.iter().enumerate() {
            let b = bucket_of(ts, width);
            let e = ranges.entry(file.rows.series[r]).or_insert((b, b));
            e.0 = e.0.min(b);
            e.1 = e.1.max(b);
        }
        let dates: BTreeSet<NaiveDate> = per_date.keys().copied().collect();

        // 0. The ceiling, before anything is written: content that would make this object
        // rewrite more partitions than configured fails alone (its previous content, if
        // any, stays in silver).
        let known = state::load_extents(tables, &bk.metric).await?;
        let reached = dates_covered(
            ranges
                .iter()
                .map(|(sid, &(lo, hi))| {
                    let prev = known.get(&file.rows.keys[*sid as usize]).copied();
                    content_reach(lo, hi, prev, width)
                })
                .collect(),
        );
        let ceiling = self.config.max_partitions_per_file;
        if reached > u64::from(ceiling) {
            return Err(FeaturesError::TooManyPartitions {
                key: key.to_string(),
                partitions: reached,
                ceiling,
            });
        }

        // 1. Index and manifest first (before any lease).
        for (d, n) in &per_date {
            state::put_index(tables, &bk.metric, *d, key, *n).await?;
        }
        let replaced = old.as_ref().is_some_and(|m| m.fingerprint != fp);
        if let Some(old) = &old {
            for d in old.dates.difference(&dates) {
                state::delete_index(tables, &bk.metric, *d, key).await?;
            }
        }
        // Content replaced after a finished attempt: silver holds the previous rows, which
        // lie within the previous manifest's span. (After an unfinished one, silver may hold
        // rows of content older still, that no manifest records any more.)
        let retracted = old.as_ref().filter(|m| m.done && replaced);
        // An earlier attempt on this very content that did not finish (the invocation died
        // or failed after its first writes). If it recorded the dates it affects, they are
        // recomputed; if not, it may have widened some extents already, so the affected range
        // can no longer be derived from them: rebuild, as for replaced content.
        let interrupted = old.as_ref().filter(|m| !m.done && m.fingerprint == fp);
        let resumed = interrupted.and_then(|m| m.affected.clone());
        let mut manifest = Manifest {
            fingerprint: fp,
            dates: dates.clone(),
            span: file.rows.span(),
            series: Some(SeriesFilter::of(file.rows.keys.iter())),
            done: false,
            affected: resumed.clone(),
        };
        state::put_manifest(tables, key, &manifest, (self.clock)()).await?;

        let mut rebuild =
            (replaced && retracted.is_none()) || (interrupted.is_some() && resumed.is_none());
        let mut affected: BTreeSet<NaiveDate> = BTreeSet::new();
        let mut margins = Margins::new();
        if let (false, Some(dates)) = (rebuild, resumed) {
            info!(key, dates = dates.len(), "resuming an interrupted attempt");
            affected = dates;
        } else if !rebuild {
            // 2a. The previous rows leave: their span and what reaches it, unless a series'
            // extent may shrink.
            let scope = match retracted {
                Some(previous) => {
                    let added: HashMap<&SeriesKey, (i64, i64)> = ranges
                        .iter()
                        .map(|(sid, &r)| (&file.rows.keys[*sid as usize], r))
                        .collect();
                    retraction_scope(previous, &known, &added, width)
                }
                None => Some(BTreeSet::new()),
            };
            match scope {
                None => rebuild = true,
                Some(dates) => {
                    // 2b. Widen extents; add what the new content reaches.
                    let (reached, m) = self
                        .widen_extents(&bk.metric, &file.rows.keys, &ranges, known, width)
                        .await?;
                    margins = m;
                    margins.retain(|d, _| !dates.contains(d));
                    affected = dates;
                    affected.extend(reached);
                    // Recorded, so that a retry of this content recomputes exactly these.
                    manifest.affected = Some(affected.clone());
                    state::put_manifest(tables, key, &manifest, (self.clock)()).await?;
                }
            }
        }
        if rebuild {
            // Replaced content may shrink a series' extent: rebuild the metric's state.
            info!(
                key,
                replaced,
                interrupted = interrupted.is_some(),
                "metric {} needs a rebuild",
                bk.metric
            );
        } else if replaced {
            info!(
                key,
                dates = affected.len(),
                "replaced content: recomputing its dates"
            );
        }
        // 3. The recomputation (under leases) is left to the caller, who may share it.
        Ok(Prepared::Pending(Box::new(Pending {
            report,
            metric: bk.metric,
            cfg,
            manifest,
            rebuild,
            dates: affected,
            margins,
        })))
    }

    /// Widens the stored extent of each series of new content (`ranges`: bucket range by
    /// index into `keys`; `known`: the extents as loaded) and returns the dates whose
    /// partitions the new content may change ([`ContentReach`]), and which of them are
    /// margins.
    async fn widen_extents(
        &self,
        metric: &MetricId,
        keys: &[SeriesKey],
        ranges: &HashMap<u32, (i64, i64)>,
        mut known: BTreeMap<SeriesKey, Extent>,
        width: i64,
    ) -> Result<(BTreeSet<NaiveDate>, Margins), FeaturesError> {
        let tables = &*self.stores.tables;
        let mut hard = BTreeSet::new();
        let mut margins = Margins::new();
        for (sid, &(lo, hi)) in ranges {
            let series = &keys[*sid as usize];
            let prev =
                state::widen_extent(tables, metric, series, known.remove(series), lo, hi).await?;
            let (h, m) = ContentReach::new(lo, hi, prev, width).dates();
            hard.extend(h);
            for (d, beside) in m {
                margins.entry(d).or_default().push((series.clone(), beside));
            }
        }
        margins.retain(|d, _| !hard.contains(d));
        hard.extend(margins.keys().copied());
        Ok((hard, margins))
    }

    /// Handles a removal notification: when the object is really gone, drops its rows (index,
    /// silver, online store, manifest); when it still exists (a stale event: an old version was
    /// deleted, or the key was written again), ingests the current object instead.
    pub async fn remove_one(&self, key: &str) -> Result<ObjectReport, FeaturesError> {
        // A removal can be stale: on a versioned bucket deleting an old version notifies
        // too, and the key may have been written again since. The current object wins.
        let listed = self.stores.blobs.list(key).await?;
        if listed.iter().any(|m| m.key == key) {
            info!(key = %key, "removal notified but the object exists: ingesting the current object");
            return self.ingest_one(key).await;
        }
        self.remove_rows(key).await
    }

    /// Removes an object's rows from silver and its state (the object is gone or unusable).
    async fn remove_rows(&self, key: &str) -> Result<ObjectReport, FeaturesError> {
        let tables = &*self.stores.tables;
        let mut report = ObjectReport {
            key: key.to_string(),
            outcome: ObjectOutcome::Removed,
            rows_read: 0,
            rejected: Rejections::default(),
            partitions: BTreeSet::new(),
            online_items: 0,
            rebuilt: false,
        };
        let Ok(bk) = BronzeKey::parse(key) else {
            report.outcome = ObjectOutcome::Ignored {
                reason: "not a bronze key".into(),
            };
            return Ok(report);
        };
        let Some(old) = state::get_manifest(tables, key).await? else {
            return Ok(report);
        };
        let cfg = self.config.metric(&bk.metric).cloned();
        // The dates to recompute, or `None` for a rebuild. After a finished attempt, silver
        // holds exactly the manifest's rows: what they reach, unless a series' extent may
        // shrink. A retry of this removal resumes from what its first attempt recorded
        // (that attempt may have changed the extents since); after an unfinished attempt
        // of an ingestion, silver and the extents are uncertain: rebuild.
        let scope = if old.is_removing() {
            old.affected.clone()
        } else if let (Some(cfg), true) = (&cfg, old.done) {
            let known = state::load_extents(tables, &bk.metric).await?;
            retraction_scope(&old, &known, &HashMap::new(), cfg.frequency.nanos())
        } else {
            None
        };
        if !old.is_removing() {
            let marker = Manifest {
                fingerprint: state::REMOVING.to_string(),
                dates: old.dates.clone(),
                span: old.span,
                series: old.series.clone(),
                done: false,
                affected: scope.clone(),
            };
            state::put_manifest(tables, key, &marker, (self.clock)()).await?;
        }
        for d in &old.dates {
            state::delete_index(tables, &bk.metric, *d, key).await?;
        }
        if let Some(cfg) = cfg {
            report.rebuilt = scope.is_none();
            (report.partitions, report.online_items) = match scope {
                Some(dates) => {
                    info!(
                        key,
                        dates = dates.len(),
                        "removed content: recomputing its dates"
                    );
                    self.recompute_dates(&bk.metric, &cfg, &dates, &Margins::new())
                        .await?
                }
                None => self.rebuild_metric(&bk.metric, &cfg).await?,
            };
        }
        state::delete_manifest(tables, key).await?;
        Ok(report)
    }

    /// Reads the bronze objects `keys` of `metric`, in key order: per object the fingerprint
    /// of its bytes (`None` when it is gone) and its valid rows, those in one of the
    /// half-open `ranges` (nanoseconds) when given. An object that is gone or no longer
    /// readable has no rows.
    async fn read_objects(
        &self,
        metric: &MetricId,
        keys: BTreeSet<String>,
        ranges: Option<Vec<(i64, i64)>>,
    ) -> Result<Vec<(String, Option<String>, BronzeRows)>, FeaturesError> {
        let ranges = &ranges;
        stream::iter(keys)
            .map(|key| async move {
                let body = match self.stores.blobs.get(&key).await {
                    Ok(b) => b,
                    // Removed since it was indexed: its own removal event rebuilds.
                    Err(BlobError::NotFound { .. }) => {
                        return Ok((key, None, BronzeRows::default()))
                    }
                    Err(e) => return Err(FeaturesError::from(e)),
                };
                let fp = fingerprint(&body);
                let m = metric.clone();
                let bounds = self.config.metric(metric).map(|c| c.bounds);
                let parsed = blocking(move || read_bronze(body, &m, bounds.as_ref())).await;
                let rows = match parsed {
                    Ok(mut f) => {
                        if let Some(ranges) = ranges {
                            f.rows.retain(|ts| {
                                ranges.iter().any(|(lo, hi)| (*lo..*hi).contains(&ts))
                            });
                        }
                        f.rows
                    }
                    // Replaced by a bad file since it was indexed: skipped, as in batch.
                    Err(e) => {
                        warn!(key = %key, error = %e, "indexed object is no longer readable");
                        BronzeRows::default()
                    }
                };
                Ok((key, Some(fp), rows))
            })
            // In key order (dated keys: time order), so that series' rows come mostly sorted.
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Brings a rebuild's objects up to date with the index: drops the objects no longer
    /// indexed, reads the newly indexed ones, and re-reads those whose manifest no longer
    /// records the fingerprint of the bytes read (replaced or removed since). Every writer
    /// records its content's manifest before it widens an extent or takes a lease, so after
    /// a conflicting widening, or once the leases are held, the objects that changed are
    /// exactly these; the others are not read again.
    async fn refresh_read(
        &self,
        metric: &MetricId,
        read: &mut RebuildRead,
    ) -> Result<(), FeaturesError> {
        let tables = &*self.stores.tables;
        let index: BTreeSet<String> = state::query_index_all(tables, metric)
            .await?
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        read.objects.retain(|k, _| index.contains(k));
        let known: Vec<(&String, Option<&String>)> = read
            .objects
            .iter()
            .map(|(k, (fp, _))| (k, fp.as_ref()))
            .collect();
        let keys: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
        let manifests = state::get_manifests(tables, &keys).await?;
        let changed: BTreeSet<String> = known
            .iter()
            .zip(manifests)
            .filter(|((_, fp), manifest)| {
                !matches!((manifest, fp), (Some(m), Some(fp)) if &m.fingerprint == *fp)
            })
            .map(|((key, _), _)| (*key).clone())
            .collect();
        let mut to_read = changed;
        to_read.extend(index.into_iter().filter(|k| !read.objects.contains_key(k)));
        if !to_read.is_empty() {
            for (key, fp, rows) in self.read_objects(metric, to_read, None).await? {
                read.objects.insert(key, (fp, rows));
            }
        }
        Ok(())
    }

    /// The observed buckets of `dates` read back from their silver partitions, per date;
    /// `None` for a date whose partition is missing, unreadable, or written under other
    /// observed-bucket rules ([`silver::OBSERVED_RULES_VERSION`]).
    async fn read_silver_observed(
        &self,
        metric: &MetricId,
        dates: &BTreeSet<NaiveDate>,
    ) -> Result<Vec<(NaiveDate, Option<Vec<ObservedBucket>>)>, FeaturesError> {
        stream::iter(dates.iter().copied())
            .map(|d| async move {
                let key = contract::silver_key(metric, d);
                let body = match self.stores.blobs.get(&key).await {
                    Ok(b) => b,
                    Err(BlobError::NotFound { .. }) => return Ok((d, None)),
                    Err(e) => return Err(FeaturesError::from(e)),
                };
                let parsed = blocking(move || silver::read_observed(body))
                    .await;
                Ok(match parsed {
                    Ok(mut buckets) => {
                        buckets.retain(|b| date_of(b.bucket_ns) == d);
                        (d, Some(buckets))
                    }
                    Err(e) => {
                        warn!(key = %key, error = %e, "silver partition not usable as input: reading its bronze instead");
                        (d, None)
                    }
                })
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await
    }

    /// The inputs of recomputing the dates `[d1, d2]` of `metric` (not a rebuild): the bronze
    /// rows of those dates, and the observed buckets of the dates around them that the
    /// recomputation reads but does not change ([`LOOKBACK_DAYS`] before, for lags, windows
    /// and interpolation, and the day after, for interpolation).
    ///
    /// Those come from the dates' silver partitions rather than their bronze: a partition
    /// outside the dates being recomputed already holds what a batch run gives it (affected
    /// dates are recomputed in ascending runs, and every change recomputes all the dates it
    /// reaches), and its observed buckets (value not null, not imputed) are the aggregated
    /// bronze buckets bit for bit. A partition that is missing although the date has bronze
    /// (an interrupted first write) or unreadable is replaced by that bronze.
    async fn load_run_inputs(
        &self,
        metric: &MetricId,
        d1: NaiveDate,
        d2: NaiveDate,
    ) -> Result<(BronzeRows, Vec<ObservedBucket>), FeaturesError> {
        let from = d1 - chrono::Days::new(LOOKBACK_DAYS as u64);
        let to = d2 + chrono::Days::new(1);
        let entries = state::query_index(&*self.stores.tables, metric, from, to).await?;
        let around: BTreeSet<NaiveDate> = entries
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| !(d1..=d2).contains(d))
            .collect();
        let own: BTreeSet<NaiveDate> = d1.iter_days().take_while(|d| *d <= d2).collect();
        // The run's own bronze does not depend on the silver around it: both are fetched at
        // once (one round of latency instead of two), then the bronze of any date whose
        // partition could not be used.
        let (silver, mut objects) = futures::try_join!(
            self.read_silver_observed(metric, &around),
            self.read_dates(metric, &entries, &own),
        )?;
        let mut observed = Vec::new();
        let mut fallback = BTreeSet::new();
        for (d, buckets) in silver {
            match buckets {
                Some(b) => observed.extend(b),
                None => {
                    fallback.insert(d);
                }
            }
        }
        if !fallback.is_empty() {
            objects.extend(self.read_dates(metric, &entries, &fallback).await?);
            // Key order (dated keys: time order), so that series' rows come mostly sorted.
            objects.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let rows = BronzeRows::concat(objects.iter().map(|(_, _, rows)| rows));
        Ok((rows, observed))
    }

    /// Reads the bronze objects indexed under `dates` (`entries` as from
    /// [`state::query_index`]), keeping their rows on those dates.
    async fn read_dates(
        &self,
        metric: &MetricId,
        entries: &[(NaiveDate, String)],
        dates: &BTreeSet<NaiveDate>,
    ) -> Result<Vec<(String, Option<String>, BronzeRows)>, FeaturesError> {
        let keys: BTreeSet<String> = entries
            .iter()
            .filter(|(d, _)| dates.contains(d))
            .map(|(_, k)| k.clone())
            .collect();
        let ranges = runs(dates)
            .into_iter()
            .map(|(a, b)| (day_start(a), day_start(b) + DAY_NS))
            .collect();
        self.read_objects(metric, keys, Some(ranges)).await
    }

    async fn acquire(&self, metric: &MetricId, dates: &[NaiveDate]) -> Result<(), FeaturesError> {
        let tables = &*self.stores.tables;
        let deadline = tokio::time::Instant::now() + self.options.lease_wait;
        let mut backoff = Duration::from_millis(20);
        loop {
            let mut held = Vec::new();
            let mut busy = None;
            for &d in dates {
                if state::try_lease(
                    tables,
                    metric,
                    d,
                    &self.owner,
                    (self.clock)(),
                    self.options.lease_ttl,
                )
                .await?
                {
                    held.push(d);
                } else {
                    busy = Some(d);
                    break;
                }
            }
            let Some(busy) = busy else { return Ok(()) };
            for d in held {
                state::release_lease(tables, metric, d, &self.owner).await?;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FeaturesError::Busy {
                    metric: metric.clone(),
                    date: busy,
                });
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % 20);
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn release(&self, metric: &MetricId, dates: &[NaiveDate]) {
        for &d in dates {
            if let Err(e) = state::release_lease(&*self.stores.tables, metric, d, &self.owner).await
            {
                warn!(metric = %metric, date = %d, error = %e, "lease release failed; it expires by itself");
            }
        }
    }

    /// Recomputes the silver partitions of `metric` for dates `[d1, d2]` under leases.
    /// For a rebuild, online items are written unconditionally (extents may have shrunk).
    async fn recompute(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        d1: NaiveDate,
        d2: NaiveDate,
        source: Source<'_>,
    ) -> Result<Written, FeaturesError> {
        let dates: Vec<NaiveDate> = d1.iter_days().take_while(|d| *d <= d2).collect();
        self.acquire(metric, &dates).await?;
        let result = self.recompute_locked(metric, cfg, d1, d2, source).await;
        self.release(metric, &dates).await;
        result
    }

    async fn recompute_locked(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        d1: NaiveDate,
        d2: NaiveDate,
        source: Source<'_>,
    ) -> Result<Written, FeaturesError> {
        let tables = &*self.stores.tables;
        let extents: BTreeMap<SeriesKey, (i64, i64)> = state::load_extents(tables, metric)
            .await?
            .into_iter()
            .map(|(k, e): (SeriesKey, Extent)| (k, (e.first, e.last)))
            .collect();
        // A rebuild recomputes every date from its bronze objects, brought up to date now
        // that the leases are held; other recomputations read the days around theirs back
        // from silver.
        let rebuild = matches!(source, Source::Rebuild(_));
        let mut margins = Margins::new();
        let (rows, around) = match source {
            Source::Rebuild(read) => {
                self.refresh_read(metric, read).await?;
                // One copy of the rows from here on.
                let rows = read.rows();
                read.objects.clear();
                (rows, Vec::new())
            }
            Source::Incremental(all) => {
                margins.extend(all.range(d1..=d2).map(|(d, beside)| (*d, beside.clone())));
                self.load_run_inputs(metric, d1, d2).await?
            }
        };
        let (emit_from, emit_to) = (day_start(d1), day_start(d2) + DAY_NS - 1);
        let metric2 = metric.clone();
        let cfg2 = cfg.clone();
        let (out, unchanged) = blocking(move || {
            let agg = aggregate_on(
                &rows,
                cfg2.frequency.nanos(),
                cfg2.aggregation,
                worker_threads(),
            );
            let mut observed = agg.series.into_iter().map(|s| (s.key.clone(), s)).collect();
            merge_observed(&mut observed, around);
            let unchanged = unchanged_margins(&margins, &observed, cfg2.frequency.nanos());
            let input = MetricInput {
                metric: &metric2,
                cfg: &cfg2,
                observed,
                extents,
            };
            (
                Arc::new(compute_metric(&input, emit_from, emit_to)),
                unchanged,
            )
        })
        .await;
        let dates: Vec<NaiveDate> = d1
            .iter_days()
            .take_while(|d| *d <= d2)
            .filter(|d| !unchanged.contains(d))
            .collect();
        if !unchanged.is_empty() {
            debug!(metric = %metric, dates = unchanged.len(), "margin partitions unchanged: not rewritten");
        }
        self.write_partitions(metric, &dates, &out, rebuild).await
    }

    /// Puts each object that has a body and deletes each that has none,
    /// [`WRITE_CONCURRENCY`] at a time.
    async fn store_all(&self, writes: Vec<(String, Option<Bytes>)>) -> Result<(), BlobError> {
        // Owned futures (no borrow in the closure's output): the caller's future stays Send
        // for any lifetime, as `tokio::spawn` needs.
        let requests: Vec<_> = writes
            .into_iter()
            .map(|(key, body)| {
                let blobs = Arc::clone(&self.stores.blobs);
                async move {
                    match body {
                        Some(body) => blobs.put(&key, body).await,
                        None => blobs.delete(&key).await,
                    }
                }
            })
            .collect();
        stream::iter(requests)
            .buffered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Writes (or deletes, when empty) each partition of `dates`, then the online items:
    /// normally only when newer than the stored one, unconditionally with `force`.
    async fn write_partitions(
        &self,
        metric: &MetricId,
        dates: &[NaiveDate],
        out: &Arc<MetricOutput>,
        force: bool,
    ) -> Result<Written, FeaturesError> {
        let mut written = BTreeSet::new();
        // Encode every partition first, on all cores, off the async threads.
        let bodies = {
            let out = Arc::clone(out);
            let dates = dates.to_vec();
            blocking(move || encode_partitions(&out, &dates)).await?
        };
        self.store_all(
            dates
                .iter()
                .map(|&d| contract::silver_key(metric, d))
                .zip(bodies)
                .collect(),
        )
        .await?;
        written.extend(dates.iter().map(|&d| (metric.clone(), d)));
        let now = (self.clock)();
        if force {
            // Nothing to compare with: one batch instead of a conditional write per series.
            let items: Vec<_> = out
                .newest()
                .map(|(rows, i)| online::item(rows, i, now))
                .collect();
            let online = items.len() as u64;
            self.stores
                .tables
                .batch_put(&online::FEATURES, items)
                .await?;
            return Ok((written, online));
        }
        let mut online = 0;
        for (rows, i) in out.newest() {
            let item = online::item(rows, i, now);
            let ts = item
                .get(online::attr::TS)
                .cloned()
                .unwrap_or(crate::storage::Attr::Null);
            // Newest row wins: a concurrent writer of an older date never overwrites it.
            let cond = if force {
                Condition::Always
            } else {
                Condition::Or(vec![
                    Condition::NotExists,
                    Condition::AtMost(online::attr::TS.into(), ts),
                ])
            };
            match self.stores.tables.put(&online::FEATURES, item, cond).await {
                Ok(()) => online += 1,
                Err(TableError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((written, online))
    }

    /// Rebuilds a metric's extents from its indexed bronze and recomputes every partition
    /// from the earliest to the latest date (deleting partitions that no longer have rows).
    ///
    /// Other writers may index objects and widen extents meanwhile. Each pass reads the
    /// extents, then brings its objects up to date with the index, and replaces the
    /// extents it changes only if nobody changed them since that read; after a conflict the
    /// next pass reads just the objects indexed or changed since ([`REBUILD_PASSES`] at
    /// most, then it fails retryably). The recomputation under the leases brings the
    /// objects up to date once more instead of reading them all again.
    async fn rebuild_metric(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
    ) -> Result<Written, FeaturesError> {
        let tables = &*self.stores.tables;
        let mut read = RebuildRead::default();
        let mut passes = 0;
        let extents = loop {
            passes += 1;
            // The extents before the index: a writer that widens one after this read may
            // have indexed rows this pass does not see, and then the replacement below
            // reports it instead of undoing its widening (`state::replace_extents_checked`).
            let old = state::load_extents(tables, metric).await?;
            self.refresh_read(metric, &mut read).await?;
            let extents = bucket_extents(
                read.objects.values().map(|(_, rows)| rows),
                cfg.frequency.nanos(),
            );
            if self.replace_extents(metric, &old, &extents, true).await? {
                break extents;
            }
            if passes >= REBUILD_PASSES {
                return Err(FeaturesError::Contended {
                    metric: metric.clone(),
                    passes,
                });
            }
            info!(metric = %metric, passes, "extents widened during a rebuild: reading what changed");
        };
        let (mut done, mut online) = (BTreeSet::new(), 0);
        if let (Some(first), Some(last)) = (
            extents.values().map(|e| e.0).min(),
            extents.values().map(|e| e.1).max(),
        ) {
            (done, online) = self
                .recompute(
                    metric,
                    cfg,
                    date_of(first),
                    date_of(last),
                    Source::Rebuild(&mut read),
                )
                .await?;
        }
        let keep: BTreeSet<NaiveDate> = done.iter().map(|(_, d)| *d).collect();
        done.extend(self.delete_stale_partitions(metric, &keep).await?);
        Ok((done, online))
    }

    /// Replaces a metric's extents (`old` as stored before) and deletes the online items of
    /// series that vanished. `checked`: each extent only if it is still as in `old` (a
    /// rebuild that runs beside other writers); `false` when one was not.
    async fn replace_extents(
        &self,
        metric: &MetricId,
        old: &BTreeMap<SeriesKey, Extent>,
        extents: &BTreeMap<SeriesKey, (i64, i64)>,
        checked: bool,
    ) -> Result<bool, FeaturesError> {
        let tables = &*self.stores.tables;
        let gone = old
            .keys()
            .filter(|k| !extents.contains_key(*k))
            .map(|k| (online::pk(metric.as_str(), k.as_str()), String::new()))
            .collect();
        // Online items first: a crash in between leaves their extents, so a rebuild retries.
        tables.batch_delete(&online::FEATURES, gone).await?;
        if checked {
            return Ok(state::replace_extents_checked(tables, metric, old, extents).await?);
        }
        state::replace_extents(tables, metric, old, extents).await?;
        Ok(true)
    }

    /// Deletes the metric's silver partitions whose dates are not in `keep`, under their
    /// leases, [`WRITE_CONCURRENCY`] at a time, and only those that no stored extent
    /// reaches: a concurrent writer that widened an extent over such a date (it does so
    /// before taking the lease) writes that partition itself, so it is not stale.
    async fn delete_stale_partitions(
        &self,
        metric: &MetricId,
        keep: &BTreeSet<NaiveDate>,
    ) -> Result<BTreeSet<(MetricId, NaiveDate)>, FeaturesError> {
        let stale: BTreeMap<NaiveDate, String> = self
            .stores
            .blobs
            .list(&contract::silver_metric_prefix(metric))
            .await?
            .into_iter()
            .filter_map(|meta| {
                let (m, d) = contract::parse_silver_key(&meta.key)?;
                (&m == metric && !keep.contains(&d)).then_some((d, meta.key))
            })
            .collect();
        if stale.is_empty() {
            return Ok(BTreeSet::new());
        }
        let dates: Vec<NaiveDate> = stale.keys().copied().collect();
        self.acquire(metric, &dates).await?;
        let result = async {
            let extents = state::load_extents(&*self.stores.tables, metric).await?;
            let unreached: Vec<(NaiveDate, String)> = stale
                .into_iter()
                .filter(|(d, _)| {
                    !extents
                        .values()
                        .any(|e| date_of(e.first) <= *d && *d <= date_of(e.last))
                })
                .collect();
            self.store_all(
                unreached
                    .iter()
                    .map(|(_, key)| (key.clone(), None))
                    .collect(),
            )
            .await?;
            Ok(unreached
                .into_iter()
                .map(|(d, _)| (metric.clone(), d))
                .collect::<BTreeSet<_>>())
        }
        .await;
        self.release(metric, &dates).await;
        result
    }

    /// The batch path: every bronze object into silver; rebuilds the pipeline state.
    ///
    /// Bad files are reported in the summary and skipped; the run fails only on storage
    /// errors. It must not run concurrently with incremental ingestion of the same lake.
    pub async fn batch(&self) -> Result<RunSummary, FeaturesError> {
        let mut summary = RunSummary::default();
        let listing = self.stores.blobs.list(BRONZE_PREFIX).await?;
        // One metric at a time: only its files are in memory (peak memory ~ 1/metrics).
        let mut keys_by_metric: BTreeMap<MetricId, Vec<(String, BronzeKey)>> = BTreeMap::new();
        for meta in listing {
            match BronzeKey::parse(&meta.key) {
                Ok(bk) => keys_by_metric
                    .entry(bk.metric.clone())
                    .or_default()
                    .push((meta.key, bk)),
                Err(e) => info!(key = %meta.key, reason = e.reason, "ignoring non-bronze key"),
            }
        }
        let mut metrics: BTreeSet<MetricId> = self.config.metrics.keys().cloned().collect();
        metrics.extend(keys_by_metric.keys().cloned());
        let mut queue = metrics.into_iter().map(|m| {
            let keys = keys_by_metric.remove(&m).unwrap_or_default();
            (m, keys)
        });
        let mut partitions = 0u64;
        // The next metric's files are read while the current one is computed and written
        // (reading is most of a metric's time on one core; computing and writing use all).
        let read = |next: Option<(MetricId, Vec<(String, BronzeKey)>)>| {
            OptionFuture::from(
                next.map(|(m, keys)| async move { (m, self.read_files(keys).await) }),
            )
        };
        let mut current = read(queue.next()).await;
        while let Some((metric, reads)) = current.take() {
            let (done, next) = tokio::join!(
                self.batch_metric(&metric, reads, &mut summary),
                read(queue.next())
            );
            partitions += done?;
            current = next;
        }
        summary.partitions_written = partitions;
        Ok(summary)
    }

    /// Fetches and decodes bronze objects (of one metric), [`FETCH_CONCURRENCY`] at a time.
    async fn read_files(
        &self,
        keys: Vec<(String, BronzeKey)>,
    ) -> Vec<(String, Result<ReadFile, FeaturesError>)> {
        stream::iter(keys)
            .map(|(key, bk)| async move {
                let res = async {
                    let body = self.stores.blobs.get(&key).await?;
                    let fp = fingerprint(&body);
                    let bounds = self.config.metric(&bk.metric).map(|c| c.bounds);
                    let m = bk.metric.clone();
                    let file = blocking(move || read_bronze(body, &m, bounds.as_ref()))
                        .await
                        .map_err(|source| FeaturesError::BadFile {
                            key: key.clone(),
                            source,
                        })?;
                    Ok((bk, file, fp))
                }
                .await;
                (key, res)
            })
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect()
            .await
    }

    /// The batch path for one metric from its read files: index, extents, silver, online
    /// items, manifests. Returns the partitions written or deleted.
    async fn batch_metric(
        &self,
        metric: &MetricId,
        reads: Vec<(String, Result<ReadFile, FeaturesError>)>,
        summary: &mut RunSummary,
    ) -> Result<u64, FeaturesError> {
        let tables = &*self.stores.tables;
        let mut manifests = Vec::new();
        let mut files: Vec<(String, BronzeRows, BTreeMap<NaiveDate, u64>)> = Vec::new();
        for (key, res) in reads {
            match res {
                Ok((_, file, fp)) => {
                    summary.files += 1;
                    summary.rows_read += file.rows_read;
                    summary.rejected.merge(&file.rejected);
                    let per_date = date_counts(&file.rows.ts);
                    manifests.push((
                        key.clone(),
                        Manifest {
                            fingerprint: fp,
                            span: file.rows.span(),
                            series: Some(SeriesFilter::of(file.rows.keys.iter())),
                            dates: per_date.keys().copied().collect(),
                            done: true,
                            affected: None,
                        },
                    ));
                    files.push((key, file.rows, per_date));
                }
                Err(e) if !e.is_retryable() => {
                    warn!(key = %key, error = %e, "bad bronze file skipped");
                    summary.failed.push(FileFailure {
                        key,
                        reason: e.to_string(),
                        retryable: false,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        // Rebuild the index of this metric: write every current entry, then remove the stale
        // ones (objects gone or unreadable), so that no current entry is ever missing.
        let old_index = state::query_index_all(tables, metric).await?;
        // In time order, so that each series' rows arrive mostly sorted (cheaper to sort).
        files.sort_by(|a, b| (a.2.keys().next(), &a.0).cmp(&(b.2.keys().next(), &b.0)));
        let current: HashSet<(NaiveDate, &str)> = files
            .iter()
            .flat_map(|(key, _, per_date)| per_date.keys().map(move |&d| (d, key.as_str())))
            .collect();
        let stale: Vec<(NaiveDate, String)> = old_index
            .into_iter()
            .filter(|(d, key)| !current.contains(&(*d, key.as_str())))
            .collect();
        drop(current);
        let index = files
            .iter()
            .flat_map(|(key, _, per_date)| {
                per_date
                    .iter()
                    .map(|(&d, &n)| state::index_item(metric, d, key, n))
            })
            .collect();
        tables.batch_put(&state::STATE, index).await?;
        state::delete_index_many(tables, metric, &stale).await?;
        let now = (self.clock)();
        let manifests: Vec<_> = manifests
            .iter()
            .map(|(key, m)| state::manifest_item(key, m, now))
            .collect();
        let Some(cfg) = self.config.metric(metric).cloned() else {
            tables.batch_put(&state::STATE, manifests).await?;
            return Ok(0);
        };
        let metric2 = metric.clone();
        let (out, extents, duplicates) = blocking(move || {
            let rows = BronzeRows::concat(files.iter().map(|(_, rows, _)| rows));
            drop(files);
            let agg = aggregate_on(
                &rows,
                cfg.frequency.nanos(),
                cfg.aggregation,
                worker_threads(),
            );
            drop(rows);
            let extents: BTreeMap<SeriesKey, (i64, i64)> = agg
                .series
                .iter()
                .filter_map(|s| Some((s.key.clone(), (*s.buckets.first()?, *s.buckets.last()?))))
                .collect();
            let observed = agg.series.into_iter().map(|s| (s.key.clone(), s)).collect();
            let input = MetricInput {
                metric: &metric2,
                cfg: &cfg,
                observed,
                extents: extents.clone(),
            };
            (
                Arc::new(compute_metric(&input, i64::MIN / 2, i64::MAX / 2)),
                extents,
                agg.duplicates,
            )
        })
        .await;
        summary.duplicates += duplicates;
        // The batch path runs alone: no concurrent widening to guard against.
        let old = state::load_extents(tables, metric).await?;
        self.replace_extents(metric, &old, &extents, false).await?;
        let dates = out.dates();
        let (written, online) = self.write_partitions(metric, &dates, &out, true).await?;
        summary.online_items += online;
        let keep: BTreeSet<NaiveDate> = written.iter().map(|(_, d)| *d).collect();
        let deleted = self.delete_stale_partitions(metric, &keep).await?;
        tables.batch_put(&state::STATE, manifests).await?;
        Ok((written.len() + deleted.len()) as u64)
    }
}
