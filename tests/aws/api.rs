//! The API Lambda's handler against moto: data written by the features, training and
//! inference use cases on S3 and DynamoDB, then every `events/apigw-*.json` request (API
//! Gateway HTTP API, payload v2, as `lambda_http` decodes it) through the Lambda's router,
//! with the IAM identity of the request context authorizing the POST routes.

use std::sync::Arc;

use api::app;
use aws_sdk_s3::primitives::ByteStream;
use chrono::NaiveDate;
use gras_generate::{generate, GenSpec};
use gras_integration_tests::{Fixture, Moto};
use gras_shared::alerts::{self, Alert, AlertKind, ALERTS};
use gras_shared::api::{ApiState, Auth};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::pipeline::train::Trainer;
use gras_shared::predictions::PREDICTIONS;
use gras_shared::queue::{MemoryQueue, NoQueue};
use gras_shared::registry::{self, ModelStatus, MODELS};
use gras_shared::{online, state, Config, MetricId, ModelVersion};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn config() -> Arc<Config> {
    let text = "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\n\
                [training]\nwindow_days = 18\nbacktest_windows = 3\n\
                [approval]\ncoverage_tolerance = 1.0\n";
    Arc::new(Config::from_toml(text, None).expect("config"))
}

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn invoke(app: &axum::Router, name: &str) -> (u16, Value) {
    let resp = app.clone().oneshot(event(name)).await.expect("infallible");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lambda_serves_what_the_pipeline_wrote_to_s3_and_dynamodb() {
    let moto = Moto::start();
    let fx = Fixture::new(
        &moto,
        "api",
        &[state::STATE, online::FEATURES, MODELS, PREDICTIONS, ALERTS],
        3,
    )
    .await;
    let config = config();
    let spec = GenSpec {
        start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        days: 18,
        series: 2,
        seed: 5,
    };
    for obj in generate(&spec, &config) {
        let obj = obj.expect("generate");
        fx.s3
            .put_object()
            .bucket(&fx.bucket)
            .key(&obj.key)
            .body(ByteStream::from(obj.body))
            .send()
            .await
            .expect("put");
    }
    FeatureEngine::new(fx.stores.clone(), config.clone())
        .batch()
        .await
        .expect("silver");
    let trainer = Trainer::new(
        fx.stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        format!("s3://{}", fx.bucket),
    );
    let task = trainer.plan(Some("G"), "t").await.expect("plan").remove(0);
    let approved = trainer
        .train(&task)
        .await
        .expect("train")
        .registered
        .expect("registered")
        .version;
    let reports = Inferencer::new(
        fx.stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(MemoryQueue::default()),
    )
    .run(Some("G"))
    .await
    .expect("inference");
    assert_eq!(reports[0].predictions, 3 * 24);
    let alert = Alert {
        metric_id: "G".into(),
        series_key: "store-0002".into(),
        ts: "2024-01-18T05:00:00Z".into(),
        value: 1e6,
        expected: Some(10.0),
        lower: Some(5.0),
        upper: Some(15.0),
        kind: AlertKind::OutsideInterval,
        model_version: Some(approved.to_string()),
    };
    alerts::deliver(
        &*fx.stores.tables,
        &MemoryQueue::default(),
        std::slice::from_ref(&alert),
        chrono::Utc::now(),
    )
    .await
    .expect("alert");

    let inferencer = Inferencer::new(
        fx.stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(NoQueue("alerts")),
    );
    let app = app(ApiState::new(
        fx.stores.clone(),
        config.clone(),
        inferencer,
        Auth::Gateway,
    ));

    let (s, v) = invoke(&app, "apigw-get-health").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));

    let (s, v) = invoke(&app, "apigw-get-forecasts").await;
    assert_eq!(s, 200, "{v}");
    let points = v["points"].as_array().expect("points");
    assert!(!points.is_empty() && points.len() <= 6, "{v}");
    for p in points {
        let t = p["timestamp"].as_str().expect("ts");
        assert!(
            ("2024-01-19T00:00:00Z"..="2024-01-19T05:00:00Z").contains(&t),
            "{t}"
        );
        assert_eq!(p["model_version"], approved.as_str());
    }

    let (s, v) = invoke(&app, "apigw-get-features").await;
    assert_eq!((s, v["series"].as_str()), (200, Some("store-0001")), "{v}");
    assert!(v["features"]["lag_24h"].is_number() || v["features"]["lag_24h"].is_null());
    assert!(v["features"]["hour"].is_number(), "{v}");

    // A pending version named as in the approve event.
    let g = MetricId::new("G").expect("id");
    let mut pending = registry::get(&*fx.stores.tables, &g, &approved)
        .await
        .expect("get")
        .expect("record");
    pending.version = ModelVersion::new("v20240119000000-pending1").expect("v");
    pending.status = ModelStatus::PendingApproval;
    registry::register(&*fx.stores.tables, &pending)
        .await
        .expect("register");
    let body = fx
        .stores
        .blobs
        .get(&gras_shared::contract::model_artifact_key(&g, &approved))
        .await
        .expect("artifact");
    fx.stores
        .blobs
        .put(
            &gras_shared::contract::model_artifact_key(&g, &pending.version),
            body,
        )
        .await
        .expect("copy artifact");
    let (s, v) = invoke(&app, "apigw-get-models").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["models"].as_array().map(Vec::len), Some(2));

    let (s, v) = invoke(&app, "apigw-post-approve").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model"]["status"], "Approved");
    assert_eq!(
        v["model"]["decided_by"],
        "arn:aws:sts::123456789012:assumed-role/gras-decision-service/decision-service",
        "the IAM caller is recorded"
    );
    let now = registry::approved(&*fx.stores.tables, &g)
        .await
        .expect("approved")
        .expect("one");
    assert_eq!(now.version.as_str(), "v20240119000000-pending1");
    let (s, v) = invoke(&app, "apigw-post-approve").await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")));

    // A second pending version, named as in the reject event: rejected, the approved one stays.
    pending.version = ModelVersion::new("v20240120000000-pending2").expect("v");
    registry::register(&*fx.stores.tables, &pending)
        .await
        .expect("register");
    let (s, v) = invoke(&app, "apigw-post-reject").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model"]["status"], "Rejected");
    assert_eq!(
        v["model"]["decision_reason"],
        "backtest MASE worse than the approved version"
    );
    assert_eq!(
        v["model"]["decided_by"],
        "arn:aws:sts::123456789012:assumed-role/gras-decision-service/decision-service"
    );
    let still = registry::approved(&*fx.stores.tables, &g)
        .await
        .expect("approved")
        .expect("one");
    assert_eq!(still.version.as_str(), "v20240119000000-pending1");
    let (s, v) = invoke(&app, "apigw-post-reject").await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")));

    // The newly approved version has the artifact of the copied record: analyze with it.
    let (s, v) = invoke(&app, "apigw-post-analyze-unauthorized").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (s, v) = invoke(&app, "apigw-post-analyze").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["points"].as_array().map(Vec::len), Some(6));
    assert!(v["points"]
        .as_array()
        .expect("points")
        .iter()
        .all(|p| p["model_version"] == "v20240119000000-pending1"));
    let returned: Vec<&str> = v["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["timestamp"].as_str())
        .collect();
    let q = gras_shared::storage::Query::all("G#store-0001");
    let items = gras_shared::storage::table::query_all(&*fx.stores.tables, &PREDICTIONS, &q)
        .await
        .expect("query");
    // The scheduled run used the first version; the analyzed hours now hold the new one's.
    let stored: Vec<&str> = items
        .iter()
        .filter(|i| {
            i.get("model_version").and_then(|a| a.as_s()) == Some("v20240119000000-pending1")
        })
        .filter_map(|i| i.get("timestamp").and_then(|a| a.as_s()))
        .collect();
    let fresh = stored.len();
    assert_eq!(stored, returned, "analyze stored its forecast in DynamoDB");
    assert_eq!(fresh, 6, "analyze stored its forecast in DynamoDB");

    let (s, v) = invoke(&app, "apigw-get-alerts").await;
    assert_eq!(s, 200, "{v}");
    let got: Vec<Alert> = serde_json::from_value(v["alerts"].clone()).expect("alerts");
    assert_eq!(got, vec![alert]);
}
