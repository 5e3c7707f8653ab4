//! `GET /v1/alerts`: a metric's (or one series') alerts since a time, oldest first, paged
//! with URL-safe cursors.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertParams {
    metric: Option<String>,
    series: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A 400 for a `cursor` that no page gave.
pub(super) fn invalid_cursor(c: &str) -> ApiError {
    let shown: String = c.chars().take(40).collect();
    ApiError::bad_request(format!(
        "invalid cursor {shown:?}: pass the next_cursor of the previous page unchanged"
    ))
}

pub(super) async fn list_alerts(
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
