//! The HTTP API: one axum [`Router`] served by the API Lambda (API Gateway HTTP API,
//! payload v2, through `lambda_http`) and, unchanged, by `gras serve` on the embedded
//! backend. Every response is JSON; every error has the shape of [`ApiError`].
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/health` | liveness |
//! | GET | `/v1/forecasts/{metric}?series=&from=&to=&limit=&cursor=` | forecast points (range query, paginated) |
//! | GET | `/v1/features/{metric}?series=` | the online features of a series |
//! | GET | `/v1/models/{metric}` | versions with status and backtest metrics |
//! | POST | `/v1/models/{metric}/{version}/approve` | approve a `PendingApproval` version (authorized) |
//! | POST | `/v1/models/{metric}/{version}/reject` | reject a `PendingApproval` version (authorized) |
//! | POST | `/v1/analyze` | "analyze now": forecast with the approved model on the newest data (authorized) |
//! | GET | `/v1/alerts?metric=&series=&since=&limit=&cursor=` | alerts of a metric since a time |
//!
//! The OpenAPI document is `openapi.json` at the repository root; a test checks it against
//! [`ROUTES`].

mod cursor;
mod error;

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

pub use error::ApiError;

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
    ("GET", "/v1/forecasts/{metric}"),
    ("GET", "/v1/features/{metric}"),
    ("GET", "/v1/features/{metric}/{series}"),
    ("GET", "/v1/models/{metric}"),
    ("POST", "/v1/models/{metric}/{version}/approve"),
    ("POST", "/v1/models/{metric}/{version}/reject"),
    ("POST", "/v1/analyze"),
    ("GET", "/v1/alerts"),
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
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("auth", &self.auth)
            .field("limits", &self.limits)
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
        }
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

/// The router with every route of [`ROUTES`], JSON 404/405 fallbacks and a body limit.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/forecasts/{metric}", get(forecasts))
        .route("/v1/features/{metric}", get(features))
        .route("/v1/features/{metric}/{series}", get(features_of_series))
        .route("/v1/models/{metric}", get(models))
        .route(
            "/v1/models/{metric}/{version}/approve",
            post(decide).layer(Extension(Decision::Approve)),
        )
        .route(
            "/v1/models/{metric}/{version}/reject",
            post(decide).layer(Extension(Decision::Reject)),
        )
        .route("/v1/analyze", post(analyze))
        .route("/v1/alerts", get(list_alerts))
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
struct ForecastParams {
    series: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// One forecast point in responses (strings borrowed from the stored items when listed).
#[derive(Debug, Serialize)]
struct Point<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<String>,
    timestamp: Cow<'a, str>,
    value: f64,
    lower: f64,
    upper: f64,
    model_version: Cow<'a, str>,
    generated_at: Cow<'a, str>,
}

impl<'a> Point<'a> {
    fn of(p: &Prediction, with_series: bool) -> Self {
        Self {
            series: with_series.then(|| p.series.to_string()),
            timestamp: Cow::Owned(rfc3339(p.ts)),
            value: p.value,
            lower: p.lower,
            upper: p.upper,
            model_version: Cow::Owned(p.model_version.clone()),
            generated_at: Cow::Owned(rfc3339(p.generated_at)),
        }
    }

    /// Straight from a `gras_predictions` item (the stored strings are already RFC 3339);
    /// `None` for an item that is not a prediction. A NULL bound (non-finite) reads as NaN,
    /// which JSON shows as `null`.
    fn from_item(item: &'a crate::storage::Item) -> Option<Self> {
        use crate::predictions::attr;
        let s = |k: &str| item.get(k).and_then(Attr::as_s).map(Cow::Borrowed);
        let forecast = item.get(attr::FORECAST)?.as_m()?;
        let n = |k: &str| forecast.get(k).and_then(Attr::as_n).unwrap_or(f64::NAN);
        Some(Self {
            series: None,
            timestamp: s(attr::TIMESTAMP)?,
            value: n(attr::VALUE),
            lower: n(attr::LOWER),
            upper: n(attr::UPPER),
            model_version: s(attr::MODEL_VERSION)?,
            generated_at: s(attr::GENERATED_AT)?,
        })
    }
}

/// The body of `GET /v1/forecasts/{metric}`.
#[derive(Debug, Serialize)]
struct ForecastPage<'a> {
    metric: &'a str,
    series: &'a str,
    points: Vec<Point<'a>>,
    next_cursor: Option<String>,
}

async fn forecasts(
    State(st): State<ApiState>,
    metric: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let metric = path(metric)?;
    let metric = st.metric(&metric)?.clone();
    let p: ForecastParams = parse_query(raw)?;
    let series = series_key(p.series)?;
    let limit = limit(p.limit, DEFAULT_FORECAST_LIMIT)?;
    let from = p
        .from
        .as_deref()
        .map(|v| timestamp("from", v))
        .transpose()?;
    let to = p.to.as_deref().map(|v| timestamp("to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad_request("from is after to"));
        }
        if t - f > Duration::days(MAX_RANGE_DAYS) {
            return Err(ApiError::bad_request(format!(
                "the range from..to is longer than {MAX_RANGE_DAYS} days"
            )));
        }
    }
    let range = match (from, to) {
        (Some(f), Some(t)) => SkRange::Between(rfc3339(f), rfc3339(t)),
        (Some(f), None) => SkRange::From(rfc3339(f)),
        (None, Some(t)) => SkRange::Between(String::new(), rfc3339(t)),
        (None, None) => SkRange::All,
    };
    let start_after = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            cursor::decode(c)
                .and_then(|sk| DateTime::parse_from_rfc3339(&sk).ok())
                .map(|t| rfc3339(t.with_timezone(&Utc)))
                .ok_or_else(|| invalid_cursor(c))
        })
        .transpose()?;
    let q = Query {
        range,
        limit: Some(limit),
        start_after,
        ..Query::all(partition_key(&metric, &series))
    };
    let page = st.stores.tables.query(&PREDICTIONS, &q).await?;
    let points: Vec<Point> = page.items.iter().filter_map(Point::from_item).collect();
    Ok(Json(ForecastPage {
        metric: metric.as_str(),
        series: series.as_str(),
        points,
        next_cursor: page.last_sk.as_deref().map(cursor::encode),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    series: Option<String>,
}

/// Online item attributes that are not features.
const NOT_FEATURES: &[&str] = &[
    online::attr::PK,
    online::attr::TS,
    online::attr::UPDATED_AT,
    online::attr::TTL,
    crate::contract::silver_col::METRIC_ID,
    crate::contract::silver_col::SERIES_KEY,
];

fn attr_json(a: &Attr) -> Value {
    match a {
        Attr::N(n) => json!(n),
        Attr::Bool(b) => json!(b),
        Attr::S(s) => json!(s),
        Attr::Null => Value::Null,
        Attr::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect()),
        Attr::L(l) => Value::Array(l.iter().map(attr_json).collect()),
    }
}

async fn features(
    State(st): State<ApiState>,
    metric: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let metric = path(metric)?;
    let p: SeriesParams = parse_query(raw)?;
    online_features(&st, &metric, series_key(p.series)?).await
}

/// `GET /v1/features/{metric}/{series}`: [`features`] with the series in the path.
async fn features_of_series(
    State(st): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (metric, series) = path(params)?;
    let _: Empty = parse_query(raw)?;
    online_features(&st, &metric, series_key(Some(series))?).await
}

/// The online item of one series as the features response.
async fn online_features(
    st: &ApiState,
    metric: &str,
    series: SeriesKey,
) -> Result<Response, ApiError> {
    let metric = st.metric(metric)?.clone();
    let item = st
        .stores
        .tables
        .get(&FEATURES, &online::pk(metric.as_str(), series.as_str()), "")
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no online features for series {series} of metric {metric}"
            ))
        })?;
    let s = |k: &str| {
        item.get(k)
            .and_then(Attr::as_s)
            .unwrap_or_default()
            .to_string()
    };
    let features: Map<String, Value> = item
        .iter()
        .filter(|(k, _)| !NOT_FEATURES.contains(&k.as_str()))
        .map(|(k, v)| match v {
            // Integers as integers: `hour: 23`, not `23.0`.
            Attr::N(n) if online::INTEGER_ATTRS.contains(&k.as_str()) && n.fract() == 0.0 => {
                (k.clone(), json!(*n as i64))
            }
            _ => (k.clone(), attr_json(v)),
        })
        .collect();
    Ok(Json(json!({
        "metric": metric.as_str(),
        "series": series.as_str(),
        "ts": s(online::attr::TS),
        "updated_at": s(online::attr::UPDATED_AT),
        "features": features,
    }))
    .into_response())
}

async fn models(
    State(st): State<ApiState>,
    metric: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let metric = path(metric)?;
    let metric = st.metric(&metric)?.clone();
    let _: Empty = parse_query(raw)?;
    let list = registry::list(&*st.stores.tables, &metric).await?;
    Ok(Json(json!({ "metric": metric.as_str(), "models": list })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    reason: Option<String>,
}

/// A person's decision on a `PendingApproval` version (set per route).
#[derive(Debug, Clone, Copy)]
enum Decision {
    Approve,
    Reject,
}

/// Approves or rejects a version for the authorized caller, recorded as `decided_by` with
/// the body's `reason`.
async fn decide(
    Extension(decision): Extension<Decision>,
    State(st): State<ApiState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    params: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = st.authorize(&headers, caller.as_ref().map(|Extension(c)| c))?;
    let (metric, version) = path(params)?;
    let metric = st.metric(&metric)?.clone();
    let version = ModelVersion::new(version).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let b: DecisionBody = parse_body(body)?;
    let reason = b.reason.unwrap_or_else(|| {
        match decision {
            Decision::Approve => "approved through the API",
            Decision::Reject => "rejected through the API",
        }
        .into()
    });
    if reason.len() > 1024 {
        return Err(ApiError::bad_request("reason is longer than 1024 bytes"));
    }
    let (tables, now) = (&*st.stores.tables, (st.clock)());
    let rec = match decision {
        Decision::Approve => {
            registry::approve(tables, &metric, &version, &who, &reason, now).await?
        }
        Decision::Reject => registry::reject(tables, &metric, &version, &who, &reason, now).await?,
    };
    Ok(Json(json!({ "metric": metric.as_str(), "model": rec })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeBody {
    metric: String,
    series: Option<String>,
    /// Any JSON number: JSON Schema's `integer` (the OpenAPI document's type) includes
    /// `24.0`, which a client that serializes numbers as doubles sends.
    horizon: Option<serde_json::Number>,
}

/// `n` as an i64 when it has no fractional part (`24` and `24.0`; `None` for `2.5` and for
/// values beyond the i64 range).
fn whole_number(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // i64::MAX as f64 rounds up to 2^63, which is already out of range.
        (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
    })
}

async fn analyze(
    State(st): State<ApiState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    st.authorize(&headers, caller.as_ref().map(|Extension(c)| c))?;
    let b: AnalyzeBody = parse_body(body)?;
    let metric = st.metric(&b.metric)?.clone();
    let series = b
        .series
        .map(|s| SeriesKey::new(s).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    // The bounds are checked by `analyze`; only a negative horizon is refused here.
    let horizon = b
        .horizon
        .map(|h| {
            whole_number(&h)
                .and_then(|h| usize::try_from(h).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "horizon must be a whole number of steps between 1 and {}, got {h}",
                        st.limits.max_horizon
                    ))
                })
        })
        .transpose()?;
    let a = st
        .inferencer
        .analyze(metric.as_str(), series.as_ref(), horizon, st.limits)
        .await?;
    let points: Vec<Point> = a.predictions.iter().map(|p| Point::of(p, true)).collect();
    let horizon = horizon.unwrap_or_else(|| {
        st.config
            .metric_by_name(metric.as_str())
            .map_or(0, |(_, c)| c.horizon as usize)
    });
    Ok(Json(json!({
        "metric": metric.as_str(),
        "model_version": a.version,
        "horizon": horizon,
        "points": points,
        "skipped": a.skipped,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertParams {
    metric: Option<String>,
    series: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A 400 for a `cursor` that no page gave.
fn invalid_cursor(c: &str) -> ApiError {
    let shown: String = c.chars().take(40).collect();
    ApiError::bad_request(format!(
        "invalid cursor {shown:?}: pass the next_cursor of the previous page unchanged"
    ))
}

async fn list_alerts(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p: AlertParams = parse_query(raw)?;
    let metric = p
        .metric
        .ok_or_else(|| ApiError::bad_request("the query parameter metric is required"))?;
    let metric = st.metric(&metric)?.clone();
    let limit = limit(p.limit, DEFAULT_ALERT_LIMIT)?;
    let since = match p.since.as_deref() {
        Some(v) => timestamp("since", v)?,
        None => (st.clock)() - Duration::hours(DEFAULT_ALERTS_SINCE_HOURS),
    };
    let cursor = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| cursor::decode(c).ok_or_else(|| invalid_cursor(c)))
        .transpose()?;
    let (table, pk) = match &p.series {
        Some(s) => {
            let s = series_key(Some(s.clone()))?;
            (ALERTS, partition_key(&metric, &s))
        }
        None => (crate::state::STATE, alerts::index_pk(metric.as_str())),
    };
    let q = Query {
        range: SkRange::From(rfc3339(since)),
        limit: Some(limit),
        start_after: cursor,
        ..Query::all(pk)
    };
    let page = st.stores.tables.query(&table, &q).await?;
    let list: Vec<Alert> = page.items.iter().filter_map(alerts::from_item).collect();
    Ok(Json(json!({
        "metric": metric.as_str(),
        "since": rfc3339(since),
        "alerts": list,
        "next_cursor": page.last_sk.as_deref().map(cursor::encode),
    }))
    .into_response())
}

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
