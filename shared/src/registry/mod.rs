//! The model registry (contract section 6): versions per metric in `gras_models`, their
//! artifacts in the lake, and the approval workflow.
//!
//! At most one `Approved` version per metric: approval is one DynamoDB transaction that
//! (1) moves the metric's approval pointer (`approved#<M>` in `gras_state`) from the
//! current version to the new one, conditional on it still naming the current one (or not
//! existing), (2) sets the new version `Approved`, conditional on it being
//! `PendingApproval`, and (3) sets the previous one `Archived`, conditional on it being
//! `Approved`. Two racing approvals read the same pointer; only one transaction can move it.

mod decisions;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::table;
use crate::ids::{MetricId, ModelVersion};
use crate::state::STATE;
pub use decisions::{decisions, record_hold, Action, DecisionRecord};

use crate::storage::table::{
    query_all, Attr, Condition, Item, Query, TableError, TableSpec, TableStore, TxOp,
};

/// The registry table: hash key `metric_id`, range key `version`.
pub const MODELS: TableSpec = TableSpec {
    name: table::MODELS,
    pk: "metric_id",
    sk: Some("version"),
};

/// Attribute names of registry items.
pub mod attr {
    /// Metric id (hash key).
    pub const METRIC_ID: &str = "metric_id";
    /// Version (range key).
    pub const VERSION: &str = "version";
    /// Status.
    pub const STATUS: &str = "status";
    /// Model kind (`mstl_ets`, `seasonal_naive`, ...).
    pub const MODEL_KIND: &str = "model_kind";
    /// `s3://<lake>/models/metric=<M>/version=<V>/model.json`.
    pub const ARTIFACT_URI: &str = "artifact_uri";
    /// Backtest MAPE.
    pub const MAPE: &str = "mape";
    /// Backtest sMAPE.
    pub const SMAPE: &str = "smape";
    /// Backtest MASE.
    pub const MASE: &str = "mase";
    /// Backtest MASE of the first day of the horizon (what selection and approval rank by).
    pub const NEAR_MASE: &str = "near_mase";
    /// Backtest interval coverage.
    pub const COVERAGE: &str = "coverage";
    /// First bucket of the training window (RFC 3339).
    pub const TRAIN_START: &str = "train_start";
    /// Last bucket of the training window (RFC 3339).
    pub const TRAIN_END: &str = "train_end";
    /// Creation time (RFC 3339).
    pub const CREATED_AT: &str = "created_at";
    /// Series the model was trained on.
    pub const SERIES: &str = "series";
    /// Fingerprint of the training data.
    pub const FINGERPRINT: &str = "data_fingerprint";
    /// Who or what decided the status (`policy`, a person).
    pub const DECIDED_BY: &str = "decided_by";
    /// Why (policy outcome or a person's note).
    pub const DECISION_REASON: &str = "decision_reason";
    /// When the status last changed.
    pub const DECIDED_AT: &str = "decided_at";
}

/// The lifecycle of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelStatus {
    /// Registered, waiting for the policy or a person.
    PendingApproval,
    /// Serving: the one version inference and the API use.
    Approved,
    /// Refused.
    Rejected,
    /// Was approved, replaced by a newer approval.
    Archived,
}

impl ModelStatus {
    /// The contract's spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelStatus::PendingApproval => "PendingApproval",
            ModelStatus::Approved => "Approved",
            ModelStatus::Rejected => "Rejected",
            ModelStatus::Archived => "Archived",
        }
    }
    /// Parses the contract's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PendingApproval" => ModelStatus::PendingApproval,
            "Approved" => ModelStatus::Approved,
            "Rejected" => ModelStatus::Rejected,
            "Archived" => ModelStatus::Archived,
            _ => return None,
        })
    }
}

impl fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Backtest accuracy of a version. An undefined metric (MAPE of an all-zero series) is NaN
/// in memory, `null` in JSON and NULL in the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestMetrics {
    /// Mean absolute percentage error (fraction).
    #[serde(deserialize_with = "nullable_f64")]
    pub mape: f64,
    /// Symmetric MAPE (fraction).
    #[serde(deserialize_with = "nullable_f64")]
    pub smape: f64,
    /// Mean absolute scaled error (seasonal period 168).
    #[serde(deserialize_with = "nullable_f64")]
    pub mase: f64,
    /// MASE of the first day of the horizon only, where the deployed system's forecasts
    /// meet their actuals (see [`crate::forecast::backtest::select`]); selection and the
    /// approval margin rank by it. NaN for versions registered before it was recorded.
    #[serde(
        default = "crate::forecast::backtest::nan",
        deserialize_with = "nullable_f64"
    )]
    pub near_mase: f64,
    /// Share of actuals inside the forecast interval.
    #[serde(deserialize_with = "nullable_f64")]
    pub coverage: f64,
}

impl BacktestMetrics {
    /// What selection ranks by, and accuracy drift compares with
    /// ([`crate::forecast::backtest::selection_mase`] of these metrics).
    pub fn selection_mase(&self) -> f64 {
        crate::forecast::backtest::selection_mase(self.near_mase, self.mase)
    }
}

/// Reads a number, or `null` as NaN (serde_json writes non-finite floats as `null`).
fn nullable_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A registry entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    /// The metric.
    pub metric_id: MetricId,
    /// The version.
    pub version: ModelVersion,
    /// Status.
    pub status: ModelStatus,
    /// Model kind.
    pub model_kind: String,
    /// Artifact location.
    pub artifact_uri: String,
    /// Backtest metrics.
    pub metrics: BacktestMetrics,
    /// Training window start.
    pub train_start: DateTime<Utc>,
    /// Training window end.
    pub train_end: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Series trained on.
    pub series: u64,
    /// Fingerprint of the training data.
    pub data_fingerprint: String,
    /// Who decided the current status.
    pub decided_by: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
}

fn ts(t: &DateTime<Utc>) -> Attr {
    Attr::S(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl ModelRecord {
    /// The registry item.
    pub fn to_item(&self) -> Item {
        let mut i = Item::new();
        let s = |v: &str| Attr::S(v.to_string());
        i.insert(attr::METRIC_ID.into(), s(self.metric_id.as_str()));
        i.insert(attr::VERSION.into(), s(self.version.as_str()));
        i.insert(attr::STATUS.into(), s(self.status.as_str()));
        i.insert(attr::MODEL_KIND.into(), s(&self.model_kind));
        i.insert(attr::ARTIFACT_URI.into(), s(&self.artifact_uri));
        i.insert(attr::MAPE.into(), Attr::opt_n(Some(self.metrics.mape)));
        i.insert(attr::SMAPE.into(), Attr::opt_n(Some(self.metrics.smape)));
        i.insert(attr::MASE.into(), Attr::opt_n(Some(self.metrics.mase)));
        i.insert(
            attr::NEAR_MASE.into(),
            Attr::opt_n(Some(self.metrics.near_mase)),
        );
        i.insert(
            attr::COVERAGE.into(),
            Attr::opt_n(Some(self.metrics.coverage)),
        );
        i.insert(attr::TRAIN_START.into(), ts(&self.train_start));
        i.insert(attr::TRAIN_END.into(), ts(&self.train_end));
        i.insert(attr::CREATED_AT.into(), ts(&self.created_at));
        i.insert(attr::SERIES.into(), Attr::N(self.series as f64));
        i.insert(attr::FINGERPRINT.into(), s(&self.data_fingerprint));
        if let Some(by) = &self.decided_by {
            i.insert(attr::DECIDED_BY.into(), s(by));
        }
        if let Some(r) = &self.decision_reason {
            i.insert(attr::DECISION_REASON.into(), s(r));
        }
        i
    }

    /// Parses a registry item; `None` when it is not one.
    pub fn from_item(i: &Item) -> Option<Self> {
        let s = |k: &str| i.get(k).and_then(Attr::as_s);
        let n = |k: &str| i.get(k).and_then(Attr::as_n).unwrap_or(f64::NAN);
        let t = |k: &str| {
            s(k).and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        Some(Self {
            metric_id: MetricId::new(s(attr::METRIC_ID)?).ok()?,
            version: ModelVersion::new(s(attr::VERSION)?).ok()?,
            status: ModelStatus::parse(s(attr::STATUS)?)?,
            model_kind: s(attr::MODEL_KIND).unwrap_or_default().to_string(),
            artifact_uri: s(attr::ARTIFACT_URI).unwrap_or_default().to_string(),
            metrics: BacktestMetrics {
                mape: n(attr::MAPE),
                smape: n(attr::SMAPE),
                mase: n(attr::MASE),
                near_mase: n(attr::NEAR_MASE),
                coverage: n(attr::COVERAGE),
            },
            train_start: t(attr::TRAIN_START)?,
            train_end: t(attr::TRAIN_END)?,
            created_at: t(attr::CREATED_AT)?,
            series: i.get(attr::SERIES).and_then(Attr::as_n).unwrap_or(0.0) as u64,
            data_fingerprint: s(attr::FINGERPRINT).unwrap_or_default().to_string(),
            decided_by: s(attr::DECIDED_BY).map(str::to_string),
            decision_reason: s(attr::DECISION_REASON).map(str::to_string),
        })
    }
}

/// Errors of the registry workflow.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No such version.
    #[error("model {metric} {version} not found")]
    NotFound {
        /// The metric.
        metric: MetricId,
        /// The version.
        version: String,
    },
    /// The transition is not allowed from the version's status.
    #[error("model {metric} {version} is {status}; {action} needs {needs}")]
    InvalidTransition {
        /// The metric.
        metric: MetricId,
        /// The version.
        version: ModelVersion,
        /// Its status.
        status: ModelStatus,
        /// What was asked.
        action: &'static str,
        /// The status it needs.
        needs: &'static str,
    },
    /// Another approval or decision changed the registry first; read again and retry.
    #[error("model {metric} {version}: the registry changed concurrently ({0})", .source)]
    Conflict {
        /// The metric.
        metric: MetricId,
        /// The version.
        version: ModelVersion,
        /// The failed condition.
        #[source]
        source: TableError,
    },
    /// A rollback has no earlier version to return to.
    #[error("cannot roll back {metric}: {why}")]
    NothingToRollBack {
        /// The metric.
        metric: MetricId,
        /// Why (no approved version, or it replaced none).
        why: String,
    },
    /// Storage failure.
    #[error(transparent)]
    Table(#[from] TableError),
}

pub use crate::config::ApprovalPolicy;

/// What the policy decided for a new version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Decision {
    /// Approve now.
    Approve(String),
    /// Leave `PendingApproval` for a person.
    WaitForPerson(String),
}

impl ApprovalPolicy {
    /// Decides on a candidate with `new` metrics, given the approved version's metrics on
    /// the same backtest (if any), the nominal interval coverage and the seasonal-naive
    /// baseline on the same windows (if scored). The margin is on the first day's MASE, as
    /// selection ranks (the whole horizon's when either lacks one). The quality gate of
    /// contract v2 §6 comes first and no policy overrides it: a version whose MASE
    /// relative to the baseline's (as selection ranks) is 1 or more waits for a person.
    pub fn decide(
        &self,
        new: &BacktestMetrics,
        current: Option<&BacktestMetrics>,
        nominal: f64,
        baseline: Option<&BacktestMetrics>,
    ) -> Decision {
        if !new.mase.is_finite() || !new.coverage.is_finite() {
            return Decision::WaitForPerson("backtest metrics are not finite".into());
        }
        if let Some(b) = baseline {
            let relative = new.selection_mase() / b.selection_mase();
            if relative.is_nan() || relative >= 1.0 {
                return Decision::WaitForPerson(format!(
                    "quality gate: MASE {:.4} is not below seasonal naive's {:.4} on the same windows (relative {relative:.3})",
                    new.selection_mase(),
                    b.selection_mase()
                ));
            }
        }
        let gap = (new.coverage - nominal).abs();
        if gap > self.coverage_tolerance {
            return Decision::WaitForPerson(format!(
                "coverage {:.3} is {:.3} from nominal {:.2} (tolerance {:.2})",
                new.coverage, gap, nominal, self.coverage_tolerance
            ));
        }
        let Some(cur) = current else {
            return Decision::Approve("no approved version yet; coverage within tolerance".into());
        };
        // The first day's MASE when both have one (what selection ranks by), else the whole
        // horizon's.
        let (what, new_m, cur_m) = if new.near_mase.is_finite() && cur.near_mase.is_finite() {
            ("first-day MASE", new.near_mase, cur.near_mase)
        } else {
            ("MASE", new.mase, cur.mase)
        };
        if new_m <= cur_m * (1.0 - self.margin) {
            Decision::Approve(format!(
                "{what} {new_m:.4} beats the approved {cur_m:.4} by at least {:.0}%",
                self.margin * 100.0
            ))
        } else {
            Decision::WaitForPerson(format!(
                "{what} {new_m:.4} does not beat the approved {cur_m:.4} by {:.0}%",
                self.margin * 100.0
            ))
        }
    }
}

/// Registers a new version (fails if the version exists).
pub async fn register(t: &dyn TableStore, rec: &ModelRecord) -> Result<(), RegistryError> {
    t.put(&MODELS, rec.to_item(), Condition::NotExists).await?;
    Ok(())
}

/// Every version of a metric, newest first.
pub async fn list(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Vec<ModelRecord>, RegistryError> {
    let q = Query {
        forward: false,
        ..Query::all(metric.as_str())
    };
    Ok(query_all(t, &MODELS, &q)
        .await?
        .iter()
        .filter_map(ModelRecord::from_item)
        .collect())
}

/// One version.
pub async fn get(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &ModelVersion,
) -> Result<Option<ModelRecord>, RegistryError> {
    Ok(t.get(&MODELS, metric.as_str(), version.as_str())
        .await?
        .as_ref()
        .and_then(ModelRecord::from_item))
}

const POINTER_VERSION: &str = "version";

fn pointer_pk(metric: &MetricId) -> String {
    format!("approved#{metric}")
}

/// The version the approval pointer names, if any.
async fn pointer(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Option<ModelVersion>, RegistryError> {
    let item = t.get(&STATE, &pointer_pk(metric), "_").await?;
    Ok(item.and_then(|i| {
        i.get(POINTER_VERSION)
            .and_then(Attr::as_s)
            .and_then(|v| ModelVersion::new(v).ok())
    }))
}

/// The metric's approved version, if any.
pub async fn approved(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Option<ModelRecord>, RegistryError> {
    match pointer(t, metric).await? {
        Some(v) => Ok(get(t, metric, &v)
            .await?
            .filter(|r| r.status == ModelStatus::Approved)),
        None => Ok(None),
    }
}

fn with_status(
    rec: &ModelRecord,
    status: ModelStatus,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Item {
    let mut item = ModelRecord {
        status,
        decided_by: Some(by.into()),
        decision_reason: Some(reason.into()),
        ..rec.clone()
    }
    .to_item();
    item.insert(attr::DECIDED_AT.into(), ts(&now));
    item
}

/// The condition that a registry item's status is still `s` (what a decision found).
fn status_is(s: ModelStatus) -> Condition {
    Condition::Equals(attr::STATUS.into(), Attr::S(s.as_str().into()))
}

/// The record of `version`, which `action` may decide only while it is `PendingApproval`:
/// [`RegistryError::NotFound`] without one, [`RegistryError::InvalidTransition`] in any
/// other status.
async fn pending(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &ModelVersion,
    action: &'static str,
) -> Result<ModelRecord, RegistryError> {
    let rec = get(t, metric, version)
        .await?
        .ok_or_else(|| RegistryError::NotFound {
            metric: metric.clone(),
            version: version.to_string(),
        })?;
    if rec.status != ModelStatus::PendingApproval {
        return Err(RegistryError::InvalidTransition {
            metric: metric.clone(),
            version: version.clone(),
            status: rec.status,
            action,
            needs: "PendingApproval",
        });
    }
    Ok(rec)
}

/// Approves a `PendingApproval` version, archiving the previously approved one, in one
/// conditional transaction.
pub async fn approve(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &ModelVersion,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ModelRecord, RegistryError> {
    let rec = pending(t, metric, version, "approve").await?;
    let current = pointer(t, metric).await?;
    let pointer_cond = match &current {
        Some(v) => Condition::Equals(POINTER_VERSION.into(), Attr::S(v.to_string())),
        None => Condition::NotExists,
    };
    let mut ops = vec![
        move_pointer(metric, version, now, pointer_cond),
        TxOp::Put {
            table: MODELS,
            item: with_status(&rec, ModelStatus::Approved, by, reason, now),
            condition: status_is(ModelStatus::PendingApproval),
        },
        DecisionRecord {
            version: version.clone(),
            action: Action::Approve,
            status: ModelStatus::Approved,
            by: by.into(),
            reason: reason.into(),
            at: now,
            replaced: current.clone(),
        }
        .op(metric),
    ];
    if let Some(prev) = &current {
        if let Some(prev_rec) = get(t, metric, prev).await? {
            let why = format!("replaced by {version}");
            ops.push(TxOp::Put {
                table: MODELS,
                item: with_status(&prev_rec, ModelStatus::Archived, by, &why, now),
                condition: status_is(ModelStatus::Approved),
            });
            ops.push(archive_decision(prev, by, &why, now).op(metric));
        }
    }
    commit(t, ops, rec, ModelStatus::Approved, by, reason).await
}

/// Rejects a `PendingApproval` version.
pub async fn reject(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &ModelVersion,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ModelRecord, RegistryError> {
    let rec = pending(t, metric, version, "reject").await?;
    let ops = vec![
        TxOp::Put {
            table: MODELS,
            item: with_status(&rec, ModelStatus::Rejected, by, reason, now),
            condition: status_is(ModelStatus::PendingApproval),
        },
        DecisionRecord {
            version: version.clone(),
            action: Action::Reject,
            status: ModelStatus::Rejected,
            by: by.into(),
            reason: reason.into(),
            at: now,
            replaced: None,
        }
        .op(metric),
    ];
    commit(t, ops, rec, ModelStatus::Rejected, by, reason).await
}

/// Commits a decision's transaction: `rec` with `status` set by `by` for `reason`, or
/// [`RegistryError::Conflict`] when a condition no longer holds.
async fn commit(
    t: &dyn TableStore,
    ops: Vec<TxOp>,
    rec: ModelRecord,
    status: ModelStatus,
    by: &str,
    reason: &str,
) -> Result<ModelRecord, RegistryError> {
    match t.transact(ops).await {
        Ok(()) => Ok(ModelRecord {
            status,
            decided_by: Some(by.into()),
            decision_reason: Some(reason.into()),
            ..rec
        }),
        Err(e @ TableError::ConditionFailed { .. }) => Err(RegistryError::Conflict {
            metric: rec.metric_id.clone(),
            version: rec.version.clone(),
            source: e,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The transaction step that points the metric's approval at `version`, if the pointer
/// still is as read (`cond`).
fn move_pointer(
    metric: &MetricId,
    version: &ModelVersion,
    now: DateTime<Utc>,
    cond: Condition,
) -> TxOp {
    let mut item = Item::new();
    item.insert("pk".into(), Attr::S(pointer_pk(metric)));
    item.insert("sk".into(), Attr::S("_".into()));
    item.insert(POINTER_VERSION.into(), Attr::S(version.to_string()));
    item.insert(attr::DECIDED_AT.into(), ts(&now));
    TxOp::Put {
        table: STATE,
        item,
        condition: cond,
    }
}

fn archive_decision(
    version: &ModelVersion,
    by: &str,
    why: &str,
    now: DateTime<Utc>,
) -> DecisionRecord {
    DecisionRecord {
        version: version.clone(),
        action: Action::Archive,
        status: ModelStatus::Archived,
        by: by.into(),
        reason: why.into(),
        at: now,
        replaced: None,
    }
}

/// Rolls a metric back: re-approves the version that the approved one replaced (now
/// `Archived`) and archives the approved one, in one conditional transaction (the
/// pointer must still name the approved version, each record must still have the status
/// read). The target is found in the decision history: the version that the approved
/// one's newest *approval* replaced, so a second rollback goes further back instead of
/// returning. [`RegistryError::NothingToRollBack`] without an approved version or a
/// predecessor; [`RegistryError::InvalidTransition`] when the predecessor is no longer
/// `Archived`.
pub async fn rollback(
    t: &dyn TableStore,
    metric: &MetricId,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ModelRecord, RegistryError> {
    let nothing = |why: String| RegistryError::NothingToRollBack {
        metric: metric.clone(),
        why,
    };
    let current = pointer(t, metric)
        .await?
        .ok_or_else(|| nothing("no version is approved".into()))?;
    let history = decisions(t, metric).await?;
    let target = history
        .iter()
        .find(|d| d.version == current && d.action == Action::Approve)
        .and_then(|d| d.replaced.clone())
        .ok_or_else(|| {
            nothing(format!(
                "the approved {current} replaced no earlier version"
            ))
        })?;
    let found = |v: &ModelVersion| RegistryError::NotFound {
        metric: metric.clone(),
        version: v.to_string(),
    };
    let target_rec = get(t, metric, &target)
        .await?
        .ok_or_else(|| found(&target))?;
    if target_rec.status != ModelStatus::Archived {
        return Err(RegistryError::InvalidTransition {
            metric: metric.clone(),
            version: target,
            status: target_rec.status,
            action: "roll back to",
            needs: "Archived",
        });
    }
    let current_rec = get(t, metric, &current)
        .await?
        .ok_or_else(|| found(&current))?;
    let why = format!("rolled back to {target}: {reason}");
    let still_current = Condition::Equals(POINTER_VERSION.into(), Attr::S(current.to_string()));
    let ops = vec![
        move_pointer(metric, &target, now, still_current),
        TxOp::Put {
            table: MODELS,
            item: with_status(&target_rec, ModelStatus::Approved, by, reason, now),
            condition: status_is(ModelStatus::Archived),
        },
        TxOp::Put {
            table: MODELS,
            item: with_status(&current_rec, ModelStatus::Archived, by, &why, now),
            condition: status_is(ModelStatus::Approved),
        },
        DecisionRecord {
            version: target.clone(),
            action: Action::Rollback,
            status: ModelStatus::Approved,
            by: by.into(),
            reason: reason.into(),
            at: now,
            replaced: Some(current.clone()),
        }
        .op(metric),
        archive_decision(&current, by, &why, now).op(metric),
    ];
    commit(t, ops, target_rec, ModelStatus::Approved, by, reason).await
}

/// Conformance of the approval state machine on any table store (run against every
/// adapter, including DynamoDB on the emulator, with a race of concurrent approvals).
pub mod checks {
    use super::*;

    /// A pending record for tests.
    pub fn pending(metric: &str, version: &str, mase: f64) -> ModelRecord {
        let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
        ModelRecord {
            metric_id: MetricId::new(metric).expect("metric"),
            version: ModelVersion::new(version).expect("version"),
            status: ModelStatus::PendingApproval,
            model_kind: "seasonal_naive".into(),
            artifact_uri: format!("s3://lake/models/metric={metric}/version={version}/model.json"),
            metrics: BacktestMetrics {
                mape: 0.1,
                smape: 0.1,
                mase,
                near_mase: mase * 0.5,
                coverage: 0.9,
            },
            train_start: t0,
            train_end: t0,
            created_at: t0,
            series: 3,
            data_fingerprint: "fp".into(),
            decided_by: None,
            decision_reason: None,
        }
    }

    /// The state machine: approve, archive on re-approval, refuse invalid transitions,
    /// and a race of `racers` concurrent approvals that leaves exactly one approved.
    pub async fn approval_state_machine(
        t: std::sync::Arc<dyn TableStore>,
        metric: &str,
        racers: usize,
    ) {
        let m = MetricId::new(metric).expect("metric");
        let now = Utc::now();
        let v1 = pending(metric, "v20240101000000-aaaaaa", 1.0);
        let v2 = pending(metric, "v20240102000000-bbbbbb", 0.9);
        register(&*t, &v1).await.expect("register v1");
        assert!(
            register(&*t, &v1).await.is_err(),
            "a version registers once"
        );
        register(&*t, &v2).await.expect("register v2");
        assert!(approved(&*t, &m).await.expect("approved").is_none());
        approve(&*t, &m, &v1.version, "test", "first", now)
            .await
            .expect("approve v1");
        assert_eq!(
            approved(&*t, &m)
                .await
                .expect("approved")
                .map(|r| r.version),
            Some(v1.version.clone())
        );
        let again = approve(&*t, &m, &v1.version, "test", "again", now)
            .await
            .expect_err("approving twice fails");
        assert!(
            matches!(again, RegistryError::InvalidTransition { .. }),
            "{again}"
        );
        approve(&*t, &m, &v2.version, "test", "better", now)
            .await
            .expect("approve v2");
        let all = list(&*t, &m).await.expect("list");
        assert_eq!(
            all.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![ModelStatus::Approved, ModelStatus::Archived]
        );
        assert_eq!(all[0].version, v2.version, "newest first");
        let v3 = pending(metric, "v20240103000000-cccccc", 2.0);
        register(&*t, &v3).await.expect("register v3");
        reject(&*t, &m, &v3.version, "person", "worse", now)
            .await
            .expect("reject");
        assert!(matches!(
            approve(&*t, &m, &v3.version, "x", "y", now).await,
            Err(RegistryError::InvalidTransition { .. })
        ));

        // The race: many pending versions approved at once.
        let mut versions = Vec::new();
        for i in 0..racers {
            let r = pending(metric, &format!("v20240201{i:06}-race{i:02}"), 0.5);
            register(&*t, &r).await.expect("register racer");
            versions.push(r.version);
        }
        let tasks: Vec<_> = versions
            .iter()
            .map(|v| {
                let (t, m, v) = (t.clone(), m.clone(), v.clone());
                tokio::spawn(async move {
                    approve(&*t, &m, &v, "racer", "race", Utc::now())
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.expect("join") {
                won += 1;
            }
        }
        assert!(won >= 1, "at least one approval wins");
        let approved_now: Vec<_> = list(&*t, &m)
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.status == ModelStatus::Approved)
            .collect();
        assert_eq!(
            approved_now.len(),
            1,
            "exactly one Approved version after the race: {approved_now:?}"
        );
        assert_eq!(
            approved(&*t, &m)
                .await
                .expect("approved")
                .map(|r| r.version),
            Some(approved_now[0].version.clone())
        );
    }
}

/// Rollback and the decision history on any table store: roll back twice through three
/// approvals, refuse a rollback without a predecessor, and record every decision newest
/// first (run against memory, SQLite and DynamoDB on the emulator).
pub mod rollback_checks {
    use super::checks::pending;
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_706_000_000 + secs, 0).unwrap_or_default()
    }

    async fn approved_version(t: &dyn TableStore, m: &MetricId) -> Option<String> {
        approved(t, m)
            .await
            .expect("approved")
            .map(|r| r.version.to_string())
    }

    /// The whole check on `t`, for `metric` (which must be unused in `t`).
    pub async fn rollback_and_history(t: &dyn TableStore, metric: &str) {
        let m = MetricId::new(metric).expect("metric");
        let nothing = rollback(t, &m, "person", "why", at(0))
            .await
            .expect_err("nothing approved");
        assert!(
            matches!(nothing, RegistryError::NothingToRollBack { .. }),
            "{nothing}"
        );
        let (v1, v2, v3) = (
            pending(metric, "v20240101000000-aaaaaa", 1.0),
            pending(metric, "v20240102000000-bbbbbb", 0.9),
            pending(metric, "v20240103000000-cccccc", 0.8),
        );
        for v in [&v1, &v2, &v3] {
            register(t, v).await.expect("register");
        }
        approve(t, &m, &v1.version, "policy", "first", at(1))
            .await
            .expect("v1");
        let first = rollback(t, &m, "person", "why", at(2))
            .await
            .expect_err("v1 replaced nothing");
        assert!(
            matches!(first, RegistryError::NothingToRollBack { .. }),
            "{first}"
        );
        approve(t, &m, &v2.version, "policy", "better", at(3))
            .await
            .expect("v2");
        approve(t, &m, &v3.version, "alice", "better still", at(4))
            .await
            .expect("v3");
        record_hold(t, &m, &v3.version, "(a hold, for the history)", at(5))
            .await
            .expect("hold");

        // Back from v3 to v2, then from v2 to v1 (not back to v3).
        let r = rollback(t, &m, "bob", "v3 misses live", at(6))
            .await
            .expect("rollback");
        assert_eq!(r.version, v2.version);
        assert_eq!(
            approved_version(t, &m).await.as_deref(),
            Some(v2.version.as_str())
        );
        let statuses: Vec<ModelStatus> = list(t, &m)
            .await
            .expect("list")
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses,
            [
                ModelStatus::Archived,
                ModelStatus::Approved,
                ModelStatus::Archived
            ]
        );
        let r = rollback(t, &m, "bob", "v2 too", at(7))
            .await
            .expect("rollback");
        assert_eq!(r.version, v1.version);
        assert_eq!(
            approved_version(t, &m).await.as_deref(),
            Some(v1.version.as_str())
        );
        let again = rollback(t, &m, "bob", "and again", at(8))
            .await
            .expect_err("v1 is the first");
        assert!(
            matches!(again, RegistryError::NothingToRollBack { .. }),
            "{again}"
        );
        let approved_now = list(t, &m)
            .await
            .expect("list")
            .into_iter()
            .filter(|r| r.status == ModelStatus::Approved)
            .count();
        assert_eq!(approved_now, 1);

        // The history, newest first, with who, why and what each approval replaced.
        let h = decisions(t, &m).await.expect("decisions");
        let seen: Vec<(String, Action, &str)> = h
            .iter()
            .map(|d| {
                (
                    d.version.to_string()[..15].to_string(),
                    d.action,
                    d.by.as_str(),
                )
            })
            .collect();
        let v = |s: &str| s.to_string();
        assert_eq!(
            seen,
            [
                (v("v20240101000000"), Action::Rollback, "bob"),
                (v("v20240102000000"), Action::Archive, "bob"),
                (v("v20240102000000"), Action::Rollback, "bob"),
                (v("v20240103000000"), Action::Archive, "bob"),
                (v("v20240103000000"), Action::Hold, "policy"),
                (v("v20240103000000"), Action::Approve, "alice"),
                (v("v20240102000000"), Action::Archive, "alice"),
                (v("v20240102000000"), Action::Approve, "policy"),
                (v("v20240101000000"), Action::Archive, "policy"),
                (v("v20240101000000"), Action::Approve, "policy"),
            ]
        );
        assert_eq!(
            h[2].replaced.as_ref(),
            Some(&v3.version),
            "the rollback says from what"
        );
        assert_eq!(h[5].replaced.as_ref(), Some(&v2.version));
        assert_eq!(
            h[1].reason,
            format!("rolled back to {}: v2 too", v1.version)
        );
        assert_eq!(h[9].replaced, None);
        assert_eq!(h[0].at, at(7));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryTableStore;

    #[tokio::test]
    async fn rollback_and_history_in_memory_and_on_sqlite() {
        rollback_checks::rollback_and_history(&MemoryTableStore::default(), "G").await;
        let dir = tempfile::tempdir().expect("dir");
        let store =
            crate::storage::sqlite::SqliteTableStore::open(&dir.path().join("s.db")).expect("db");
        rollback_checks::rollback_and_history(&store, "G").await;
    }

    #[tokio::test]
    async fn a_reject_is_recorded_with_its_reason() {
        let t = MemoryTableStore::default();
        let m = MetricId::new("G").expect("id");
        let v = checks::pending("G", "v20240101000000-aaaaaa", 1.0);
        register(&t, &v).await.expect("register");
        reject(&t, &m, &v.version, "carol", "too noisy", Utc::now())
            .await
            .expect("reject");
        let h = decisions(&t, &m).await.expect("decisions");
        assert_eq!(h.len(), 1);
        assert_eq!(
            (
                h[0].action,
                h[0].status,
                h[0].by.as_str(),
                h[0].reason.as_str()
            ),
            (Action::Reject, ModelStatus::Rejected, "carol", "too noisy")
        );
    }

    fn m(mase: f64, coverage: f64) -> BacktestMetrics {
        BacktestMetrics {
            mape: 0.1,
            smape: 0.1,
            mase,
            near_mase: f64::NAN,
            coverage,
        }
    }

    fn with_near(mut b: BacktestMetrics, near_mase: f64) -> BacktestMetrics {
        b.near_mase = near_mase;
        b
    }

    #[test]
    fn the_margin_is_on_the_first_days_mase_when_both_have_one() {
        let p = ApprovalPolicy::default();
        // Worse over the whole horizon, 5% better on the first day: approved.
        let new = with_near(m(1.1, 0.9), 0.57);
        let cur = with_near(m(1.0, 0.9), 0.60);
        match p.decide(&new, Some(&cur), 0.9, None) {
            Decision::Approve(why) => assert!(why.starts_with("first-day MASE 0.5700"), "{why}"),
            d => panic!("{d:?}"),
        }
        // Better over the whole horizon, 1% better on the first day: waits.
        let new = with_near(m(0.8, 0.9), 0.594);
        assert!(matches!(
            p.decide(&new, Some(&cur), 0.9, None),
            Decision::WaitForPerson(_)
        ));
        // An approved version registered before the first day's MASE: the whole horizon's.
        let new = with_near(m(0.97, 0.9), 2.0);
        match p.decide(&new, Some(&m(1.0, 0.9)), 0.9, None) {
            Decision::Approve(why) => assert!(why.starts_with("MASE 0.9700"), "{why}"),
            d => panic!("{d:?}"),
        }
        assert_eq!(with_near(m(0.9, 0.9), 0.4).selection_mase(), 0.4);
        assert_eq!(m(0.9, 0.9).selection_mase(), 0.9);
    }

    #[test]
    fn the_quality_gate_holds_what_does_not_beat_seasonal_naive() {
        let p = ApprovalPolicy::default();
        let naive = m(1.0, 0.9);
        // Beats the baseline: the policy decides as before.
        assert!(matches!(
            p.decide(&m(0.8, 0.9), None, 0.9, Some(&naive)),
            Decision::Approve(_)
        ));
        // No better than seasonal naive (or seasonal naive itself): held, whatever the
        // policy would say, even with no approved version.
        for mase in [1.0, 1.3] {
            match p.decide(&m(mase, 0.9), None, 0.9, Some(&naive)) {
                Decision::WaitForPerson(why) => assert!(why.starts_with("quality gate"), "{why}"),
                d => panic!("{d:?}"),
            }
        }
        let lenient = ApprovalPolicy {
            margin: -10.0,
            coverage_tolerance: 1.0,
        };
        assert!(matches!(
            lenient.decide(&m(1.2, 0.9), Some(&m(2.0, 0.9)), 0.9, Some(&naive)),
            Decision::WaitForPerson(_)
        ));
        // A NaN baseline holds too (nothing shows the version beats it).
        assert!(matches!(
            p.decide(&m(0.5, 0.9), None, 0.9, Some(&m(f64::NAN, 0.9))),
            Decision::WaitForPerson(_)
        ));
    }

    #[test]
    fn policy_decisions() {
        let p = ApprovalPolicy::default();
        assert!(matches!(
            p.decide(&m(1.0, 0.88), None, 0.9, None),
            Decision::Approve(_)
        ));
        assert!(
            matches!(
                p.decide(&m(1.0, 0.80), None, 0.9, None),
                Decision::WaitForPerson(_)
            ),
            "coverage too far"
        );
        assert!(matches!(
            p.decide(&m(0.97, 0.9), Some(&m(1.0, 0.9)), 0.9, None),
            Decision::Approve(_)
        ));
        assert!(
            matches!(
                p.decide(&m(0.99, 0.9), Some(&m(1.0, 0.9)), 0.9, None),
                Decision::WaitForPerson(_)
            ),
            "1% is below the 2% margin"
        );
        assert!(matches!(
            p.decide(&m(f64::NAN, 0.9), None, 0.9, None),
            Decision::WaitForPerson(_)
        ));
    }

    #[test]
    fn records_round_trip() {
        let r = checks::pending("G", "v20240101000000-abc", 0.8);
        assert_eq!(r.to_item().get(attr::NEAR_MASE), Some(&Attr::N(0.4)));
        assert_eq!(ModelRecord::from_item(&r.to_item()), Some(r.clone()));
        // An item registered before the first day's MASE was recorded reads it as NaN.
        let mut old = r.to_item();
        old.remove(attr::NEAR_MASE);
        let read = ModelRecord::from_item(&old).expect("record");
        assert!(read.metrics.near_mase.is_nan());
        assert_eq!(read.metrics.selection_mase(), 0.8);
        // And so does the JSON the API and the artifacts carried.
        let json = r#"{"mape":0.1,"smape":0.1,"mase":0.8,"coverage":0.9}"#;
        let b: BacktestMetrics = serde_json::from_str(json).expect("json");
        assert!(b.near_mase.is_nan());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn state_machine_in_memory() {
        checks::approval_state_machine(std::sync::Arc::new(MemoryTableStore::default()), "G", 8)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn state_machine_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        let store =
            crate::storage::sqlite::SqliteTableStore::open(&dir.path().join("s.db")).expect("db");
        checks::approval_state_machine(std::sync::Arc::new(store), "G", 8).await;
    }
}
