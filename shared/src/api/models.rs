//! `GET /v1/models/{metric}`, `POST /v1/models/{metric}/{version}/approve|reject` and
//! `POST /v1/models/{metric}/rollback`: the registry's versions (with the live accuracy of
//! those whose forecasts met actuals and the decision history), a person's decision on a
//! pending one, and the return to the version the approved one replaced.

use super::*;

pub(super) async fn models(
    State(st): State<ApiState>,
    ConfiguredMetric(metric): ConfiguredMetric,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let _: Empty = parse_query(raw)?;
    let tables = &*st.stores.tables;
    let list = registry::list(tables, &metric).await?;
    let live: Map<String, Value> = crate::state::eval::list_evals(tables, &metric)
        .await?
        .into_iter()
        .map(|e| {
            let row = json!({
                "mase": e.mase, "mape": e.mape, "coverage": e.coverage, "n": e.n,
                "updated_at": e.updated_at,
            });
            (e.version, row)
        })
        .collect();
    let decisions = registry::decisions(tables, &metric).await?;
    Ok(Json(json!({
        "metric": metric.as_str(),
        "models": list,
        "live": live,
        "decisions": decisions,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionBody {
    reason: Option<String>,
}

/// A person's decision on a `PendingApproval` version (set per route).
#[derive(Debug, Clone, Copy)]
pub(super) enum Decision {
    Approve,
    Reject,
}

/// Approves or rejects a version for the authorized caller, recorded as `decided_by` with
/// the body's `reason`.
pub(super) async fn decide(
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

/// Rolls the metric back to the version its approved one replaced, for the authorized
/// caller, recorded with the body's `reason`.
pub(super) async fn rollback(
    State(st): State<ApiState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    ConfiguredMetric(metric): ConfiguredMetric,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = st.authorize(&headers, caller.as_ref().map(|Extension(c)| c))?;
    let b: DecisionBody = parse_body(body)?;
    let reason = b
        .reason
        .unwrap_or_else(|| "rolled back through the API".into());
    if reason.len() > 1024 {
        return Err(ApiError::bad_request("reason is longer than 1024 bytes"));
    }
    let rec = registry::rollback(&*st.stores.tables, &metric, &who, &reason, (st.clock)()).await?;
    Ok(Json(json!({ "metric": metric.as_str(), "model": rec })).into_response())
}
