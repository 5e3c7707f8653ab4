//! The training use case: per metric (or per shard of its series), backtest the candidate
//! models and the approved one on the same rolling-origin windows, register the best as a
//! new version with its artifact, and let the approval policy decide.
//!
//! A metric with many series is trained as several tasks (shards). Each shard stores its
//! partial sums in `gras_state` (`trainrun#<run>#<M>` / `shard#<k>`); the shard that sees
//! all of them present wins a conditional write on `final` and registers the version, so a
//! version is registered exactly once however the shards interleave or are retried.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

mod score;

use super::history::{load_history, newest_silver_date, HistoryError, SeriesHistory};
use super::{system_clock, Clock};
use crate::artifact::{load_artifact, put_artifact, Artifact, ArtifactError, CandidateScore};
use crate::config::{Config, MetricConfig};
use crate::contract::model_artifact_key;
use crate::forecast::{
    self,
    backtest::{backtest_many, BacktestScore, Plan},
    ModelSpec,
};
use crate::ids::{MetricId, ModelVersion, SeriesKey};
use crate::metrics::{Datum, MetricsSink, Unit, NAMESPACE};
use crate::parallel::{blocking, map_balanced};
use crate::registry::{self, BacktestMetrics, Decision, ModelRecord, ModelStatus};
use crate::silver;
use crate::state::{self, STATE};
use crate::storage::{Attr, BlobError, Condition, Item, Query, Stores, TableError};
use score::*;
pub use score::{select_model, Selection};

/// One training task: a metric, or one shard of its series. This is the body of a message on
/// the training queue; a retrain request may be just `{"metric": "G", "reason": "drift: ..."}`
/// (one shard, a fresh run id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainTask {
    /// The metric.
    pub metric: String,
    /// This shard (0-based).
    #[serde(default)]
    pub shard: u32,
    /// Number of shards of the run.
    #[serde(default = "one")]
    pub shards: u32,
    /// Identifies the run (all shards share it); empty: a run of its own.
    #[serde(default)]
    pub run_id: String,
    /// Why: `schedule`, `drift: ...`, `manual`.
    #[serde(default)]
    pub reason: String,
}

fn one() -> u32 {
    1
}

/// What a fan-out sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanOut {
    /// The run id shared by the tasks.
    pub run_id: Option<String>,
    /// Tasks sent.
    pub tasks: usize,
    /// Metrics covered.
    pub metrics: Vec<String>,
}

/// A training message that failed (its id goes into the partial batch response).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskFailure {
    /// The SQS message id.
    pub message_id: String,
    /// Retryable or permanent.
    pub kind: super::notifications::FailureKind,
    /// Why.
    pub reason: String,
}

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The task names a metric that is not configured.
    #[error("metric {0:?} is not configured")]
    UnknownMetric(String),
    /// Not enough silver history to backtest.
    #[error("metric {metric}: not enough history to train ({reason})")]
    NotEnoughData {
        /// The metric.
        metric: MetricId,
        /// Details.
        reason: String,
    },
    /// The task is malformed (shard out of range).
    #[error("invalid training task: {0}")]
    InvalidTask(String),
    /// The run cannot name a valid model version (its id or the clock is out of range):
    /// permanent, so the message goes to the dead-letter queue instead of being dropped.
    #[error("invalid training run: {0}")]
    InvalidId(#[from] crate::ids::InvalidId),
    /// Another task of the run is finalizing it (retry later).
    #[error("run {run_id} of metric {metric} is being finalized by another task")]
    Finalizing {
        /// The run.
        run_id: String,
        /// The metric.
        metric: MetricId,
    },
    /// Lake access failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Sending tasks failed.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// Table access failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Registry workflow failed.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Reading silver failed.
    #[error(transparent)]
    Silver(#[from] silver::SilverError),
    /// Reading silver history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Reading or writing a model artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A stored artifact or shard result is malformed.
    #[error("malformed {what}: {source}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
}

impl TrainError {
    /// True when retrying the task may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            TrainError::Blob(e) => e.is_retryable(),
            TrainError::Queue(e) => e.retryable,
            TrainError::Table(e) => e.is_retryable(),
            TrainError::Registry(registry::RegistryError::Table(e)) => e.is_retryable(),
            TrainError::Registry(registry::RegistryError::Conflict { .. }) => true,
            TrainError::Finalizing { .. } => true,
            TrainError::History(e) => e.is_retryable(),
            TrainError::Artifact(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// True when the task itself is wrong (unknown metric, bad shard, a run that cannot
    /// name a version): no retry can help.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            TrainError::UnknownMetric(_) | TrainError::InvalidTask(_) | TrainError::InvalidId(_)
        )
    }
}

/// What a training task did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// The metric.
    pub metric: String,
    /// The shard.
    pub shard: u32,
    /// Series this shard trained on.
    pub series: u64,
    /// The registered version, if this task finalized the run.
    pub registered: Option<ModelRecord>,
    /// The policy's decision, if registered.
    pub decision: Option<String>,
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.registered {
            Some(r) => write!(
                f,
                "metric={} version={} kind={} status={} mase={:.4} near_mase={:.4} mape={:.4} smape={:.4} coverage={:.3} series={} ({})",
                self.metric,
                r.version,
                r.model_kind,
                r.status,
                r.metrics.mase,
                r.metrics.near_mase,
                r.metrics.mape,
                r.metrics.smape,
                r.metrics.coverage,
                r.series,
                self.decision.as_deref().unwrap_or("")
            ),
            None => write!(f, "metric={} shard={} series={} (waiting for other shards)", self.metric, self.shard, self.series),
        }
    }
}

/// The training use case.
#[derive(Clone)]
pub struct Trainer {
    stores: Stores,
    config: Arc<Config>,
    metrics: Arc<dyn MetricsSink>,
    clock: Clock,
    lake_uri: String,
}

impl fmt::Debug for Trainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trainer")
            .field("lake_uri", &self.lake_uri)
            .finish()
    }
}

impl Trainer {
    /// A trainer; `lake_uri` prefixes artifact URIs (`s3://<bucket>` or `file://<dir>`).
    pub fn new(
        stores: Stores,
        config: Arc<Config>,
        metrics: Arc<dyn MetricsSink>,
        lake_uri: impl Into<String>,
    ) -> Self {
        Self {
            stores,
            config,
            metrics,
            clock: system_clock(),
            lake_uri: lake_uri.into(),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The tasks of one run: one per metric (all, or `only`), split into shards of at most
    /// `training.shard_series` series.
    pub async fn plan(
        &self,
        only: Option<&str>,
        reason: &str,
    ) -> Result<Vec<TrainTask>, TrainError> {
        let now = (self.clock)();
        let run_id = format!(
            "{}-{:06x}",
            now.format("%Y%m%dT%H%M%S"),
            rand::random::<u32>() & 0xff_ffff
        );
        let mut tasks = Vec::new();
        for metric in self.config.metrics.keys() {
            if only.is_some_and(|m| m != metric.as_str()) {
                continue;
            }
            let series = state::load_extents(&*self.stores.tables, metric)
                .await?
                .len() as u32;
            let shards = series.div_ceil(self.config.training.shard_series).max(1);
            for shard in 0..shards {
                tasks.push(TrainTask {
                    metric: metric.to_string(),
                    shard,
                    shards,
                    run_id: run_id.clone(),
                    reason: reason.to_string(),
                });
            }
        }
        if let Some(m) = only {
            if tasks.is_empty() {
                return Err(TrainError::UnknownMetric(m.to_string()));
            }
        }
        Ok(tasks)
    }

    /// Plans a run and sends its tasks to `queue` (the scheduled event's use case, and the
    /// retrain request's when `only` names a metric).
    pub async fn fan_out(
        &self,
        queue: &dyn crate::queue::Queue,
        only: Option<&str>,
        reason: &str,
    ) -> Result<FanOut, TrainError> {
        let tasks = self.plan(only, reason).await?;
        let bodies = tasks
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TrainError::Json {
                what: "training task",
                source,
            })?;
        queue.send_all(bodies).await?;
        let mut metrics: Vec<String> = tasks.iter().map(|t| t.metric.clone()).collect();
        metrics.dedup();
        info!(tasks = tasks.len(), ?metrics, "training tasks sent");
        Ok(FanOut {
            run_id: tasks.first().map(|t| t.run_id.clone()),
            tasks: tasks.len(),
            metrics,
        })
    }

    /// Trains a batch of queue messages one by one; returns the failed ones. A body that is
    /// not a task fails permanently; a metric without enough history is acknowledged (a retry
    /// cannot create history) and logged.
    pub async fn train_messages(
        &self,
        messages: Vec<super::notifications::Message>,
    ) -> Vec<TaskFailure> {
        use super::notifications::FailureKind;
        let mut failures = Vec::new();
        for m in messages {
            let outcome = match serde_json::from_str::<TrainTask>(&m.body) {
                Err(e) => Err((FailureKind::Permanent, format!("not a training task: {e}"))),
                Ok(task) => match self.train(&task).await {
                    Ok(report) => {
                        info!(message_id = %m.id, report = %report, "task trained");
                        Ok(())
                    }
                    Err(e @ TrainError::NotEnoughData { .. }) => {
                        warn!(message_id = %m.id, reason = %e, "nothing to train yet");
                        Ok(())
                    }
                    Err(e) if e.is_retryable() => Err((FailureKind::Retryable, e.to_string())),
                    Err(e) => Err((FailureKind::Permanent, e.to_string())),
                },
            };
            if let Err((kind, reason)) = outcome {
                tracing::error!(message_id = %m.id, error_kind = ?kind, reason = %reason, "training message failed");
                failures.push(TaskFailure {
                    message_id: m.id,
                    kind,
                    reason,
                });
            }
        }
        failures
    }

    /// Runs one task.
    pub async fn train(&self, task: &TrainTask) -> Result<TrainReport, TrainError> {
        let mut task = task.clone();
        if task.run_id.is_empty() {
            task.run_id = format!(
                "{}-{:06x}",
                (self.clock)().format("%Y%m%dT%H%M%S"),
                rand::random::<u32>() & 0xff_ffff
            );
        }
        if task.shards == 0 || task.shard >= task.shards {
            return Err(TrainError::InvalidTask(format!(
                "shard {} of {}",
                task.shard, task.shards
            )));
        }
        let task = &task;
        let (metric, cfg) = self
            .config
            .metric_by_name(&task.metric)
            .ok_or_else(|| TrainError::UnknownMetric(task.metric.clone()))?;
        let (metric, cfg) = (metric.clone(), cfg.clone());
        // Fails before any work when the run cannot name a version (finalize names it).
        run_version(&task.run_id, &metric, (self.clock)())?;
        let tables = &*self.stores.tables;
        let Some(end) = newest_silver_date(&self.stores, &metric).await? else {
            return Err(TrainError::NotEnoughData {
                metric,
                reason: "no silver partitions".into(),
            });
        };
        let start = end - chrono::Days::new(u64::from(self.config.training.window_days) - 1);
        let mut history =
            load_history(&self.stores, &metric, start, end, cfg.frequency.micros()).await?;
        // This shard's series: every `shards`-th in key order.
        history.retain(|h| {
            (xxhash_rust::xxh3::xxh3_64(h.key.as_str().as_bytes()) % u64::from(task.shards.max(1)))
                as u32
                == task.shard
        });
        let current = registry::approved(tables, &metric).await?;
        let current_spec = match &current {
            Some(rec) => match load_artifact(&self.stores, &metric, &rec.version).await {
                Ok(a) => Some(a.spec),
                Err(e) => {
                    warn!(metric = %metric, version = %rec.version, error = %e, "approved artifact unreadable; comparing against none");
                    None
                }
            },
            None => None,
        };
        let windows = self.config.training.backtest_windows as usize;
        let result = blocking({
            let cfg = cfg.clone();
            move || score_shard(&history, &cfg, windows, current_spec.as_ref())
        })
        .await;
        let series = result.series;
        info!(metric = %metric, shard = task.shard, series, "shard scored");

        // Publish this shard's result, then finalize if every shard is in.
        let run_pk = format!("trainrun#{}#{}", task.run_id, metric);
        let mut item = Item::new();
        item.insert("pk".into(), Attr::S(run_pk.clone()));
        item.insert("sk".into(), Attr::S(format!("shard#{:05}", task.shard)));
        item.insert(
            "result".into(),
            Attr::S(
                serde_json::to_string(&result).map_err(|source| TrainError::Json {
                    what: "shard result",
                    source,
                })?,
            ),
        );
        item.insert(
            "ttl".into(),
            Attr::N(((self.clock)().timestamp() + 7 * 86_400) as f64),
        );
        tables.put(&STATE, item, Condition::Always).await?;
        let parts = crate::storage::table::query_all(
            tables,
            &STATE,
            &Query {
                range: crate::storage::SkRange::BeginsWith("shard#".into()),
                ..Query::all(run_pk.clone())
            },
        )
        .await?;
        let mut report = TrainReport {
            metric: metric.to_string(),
            shard: task.shard,
            series,
            registered: None,
            decision: None,
        };
        if (parts.len() as u32) < task.shards {
            return Ok(report);
        }
        // One finalizer per run: the `final` marker is taken with a deadline (a finalizer
        // that died is taken over after it) and marked done at the end. The version is a
        // function of the run, so a retried finalization (its first attempt may have
        // registered or approved before failing) redoes the same steps idempotently.
        let finalized = |m: Option<Item>| m.is_some_and(|m| m.contains_key("done"));
        if finalized(tables.get(&STATE, &run_pk, "final").await?) {
            return Ok(report);
        }
        let now_s = (self.clock)().timestamp();
        let mut marker = Item::new();
        marker.insert("pk".into(), Attr::S(run_pk.clone()));
        marker.insert("sk".into(), Attr::S("final".into()));
        marker.insert(
            "until".into(),
            Attr::N((now_s + FINALIZE_LEASE_SECS) as f64),
        );
        // The owner is the shard, so this task's own retries (and an SDK retry of this very
        // put whose answer was lost) take the marker again.
        let owner = Attr::S(format!("shard#{:05}", task.shard));
        marker.insert("owner".into(), owner.clone());
        let take = Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("until".into(), Attr::N(now_s as f64)),
            Condition::Equals("owner".into(), owner),
        ]);
        match tables.put(&STATE, marker.clone(), take).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                if finalized(tables.get(&STATE, &run_pk, "final").await?) {
                    return Ok(report);
                }
                return Err(TrainError::Finalizing {
                    run_id: task.run_id.clone(),
                    metric: metric.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let mut total = ShardResult {
            start_us: i64::MAX,
            end_us: i64::MIN,
            ..ShardResult::default()
        };
        for p in &parts {
            let text = p.get("result").and_then(Attr::as_s).unwrap_or("{}");
            let r: ShardResult = serde_json::from_str(text).map_err(|source| TrainError::Json {
                what: "shard result",
                source,
            })?;
            total.series += r.series;
            total.fingerprint ^= r.fingerprint;
            if r.series > 0 {
                total.start_us = total.start_us.min(r.start_us);
                total.end_us = total.end_us.max(r.end_us);
            }
            for (label, (spec, sums, n)) in r.sums {
                let e = total.sums.entry(label).or_insert((spec, [0.0; NSUMS], 0));
                for (acc, v) in e.1.iter_mut().zip(sums) {
                    *acc += v;
                }
                e.2 += n;
            }
        }
        let (record, decision) = match self
            .finalize(&metric, &cfg, &total, current.as_ref(), &task.run_id)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // Let a retry finalize again (if this fails too, the deadline frees it).
                let _ = tables
                    .delete(&STATE, &run_pk, "final", Condition::Always)
                    .await;
                return Err(e);
            }
        };
        marker.insert("done".into(), Attr::S(record.version.to_string()));
        marker.insert("until".into(), Attr::N(f64::from(i32::MAX)));
        tables.put(&STATE, marker, Condition::Always).await?;
        report.registered = Some(record);
        report.decision = Some(decision);
        Ok(report)
    }

    async fn finalize(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        total: &ShardResult,
        current: Option<&ModelRecord>,
        run_id: &str,
    ) -> Result<(ModelRecord, String), TrainError> {
        let best = best_candidate(&total.sums).ok_or_else(|| TrainError::NotEnoughData {
            metric: metric.clone(),
            reason: "no series long enough to backtest".into(),
        })?;
        let (spec, sums, n) = best;
        let metrics_new = mean_metrics(sums, *n);
        let current_metrics = total
            .sums
            .get("current")
            .map(|(_, s, n)| mean_metrics(s, *n));
        let now = (self.clock)();
        let fp = format!("{:016x}", total.fingerprint);
        let version = run_version(run_id, metric, now)?;
        // A retried finalization (an earlier attempt registered, then failed) keeps the
        // first attempt's creation time: the artifact is written again and must still
        // agree with the registry record, which is not.
        let created = match registry::get(&*self.stores.tables, metric, &version).await? {
            Some(e) if e.data_fingerprint == fp => e.created_at,
            _ => now,
        };
        let us = |t: i64| DateTime::from_timestamp_micros(t).unwrap_or_default();
        let mut backtest: Vec<CandidateScore> = total
            .sums
            .iter()
            .map(|(label, (spec, s, n))| CandidateScore {
                role: if label == "current" {
                    "current".into()
                } else {
                    "candidate".into()
                },
                spec: spec.clone(),
                metrics: mean_metrics(s, *n),
                raw_coverage: s[S_RAW_COVERAGE] / (*n).max(1) as f64,
                interval_scale: s[S_SCALE] / (*n).max(1) as f64,
                near_interval_scale: s[S_NEAR_SCALE] / (*n).max(1) as f64,
                series: *n,
            })
            .collect();
        backtest.sort_by(|a, b| a.metrics.near_mase.total_cmp(&b.metrics.near_mase));
        let artifact = Artifact {
            metric_id: metric.to_string(),
            version: version.to_string(),
            model_kind: spec.kind().to_string(),
            spec: spec.clone(),
            interval_scale: sums[S_SCALE] / (*n).max(1) as f64,
            near_steps: metric_plan(cfg, self.config.training.backtest_windows as usize)
                .near_steps(),
            near_interval_scale: sums[S_NEAR_SCALE] / (*n).max(1) as f64,
            horizon: cfg.horizon,
            interval: cfg.interval,
            frequency: String::from(cfg.frequency),
            train_start: us(total.start_us).to_rfc3339_opts(SecondsFormat::Secs, true),
            train_end: us(total.end_us).to_rfc3339_opts(SecondsFormat::Secs, true),
            series: total.series,
            data_fingerprint: fp.clone(),
            backtest,
            created_at: created.to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        put_artifact(&self.stores, metric, &version, &artifact).await?;
        let key = model_artifact_key(metric, &version);
        let record = ModelRecord {
            metric_id: metric.clone(),
            version: version.clone(),
            status: ModelStatus::PendingApproval,
            model_kind: spec.kind().to_string(),
            artifact_uri: format!("{}/{}", self.lake_uri.trim_end_matches('/'), key),
            metrics: metrics_new,
            train_start: us(total.start_us),
            train_end: us(total.end_us),
            created_at: created,
            series: total.series,
            data_fingerprint: fp,
            decided_by: None,
            decision_reason: None,
        };
        // A retry of this run finds its own version already registered (maybe approved).
        let record = match registry::register(&*self.stores.tables, &record).await {
            Ok(()) => record,
            Err(registry::RegistryError::Table(TableError::ConditionFailed { .. })) => {
                match registry::get(&*self.stores.tables, metric, &version).await? {
                    Some(existing) if existing.data_fingerprint == record.data_fingerprint => {
                        info!(metric = %metric, version = %version, "version already registered by an earlier attempt of this run");
                        if existing.status != ModelStatus::PendingApproval {
                            let decision = format!(
                                "{} (decided by an earlier attempt of this run)",
                                existing.status.as_str()
                            );
                            return Ok((existing, decision));
                        }
                        existing
                    }
                    _ => {
                        return Err(TrainError::InvalidTask(format!(
                            "version {version} of {metric} exists with other data"
                        )))
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        let decision = self.config.approval.decide(
            &metrics_new,
            current_metrics.as_ref().filter(|_| current.is_some()),
            cfg.interval,
            score::seasonal_naive_baseline(&total.sums).as_ref(),
        );
        let data = vec![
            Datum::new(
                "ModelMASE",
                metrics_new.mase,
                Unit::None,
                &[("Metric", metric.as_str()), ("Version", version.as_str())],
            ),
            Datum::new(
                "ModelNearMASE",
                metrics_new.near_mase,
                Unit::None,
                &[("Metric", metric.as_str()), ("Version", version.as_str())],
            ),
            Datum::new(
                "ModelMAPE",
                metrics_new.mape,
                Unit::None,
                &[("Metric", metric.as_str()), ("Version", version.as_str())],
            ),
            Datum::new(
                "ModelCoverage",
                metrics_new.coverage,
                Unit::None,
                &[("Metric", metric.as_str()), ("Version", version.as_str())],
            ),
            Datum::new(
                "ModelMASE",
                metrics_new.mase,
                Unit::None,
                &[("Metric", metric.as_str())],
            ),
            Datum::new(
                "ModelCoverage",
                metrics_new.coverage,
                Unit::None,
                &[("Metric", metric.as_str())],
            ),
        ];
        if let Err(e) = self.metrics.put(NAMESPACE, data).await {
            warn!(error = %e, "model metrics not published");
        }
        match decision {
            Decision::Approve(reason) => {
                let rec = registry::approve(
                    &*self.stores.tables,
                    metric,
                    &version,
                    "policy",
                    &reason,
                    now,
                )
                .await?;
                info!(metric = %metric, version = %version, reason = %reason, "auto-approved");
                Ok((rec, format!("approved by policy: {reason}")))
            }
            Decision::WaitForPerson(reason) => {
                registry::record_hold(&*self.stores.tables, metric, &version, &reason, now).await?;
                info!(metric = %metric, version = %version, reason = %reason, "waiting for approval");
                Ok((record, format!("pending approval: {reason}")))
            }
        }
    }
}

/// How long a finalizer holds a run before another task may take it over (the function
/// timeout bounds a finalization).
const FINALIZE_LEASE_SECS: i64 = 900;

/// The version a run registers for a metric: the run's start time (from its id, else `now`)
/// and a suffix hashed from the run id and the metric, so every attempt of the run names
/// the same version.
fn run_version(
    run_id: &str,
    metric: &MetricId,
    now: DateTime<Utc>,
) -> Result<ModelVersion, crate::ids::InvalidId> {
    let started = run_id
        .get(..15)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S").ok())
        .map_or(now, |t| t.and_utc());
    let h = xxhash_rust::xxh3::xxh3_64(format!("{run_id}#{metric}").as_bytes());
    ModelVersion::from_parts(started, &format!("{:06x}", h & 0xff_ffff))
}
