//! The inference Lambda, on an EventBridge schedule: forecasts every metric (or
//! `detail.metric`) with its approved version into `gras_predictions` and
//! `predictions/metric=<M>/date=<YYYYMMDD>/data.parquet` (contract section 7).

use std::sync::Arc;

use gras_shared::lambda::{init_json_logs, AwsEnv};
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = Arc::new(Config::from_lambda_env()?);
    let env = AwsEnv::from_env().await?;
    let inferencer = Inferencer::new(env.stores.clone(), config, env.metrics.clone());
    let inferencer = &inferencer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let only = event.payload["detail"]["metric"].as_str();
        let reports = inferencer.run(only).await?;
        Ok::<Value, Error>(serde_json::to_value(reports)?)
    }))
    .await
}
