//! The HTTP API: one axum [`Router`] served by the API Lambda (API Gateway HTTP API,
//! payload v2, through `lambda_http`) and, unchanged, by `gras serve` on the embedded
//! backend. Every response is JSON; every error has the shape of [`ApiError`].
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/health` | liveness |
//! | GET | `/` | the web dashboard (HTML) |
//! | GET | `/assets/{name}` | its scripts and styles, by content-hashed name |
//! | GET | `/v1/forecasts/{metric}?series=&from=&to=&limit=&cursor=` | forecast points (range query, paginated) |
//! | GET | `/v1/features/{metric}?series=` | the online features of a series |
//! | GET | `/v1/models/{metric}` | versions with status and backtest metrics |
//! | POST | `/v1/models/{metric}/{version}/approve` | approve a `PendingApproval` version (authorized) |
//! | POST | `/v1/models/{metric}/{version}/reject` | reject a `PendingApproval` version (authorized) |
//! | POST | `/v1/models/{metric}/rollback` | re-approve the version the approved one replaced (authorized) |
//! | POST | `/v1/analyze` | "analyze now": forecast with the approved model on the newest data (authorized) |
//! | GET | `/v1/alerts?metric=&series=&since=&limit=&cursor=` | alerts of a metric since a time |
//! | GET | `/v1/overview` | every metric and series: approved model, live accuracy, newest bucket, recent alerts |
//! | GET | `/v1/window/{metric}?series=&from=&to=` | one series' actuals, forecasts and alerts as columns (charts) |
//!
//! The OpenAPI document is `openapi.json` at the repository root; a test checks it against
//! [`ROUTES`].

mod alert_list;
mod analyze;
mod cursor;
mod dashboard;
mod error;
mod features;
mod forecasts;
mod models;
mod overview;
mod window;

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use alert_list::*;
use analyze::*;
pub use dashboard::CONTENT_SECURITY_POLICY;
pub use error::ApiError;
use features::*;
use forecasts::*;
use models::*;
use overview::*;
use window::*;
pub use window::{DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS};

use crate::alerts::{self, Alert, ALERTS};
use crate::config::Config;
use crate::ids::{MetricId, ModelVersion, SeriesKey};
use crate::online;
use crate::online::FEATURES;
use crate::pipeline::infer::{AnalyzeLimits, Inferencer};
use crate::pipeline::{system_clock, Clock};
use crate::predictions::{partition_key, Prediction, PREDICTIONS};
use crate::registry;
use crate::storage::{Attr, Query, SkRange, Stores};

/// Every route: method and path template, as in the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/"),
    ("GET", "/assets/{name}"),
    ("GET", "/v1/forecasts/{metric}"),
    ("GET", "/v1/features/{metric}"),
    ("GET", "/v1/features/{metric}/{series}"),
    ("GET", "/v1/models/{metric}"),
    ("POST", "/v1/models/{metric}/{version}/approve"),
    ("POST", "/v1/models/{metric}/{version}/reject"),
    ("POST", "/v1/models/{metric}/rollback"),
    ("POST", "/v1/analyze"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/window/{metric}"),
    ("GET", "/v1/overview"),
];

/// Largest page of forecast points or alerts.
pub const MAX_LIMIT: usize = 1000;
/// Default page of forecast points (a week of hours and then some).
pub const DEFAULT_FORECAST_LIMIT: usize = 200;
/// Default page of alerts.
pub const DEFAULT_ALERT_LIMIT: usize = 100;
/// Longest `from`..`to` range of a forecast query (the predictions' TTL is 90 days).
pub const MAX_RANGE_DAYS: i64 = 92;
/// Default look-back of `GET /v1/alerts` without `since`.
pub const DEFAULT_ALERTS_SINCE_HOURS: i64 = 24;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How mutating endpoints (approve, analyze) authorize their caller.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` must carry this token (`gras serve`, from
    /// `GRAS_API_TOKEN`). Compared in constant time.
    Bearer(String),
    /// API Gateway authorized the request (IAM); the Lambda adapter puts the caller's
    /// identity into the request as a [`Caller`] extension, which must be present.
    Gateway,
    /// Mutating endpoints are refused (no token configured).
    Disabled,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Gateway => f.write_str("Gateway"),
            Auth::Disabled => f.write_str("Disabled"),
        }
    }
}

/// The identity of a caller authorized by API Gateway (an IAM ARN), set by the Lambda adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    stores: Stores,
    config: Arc<Config>,
    inferencer: Inferencer,
    auth: Auth,
    limits: AnalyzeLimits,
    clock: Clock,
    open_reads: bool,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("open_reads", &self.open_reads)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The API over `stores`; "analyze now" runs `inferencer` (built on the same stores).
    pub fn new(stores: Stores, config: Arc<Config>, inferencer: Inferencer, auth: Auth) -> Self {
        Self {
            stores,
            config,
            inferencer,
            auth,
            limits: AnalyzeLimits::default(),
            clock: system_clock(),
            open_reads: false,
        }
    }

    /// With [`Auth::Bearer`], lets reads (every `GET /v1/...`) through without the token,
    /// as before 1.3.0; by default a configured token protects reads too. Mutating routes
    /// always need it. No effect with [`Auth::Gateway`] (API Gateway authorizes each
    /// route) or [`Auth::Disabled`] (reads are open, mutations refused).
    pub fn with_open_reads(mut self, open: bool) -> Self {
        self.open_reads = open;
        self
    }

    /// Replaces the bounds of "analyze now".
    pub fn with_limits(mut self, limits: AnalyzeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the clock (tests; the default look-back of alerts depends on it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn metric(&self, name: &str) -> Result<&MetricId, ApiError> {
        self.config
            .metric_by_name(name)
            .map(|(m, _)| m)
            .ok_or_else(|| ApiError::unknown_metric(name))
    }

    /// The caller's identity for a mutating request, or 401.
    fn authorize(&self, headers: &HeaderMap, caller: Option<&Caller>) -> Result<String, ApiError> {
        match &self.auth {
            Auth::Disabled => Err(ApiError::unauthorized(
                "mutating endpoints are disabled: start the server with GRAS_API_TOKEN set",
            )),
            Auth::Gateway => caller.map(|c| c.0.clone()).ok_or_else(|| {
                ApiError::unauthorized("the request carries no authorized identity")
            }),
            Auth::Bearer(token) => {
                let given = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| {
                        ApiError::unauthorized("missing header Authorization: Bearer <token>")
                    })?;
                if constant_time_eq(given.as_bytes(), token.as_bytes()) {
                    Ok("api-token".to_string())
                } else {
                    Err(ApiError::unauthorized("invalid token"))
                }
            }
        }
    }
}

/// Lets a read through when reads are open, or when the caller carries the token
/// ([`ApiState::with_open_reads`]); 401 otherwise.
async fn require_read(
    State(st): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let (Auth::Bearer(_), false) = (&st.auth, st.open_reads) {
        if let Err(e) = st.authorize(req.headers(), None) {
            return ApiError::unauthorized(format!(
                "{}: this server protects reads with its API token (start it with --open-reads to open them)",
                e.message
            ))
            .into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

/// The router with every route of [`ROUTES`], the dashboard (`/`, `/assets/{name}`), JSON
/// 404/405 fallbacks and a body limit. Reads need the token unless
/// [`ApiState::with_open_reads`] opened them.
pub fn router(state: ApiState) -> Router {
    let reads = Router::new()
        .route("/v1/forecasts/{metric}", get(forecasts))
        .route("/v1/features/{metric}", get(features))
        .route("/v1/features/{metric}/{series}", get(features_of_series))
        .route("/v1/models/{metric}", get(models))
        .route("/v1/alerts", get(list_alerts))
        .route("/v1/window/{metric}", get(window))
        .route("/v1/overview", get(overview))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_read,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/", get(dashboard::index))
        .route("/assets/{name}", get(dashboard::asset))
        .merge(reads)
        .route(
            "/v1/models/{metric}/{version}/approve",
            post(decide).layer(Extension(Decision::Approve)),
        )
        .route(
            "/v1/models/{metric}/{version}/reject",
            post(decide).layer(Extension(Decision::Reject)),
        )
        .route("/v1/models/{metric}/rollback", post(rollback))
        .route("/v1/analyze", post(analyze))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Parses the query string into `T` (unknown parameters are refused, so typos are seen).
fn parse_query<T: DeserializeOwned>(raw: Option<String>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or_default();
    serde_urlencoded::from_str(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
}

/// Parses a JSON body into `T`; an empty body is `{}`.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request(format!("unreadable body: {e}"))
        }
    })?;
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))
}

/// The `{metric}` of a route whose only path parameter it is, as a configured metric: every
/// such handler's first step, as an extractor (400 for a bad path, 404 `unknown_metric`).
struct ConfiguredMetric(MetricId);

impl axum::extract::FromRequestParts<ApiState> for ConfiguredMetric {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &ApiState,
    ) -> Result<Self, ApiError> {
        let name = path(Path::<String>::from_request_parts(parts, st).await)?;
        Ok(Self(st.metric(&name)?.clone()))
    }
}

fn series_key(s: Option<String>) -> Result<SeriesKey, ApiError> {
    SeriesKey::new(s.unwrap_or_else(|| SeriesKey::ALL.to_string()))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Parses an RFC 3339 time (a `+` turned into a space by form decoding is restored) and
/// normalizes it to the stored form `YYYY-MM-DDTHH:MM:SSZ`.
fn timestamp(name: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let parse = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc));
    parse(v)
        .or_else(|e| parse(&v.replace(' ', "+")).map_err(|_| e))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "{name}: {v:?} is not an RFC 3339 time such as 2024-01-29T14:00:00Z ({e})"
            ))
        })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn limit(v: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match v.unwrap_or(default) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {n}"
        ))),
    }
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secret", b""));
    }

    #[test]
    fn timestamps_normalize_and_form_decoding_is_undone() {
        let t = timestamp("from", "2024-01-29T15:00:00+01:00").expect("offset");
        assert_eq!(rfc3339(t), "2024-01-29T14:00:00Z");
        let t = timestamp("from", "2024-01-29T15:00:00 01:00").expect("plus as space");
        assert_eq!(rfc3339(t), "2024-01-29T14:00:00Z");
        let e = timestamp("from", "yesterday").expect_err("bad");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("from"), "{}", e.message);
    }
}
