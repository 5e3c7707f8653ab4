//! The API Lambda: reads the typed configuration and builds the AWS clients once, then
//! serves the shared router for every API Gateway (HTTP API, payload v2) request.

use std::sync::Arc;

use gras_shared::api::{ApiState, Auth};
use gras_shared::lambda::{init_json_logs, AwsEnv};
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::queue::NoQueue;
use gras_shared::Config;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = Arc::new(Config::from_lambda_env()?);
    let env = AwsEnv::from_env().await?;
    let inferencer = Inferencer::new(
        env.stores.clone(),
        config.clone(),
        env.metrics.clone(),
        // "Analyze now" forecasts; alerts stay with the scheduled inference.
        Arc::new(NoQueue("alerts")),
    );
    let state = ApiState::new(env.stores.clone(), config, inferencer, Auth::Gateway);
    lambda_http::run(api::app(state)).await
}
