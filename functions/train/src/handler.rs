//! Tells the two event shapes apart and translates each to one use-case call.

use aws_lambda_events::event::sqs::SqsEvent;
use gras_shared::lambda::{batch_response, sqs_messages, ErrorClass, InvocationError};
use gras_shared::pipeline::train::Trainer;
use gras_shared::queue::Queue;
use serde_json::Value;

/// Handles a scheduled event (fan-out; `detail.metric` limits it to one metric) or an SQS
/// batch of training tasks (partial batch response). A failure of the whole invocation
/// keeps its class (Lambda's `errorType`): an event of another shape is invalid input, a
/// failed fan-out retryable or not by its cause.
pub async fn handle(
    trainer: &Trainer,
    queue: &dyn Queue,
    payload: Value,
) -> Result<Value, InvocationError> {
    let is_sqs = payload["Records"]
        .as_array()
        .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["eventSource"] == "aws:sqs"));
    if is_sqs {
        let event: SqsEvent =
            serde_json::from_value(payload).map_err(|e| InvocationError::invalid_input(&e))?;
        let failures = trainer.train_messages(sqs_messages(event)).await;
        let response = batch_response(failures.into_iter().map(|f| f.message_id));
        return to_json(response);
    }
    if payload["source"] == "aws.events" || payload["detail-type"] == "Scheduled Event" {
        let only = payload["detail"]["metric"].as_str();
        let reason = payload["detail"]["reason"].as_str().unwrap_or("schedule");
        let out = trainer
            .fan_out(queue, only, reason)
            .await
            .map_err(|e| InvocationError::classified(&e, e.is_invalid_input(), e.is_retryable()))?;
        return to_json(out);
    }
    Err(InvocationError {
        class: ErrorClass::InvalidInput,
        message: "unsupported event: expected an EventBridge scheduled event or SQS training tasks"
            .into(),
    })
}

fn to_json(value: impl serde::Serialize) -> Result<Value, InvocationError> {
    serde_json::to_value(value).map_err(|e| InvocationError::new(ErrorClass::Permanent, &e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gras_shared::metrics::NoMetrics;
    use gras_shared::queue::NoQueue;
    use gras_shared::storage::Stores;
    use gras_shared::Config;
    use serde_json::json;

    use super::*;

    fn trainer() -> Trainer {
        let config =
            Config::from_toml("[metrics.G]\naggregation = \"sum\"\n", None).expect("config");
        Trainer::new(
            Stores::memory(),
            Arc::new(config),
            Arc::new(NoMetrics),
            "s3://lake",
        )
    }

    #[tokio::test]
    async fn events_of_another_shape_are_invalid_input() {
        let (trainer, queue) = (trainer(), NoQueue("train"));
        let err = handle(&trainer, &queue, json!({"hello": "world"}))
            .await
            .expect_err("not an event the function takes");
        assert_eq!(err.class, ErrorClass::InvalidInput);
        assert!(err.message.contains("unsupported event"), "{}", err.message);
        // SQS records whose fields have the wrong types.
        let bad = json!({"Records": [{"eventSource": "aws:sqs", "messageId": 7}]});
        let err = handle(&trainer, &queue, bad)
            .await
            .expect_err("malformed SQS event");
        assert_eq!(err.class, ErrorClass::InvalidInput);
    }

    #[tokio::test]
    async fn a_schedule_for_an_unknown_metric_is_invalid_input() {
        let (trainer, queue) = (trainer(), NoQueue("train"));
        let event = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                           "detail": {"metric": "NOPE"}});
        let err = handle(&trainer, &queue, event)
            .await
            .expect_err("unknown metric");
        assert_eq!(err.class, ErrorClass::InvalidInput, "{}", err.message);
    }
}
