//! The HTTP router on in-memory stores filled by the real pipeline (generated bronze ->
//! features -> training -> inference): every endpoint, its error paths, authorization, the
//! one error shape, no leaked internals, and the OpenAPI document against the routes.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use gras_shared::alerts::{self, Alert, AlertKind};
use gras_shared::api::{router, ApiState, Auth, ROUTES};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::infer::{AnalyzeLimits, Inferencer};
use gras_shared::pipeline::train::Trainer;
use gras_shared::queue::MemoryQueue;
use gras_shared::registry::{self, ModelStatus};
use gras_shared::storage::{
    Condition, Item, Page, Query, Stores, TableError, TableSpec, TableStore, TxOp,
};
use gras_shared::{Config, MetricId, ModelVersion};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "s3cret-token";

pub(crate) fn config() -> Arc<Config> {
    let text =
        "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\ninterval = 0.9\nunit = \"orders\"\n\
                [metrics.R]\naggregation = \"sum\"\nhorizon = 24\n\
                [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n";
    Arc::new(Config::from_toml(text, None).expect("config"))
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// The lake after features, training (auto-approved) and one inference run for `G`; `R`
/// has silver data but no model.
pub(crate) async fn lake(config: &Arc<Config>) -> (Stores, String) {
    let stores = Stores::memory();
    gras_generate::generated_silver(&stores, config, 18, 2, 3)
        .await
        .expect("generated silver");
    let trainer = Trainer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        "s3://lake",
    );
    let task = trainer.plan(Some("G"), "t").await.expect("plan").remove(0);
    let version = trainer
        .train(&task)
        .await
        .expect("train")
        .registered
        .expect("registered")
        .version
        .to_string();
    let run = at("2024-01-19T03:00:00Z");
    inferencer(&stores, config)
        .with_clock(Arc::new(move || run))
        .run(Some("G"))
        .await
        .expect("inference");
    (stores, version)
}

fn inferencer(stores: &Stores, config: &Arc<Config>) -> Inferencer {
    Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(MemoryQueue::default()),
    )
}

/// The router with reads open (as `gras serve --open-reads`): the tests of the reads
/// themselves; [`protected_app`] tests their protection.
pub(crate) fn app(stores: &Stores, config: &Arc<Config>, auth: Auth) -> Router {
    router(state(stores, config, auth).with_open_reads(true))
}

/// The router as `gras serve` starts it: a configured token protects reads too.
pub(crate) fn protected_app(stores: &Stores, config: &Arc<Config>, auth: Auth) -> Router {
    router(state(stores, config, auth))
}

pub(crate) fn state(stores: &Stores, config: &Arc<Config>, auth: Auth) -> ApiState {
    let now = at("2024-01-19T06:00:00Z");
    ApiState::new(
        stores.clone(),
        config.clone(),
        inferencer(stores, config).with_clock(Arc::new(move || now)),
        auth,
    )
    .with_clock(Arc::new(move || now))
}

pub(crate) async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{method} {uri}: every response is JSON"
    );
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let v: Value = serde_json::from_slice(&bytes).expect("JSON body");
    if !status.is_success() {
        // The one error shape.
        let e = v["error"].as_object().expect("error object");
        assert_eq!(e.len(), 2, "{v}");
        assert!(e["code"].is_string() && e["message"].is_string(), "{v}");
    }
    (status, v)
}

pub(crate) async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, "GET", uri, None, "").await
}

pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn forecasts_are_range_queried_and_paginated_with_a_cursor() {
    let config = config();
    let (stores, version) = lake(&config).await;
    let app = app(&stores, &config, Auth::Disabled);

    let (s, v) = get(&app, "/health").await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (s, v) = get(&app, "/v1/forecasts/G?series=store-0001").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = v["points"].as_array().expect("points").clone();
    assert_eq!(all.len(), 24, "horizon 24");
    assert!(v["next_cursor"].is_null());
    assert!(all.iter().all(|p| p["model_version"] == version.as_str()));
    assert!(all
        .iter()
        .all(|p| p["lower"].as_f64() <= p["value"].as_f64()
            && p["value"].as_f64() <= p["upper"].as_f64()));
    // v2: every point carries its quantiles, keyed by level, the median on the point.
    for p in &all {
        let q = p["q"].as_object().expect("q");
        let keys: Vec<&str> = q.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 7, "{p}");
        assert!(keys.contains(&"0.05") && keys.contains(&"0.95"), "{p}");
        assert_eq!(q["0.5"].as_f64(), p["value"].as_f64(), "{p}");
    }
    let stamps: Vec<&str> = all
        .iter()
        .map(|p| p["timestamp"].as_str().expect("ts"))
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "ascending time");

    // Pages of 10 follow the cursor and concatenate to the whole range.
    let mut paged = Vec::new();
    let mut uri = "/v1/forecasts/G?series=store-0001&limit=10".to_string();
    loop {
        let (s, v) = get(&app, &uri).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        paged.extend(v["points"].as_array().expect("points").iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/forecasts/G?series=store-0001&limit=10&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);

    // A sub-range, inclusive at both ends; an offset time is normalized.
    let (from, to) = (stamps[3], stamps[8]);
    let (s, v) = get(
        &app,
        &format!("/v1/forecasts/G?series=store-0001&from={from}&to={to}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["points"].as_array().expect("points").len(), 6);
    let plus_one = at(from).with_timezone(&chrono::FixedOffset::east_opt(3600).expect("tz"));
    let encoded = plus_one.to_rfc3339().replace('+', "%2B");
    let (s, v) = get(
        &app,
        &format!("/v1/forecasts/G?series=store-0001&from={encoded}&to={to}"),
    )
    .await;
    assert_eq!(
        (s, v["points"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(6))
    );

    // The `_all` series is the default; a series without forecasts is an empty page.
    let (s, v) = get(&app, "/v1/forecasts/G").await;
    assert_eq!((s, v["series"].as_str()), (StatusCode::OK, Some("_all")));
    assert_eq!(v["points"].as_array().map(Vec::len), Some(24));
    let (s, v) = get(&app, "/v1/forecasts/G?series=nobody").await;
    assert_eq!(
        (s, v["points"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );

    // Errors.
    for (uri, status, want) in [
        ("/v1/forecasts/X", StatusCode::NOT_FOUND, "unknown_metric"),
        (
            "/v1/forecasts/G?from=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?from=2024-01-20T00:00:00Z&to=2024-01-19T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?from=2024-01-01T00:00:00Z&to=2024-06-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?limit=0",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?limit=5000",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?limit=ten",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?serie=store-0001",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?cursor=garbage",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?series=a%23b",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/forecasts/G?series=",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("/v1/nothing", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_eq!((s, code(&v)), (status, want), "{uri}: {v}");
    }
    let (s, v) = call(&app, "DELETE", "/v1/forecasts/G", None, "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn features_models_and_the_approval_workflow() {
    let config = config();
    let (stores, approved) = lake(&config).await;
    let app = app(&stores, &config, Auth::Bearer(TOKEN.into()));

    let (s, v) = get(&app, "/v1/features/G?series=store-0001").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["series"], "store-0001");
    assert!(
        v["ts"]
            .as_str()
            .is_some_and(|t| t.starts_with("2024-01-18T")),
        "{v}"
    );
    let f = v["features"].as_object().expect("features");
    for name in gras_shared::contract::silver_col::FLOAT_FEATURES {
        assert!(f.contains_key(name), "{name} in {v}");
    }
    assert!(f["is_imputed"].is_boolean(), "{v}");
    // Whole-number features are JSON integers (`23`, not `23.0`).
    for name in ["hour", "day_of_week"] {
        assert!(f[name].is_i64(), "{name} in {v}");
    }
    assert!(!f.contains_key("pk") && !f.contains_key("ttl"), "{v}");
    // v2: the 7- and 30-day totals in the same read (18 days of history: all defined).
    for name in gras_shared::contract::silver_col::TOTALS {
        assert!(
            f[name].as_f64().is_some_and(f64::is_finite),
            "{name} in {v}"
        );
    }
    let mean_720 = f["roll_mean_720h"].as_f64().unwrap_or_default();
    assert!(
        f["roll_sum_720h"].as_f64().unwrap_or_default() > mean_720,
        "{v}"
    );
    // The series in the path answers the same.
    let (s, by_path) = get(&app, "/v1/features/G/store-0001").await;
    assert_eq!((s, &by_path), (StatusCode::OK, &v));
    let (s, all) = get(&app, "/v1/features/G/_all").await;
    assert_eq!(
        (s, all["series"].as_str()),
        (StatusCode::OK, Some("_all")),
        "{all}"
    );
    let (s, e) = get(&app, "/v1/features/G/a%23b").await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{e}"
    );
    let (s, e) = get(&app, "/v1/features/G/store-0001?series=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, v) = get(&app, "/v1/features/G?series=nobody").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = get(&app, "/v1/features/Q").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "unknown_metric"));

    // A second, pending version.
    let g = MetricId::new("G").expect("id");
    let mut pending = registry::get(
        &*stores.tables,
        &g,
        &ModelVersion::new(approved.clone()).expect("v"),
    )
    .await
    .expect("get")
    .expect("record");
    pending.version = ModelVersion::new("v20990101000000-zzz").expect("v");
    pending.status = ModelStatus::PendingApproval;
    registry::register(&*stores.tables, &pending)
        .await
        .expect("register");

    let (s, v) = get(&app, "/v1/models/G").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let models = v["models"].as_array().expect("models");
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["version"], "v20990101000000-zzz", "newest first");
    assert_eq!(models[0]["status"], "PendingApproval");
    assert_eq!(models[1]["status"], "Approved");
    assert!(models[1]["metrics"]["mase"].is_number());

    let uri = "/v1/models/G/v20990101000000-zzz/approve";
    let (s, v) = call(&app, "POST", uri, None, "").await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = call(&app, "POST", uri, Some("wrong"), "").await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = call(&app, "POST", uri, Some(TOKEN), "{not json").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, v) = call(
        &app,
        "POST",
        uri,
        Some(TOKEN),
        r#"{"reason": "ok", "extra": 1}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let big = format!(r#"{{"reason": "{}"}}"#, "x".repeat(20_000));
    let (s, v) = call(&app, "POST", uri, Some(TOKEN), &big).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (s, v) = call(&app, "POST", "/v1/models/G/latest/approve", Some(TOKEN), "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/models/G/v20990101000000-nope/approve",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));

    let (s, v) = call(
        &app,
        "POST",
        uri,
        Some(TOKEN),
        r#"{"reason": "better backtest"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["model"]["status"], "Approved");
    assert_eq!(v["model"]["decision_reason"], "better backtest");
    let now_approved = registry::approved(&*stores.tables, &g)
        .await
        .expect("approved")
        .expect("one");
    assert_eq!(now_approved.version.as_str(), "v20990101000000-zzz");
    let old = registry::get(
        &*stores.tables,
        &g,
        &ModelVersion::new(approved).expect("v"),
    )
    .await
    .expect("get")
    .expect("record");
    assert_eq!(old.status, ModelStatus::Archived);
    // Approving it again is a conflict of state.
    let (s, v) = call(&app, "POST", uri, Some(TOKEN), "").await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "conflict"));
    // So is rejecting an approved version.
    let (s, v) = call(
        &app,
        "POST",
        "/v1/models/G/v20990101000000-zzz/reject",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "conflict"));

    // Rejecting a third, pending version: recorded with its reason, the approved one stays.
    pending.version = ModelVersion::new("v20990102000000-yyy").expect("v");
    registry::register(&*stores.tables, &pending)
        .await
        .expect("register");
    let reject = "/v1/models/G/v20990102000000-yyy/reject";
    let (s, v) = call(&app, "POST", reject, None, "").await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = call(&app, "POST", reject, Some(TOKEN), r#"{"why": "x"}"#).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/models/G/v20990101000000-nope/reject",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = call(&app, "POST", reject, Some(TOKEN), "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["model"]["status"], "Rejected");
    assert_eq!(v["model"]["decision_reason"], "rejected through the API");
    let rec = registry::get(
        &*stores.tables,
        &g,
        &ModelVersion::new("v20990102000000-yyy").expect("v"),
    )
    .await
    .expect("get")
    .expect("record");
    assert_eq!(rec.status, ModelStatus::Rejected);
    assert_eq!(
        registry::approved(&*stores.tables, &g)
            .await
            .expect("approved")
            .expect("one")
            .version
            .as_str(),
        "v20990101000000-zzz"
    );
    let (s, v) = call(&app, "POST", reject, Some(TOKEN), "").await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "conflict"));
    let (s, v) = call(
        &app,
        "POST",
        "/v1/models/G/v20990102000000-yyy/approve",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "conflict"),
        "a rejected version is never approved"
    );

    // Without a configured token, mutating endpoints are off.
    let off = self::app(&stores, &config, Auth::Disabled);
    // Behind API Gateway the identity must have been put there by the adapter.
    let gw = self::app(&stores, &config, Auth::Gateway);
    for app in [&off, &gw] {
        for u in [uri, reject] {
            let (s, v) = call(app, "POST", u, Some(TOKEN), "").await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{u}"
            );
        }
    }
}

#[tokio::test]
async fn analyze_now_forecasts_stores_and_is_bounded() {
    let config = config();
    let (stores, version) = lake(&config).await;
    let app = app(&stores, &config, Auth::Bearer(TOKEN.into()));

    let body = r#"{"metric": "G", "series": "store-0002", "horizon": 6}"#;
    let (s, v) = call(&app, "POST", "/v1/analyze", None, body).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = call(&app, "POST", "/v1/analyze", Some(TOKEN), body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["model_version"].as_str(), v["horizon"].as_i64()),
        (Some(version.as_str()), Some(6))
    );
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), 6);
    assert!(points.iter().all(|p| p["series"] == "store-0002"));
    assert!(points
        .iter()
        .all(|p| p["generated_at"] == "2024-01-19T06:00:00Z"));
    // Stored: the forecast endpoint now returns the new generation for those hours.
    let (s, f) = get(&app, "/v1/forecasts/G?series=store-0002").await;
    assert_eq!(s, StatusCode::OK);
    let fresh: Vec<&Value> = f["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| p["generated_at"] == "2024-01-19T06:00:00Z")
        .collect();
    assert_eq!(fresh.len(), 6, "{f}");
    assert_eq!(fresh[0]["timestamp"], points[0]["timestamp"]);

    // A whole number written as a double (as a client serializing numbers as doubles
    // sends it) is the same horizon: JSON Schema's `integer` includes it.
    let (s, v) = call(
        &app,
        "POST",
        "/v1/analyze",
        Some(TOKEN),
        r#"{"metric": "G", "series": "store-0002", "horizon": 6.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["horizon"].as_i64(), Some(6));
    assert_eq!(v["points"].as_array().map(Vec::len), Some(6));

    // Every series of the metric when none is named (3 here: two stores and `_all`).
    let (s, v) = call(
        &app,
        "POST",
        "/v1/analyze",
        Some(TOKEN),
        r#"{"metric": "G", "horizon": 2}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let series: BTreeSet<&str> = v["points"]
        .as_array()
        .expect("p")
        .iter()
        .filter_map(|p| p["series"].as_str())
        .collect();
    assert_eq!(series.len(), 3, "{v}");

    for (body, status, want) in [
        (
            r#"{"metric": "G", "horizon": 0}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "horizon": 100000}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "horizon": -3}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "horizon": "six"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "horizon": 2.5}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "horizon": 1e300}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "series": "nobody"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "series": "a#b"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "G", "colour": "red"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"series": "store-0001"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            r#"{"metric": "X"}"#,
            StatusCode::NOT_FOUND,
            "unknown_metric",
        ),
        (
            r#"{"metric": "R"}"#,
            StatusCode::CONFLICT,
            "no_approved_model",
        ),
        ("", StatusCode::BAD_REQUEST, "bad_request"),
        ("[1, 2]", StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        let (s, v) = call(&app, "POST", "/v1/analyze", Some(TOKEN), body).await;
        assert_eq!((s, code(&v)), (status, want), "{body}: {v}");
    }
    // The series bound.
    let now = at("2024-01-19T06:00:00Z");
    let tight = router(
        ApiState::new(
            stores.clone(),
            config.clone(),
            inferencer(&stores, &config).with_clock(Arc::new(move || now)),
            Auth::Bearer(TOKEN.into()),
        )
        .with_limits(AnalyzeLimits {
            max_horizon: 48,
            max_series: 2,
        }),
    );
    let (s, v) = call(
        &tight,
        "POST",
        "/v1/analyze",
        Some(TOKEN),
        r#"{"metric": "G"}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("3 series")),
        "{v}"
    );
    let (s, _) = call(
        &tight,
        "POST",
        "/v1/analyze",
        Some(TOKEN),
        r#"{"metric": "G", "horizon": 49}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

fn alert(series: &str, ts: &str, value: f64) -> Alert {
    Alert {
        metric_id: "G".into(),
        series_key: series.into(),
        ts: ts.into(),
        value,
        expected: Some(10.0),
        lower: Some(8.0),
        upper: Some(12.0),
        kind: AlertKind::OutsideInterval,
        model_version: Some("v20240101000000-aaa".into()),
    }
}

#[tokio::test]
async fn alerts_of_a_metric_or_a_series_since_a_time() {
    let config = config();
    let stores = Stores::memory();
    let list = vec![
        alert("a", "2024-01-18T01:00:00Z", 20.0),
        alert("b", "2024-01-18T02:00:00Z", 21.0),
        alert("a", "2024-01-18T03:00:00Z", 22.0),
        alert("_all", "2024-01-17T23:00:00Z", 23.0),
    ];
    let queue = MemoryQueue::default();
    let now = at("2024-01-18T04:00:00Z");
    alerts::deliver(&*stores.tables, &queue, &list, now)
        .await
        .expect("deliver");
    let app = app(&stores, &config, Auth::Disabled);

    let (s, v) = get(&app, "/v1/alerts?metric=G&since=2024-01-18T00:00:00Z").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got: Vec<Alert> = serde_json::from_value(v["alerts"].clone()).expect("alerts");
    assert_eq!(
        got,
        vec![list[0].clone(), list[1].clone(), list[2].clone()],
        "oldest first, since inclusive"
    );
    let (_, v) = get(&app, "/v1/alerts?metric=G&since=2024-01-17T00:00:00Z").await;
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(4));
    let (_, v) = get(
        &app,
        "/v1/alerts?metric=G&series=a&since=2024-01-17T00:00:00Z",
    )
    .await;
    let got: Vec<Alert> = serde_json::from_value(v["alerts"].clone()).expect("alerts");
    assert_eq!(got, vec![list[0].clone(), list[2].clone()]);
    // Paginated.
    let (_, v) = get(
        &app,
        "/v1/alerts?metric=G&since=2024-01-17T00:00:00Z&limit=3",
    )
    .await;
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(3));
    let cursor = v["next_cursor"].as_str().expect("more").to_string();
    let (_, v) = get(
        &app,
        &format!(
            "/v1/alerts?metric=G&since=2024-01-17T00:00:00Z&limit=3&cursor={}",
            cursor
        ),
    )
    .await;
    let got: Vec<Alert> = serde_json::from_value(v["alerts"].clone()).expect("alerts");
    assert_eq!(got, vec![list[2].clone()]);
    assert!(v["next_cursor"].is_null());
    // Default look-back: 24 hours before the clock (2024-01-19T06:00Z in `app`) = none here.
    let (_, v) = get(&app, "/v1/alerts?metric=G").await;
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(0));
    for (uri, status, want) in [
        ("/v1/alerts", StatusCode::BAD_REQUEST, "bad_request"),
        (
            "/v1/alerts?metric=Z",
            StatusCode::NOT_FOUND,
            "unknown_metric",
        ),
        (
            "/v1/alerts?metric=G&since=noon",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/alerts?metric=G&limit=0",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_eq!((s, code(&v)), (status, want), "{uri}: {v}");
    }
}

/// A table store whose every call fails with an internal detail that must not leak.
#[derive(Debug)]
struct Broken {
    retryable: bool,
}

impl Broken {
    fn err(&self) -> TableError {
        TableError::Backend {
            table: "gras_predictions",
            retryable: self.retryable,
            source: "connection to 10.1.2.3:5432 refused (password=hunter2)".into(),
        }
    }
}

#[async_trait]
impl TableStore for Broken {
    async fn get(&self, _: &TableSpec, _: &str, _: &str) -> Result<Option<Item>, TableError> {
        Err(self.err())
    }
    async fn put(&self, _: &TableSpec, _: Item, _: Condition) -> Result<(), TableError> {
        Err(self.err())
    }
    async fn delete(
        &self,
        _: &TableSpec,
        _: &str,
        _: &str,
        _: Condition,
    ) -> Result<(), TableError> {
        Err(self.err())
    }
    async fn batch_put(&self, _: &TableSpec, _: Vec<Item>) -> Result<(), TableError> {
        Err(self.err())
    }
    async fn batch_delete(
        &self,
        _: &TableSpec,
        _: Vec<(String, String)>,
    ) -> Result<(), TableError> {
        Err(self.err())
    }
    async fn query(&self, _: &TableSpec, _: &Query) -> Result<Page, TableError> {
        Err(self.err())
    }
    async fn transact(&self, _: Vec<TxOp>) -> Result<(), TableError> {
        Err(self.err())
    }
}

#[tokio::test]
async fn storage_failures_are_5xx_without_internal_details() {
    let config = config();
    for (retryable, status, want) in [
        (true, StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (false, StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    ] {
        let stores = Stores {
            blobs: Stores::memory().blobs,
            tables: Arc::new(Broken { retryable }),
        };
        let app = app(&stores, &config, Auth::Bearer(TOKEN.into()));
        for (method, uri, body) in [
            ("GET", "/v1/forecasts/G", ""),
            ("GET", "/v1/features/G", ""),
            ("GET", "/v1/models/G", ""),
            ("GET", "/v1/alerts?metric=G", ""),
            ("POST", "/v1/models/G/v20240101000000-a/approve", ""),
            ("POST", "/v1/models/G/v20240101000000-a/reject", ""),
            ("POST", "/v1/analyze", r#"{"metric": "G"}"#),
        ] {
            let (s, v) = call(&app, method, uri, Some(TOKEN), body).await;
            assert_eq!((s, code(&v)), (status, want), "{method} {uri}: {v}");
            let text = v.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("10.1.2.3"),
                "{text}"
            );
        }
    }
}

/// The OpenAPI document at the repository root describes exactly the routes the router serves.
#[tokio::test]
async fn openapi_document_matches_the_router() {
    let doc: Value =
        serde_json::from_str(include_str!("../../../openapi.json")).expect("openapi.json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routed);

    // Every listed route is served (no 404 "no route" or 405 for a concrete path).
    let config = config();
    let stores = Stores::memory();
    let app = app(&stores, &config, Auth::Disabled);
    for (method, path) in ROUTES {
        if !path.starts_with("/v1/") && *path != "/health" {
            // The dashboard's page and assets (not JSON; tests/memory/dashboard.rs).
            continue;
        }
        let uri = path
            .replace("{metric}", "G")
            .replace("{version}", "v20240101000000-a")
            .replace("{series}", "_all");
        let (s, v) = call(&app, method, &uri, None, "").await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            !(s == StatusCode::NOT_FOUND
                && v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route"))),
            "{method} {uri} is not routed: {v}"
        );
        // Every status the router answered is documented for the operation.
        let op = &doc["paths"][*path][method.to_lowercase()];
        assert!(
            op["responses"].get(s.as_str()).is_some(),
            "{method} {path}: {s} undocumented"
        );
    }
}
