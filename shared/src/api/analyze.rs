//! `POST /v1/analyze`: forecast now with the approved version, one series or a metric's
//! few, stored like the scheduled run's.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalyzeBody {
    metric: String,
    series: Option<String>,
    /// Any JSON number: JSON Schema's `integer` (the OpenAPI document's type) includes
    /// `24.0`, which a client that serializes numbers as doubles sends.
    horizon: Option<serde_json::Number>,
}

/// `n` as an i64 when it has no fractional part (`24` and `24.0`; `None` for `2.5` and for
/// values beyond the i64 range).
pub(super) fn whole_number(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // i64::MAX as f64 rounds up to 2^63, which is already out of range.
        (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
    })
}

pub(super) async fn analyze(
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
