//! The dashboard's routes on in-memory stores filled by the real pipeline: the page and its
//! content-hashed assets with their security headers, the data endpoints it draws from
//! (`/v1/overview`, `/v1/window/{metric}`, live accuracy in `/v1/models/{metric}`), and the
//! protection of reads by a configured token.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use gras_shared::api::{Auth, CONTENT_SECURITY_POLICY};
use gras_shared::online;
use gras_shared::predictions::PREDICTIONS;
use gras_shared::storage::{Attr, Query, Stores};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::api::{app, call, code, config, get, lake, protected_app, TOKEN};

/// A raw GET: status, headers and body bytes (for what is not JSON).
async fn raw(app: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn header<'a>(h: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn the_page_and_its_hashed_assets_are_served_with_a_strict_policy() {
    let config = config();
    let app = app(&Stores::memory(), &config, Auth::Bearer(TOKEN.into()));
    let (s, h, body) = raw(&app, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&h, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(&h, "cache-control"), "no-cache");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    let page = String::from_utf8(body).expect("utf-8");
    // No inline script or style: the policy would block them.
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    let assets: Vec<&str> = page
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert_eq!(assets.len(), 4, "{assets:?}");
    for a in assets {
        let (s, h, body) = raw(&app, a).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let want = if a.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(header(&h, "content-type").starts_with(want), "{a}");
        assert!(header(&h, "cache-control").contains("immutable"), "{a}");
        assert_eq!(
            header(&h, "content-security-policy"),
            CONTENT_SECURITY_POLICY
        );
        assert!(body.len() > 1000, "{a}: {} bytes", body.len());
    }
    // An old or made-up name is a JSON 404, not the page.
    let (s, v) = get(&app, "/assets/app.0000000000000000.js").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn a_configured_token_protects_reads_unless_they_are_opened() {
    let config = config();
    let stores = Stores::memory();
    let protected = protected_app(&stores, &config, Auth::Bearer(TOKEN.into()));
    for uri in [
        "/v1/overview",
        "/v1/models/G",
        "/v1/forecasts/G",
        "/v1/window/G",
        "/v1/features/G",
        "/v1/alerts?metric=G",
    ] {
        let (s, v) = get(&protected, uri).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{uri}"
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--open-reads")));
        let (s, v) = call(&protected, "GET", uri, Some("wrong"), "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}: {v}");
        let (s, v) = call(&protected, "GET", uri, Some(TOKEN), "").await;
        assert!(s != StatusCode::UNAUTHORIZED, "{uri}: {v}");
    }
    // The page, its assets and /health stay public (they hold no data).
    assert_eq!(raw(&protected, "/").await.0, StatusCode::OK);
    assert_eq!(get(&protected, "/health").await.0, StatusCode::OK);
    // Opened reads, and a server without a token, answer reads without one.
    for app in [
        app(&stores, &config, Auth::Bearer(TOKEN.into())),
        protected_app(&stores, &config, Auth::Disabled),
    ] {
        let (s, v) = get(&app, "/v1/overview").await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

#[tokio::test]
async fn the_overview_lists_models_live_accuracy_and_every_series() {
    let config = config();
    let (stores, version) = lake(&config).await;
    let app = app(&stores, &config, Auth::Disabled);
    let (s, v) = get(&app, "/v1/overview").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["generated_at"], "2024-01-19T06:00:00Z");
    let metrics = v["metrics"].as_array().expect("metrics");
    let names: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m["metric"].as_str())
        .collect();
    assert_eq!(names, ["G", "R"]);
    let (g, r) = (&metrics[0], &metrics[1]);
    assert_eq!(g["model"]["version"], version.as_str());
    assert_eq!(g["model"]["status"], "Approved");
    assert!(r["model"].is_null() && r["live"].is_null(), "{r}");
    assert_eq!(
        (g["unit"].as_str(), r["unit"].is_null()),
        (Some("orders"), true)
    );
    assert_eq!(
        (g["step_s"].as_i64(), g["horizon"].as_i64()),
        (Some(3600), Some(24))
    );
    let series: Vec<&str> = g["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["series"].as_str())
        .collect();
    assert_eq!(series, ["_all", "store-0001", "store-0002"]);
    // Each series' last value is its online item's, and its age is counted from the end of
    // its newest bucket to the clock.
    for s in g["series"].as_array().expect("series") {
        let key = s["series"].as_str().expect("key");
        let item = stores
            .tables
            .get(&online::FEATURES, &online::pk("G", key), "")
            .await
            .expect("get")
            .expect("online item");
        assert_eq!(s["last"].as_str(), item.get("ts").and_then(Attr::as_s));
        assert_eq!(
            s["last_value"].as_f64(),
            item.get("value").and_then(Attr::as_n)
        );
        let last =
            chrono::DateTime::parse_from_rfc3339(s["last"].as_str().expect("last")).expect("time");
        let want = (super::api::at("2024-01-19T06:00:00Z") - last.to_utc()).num_seconds() - 3600;
        assert_eq!(s["age_s"].as_i64(), Some(want), "{s}");
    }
}

#[tokio::test]
async fn a_window_holds_the_actuals_forecasts_and_quantiles_of_its_range() {
    let config = config();
    let (stores, _) = lake(&config).await;
    let app = app(&stores, &config, Auth::Disabled);
    let uri = "/v1/window/G?series=store-0001&from=2024-01-17T00:00:00Z&to=2024-01-20T00:00:00Z";
    let (s, v) = get(&app, uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["metric"].as_str(), v["series"].as_str()),
        (Some("G"), Some("store-0001"))
    );
    assert_eq!(v["unit"], "orders");
    let t: Vec<i64> = v["actual"]["t"]
        .as_array()
        .expect("t")
        .iter()
        .filter_map(|x| x.as_i64())
        .collect();
    assert_eq!(t.len(), v["actual"]["v"].as_array().expect("v").len());
    assert!(
        t.windows(2).all(|w| w[1] - w[0] == 3600),
        "hourly, ascending"
    );
    let (from, to) = (1_705_449_600, 1_705_708_800);
    assert!(t.iter().all(|x| (from..=to).contains(x)));
    assert!(t.len() >= 24, "{} actuals", t.len());
    // The forecasts are the stored predictions of the range, with aligned quantile columns.
    let q = Query::between(
        "G#store-0001",
        "2024-01-17T00:00:00Z",
        "2024-01-20T00:00:00Z",
    );
    let stored = stores
        .tables
        .query(&PREDICTIONS, &q)
        .await
        .expect("query")
        .items;
    let f = &v["forecast"];
    let n = f["t"].as_array().expect("t").len();
    assert_eq!(n, stored.len());
    assert_eq!(n, 24);
    for column in ["value", "lower", "upper"] {
        assert_eq!(f[column].as_array().expect("column").len(), n, "{column}");
    }
    let levels = f["q"].as_object().expect("q");
    assert_eq!(levels.len(), 7, "{levels:?}");
    for (level, c) in levels {
        let c = c.as_array().expect("column");
        assert_eq!(c.len(), n, "{level}");
    }
    let (lo, mid, hi) = (&f["q"]["0.05"][0], &f["q"]["0.5"][0], &f["q"]["0.95"][0]);
    assert!(
        lo.as_f64() <= mid.as_f64() && mid.as_f64() <= hi.as_f64(),
        "{f}"
    );
    assert!(f["model_version"].is_string());

    // Bad requests get a reason.
    for (uri, status) in [
        (
            "/v1/window/G?from=2024-01-20T00:00:00Z&to=2024-01-17T00:00:00Z",
            400,
        ),
        (
            "/v1/window/G?from=2023-01-01T00:00:00Z&to=2024-01-17T00:00:00Z",
            400,
        ),
        ("/v1/window/G?from=yesterday", 400),
        ("/v1/window/G?series=a%23b", 400),
        ("/v1/window/G?bogus=1", 400),
        ("/v1/window/Q", 404),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {v}");
    }
    // A series without data is an empty window, not an error.
    let (s, v) = get(&app, "/v1/window/G?series=nobody").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["actual"]["t"].as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn models_carry_the_live_accuracy_of_their_versions() {
    use gras_shared::drift::{LiveScore, OnlineState};
    use gras_shared::state::eval::put_eval;
    let config = config();
    let (stores, version) = lake(&config).await;
    let app = app(&stores, &config, Auth::Disabled);
    let g = gras_shared::MetricId::new("G").expect("id");
    let live = LiveScore {
        mape: 0.12,
        mase: 0.8,
        coverage: 0.875,
        n: 48,
    };
    let now = super::api::at("2024-01-20T06:00:00Z");
    put_eval(
        &*stores.tables,
        &g,
        &version,
        &live,
        &OnlineState::default(),
        now,
    )
    .await
    .expect("put");
    let (s, v) = get(&app, "/v1/models/G").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let row = &v["live"][&version];
    assert_eq!(
        (
            row["mase"].as_f64(),
            row["coverage"].as_f64(),
            row["n"].as_u64()
        ),
        (Some(0.8), Some(0.875), Some(48)),
        "{v}"
    );
    assert_eq!(v["live"].as_object().map(|m| m.len()), Some(1), "{v}");
    // The overview shows the approved version's row.
    let (_, o) = get(&app, "/v1/overview").await;
    assert_eq!(o["metrics"][0]["live"]["mase"].as_f64(), Some(0.8), "{o}");
}

#[tokio::test]
async fn a_rollback_through_the_api_needs_the_token_and_is_in_the_history() {
    let config = config();
    let (stores, first) = lake(&config).await;
    // A clock that ticks a second per reading: each decision has its own instant.
    let tick = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let clock = move || {
        let n = tick.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        super::api::at("2024-01-19T06:00:00Z") + chrono::Duration::seconds(n)
    };
    let state = super::api::state(&stores, &config, Auth::Bearer(TOKEN.into()));
    let app = gras_shared::api::router(
        state
            .with_open_reads(true)
            .with_clock(std::sync::Arc::new(clock)),
    );
    // Nothing to roll back to while the first version is the only one approved.
    let (s, v) = call(&app, "POST", "/v1/models/G/rollback", Some(TOKEN), "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "nothing_to_roll_back"),
        "{v}"
    );
    // A second version, approved by a person.
    let g = gras_shared::MetricId::new("G").expect("id");
    let mut second = gras_shared::registry::checks::pending("G", "v20990101000000-bbbbbb", 0.5);
    second.metric_id = g.clone();
    gras_shared::registry::register(&*stores.tables, &second)
        .await
        .expect("register");
    let uri = format!("/v1/models/G/{}/approve", second.version);
    let (s, v) = call(
        &app,
        "POST",
        &uri,
        Some(TOKEN),
        r#"{"reason":"looks better"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Without the token: refused, nothing changes.
    let (s, v) = call(&app, "POST", "/v1/models/G/rollback", None, "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "POST",
        "/v1/models/G/rollback",
        Some(TOKEN),
        r#"{"reason":"live MASE doubled"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["model"]["version"].as_str(),
            v["model"]["status"].as_str()
        ),
        (Some(first.as_str()), Some("Approved"))
    );
    let (_, m) = get(&app, "/v1/models/G").await;
    let d = m["decisions"].as_array().expect("decisions");
    // The API's decisions (the training's own, on the wall clock, are listed too).
    let d: Vec<&serde_json::Value> = d.iter().filter(|d| d["by"] == "api-token").collect();
    let seen: Vec<(&str, &str)> = d
        .iter()
        .filter_map(|d| Some((d["action"].as_str()?, d["version"].as_str()?)))
        .collect();
    let (one, two) = (first.as_str(), second.version.as_str());
    assert_eq!(
        seen,
        [
            ("rollback", one),
            ("archive", two),
            ("approve", two),
            ("archive", one)
        ],
        "{m}"
    );
    assert_eq!(
        (d[0]["by"].as_str(), d[0]["reason"].as_str()),
        (Some("api-token"), Some("live MASE doubled"))
    );
    assert_eq!(d[0]["replaced"], two);
    // Unknown metric and a bad body get their reasons.
    let (s, _) = call(&app, "POST", "/v1/models/Q/rollback", Some(TOKEN), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "POST",
        "/v1/models/G/rollback",
        Some(TOKEN),
        r#"{"why":1}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
