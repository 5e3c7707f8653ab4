//! The metrics port: numbers about each invocation and each model, to CloudWatch.
//!
//! Adapters: `CloudWatchMetrics` (PutMetricData, feature `aws`), [`EmfMetrics`] (CloudWatch
//! embedded metric format on stdout, no API call), [`MemoryMetrics`] (tests), [`NoMetrics`].

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::Serialize;

/// The CloudWatch namespace of every gras metric.
pub const NAMESPACE: &str = "GRAS";

/// The unit of a datum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// A plain number (ratios, errors).
    None,
}

impl Unit {
    /// CloudWatch's name of the unit.
    pub fn as_str(&self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

/// One metric value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Datum {
    /// Metric name.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: Unit,
    /// Dimensions (name, value).
    pub dimensions: Vec<(String, String)>,
}

impl Datum {
    /// A datum with dimensions.
    pub fn new(name: &str, value: f64, unit: Unit, dimensions: &[(&str, &str)]) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            dimensions: dimensions
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }
}

/// Failure to publish metrics (callers log it; metrics never fail the work).
#[derive(Debug, thiserror::Error)]
#[error("publishing metrics failed: {0}")]
pub struct MetricsError(pub String);

/// Where metrics go.
#[async_trait]
pub trait MetricsSink: Send + Sync + Debug {
    /// Publishes data points under `namespace`.
    async fn put(&self, namespace: &str, data: Vec<Datum>) -> Result<(), MetricsError>;
}

/// Discards everything.
#[derive(Debug, Default)]
pub struct NoMetrics;

#[async_trait]
impl MetricsSink for NoMetrics {
    async fn put(&self, _: &str, _: Vec<Datum>) -> Result<(), MetricsError> {
        Ok(())
    }
}

/// Keeps every datum in memory.
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    data: Mutex<Vec<(String, Datum)>>,
}

impl MemoryMetrics {
    /// Everything published so far.
    pub fn all(&self) -> Vec<(String, Datum)> {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl MetricsSink for MemoryMetrics {
    async fn put(&self, namespace: &str, data: Vec<Datum>) -> Result<(), MetricsError> {
        self.data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(data.into_iter().map(|d| (namespace.to_string(), d)));
        Ok(())
    }
}

/// CloudWatch embedded metric format: one JSON line per datum on stdout; CloudWatch Logs
/// extracts the metrics without an API call.
#[derive(Debug, Default)]
pub struct EmfMetrics;

/// The EMF document of one datum at `timestamp_ms`.
pub fn emf_line(namespace: &str, d: &Datum, timestamp_ms: i64) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    let dims: Vec<&str> = d.dimensions.iter().map(|(k, _)| k.as_str()).collect();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dims],
                "Metrics": [{"Name": d.name, "Unit": d.unit.as_str()}]
            }]
        }),
    );
    for (k, v) in &d.dimensions {
        doc.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    doc.insert(d.name.clone(), serde_json::json!(d.value));
    serde_json::Value::Object(doc)
}

#[async_trait]
impl MetricsSink for EmfMetrics {
    async fn put(&self, namespace: &str, data: Vec<Datum>) -> Result<(), MetricsError> {
        let now = chrono::Utc::now().timestamp_millis();
        for d in &data {
            println!("{}", emf_line(namespace, d, now));
        }
        Ok(())
    }
}

/// CloudWatch PutMetricData.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: aws_sdk_cloudwatch::Client,
}

#[cfg(feature = "aws")]
impl CloudWatchMetrics {
    /// A sink over a CloudWatch client.
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }
}

#[cfg(feature = "aws")]
#[async_trait]
impl MetricsSink for CloudWatchMetrics {
    async fn put(&self, namespace: &str, data: Vec<Datum>) -> Result<(), MetricsError> {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
        let now = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp());
        // PutMetricData takes at most 1000 data points per call.
        for chunk in data.chunks(1000) {
            let datums = chunk
                .iter()
                .map(|d| {
                    MetricDatum::builder()
                        .metric_name(&d.name)
                        .value(d.value)
                        .unit(StandardUnit::from(d.unit.as_str()))
                        .timestamp(now)
                        .set_dimensions(Some(
                            d.dimensions
                                .iter()
                                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                                .collect(),
                        ))
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(datums))
                .send()
                .await
                .map_err(|e| {
                    MetricsError(aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let d = Datum::new(
            "RowsRejected",
            3.0,
            Unit::Count,
            &[("Function", "features"), ("Reason", "nan_value")],
        );
        let v = emf_line(NAMESPACE, &d, 1_700_000_000_000);
        assert_eq!(v["RowsRejected"], 3.0);
        assert_eq!(v["Reason"], "nan_value");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "GRAS");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][1],
            "Reason"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Count"
        );
    }
}
