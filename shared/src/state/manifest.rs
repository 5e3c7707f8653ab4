//! `obj#<bronze key>` / `_`: the manifest of a processed bronze object (its fingerprint,
//! dates, span, series filter, status and, while pending, the affected silver dates).

use super::*;

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
    pub(super) bits: Vec<u8>,
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
    pub(super) fn to_hex(&self) -> String {
        self.bits.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The filter of [`to_hex`](Self::to_hex); `None` for anything else (empty, odd length,
    /// not hex).
    pub(super) fn from_hex(hex: &str) -> Option<Self> {
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

pub(super) fn manifest_of(item: &Item) -> Manifest {
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
