//! Names fixed by the data contract (`shared/spec/CONTRACT.md`): lake key layout, column
//! names, DynamoDB table and attribute names. Every other module takes them from here.

use chrono::NaiveDate;

use crate::ids::{MetricId, ModelVersion};

/// Prefix of the raw (bronze) layer in the lake bucket.
pub const BRONZE_PREFIX: &str = "bronze/gras/";
/// Prefix of the silver features layer in the lake bucket.
pub const SILVER_PREFIX: &str = "silver/gras/features/";
/// Prefix of the prediction copies in the lake bucket.
pub const PREDICTIONS_PREFIX: &str = "predictions/";
/// Prefix of model artifacts in the lake bucket.
pub const MODELS_PREFIX: &str = "models/";

/// Bronze column names (contract section 2).
pub mod bronze_col {
    /// Event time.
    pub const TS: &str = "ts";
    /// Metric value.
    pub const VALUE: &str = "value";
    /// Optional metric id (must match the path's `metric=`).
    pub const METRIC_ID: &str = "metric_id";
    /// Optional series key (null or missing: `_all`).
    pub const SERIES_KEY: &str = "series_key";
}

/// Silver column names, in file order (contract section 4).
pub mod silver_col {
    /// Metric id.
    pub const METRIC_ID: &str = "metric_id";
    /// Series key.
    pub const SERIES_KEY: &str = "series_key";
    /// Bucket start, timestamp(us, UTC).
    pub const TS: &str = "ts";
    /// Bucket value after cleansing.
    pub const VALUE: &str = "value";
    /// True when the value was interpolated.
    pub const IS_IMPUTED: &str = "is_imputed";
    /// UTC hour 0..23.
    pub const HOUR: &str = "hour";
    /// 0 = Monday .. 6 = Sunday.
    pub const DAY_OF_WEEK: &str = "day_of_week";
    /// Saturday or Sunday.
    pub const IS_WEEKEND: &str = "is_weekend";
    /// UTC date in the metric's holiday calendar.
    pub const IS_HOLIDAY: &str = "is_holiday";
    /// Value at t-1h.
    pub const LAG_1H: &str = "lag_1h";
    /// Value at t-24h.
    pub const LAG_24H: &str = "lag_24h";
    /// Value at t-168h.
    pub const LAG_168H: &str = "lag_168h";
    /// Mean of t-23h..t.
    pub const ROLL_MEAN_24H: &str = "roll_mean_24h";
    /// Sample std of t-23h..t.
    pub const ROLL_STD_24H: &str = "roll_std_24h";
    /// Mean of t-167h..t.
    pub const ROLL_MEAN_168H: &str = "roll_mean_168h";
    /// Sample std of t-167h..t.
    pub const ROLL_STD_168H: &str = "roll_std_168h";
    /// value - lag_24h.
    pub const DIFF_24H: &str = "diff_24h";
    /// (value - lag_168h) / |lag_168h|.
    pub const PCT_CHANGE_168H: &str = "pct_change_168h";
    /// (value - roll_mean_168h) / roll_std_168h.
    pub const ZSCORE_168H: &str = "zscore_168h";
    /// |zscore_168h| > outlier_z.
    pub const IS_OUTLIER: &str = "is_outlier";
    /// v2: sum of t-167h..t (7 days).
    pub const ROLL_SUM_168H: &str = "roll_sum_168h";
    /// v2: sum of t-719h..t (30 days).
    pub const ROLL_SUM_720H: &str = "roll_sum_720h";
    /// v2: mean of t-719h..t (30 days).
    pub const ROLL_MEAN_720H: &str = "roll_mean_720h";

    /// The nullable float64 feature columns, in file order (after `is_holiday`).
    pub const FLOAT_FEATURES: [&str; 10] = [
        LAG_1H,
        LAG_24H,
        LAG_168H,
        ROLL_MEAN_24H,
        ROLL_STD_24H,
        ROLL_MEAN_168H,
        ROLL_STD_168H,
        DIFF_24H,
        PCT_CHANGE_168H,
        ZSCORE_168H,
    ];

    /// The v2 window totals, nullable float64, in file order (after `is_outlier`, the last
    /// columns of a silver file).
    pub const TOTALS: [&str; 3] = [ROLL_SUM_168H, ROLL_SUM_720H, ROLL_MEAN_720H];

    /// The columns of a v1 silver file (every column before [`TOTALS`]): a v2 reader still
    /// reads such files, with the totals null.
    pub const V1_COLUMNS: usize = 20;
}

/// DynamoDB table names (contract sections 5-8), plus the pipeline's own state table.
pub mod table {
    /// Online features, one item per series.
    pub const FEATURES: &str = "gras_features";
    /// Model registry.
    pub const MODELS: &str = "gras_models";
    /// Forecast points.
    pub const PREDICTIONS: &str = "gras_predictions";
    /// Alerts for people and dashboards.
    pub const ALERTS: &str = "gras_alerts";
    /// Internal pipeline state (bronze index, series extents, partition leases); not part of
    /// the contract, documented in the README.
    pub const STATE: &str = "gras_state";
}

/// A parsed bronze object key (contract section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronzeKey {
    /// The metric named by the `metric=` segment (not yet checked against the config).
    pub metric: MetricId,
    /// The date named by the `year=/month=/day=` segments.
    pub date: NaiveDate,
}

/// Why a key is not a bronze object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a bronze key ({reason}): {key}")]
pub struct NotBronze {
    /// The key, decoded.
    pub key: String,
    /// What did not match.
    pub reason: &'static str,
}

impl BronzeKey {
    /// Parses `bronze/gras/metric=<M>/year=<YYYY>/month=<MM>/day=<DD>/<name>.parquet`.
    /// The key must already be URL-decoded.
    pub fn parse(key: &str) -> Result<Self, NotBronze> {
        let err = |reason| NotBronze {
            key: key.to_string(),
            reason,
        };
        let rest = key
            .strip_prefix(BRONZE_PREFIX)
            .ok_or_else(|| err("outside bronze/gras/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() != 5 {
            return Err(err("expected metric=/year=/month=/day=/<name>.parquet"));
        }
        let seg = |i: usize, name: &str| {
            parts[i]
                .strip_prefix(name)
                .and_then(|s| s.strip_prefix('='))
                .ok_or_else(|| err("unexpected partition segment"))
        };
        let metric = MetricId::new(seg(0, "metric")?).map_err(|_| err("invalid metric id"))?;
        let (y, m, d) = (seg(1, "year")?, seg(2, "month")?, seg(3, "day")?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(err("year=YYYY/month=MM/day=DD expected"));
        }
        let date = match (y.parse(), m.parse(), d.parse()) {
            (Ok(y), Ok(m), Ok(d)) => {
                NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| err("no such date"))?
            }
            _ => return Err(err("non-numeric date segment")),
        };
        let name = parts[4];
        if name.len() <= ".parquet".len() || !name.ends_with(".parquet") {
            return Err(err("not a .parquet object"));
        }
        Ok(Self { metric, date })
    }

    /// The key of a bronze object named `name` for `metric` on `date`.
    pub fn key(metric: &MetricId, date: NaiveDate, name: &str) -> String {
        format!(
            "{BRONZE_PREFIX}metric={metric}/year={}/month={}/day={}/{name}",
            date.format("%Y"),
            date.format("%m"),
            date.format("%d")
        )
    }
}

/// The silver partition key of a metric and UTC date (contract section 4).
pub fn silver_key(metric: &MetricId, date: NaiveDate) -> String {
    format!(
        "{SILVER_PREFIX}metric={metric}/date={}/part-0.parquet",
        date.format("%Y-%m-%d")
    )
}

/// The prefix holding every silver partition of a metric.
pub fn silver_metric_prefix(metric: &MetricId) -> String {
    format!("{SILVER_PREFIX}metric={metric}/")
}

/// Parses a silver partition key back into its metric and date.
pub fn parse_silver_key(key: &str) -> Option<(MetricId, NaiveDate)> {
    let rest = key.strip_prefix(SILVER_PREFIX)?;
    let mut parts = rest.split('/');
    let metric = MetricId::new(parts.next()?.strip_prefix("metric=")?).ok()?;
    let date = NaiveDate::parse_from_str(parts.next()?.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
    (parts.next()? == "part-0.parquet" && parts.next().is_none()).then_some((metric, date))
}

/// The S3 copy of a run's predictions (contract section 7; date = the run's UTC date).
pub fn predictions_key(metric: &MetricId, run_date: NaiveDate) -> String {
    format!(
        "{PREDICTIONS_PREFIX}metric={metric}/date={}/data.parquet",
        run_date.format("%Y%m%d")
    )
}

/// The artifact key of a model version (contract section 6).
pub fn model_artifact_key(metric: &MetricId, version: &ModelVersion) -> String {
    format!("{MODELS_PREFIX}metric={metric}/version={version}/model.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn bronze_keys_round_trip() {
        let g = MetricId::new("G").unwrap();
        let key = BronzeKey::key(&g, d(2024, 1, 5), "part 1.parquet");
        assert_eq!(
            key,
            "bronze/gras/metric=G/year=2024/month=01/day=05/part 1.parquet"
        );
        assert_eq!(
            BronzeKey::parse(&key).unwrap(),
            BronzeKey {
                metric: g,
                date: d(2024, 1, 5)
            }
        );
    }

    #[test]
    fn non_bronze_keys_are_refused_with_a_reason() {
        for key in [
            "silver/gras/features/metric=G/date=2024-01-01/part-0.parquet",
            "bronze/gras/metric=G/year=2024/month=01/day=05/file.csv",
            "bronze/gras/metric=G/year=2024/month=02/day=30/x.parquet",
            "bronze/gras/metric=G/year=2024/month=1/day=05/x.parquet",
            "bronze/gras/metric=G/year=2024/month=01/x.parquet",
            "bronze/gras/metric=a#b/year=2024/month=01/day=05/x.parquet",
            "bronze/gras/metric=G/year=2024/month=01/day=05/.parquet",
            "bronze/gras/metric=G/year=2024/month=01/day=05/",
        ] {
            assert!(BronzeKey::parse(key).is_err(), "{key} accepted");
        }
    }

    #[test]
    fn output_keys_follow_the_contract() {
        let g = MetricId::new("G").unwrap();
        let k = silver_key(&g, d(2024, 1, 29));
        assert_eq!(
            k,
            "silver/gras/features/metric=G/date=2024-01-29/part-0.parquet"
        );
        assert_eq!(parse_silver_key(&k), Some((g.clone(), d(2024, 1, 29))));
        assert_eq!(
            predictions_key(&g, d(2024, 1, 29)),
            "predictions/metric=G/date=20240129/data.parquet"
        );
        let v = ModelVersion::new("v20240129140000-ab12cd").unwrap();
        assert_eq!(
            model_artifact_key(&g, &v),
            "models/metric=G/version=v20240129140000-ab12cd/model.json"
        );
    }
}
