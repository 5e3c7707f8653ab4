//! The pipeline's own state in the `gras_state` table (not part of the contract).
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `idx#<M>` | `<YYYY-MM-DD>#<bronze key>` | bronze index: the object holds valid rows of `M` on that UTC date |
//! | `obj#<bronze key>` | `_` | manifest: fingerprint of the processed content ([`REMOVING`] while the object's rows are taken out), its dates, the span of its rows' timestamps and a filter of their series ([`SeriesFilter`]), status (`pending`/`done`), and while pending the affected silver dates once known |
//! | `ext#<M>` | `<series_key>` | extent: the series' first and last bucket over all bronze |
//! | `lease#<M>#<YYYY-MM-DD>` | `_` | lease on a silver partition while it is recomputed |
//! | `alerts#<M>` | `<ts>#<series_key>` | alerts of a metric by time, for `GET /v1/alerts` (TTL as the alert) |
//! | `eval#<M>` | `<version>` | live accuracy of a version (continuous evaluation), and its online interval factor with the newest bucket counted ([`eval`]) |
//! | `retrain#<M>` | `cooldown` | the last retrain request, for the cool-down |
//!
//! The index and extents are written *before* a partition lease is taken and read *after*
//! it, which is what makes concurrent writers converge (see the README).

pub mod eval;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::{MetricId, SeriesKey};
use crate::storage::table::{
    query_all, Attr, Condition, Item, Query, TableError, TableSpec, TableStore,
};

/// The state table: hash key `pk`, range key `sk`.
pub const STATE: TableSpec = TableSpec {
    name: crate::contract::table::STATE,
    pk: "pk",
    sk: Some("sk"),
};

const PK: &str = "pk";
const SK: &str = "sk";
const SINGLETON: &str = "_";
const A_FP: &str = "fingerprint";
const A_DATES: &str = "dates";
const A_AFFECTED: &str = "affected";
const A_ROWS_FIRST: &str = "rows_first";
const A_ROWS_LAST: &str = "rows_last";
const A_SERIES: &str = "series_filter";
const A_STATUS: &str = "status";
const A_ROWS: &str = "rows";
const A_FIRST: &str = "first";
const A_LAST: &str = "last";
const A_VERSION: &str = "version";
const A_OWNER: &str = "owner";
const A_UNTIL: &str = "until";
const A_UPDATED: &str = "updated_at";
const NANOS: i64 = 1_000_000_000;

fn s(v: impl Into<String>) -> Attr {
    Attr::S(v.into())
}

fn key_item(pk: String, sk: String) -> Item {
    let mut i = Item::new();
    i.insert(PK.into(), Attr::S(pk));
    i.insert(SK.into(), Attr::S(sk));
    i
}

fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A list attribute of dates (`YYYY-MM-DD`), as [`dates_of`] reads it.
fn date_list(dates: &BTreeSet<NaiveDate>) -> Attr {
    Attr::L(dates.iter().map(|d| s(date_str(*d))).collect())
}

/// The dates of a list attribute written by [`date_list`] (unparsable entries skipped).
fn dates_of(list: &[Attr]) -> BTreeSet<NaiveDate> {
    list.iter()
        .filter_map(|d| {
            d.as_s()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        })
        .collect()
}

/// A processed bronze object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Content fingerprint (xxh3-128, hex) of the bytes that were processed.
    pub fingerprint: String,
    /// UTC dates on which the object had valid rows.
    pub dates: BTreeSet<NaiveDate>,
    /// The first and last timestamps (nanoseconds, cut to whole seconds) of those rows;
    /// `None` when there are none, or for manifests written before this was recorded.
    pub span: Option<(i64, i64)>,
    /// The series of those rows; `None` for manifests written before this was recorded
    /// (every series may then have rows in the object).
    pub series: Option<SeriesFilter>,
    /// True once every silver partition it affects was written.
    pub done: bool,
    /// The silver dates this content (or its removal) changes, recorded while not `done`
    /// once known (for new content: once its series' extents were widened): an interrupted
    /// attempt resumes by recomputing them, instead of rebuilding the metric. `None` before,
    /// once done, and when the change needs a rebuild.
    pub affected: Option<BTreeSet<NaiveDate>>,
}

/// A set of series as a Bloom filter: [`may_contain`](Self::may_contain) is true for every
/// member and for about 1% of other series. A manifest records the series of its object's
/// rows with it, so that taking those rows out is known not to touch the other series (a
/// false positive only makes that conservative). About 10 bits per series, capped at
/// [`SeriesFilter::MAX_BITS`] (beyond that the false-positive rate grows, nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFilter {
    bits: Vec<u8>,
}

impl SeriesFilter {
    /// Hash functions per member.
    const HASHES: u64 = 7;
    /// Largest filter: 128 Ki bits (16 KiB, 32 KiB of hex in the manifest item).
    pub const MAX_BITS: usize = 128 * 1024;

    /// The filter of `series`.
    pub fn of<'a>(series: impl ExactSizeIterator<Item = &'a SeriesKey>) -> Self {
        let bits = (series.len() * 10).clamp(64, Self::MAX_BITS).div_ceil(8) * 8;
        let mut f = SeriesFilter {
            bits: vec![0; bits / 8],
        };
        for s in series {
            for i in f.positions(s) {
                f.bits[i / 8] |= 1 << (i % 8);
            }
        }
        f
    }

    /// False only for a series that is certainly not a member.
    pub fn may_contain(&self, series: &SeriesKey) -> bool {
        self.positions(series)
            .all(|i| self.bits[i / 8] & (1 << (i % 8)) != 0)
    }

    fn positions(&self, series: &SeriesKey) -> impl Iterator<Item = usize> {
        let h = xxhash_rust::xxh3::xxh3_128(series.as_str().as_bytes());
        let (h1, h2) = (h as u64, ((h >> 64) as u64) | 1);
        let m = (self.bits.len() * 8) as u64;
        (0..Self::HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    /// Lower-case hex of the bits, as stored in the manifest.
    fn to_hex(&self) -> String {
        self.bits.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The filter of [`to_hex`](Self::to_hex); `None` for anything else (empty, odd length,
    /// not hex).
    fn from_hex(hex: &str) -> Option<Self> {
        if hex.is_empty() || !hex.len().is_multiple_of(2) {
            return None;
        }
        let bits = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(SeriesFilter { bits })
    }
}

/// The fingerprint of a manifest while its object's rows are being taken out (a removed
/// object, or one replaced by an unusable file); no content fingerprint (32 hex digits)
/// looks like it. A retry of the removal finds it, with the dates recorded in `affected`
/// when the removal was scoped to them.
pub const REMOVING: &str = "removing";

impl Manifest {
    /// True when this manifest marks an unfinished removal of its object's rows.
    pub fn is_removing(&self) -> bool {
        !self.done && self.fingerprint == REMOVING
    }
}

/// Reads an object's manifest.
pub async fn get_manifest(t: &dyn TableStore, key: &str) -> Result<Option<Manifest>, TableError> {
    Ok(t.get(&STATE, &format!("obj#{key}"), SINGLETON)
        .await?
        .map(|item| manifest_of(&item)))
}

/// Reads the manifests of `keys` in one batched read: one entry per key, in order.
pub async fn get_manifests(
    t: &dyn TableStore,
    keys: &[&str],
) -> Result<Vec<Option<Manifest>>, TableError> {
    let ids: Vec<(String, String)> = keys
        .iter()
        .map(|k| (format!("obj#{k}"), SINGLETON.to_string()))
        .collect();
    Ok(t.batch_get(&STATE, &ids)
        .await?
        .iter()
        .map(|item| item.as_ref().map(manifest_of))
        .collect())
}

fn manifest_of(item: &Item) -> Manifest {
    let fingerprint = item
        .get(A_FP)
        .and_then(Attr::as_s)
        .unwrap_or_default()
        .to_string();
    let dates = dates_of(item.get(A_DATES).and_then(Attr::as_l).unwrap_or_default());
    let affected = item.get(A_AFFECTED).and_then(Attr::as_l).map(dates_of);
    let done = item.get(A_STATUS).and_then(Attr::as_s) == Some("done");
    let second = |name| {
        item.get(name)
            .and_then(Attr::as_n)
            .map(|v| v as i64 * NANOS)
    };
    let span = second(A_ROWS_FIRST).zip(second(A_ROWS_LAST));
    let series = item
        .get(A_SERIES)
        .and_then(Attr::as_s)
        .and_then(SeriesFilter::from_hex);
    Manifest {
        fingerprint,
        dates,
        span,
        series,
        done,
        affected,
    }
}

/// Writes an object's manifest.
pub async fn put_manifest(
    t: &dyn TableStore,
    key: &str,
    m: &Manifest,
    now: DateTime<Utc>,
) -> Result<(), TableError> {
    t.put(&STATE, manifest_item(key, m, now), Condition::Always)
        .await
}

/// The item [`put_manifest`] writes (for writing many at once with `batch_put`).
pub fn manifest_item(key: &str, m: &Manifest, now: DateTime<Utc>) -> Item {
    let mut item = key_item(format!("obj#{key}"), SINGLETON.into());
    item.insert(A_FP.into(), s(&m.fingerprint));
    item.insert(A_DATES.into(), date_list(&m.dates));
    if let Some((first, last)) = m.span {
        item.insert(A_ROWS_FIRST.into(), Attr::N(first.div_euclid(NANOS) as f64));
        item.insert(A_ROWS_LAST.into(), Attr::N(last.div_euclid(NANOS) as f64));
    }
    if let Some(series) = &m.series {
        item.insert(A_SERIES.into(), s(series.to_hex()));
    }
    item.insert(A_STATUS.into(), s(if m.done { "done" } else { "pending" }));
    if let Some(affected) = &m.affected {
        item.insert(A_AFFECTED.into(), date_list(affected));
    }
    item.insert(
        A_UPDATED.into(),
        s(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    item
}

/// Deletes an object's manifest.
pub async fn delete_manifest(t: &dyn TableStore, key: &str) -> Result<(), TableError> {
    t.delete(&STATE, &format!("obj#{key}"), SINGLETON, Condition::Always)
        .await
}

/// Records that `key` holds `rows` valid rows of `metric` on `date`.
pub async fn put_index(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    key: &str,
    rows: u64,
) -> Result<(), TableError> {
    t.put(
        &STATE,
        index_item(metric, date, key, rows),
        Condition::Always,
    )
    .await
}

/// The `(pk, sk)` of the index entry of bronze object `key` on `date`.
fn index_key(metric: &MetricId, date: NaiveDate, key: &str) -> (String, String) {
    (format!("idx#{metric}"), format!("{}#{key}", date_str(date)))
}

/// The item [`put_index`] writes (for writing many at once with `batch_put`).
pub fn index_item(metric: &MetricId, date: NaiveDate, key: &str, rows: u64) -> Item {
    let (pk, sk) = index_key(metric, date, key);
    let mut item = key_item(pk, sk);
    item.insert(A_ROWS.into(), Attr::N(rows as f64));
    item
}

/// Removes an index entry.
pub async fn delete_index(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    key: &str,
) -> Result<(), TableError> {
    let (pk, sk) = index_key(metric, date, key);
    t.delete(&STATE, &pk, &sk, Condition::Always).await
}

/// Removes many index entries `(date, key)` of `metric` with one batch delete.
pub async fn delete_index_many(
    t: &dyn TableStore,
    metric: &MetricId,
    entries: &[(NaiveDate, String)],
) -> Result<(), TableError> {
    let keys = entries
        .iter()
        .map(|(d, key)| index_key(metric, *d, key))
        .collect();
    t.batch_delete(&STATE, keys).await
}

/// The bronze objects holding rows of `metric` on dates in `[from, to]`, as `(date, key)`.
pub async fn query_index(
    t: &dyn TableStore,
    metric: &MetricId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, TableError> {
    // '$' sorts after '#', so "<to>$" bounds every "<to>#<key>".
    let q = Query::between(
        format!("idx#{metric}"),
        format!("{}#", date_str(from)),
        format!("{}$", date_str(to)),
    );
    let items = query_all(t, &STATE, &q).await?;
    Ok(items
        .iter()
        .filter_map(|i| parse_index_sk(i.get(SK)?.as_s()?))
        .collect())
}

/// Every index entry of a metric.
pub async fn query_index_all(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Vec<(NaiveDate, String)>, TableError> {
    let items = query_all(t, &STATE, &Query::all(format!("idx#{metric}"))).await?;
    Ok(items
        .iter()
        .filter_map(|i| parse_index_sk(i.get(SK)?.as_s()?))
        .collect())
}

fn parse_index_sk(sk: &str) -> Option<(NaiveDate, String)> {
    let (d, key) = sk.split_once('#')?;
    Some((
        NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?,
        key.to_string(),
    ))
}

/// A series' first and last bucket (nanoseconds), with the version used for
/// optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First bucket start.
    pub first: i64,
    /// Last bucket start.
    pub last: i64,
    /// Write version (0 when never stored).
    pub version: u64,
}

/// Every stored extent of a metric, by series.
pub async fn load_extents(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<BTreeMap<SeriesKey, Extent>, TableError> {
    let items = query_all(t, &STATE, &Query::all(format!("ext#{metric}"))).await?;
    let mut out = BTreeMap::new();
    for item in items {
        let (Some(sk), Some(first), Some(last)) = (
            item.get(SK).and_then(Attr::as_s),
            item.get(A_FIRST).and_then(Attr::as_n),
            item.get(A_LAST).and_then(Attr::as_n),
        ) else {
            continue;
        };
        let Ok(key) = SeriesKey::new(sk) else {
            continue;
        };
        let version = item.get(A_VERSION).and_then(Attr::as_n).unwrap_or(0.0) as u64;
        out.insert(
            key,
            Extent {
                first: first as i64 * NANOS,
                last: last as i64 * NANOS,
                version,
            },
        );
    }
    Ok(out)
}

fn extent_item(metric: &MetricId, series: &SeriesKey, e: &Extent) -> Item {
    let mut item = key_item(format!("ext#{metric}"), series.as_str().to_string());
    item.insert(A_FIRST.into(), Attr::N((e.first / NANOS) as f64));
    item.insert(A_LAST.into(), Attr::N((e.last / NANOS) as f64));
    item.insert(A_VERSION.into(), Attr::N(e.version as f64));
    item
}

/// Widens a series' stored extent to include `[first, last]` (bucket starts, whole
/// seconds). Returns the extent it replaced (`None` for a new series). Retries on
/// concurrent updates; a no-op when the extent already covers the range.
pub async fn widen_extent(
    t: &dyn TableStore,
    metric: &MetricId,
    series: &SeriesKey,
    mut known: Option<Extent>,
    first: i64,
    last: i64,
) -> Result<Option<Extent>, TableError> {
    for attempt in 0..64u32 {
        let new = match known {
            Some(e) if e.first <= first && e.last >= last => return Ok(Some(e)),
            Some(e) => Extent {
                first: e.first.min(first),
                last: e.last.max(last),
                version: e.version + 1,
            },
            None => Extent {
                first,
                last,
                version: 1,
            },
        };
        let cond = match known {
            Some(e) => Condition::Equals(A_VERSION.into(), Attr::N(e.version as f64)),
            None => Condition::NotExists,
        };
        match t.put(&STATE, extent_item(metric, series, &new), cond).await {
            Ok(()) => return Ok(known),
            Err(TableError::ConditionFailed { .. }) => {
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)) * 5)).await;
                let item = t
                    .get(&STATE, &format!("ext#{metric}"), series.as_str())
                    .await?;
                known = item.and_then(|i| {
                    Some(Extent {
                        first: i.get(A_FIRST)?.as_n()? as i64 * NANOS,
                        last: i.get(A_LAST)?.as_n()? as i64 * NANOS,
                        version: i.get(A_VERSION)?.as_n()? as u64,
                    })
                });
            }
            Err(e) => return Err(e),
        }
    }
    Err(TableError::Backend {
        table: STATE.name,
        retryable: true,
        source: format!("extent of {metric}#{series} kept changing under concurrent writers")
            .into(),
    })
}

/// What replacing a metric's extents `old` (as stored) by `extents` writes, series by series:
/// `None` deletes a series that vanished, `Some` puts its new extent (version bumped from
/// `old`, 1 for a new series). An extent equal to the stored one is not written.
fn replacement<'a>(
    old: &'a BTreeMap<SeriesKey, Extent>,
    extents: &'a BTreeMap<SeriesKey, (i64, i64)>,
) -> impl Iterator<Item = (&'a SeriesKey, Option<Extent>)> + 'a {
    let gone = old
        .keys()
        .filter(|k| !extents.contains_key(*k))
        .map(|series| (series, None));
    let changed = extents.iter().filter_map(|(series, &(first, last))| {
        let stored = old.get(series);
        if stored.is_some_and(|e| (e.first, e.last) == (first, last)) {
            return None;
        }
        let version = stored.map_or(1, |e| e.version + 1);
        Some((
            series,
            Some(Extent {
                first,
                last,
                version,
            }),
        ))
    });
    gone.chain(changed)
}

/// Replaces every extent of a metric (batch rebuilds); `old` are its stored extents, as
/// [`load_extents`] read them.
pub async fn replace_extents(
    t: &dyn TableStore,
    metric: &MetricId,
    old: &BTreeMap<SeriesKey, Extent>,
    extents: &BTreeMap<SeriesKey, (i64, i64)>,
) -> Result<(), TableError> {
    let (mut gone, mut items) = (Vec::new(), Vec::new());
    for (series, extent) in replacement(old, extents) {
        match extent {
            None => gone.push((format!("ext#{metric}"), series.as_str().to_string())),
            Some(e) => items.push(extent_item(metric, series, &e)),
        }
    }
    t.batch_delete(&STATE, gone).await?;
    t.batch_put(&STATE, items).await
}

/// Replaces a metric's extents like [`replace_extents`], for a rebuild that runs while
/// other writers may widen extents: each write or delete holds only if the extent still has
/// the version it had in `old` (or, for a new series, still does not exist). `old` must be
/// read before the bronze index the new extents come from; a widening after that read (by
/// a writer whose rows the rebuild may have missed) then makes this call return
/// `Ok(false)` instead of being overwritten. The writes made before stay: each is exact
/// for the index the rebuild read, and the rebuild's next attempt replaces them.
pub async fn replace_extents_checked(
    t: &dyn TableStore,
    metric: &MetricId,
    old: &BTreeMap<SeriesKey, Extent>,
    extents: &BTreeMap<SeriesKey, (i64, i64)>,
) -> Result<bool, TableError> {
    let pk = format!("ext#{metric}");
    let unchanged = |series: &SeriesKey| match old.get(series) {
        Some(e) => Condition::Equals(A_VERSION.into(), Attr::N(e.version as f64)),
        None => Condition::NotExists,
    };
    let writes: Vec<(&SeriesKey, Option<Extent>)> = replacement(old, extents).collect();
    // Sixteen requests at a time. (A plain loop builds the futures: a closure returning
    // them would make the caller's future `Send` for one lifetime only.)
    for chunk in writes.chunks(16) {
        let mut requests = Vec::with_capacity(chunk.len());
        for &(series, extent) in chunk {
            let cond = unchanged(series);
            let pk = pk.as_str();
            requests.push(async move {
                let result = match extent {
                    None => t.delete(&STATE, pk, series.as_str(), cond).await,
                    Some(e) => t.put(&STATE, extent_item(metric, series, &e), cond).await,
                };
                match result {
                    Ok(()) => Ok(true),
                    Err(TableError::ConditionFailed { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            });
        }
        let mut replaced = true;
        for result in futures::future::join_all(requests).await {
            replaced &= result?;
        }
        if !replaced {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Tries once to take the lease on a silver partition; `Ok(false)` when another owner
/// holds an unexpired one.
pub async fn try_lease(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    owner: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, TableError> {
    let mut item = key_item(
        format!("lease#{metric}#{}", date_str(date)),
        SINGLETON.into(),
    );
    item.insert(A_OWNER.into(), s(owner));
    item.insert(
        A_UNTIL.into(),
        Attr::N((now.timestamp() + ttl.as_secs() as i64) as f64),
    );
    let cond = Condition::Or(vec![
        Condition::NotExists,
        Condition::LessThan(A_UNTIL.into(), Attr::N(now.timestamp() as f64)),
        Condition::Equals(A_OWNER.into(), s(owner)),
    ]);
    match t.put(&STATE, item, cond).await {
        Ok(()) => Ok(true),
        Err(TableError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases a lease held by `owner` (a lease taken over by someone else is left alone).
pub async fn release_lease(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    owner: &str,
) -> Result<(), TableError> {
    let pk = format!("lease#{metric}#{}", date_str(date));
    match t
        .delete(
            &STATE,
            &pk,
            SINGLETON,
            Condition::Equals(A_OWNER.into(), s(owner)),
        )
        .await
    {
        Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryTableStore;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, day).unwrap()
    }

    #[tokio::test]
    async fn index_queries_by_date_range() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        for (day, key) in [
            (1, "k/a"),
            (2, "k/b"),
            (2, "k/c#x"),
            (3, "k/d"),
            (10, "k/e"),
        ] {
            put_index(&t, &g, d(day), key, 5).await.unwrap();
        }
        put_index(&t, &MetricId::new("GX").unwrap(), d(2), "other", 1)
            .await
            .unwrap();
        let got = query_index(&t, &g, d(2), d(3)).await.unwrap();
        assert_eq!(
            got,
            vec![
                (d(2), "k/b".into()),
                (d(2), "k/c#x".into()),
                (d(3), "k/d".into())
            ]
        );
        assert_eq!(query_index_all(&t, &g).await.unwrap().len(), 5);
        delete_index(&t, &g, d(2), "k/b").await.unwrap();
        assert_eq!(query_index(&t, &g, d(2), d(2)).await.unwrap().len(), 1);
        delete_index_many(&t, &g, &[(d(1), "k/a".into()), (d(10), "k/e".into())])
            .await
            .unwrap();
        assert_eq!(
            query_index_all(&t, &g).await.unwrap(),
            vec![(d(2), "k/c#x".into()), (d(3), "k/d".into())]
        );
        assert_eq!(
            query_index_all(&t, &MetricId::new("GX").unwrap())
                .await
                .unwrap()
                .len(),
            1,
            "other metrics keep their entries"
        );
    }

    fn s(k: &str) -> SeriesKey {
        SeriesKey::new(k).unwrap()
    }

    /// Extents of one hour starting at hour `v`, by series.
    fn ext(pairs: &[(&str, i64)]) -> BTreeMap<SeriesKey, (i64, i64)> {
        let h = 3600 * NANOS;
        pairs
            .iter()
            .map(|(k, v)| (s(k), (v * h, (v + 1) * h)))
            .collect()
    }

    #[tokio::test]
    async fn replace_extents_drops_vanished_series_and_bumps_versions() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        replace_extents(&t, &g, &BTreeMap::new(), &ext(&[("a", 1), ("b", 2)]))
            .await
            .unwrap();
        let old = load_extents(&t, &g).await.unwrap();
        replace_extents(&t, &g, &old, &ext(&[("b", 5), ("c", 7)]))
            .await
            .unwrap();
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec![s("b"), s("c")]
        );
        let h = 3600 * NANOS;
        assert_eq!((got[&s("b")].first, got[&s("b")].version), (5 * h, 2));
        assert_eq!((got[&s("c")].first, got[&s("c")].version), (7 * h, 1));
        // An unchanged extent is not written (its version stays).
        replace_extents(&t, &g, &got, &ext(&[("b", 5), ("c", 8)]))
            .await
            .unwrap();
        let again = load_extents(&t, &g).await.unwrap();
        assert_eq!(again[&s("b")].version, 2);
        assert_eq!((again[&s("c")].first, again[&s("c")].version), (8 * h, 2));
    }

    #[tokio::test]
    async fn a_checked_replacement_never_undoes_a_concurrent_widening() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let h = 3600 * NANOS;
        replace_extents(&t, &g, &BTreeMap::new(), &ext(&[("a", 1), ("b", 2)]))
            .await
            .unwrap();
        // Unchanged since read: replaced, vanished series deleted, versions bumped.
        let old = load_extents(&t, &g).await.unwrap();
        assert!(
            replace_extents_checked(&t, &g, &old, &ext(&[("a", 3), ("c", 4)]))
                .await
                .unwrap()
        );
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec![s("a"), s("c")]
        );
        assert_eq!((got[&s("a")].first, got[&s("a")].version), (3 * h, 2));

        // A writer widens `a` and creates `d` after the rebuild read the extents: the
        // replacement reports the conflict and both widenings stay.
        let old = load_extents(&t, &g).await.unwrap();
        widen_extent(&t, &g, &s("a"), old.get(&s("a")).copied(), 3 * h, 30 * h)
            .await
            .unwrap();
        widen_extent(&t, &g, &s("d"), None, 5 * h, 6 * h)
            .await
            .unwrap();
        assert!(
            !replace_extents_checked(&t, &g, &old, &ext(&[("a", 3), ("d", 9)]))
                .await
                .unwrap()
        );
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(got[&s("a")].last, 30 * h, "the widening of a stays");
        assert_eq!(got[&s("d")].first, 5 * h, "the new series d stays");
        // Unconditional replacement (the batch path) would have overwritten it.
        replace_extents(&t, &g, &old, &ext(&[("a", 2)]))
            .await
            .unwrap();
        assert_eq!(load_extents(&t, &g).await.unwrap()[&s("a")].last, 3 * h);

        // A series the replacement leaves as it was read is not written: widening it
        // meanwhile is no conflict, and the widening stays.
        let read = load_extents(&t, &g).await.unwrap();
        widen_extent(&t, &g, &s("a"), read.get(&s("a")).copied(), 3 * h, 40 * h)
            .await
            .unwrap();
        let mut want = ext(&[("e", 2)]);
        want.insert(s("a"), (read[&s("a")].first, read[&s("a")].last));
        assert!(replace_extents_checked(&t, &g, &read, &want).await.unwrap());
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!((got[&s("a")].last, got[&s("e")].first), (40 * h, 2 * h));
    }

    #[tokio::test]
    async fn extents_only_widen_and_survive_races() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let a = SeriesKey::new("a").unwrap();
        let h = 3600 * NANOS;
        assert_eq!(
            widen_extent(&t, &g, &a, None, 5 * h, 9 * h).await.unwrap(),
            None
        );
        // A stale view (None) is refreshed after the failed condition.
        let old = widen_extent(&t, &g, &a, None, 2 * h, 6 * h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((old.first, old.last), (5 * h, 9 * h));
        let e = load_extents(&t, &g).await.unwrap()[&a];
        assert_eq!((e.first, e.last, e.version), (2 * h, 9 * h, 2));
        // Covered: no write.
        widen_extent(&t, &g, &a, Some(e), 3 * h, 4 * h)
            .await
            .unwrap();
        assert_eq!(load_extents(&t, &g).await.unwrap()[&a].version, 2);
    }

    #[tokio::test]
    async fn leases_exclude_until_released_or_expired() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ttl = Duration::from_secs(900);
        assert!(try_lease(&t, &g, d(1), "a", now, ttl).await.unwrap());
        assert!(!try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap());
        assert!(
            try_lease(&t, &g, d(2), "b", now, ttl).await.unwrap(),
            "other partition is free"
        );
        assert!(
            try_lease(&t, &g, d(1), "a", now, ttl).await.unwrap(),
            "re-entrant for its owner"
        );
        release_lease(&t, &g, d(1), "b").await.unwrap();
        assert!(
            !try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap(),
            "only the owner releases"
        );
        release_lease(&t, &g, d(1), "a").await.unwrap();
        assert!(try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap());
        let later = now + chrono::Duration::seconds(901);
        assert!(
            try_lease(&t, &g, d(1), "c", later, ttl).await.unwrap(),
            "expired lease is taken over"
        );
    }

    #[test]
    fn series_filters_hold_their_members_and_few_others() {
        for n in [0usize, 1, 200, 5_000, 20_000] {
            let members: Vec<SeriesKey> = (0..n)
                .map(|i| SeriesKey::new(format!("store-{i:05}")).unwrap())
                .collect();
            let f = SeriesFilter::of(members.iter());
            assert!(
                members.iter().all(|s| f.may_contain(s)),
                "{n}: no false negatives"
            );
            let others = 10_000;
            let false_positives = (0..others)
                .filter(|i| f.may_contain(&SeriesKey::new(format!("other-{i}")).unwrap()))
                .count();
            // ~1% at 10 bits per member; 20,000 members exceed the cap (6.5 bits each).
            let limit = if n > 13_000 { 0.06 } else { 0.02 };
            assert!(
                (false_positives as f64) < limit * others as f64,
                "{n}: {false_positives} false positives"
            );
            assert_eq!(SeriesFilter::from_hex(&f.to_hex()), Some(f.clone()));
            assert!(f.bits.len() * 8 <= SeriesFilter::MAX_BITS);
        }
        for bad in ["", "abc", "zz", "0g"] {
            assert_eq!(SeriesFilter::from_hex(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn manifests_round_trip() {
        let t = MemoryTableStore::default();
        let m = Manifest {
            fingerprint: "abc".into(),
            dates: [d(1), d(3)].into_iter().collect(),
            span: Some((1_704_067_200 * NANOS, 1_704_326_399 * NANOS)),
            series: Some(SeriesFilter::of(
                [SeriesKey::new("a").unwrap(), SeriesKey::new("b").unwrap()].iter(),
            )),
            done: true,
            affected: None,
        };
        put_manifest(&t, "bronze/x.parquet", &m, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifest(&t, "bronze/x.parquet").await.unwrap(),
            Some(m.clone())
        );
        let widened = Manifest {
            fingerprint: "abc".into(),
            dates: [d(3)].into_iter().collect(),
            span: None,
            series: None,
            done: false,
            affected: Some([d(3), d(4), d(9)].into_iter().collect()),
        };
        put_manifest(&t, "bronze/x.parquet", &widened, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifest(&t, "bronze/x.parquet").await.unwrap(),
            Some(widened.clone())
        );
        put_manifest(&t, "bronze/y.parquet", &m, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifests(
                &t,
                &[
                    "bronze/y.parquet",
                    "bronze/none.parquet",
                    "bronze/x.parquet"
                ]
            )
            .await
            .unwrap(),
            vec![Some(m), None, Some(widened)],
            "batched reads, in the order asked"
        );
        delete_manifest(&t, "bronze/x.parquet").await.unwrap();
        assert_eq!(get_manifest(&t, "bronze/x.parquet").await.unwrap(), None);
    }
}
