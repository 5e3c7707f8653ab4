//! In-process latency of the API router on the embedded backend (issue: API Lambda).
//!
//! `cargo bench -p gras-shared --features testkit,api --bench api`
//! Builds a lake in a temporary folder (generated bronze -> features -> training ->
//! inference, SQLite tables), adds 90 days of older hourly forecasts to the queried series
//! (what the predictions table holds at its TTL), then sends requests through the router as
//! `gras serve` and the API Lambda do (no network): `GET /v1/forecasts` of one day (24
//! points), `GET /v1/features`, and `GET /health` as the baseline (routing and JSON only).
//! Prints p50/p99/max per endpoint for each of several runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Utc};
use gras_shared::api::{router, ApiState, Auth};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::pipeline::train::Trainer;
use gras_shared::predictions::{Prediction, PREDICTIONS};
use gras_shared::queue::NoQueue;
use gras_shared::storage::Stores;
use gras_shared::{Config, MetricId, SeriesKey};
use http_body_util::BodyExt;
use tower::ServiceExt;

const REQUESTS: usize = 20_000;
const RUNS: usize = 5;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Arc::new(Config::gras_defaults());
    let stores = Stores::local(dir.path()).expect("stores");
    gras_generate::generated_silver(&stores, &config, 30, 20, 7)
        .await
        .expect("generated silver");
    let trainer = Trainer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        "file:///lake",
    );
    for task in trainer.plan(Some("G"), "bench").await.expect("plan") {
        trainer.train(&task).await.expect("train");
    }
    let inferencer = Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(NoQueue("alerts")),
    );
    inferencer.run(Some("G")).await.expect("infer");
    // 90 days of older forecast hours for the queried series.
    let (g, s) = (
        MetricId::new("G").expect("id"),
        SeriesKey::new("store-0001").expect("key"),
    );
    let t0: DateTime<Utc> = "2023-10-01T00:00:00Z".parse().expect("t0");
    let old: Vec<_> = (0..90 * 24)
        .map(|h| {
            Prediction {
                metric: g.clone(),
                series: s.clone(),
                ts: t0 + chrono::Duration::hours(h),
                value: 10.0,
                lower: 8.0,
                upper: 12.0,
                quantiles: Vec::new(),
                model_version: "v20231001000000-old".into(),
                generated_at: t0,
            }
            .to_item()
        })
        .collect();
    stores
        .tables
        .batch_put(&PREDICTIONS, old)
        .await
        .expect("old");

    let app = router(ApiState::new(
        stores.clone(),
        config,
        inferencer,
        Auth::Disabled,
    ));
    let day = "from=2024-01-31T00:00:00Z&to=2024-01-31T23:00:00Z";
    let cases = [
        ("GET /health (baseline)", "/health".to_string()),
        (
            "GET /v1/features/G",
            "/v1/features/G?series=store-0001".to_string(),
        ),
        (
            "GET /v1/forecasts/G (24 points)",
            format!("/v1/forecasts/G?series=store-0001&{day}"),
        ),
    ];
    // The forecast day must hold 24 points, or the figure means nothing.
    let resp = app
        .clone()
        .oneshot(Request::get(&cases[2].1).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["points"].as_array().map(Vec::len), Some(24), "{v}");

    println!("{REQUESTS} sequential requests per endpoint and run, {RUNS} runs");
    for run in 1..=RUNS {
        for (name, uri) in &cases {
            let mut lat = Vec::with_capacity(REQUESTS);
            for _ in 0..REQUESTS {
                let req = Request::get(uri.as_str()).body(Body::empty()).expect("req");
                let start = Instant::now();
                let resp = app.clone().oneshot(req).await.expect("resp");
                assert!(resp.status().is_success());
                let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                lat.push(start.elapsed());
                std::hint::black_box(bytes);
            }
            lat.sort();
            println!(
                "run {run} {name:<34} p50 {:>7.1} us  p99 {:>7.1} us  max {:>8.1} us",
                pct(&lat, 0.50).as_secs_f64() * 1e6,
                pct(&lat, 0.99).as_secs_f64() * 1e6,
                lat[lat.len() - 1].as_secs_f64() * 1e6,
            );
        }
    }
}
