//! `[metrics.M.anomaly]` (contract v2 §1 and §8): a metric's anomaly settings, every key
//! optional with the contract's default. Parsed and validated here; the scored detector of
//! §8 that reads them is not built yet (issue 31).

use serde::{Deserialize, Serialize};

use super::{instant_range, ConfigError, RangeError};

/// Which deviations may raise an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Above and below what is expected (the default).
    #[default]
    Both,
    /// Only above.
    Up,
    /// Only below.
    Down,
}

/// A metric's anomaly settings after defaults are applied (contract v2 §1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyConfig {
    /// Event threshold on `anomaly_score`, strictly between 0 and 1 (default 0.99).
    pub sensitivity: f64,
    /// Buckets at or over the threshold before an event opens, at least 1 (default 1).
    pub min_duration: u32,
    /// Events of one series closer than this many buckets are one event (default 2).
    pub merge_gap: u32,
    /// Which deviations count (default both).
    pub direction: Direction,
    /// Deviations smaller than this, in the metric's units, never alert (default 0).
    pub min_abs_deviation: f64,
    /// Maintenance windows `[start, end)`, nanoseconds since the epoch (default none).
    pub exclude: Vec<(i64, i64)>,
    /// Buckets past the expected arrival before a `missing_data` event opens, at least 1
    /// (default 3).
    pub stale_after: u32,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            sensitivity: 0.99,
            min_duration: 1,
            merge_gap: 2,
            direction: Direction::Both,
            min_abs_deviation: 0.0,
            exclude: Vec::new(),
            stale_after: 3,
        }
    }
}

/// `[metrics.M.anomaly]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnomaly {
    sensitivity: Option<f64>,
    min_duration: Option<u32>,
    merge_gap: Option<u32>,
    direction: Option<Direction>,
    min_abs_deviation: Option<f64>,
    #[serde(default)]
    exclude: Vec<[String; 2]>,
    stale_after: Option<u32>,
}

impl RawAnomaly {
    /// The settings with defaults applied; `at` names the table in errors
    /// (`metrics.G.anomaly`).
    pub(super) fn resolve(self, at: &str) -> Result<AnomalyConfig, ConfigError> {
        let d = AnomalyConfig::default();
        let bad = |key: &str, value: String, want: &str| {
            ConfigError::Invalid(format!("{at}.{key} = {value}: {want}"))
        };
        let sensitivity = self.sensitivity.unwrap_or(d.sensitivity);
        if !(sensitivity > 0.0 && sensitivity < 1.0) {
            return Err(bad(
                "sensitivity",
                sensitivity.to_string(),
                "must be strictly between 0 and 1",
            ));
        }
        let min_duration = self.min_duration.unwrap_or(d.min_duration);
        if min_duration == 0 {
            return Err(bad("min_duration", "0".into(), "must be at least 1 bucket"));
        }
        let stale_after = self.stale_after.unwrap_or(d.stale_after);
        if stale_after == 0 {
            return Err(bad("stale_after", "0".into(), "must be at least 1 bucket"));
        }
        let min_abs_deviation = self.min_abs_deviation.unwrap_or(d.min_abs_deviation);
        if !(min_abs_deviation.is_finite() && min_abs_deviation >= 0.0) {
            return Err(bad(
                "min_abs_deviation",
                min_abs_deviation.to_string(),
                "must be a finite number, 0 or more",
            ));
        }
        let mut exclude = Vec::with_capacity(self.exclude.len());
        for [from, until] in &self.exclude {
            let window = format!("[{from:?}, {until:?}]");
            let (a, b) = instant_range(from, until).map_err(|e| match e {
                RangeError::NotAnInstant(t) => bad(
                    "exclude",
                    window.clone(),
                    &format!("{t:?} is not an RFC 3339 instant (such as \"2024-03-01T00:00:00Z\")"),
                ),
                RangeError::Reversed => bad(
                    "exclude",
                    window.clone(),
                    "a window's start must be before its end",
                ),
            })?;
            exclude.push((a, b));
        }
        Ok(AnomalyConfig {
            sensitivity,
            min_duration,
            merge_gap: self.merge_gap.unwrap_or(d.merge_gap),
            direction: self.direction.unwrap_or(d.direction),
            min_abs_deviation,
            exclude,
            stale_after,
        })
    }
}
