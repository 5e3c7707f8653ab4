//! Engineered features (contract section 4) over a cleansed timeline.
//!
//! Pure functions: a [`Timeline`] stretch in, feature rows out. Every windowed statistic is
//! computed from the window's own values, in an order fixed by their positions within the
//! window ([`DenseValues::window_stats`]), never from running sums carried along the
//! stretch, so the result for a bucket depends only on the values in its window: an
//! incremental run over a few days and a batch run over all history agree to the bit.
//! The v2 totals over 7 and 30 days ([`DaySums`]) are sums of whole UTC days and of the
//! partial days at the window's ends, each summed in a fixed order within its day, so they
//! too depend only on the window's values and its place in time, at O(1) cost per bucket.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate};

use crate::cleanse::Timeline;
use crate::column::F64Column;
use crate::config::MetricConfig;
use crate::ids::{MetricId, SeriesKey};

/// Hours of history a feature at `t` reads: the 720-hour window reads back to `t-719h`
/// (`lag_168h` reads `t-168h`). A change of the value at `s` reaches the features of the
/// buckets `s..=s+719h`.
pub const LOOKBACK_HOURS: i64 = 719;
/// Minimum non-null values for the 24h window statistics.
pub const MIN_COUNT_24H: usize = 12;
/// Minimum non-null values for the 168h window statistics.
pub const MIN_COUNT_168H: usize = 84;
/// Minimum non-null values for the 720h (30-day) window statistics.
pub const MIN_COUNT_720H: usize = 360;

/// Columns of silver rows under construction (one partition or any set of rows), in the
/// contract's column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SilverRows {
    /// `metric_id` (shared strings: a partition repeats one metric and few series).
    pub metric_id: Vec<Arc<str>>,
    /// `series_key`.
    pub series_key: Vec<Arc<str>>,
    /// `ts`, microseconds since the epoch (UTC).
    pub ts_us: Vec<i64>,
    /// `value`.
    pub value: F64Column,
    /// `is_imputed`.
    pub is_imputed: Vec<bool>,
    /// `hour`.
    pub hour: Vec<i32>,
    /// `day_of_week`.
    pub day_of_week: Vec<i32>,
    /// `is_weekend`.
    pub is_weekend: Vec<bool>,
    /// `is_holiday`.
    pub is_holiday: Vec<bool>,
    /// The ten float features in [`crate::contract::silver_col::FLOAT_FEATURES`] order.
    pub floats: [F64Column; 10],
    /// `is_outlier`.
    pub is_outlier: Vec<bool>,
    /// The three v2 totals in [`crate::contract::silver_col::TOTALS`] order.
    pub totals: [F64Column; 3],
}

impl SilverRows {
    /// Empty rows with room for `n` rows in every column.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            metric_id: Vec::with_capacity(n),
            series_key: Vec::with_capacity(n),
            ts_us: Vec::with_capacity(n),
            value: F64Column::with_capacity(n),
            is_imputed: Vec::with_capacity(n),
            hour: Vec::with_capacity(n),
            day_of_week: Vec::with_capacity(n),
            is_weekend: Vec::with_capacity(n),
            is_holiday: Vec::with_capacity(n),
            floats: std::array::from_fn(|_| F64Column::with_capacity(n)),
            is_outlier: Vec::with_capacity(n),
            totals: std::array::from_fn(|_| F64Column::with_capacity(n)),
        }
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }
    /// Moves every row of `other` to the end of `self`.
    pub fn append(&mut self, other: &mut SilverRows) {
        self.metric_id.append(&mut other.metric_id);
        self.series_key.append(&mut other.series_key);
        self.ts_us.append(&mut other.ts_us);
        self.value.append(&mut other.value);
        self.is_imputed.append(&mut other.is_imputed);
        self.hour.append(&mut other.hour);
        self.day_of_week.append(&mut other.day_of_week);
        self.is_weekend.append(&mut other.is_weekend);
        self.is_holiday.append(&mut other.is_holiday);
        for (a, b) in self.floats.iter_mut().zip(other.floats.iter_mut()) {
            a.append(b);
        }
        self.is_outlier.append(&mut other.is_outlier);
        for (a, b) in self.totals.iter_mut().zip(other.totals.iter_mut()) {
            a.append(b);
        }
    }
    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }
}

/// The features of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureRow {
    /// lag_1h, lag_24h, lag_168h, roll_mean_24h, roll_std_24h, roll_mean_168h,
    /// roll_std_168h, diff_24h, pct_change_168h, zscore_168h.
    pub floats: [Option<f64>; 10],
    /// |zscore_168h| > outlier_z.
    pub is_outlier: bool,
    /// roll_sum_168h, roll_sum_720h, roll_mean_720h.
    pub totals: [Option<f64>; 3],
}

/// Mean and sample standard deviation of the non-null values of a window, or `None`s below
/// `min_count` (the std also needs two values). A window whose non-null values are all
/// equal has exactly that mean and std 0.
pub fn window_stats(window: &[Option<f64>], min_count: usize) -> (Option<f64>, Option<f64>) {
    if window.is_empty() {
        return (None, None);
    }
    DenseValues::from_options(window).window_stats(0, window.len() - 1, min_count)
}

/// A stretch of values in the form the window statistics read: per bucket the value (0 where
/// null) and a mask (1 where non-null, 0 where null), plus prefix counts that answer "how
/// many non-null values" and "are they all equal" for any window in O(1). Sums then run
/// without branches, several lanes at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DenseValues {
    /// Values, 0 where null.
    pub v: Vec<f64>,
    /// 1 where the value is non-null, 0 where null.
    pub ok: Vec<f64>,
    /// `non_null[k]`: non-null values before index `k` (length `len + 1`).
    non_null: Vec<u32>,
    /// `changes[k]`: indices before `k` holding a non-null value that differs from the
    /// previous non-null value (length `len + 1`).
    changes: Vec<u32>,
    /// `next_non_null[k]`: the first index `>= k` with a non-null value, or `len`.
    next_non_null: Vec<u32>,
}

impl DenseValues {
    /// The dense form of `values`.
    pub fn from_options(values: &[Option<f64>]) -> Self {
        let n = values.len();
        let mut d = Self {
            v: Vec::with_capacity(n),
            ok: Vec::with_capacity(n),
            non_null: Vec::with_capacity(n + 1),
            changes: Vec::with_capacity(n + 1),
            next_non_null: vec![n as u32; n],
        };
        let (mut nn, mut ch, mut prev) = (0u32, 0u32, None::<f64>);
        d.non_null.push(0);
        d.changes.push(0);
        for x in values {
            d.v.push(x.unwrap_or(0.0));
            d.ok.push(if x.is_some() { 1.0 } else { 0.0 });
            if let Some(x) = *x {
                nn += 1;
                if prev.is_some_and(|p| p != x) {
                    ch += 1;
                }
                prev = Some(x);
            }
            d.non_null.push(nn);
            d.changes.push(ch);
        }
        let mut next = n as u32;
        for k in (0..n).rev() {
            if values[k].is_some() {
                next = k as u32;
            }
            d.next_non_null[k] = next;
        }
        d
    }

    /// The value at `i`, `None` where null.
    pub fn get(&self, i: usize) -> Option<f64> {
        (self.ok[i] != 0.0).then(|| self.v[i])
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// True without buckets.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// Non-null values among the buckets `from..=to` (`from <= to < len`).
    pub fn count(&self, from: usize, to: usize) -> usize {
        (self.non_null[to + 1] - self.non_null[from]) as usize
    }

    /// The value every non-null bucket of `from..=to` holds, when there is at least one and
    /// they are all equal.
    pub fn constant(&self, from: usize, to: usize) -> Option<f64> {
        let first = self.next_non_null[from] as usize;
        (first <= to && self.changes[to + 1] == self.changes[first + 1]).then(|| self.v[first])
    }

    /// [`window_stats`] of the buckets `from..=to` (`from <= to < len`).
    ///
    /// Sums are kept in `LANES` partial sums by position within the window and added in
    /// one fixed order, so the result depends only on the window's values.
    pub fn window_stats(
        &self,
        from: usize,
        to: usize,
        min_count: usize,
    ) -> (Option<f64>, Option<f64>) {
        let n = self.count(from, to);
        if n < min_count.max(1) {
            return (None, None);
        }
        if let Some(c) = self.constant(from, to) {
            // Every non-null value equals the first: no rounding may invent a spread.
            return (Some(c), (n >= 2).then_some(0.0));
        }
        let (v, ok) = (&self.v[from..=to], &self.ok[from..=to]);
        let split = v.len() - v.len() % LANES;
        let mut sum = [0.0f64; LANES];
        for a in v[..split].chunks_exact(LANES) {
            for l in 0..LANES {
                sum[l] += a[l];
            }
        }
        let mut s = (sum[0] + sum[1]) + (sum[2] + sum[3]);
        for x in &v[split..] {
            s += x;
        }
        let mean = s / n as f64;
        let mut ss = [0.0f64; LANES];
        for (a, m) in v[..split]
            .chunks_exact(LANES)
            .zip(ok[..split].chunks_exact(LANES))
        {
            for l in 0..LANES {
                let d = (a[l] - mean) * m[l];
                ss[l] += d * d;
            }
        }
        let mut q = (ss[0] + ss[1]) + (ss[2] + ss[3]);
        for (a, m) in v[split..].iter().zip(&ok[split..]) {
            let d = (a - mean) * m;
            q += d * d;
        }
        (Some(mean), Some((q / (n - 1) as f64).sqrt()))
    }
}

/// Partial sums of a window statistic (see [`DenseValues::window_stats`]).
const LANES: usize = 4;

/// Day-aligned running sums of a stretch, for window totals in O(1) per bucket whose bits
/// depend only on the window's values and where it sits in time (not on where the stretch
/// starts): a window longer than a day is the suffix of its first UTC day, the whole days
/// between, and the prefix of its last day, each of those summed in one fixed order within
/// its day (prefixes forward from the day's start, suffixes backward from its end), added
/// left to right.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaySums {
    /// Buckets per UTC day.
    per_day: usize,
    /// Position within its day of the stretch's first bucket.
    phase: usize,
    /// `prefix[i]`: the values of `i`'s day from its start (or the stretch's) through `i`.
    prefix: Vec<f64>,
    /// `suffix[i]`: the values of `i`'s day from `i` through its end (or the stretch's).
    suffix: Vec<f64>,
}

impl DaySums {
    /// The sums of `d`'s values (nulls count as 0), `per_day` buckets a day, the first
    /// bucket at position `phase` within its day.
    pub fn new(d: &DenseValues, per_day: usize, phase: usize) -> Self {
        let n = d.len();
        let per_day = per_day.max(1);
        let phase = phase % per_day;
        let mut prefix = Vec::with_capacity(n);
        let mut acc = 0.0;
        for (i, x) in d.v.iter().enumerate() {
            if (i + phase).is_multiple_of(per_day) {
                acc = 0.0;
            }
            acc += x;
            prefix.push(acc);
        }
        let mut suffix = vec![0.0; n];
        let mut acc = 0.0;
        for i in (0..n).rev() {
            if (i + phase + 1).is_multiple_of(per_day) {
                acc = 0.0;
            }
            acc += d.v[i];
            suffix[i] = acc;
        }
        Self {
            per_day,
            phase,
            prefix,
            suffix,
        }
    }

    fn day(&self, i: usize) -> usize {
        (i + self.phase) / self.per_day
    }

    /// The sum of the values `from..=to` (`from <= to < len`). Exact in the sense of the
    /// type's contract when `from`'s day is before `to`'s, or `from` is 0 or a day's first
    /// bucket (the values before the stretch are taken as null): what the windows of at
    /// least a day that [`features_at_dense`] asks for always are.
    pub fn sum(&self, from: usize, to: usize) -> f64 {
        let (df, dt) = (self.day(from), self.day(to));
        if df == dt {
            debug_assert!(from == 0 || (from + self.phase).is_multiple_of(self.per_day));
            return self.prefix[to];
        }
        let mut s = self.suffix[from];
        for day in df + 1..dt {
            // The day's last bucket holds its whole prefix.
            s += self.prefix[(day + 1) * self.per_day - self.phase - 1];
        }
        s + self.prefix[to]
    }
}

/// Features of the bucket at index `i` of `values` (a dense hourly-or-finer stretch).
/// `per_hour` is the number of buckets per hour; indices before 0 read as null.
pub fn features_at(
    values: &[Option<f64>],
    i: usize,
    per_hour: usize,
    outlier_z: f64,
) -> FeatureRow {
    let d = DenseValues::from_options(values);
    let days = DaySums::new(&d, 24 * per_hour, 0);
    features_at_dense(&d, &days, i, per_hour, outlier_z)
}

/// [`features_at`] over the dense form of the stretch and its day sums (what
/// [`series_rows`] uses).
pub fn features_at_dense(
    d: &DenseValues,
    days: &DaySums,
    i: usize,
    per_hour: usize,
    outlier_z: f64,
) -> FeatureRow {
    let at = |back_hours: usize| -> Option<f64> {
        let back = back_hours * per_hour;
        if back > i {
            None
        } else {
            d.get(i - back)
        }
    };
    // The first bucket of t-(hours-1)h .. t (clamped to the stretch).
    let window_from = |hours: usize| i + 1 - ((hours - 1) * per_hour + 1).min(i + 1);
    let window = |hours: usize, min_count: usize| d.window_stats(window_from(hours), i, min_count);
    let total = |hours: usize, min_count: usize| {
        let from = window_from(hours);
        let n = d.count(from, i);
        if n < min_count {
            return (None, None);
        }
        let sum = days.sum(from, i);
        // A constant window has exactly its value as mean, like the other window means.
        let mean = d.constant(from, i).unwrap_or(sum / n as f64);
        (Some(sum), Some(mean))
    };
    let value = d.get(i);
    let (lag_1h, lag_24h, lag_168h) = (at(1), at(24), at(168));
    let (mean_24, std_24) = window(24, MIN_COUNT_24H);
    let (mean_168, std_168) = window(168, MIN_COUNT_168H);
    let (sum_168, _) = total(168, MIN_COUNT_168H);
    let (sum_720, mean_720) = total(720, MIN_COUNT_720H);
    let diff_24h = value.zip(lag_24h).map(|(v, l)| v - l);
    let pct_change_168h = match (value, lag_168h) {
        (Some(v), Some(l)) if l != 0.0 => Some((v - l) / l.abs()),
        _ => None,
    };
    let zscore_168h = match (value, mean_168, std_168) {
        (Some(v), Some(m), Some(s)) if s != 0.0 => Some((v - m) / s),
        _ => None,
    };
    FeatureRow {
        floats: [
            lag_1h,
            lag_24h,
            lag_168h,
            mean_24,
            std_24,
            mean_168,
            std_168,
            diff_24h,
            pct_change_168h,
            zscore_168h,
        ],
        is_outlier: zscore_168h.is_some_and(|z| z.abs() > outlier_z),
        totals: [sum_168, sum_720, mean_720],
    }
}

/// Appends the silver rows of one series for the buckets of `timeline` within
/// `[emit_from, emit_to]` that are in the series' timeline.
///
/// The timeline must start at least [`LOOKBACK_HOURS`] before `emit_from` (or at the
/// series' first bucket) so that every window is complete. Rows go to the partition of
/// their bucket's UTC date in `partitions`.
pub fn series_rows(
    metric: &MetricId,
    key: &SeriesKey,
    cfg: &MetricConfig,
    timeline: &Timeline,
    emit_from: i64,
    emit_to: i64,
    partitions: &mut BTreeMap<NaiveDate, SilverRows>,
) {
    const HOUR_NS: i64 = 3_600_000_000_000;
    const DAY_NS: i64 = 24 * HOUR_NS;
    let per_hour = (HOUR_NS / timeline.width) as usize;
    let dense = DenseValues::from_options(&timeline.values);
    let per_day = (DAY_NS / timeline.width) as usize;
    let phase = (timeline.start.rem_euclid(DAY_NS) / timeline.width) as usize;
    let days = DaySums::new(&dense, per_day, phase);
    let metric: Arc<str> = Arc::from(metric.as_str());
    let key: Arc<str> = Arc::from(key.as_str());
    let n = timeline.values.len();
    let bucket = |i: usize| timeline.start + i as i64 * timeline.width;
    // One UTC day (one partition, one set of calendar columns) at a time.
    let mut i = 0;
    while i < n {
        let day_no = bucket(i).div_euclid(DAY_NS);
        let mut end = i + 1;
        while end < n && bucket(end).div_euclid(DAY_NS) == day_no {
            end += 1;
        }
        let emitted: Vec<usize> = (i..end)
            .filter(|&k| (emit_from..=emit_to).contains(&bucket(k)) && timeline.in_timeline[k])
            .collect();
        i = end;
        if emitted.is_empty() {
            continue;
        }
        let date = DateTime::from_timestamp_nanos(day_no * DAY_NS).date_naive();
        let dow = date.weekday().num_days_from_monday() as i32;
        let holiday = cfg.holidays.contains(&date);
        let out = partitions.entry(date).or_default();
        // The day's constant columns in one go each, then the per-row ones.
        let m = emitted.len();
        out.metric_id
            .extend(std::iter::repeat_n(&metric, m).cloned());
        out.series_key.extend(std::iter::repeat_n(&key, m).cloned());
        out.day_of_week.extend(std::iter::repeat_n(dow, m));
        out.is_weekend.extend(std::iter::repeat_n(dow >= 5, m));
        out.is_holiday.extend(std::iter::repeat_n(holiday, m));
        for k in emitted {
            let b = bucket(k);
            let f = features_at_dense(&dense, &days, k, per_hour, cfg.outlier_z);
            out.ts_us.push(b.div_euclid(1_000));
            out.value.push(timeline.values[k]);
            out.is_imputed.push(timeline.imputed[k]);
            out.hour.push(((b - day_no * DAY_NS) / HOUR_NS) as i32);
            for (col, v) in out.floats.iter_mut().zip(f.floats) {
                col.push(v);
            }
            out.is_outlier.push(f.is_outlier);
            for (col, v) in out.totals.iter_mut().zip(f.totals) {
                col.push(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: Option<f64>, b: f64) {
        let a = a.expect("value expected");
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
    }

    #[test]
    fn lags_diff_and_pct_change() {
        let values: Vec<Option<f64>> = (0..200).map(|i| Some(i as f64)).collect();
        let f = features_at(&values, 199, 1, 3.0);
        assert_eq!(f.floats[0], Some(198.0));
        assert_eq!(f.floats[1], Some(175.0));
        assert_eq!(f.floats[2], Some(31.0));
        assert_eq!(f.floats[7], Some(24.0));
        approx(f.floats[8], (199.0 - 31.0) / 31.0);
        // Before the history starts the lags are null.
        let f = features_at(&values, 100, 1, 3.0);
        assert_eq!(f.floats[2], None);
        assert_eq!(f.floats[8], None);
    }

    #[test]
    fn pct_change_is_null_on_zero_or_null_lag_and_uses_abs() {
        let mut values = vec![Some(1.0); 170];
        values[169 - 168] = Some(0.0);
        assert_eq!(features_at(&values, 169, 1, 3.0).floats[8], None);
        values[169 - 168] = None;
        assert_eq!(features_at(&values, 169, 1, 3.0).floats[8], None);
        values[169 - 168] = Some(-2.0);
        values[169] = Some(1.0);
        approx(features_at(&values, 169, 1, 3.0).floats[8], 1.5);
    }

    #[test]
    fn rolling_24h_minimum_count() {
        // 11 non-null values in the window: null; 12: mean and sample std.
        let mut values = vec![None; 24];
        for (i, v) in values.iter_mut().enumerate().take(11) {
            *v = Some(i as f64);
        }
        let f = features_at(&values, 23, 1, 3.0);
        assert_eq!((f.floats[3], f.floats[4]), (None, None));
        values[23] = Some(11.0);
        let f = features_at(&values, 23, 1, 3.0);
        approx(f.floats[3], 5.5);
        // Sample std of 0..=11: sqrt(sum((i-5.5)^2)/11) = sqrt(143/11) = sqrt(13).
        approx(f.floats[4], 13f64.sqrt());
    }

    #[test]
    fn rolling_window_is_t_minus_23h_to_t() {
        // A value at t-24h is outside the 24h window.
        let mut values = vec![Some(1.0); 25];
        values[0] = Some(1000.0);
        let f = features_at(&values, 24, 1, 3.0);
        assert_eq!(f.floats[3], Some(1.0));
        assert_eq!(f.floats[4], Some(0.0));
    }

    #[test]
    fn rolling_168h_minimum_count_and_zero_std() {
        let mut values = vec![None; 168];
        for v in values.iter_mut().skip(168 - 83) {
            *v = Some(5.0);
        }
        let f = features_at(&values, 167, 1, 3.0);
        assert_eq!(f.floats[5], None, "83 values are fewer than 84");
        values[0] = Some(5.0);
        let f = features_at(&values, 167, 1, 3.0);
        assert_eq!(f.floats[5], Some(5.0));
        assert_eq!(f.floats[6], Some(0.0), "constant window has std exactly 0");
        assert_eq!(f.floats[9], None, "zscore is null when std is 0");
        assert!(!f.is_outlier);
    }

    #[test]
    fn zscore_and_outlier_threshold() {
        // 167 values alternating 0/2 (mean near 1) and a spike.
        let mut values: Vec<Option<f64>> = (0..167)
            .map(|i| Some(if i % 2 == 0 { 0.0 } else { 2.0 }))
            .collect();
        values.push(Some(30.0));
        let w: Vec<f64> = values.iter().flatten().copied().collect();
        let mean = w.iter().sum::<f64>() / 168.0;
        let sd = (w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 167.0).sqrt();
        let f = features_at(&values, 167, 1, 3.0);
        approx(f.floats[9], (30.0 - mean) / sd);
        assert!(f.is_outlier);
        let f = features_at(&values, 167, 1, 100.0);
        assert!(!f.is_outlier, "threshold is the metric's outlier_z");
        // A null value: no zscore, no outlier.
        values[167] = None;
        let f = features_at(&values, 167, 1, 3.0);
        assert_eq!(f.floats[9], None);
        assert!(!f.is_outlier);
    }

    #[test]
    fn single_value_has_mean_but_no_std_when_min_is_one() {
        assert_eq!(window_stats(&[Some(3.0), None], 1), (Some(3.0), None));
        assert_eq!(window_stats(&[None, None], 1), (None, None));
    }

    #[test]
    fn a_constant_window_has_std_zero_even_when_sums_round() {
        // 168 x 0.1: the sum of the values is not 168 * 0.1 exactly, yet the window is
        // constant, so its std must be 0 and the zscore null (contract section 4).
        let values = vec![Some(0.1); 168];
        let f = features_at(&values, 167, 1, 3.0);
        assert_eq!(f.floats[5], Some(0.1));
        assert_eq!(f.floats[6], Some(0.0));
        assert_eq!(f.floats[9], None);
        assert!(!f.is_outlier);
        // Nulls inside do not break constancy; one other value does.
        let mut values = values;
        values[40] = None;
        assert_eq!(window_stats(&values, 84), (Some(0.1), Some(0.0)));
        values[41] = Some(0.1 + 1e-15);
        assert!(window_stats(&values, 84).1.is_some_and(|s| s > 0.0));
    }

    /// The definition, computed the plain way: sequential sums over the non-null values.
    fn naive_stats(w: &[Option<f64>], min_count: usize) -> (Option<f64>, Option<f64>) {
        let xs: Vec<f64> = w.iter().flatten().copied().collect();
        if xs.len() < min_count.max(1) {
            return (None, None);
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        if xs.len() < 2 {
            return (Some(mean), None);
        }
        let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        (Some(mean), Some((ss / (xs.len() - 1) as f64).sqrt()))
    }

    #[test]
    fn totals_need_half_their_window_and_a_constant_window_has_its_value_as_mean() {
        // 720 hours, the first 360 null: exactly half non-null.
        let mut values = vec![None; 360];
        values.extend(std::iter::repeat_n(Some(0.1), 360));
        let f = features_at(&values, 719, 1, 3.0);
        let [sum_168, sum_720, mean_720] = f.totals;
        approx(sum_168, 16.8);
        approx(sum_720, 36.0);
        assert_eq!(mean_720, Some(0.1), "a constant window's mean is its value");
        values[400] = None;
        let f = features_at(&values, 719, 1, 3.0);
        assert_eq!((f.totals[1], f.totals[2]), (None, None), "359 of 720");
        approx(f.totals[0], 16.8);
        // Only the window counts: an older value does not.
        let mut longer = vec![Some(1e6)];
        longer.extend(vec![Some(2.0); 720]);
        let f = features_at(&longer, 720, 1, 3.0);
        approx(f.totals[1], 1440.0);
        approx(f.totals[0], 336.0);
    }

    proptest::proptest! {
        /// The day-sum totals equal the definition, and their bits do not depend on where the
        /// stretch starts (only on the window's values and its place within the days).
        #[test]
        fn totals_match_the_definition_wherever_the_stretch_starts(
            values in proptest::collection::vec(
                proptest::option::weighted(0.9, -1e3f64..1e3), 720..1600),
            at_frac in 0.0f64..1.0,
            cut_frac in 0.0f64..1.0,
            phase in 0usize..24,
            per_hour in proptest::sample::select(vec![1usize, 4]),
        ) {
            let per_day = 24 * per_hour;
            let len = |hours: usize| (hours - 1) * per_hour + 1;
            let n = values.len();
            let i = ((n - 1) as f64 * at_frac) as usize;
            let full = DenseValues::from_options(&values);
            let f = features_at_dense(&full, &DaySums::new(&full, per_day, phase), i, per_hour, 3.0);
            for (k, (hours, min)) in [(168, MIN_COUNT_168H), (720, MIN_COUNT_720H)].into_iter().enumerate() {
                let from = i + 1 - len(hours).min(i + 1);
                let w: Vec<f64> = values[from..=i].iter().flatten().copied().collect();
                let want = (w.len() >= min).then(|| w.iter().sum::<f64>());
                let scale = w.iter().map(|x| x.abs()).sum::<f64>().max(1.0);
                match (f.totals[k], want) {
                    (Some(g), Some(w)) => proptest::prop_assert!((g - w).abs() <= 1e-9 * scale),
                    (g, w) => proptest::prop_assert!(g.is_none() && w.is_none(), "{g:?} {w:?}"),
                }
            }
            // The stretch cut to start anywhere at or before the 720-hour window.
            let earliest = i + 1 - len(720).min(i + 1);
            let cut = (earliest as f64 * cut_frac) as usize;
            let part = DenseValues::from_options(&values[cut..]);
            let days = DaySums::new(&part, per_day, (phase + cut) % per_day);
            let g = features_at_dense(&part, &days, i - cut, per_hour, 3.0);
            proptest::prop_assert_eq!(
                f.totals.map(|x| x.map(f64::to_bits)),
                g.totals.map(|x| x.map(f64::to_bits))
            );
        }

        /// The lane-wise statistics equal the definition (to rounding) on any window of any
        /// stretch, and depend only on the window's own values (not on where it sits).
        #[test]
        fn dense_window_stats_match_the_definition(
            values in proptest::collection::vec(
                proptest::option::weighted(0.8, -1e3f64..1e3), 1..400),
            from_frac in 0.0f64..1.0,
            len in 1usize..200,
            min_count in 0usize..100,
        ) {
            let from = ((values.len() - 1) as f64 * from_frac) as usize;
            let to = (from + len - 1).min(values.len() - 1);
            let d = DenseValues::from_options(&values);
            let got = d.window_stats(from, to, min_count);
            let want = naive_stats(&values[from..=to], min_count);
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                (a, b) => a.is_none() && b.is_none(),
            };
            proptest::prop_assert!(close(got.0, want.0), "mean {:?} vs {:?}", got, want);
            proptest::prop_assert!(close(got.1, want.1), "std {:?} vs {:?}", got, want);
            // The same window cut out on its own gives the same bits.
            let alone = DenseValues::from_options(&values[from..=to]);
            let again = alone.window_stats(0, to - from, min_count);
            proptest::prop_assert_eq!(
                (got.0.map(f64::to_bits), got.1.map(f64::to_bits)),
                (again.0.map(f64::to_bits), again.1.map(f64::to_bits))
            );
        }
    }
}
