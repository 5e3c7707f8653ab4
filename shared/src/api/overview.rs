//! `GET /v1/overview`: every configured metric with its approved model (backtest and live
//! accuracy), its pending versions, and every series with its newest bucket, last value and
//! recent alerts: what the dashboard's first page shows, in one request.

use super::*;
use crate::state::eval::get_eval;
use crate::state::load_extents;

/// How far back from a series' newest bucket its alerts are counted.
pub const RECENT_ALERTS_HOURS: i64 = 24;

/// One series in the overview.
#[derive(Debug, Serialize)]
pub(super) struct SeriesOverview {
    series: String,
    /// First and newest bucket silver knows of (RFC 3339).
    first: String,
    last: String,
    /// Seconds from the newest bucket's end to now (negative: a bucket in the future).
    age_s: i64,
    /// The newest bucket's value, from the online store (`null`: missing or not stored).
    last_value: Option<f64>,
    /// Alerts in the [`RECENT_ALERTS_HOURS`] up to the newest bucket.
    recent_alerts: u64,
}

/// Live accuracy of the approved version.
#[derive(Debug, Serialize)]
pub(super) struct Live {
    mase: Option<f64>,
    mape: Option<f64>,
    coverage: Option<f64>,
    n: Option<u64>,
    updated_at: String,
}

/// One metric in the overview.
#[derive(Debug, Serialize)]
pub(super) struct MetricOverview {
    metric: String,
    aggregation: crate::config::Aggregation,
    step_s: i64,
    horizon: u32,
    interval: f64,
    /// The metric's configured unit, `null` when none.
    unit: Option<String>,
    /// The approved version, `null` when none.
    model: Option<registry::ModelRecord>,
    /// Its live accuracy, `null` before its forecasts met actuals.
    live: Option<Live>,
    /// Versions waiting for a decision.
    pending: u64,
    series: Vec<SeriesOverview>,
}

pub(super) async fn overview(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let _: Empty = parse_query(raw)?;
    let now = (st.clock)();
    let mut metrics = Vec::new();
    for (metric, cfg) in &st.config.metrics {
        metrics.push(metric_overview(&st, metric, cfg, now).await?);
    }
    Ok(Json(json!({ "generated_at": rfc3339(now), "metrics": metrics })).into_response())
}

async fn metric_overview(
    st: &ApiState,
    metric: &MetricId,
    cfg: &crate::config::MetricConfig,
    now: DateTime<Utc>,
) -> Result<MetricOverview, ApiError> {
    let tables = &*st.stores.tables;
    let versions = registry::list(tables, metric).await?;
    let pending = versions
        .iter()
        .filter(|r| r.status == registry::ModelStatus::PendingApproval)
        .count() as u64;
    let model = versions
        .into_iter()
        .find(|r| r.status == registry::ModelStatus::Approved);
    let live = match &model {
        Some(m) => get_eval(tables, metric, m.version.as_str())
            .await?
            .map(|e| Live {
                mase: e.mase,
                mape: e.mape,
                coverage: e.coverage,
                n: e.n,
                updated_at: e.updated_at,
            }),
        None => None,
    };
    let extents = load_extents(tables, metric).await?;
    let keys: Vec<(String, String)> = extents
        .keys()
        .map(|s| (online::pk(metric.as_str(), s.as_str()), String::new()))
        .collect();
    let items = tables.batch_get(&FEATURES, &keys).await?;
    let step_us = cfg.frequency.micros();
    let since = extents
        .values()
        .map(|e| e.last / 1000)
        .min()
        .map(|last_us| last_us - RECENT_ALERTS_HOURS * 3_600_000_000);
    let recent = recent_alerts(st, metric, since).await?;
    let mut series = Vec::with_capacity(extents.len());
    for ((key, extent), item) in extents.iter().zip(items) {
        let last_us = extent.last / 1000;
        let from_us = last_us - RECENT_ALERTS_HOURS * 3_600_000_000;
        let recent_alerts = recent.get(key.as_str()).map_or(0, |ts| {
            ts.iter()
                .filter(|t| (from_us..=last_us).contains(t))
                .count()
        });
        series.push(SeriesOverview {
            series: key.to_string(),
            first: online::rfc3339_us(extent.first / 1000),
            last: online::rfc3339_us(last_us),
            age_s: (now.timestamp_micros() - (last_us + step_us)).div_euclid(1_000_000),
            last_value: item
                .as_ref()
                .and_then(|i| i.get(crate::contract::silver_col::VALUE))
                .and_then(Attr::as_n),
            recent_alerts: recent_alerts as u64,
        });
    }
    Ok(MetricOverview {
        metric: metric.to_string(),
        aggregation: cfg.aggregation,
        step_s: step_us / 1_000_000,
        horizon: cfg.horizon,
        interval: cfg.interval,
        unit: cfg.unit.clone(),
        model,
        live,
        pending,
        series,
    })
}

/// The alert times (microseconds) of a metric since `since_us`, by series: one query of the
/// metric-wide alert index.
async fn recent_alerts(
    st: &ApiState,
    metric: &MetricId,
    since_us: Option<i64>,
) -> Result<std::collections::HashMap<String, Vec<i64>>, ApiError> {
    let mut out: std::collections::HashMap<String, Vec<i64>> = Default::default();
    let Some(since) = since_us.and_then(DateTime::<Utc>::from_timestamp_micros) else {
        return Ok(out);
    };
    let q = Query {
        range: SkRange::From(rfc3339(since)),
        ..Query::all(alerts::index_pk(metric.as_str()))
    };
    let items =
        crate::storage::table::query_all(&*st.stores.tables, &crate::state::STATE, &q).await?;
    for a in items.iter().filter_map(alerts::from_item) {
        if let Ok(t) = DateTime::parse_from_rfc3339(&a.ts) {
            out.entry(a.series_key)
                .or_default()
                .push(t.timestamp_micros());
        }
    }
    Ok(out)
}
