//! The API's one error shape: `{"error": {"code": "...", "message": "..."}}` with the HTTP
//! status that classifies it. Client errors say what to fix; server errors are logged with
//! their source chain and answered without details.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::{error, warn};

use crate::pipeline::infer::InferError;
use crate::registry::RegistryError;
use crate::storage::TableError;

/// An error answered to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`bad_request`, `unknown_metric`, ...).
    pub code: &'static str,
    /// Human-readable reason; never contains internal details for 5xx.
    pub message: String,
}

impl ApiError {
    /// 400 with a reason.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 404 for a metric that is not configured.
    pub fn unknown_metric(metric: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_metric",
            format!("metric {metric:?} is not configured"),
        )
    }
    /// 404 for anything else that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 401: mutating endpoints need a caller identity.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 409: the resource's state does not allow the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 503: a dependency is unavailable or throttling; retrying may succeed.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a storage dependency is unavailable; retry later",
        )
    }
    /// 500 without details.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Logs a server-side error with its source chain; the caller gets 503 or 500.
fn server_side(e: &(dyn std::error::Error + 'static), retryable: bool) -> ApiError {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if retryable {
        warn!(error = %chain, "request failed on a retryable dependency error");
        ApiError::unavailable()
    } else {
        error!(error = %chain, "request failed");
        ApiError::internal()
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        let retryable = e.is_retryable();
        server_side(&e, retryable)
    }
}

impl From<crate::pipeline::history::HistoryError> for ApiError {
    fn from(e: crate::pipeline::history::HistoryError) -> Self {
        let retryable = e.is_retryable();
        server_side(&e, retryable)
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound { .. } => ApiError::not_found(e.to_string()),
            RegistryError::InvalidTransition { .. } => ApiError::conflict(e.to_string()),
            RegistryError::NothingToRollBack { .. } => {
                ApiError::new(StatusCode::CONFLICT, "nothing_to_roll_back", e.to_string())
            }
            RegistryError::Conflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "concurrent_change",
                format!("{e}; read the registry again and retry"),
            ),
            RegistryError::Table(t) => t.into(),
        }
    }
}

impl From<InferError> for ApiError {
    fn from(e: InferError) -> Self {
        match e {
            InferError::UnknownMetric(m) => ApiError::unknown_metric(&m),
            InferError::Invalid(m) => ApiError::bad_request(m),
            InferError::NoApprovedVersion(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_approved_model", e.to_string())
            }
            InferError::Registry(r) => r.into(),
            other => {
                let retryable = other.is_retryable();
                server_side(&other, retryable)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
