//! `GET /v1/features/{metric}` and `/v1/features/{metric}/{series}`: a series' online
//! features (the newest silver row, totals included), whole numbers as JSON integers.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesParams {
    series: Option<String>,
}

/// Online item attributes that are not features.
pub(super) const NOT_FEATURES: &[&str] = &[
    online::attr::PK,
    online::attr::TS,
    online::attr::UPDATED_AT,
    online::attr::TTL,
    crate::contract::silver_col::METRIC_ID,
    crate::contract::silver_col::SERIES_KEY,
];

pub(super) fn attr_json(a: &Attr) -> Value {
    match a {
        Attr::N(n) => json!(n),
        Attr::Bool(b) => json!(b),
        Attr::S(s) => json!(s),
        Attr::Null => Value::Null,
        Attr::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect()),
        Attr::L(l) => Value::Array(l.iter().map(attr_json).collect()),
    }
}

pub(super) async fn features(
    State(st): State<ApiState>,
    ConfiguredMetric(metric): ConfiguredMetric,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p: SeriesParams = parse_query(raw)?;
    online_features(&st, metric, series_key(p.series)?).await
}

/// `GET /v1/features/{metric}/{series}`: [`features`] with the series in the path.
pub(super) async fn features_of_series(
    State(st): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (metric, series) = path(params)?;
    let _: Empty = parse_query(raw)?;
    let metric = st.metric(&metric)?.clone();
    online_features(&st, metric, series_key(Some(series))?).await
}

/// The online item of one series as the features response.
pub(super) async fn online_features(
    st: &ApiState,
    metric: MetricId,
    series: SeriesKey,
) -> Result<Response, ApiError> {
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
