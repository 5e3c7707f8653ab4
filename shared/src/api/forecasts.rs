//! `GET /v1/forecasts/{metric}`: one series' stored forecast points, a range query on
//! their timestamps, paged with URL-safe cursors.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForecastParams {
    series: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// One forecast point in responses (strings borrowed from the stored items when listed).
#[derive(Debug, Serialize)]
pub(super) struct Point<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<String>,
    pub(super) timestamp: Cow<'a, str>,
    pub(super) value: f64,
    pub(super) lower: f64,
    pub(super) upper: f64,
    /// Quantiles by level (`"0.1"`: value), contract v2 §7; omitted for rows without them.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "levels_map")]
    pub(super) q: Vec<(f64, f64)>,
    pub(super) model_version: Cow<'a, str>,
    pub(super) generated_at: Cow<'a, str>,
}

/// Quantiles as a JSON object keyed by the level as text, in ascending order.
fn levels_map<S: serde::Serializer>(q: &[(f64, f64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(q.len()))?;
    for (level, v) in q {
        m.serialize_entry(&level.to_string(), v)?;
    }
    m.end()
}

impl<'a> Point<'a> {
    pub(super) fn of(p: &Prediction, with_series: bool) -> Self {
        Self {
            series: with_series.then(|| p.series.to_string()),
            timestamp: Cow::Owned(rfc3339(p.ts)),
            value: p.value,
            lower: p.lower,
            upper: p.upper,
            q: p.quantiles.clone(),
            model_version: Cow::Owned(p.model_version.clone()),
            generated_at: Cow::Owned(rfc3339(p.generated_at)),
        }
    }

    /// Straight from a `gras_predictions` item (the stored strings are already RFC 3339);
    /// `None` for an item that is not a prediction. A NULL bound (non-finite) reads as NaN,
    /// which JSON shows as `null`.
    pub(super) fn from_item(item: &'a crate::storage::Item) -> Option<Self> {
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
            q: crate::predictions::quantiles_of(forecast.get(attr::QUANTILES)),
            model_version: s(attr::MODEL_VERSION)?,
            generated_at: s(attr::GENERATED_AT)?,
        })
    }
}

/// The body of `GET /v1/forecasts/{metric}`.
#[derive(Debug, Serialize)]
pub(super) struct ForecastPage<'a> {
    metric: &'a str,
    series: &'a str,
    points: Vec<Point<'a>>,
    next_cursor: Option<String>,
}

pub(super) async fn forecasts(
    State(st): State<ApiState>,
    ConfiguredMetric(metric): ConfiguredMetric,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
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
