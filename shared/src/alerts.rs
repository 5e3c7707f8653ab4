//! Alerts (contract section 8): an actual outside its forecast interval, or a silver row
//! flagged `is_outlier`, is an alert `{metric_id, series_key, ts, value, expected, lower,
//! upper, kind, model_version}`. One alert per series and timestamp: the `gras_alerts` item
//! (`metric_id` = `G` / `G#<series>`, `ts`) is written only if absent, and only a newly
//! written alert goes to the alerts queue, so re-running over the same hours sends nothing
//! twice.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::table;
use crate::features::SilverRows;
use crate::ids::{MetricId, SeriesKey};
use crate::predictions::{partition_key, Prediction};
use crate::queue::{Queue, QueueError};
use crate::storage::{Attr, Condition, Item, TableError, TableSpec, TableStore};

/// The `gras_alerts` table.
pub const ALERTS: TableSpec = TableSpec {
    name: table::ALERTS,
    pk: "metric_id",
    sk: Some("ts"),
};

/// Retention of alert items.
pub const TTL_DAYS: i64 = 90;

/// Why a value alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Outside the forecast interval.
    OutsideInterval,
    /// Flagged `is_outlier` by the features (|z| over the metric's `outlier_z`).
    Outlier,
    /// Both.
    OutsideIntervalAndOutlier,
}

/// One alert, as sent to the queue (JSON) and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Metric.
    pub metric_id: String,
    /// Series.
    pub series_key: String,
    /// Bucket, RFC 3339 UTC.
    pub ts: String,
    /// The actual.
    pub value: f64,
    /// The point forecast, if one was made.
    pub expected: Option<f64>,
    /// Lower bound, if forecast.
    pub lower: Option<f64>,
    /// Upper bound, if forecast.
    pub upper: Option<f64>,
    /// Why.
    pub kind: AlertKind,
    /// The version that forecast it, if any.
    pub model_version: Option<String>,
}

/// The alerts of silver `rows` (one metric) given the forecasts made for them, keyed by
/// (series, bucket in microseconds). Imputed values never alert (they were interpolated).
pub fn detect(rows: &SilverRows, forecasts: &HashMap<(String, i64), Prediction>) -> Vec<Alert> {
    let mut out = Vec::new();
    for i in 0..rows.len() {
        let Some(value) = rows.value.get(i) else {
            continue;
        };
        if rows.is_imputed[i] {
            continue;
        }
        let f = forecasts.get(&(rows.series_key[i].to_string(), rows.ts_us[i]));
        let outside = f.is_some_and(|p| value < p.lower || value > p.upper);
        let kind = match (outside, rows.is_outlier[i]) {
            (true, true) => AlertKind::OutsideIntervalAndOutlier,
            (true, false) => AlertKind::OutsideInterval,
            (false, true) => AlertKind::Outlier,
            (false, false) => continue,
        };
        let Some(ts) = DateTime::<Utc>::from_timestamp_micros(rows.ts_us[i]) else {
            continue;
        };
        out.push(Alert {
            metric_id: rows.metric_id[i].to_string(),
            series_key: rows.series_key[i].to_string(),
            ts: ts.to_rfc3339_opts(SecondsFormat::Secs, true),
            value,
            expected: f.map(|p| p.value),
            lower: f.map(|p| p.lower),
            upper: f.map(|p| p.upper),
            kind,
            model_version: f.map(|p| p.model_version.clone()),
        });
    }
    out
}

/// Errors of delivering alerts.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The table write failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The queue send failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// An id in the alert is invalid.
    #[error("invalid alert: {0}")]
    Invalid(String),
}

fn item(alert: &Alert, now: DateTime<Utc>) -> Result<Item, AlertError> {
    let metric =
        MetricId::new(alert.metric_id.clone()).map_err(|e| AlertError::Invalid(e.to_string()))?;
    let series =
        SeriesKey::new(alert.series_key.clone()).map_err(|e| AlertError::Invalid(e.to_string()))?;
    let body = serde_json::to_string(alert).map_err(|e| AlertError::Invalid(e.to_string()))?;
    let mut i = Item::new();
    i.insert("metric_id".into(), Attr::S(partition_key(&metric, &series)));
    i.insert("ts".into(), Attr::S(alert.ts.clone()));
    i.insert("series_key".into(), Attr::S(alert.series_key.clone()));
    i.insert("value".into(), Attr::opt_n(Some(alert.value)));
    i.insert("expected".into(), Attr::opt_n(alert.expected));
    i.insert("lower".into(), Attr::opt_n(alert.lower));
    i.insert("upper".into(), Attr::opt_n(alert.upper));
    i.insert(
        "kind".into(),
        Attr::S(
            serde_json::to_value(alert.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        ),
    );
    i.insert(
        "model_version".into(),
        alert.model_version.clone().map_or(Attr::Null, Attr::S),
    );
    i.insert("alert".into(), Attr::S(body));
    i.insert(
        "created_at".into(),
        Attr::S(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    i.insert(
        "ttl".into(),
        Attr::N((now.timestamp() + TTL_DAYS * 86_400) as f64),
    );
    Ok(i)
}

/// The hash key of a metric's alert index in `gras_state` (all series, by time).
pub fn index_pk(metric_id: &str) -> String {
    format!("alerts#{metric_id}")
}

/// The metric-wide index item of an alert: `gras_state` `alerts#<M>` / `<ts>#<series>`,
/// holding the alert's JSON, so that the alerts of a metric since a time are one query.
fn index_item(alert: &Alert, body: &str, now: DateTime<Utc>) -> Item {
    let mut i = Item::new();
    i.insert("pk".into(), Attr::S(index_pk(&alert.metric_id)));
    i.insert(
        "sk".into(),
        Attr::S(format!("{}#{}", alert.ts, alert.series_key)),
    );
    i.insert("alert".into(), Attr::S(body.to_string()));
    i.insert(
        "ttl".into(),
        Attr::N((now.timestamp() + TTL_DAYS * 86_400) as f64),
    );
    i
}

/// Reads an alert back from its `gras_alerts` or index item.
pub fn from_item(item: &Item) -> Option<Alert> {
    serde_json::from_str(item.get("alert")?.as_s()?).ok()
}

/// Stores each alert if new (conditional put) and sends the new ones to `queue`; returns
/// the number of new alerts. Already stored alerts are skipped (deduplication). The
/// metric-wide index item is written first (idempotent), so a failure between the two
/// writes leaves nothing unindexed.
pub async fn deliver(
    tables: &dyn TableStore,
    queue: &dyn Queue,
    alerts: &[Alert],
    now: DateTime<Utc>,
) -> Result<usize, AlertError> {
    let mut fresh = Vec::new();
    for a in alerts {
        let body = serde_json::to_string(a).map_err(|e| AlertError::Invalid(e.to_string()))?;
        tables
            .put(
                &crate::state::STATE,
                index_item(a, &body, now),
                Condition::Always,
            )
            .await?;
        match tables
            .put(&ALERTS, item(a, now)?, Condition::NotExists)
            .await
        {
            Ok(()) => fresh.push(body),
            Err(TableError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let n = fresh.len();
    if n > 0 {
        queue.send_all(fresh).await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::MemoryQueue;
    use crate::storage::memory::MemoryTableStore;

    fn rows() -> SilverRows {
        let mut r = SilverRows::default();
        // (series, hour, value, imputed, outlier)
        for (s, h, v, imp, out) in [
            ("a", 0, Some(10.0), false, false), // inside
            ("a", 1, Some(30.0), false, false), // above upper
            ("a", 2, Some(11.0), false, true),  // outlier only
            ("a", 3, Some(1.0), false, true),   // below lower and outlier
            ("a", 4, Some(50.0), true, false),  // imputed: never
            ("b", 0, Some(99.0), false, false), // no forecast, not an outlier
            ("b", 1, None, false, false),       // no value
            ("a", 5, Some(12.0), false, false), // exactly on the upper bound: inside
        ] {
            r.metric_id.push("G".into());
            r.series_key.push(s.into());
            r.ts_us.push(h * 3_600_000_000);
            r.value.push(v);
            r.is_imputed.push(imp);
            r.hour.push(h as i32);
            r.day_of_week.push(3);
            r.is_weekend.push(false);
            r.is_holiday.push(false);
            for c in r.floats.iter_mut() {
                c.push(None);
            }
            r.is_outlier.push(out);
            for c in r.totals.iter_mut() {
                c.push(None);
            }
        }
        r
    }

    fn forecasts() -> HashMap<(String, i64), Prediction> {
        (0..6)
            .map(|h| {
                let p = Prediction {
                    metric: MetricId::new("G").expect("id"),
                    series: SeriesKey::new("a").expect("key"),
                    ts: DateTime::from_timestamp_micros(h * 3_600_000_000).expect("ts"),
                    value: 10.0,
                    lower: 8.0,
                    upper: 12.0,
                    quantiles: Vec::new(),
                    model_version: "v1".into(),
                    generated_at: DateTime::from_timestamp(0, 0).expect("t"),
                };
                (("a".to_string(), h * 3_600_000_000), p)
            })
            .collect()
    }

    #[test]
    fn rules_interval_outlier_both_and_exclusions() {
        let alerts = detect(&rows(), &forecasts());
        let got: Vec<(&str, &str, AlertKind)> = alerts
            .iter()
            .map(|a| (a.series_key.as_str(), a.ts.as_str(), a.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "1970-01-01T01:00:00Z", AlertKind::OutsideInterval),
                ("a", "1970-01-01T02:00:00Z", AlertKind::Outlier),
                (
                    "a",
                    "1970-01-01T03:00:00Z",
                    AlertKind::OutsideIntervalAndOutlier
                ),
            ]
        );
        assert_eq!(alerts[0].expected, Some(10.0));
        assert_eq!(alerts[0].upper, Some(12.0));
        assert_eq!(alerts[0].model_version.as_deref(), Some("v1"));
        let json = serde_json::to_value(&alerts[0]).expect("json");
        for k in [
            "metric_id",
            "series_key",
            "ts",
            "value",
            "expected",
            "lower",
            "upper",
            "kind",
            "model_version",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(json["kind"], "outside_interval");
    }

    #[tokio::test]
    async fn delivery_deduplicates_per_series_and_timestamp_with_a_ttl() {
        let tables = MemoryTableStore::default();
        let queue = MemoryQueue::default();
        let alerts = detect(&rows(), &forecasts());
        let now = DateTime::from_timestamp(1_706_000_000, 0).expect("t");
        assert_eq!(
            deliver(&tables, &queue, &alerts, now)
                .await
                .expect("deliver"),
            3
        );
        assert_eq!(
            deliver(&tables, &queue, &alerts, now).await.expect("again"),
            0
        );
        assert_eq!(queue.drain().len(), 3);
        let item = tables
            .get(&ALERTS, "G#a", "1970-01-01T01:00:00Z")
            .await
            .expect("get")
            .expect("item");
        assert_eq!(
            item.get("ttl"),
            Some(&Attr::N((1_706_000_000 + 90 * 86_400) as f64))
        );
        assert_eq!(item.get("kind"), Some(&Attr::S("outside_interval".into())));
    }
}
