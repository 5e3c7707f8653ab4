//! Tells the two event shapes apart and translates each to one use-case call.

use aws_lambda_events::event::sqs::SqsEvent;
use gras_shared::lambda::{batch_response, sqs_messages};
use gras_shared::pipeline::train::Trainer;
use gras_shared::queue::Queue;
use lambda_runtime::Error;
use serde_json::Value;

/// Handles a scheduled event (fan-out; `detail.metric` limits it to one metric) or an SQS
/// batch of training tasks (partial batch response).
pub async fn handle(trainer: &Trainer, queue: &dyn Queue, payload: Value) -> Result<Value, Error> {
    let is_sqs = payload["Records"]
        .as_array()
        .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["eventSource"] == "aws:sqs"));
    if is_sqs {
        let event: SqsEvent = serde_json::from_value(payload)?;
        let failures = trainer.train_messages(sqs_messages(event)).await;
        let response = batch_response(failures.into_iter().map(|f| f.message_id));
        return Ok(serde_json::to_value(response)?);
    }
    if payload["source"] == "aws.events" || payload["detail-type"] == "Scheduled Event" {
        let only = payload["detail"]["metric"].as_str();
        let reason = payload["detail"]["reason"].as_str().unwrap_or("schedule");
        let out = trainer.fan_out(queue, only, reason).await?;
        return Ok(serde_json::to_value(out)?);
    }
    Err("unsupported event: expected an EventBridge scheduled event or SQS training tasks".into())
}
