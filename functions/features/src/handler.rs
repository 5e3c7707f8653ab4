//! Translates the SQS event to the batch use case and its outcome to the partial batch
//! response.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use gras_shared::lambda::{batch_response, sqs_messages};
use gras_shared::metrics::MetricsSink;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::notifications::handle_batch;
use lambda_runtime::{Error, LambdaEvent};
use tracing::info;

/// Handles one SQS batch; never fails as a whole: failed messages are listed in the
/// response so that SQS redelivers only them.
pub async fn handle(
    engine: &FeatureEngine,
    bucket: &str,
    metrics: &dyn MetricsSink,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages = sqs_messages(event.payload);
    let outcome = handle_batch(engine, bucket, &messages, metrics).await;
    info!(summary = %outcome.summary, failed_messages = outcome.failures.len(), test_events = outcome.test_events, "batch done");
    Ok(batch_response(outcome.failed_ids()))
}
