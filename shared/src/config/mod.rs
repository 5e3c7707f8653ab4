//! Pipeline configuration (contract section 1): the configured metrics and their settings.
//!
//! Loaded from TOML (default `config/gras.toml`, or a path from the command line or the
//! `GRAS_CONFIG` environment variable). Unknown keys are refused so that a typo does not
//! silently fall back to a default.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::MetricId;

mod anomaly;

pub use anomaly::{AnomalyConfig, Direction};

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "GRAS_CONFIG";
/// The repository's `config/gras.toml`, compiled in as the Lambdas' default.
pub const EMBEDDED_CONFIG: &str = include_str!("../../../config/gras.toml");
/// Default configuration path, relative to the repository root.
pub const DEFAULT_CONFIG_PATH: &str = "config/gras.toml";

/// Errors from reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or mistyped keys.
    #[error("invalid config{}: {source}", path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    Parse {
        /// The path, when the config came from a file.
        path: Option<PathBuf>,
        /// The parser error (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// A value is out of its allowed range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// How several rows in one bucket combine (contract section 3, step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Sum of the values.
    Sum,
    /// Arithmetic mean of the values.
    Mean,
    /// The row with the greatest `ts`; ties: the greatest value.
    Last,
}

/// One hour in microseconds.
pub const HOUR_US: i64 = 3_600_000_000;

/// The bucket width of a metric, a whole number of minutes dividing one hour (`1h`, `15m`).
///
/// Features are defined in hours (lags of 1h/24h/168h), so only widths that divide an hour
/// keep every feature meaningful; the GRAS metrics all use `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Frequency {
    minutes: u32,
}

impl Frequency {
    /// One hour, the GRAS default.
    pub const HOURLY: Frequency = Frequency { minutes: 60 };

    /// Parses `<n>m` or `1h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let minutes = if let Some(n) = text.strip_suffix('h') {
            n.parse::<u32>().ok().map(|n| n * 60)
        } else if let Some(n) = text.strip_suffix("min") {
            n.parse::<u32>().ok()
        } else if let Some(n) = text.strip_suffix('m') {
            n.parse::<u32>().ok()
        } else {
            None
        };
        match minutes {
            Some(m) if m > 0 && 60 % m == 0 => Ok(Self { minutes: m }),
            _ => Err(format!(
                "frequency {text:?} is not supported: use a width dividing one hour, such as \"1h\" or \"15m\""
            )),
        }
    }

    /// Bucket width in nanoseconds.
    pub fn nanos(&self) -> i64 {
        i64::from(self.minutes) * 60 * 1_000_000_000
    }

    /// Bucket width in microseconds (the step of the series that training and inference
    /// model: their horizons and seasonal periods count buckets).
    pub fn micros(&self) -> i64 {
        i64::from(self.minutes) * 60 * 1_000_000
    }

    /// Buckets per hour.
    pub fn per_hour(&self) -> usize {
        (60 / self.minutes) as usize
    }
}

impl TryFrom<String> for Frequency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Frequency> for String {
    fn from(value: Frequency) -> Self {
        if value.minutes == 60 {
            "1h".to_string()
        } else {
            format!("{}m", value.minutes)
        }
    }
}

/// The settings of one metric after defaults are applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricConfig {
    /// How rows in one bucket combine.
    pub aggregation: Aggregation,
    /// Bucket width.
    pub frequency: Frequency,
    /// Forecast steps (default 168).
    pub horizon: u32,
    /// Nominal coverage of forecast intervals, in (0, 1) (default 0.90).
    pub interval: f64,
    /// `|zscore_168h|` above which a row is an outlier (default 3.0).
    pub outlier_z: f64,
    /// The metric's holiday calendar: the shared one plus its own dates.
    pub holidays: BTreeSet<NaiveDate>,
    /// What cleansing accepts (contract section 3, step 1, v2): the top-level `ts_range`
    /// and `max_abs_value`, or the metric's own.
    pub bounds: RowBounds,
    /// `[metrics.M.anomaly]` (contract v2 §1, §8), defaults where not given.
    pub anomaly: AnomalyConfig,
    /// Quantile levels stored with every forecast (contract v2 §7), ascending, each
    /// strictly between 0 and 1 (default [`DEFAULT_QUANTILES`]).
    pub quantiles: Vec<f64>,
    /// What the values are measured in, for people (`"EUR"`, `"orders"`, `"ms"`): shown on
    /// plots, the dashboard and the overview; never used in computation. Optional (an
    /// extension where the contract is silent); at most 32 printable characters.
    pub unit: Option<String>,
}

/// The quantile levels of contract v2 §7's default.
pub const DEFAULT_QUANTILES: [f64; 7] = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];

/// The v2 bounds of cleansing (contract section 3, step 1): a row whose `ts` is outside
/// `[ts_from_ns, ts_until_ns)` is rejected as `ts_out_of_range`, one whose absolute value
/// exceeds `max_abs_value` as `value_out_of_range`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowBounds {
    /// First accepted instant, nanoseconds since the epoch (default 2000-01-01T00:00:00Z).
    pub ts_from_ns: i64,
    /// First instant no longer accepted (default 2100-01-01T00:00:00Z).
    pub ts_until_ns: i64,
    /// Largest accepted absolute value (default 1e15).
    pub max_abs_value: f64,
}

impl RowBounds {
    /// The contract's defaults: 2000-01-01 (inclusive) to 2100-01-01 (exclusive), 1e15.
    pub const DEFAULT: RowBounds = RowBounds {
        ts_from_ns: 946_684_800_000_000_000,
        ts_until_ns: 4_102_444_800_000_000_000,
        max_abs_value: 1e15,
    };

    /// True when `ts_ns` is inside the range.
    pub fn ts_ok(&self, ts_ns: i64) -> bool {
        (self.ts_from_ns..self.ts_until_ns).contains(&ts_ns)
    }

    /// True when `|value| <= max_abs_value`.
    pub fn value_ok(&self, value: f64) -> bool {
        value.abs() <= self.max_abs_value
    }
}

impl Default for RowBounds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Default of [`Config::max_partitions_per_file`].
pub const DEFAULT_MAX_PARTITIONS_PER_FILE: u32 = 1_000;

/// Training settings (`[training]`, all optional).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Days of silver history a model is trained and backtested on.
    pub window_days: u32,
    /// Rolling-origin backtest windows (at least 3).
    pub backtest_windows: u32,
    /// Series per training task; a metric with more series is trained in shards.
    pub shard_series: u32,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            window_days: 56,
            backtest_windows: 3,
            shard_series: 400,
        }
    }
}

/// The approval policy (`[approval]`, all optional): when a new model version is approved
/// without a person.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalPolicy {
    /// Relative MASE improvement over the approved version required to auto-approve
    /// (0.02: at least 2% lower MASE on the same backtest; the first day's MASE, as
    /// selection ranks, see [`ApprovalPolicy::decide`](crate::registry::ApprovalPolicy)).
    pub margin: f64,
    /// Largest |coverage - nominal| that auto-approval accepts (0.05: five points).
    pub coverage_tolerance: f64,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            margin: 0.02,
            coverage_tolerance: 0.05,
        }
    }
}

/// Inference settings (`[inference]`, all optional).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// Rate per time step of the online interval factor ([`crate::forecast::online`]): how
    /// fast the bounds of the version in use widen after misses and narrow after hits.
    /// 0 turns the adaptation off (the trained calibration alone).
    pub interval_adapt_rate: f64,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            interval_adapt_rate: crate::forecast::online::DEFAULT_RATE,
        }
    }
}

/// The whole configuration: metrics by id, in id order, and pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The configured metrics.
    pub metrics: BTreeMap<MetricId, MetricConfig>,
    /// Training settings.
    pub training: TrainingConfig,
    /// Approval policy.
    pub approval: ApprovalPolicy,
    /// Inference settings.
    pub inference: InferenceConfig,
    /// The most silver partitions one bronze object may make the incremental path
    /// (the features Lambda, `gras ingest`) write (top-level `max_partitions_per_file`,
    /// default 1,000 partitions, about 2.7 years of one metric); an object that would make
    /// it write more fails alone, with an error naming it. Batch runs have no ceiling.
    pub max_partitions_per_file: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ts_range: Option<[String; 2]>,
    max_abs_value: Option<f64>,
    max_partitions_per_file: Option<u32>,
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    metrics: BTreeMap<String, RawMetric>,
    #[serde(default)]
    training: TrainingConfig,
    #[serde(default)]
    approval: ApprovalPolicy,
    #[serde(default)]
    inference: InferenceConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    aggregation: Option<Aggregation>,
    frequency: Option<Frequency>,
    horizon: Option<u32>,
    interval: Option<f64>,
    outlier_z: Option<f64>,
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    ts_range: Option<[String; 2]>,
    max_abs_value: Option<f64>,
    #[serde(default)]
    anomaly: anomaly::RawAnomaly,
    quantiles: Option<Vec<f64>>,
    unit: Option<String>,
}

/// Why a `[start, end]` pair of RFC 3339 instants is not a range.
enum RangeError {
    /// This text is not an RFC 3339 instant that nanoseconds since the epoch can hold.
    NotAnInstant(String),
    /// The start is not before the end.
    Reversed,
}

/// `[from, until]` as nanoseconds since the epoch, the start strictly before the end (the
/// shape of `ts_range` and of an anomaly `exclude` window).
fn instant_range(from: &str, until: &str) -> Result<(i64, i64), RangeError> {
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| RangeError::NotAnInstant(t.to_string()))
    };
    let (a, b) = (parse(from)?, parse(until)?);
    if a >= b {
        return Err(RangeError::Reversed);
    }
    Ok((a, b))
}

/// The bounds of `base` with `ts_range` and `max_abs_value` applied where given; `at` names
/// the table in errors (`""` or `"metrics.G."`).
fn bounds(
    base: RowBounds,
    ts_range: Option<&[String; 2]>,
    max_abs_value: Option<f64>,
    at: &str,
) -> Result<RowBounds, ConfigError> {
    let mut b = base;
    if let Some([from, until]) = ts_range {
        (b.ts_from_ns, b.ts_until_ns) = instant_range(from, until).map_err(|e| match e {
            RangeError::NotAnInstant(t) => ConfigError::Invalid(format!(
                "{at}ts_range: {t:?} is not an RFC 3339 instant between 1677 and 2262 (such as \"2000-01-01T00:00:00Z\")"
            )),
            RangeError::Reversed => ConfigError::Invalid(format!(
                "{at}ts_range = [{from:?}, {until:?}]: the start must be before the end"
            )),
        })?;
    }
    if let Some(v) = max_abs_value {
        if !(v.is_finite() && v > 0.0) {
            return Err(ConfigError::Invalid(format!(
                "{at}max_abs_value = {v}: must be a positive finite number"
            )));
        }
        b.max_abs_value = v;
    }
    Ok(b)
}

/// A metric's `quantiles`, ascending and without repeats (default [`DEFAULT_QUANTILES`]).
fn quantile_levels(given: Option<Vec<f64>>, id: &str) -> Result<Vec<f64>, ConfigError> {
    let mut levels = given.unwrap_or_else(|| DEFAULT_QUANTILES.to_vec());
    if let Some(q) = levels.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        return Err(ConfigError::Invalid(format!(
            "metrics.{id}.quantiles: {q} is not a level strictly between 0 and 1"
        )));
    }
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    Ok(levels)
}

/// A metric's `unit`: trimmed, empty as none, at most 32 characters, none of them control
/// characters.
fn unit(given: Option<String>, id: &str) -> Result<Option<String>, ConfigError> {
    let Some(u) = given
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    if u.chars().count() > 32 || u.chars().any(char::is_control) {
        return Err(ConfigError::Invalid(format!(
            "metrics.{id}.unit = {u:?}: must be at most 32 printable characters"
        )));
    }
    Ok(Some(u))
}

impl Config {
    /// Parses TOML text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.map(Path::to_path_buf),
            source,
        })?;
        if raw.metrics.is_empty() {
            return Err(ConfigError::Invalid(
                "no metrics configured: add a [metrics.<id>] table".into(),
            ));
        }
        let shared = bounds(
            RowBounds::DEFAULT,
            raw.ts_range.as_ref(),
            raw.max_abs_value,
            "",
        )?;
        let max_partitions_per_file = raw
            .max_partitions_per_file
            .unwrap_or(DEFAULT_MAX_PARTITIONS_PER_FILE);
        if max_partitions_per_file == 0 {
            return Err(ConfigError::Invalid(
                "max_partitions_per_file = 0: must be at least 1".into(),
            ));
        }
        let mut metrics = BTreeMap::new();
        for (id, m) in raw.metrics {
            let metric =
                MetricId::new(id.clone()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            let aggregation = m.aggregation.unwrap_or(match id.as_str() {
                "A" | "S" => Aggregation::Mean,
                _ => Aggregation::Sum,
            });
            let interval = m.interval.unwrap_or(0.90);
            if !(interval > 0.0 && interval < 1.0) {
                return Err(ConfigError::Invalid(format!(
                    "metrics.{id}.interval = {interval}: must be strictly between 0 and 1"
                )));
            }
            let outlier_z = m.outlier_z.unwrap_or(3.0);
            if !(outlier_z.is_finite() && outlier_z > 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "metrics.{id}.outlier_z = {outlier_z}: must be a positive number"
                )));
            }
            let horizon = m.horizon.unwrap_or(168);
            if horizon == 0 || horizon > 24 * 366 {
                return Err(ConfigError::Invalid(format!(
                    "metrics.{id}.horizon = {horizon}: must be between 1 and 8784 steps"
                )));
            }
            let holidays = raw
                .holidays
                .iter()
                .chain(m.holidays.iter())
                .copied()
                .collect();
            let bounds = bounds(
                shared,
                m.ts_range.as_ref(),
                m.max_abs_value,
                &format!("metrics.{id}."),
            )?;
            metrics.insert(
                metric,
                MetricConfig {
                    aggregation,
                    frequency: m.frequency.unwrap_or(Frequency::HOURLY),
                    horizon,
                    interval,
                    outlier_z,
                    holidays,
                    bounds,
                    anomaly: m.anomaly.resolve(&format!("metrics.{id}.anomaly"))?,
                    quantiles: quantile_levels(m.quantiles, &id)?,
                    unit: unit(m.unit, &id)?,
                },
            );
        }
        let t = raw.training;
        if t.backtest_windows < 3 || t.window_days < 7 || t.shard_series == 0 {
            return Err(ConfigError::Invalid(format!(
                "training: backtest_windows must be at least 3 (got {}), window_days at least 7 (got {}), shard_series positive",
                t.backtest_windows, t.window_days
            )));
        }
        let a = raw.approval;
        let margin_ok = a.margin.is_finite() && (0.0..1.0).contains(&a.margin);
        let tolerance_ok = a.coverage_tolerance.is_finite() && a.coverage_tolerance >= 0.0;
        if !(margin_ok && tolerance_ok) {
            return Err(ConfigError::Invalid(
                "approval: margin must be in [0, 1) and coverage_tolerance non-negative".into(),
            ));
        }
        let rate = raw.inference.interval_adapt_rate;
        if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
            return Err(ConfigError::Invalid(format!(
                "inference.interval_adapt_rate = {rate}: must be between 0 (off) and 1"
            )));
        }
        Ok(Self {
            metrics,
            training: t,
            approval: a,
            inference: raw.inference,
            max_partitions_per_file,
        })
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, Some(path))
    }

    /// Resolves the config path: an explicit one, else `GRAS_CONFIG`, else the default path
    /// if it exists, else `None` (the caller picks a fallback).
    pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let default = PathBuf::from(DEFAULT_CONFIG_PATH);
        default.exists().then_some(default)
    }

    /// Loads the resolved config (see [`Config::resolve_path`]), or else the repository's
    /// `config/gras.toml` as compiled into the binary ([`EMBEDDED_CONFIG`], what the
    /// Lambdas use too), so that a command behaves the same from any directory.
    pub fn load_or_default(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        match Self::resolve_path(explicit) {
            Some(p) => Self::load(&p),
            None => Self::from_toml(EMBEDDED_CONFIG, None),
        }
    }

    /// The configuration for a Lambda: the file named by `GRAS_CONFIG`, else the TOML text in
    /// `GRAS_CONFIG_TOML`, else the repository's `config/gras.toml` compiled into the binary.
    pub fn from_lambda_env() -> Result<Self, ConfigError> {
        if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Self::load(Path::new(&p));
        }
        if let Ok(text) = std::env::var("GRAS_CONFIG_TOML") {
            if !text.trim().is_empty() {
                return Self::from_toml(&text, None);
            }
        }
        Self::from_toml(EMBEDDED_CONFIG, None)
    }

    /// The GRAS set `G`, `R` (sum), `A`, `S` (mean), hourly, with no holidays.
    pub fn gras_defaults() -> Self {
        Self::from_toml("[metrics.G]\n[metrics.R]\n[metrics.A]\n[metrics.S]\n", None)
            .expect("built-in defaults are valid")
    }

    /// The settings of a metric, if configured.
    pub fn metric(&self, id: &MetricId) -> Option<&MetricConfig> {
        self.metrics.get(id)
    }

    /// Looks a metric up by its textual id.
    pub fn metric_by_name(&self, id: &str) -> Option<(&MetricId, &MetricConfig)> {
        self.metrics.iter().find(|(m, _)| m.as_str() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_config_parses_with_gras_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gras.toml");
        let cfg = Config::load(&path).unwrap();
        let ids: Vec<_> = cfg.metrics.keys().map(MetricId::as_str).collect();
        assert_eq!(ids, ["A", "G", "R", "S"]);
        let g = cfg.metric_by_name("G").unwrap().1;
        assert_eq!(g.aggregation, Aggregation::Sum);
        assert_eq!(
            cfg.metric_by_name("A").unwrap().1.aggregation,
            Aggregation::Mean
        );
        assert_eq!(g.horizon, 168);
        assert_eq!(g.frequency, Frequency::HOURLY);
        assert_eq!(cfg.inference, InferenceConfig::default());
        let off =
            Config::from_toml("[metrics.G]\n[inference]\ninterval_adapt_rate = 0\n", None).unwrap();
        assert_eq!(off.inference.interval_adapt_rate, 0.0);
        assert!(g
            .holidays
            .contains(&NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()));
    }

    #[test]
    fn defaults_and_per_metric_holidays() {
        let cfg = Config::from_toml(
            "holidays = [\"2024-01-01\"]\n[metrics.A]\n[metrics.X]\naggregation = \"last\"\nholidays = [\"2024-03-03\"]\nunit = \" orders \"\n",
            None,
        )
        .unwrap();
        let (_, a) = cfg.metric_by_name("A").unwrap();
        assert_eq!(a.aggregation, Aggregation::Mean);
        assert_eq!(a.interval, 0.90);
        assert_eq!(a.outlier_z, 3.0);
        assert_eq!(a.holidays.len(), 1);
        let (_, x) = cfg.metric_by_name("X").unwrap();
        assert_eq!(x.aggregation, Aggregation::Last);
        assert_eq!(x.holidays.len(), 2);
        assert_eq!(
            (a.unit.as_deref(), x.unit.as_deref()),
            (None, Some("orders"))
        );
    }

    #[test]
    fn bounds_default_to_the_contract_and_a_metric_may_override_them() {
        let c = Config::gras_defaults();
        let g = c.metric_by_name("G").unwrap().1;
        assert_eq!(g.bounds, RowBounds::DEFAULT);
        assert_eq!(c.max_partitions_per_file, DEFAULT_MAX_PARTITIONS_PER_FILE);
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap()
        };
        let b = RowBounds::DEFAULT;
        assert!(b.ts_ok(at("2000-01-01T00:00:00Z")) && !b.ts_ok(at("1999-12-31T23:59:59Z")));
        assert!(b.ts_ok(at("2099-12-31T23:59:59Z")) && !b.ts_ok(at("2100-01-01T00:00:00Z")));
        assert!(b.value_ok(-1e15) && !b.value_ok(1.0000001e15));
        let c = Config::from_toml(
            "ts_range = [\"2020-01-01T00:00:00Z\", \"2030-01-01T00:00:00+02:00\"]\nmax_abs_value = 1e9\nmax_partitions_per_file = 50\n[metrics.G]\n[metrics.S]\nmax_abs_value = 100.0\n",
            None,
        )
        .unwrap();
        let (g, s) = (
            &c.metric_by_name("G").unwrap().1.bounds,
            &c.metric_by_name("S").unwrap().1.bounds,
        );
        assert_eq!(
            (g.ts_from_ns, g.ts_until_ns),
            (at("2020-01-01T00:00:00Z"), at("2029-12-31T22:00:00Z"))
        );
        assert_eq!((g.max_abs_value, s.max_abs_value), (1e9, 100.0));
        assert_eq!(
            s.ts_from_ns, g.ts_from_ns,
            "a metric inherits the shared range"
        );
        assert_eq!(c.max_partitions_per_file, 50);
    }

    /// The `[metrics.M.anomaly]` table exactly as contract v2 §1 shows it parses to those
    /// values; a metric without one gets the same defaults.
    #[test]
    fn the_contracts_anomaly_table_parses_and_its_defaults_apply() {
        let text = r#"
[metrics.G]
aggregation = "sum"
[metrics.G.anomaly]      # optional; every key has a default (§8)
sensitivity = 0.99       # event threshold on anomaly_score
min_duration = 1         # buckets at or over the threshold before an event opens
merge_gap = 2            # events of one series closer than this many buckets are one event
direction = "both"       # both | up | down
min_abs_deviation = 0.0  # deviations smaller than this, in the metric's units, never alert
exclude = []             # [["2024-03-01T00:00:00Z", "2024-03-01T06:00:00Z"], ...] maintenance windows
stale_after = 3          # buckets past the expected arrival before a missing_data event opens
[metrics.R]
[metrics.R.anomaly]
sensitivity = 0.95
direction = "down"
min_abs_deviation = 2.5
exclude = [["2024-03-01T00:00:00Z", "2024-03-01T06:00:00Z"]]
[metrics.A]
"#;
        let c = Config::from_toml(text, None).unwrap();
        let of = |m: &str| c.metric_by_name(m).unwrap().1.anomaly.clone();
        assert_eq!(of("G"), AnomalyConfig::default());
        assert_eq!(of("A"), AnomalyConfig::default());
        let r = of("R");
        assert_eq!(r.sensitivity, 0.95);
        assert_eq!(r.direction, Direction::Down);
        assert_eq!(r.min_abs_deviation, 2.5);
        assert_eq!(
            r.exclude,
            vec![(1_709_251_200_000_000_000, 1_709_272_800_000_000_000)]
        );
        assert_eq!((r.min_duration, r.merge_gap, r.stale_after), (1, 2, 3));
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let cases = [
            ("[metrics.G]\naggregation = \"median\"\n", "unknown variant"),
            ("[metrics.G]\nfrequency = \"7m\"\n", "not supported"),
            ("[metrics.G]\ninterval = 1.5\n", "strictly between 0 and 1"),
            ("[metrics.G]\nhorizn = 3\n", "unknown field"),
            ("holidays = [\"2024-13-01\"]\n[metrics.G]\n", "invalid"),
            ("[metrics.\"a/b\"]\n", "only letters"),
            ("", "no metrics configured"),
            ("[metrics.G\n", "invalid config"),
            (
                "[metrics.G]\n[training]\nbacktest_windows = 2\n",
                "at least 3",
            ),
            ("[metrics.G]\n[approval]\nmargin = -1\n", "margin"),
            ("[metrics.G]\n[approval]\nmargn = 0.1\n", "unknown field"),
            (
                "[metrics.G]\n[inference]\ninterval_adapt_rate = -0.1\n",
                "interval_adapt_rate",
            ),
            (
                "[metrics.G]\n[inference]\ninterval_adapt_rate = nan\n",
                "interval_adapt_rate",
            ),
            ("[metrics.G]\n[inference]\nadapt = 0.1\n", "unknown field"),
            (
                "[metrics.G.anomaly]\nsensitivity = 1.0\n",
                "metrics.G.anomaly.sensitivity = 1: must be strictly between 0 and 1",
            ),
            ("[metrics.G.anomaly]\nmin_duration = 0\n", "metrics.G.anomaly.min_duration"),
            (
                "[metrics.G]\nquantiles = [0.5, 1.0]\n",
                "metrics.G.quantiles: 1 is not a level",
            ),
            ("[metrics.G.anomaly]\nstale_after = 0\n", "metrics.G.anomaly.stale_after"),
            ("[metrics.G.anomaly]\ndirection = \"sideways\"\n", "unknown variant"),
            ("[metrics.G.anomaly]\nmin_abs_deviation = -1\n", "min_abs_deviation"),
            ("[metrics.G.anomaly]\nsensitivty = 0.9\n", "unknown field"),
            (
                "[metrics.G]\nunit = \"a very long unit name that nobody reads\"\n",
                "metrics.G.unit",
            ),
            ("[metrics.G]\nunit = \"E\\tUR\"\n", "printable"),
            (
                "[metrics.G.anomaly]\nexclude = [[\"2024-03-01T06:00:00Z\", \"2024-03-01T00:00:00Z\"]]\n",
                "start must be before its end",
            ),
            (
                "[metrics.G.anomaly]\nexclude = [[\"2024-03-01\", \"2024-03-02T00:00:00Z\"]]\n",
                "\"2024-03-01\" is not an RFC 3339 instant",
            ),
            (
                "ts_range = [\"2001-01-01\", \"2100-01-01T00:00:00Z\"]\n[metrics.G]\n",
                "ts_range: \"2001-01-01\" is not an RFC 3339 instant",
            ),
            (
                "[metrics.G]\nts_range = [\"2100-01-01T00:00:00Z\", \"2000-01-01T00:00:00Z\"]\n",
                "metrics.G.ts_range",
            ),
            ("max_abs_value = 0\n[metrics.G]\n", "max_abs_value = 0"),
            (
                "[metrics.G]\nmax_abs_value = inf\n",
                "metrics.G.max_abs_value",
            ),
            ("max_partitions_per_file = 0\n[metrics.G]\n", "at least 1"),
        ];
        for (text, want) in cases {
            let err = Config::from_toml(text, None).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn frequencies() {
        assert_eq!(Frequency::parse("1h").unwrap().nanos(), 3_600_000_000_000);
        assert_eq!(Frequency::parse("15m").unwrap().per_hour(), 4);
        assert!(Frequency::parse("2h").is_err());
        assert!(Frequency::parse("0m").is_err());
        assert!(Frequency::parse("abc").is_err());
    }
}
