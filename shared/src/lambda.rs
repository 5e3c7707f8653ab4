//! Start-up helpers shared by the Lambda binaries: typed environment, JSON logs, AWS
//! stores and the metrics sink, each built once per cold start.

use std::sync::Arc;

use crate::metrics::{CloudWatchMetrics, EmfMetrics, MetricsSink, NoMetrics};
use crate::storage::aws::{AwsSettings, ENV_BUCKET};
use crate::storage::Stores;

/// Environment variable: where metrics go (`cloudwatch`, the default, `emf`, or `off`).
pub const ENV_METRICS: &str = "GRAS_METRICS";

/// A missing or malformed environment variable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// A required, non-empty environment variable.
pub fn required_env(name: &'static str) -> Result<String, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        Ok(_) => Err(EnvError {
            name,
            problem: "is empty".into(),
        }),
        Err(_) => Err(EnvError {
            name,
            problem: "is not set".into(),
        }),
    }
}

/// Structured JSON logs on stdout (CloudWatch Logs), with the Lambda request id from the
/// runtime's span; level from `RUST_LOG` (default `info`).
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Everything a Lambda needs from AWS, built once.
#[derive(Debug, Clone)]
pub struct AwsEnv {
    /// The SDK settings.
    pub settings: AwsSettings,
    /// The lake bucket.
    pub bucket: String,
    /// Lake and tables.
    pub stores: Stores,
    /// The metrics sink chosen by `GRAS_METRICS`.
    pub metrics: Arc<dyn MetricsSink>,
}

impl AwsEnv {
    /// Reads the environment and builds the clients.
    pub async fn from_env() -> Result<Self, EnvError> {
        let bucket = required_env(ENV_BUCKET)?;
        let settings = AwsSettings::from_env().await;
        let stores = settings.stores(&bucket);
        let metrics: Arc<dyn MetricsSink> = match std::env::var(ENV_METRICS).as_deref() {
            Ok("emf") => Arc::new(EmfMetrics),
            Ok("off") => Arc::new(NoMetrics),
            Ok("cloudwatch") | Ok("") | Err(_) => {
                Arc::new(CloudWatchMetrics::new(settings.cloudwatch()))
            }
            Ok(other) => {
                return Err(EnvError {
                    name: ENV_METRICS,
                    problem: format!("{other:?} is not cloudwatch, emf or off"),
                })
            }
        };
        Ok(Self {
            settings,
            bucket,
            stores,
            metrics,
        })
    }
}

/// The messages of an SQS event (id and body; absent fields become empty strings).
pub fn sqs_messages(
    event: aws_lambda_events::event::sqs::SqsEvent,
) -> Vec<crate::pipeline::notifications::Message> {
    event
        .records
        .into_iter()
        .map(|r| crate::pipeline::notifications::Message {
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

/// The partial batch response listing `failed` message ids (SQS redelivers only those).
pub fn batch_response(
    failed: impl IntoIterator<Item = String>,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    for id in failed {
        let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}
