//! The features Lambda: SQS messages carrying S3 notifications of new bronze objects in,
//! silver partitions and online features out, with a partial batch response.

mod handler;

use std::sync::Arc;

use gras_shared::lambda::{init_json_logs, AwsEnv};
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = Arc::new(Config::from_lambda_env()?);
    let env = AwsEnv::from_env().await?;
    let engine = FeatureEngine::new(env.stores.clone(), config);
    let env = &env;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handler::handle(engine, &env.bucket, &*env.metrics, event).await
    }))
    .await
}
