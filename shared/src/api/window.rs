//! `GET /v1/window/{metric}?series=&from=&to=`: one series over a time range as compact
//! columns (actuals from silver, the stored forecasts with their bounds and quantiles, and
//! the alerts), what a chart draws in one request.

use std::collections::BTreeMap;

use super::*;
use crate::alerts::AlertKind;

/// Longest `from`..`to` range of a window: a year and a day, so a leap year fits.
pub const MAX_WINDOW_DAYS: i64 = 367;
/// Range of a window without `from`: the 30 days before `to`.
pub const DEFAULT_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowParams {
    series: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Actuals: bucket starts (epoch seconds) and values (`null`: missing value).
#[derive(Debug, Default, Serialize)]
pub(super) struct Actuals {
    t: Vec<i64>,
    v: Vec<Option<f64>>,
}

/// Forecast points as columns; `q` holds one column per quantile level.
#[derive(Debug, Default, Serialize)]
pub(super) struct ForecastColumns {
    t: Vec<i64>,
    value: Vec<Option<f64>>,
    lower: Vec<Option<f64>>,
    upper: Vec<Option<f64>>,
    q: BTreeMap<String, Vec<Option<f64>>>,
    /// The model version of the newest point (a range may span several versions).
    model_version: Option<String>,
}

/// Alerts as columns.
#[derive(Debug, Default, Serialize)]
pub(super) struct AlertColumns {
    t: Vec<i64>,
    value: Vec<f64>,
    expected: Vec<Option<f64>>,
    kind: Vec<AlertKind>,
}

/// The body of `GET /v1/window/{metric}`.
#[derive(Debug, Serialize)]
pub(super) struct Window {
    metric: String,
    series: String,
    step_s: i64,
    from: String,
    to: String,
    interval: f64,
    /// The metric's configured unit, `null` when none.
    unit: Option<String>,
    actual: Actuals,
    forecast: ForecastColumns,
    alerts: AlertColumns,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

pub(super) async fn window(
    State(st): State<ApiState>,
    ConfiguredMetric(metric): ConfiguredMetric,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p: WindowParams = parse_query(raw)?;
    let series = series_key(p.series)?;
    let cfg = st
        .config
        .metrics
        .get(&metric)
        .ok_or_else(|| ApiError::unknown_metric(metric.as_str()))?;
    let to = match p.to.as_deref() {
        Some(v) => timestamp("to", v)?,
        None => (st.clock)() + Duration::hours(i64::from(cfg.horizon)),
    };
    let from = match p.from.as_deref() {
        Some(v) => timestamp("from", v)?,
        None => to - Duration::days(DEFAULT_WINDOW_DAYS),
    };
    if from > to {
        return Err(ApiError::bad_request("from is after to"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::bad_request(format!(
            "the range from..to is longer than {MAX_WINDOW_DAYS} days"
        )));
    }
    let (from_us, to_us) = (from.timestamp_micros(), to.timestamp_micros());
    let points = crate::pipeline::history::load_series_points(
        &st.stores,
        &metric,
        &series,
        from.date_naive(),
        to.date_naive(),
    )
    .await?;
    let mut actual = Actuals::default();
    for (t, v) in points
        .into_iter()
        .filter(|(t, _)| (from_us..=to_us).contains(t))
    {
        actual.t.push(t.div_euclid(1_000_000));
        actual.v.push(v);
    }
    let pk = partition_key(&metric, &series);
    let forecast = forecast_columns(&range_items(&st, &PREDICTIONS, &pk, from, to).await?);
    let alerts = alert_columns(&range_items(&st, &ALERTS, &pk, from, to).await?);
    Ok(Json(Window {
        metric: metric.to_string(),
        series: series.to_string(),
        step_s: cfg.frequency.micros() / 1_000_000,
        from: rfc3339(from),
        to: rfc3339(to),
        interval: cfg.interval,
        unit: cfg.unit.clone(),
        actual,
        forecast,
        alerts,
    })
    .into_response())
}

/// Every item of `pk` in `table` whose range key (an RFC 3339 time) lies in `[from, to]`.
async fn range_items(
    st: &ApiState,
    table: &crate::storage::TableSpec,
    pk: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<crate::storage::Item>, ApiError> {
    let q = Query::between(pk, rfc3339(from), rfc3339(to));
    Ok(crate::storage::table::query_all(&*st.stores.tables, table, &q).await?)
}

fn forecast_columns(items: &[crate::storage::Item]) -> ForecastColumns {
    let mut out = ForecastColumns::default();
    let mut newest: Option<(String, String)> = None;
    for item in items {
        let Some(p) = Point::from_item(item) else {
            continue;
        };
        let Ok(t) = DateTime::parse_from_rfc3339(&p.timestamp) else {
            continue;
        };
        let i = out.t.len();
        out.t.push(t.timestamp());
        out.value.push(finite(p.value));
        out.lower.push(finite(p.lower));
        out.upper.push(finite(p.upper));
        for (level, v) in &p.q {
            let column = out.q.entry(level.to_string()).or_default();
            column.resize(i, None);
            column.push(finite(*v));
        }
        if newest
            .as_ref()
            .is_none_or(|(g, _)| g.as_str() <= &*p.generated_at)
        {
            newest = Some((p.generated_at.to_string(), p.model_version.to_string()));
        }
    }
    let n = out.t.len();
    for column in out.q.values_mut() {
        column.resize(n, None);
    }
    out.model_version = newest.map(|(_, v)| v);
    out
}

fn alert_columns(items: &[crate::storage::Item]) -> AlertColumns {
    let mut out = AlertColumns::default();
    for a in items.iter().filter_map(alerts::from_item) {
        let Ok(t) = DateTime::parse_from_rfc3339(&a.ts) else {
            continue;
        };
        out.t.push(t.timestamp());
        out.value.push(a.value);
        out.expected.push(a.expected);
        out.kind.push(a.kind);
    }
    out
}
