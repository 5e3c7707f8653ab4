//! Engineered features (contract section 4) over a cleansed timeline.
//!
//! Pure functions: a [`Timeline`] stretch in, feature rows out. Every windowed statistic is
//! computed from the window's own values in time order, never from running sums, so the
//! result for a bucket depends only on the values in its window: an incremental run over a
//! few days and a batch run over all history agree to the bit.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

use crate::cleanse::Timeline;
use crate::config::MetricConfig;
use crate::ids::{MetricId, SeriesKey};

/// Hours of history a feature at `t` reads (`lag_168h` reads `t-168h`).
pub const LOOKBACK_HOURS: i64 = 168;
/// Minimum non-null values for the 24h window statistics.
pub const MIN_COUNT_24H: usize = 12;
/// Minimum non-null values for the 168h window statistics.
pub const MIN_COUNT_168H: usize = 84;

/// Columns of silver rows under construction (one partition or any set of rows), in the
/// contract's column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SilverRows {
    /// `metric_id`.
    pub metric_id: Vec<String>,
    /// `series_key`.
    pub series_key: Vec<String>,
    /// `ts`, microseconds since the epoch (UTC).
    pub ts_us: Vec<i64>,
    /// `value`.
    pub value: Vec<Option<f64>>,
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
    pub floats: [Vec<Option<f64>>; 10],
    /// `is_outlier`.
    pub is_outlier: Vec<bool>,
}

impl SilverRows {
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
}

/// Mean and sample standard deviation of the non-null values of a window, or `None`s below
/// `min_count` (the std also needs two values). An exactly constant window has std 0.
pub fn window_stats(window: &[Option<f64>], min_count: usize) -> (Option<f64>, Option<f64>) {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in window.iter().flatten() {
        n += 1;
        sum += v;
    }
    if n < min_count.max(1) {
        return (None, None);
    }
    let mean = sum / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let mut ss = 0.0f64;
    for v in window.iter().flatten() {
        let d = v - mean;
        ss += d * d;
    }
    (Some(mean), Some((ss / (n - 1) as f64).sqrt()))
}

/// Features of the bucket at index `i` of `values` (a dense hourly-or-finer stretch).
/// `per_hour` is the number of buckets per hour; indices before 0 read as null.
pub fn features_at(
    values: &[Option<f64>],
    i: usize,
    per_hour: usize,
    outlier_z: f64,
) -> FeatureRow {
    let at = |back_hours: usize| -> Option<f64> {
        let back = back_hours * per_hour;
        if back > i {
            None
        } else {
            values[i - back]
        }
    };
    let window = |hours: usize| -> &[Option<f64>] {
        // The buckets of t-(hours-1)h .. t, inclusive.
        let len = (hours - 1) * per_hour + 1;
        &values[i + 1 - len.min(i + 1)..=i]
    };
    let value = values[i];
    let (lag_1h, lag_24h, lag_168h) = (at(1), at(24), at(168));
    let (mean_24, std_24) = window_stats(window(24), MIN_COUNT_24H);
    let (mean_168, std_168) = window_stats(window(168), MIN_COUNT_168H);
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
    let per_hour = (3_600_000_000_000 / timeline.width) as usize;
    for i in 0..timeline.values.len() {
        let b = timeline.start + i as i64 * timeline.width;
        if b < emit_from || b > emit_to || !timeline.in_timeline[i] {
            continue;
        }
        let f = features_at(&timeline.values, i, per_hour, cfg.outlier_z);
        let dt = DateTime::from_timestamp_nanos(b);
        let date = dt.date_naive();
        let dow = dt.weekday().num_days_from_monday() as i32;
        let out = partitions.entry(date).or_default();
        out.metric_id.push(metric.as_str().to_string());
        out.series_key.push(key.as_str().to_string());
        out.ts_us.push(b.div_euclid(1_000));
        out.value.push(timeline.values[i]);
        out.is_imputed.push(timeline.imputed[i]);
        out.hour.push(dt.hour() as i32);
        out.day_of_week.push(dow);
        out.is_weekend.push(dow >= 5);
        out.is_holiday.push(cfg.holidays.contains(&date));
        for (col, v) in out.floats.iter_mut().zip(f.floats) {
            col.push(v);
        }
        out.is_outlier.push(f.is_outlier);
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
}
