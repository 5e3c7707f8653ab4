//! Translates the SQS event to the batch use case and its outcome to the partial batch
//! response.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use gras_shared::metrics::MetricsSink;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::notifications::{handle_batch, Message};
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
    let messages: Vec<Message> = event
        .payload
        .records
        .into_iter()
        .map(|r| Message {
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let outcome = handle_batch(engine, bucket, &messages, metrics).await;
    info!(summary = %outcome.summary, failed_messages = outcome.failures.len(), test_events = outcome.test_events, "batch done");
    let mut response = SqsBatchResponse::default();
    for id in outcome.failed_ids() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
