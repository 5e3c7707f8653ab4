//! The training Lambda. One function, two event sources:
//! - an EventBridge schedule: plan one task per metric (and per shard of series) and send
//!   them to the training queue, so N metrics train as N parallel invocations;
//! - SQS messages from that queue (scheduled tasks and retrain requests alike): train each
//!   task, answering with a partial batch response.

mod handler;

use std::sync::Arc;

use gras_shared::lambda::{init_json_logs, required_env, AwsEnv, ENV_TRAIN_QUEUE_URL};
use gras_shared::pipeline::train::Trainer;
use gras_shared::queue::SqsQueue;
use gras_shared::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = Arc::new(Config::from_lambda_env()?);
    let env = AwsEnv::from_env().await?;
    let queue = SqsQueue::new(env.settings.sqs(), required_env(ENV_TRAIN_QUEUE_URL)?);
    let trainer = Trainer::new(
        env.stores.clone(),
        config,
        env.metrics.clone(),
        format!("s3://{}", env.bucket),
    );
    let (trainer, queue) = (&trainer, &queue);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handler::handle(trainer, queue, event.payload).await
        },
    ))
    .await
}
