//! Which silver dates new or removed content changes: the reach of interpolation and of
//! the 720-hour windows around a bucket range ([`ContentReach`]), the margin dates that
//! change only if interpolation carries the content into them ([`Margins`]), what a
//! replaced object's previous rows reach ([`retraction_scope`]), and date arithmetic.

use super::*;

/// The first nanosecond of UTC date `d`.
pub(super) fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_nanos_opt().unwrap_or(0))
        .unwrap_or(0)
}

/// Rows per UTC date of the nanosecond timestamps `ts` (one date conversion per run of
/// equal days, not per row).
pub(super) fn date_counts(ts: &[i64]) -> BTreeMap<NaiveDate, u64> {
    let day = |t: &i64| t.div_euclid(DAY_NS);
    let mut days: BTreeMap<i64, u64> = BTreeMap::new();
    for run in ts.chunk_by(|a, b| day(a) == day(b)) {
        *days.entry(day(&run[0])).or_default() += run.len() as u64;
    }
    days.into_iter()
        .map(|(d, n)| (date_of(d * DAY_NS), n))
        .collect()
}

/// The UTC date of nanosecond instant `ns`.
pub(super) fn date_of(ns: i64) -> NaiveDate {
    DateTime::from_timestamp_nanos(ns).date_naive()
}

/// Splits a date set into runs of consecutive dates.
pub(super) fn runs(dates: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in dates {
        match out.last_mut() {
            Some((_, end)) if end.succ_opt() == Some(d) => *end = d,
            _ => out.push((d, d)),
        }
    }
    out
}

/// Adds every UTC date from the one of `from` to the one of `to` (nanoseconds) to `dates`.
pub(super) fn insert_dates(dates: &mut BTreeSet<NaiveDate>, from: i64, to: i64) {
    if from > to {
        return;
    }
    let (first, last) = (date_of(from), date_of(to));
    dates.extend(first.iter_days().take_while(|d| *d <= last));
}

/// The bucket distance over which a change of values reaches other buckets' values: a gap
/// opened or closed next to it decides whether up to [`MAX_INTERPOLATED_GAP`] missing buckets
/// are interpolated.
pub(super) fn reach(width: i64) -> i64 {
    MAX_INTERPOLATED_GAP * width + width
}

/// Where new content with buckets `lo..=hi` of one series changes silver, given the
/// series' extent before it (`prev`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ContentReach {
    /// The buckets whose values or timeline membership may change (before the features'
    /// lookback): the content ±[`reach`] and any stretch the extent grows by.
    pub(super) values: (i64, i64),
    /// The part of `values` that changes whatever lies around it: the content and the
    /// stretch the extent grows by. Nothing outside it changes when the bucket just before
    /// it and the one just after it are observed (interpolation stops at an observed
    /// bucket).
    pub(super) core: (i64, i64),
    /// The series' extent after the content.
    pub(super) extent: (i64, i64),
    /// Bucket width.
    pub(super) width: i64,
}

impl ContentReach {
    pub(super) fn new(lo: i64, hi: i64, prev: Option<Extent>, width: i64) -> Self {
        let (mut a, mut b) = (lo - reach(width), hi + reach(width));
        let (mut c0, mut c1) = (lo, hi);
        let (mut first, mut last) = (lo, hi);
        if let Some(p) = prev {
            if lo < p.first {
                b = b.max(p.first + reach(width));
                c1 = c1.max(p.first - width);
            }
            if hi > p.last {
                a = a.min(p.last - reach(width));
                c0 = c0.min(p.last + width);
            }
            first = first.min(p.first);
            last = last.max(p.last);
        }
        Self {
            values: (a, b),
            core: (c0, c1),
            extent: (first, last),
            width,
        }
    }

    /// The bucket range whose rows may change: [`Self::values`] and the [`LOOKBACK_HOURS`]
    /// after, clipped to the extent.
    pub(super) fn rows(&self) -> (i64, i64) {
        let (first, last) = self.extent;
        (
            self.values.0.max(first),
            (self.values.1 + LOOKBACK_HOURS * HOUR_NS).min(last),
        )
    }

    /// The dates of [`Self::rows`], split into those that change whatever lies around the
    /// content, and the margins that change only if interpolation carries the content into
    /// them: each with its [`Beside`] bucket (just before or just after [`Self::core`]).
    pub(super) fn dates(&self) -> (BTreeSet<NaiveDate>, Vec<(NaiveDate, Beside)>) {
        let (from, to) = self.rows();
        let (first, last) = self.extent;
        let (c0, c1) = (
            self.core.0.max(first),
            (self.core.1 + LOOKBACK_HOURS * HOUR_NS).min(last),
        );
        let mut hard = BTreeSet::new();
        insert_dates(&mut hard, c0.max(from), c1.min(to));
        let mut margins = Vec::new();
        for (a, b, beside) in [
            (from, c0 - 1, Beside::Before(self.core.0 - self.width)),
            (c1 + 1, to, Beside::After(self.core.1 + self.width)),
        ] {
            let mut dates = BTreeSet::new();
            insert_dates(&mut dates, a, b);
            margins.extend(
                dates
                    .into_iter()
                    .filter(|d| !hard.contains(d))
                    .map(|d| (d, beside)),
            );
        }
        (hard, margins)
    }
}

/// The bucket just outside new content that decides how far interpolation carries the
/// content: values change only between it and the nearest observed bucket on its side
/// (inclusive of it, exclusive of that observed one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Beside {
    /// The bucket before the content: a margin date before it is unchanged when the last
    /// observed bucket at or before this one is the date's last bucket or later.
    Before(i64),
    /// The bucket after the content: a margin date after it is unchanged when the features
    /// of the first observed bucket at or after this one (minus one bucket, the last value
    /// that may change), reaching [`LOOKBACK_HOURS`] on, end before the date.
    After(i64),
}

/// The bucket range whose partitions new content changes at most ([`ContentReach::rows`]).
pub(super) fn content_reach(lo: i64, hi: i64, prev: Option<Extent>, width: i64) -> (i64, i64) {
    ContentReach::new(lo, hi, prev, width).rows()
}

/// Dates a recomputation includes only because interpolation might carry new content into
/// them: per date, the buckets beside the content, per series, that decide it
/// ([`Beside`]). Such a date's partition is written unless every one shows it unchanged.
pub(super) type Margins = BTreeMap<NaiveDate, Vec<(SeriesKey, Beside)>>;

/// The margin dates (of `margins`) whose partitions provably do not change, given the
/// observed buckets of the recomputation (buckets of width `width`). A margin is shown
/// unchanged only by observed buckets the recomputation holds: when the nearest one is not
/// among them, the partition is written.
pub(super) fn unchanged_margins(
    margins: &Margins,
    observed: &BTreeMap<SeriesKey, SeriesBuckets>,
    width: i64,
) -> BTreeSet<NaiveDate> {
    let unchanged = |date: NaiveDate, key: &SeriesKey, beside: Beside| {
        let Some(buckets) = observed.get(key).map(|s| &s.buckets) else {
            return false;
        };
        let start = day_start(date);
        match beside {
            Beside::Before(b) => {
                let i = buckets.partition_point(|x| *x <= b);
                // Values change from the bucket after the last observed one on.
                i > 0 && buckets[i - 1] + width >= start + DAY_NS
            }
            Beside::After(b) => {
                let i = buckets.partition_point(|x| *x < b);
                // Values change up to the bucket before the next observed one.
                i < buckets.len() && buckets[i] - width + LOOKBACK_HOURS * HOUR_NS < start
            }
        }
    };
    margins
        .iter()
        .filter(|(d, beside)| beside.iter().all(|(key, b)| unchanged(**d, key, *b)))
        .map(|(d, _)| *d)
        .collect()
}

/// The number of UTC dates the bucket ranges `spans` cover together.
pub(super) fn dates_covered(mut spans: Vec<(i64, i64)>) -> u64 {
    spans.sort_unstable();
    let (mut n, mut end) = (0u64, i64::MIN);
    for (a, b) in spans {
        let (da, db) = (a.div_euclid(DAY_NS), b.div_euclid(DAY_NS));
        let from = da.max(end.saturating_add(1));
        if db >= from {
            n += (db - from + 1) as u64;
        }
        end = end.max(db);
    }
    n
}

/// The silver dates that taking an object's previous rows out affects, when every series'
/// extent provably stays as it is; `None` when those rows may have held a series' first or
/// last bucket (the extent may shrink, which only a rebuild of the metric can tell).
///
/// The previous rows are known only by the object's manifest (`old`): the span from their
/// first to their last timestamp (or, in manifests written before spans were recorded,
/// their dates) and a filter of their series, so every series whose extent meets that span
/// and that the filter may contain (every series, in manifests written before filters were
/// recorded) is treated as having had rows all over it. `known` are the stored extents (the
/// previous rows included); `added` is the bucket range of each series in the object's new
/// content (empty for a removal), whose own effect the caller adds as for any new content. A series keeps its first bucket
/// when that bucket is before the span or the new content has a bucket at or before it;
/// likewise its last bucket.
pub(super) fn retraction_scope(
    old: &Manifest,
    known: &BTreeMap<SeriesKey, Extent>,
    added: &HashMap<&SeriesKey, (i64, i64)>,
    width: i64,
) -> Option<BTreeSet<NaiveDate>> {
    let mut dates = BTreeSet::new();
    // The previous rows' buckets all lie in [a, b).
    let (a, b) = match (old.span, old.dates.first(), old.dates.last()) {
        (Some((lo, hi)), _, _) => (bucket_of(lo, width), bucket_of(hi, width) + width),
        (None, Some(&d1), Some(&d2)) => (day_start(d1), day_start(d2) + DAY_NS),
        _ => return Some(dates),
    };
    for (series, e) in known {
        let outside = e.last < a || e.first >= b;
        let never_held = old.series.as_ref().is_some_and(|f| !f.may_contain(series));
        if outside || never_held {
            continue; // no previous row of this series
        }
        let new = added.get(series).copied();
        let keeps_first = e.first < a || new.is_some_and(|(lo, _)| lo <= e.first);
        let keeps_last = e.last >= b || new.is_some_and(|(_, hi)| hi >= e.last);
        if !(keeps_first && keeps_last) {
            return None;
        }
        let first = new.map_or(e.first, |(lo, _)| lo.min(e.first));
        let last = new.map_or(e.last, |(_, hi)| hi.max(e.last));
        // Values change within [a, b - width]; interpolation reaches `reach` further and
        // features read back LOOKBACK_HOURS.
        let from = (a - reach(width)).max(first);
        let to = (b - width + reach(width) + LOOKBACK_HOURS * HOUR_NS).min(last);
        insert_dates(&mut dates, from, to);
    }
    Some(dates)
}
