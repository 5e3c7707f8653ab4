//! Start-up helpers shared by the Lambda binaries: typed environment, JSON logs, AWS
//! stores and the metrics sink, each built once per cold start; and the edge's error
//! classification ([`InvocationError`]: what Lambda reports when an invocation fails).

use std::sync::Arc;

use crate::metrics::{CloudWatchMetrics, EmfMetrics, MetricsSink, NoMetrics};
use crate::storage::aws::{AwsSettings, ENV_BUCKET};
use crate::storage::Stores;

/// Environment variable: where metrics go (`cloudwatch`, the default, `emf`, or `off`).
pub const ENV_METRICS: &str = "GRAS_METRICS";

/// Environment variable: URL of the training queue (training's fan-out target, inference's
/// retrain requests on drift).
pub const ENV_TRAIN_QUEUE_URL: &str = "GRAS_TRAIN_QUEUE_URL";

/// What a failed invocation means for whoever retries it, reported to Lambda as the
/// diagnostic's `errorType` (`gras.Retryable`, `gras.InvalidInput`, `gras.Permanent`), so
/// that logs, metrics filters and the asynchronous-invocation retry policy can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, a 5xx, a conflict: the same event may succeed later.
    Retryable,
    /// The event itself is wrong (unknown metric, malformed payload): retrying cannot help.
    InvalidInput,
    /// Anything else that will fail again the same way.
    Permanent,
}

impl ErrorClass {
    /// `Retryable` when `retryable`, else `Permanent`.
    pub fn retryable_if(retryable: bool) -> Self {
        if retryable {
            ErrorClass::Retryable
        } else {
            ErrorClass::Permanent
        }
    }

    /// The diagnostic's `errorType`.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "gras.Retryable",
            ErrorClass::InvalidInput => "gras.InvalidInput",
            ErrorClass::Permanent => "gras.Permanent",
        }
    }
}

/// An error that fails a whole invocation, classified at the edge: Lambda reports its
/// class as `errorType` and the error with every source as `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    /// What retrying the event would do.
    pub class: ErrorClass,
    /// The error and its sources, outermost first, joined by `: `.
    pub message: String,
}

impl InvocationError {
    /// `error` (and its chain of sources) in `class`.
    pub fn new(class: ErrorClass, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            let text = s.to_string();
            // `#[error(transparent)]` layers repeat their source's text: say it once.
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        Self { class, message }
    }

    /// An event that is not what the function accepts.
    pub fn invalid_input(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(ErrorClass::InvalidInput, error)
    }

    /// A use case's error by its own classification: invalid input first, then retryable,
    /// else permanent.
    pub fn classified(
        error: &(dyn std::error::Error + 'static),
        invalid_input: bool,
        retryable: bool,
    ) -> Self {
        let class = if invalid_input {
            ErrorClass::InvalidInput
        } else {
            ErrorClass::retryable_if(retryable)
        };
        Self::new(class, error)
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.class.error_type().into(),
            error_message: e.message,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Transparent(#[from] Outer);

    #[test]
    fn an_invocation_error_reports_its_class_and_every_source_once() {
        let inner = std::io::Error::other("throttled");
        let e = Transparent(Outer(inner));
        let d: lambda_runtime::Diagnostic = InvocationError::classified(&e, false, true).into();
        assert_eq!(d.error_type, "gras.Retryable");
        assert_eq!(d.error_message, "outer: throttled");
        let d: lambda_runtime::Diagnostic = InvocationError::classified(&e, true, true).into();
        assert_eq!(d.error_type, "gras.InvalidInput");
        let d: lambda_runtime::Diagnostic = InvocationError::classified(&e, false, false).into();
        assert_eq!(d.error_type, "gras.Permanent");
    }
}
