//! The pure computation of silver for one metric: from its observed (aggregated) buckets
//! and the series' extents to the rows of the emitted dates and their encoded partitions.
//! No I/O: [`super::FeatureEngine`] loads the inputs and writes the outputs.

use super::*;

/// The (pure) computation of silver for one metric from loaded rows.
pub(super) struct MetricInput<'a> {
    pub(super) metric: &'a MetricId,
    pub(super) cfg: &'a MetricConfig,
    /// Aggregated observed buckets by series.
    pub(super) observed: BTreeMap<SeriesKey, SeriesBuckets>,
    /// Extents (first, last bucket) by series.
    pub(super) extents: BTreeMap<SeriesKey, (i64, i64)>,
}

/// Silver rows by partition date, plus each series' newest row (date, index) if computed.
#[derive(Default)]
pub(super) struct SeriesOutput {
    pub(super) partitions: BTreeMap<NaiveDate, SilverRows>,
    pub(super) newest: Vec<(NaiveDate, usize)>,
}

/// The silver rows of a metric: one [`SeriesOutput`] per contiguous range of series (in key
/// order), so a partition is the concatenation of its rows in every part. Kept apart rather
/// than appended: the encoder reads the parts in order, no row is copied to merge them.
pub(super) struct MetricOutput {
    pub(super) parts: Vec<SeriesOutput>,
}

impl MetricOutput {
    /// Dates with rows in any part, ascending.
    pub(super) fn dates(&self) -> Vec<NaiveDate> {
        let dates: BTreeSet<NaiveDate> = self
            .parts
            .iter()
            .flat_map(|p| p.partitions.iter())
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(d, _)| *d)
            .collect();
        dates.into_iter().collect()
    }

    /// The rows of partition `date`, part by part (series key order).
    pub(super) fn chunks(&self, date: &NaiveDate) -> Vec<&SilverRows> {
        self.parts
            .iter()
            .filter_map(|p| p.partitions.get(date))
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Each series' newest row: its rows and index.
    pub(super) fn newest(&self) -> impl Iterator<Item = (&SilverRows, usize)> {
        self.parts.iter().flat_map(|p| {
            p.newest
                .iter()
                .filter_map(|(d, i)| Some((p.partitions.get(d)?, *i)))
        })
    }
}

/// Computes silver rows for buckets in `[emit_from, emit_to]` (whole UTC days), the series
/// split over the available cores; rows come in series key order whatever the split.
pub(super) fn compute_metric(
    input: &MetricInput<'_>,
    emit_from: i64,
    emit_to: i64,
) -> MetricOutput {
    let series: Vec<(&SeriesKey, &(i64, i64))> = input.extents.iter().collect();
    let threads = worker_threads();
    if threads < 2 || series.len() < 2 * threads {
        return MetricOutput {
            parts: vec![compute_series(input, &series, emit_from, emit_to)],
        };
    }
    let chunk = series.len().div_ceil(threads);
    let parts = run_jobs(series.chunks(chunk).collect(), |c| {
        compute_series(input, c, emit_from, emit_to)
    });
    MetricOutput { parts }
}

/// [`compute_metric`] for some of the series, in the given order.
pub(super) fn compute_series(
    input: &MetricInput<'_>,
    series: &[(&SeriesKey, &(i64, i64))],
    emit_from: i64,
    emit_to: i64,
) -> SeriesOutput {
    let width = input.cfg.frequency.nanos();
    let mut partitions: BTreeMap<NaiveDate, SilverRows> = BTreeMap::new();
    // Every partition sized for all of these series once (no regrowth while appending).
    if let (Some(first), Some(last)) = (
        series.iter().map(|s| s.1 .0).min(),
        series.iter().map(|s| s.1 .1).max(),
    ) {
        let (from, to) = (first.max(emit_from), last.min(emit_to));
        if from <= to {
            let per_day = (DAY_NS / width) as usize * series.len();
            let (d1, d2) = (date_of(from), date_of(to));
            for d in d1.iter_days().take_while(|d| *d <= d2) {
                partitions.insert(d, SilverRows::with_capacity(per_day));
            }
        }
    }
    let mut newest = Vec::new();
    let empty = |key: &SeriesKey| SeriesBuckets {
        key: key.clone(),
        buckets: vec![],
        values: vec![],
    };
    for &(key, &(first, last)) in series {
        let from = first.max(emit_from);
        let to = last.min(emit_to);
        if from > to {
            continue;
        }
        let owned;
        let observed = match input.observed.get(key) {
            Some(o) => o,
            None => {
                owned = empty(key);
                &owned
            }
        };
        // The stretch starts LOOKBACK_HOURS before the first emitted bucket (clamped to the
        // series' first bucket), so every lag and window is complete.
        let start = (from - LOOKBACK_HOURS * HOUR_NS).max(first);
        let tl = timeline(observed, (first, last), start, to, width);
        series_rows(input.metric, key, input.cfg, &tl, from, to, &mut partitions);
        if (emit_from..=emit_to).contains(&last) {
            let date = DateTime::from_timestamp_nanos(last).date_naive();
            if let Some(rows) = partitions.get(&date) {
                newest.push((date, rows.len() - 1));
            }
        }
    }
    SeriesOutput { partitions, newest }
}

/// Encodes the partitions of `dates` as silver Parquet, split over the available cores;
/// `None` for a date without rows (its partition is deleted). Same order as `dates`.
pub(super) fn encode_partitions(
    out: &MetricOutput,
    dates: &[NaiveDate],
) -> Result<Vec<Option<Bytes>>, SilverError> {
    let encode = |d: &NaiveDate| -> Result<Option<Bytes>, SilverError> {
        let chunks = out.chunks(d);
        if chunks.is_empty() {
            return Ok(None);
        }
        silver::write_parquet_chunks(&chunks).map(Some)
    };
    let threads = worker_threads().min(dates.len());
    // Interleaved so that every thread gets partitions from the whole range.
    let parts = run_jobs((0..threads).collect(), |t| {
        (t..dates.len())
            .step_by(threads)
            .map(|i| (i, encode(&dates[i])))
            .collect::<Vec<_>>()
    });
    let mut bodies: Vec<Option<Bytes>> = vec![None; dates.len()];
    for (i, body) in parts.into_iter().flatten() {
        bodies[i] = body?;
    }
    Ok(bodies)
}

/// Adds observed buckets read back from silver to the aggregated ones (of other dates, so
/// no bucket is in both), keeping each series' buckets ascending.
pub(super) fn merge_observed(
    observed: &mut BTreeMap<SeriesKey, SeriesBuckets>,
    extra: Vec<ObservedBucket>,
) {
    let mut by_series: BTreeMap<SeriesKey, Vec<(i64, f64)>> = BTreeMap::new();
    for b in extra {
        by_series
            .entry(b.series)
            .or_default()
            .push((b.bucket_ns, b.value));
    }
    for (key, mut extra) in by_series {
        let s = observed
            .entry(key.clone())
            .or_insert_with(|| SeriesBuckets {
                key,
                buckets: Vec::new(),
                values: Vec::new(),
            });
        let mut all: Vec<(i64, f64)> = s
            .buckets
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .collect();
        all.append(&mut extra);
        // Stable: were a bucket in both, the aggregated one would come first and stay.
        all.sort_by_key(|(b, _)| *b);
        all.dedup_by_key(|(b, _)| *b);
        (s.buckets, s.values) = all.into_iter().unzip();
    }
}
