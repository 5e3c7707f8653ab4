//! The `eval#<M>` / `<version>` rows of `gras_state`: a version's live accuracy (continuous
//! evaluation, [`crate::drift`]) and its online interval state ([`crate::forecast::online`]).
//! The one module that encodes and decodes them; inference writes and reads them through
//! it, the CLI lists them through it.

use chrono::{DateTime, Utc};

use super::{PK, SK, STATE};
use crate::drift::{LiveScore, OnlineState};
use crate::ids::MetricId;
use crate::storage::table::{query_all, Attr, Condition, Item, Query, TableError, TableStore};

/// Attribute: the version's online interval factor.
pub const ATTR_INTERVAL_ADAPT: &str = "interval_adapt";
/// Attribute: the newest bucket (µs) the factor has counted.
pub const ATTR_ADAPT_THROUGH_US: &str = "adapt_through_us";
const A_MAPE: &str = "mape";
const A_MASE: &str = "mase";
const A_COVERAGE: &str = "coverage";
const A_N: &str = "n";
const A_UPDATED_AT: &str = "updated_at";

/// One version's evaluation row as stored; a number that was not finite reads as `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRecord {
    /// The model version.
    pub version: String,
    /// Live MAPE.
    pub mape: Option<f64>,
    /// Live MASE.
    pub mase: Option<f64>,
    /// Live interval coverage.
    pub coverage: Option<f64>,
    /// Points scored.
    pub n: Option<u64>,
    /// The online interval factor (`None` on rows written before it existed).
    pub interval_adapt: Option<f64>,
    /// The newest bucket (µs) the factor has counted.
    pub adapt_through_us: Option<i64>,
    /// When the row was written (RFC 3339, seconds).
    pub updated_at: String,
}

impl EvalRecord {
    /// The online interval state this row holds; the default (factor 1, nothing counted)
    /// for what it lacks.
    pub fn online(&self) -> OnlineState {
        OnlineState {
            factor: self.interval_adapt.unwrap_or(1.0),
            through_us: self.adapt_through_us,
        }
    }
}

fn pk(metric: &MetricId) -> String {
    format!("eval#{metric}")
}

/// The item of a version's live score and online state, written at `now`.
pub fn eval_item(
    metric: &MetricId,
    version: &str,
    live: &LiveScore,
    online: &OnlineState,
    now: DateTime<Utc>,
) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Attr::S(pk(metric)));
    item.insert(SK.into(), Attr::S(version.to_string()));
    item.insert(A_MAPE.into(), Attr::opt_n(Some(live.mape)));
    item.insert(A_MASE.into(), Attr::opt_n(Some(live.mase)));
    item.insert(A_COVERAGE.into(), Attr::opt_n(Some(live.coverage)));
    item.insert(A_N.into(), Attr::N(live.n as f64));
    item.insert(ATTR_INTERVAL_ADAPT.into(), Attr::N(online.factor));
    if let Some(t) = online.through_us {
        item.insert(ATTR_ADAPT_THROUGH_US.into(), Attr::N(t as f64));
    }
    item.insert(
        A_UPDATED_AT.into(),
        Attr::S(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    item
}

/// Decodes an `eval#` item (missing or mistyped attributes read as `None` / empty).
pub fn decode(item: &Item) -> EvalRecord {
    let n = |k: &str| item.get(k).and_then(Attr::as_n);
    let s = |k: &str| {
        item.get(k)
            .and_then(Attr::as_s)
            .unwrap_or_default()
            .to_string()
    };
    EvalRecord {
        version: s(SK),
        mape: n(A_MAPE),
        mase: n(A_MASE),
        coverage: n(A_COVERAGE),
        n: n(A_N).filter(|v| *v >= 0.0).map(|v| v as u64),
        interval_adapt: n(ATTR_INTERVAL_ADAPT),
        adapt_through_us: n(ATTR_ADAPT_THROUGH_US).map(|v| v as i64),
        updated_at: s(A_UPDATED_AT),
    }
}

/// Writes a version's row, unconditionally (the later of two overlapping runs wins, with
/// its factor and newest bucket together).
pub async fn put_eval(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &str,
    live: &LiveScore,
    online: &OnlineState,
    now: DateTime<Utc>,
) -> Result<(), TableError> {
    t.put(
        &STATE,
        eval_item(metric, version, live, online, now),
        Condition::Always,
    )
    .await
}

/// A version's row, if it has one.
pub async fn get_eval(
    t: &dyn TableStore,
    metric: &MetricId,
    version: &str,
) -> Result<Option<EvalRecord>, TableError> {
    Ok(t.get(&STATE, &pk(metric), version)
        .await?
        .as_ref()
        .map(decode))
}

/// Every version's row of a metric, in version order.
pub async fn list_evals(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Vec<EvalRecord>, TableError> {
    Ok(query_all(t, &STATE, &Query::all(pk(metric)))
        .await?
        .iter()
        .map(decode)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Stores;

    #[tokio::test]
    async fn a_row_reads_back_as_written_and_lists_by_version() {
        let stores = Stores::memory();
        let t = &*stores.tables;
        let m = MetricId::new("G").expect("id");
        let now = DateTime::<Utc>::from_timestamp(1_706_000_000, 0).expect("time");
        let live = LiveScore {
            mape: 0.1,
            mase: f64::NAN,
            coverage: 0.9,
            n: 24,
        };
        let online = OnlineState {
            factor: 0.95,
            through_us: Some(42),
        };
        put_eval(t, &m, "v2", &live, &online, now)
            .await
            .expect("put");
        put_eval(t, &m, "v1", &live, &OnlineState::default(), now)
            .await
            .expect("put");
        let r = get_eval(t, &m, "v2").await.expect("get").expect("row");
        assert_eq!(r.version, "v2");
        assert_eq!(
            (r.mape, r.mase, r.coverage, r.n),
            (Some(0.1), None, Some(0.9), Some(24))
        );
        assert_eq!(r.online(), online);
        assert_eq!(r.updated_at, "2024-01-23T08:53:20Z");
        let all: Vec<String> = list_evals(t, &m)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(all, ["v1", "v2"]);
        assert!(get_eval(t, &m, "v3").await.expect("get").is_none());
    }
}
