//! The inference Lambda, on an EventBridge schedule: forecasts every metric (or
//! `detail.metric`) with its approved version into `gras_predictions` and
//! `predictions/metric=<M>/date=<YYYYMMDD>/data.parquet` (contract section 7), after
//! checking the newest actuals: alerts (section 8), live accuracy, and drift, which sends a
//! retrain request to the training queue at most once per cool-down.

use std::sync::Arc;

use gras_shared::lambda::{
    init_json_logs, required_env, AwsEnv, ErrorClass, InvocationError, ENV_TRAIN_QUEUE_URL,
};
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::queue::SqsQueue;
use gras_shared::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

/// Environment variable: URL of the alerts queue (contract section 8).
pub const ENV_ALERTS_QUEUE_URL: &str = "GRAS_ALERTS_QUEUE_URL";

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = Arc::new(Config::from_lambda_env()?);
    let env = AwsEnv::from_env().await?;
    let alerts = SqsQueue::new(env.settings.sqs(), required_env(ENV_ALERTS_QUEUE_URL)?);
    let inferencer = Inferencer::new(
        env.stores.clone(),
        config,
        env.metrics.clone(),
        Arc::new(alerts),
    )
    .with_retrain_queue(Arc::new(SqsQueue::new(
        env.settings.sqs(),
        required_env(ENV_TRAIN_QUEUE_URL)?,
    )));
    let inferencer = &inferencer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let only = event.payload["detail"]["metric"].as_str();
        // Failures keep their class (Lambda's errorType): retryable, invalid input or
        // permanent, not one boxed error.
        let reports = inferencer
            .run(only)
            .await
            .map_err(|e| InvocationError::classified(&e, e.is_invalid_input(), e.is_retryable()))?;
        serde_json::to_value(reports).map_err(|e| InvocationError::new(ErrorClass::Permanent, &e))
    }))
    .await
}
