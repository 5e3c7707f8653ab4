//! `ext#<M>` / `<series_key>`: each series' first and last bucket over all bronze, widened
//! and replaced with optimistic concurrency on a version attribute.

use super::*;

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

pub(super) fn extent_item(metric: &MetricId, series: &SeriesKey, e: &Extent) -> Item {
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
pub(super) fn replacement<'a>(
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
