//! The model artifact: the JSON document a registered version keeps at
//! `models/metric=<M>/version=<V>/model.json` (its spec, calibration, training window and
//! every candidate's backtest). Written by training, read by inference and analyze now;
//! encoded and decoded here only.

use serde::{Deserialize, Serialize};

use crate::contract::model_artifact_key;
use crate::forecast::{self, ModelSpec};
use crate::ids::{MetricId, ModelVersion};
use crate::registry::BacktestMetrics;
use crate::storage::{BlobError, Stores};

/// Why an artifact could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The lake failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The document is not an artifact.
    #[error("malformed model artifact: {0}")]
    Json(#[from] serde_json::Error),
}

impl ArtifactError {
    /// True when trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ArtifactError::Blob(e) if e.is_retryable())
    }
}

/// Serde's default of the calibration factors (artifacts written before they existed).
fn unit() -> f64 {
    1.0
}

/// The model artifact stored at `models/metric=<M>/version=<V>/model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Metric.
    pub metric_id: String,
    /// Version.
    pub version: String,
    /// Model kind.
    pub model_kind: String,
    /// Hyper-parameters to re-fit on new data.
    pub spec: ModelSpec,
    /// Factor for the half-widths of the model's bounds (interval calibration from the
    /// backtest, see [`forecast::backtest`]); inference applies it to every step from
    /// `near_steps` on.
    #[serde(default = "unit")]
    pub interval_scale: f64,
    /// Leading steps (the first day) calibrated with `near_interval_scale` instead. 0 in
    /// artifacts written before the first day had its own factor: `interval_scale` then
    /// applies to every step, as it did.
    #[serde(default)]
    pub near_steps: usize,
    /// Factor for the half-widths of the first `near_steps` steps.
    #[serde(default = "unit")]
    pub near_interval_scale: f64,
    /// Forecast steps.
    pub horizon: u32,
    /// Nominal interval coverage.
    pub interval: f64,
    /// Bucket width.
    pub frequency: String,
    /// Training window start (first bucket).
    pub train_start: String,
    /// Training window end (last bucket).
    pub train_end: String,
    /// Series trained on.
    pub series: u64,
    /// XOR over series of the xxh3-64 of (series key, gap-filled values): the training data's
    /// identity, independent of sharding.
    pub data_fingerprint: String,
    /// Backtest of every candidate (and of the approved version's spec, as `current`).
    pub backtest: Vec<CandidateScore>,
    /// Creation time.
    pub created_at: String,
}

impl Artifact {
    /// The calibration inference applies to this version's forecasts.
    pub fn calibration(&self) -> forecast::Calibration {
        forecast::Calibration {
            scale: self.interval_scale,
            near_steps: self.near_steps,
            near_scale: self.near_interval_scale,
        }
    }
}

/// A candidate's mean backtest score across series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// `candidate` or `current` (the approved version's spec).
    pub role: String,
    /// The spec.
    pub spec: ModelSpec,
    /// Mean metrics across series (coverage: of the calibrated bounds, cross-fitted).
    pub metrics: BacktestMetrics,
    /// Mean coverage of the model's own bounds.
    #[serde(default)]
    pub raw_coverage: f64,
    /// Mean calibration factor across series (steps after the first day).
    #[serde(default = "unit")]
    pub interval_scale: f64,
    /// Mean calibration factor of the first day across series.
    #[serde(default = "unit")]
    pub near_interval_scale: f64,
    /// Series scored.
    pub series: u64,
}

/// Loads a version's artifact.
pub async fn load_artifact(
    stores: &Stores,
    metric: &MetricId,
    version: &ModelVersion,
) -> Result<Artifact, ArtifactError> {
    let body = stores
        .blobs
        .get(&model_artifact_key(metric, version))
        .await?;
    serde_json::from_slice(&body).map_err(ArtifactError::Json)
}

/// Writes `artifact` as the version's document (pretty JSON), replacing any earlier one.
pub async fn put_artifact(
    stores: &Stores,
    metric: &MetricId,
    version: &ModelVersion,
    artifact: &Artifact,
) -> Result<(), ArtifactError> {
    let body = serde_json::to_vec_pretty(artifact)?;
    stores
        .blobs
        .put(&model_artifact_key(metric, version), body.into())
        .await?;
    Ok(())
}
