//! Fuzz target: HTTP requests through the API router ([`gras_shared::api::router`]), as
//! `gras serve` and the API Lambda serve them.
//!
//! The input is a small text form of a request, so that seeds can be written by hand and
//! from `events/apigw-*.json`, and mutations stay meaningful:
//!
//! ```text
//! POST /v1/models/G/{version}/approve?x=1
//! content-type: application/json
//! authorization: Bearer {token}
//! x-fuzz-caller: arn:aws:sts::123456789012:assumed-role/r/s
//!
//! {"reason": "..."}
//! ```
//!
//! The first line is the method and the request target (path and query); header lines
//! follow up to an empty line, then the body (any bytes). In the head, `{version}` stands for
//! the approved model version, `{pending}` for a version waiting for approval and `{token}`
//! for the bearer token of the server. The pseudo-header `x-fuzz-caller` sends the request to
//! the router as the API Lambda builds it (gateway authorization), with the value as the
//! IAM caller when it is not empty; without it the router authorizes by bearer token, as
//! `gras serve` does. A head that is not UTF-8 or a target that is not a URI is skipped: no
//! server could receive such a request.
//!
//! The router serves in-memory stores built once: generated silver, a trained and approved
//! model of `G` with forecasts and alerts, a pending version (a copy of the approved one,
//! artifact included), and `R` without a model.
//! Requests may change them (approve, analyze), as they would on a server.
//!
//! Oracle: no panic; no 5xx (the memory stores never fail, so a 5xx is a bug); every
//! response is `application/json`, its body JSON (but for `HEAD`), and every error body has
//! exactly the shape `{"error": {"code": "...", "message": "..."}}`.

#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::Router;
use chrono::{DateTime, Utc};
use gras_shared::api::{router, ApiState, Auth, Caller};
use gras_shared::artifact::load_artifact;
use gras_shared::contract::model_artifact_key;
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::pipeline::train::Trainer;
use gras_shared::queue::MemoryQueue;
use gras_shared::registry::{self, ModelStatus};
use gras_shared::storage::Stores;
use gras_shared::{Config, MetricId, ModelVersion};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The bearer token of the fuzzed server (`{token}` in the input).
const TOKEN: &str = "fuzz-token";
/// The version registered as waiting for approval (`{pending}` in the input).
const PENDING: &str = "v20990101000000-fuzz";
/// The pseudo-header that selects gateway authorization and carries the caller.
const CALLER_HEADER: &str = "x-fuzz-caller";

/// The runtime and the two routers over the same stores, built once.
struct Fixture {
    rt: Runtime,
    bearer: Router,
    gateway: Router,
    approved: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// The lake of `shared/tests/memory/api.rs`: features, training (auto-approved) and one inference
/// run for `G`, then a pending copy of the approved version; `R` has silver but no model.
fn build() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let text = "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\ninterval = 0.9\n\
                [metrics.R]\naggregation = \"sum\"\nhorizon = 24\n\
                [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n";
    let config = Arc::new(Config::from_toml(text, None).expect("config"));
    let stores = Stores::memory();
    let now = at("2024-01-19T06:00:00Z");
    let inferencer = |clock: DateTime<Utc>| {
        Inferencer::new(
            stores.clone(),
            config.clone(),
            Arc::new(NoMetrics),
            Arc::new(MemoryQueue::default()),
        )
        .with_clock(Arc::new(move || clock))
    };
    let approved = rt.block_on(async {
        gras_generate::generated_silver(&stores, &config, 18, 2, 3)
            .await
            .expect("generated silver");
        let trainer = Trainer::new(
            stores.clone(),
            config.clone(),
            Arc::new(NoMetrics),
            "s3://lake",
        );
        let task = trainer
            .plan(Some("G"), "fuzz")
            .await
            .expect("plan")
            .remove(0);
        let approved = trainer
            .train(&task)
            .await
            .expect("train")
            .registered
            .expect("registered")
            .version;
        inferencer(at("2024-01-19T03:00:00Z"))
            .run(Some("G"))
            .await
            .expect("inference");
        let g = MetricId::new("G").expect("metric");
        let mut pending = registry::get(&*stores.tables, &g, &approved)
            .await
            .expect("registry")
            .expect("approved record");
        pending.version = ModelVersion::new(PENDING).expect("version");
        pending.status = ModelStatus::PendingApproval;
        pending.artifact_uri = pending.artifact_uri.replace(approved.as_str(), PENDING);
        // Its artifact: the approved one under the new version, so that approving it and
        // then analyzing works as with a trained version.
        let mut artifact = load_artifact(&stores, &g, &approved)
            .await
            .expect("artifact");
        artifact.version = PENDING.to_string();
        let body = serde_json::to_vec(&artifact).expect("artifact JSON");
        stores
            .blobs
            .put(&model_artifact_key(&g, &pending.version), body.into())
            .await
            .expect("artifact copy");
        registry::register(&*stores.tables, &pending)
            .await
            .expect("register");
        approved.to_string()
    });
    let app = |auth: Auth| {
        router(
            ApiState::new(stores.clone(), config.clone(), inferencer(now), auth)
                .with_clock(Arc::new(move || now)),
        )
    };
    Fixture {
        rt,
        bearer: app(Auth::Bearer(TOKEN.to_string())),
        gateway: app(Auth::Gateway),
        approved,
    }
}

/// A request parsed from the input, and whether it goes through gateway authorization.
struct Parsed {
    request: Request<Body>,
    gateway: bool,
}

fn parse(data: &[u8], approved: &str) -> Option<Parsed> {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head)
        .ok()?
        .replace("{version}", approved)
        .replace("{pending}", PENDING)
        .replace("{token}", TOKEN);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (method, target) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let mut request = Request::builder().method(method).uri(target);
    let mut gateway = false;
    let mut caller = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim_start();
        if name.eq_ignore_ascii_case(CALLER_HEADER) {
            gateway = true;
            caller = (!value.is_empty()).then(|| Caller(value.to_string()));
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request = request.header(n, v);
        }
    }
    if let Some(c) = caller {
        request = request.extension(c);
    }
    let request = request.body(Body::from(body.to_vec())).ok()?;
    Some(Parsed { request, gateway })
}

/// Sends the request of `data` through the router and checks the response.
fn check(data: &[u8]) {
    let fx = FIXTURE.get_or_init(build);
    let Some(Parsed { request, gateway }) = parse(data, &fx.approved) else {
        return;
    };
    let head = request.method() == Method::HEAD;
    let what = format!("{} {}", request.method(), request.uri());
    // The dashboard's page and its assets are the only answers that are not JSON.
    let path = request.uri().path().to_string();
    let dashboard = matches!(*request.method(), Method::GET | Method::HEAD)
        && (path == "/" || path.starts_with("/assets/"));
    let app = if gateway { &fx.gateway } else { &fx.bearer };
    let (status, content_type, bytes) = fx.rt.block_on(async {
        let resp = app
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = resp.status();
        let content_type = resp.headers().get("content-type").cloned();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("a buffered body")
            .to_bytes();
        (status, content_type, bytes)
    });
    assert!(
        !status.is_server_error(),
        "{what}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    let content_type = content_type.as_ref().and_then(|v| v.to_str().ok());
    if dashboard && status.is_success() {
        assert!(
            content_type.is_some_and(|t| {
                ["text/html;", "text/javascript;", "text/css;"]
                    .iter()
                    .any(|p| t.starts_with(p))
            }),
            "{what}: {status}: a dashboard answer is HTML, a script or a style sheet: {content_type:?}"
        );
        return;
    }
    assert_eq!(
        content_type,
        Some("application/json"),
        "{what}: {status}: every response other than the dashboard's is JSON"
    );
    if head {
        return;
    }
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: {status}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    if !status.is_success() {
        let e = v
            .get("error")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{what}: {status}: no error object: {v}"));
        assert_eq!(e.len(), 2, "{what}: {v}");
        assert!(
            e.get("code").is_some_and(Value::is_string)
                && e.get("message").is_some_and(Value::is_string),
            "{what}: {v}"
        );
    }
}

fuzz_target!(
    init: {
        FIXTURE.get_or_init(build);
    },
    |data: &[u8]| check(data)
);
