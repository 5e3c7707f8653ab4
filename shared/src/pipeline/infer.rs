//! Batch inference: for each metric's `Approved` version, re-fit its spec on the newest silver
//! history of every series, forecast the configured horizon with calibrated bounds, and write
//! contract section 7 (DynamoDB items and the Parquet copy of the run).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use super::history::{load_history, newest_silver_date, HistoryError, SeriesHistory};
use super::train::TrainError;
use super::{system_clock, Clock};
use crate::artifact::{load_artifact, Artifact, ArtifactError};
use crate::config::{Config, MetricConfig, HOUR_US};
use crate::contract::predictions_key;
use crate::drift::{
    accuracy_drift, input_drift, live_score, online_update, LiveScore, OnlineState, Scored,
};
use crate::forecast::{self, fit_predict};
use crate::ids::{MetricId, SeriesKey};
use crate::metrics::{Datum, MetricsSink, Unit, NAMESPACE};
use crate::parallel::{blocking, map_balanced};
use crate::predictions::{self, Prediction, PREDICTIONS};
use crate::queue::Queue;
use crate::registry;
use crate::storage::table::query_all;
use crate::storage::{Attr, BlobError, Condition, Item, Stores, TableError};
use crate::storage::{Query, SkRange};

/// Errors of inference.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The metric is not configured.
    #[error("metric {0:?} is not configured")]
    UnknownMetric(String),
    /// Reading history or the artifact failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Reading silver history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Reading the approved version's artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Registry access failed.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Lake access failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Table access failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// An on-demand request is outside its bounds (horizon, series count) or names a
    /// series without history.
    #[error("{0}")]
    Invalid(String),
    /// The metric has no `Approved` version to forecast with.
    #[error("metric {0} has no approved model version")]
    NoApprovedVersion(String),
    /// Delivering alerts failed.
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    /// Encoding the Parquet copy failed.
    #[error(transparent)]
    Parquet(#[from] crate::silver::SilverError),
}

impl InferError {
    /// True when retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            InferError::Train(e) => e.is_retryable(),
            InferError::History(e) => e.is_retryable(),
            InferError::Artifact(e) => e.is_retryable(),
            InferError::Blob(e) => e.is_retryable(),
            InferError::Table(e) => e.is_retryable(),
            InferError::Alerts(crate::alerts::AlertError::Table(e)) => e.is_retryable(),
            InferError::Alerts(crate::alerts::AlertError::Queue(e)) => e.retryable,
            _ => false,
        }
    }

    /// True when the request itself is wrong (unknown metric, out-of-bounds request): no
    /// retry can help.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            InferError::UnknownMetric(_) | InferError::Invalid(_) => true,
            InferError::Train(e) => e.is_invalid_input(),
            _ => false,
        }
    }
}

/// What inference did for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InferReport {
    /// The metric.
    pub metric: String,
    /// The approved version used (none: nothing approved yet, nothing written).
    pub version: Option<String>,
    /// Series forecast.
    pub series: u64,
    /// Series skipped (history too short for the spec, or the fit failed).
    pub skipped: u64,
    /// Prediction items written.
    pub predictions: u64,
    /// The Parquet copy's key.
    pub key: Option<String>,
    /// New alerts on the newest silver days (sent and stored).
    pub alerts: u64,
    /// Live accuracy of the approved version on the newest actuals.
    pub live: Option<LiveScore>,
    /// The online interval factor the forecasts were made with (on top of the version's
    /// trained calibration; see [`crate::forecast::online`]).
    pub interval_adapt: Option<f64>,
    /// Drift found, if any.
    pub drift: Option<String>,
    /// Whether a retrain request was sent (not within the cool-down).
    pub retrain_requested: bool,
}

impl fmt::Display for InferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(
                f,
                "metric={} version={} series={} skipped={} predictions={} interval_adapt={:.3} key={}",
                self.metric,
                v,
                self.series,
                self.skipped,
                self.predictions,
                self.interval_adapt.unwrap_or(1.0),
                self.key.as_deref().unwrap_or("")
            ),
            None => write!(
                f,
                "metric={} no approved version: nothing forecast",
                self.metric
            ),
        }
    }
}

/// The inference use case.
#[derive(Clone)]
pub struct Inferencer {
    stores: Stores,
    config: Arc<Config>,
    metrics: Arc<dyn MetricsSink>,
    alerts: Arc<dyn Queue>,
    retrain: Option<Arc<dyn Queue>>,
    clock: Clock,
}

/// Live MASE above this multiple of the backtest MASE is accuracy drift.
pub const DRIFT_MASE_MULTIPLE: f64 = 1.5;
/// Fewest live points before accuracy drift is judged.
pub const DRIFT_MIN_POINTS: usize = 48;
/// PSI above this is input drift.
pub const DRIFT_PSI: f64 = 0.25;
/// At most one retrain request per metric within this many hours.
pub const RETRAIN_COOLDOWN_HOURS: i64 = 24;

/// Days of newest silver checked for alerts on each run (late data included).
pub const ALERT_DAYS: u64 = 2;

impl fmt::Debug for Inferencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inferencer").finish_non_exhaustive()
    }
}

impl Inferencer {
    /// An inferencer over the stores; new alerts go to `alerts`.
    pub fn new(
        stores: Stores,
        config: Arc<Config>,
        metrics: Arc<dyn MetricsSink>,
        alerts: Arc<dyn Queue>,
    ) -> Self {
        Self {
            stores,
            config,
            metrics,
            alerts,
            retrain: None,
            clock: system_clock(),
        }
    }

    /// Sends retrain requests on drift to this queue (the training queue).
    pub fn with_retrain_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.retrain = Some(queue);
        self
    }

    /// Sends one retrain request for `metric` unless one was sent within the cool-down
    /// (a conditional put on `gras_state` decides, so concurrent runs send one). Returns
    /// whether it was sent.
    pub async fn request_retrain(
        &self,
        metric: &MetricId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, InferError> {
        let Some(queue) = &self.retrain else {
            return Ok(false);
        };
        let mut item = Item::new();
        item.insert("pk".into(), Attr::S(format!("retrain#{metric}")));
        item.insert("sk".into(), Attr::S("cooldown".into()));
        item.insert(
            "until".into(),
            Attr::N((now.timestamp() + RETRAIN_COOLDOWN_HOURS * 3600) as f64),
        );
        item.insert("reason".into(), Attr::S(reason.to_string()));
        let cond = Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("until".into(), Attr::N(now.timestamp() as f64)),
        ]);
        match self
            .stores
            .tables
            .put(&crate::state::STATE, item, cond)
            .await
        {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let body = serde_json::json!({ "metric": metric.as_str(), "reason": reason }).to_string();
        queue
            .send_all(vec![body])
            .await
            .map_err(crate::alerts::AlertError::from)?;
        info!(metric = %metric, reason, "retrain requested");
        Ok(true)
    }

    /// The online interval state of a version (`eval#<M>` / `<version>` in `gras_state`);
    /// the default (factor 1, nothing counted) for a version without one.
    pub async fn online_state(
        &self,
        metric: &MetricId,
        version: &str,
    ) -> Result<OnlineState, InferError> {
        let row = crate::state::eval::get_eval(&*self.stores.tables, metric, version).await?;
        Ok(row.map(|r| r.online()).unwrap_or_default())
    }

    /// Stores the live score and online interval state of a version in `gras_state`
    /// (`eval#<M>` / `<version>`) and publishes them to CloudWatch (`LiveMASE`, `LiveMAPE`,
    /// `LiveCoverage`, `IntervalAdapt` per metric and version).
    ///
    /// The put is unconditional: two runs that overlap (the schedule is hourly and a run
    /// takes seconds, so only a retried or manual run can) read the same state, and the
    /// later write wins. The factor and the newest bucket it counted are written together,
    /// so the surviving state is one run's consistent update: actuals that only the
    /// overwritten run had counted are not in it, and the next run counts them, once.
    async fn record_live(
        &self,
        metric: &MetricId,
        version: &str,
        live: &LiveScore,
        online: &OnlineState,
        now: DateTime<Utc>,
    ) -> Result<(), InferError> {
        crate::state::eval::put_eval(&*self.stores.tables, metric, version, live, online, now)
            .await?;
        let dims = [("Metric", metric.as_str()), ("Version", version)];
        let data: Vec<Datum> = [
            ("LiveMASE", live.mase),
            ("LiveMAPE", live.mape),
            ("LiveCoverage", live.coverage),
            ("IntervalAdapt", online.factor),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(name, v)| Datum::new(name, v, Unit::None, &dims))
        .collect();
        if let Err(e) = self.metrics.put(NAMESPACE, data).await {
            warn!(error = %e, "live metrics not published");
        }
        Ok(())
    }

    /// Alerts of the newest [`ALERT_DAYS`] silver days of a metric: actuals against the
    /// forecasts stored for them, and `is_outlier` rows; new ones are stored and sent.
    pub async fn check_alerts(
        &self,
        metric: &MetricId,
        now: DateTime<Utc>,
    ) -> Result<u64, InferError> {
        Ok(self.monitor(metric, now).await?.0)
    }

    /// [`check_alerts`](Self::check_alerts), also returning the scored points with the
    /// version that forecast them (for continuous evaluation).
    async fn monitor(
        &self,
        metric: &MetricId,
        now: DateTime<Utc>,
    ) -> Result<(u64, Vec<(String, Scored)>), InferError> {
        let mut scored = Vec::new();
        let Some(end) = newest_silver_date(&self.stores, metric).await? else {
            return Ok((0, scored));
        };
        let start = end - chrono::Days::new(ALERT_DAYS - 1);
        let fmt = |us: i64| {
            DateTime::from_timestamp_micros(us)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let mut alerts = Vec::new();
        for meta in self
            .stores
            .blobs
            .list(&crate::contract::silver_metric_prefix(metric))
            .await?
        {
            let Some((_, d)) = crate::contract::parse_silver_key(&meta.key) else {
                continue;
            };
            if d < start || d > end {
                continue;
            }
            let rows = crate::silver::read_parquet(self.stores.blobs.get(&meta.key).await?)?;
            let (Some(lo), Some(hi)) = (rows.ts_us.iter().min(), rows.ts_us.iter().max()) else {
                continue;
            };
            let mut forecasts = HashMap::new();
            let series: BTreeSet<&str> = rows.series_key.iter().map(|s| &**s).collect();
            for s in series {
                let Ok(key) = SeriesKey::new(s) else {
                    continue;
                };
                let q = Query {
                    range: SkRange::Between(fmt(*lo), fmt(*hi)),
                    ..Query::all(predictions::partition_key(metric, &key))
                };
                for item in query_all(&*self.stores.tables, &PREDICTIONS, &q).await? {
                    if let Some(p) = Prediction::from_item(&item) {
                        forecasts.insert((s.to_string(), p.ts.timestamp_micros()), p);
                    }
                }
            }
            for i in 0..rows.len() {
                let (Some(actual), false) = (rows.value.get(i), rows.is_imputed[i]) else {
                    continue;
                };
                if let Some(p) = forecasts.get(&(rows.series_key[i].to_string(), rows.ts_us[i])) {
                    let lag_168h = rows.floats[2].get(i);
                    scored.push((
                        p.model_version.clone(),
                        Scored {
                            actual,
                            expected: p.value,
                            lower: p.lower,
                            upper: p.upper,
                            lag_168h,
                            ts_us: rows.ts_us[i],
                        },
                    ));
                }
            }
            alerts.extend(crate::alerts::detect(&rows, &forecasts));
        }
        let new =
            crate::alerts::deliver(&*self.stores.tables, &*self.alerts, &alerts, now).await? as u64;
        if new > 0 {
            info!(metric = %metric, new, "alerts sent");
        }
        Ok((new, scored))
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Forecasts every configured metric (or only `only`).
    pub async fn run(&self, only: Option<&str>) -> Result<Vec<InferReport>, InferError> {
        if let Some(m) = only {
            if self.config.metric_by_name(m).is_none() {
                return Err(InferError::UnknownMetric(m.to_string()));
            }
        }
        let now = (self.clock)();
        let mut out = Vec::new();
        for (metric, cfg) in &self.config.metrics {
            if only.is_some_and(|m| m != metric.as_str()) {
                continue;
            }
            out.push(self.infer_metric(metric, cfg, now).await?);
        }
        Ok(out)
    }

    /// Forecasts one metric with its approved version, as of run time `now`.
    pub async fn infer_metric(
        &self,
        metric: &MetricId,
        cfg: &MetricConfig,
        now: DateTime<Utc>,
    ) -> Result<InferReport, InferError> {
        let started = std::time::Instant::now();
        let mut report = InferReport {
            metric: metric.to_string(),
            version: None,
            series: 0,
            skipped: 0,
            predictions: 0,
            key: None,
            alerts: 0,
            live: None,
            interval_adapt: None,
            drift: None,
            retrain_requested: false,
        };
        // First the actuals that arrived since the last run against what was forecast for them.
        let (alerts, scored) = self.monitor(metric, now).await?;
        report.alerts = alerts;
        let Some(approved) = registry::approved(&*self.stores.tables, metric).await? else {
            info!(metric = %metric, "no approved version: nothing to forecast");
            return Ok(report);
        };
        let artifact = load_artifact(&self.stores, metric, &approved.version).await?;
        report.version = Some(approved.version.to_string());
        let Some(end) = newest_silver_date(&self.stores, metric).await? else {
            return Ok(report);
        };
        let start = end - chrono::Days::new(u64::from(self.config.training.window_days) - 1);
        let history =
            load_history(&self.stores, metric, start, end, cfg.frequency.micros()).await?;

        // Continuous evaluation of the approved version, and drift.
        let mine: Vec<Scored> = scored
            .iter()
            .filter(|(v, _)| v == approved.version.as_str())
            .map(|(_, p)| *p)
            .collect();
        let mut reasons = Vec::new();
        let mut online = self.online_state(metric, approved.version.as_str()).await?;
        if let Some(live) = live_score(&mine) {
            online = online_update(
                online,
                &mine,
                cfg.interval,
                self.config.inference.interval_adapt_rate,
            );
            self.record_live(metric, approved.version.as_str(), &live, &online, now)
                .await?;
            report.live = Some(live);
            // The live points were forecast at most a day ahead: the first day's backtest
            // MASE is the promise they are held to.
            reasons.extend(accuracy_drift(
                &live,
                approved.metrics.selection_mase(),
                DRIFT_MASE_MULTIPLE,
                DRIFT_MIN_POINTS,
            ));
        }
        let train_end_us = approved.train_end.timestamp_micros();
        let train_start_us = approved.train_start.timestamp_micros();
        let (mut reference, mut recent) = (Vec::new(), Vec::new());
        for h in &history {
            for (i, v) in h.values.iter().enumerate() {
                let (Some(v), t) = (v, h.ts_us(i)) else {
                    continue;
                };
                if (train_start_us..=train_end_us).contains(&t) {
                    reference.push(*v);
                } else if t > train_end_us {
                    recent.push(*v);
                }
            }
        }
        if recent.len() >= DRIFT_MIN_POINTS {
            reasons.extend(input_drift(&reference, &recent, DRIFT_PSI));
        }
        if !reasons.is_empty() {
            report.drift = Some(reasons.join("; "));
            report.retrain_requested = self
                .request_retrain(metric, &reasons.join("; "), now)
                .await?;
        }
        report.interval_adapt = Some(online.factor);
        let (rows, series, skipped) = forecast_histories(
            history,
            &artifact,
            online.factor,
            metric,
            approved.version.as_str(),
            cfg.horizon as usize,
            cfg.interval,
            &cfg.quantiles,
            now,
        )
        .await;
        report.series = series;
        report.skipped = skipped.len() as u64;
        if rows.is_empty() {
            return Ok(report);
        }
        self.stores
            .tables
            .batch_put(&PREDICTIONS, rows.iter().map(Prediction::to_item).collect())
            .await?;
        let key = predictions_key(metric, now.date_naive());
        self.stores
            .blobs
            .put(&key, predictions::write_parquet(&rows)?)
            .await?;
        report.predictions = rows.len() as u64;
        report.key = Some(key);
        let dims = [("Metric", metric.as_str())];
        let data = vec![
            Datum::new("PredictionsWritten", rows.len() as f64, Unit::Count, &dims),
            Datum::new("SeriesForecast", series as f64, Unit::Count, &dims),
            Datum::new("SeriesSkipped", skipped.len() as f64, Unit::Count, &dims),
            Datum::new("Alerts", report.alerts as f64, Unit::Count, &dims),
            Datum::new(
                "InferenceDuration",
                started.elapsed().as_secs_f64() * 1000.0,
                Unit::Milliseconds,
                &dims,
            ),
        ];
        if let Err(e) = self.metrics.put(NAMESPACE, data).await {
            warn!(error = %e, "inference metrics not published");
        }
        info!(report = %report, "metric forecast");
        Ok(report)
    }
}

/// Limits of an on-demand analysis ([`Inferencer::analyze`]), so that a request cannot run away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzeLimits {
    /// Largest horizon (steps) a request may ask for.
    pub max_horizon: usize,
    /// Most series one request may forecast (a request without a series covers them all).
    pub max_series: usize,
}

impl Default for AnalyzeLimits {
    fn default() -> Self {
        Self {
            max_horizon: 336,
            max_series: 50,
        }
    }
}

/// What an on-demand analysis produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The approved version used.
    pub version: String,
    /// The forecast points written (series, then time order).
    pub predictions: Vec<Prediction>,
    /// Series without a usable history (too short, or the fit failed).
    pub skipped: Vec<String>,
}

/// One series' calibrated forecast as inference makes it: the history from its first to
/// its last value, gaps filled, `spec` re-fitted, bounds calibrated with `calibration` and,
/// for a series that was never negative, clipped at zero. Returns the index (into
/// `h.values`) of the last value, which the forecast continues; `None` for a series
/// without values.
pub fn forecast_series(
    h: &SeriesHistory,
    spec: &forecast::ModelSpec,
    calibration: &forecast::Calibration,
    horizon: usize,
    level: f64,
) -> Option<Result<(usize, forecast::Forecast), forecast::ForecastError>> {
    let first = h.values.iter().position(Option::is_some)?;
    let last = h.values.iter().rposition(Option::is_some).unwrap_or(first);
    let per_hour = usize::try_from(HOUR_US / h.step_us.max(1)).unwrap_or(1);
    let filled = forecast::fill_gaps(&h.values[first..=last], forecast::WEEK * per_hour);
    Some(fit_predict(spec, &filled, horizon, level).map(|mut f| {
        f.calibrate(calibration);
        if filled.iter().all(|v| *v >= 0.0) {
            f.clip_at_zero();
        }
        (last, f)
    }))
}

/// Re-fits the artifact's spec on each history and forecasts `horizon` steps after each
/// series' newest value, with the artifact's calibrated bounds times the online factor
/// `online`, clipped at zero for a series that was never negative; on a blocking thread.
/// Returns the points, the number of series forecast and the keys of the series skipped.
#[allow(clippy::too_many_arguments)]
async fn forecast_histories(
    history: Vec<SeriesHistory>,
    artifact: &Artifact,
    online: f64,
    metric: &MetricId,
    version: &str,
    horizon: usize,
    level: f64,
    quantiles: &[f64],
    now: DateTime<Utc>,
) -> (Vec<Prediction>, u64, Vec<String>) {
    let quantiles = quantiles.to_vec();
    let (spec, calibration) = (artifact.spec.clone(), artifact.calibration().scaled(online));
    let (metric, version) = (metric.clone(), version.to_string());
    blocking(move || {
        // Fits spread over the cores; each yields its rows or the skipped series' key.
        let per_series = map_balanced(&history, |h| -> Result<Vec<Prediction>, String> {
            let (last, f) = match forecast_series(h, &spec, &calibration, horizon, level) {
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    warn!(metric = %metric, series = %h.key, error = %e, "series not forecast");
                    return Err(h.key.to_string());
                }
                None => return Err(h.key.to_string()),
            };
            let never_negative = h.values.iter().flatten().all(|v| *v >= 0.0);
            Ok((0..horizon)
                .filter_map(|step| {
                    let ts = DateTime::from_timestamp_micros(h.ts_us(last + step + 1))?;
                    let (value, lower, upper) = (f.point[step], f.lower[step], f.upper[step]);
                    Some(Prediction {
                        metric: metric.clone(),
                        series: h.key.clone(),
                        ts,
                        value,
                        lower,
                        upper,
                        quantiles: forecast::quantiles::quantiles_at(
                            value,
                            lower,
                            upper,
                            level,
                            &quantiles,
                            never_negative,
                        ),
                        model_version: version.clone(),
                        generated_at: now,
                    })
                })
                .collect())
        });
        let total = per_series
            .iter()
            .map(|r| r.as_ref().map_or(0, Vec::len))
            .sum();
        let (mut rows, mut series, mut skipped) = (Vec::with_capacity(total), 0u64, Vec::new());
        for r in per_series {
            match r {
                Ok(points) => {
                    series += 1;
                    rows.extend(points);
                }
                Err(key) => skipped.push(key),
            }
        }
        (rows, series, skipped)
    })
    .await
}

impl Inferencer {
    /// "Analyze now": forecasts `horizon` steps (default: the metric's configured horizon)
    /// of one series, or of every series of the metric, with the approved version re-fitted
    /// on the newest silver, and stores the points in `gras_predictions` (overwriting the
    /// same hours of earlier runs). The scheduled run's Parquet copy is left alone.
    ///
    /// Errors: [`InferError::UnknownMetric`], [`InferError::Invalid`] (horizon or series
    /// count over `limits`, a series without silver history),
    /// [`InferError::NoApprovedVersion`], and storage errors.
    pub async fn analyze(
        &self,
        metric: &str,
        series: Option<&SeriesKey>,
        horizon: Option<usize>,
        limits: AnalyzeLimits,
    ) -> Result<Analysis, InferError> {
        let (metric, cfg) = self
            .config
            .metric_by_name(metric)
            .ok_or_else(|| InferError::UnknownMetric(metric.to_string()))?;
        let horizon = horizon.unwrap_or(cfg.horizon as usize);
        if horizon == 0 || horizon > limits.max_horizon {
            return Err(InferError::Invalid(format!(
                "horizon must be between 1 and {} steps, got {horizon}",
                limits.max_horizon
            )));
        }
        let now = (self.clock)();
        let approved = registry::approved(&*self.stores.tables, metric)
            .await?
            .ok_or_else(|| InferError::NoApprovedVersion(metric.to_string()))?;
        let artifact = load_artifact(&self.stores, metric, &approved.version).await?;
        let Some(end) = newest_silver_date(&self.stores, metric).await? else {
            return Err(InferError::Invalid(format!(
                "metric {metric} has no silver data yet"
            )));
        };
        let start = end - chrono::Days::new(u64::from(self.config.training.window_days) - 1);
        let mut history =
            load_history(&self.stores, metric, start, end, cfg.frequency.micros()).await?;
        if let Some(s) = series {
            history.retain(|h| &h.key == s);
            if history.is_empty() {
                return Err(InferError::Invalid(format!(
                    "series \"{s}\" of metric {metric} has no data in the newest {} days",
                    self.config.training.window_days
                )));
            }
        } else if history.len() > limits.max_series {
            return Err(InferError::Invalid(format!(
                "metric {metric} has {} series, more than {} per request: name one series",
                history.len(),
                limits.max_series
            )));
        }
        let online = self.online_state(metric, approved.version.as_str()).await?;
        let (rows, _, skipped) = forecast_histories(
            history,
            &artifact,
            online.factor,
            metric,
            approved.version.as_str(),
            horizon,
            cfg.interval,
            &cfg.quantiles,
            now,
        )
        .await;
        if !rows.is_empty() {
            self.stores
                .tables
                .batch_put(&PREDICTIONS, rows.iter().map(Prediction::to_item).collect())
                .await?;
        }
        let dims = [("Metric", metric.as_str())];
        let data = vec![Datum::new("AnalyzeRequests", 1.0, Unit::Count, &dims)];
        if let Err(e) = self.metrics.put(NAMESPACE, data).await {
            warn!(error = %e, "analyze metrics not published");
        }
        Ok(Analysis {
            version: approved.version.to_string(),
            predictions: rows,
            skipped,
        })
    }
}
