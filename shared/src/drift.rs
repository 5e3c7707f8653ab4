//! Continuous evaluation and drift: live accuracy of the approved version on the actuals that
//! arrived, forecast-accuracy drift against its backtest, and input drift by the population
//! stability index (PSI) of recent values against the training window.

use serde::{Deserialize, Serialize};

/// Live accuracy of forecasts against actuals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LiveScore {
    /// Mean absolute percentage error over nonzero actuals (NaN when none).
    pub mape: f64,
    /// MAE divided by the mean absolute weekly difference `|y_t - y_{t-168}|` of the same
    /// hours (NaN without lags or when they are all equal).
    pub mase: f64,
    /// Share of actuals inside the bounds.
    pub coverage: f64,
    /// Points scored.
    pub n: usize,
}

/// One scored point: actual, its forecast and bounds, and the actual one week earlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Actual.
    pub actual: f64,
    /// Point forecast.
    pub expected: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// The actual 168 hours earlier (silver `lag_168h`), if known.
    pub lag_168h: Option<f64>,
    /// The bucket's timestamp (µs since the epoch).
    pub ts_us: i64,
}

/// The online interval factor of a version in use ([`crate::forecast::online`]) and the
/// newest bucket whose actuals it has counted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OnlineState {
    /// Multiplies the version's trained calibration factors (1: as trained).
    pub factor: f64,
    /// The newest bucket counted (µs); `None` before any.
    pub through_us: Option<i64>,
}

impl Default for OnlineState {
    fn default() -> Self {
        Self {
            factor: 1.0,
            through_us: None,
        }
    }
}

/// The state after the actuals of `points` newer than `state.through_us` (each counted
/// once, however often it is scored again): one [`crate::forecast::online::adapt`] step
/// over them, and the newest of their buckets.
pub fn online_update(state: OnlineState, points: &[Scored], level: f64, rate: f64) -> OnlineState {
    let new: Vec<&Scored> = points
        .iter()
        .filter(|p| state.through_us.is_none_or(|t| p.ts_us > t))
        .collect();
    let Some(newest) = new.iter().map(|p| p.ts_us).max() else {
        return state;
    };
    let misses = new
        .iter()
        .filter(|p| p.actual < p.lower || p.actual > p.upper)
        .count();
    let steps = new
        .iter()
        .map(|p| p.ts_us)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    OnlineState {
        factor: crate::forecast::online::adapt(state.factor, misses, new.len(), steps, level, rate),
        through_us: Some(newest),
    }
}

/// Scores points; `None` without points.
pub fn live_score(points: &[Scored]) -> Option<LiveScore> {
    if points.is_empty() {
        return None;
    }
    let n = points.len();
    let actual: Vec<f64> = points.iter().map(|p| p.actual).collect();
    let expected: Vec<f64> = points.iter().map(|p| p.expected).collect();
    let lower: Vec<f64> = points.iter().map(|p| p.lower).collect();
    let upper: Vec<f64> = points.iter().map(|p| p.upper).collect();
    let mae = points
        .iter()
        .map(|p| (p.actual - p.expected).abs())
        .sum::<f64>()
        / n as f64;
    let lags: Vec<f64> = points
        .iter()
        .filter_map(|p| p.lag_168h.map(|l| (p.actual - l).abs()))
        .collect();
    let scale = if lags.is_empty() {
        f64::NAN
    } else {
        lags.iter().sum::<f64>() / lags.len() as f64
    };
    Some(LiveScore {
        mape: crate::forecast::metrics::mape(&actual, &expected),
        mase: if scale > 0.0 { mae / scale } else { f64::NAN },
        coverage: crate::forecast::metrics::coverage(&actual, &lower, &upper),
        n,
    })
}

/// Forecast-accuracy drift: at least `min_points` scored and the live MASE above `multiple`
/// times the version's backtest MASE (inference passes the first day's, the lead at which
/// live points were forecast).
pub fn accuracy_drift(
    live: &LiveScore,
    backtest_mase: f64,
    multiple: f64,
    min_points: usize,
) -> Option<String> {
    (live.n >= min_points
        && live.mase.is_finite()
        && backtest_mase.is_finite()
        && live.mase > multiple * backtest_mase)
        .then(|| {
            format!(
                "accuracy drift: live MASE {:.3} over {} points > {multiple} x backtest MASE {:.3}",
                live.mase, live.n, backtest_mase
            )
        })
}

/// Population stability index of `recent` against `reference` over `bins` quantile bins of
/// the reference (empty bins get a small floor so the index stays finite). 0 for identical
/// distributions; above 0.25 is conventionally a major shift. `None` when either side has
/// fewer than `bins` values.
pub fn psi(reference: &[f64], recent: &[f64], bins: usize) -> Option<f64> {
    let mut r: Vec<f64> = reference
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let c: Vec<f64> = recent.iter().copied().filter(|v| v.is_finite()).collect();
    if bins < 2 || r.len() < bins || c.len() < bins {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..bins).map(|k| r[k * r.len() / bins]).collect();
    edges.dedup();
    let bin_of = |v: f64| edges.partition_point(|e| *e <= v);
    let nb = edges.len() + 1;
    let share = |vals: &[f64]| {
        let mut counts = vec![0usize; nb];
        for v in vals {
            counts[bin_of(*v)] += 1;
        }
        counts
            .into_iter()
            .map(|k| (k as f64 / vals.len() as f64).max(1e-4))
            .collect::<Vec<f64>>()
    };
    let (pr, pc) = (share(&r), share(&c));
    Some(
        pr.iter()
            .zip(&pc)
            .map(|(a, b)| (b - a) * (b / a).ln())
            .sum(),
    )
}

/// Input drift: PSI of recent values against the training window above `threshold`.
pub fn input_drift(reference: &[f64], recent: &[f64], threshold: f64) -> Option<String> {
    let p = psi(reference, recent, 10)?;
    (p > threshold).then(|| format!("input drift: PSI {p:.3} of recent values > {threshold}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, level: f64, amp: f64, phase: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                level
                    + amp * (((t + phase) % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                    + ((t * 7919) % 7) as f64
            })
            .collect()
    }

    #[test]
    fn psi_is_small_for_the_same_process_and_large_for_a_shift() {
        let reference = wave(24 * 28, 100.0, 20.0, 0);
        let same = wave(24 * 7, 100.0, 20.0, 5);
        let shifted = wave(24 * 7, 140.0, 20.0, 5);
        let p_same = psi(&reference, &same, 10).expect("psi");
        let p_shift = psi(&reference, &shifted, 10).expect("psi");
        assert!(p_same < 0.1, "same process: {p_same}");
        assert!(p_shift > 0.25, "level shift: {p_shift}");
        assert!(input_drift(&reference, &same, 0.25).is_none());
        assert!(input_drift(&reference, &shifted, 0.25).is_some());
        assert_eq!(psi(&reference, &same[..5], 10), None);
        assert!(psi(&reference, &reference, 10).expect("psi").abs() < 1e-12);
    }

    #[test]
    fn online_update_counts_each_new_actual_once() {
        const H: i64 = 3_600_000_000;
        // Two series over hours 1..=3; one miss (series b, hour 3).
        let p = |ts_us: i64, actual: f64| Scored {
            actual,
            expected: 10.0,
            lower: 8.0,
            upper: 12.0,
            lag_168h: None,
            ts_us,
        };
        let pts = [
            p(H, 9.0),
            p(H, 11.0),
            p(2 * H, 10.0),
            p(2 * H, 10.0),
            p(3 * H, 10.0),
            p(3 * H, 20.0),
        ];
        let first = online_update(OnlineState::default(), &pts, 0.9, 0.05);
        // 1 of 6 missed over 3 hours: exp(0.05 * 3 * (1/6 - 0.1)).
        let want = (0.05f64 * 3.0 * (1.0 / 6.0 - 0.1)).exp();
        assert!((first.factor - want).abs() < 1e-12, "{first:?}");
        assert_eq!(first.through_us, Some(3 * H));
        // Scored again next run: nothing new, nothing changes.
        assert_eq!(online_update(first, &pts, 0.9, 0.05), first);
        // Hour 4 arrives covered for both series: only it moves the factor.
        let mut more = pts.to_vec();
        more.extend([p(4 * H, 10.0), p(4 * H, 10.0)]);
        let second = online_update(first, &more, 0.9, 0.05);
        let want = first.factor * (0.05f64 * (0.0 - 0.1)).exp();
        assert!((second.factor - want).abs() < 1e-12, "{second:?}");
        assert_eq!(second.through_us, Some(4 * H));
        // A zero rate keeps the factor but still moves the watermark.
        let off = online_update(OnlineState::default(), &pts, 0.9, 0.0);
        assert_eq!(
            off,
            OnlineState {
                factor: 1.0,
                through_us: Some(3 * H)
            }
        );
    }

    #[test]
    fn live_score_and_accuracy_drift_by_hand() {
        let pts = [
            Scored {
                actual: 100.0,
                expected: 110.0,
                lower: 90.0,
                upper: 130.0,
                lag_168h: Some(95.0),
                ts_us: 0,
            },
            Scored {
                actual: 200.0,
                expected: 150.0,
                lower: 140.0,
                upper: 160.0,
                lag_168h: Some(210.0),
                ts_us: 3_600_000_000,
            },
        ];
        let s = live_score(&pts).expect("score");
        // MAE 30, weekly scale mean(5, 10) = 7.5 -> MASE 4; MAPE mean(0.1, 0.25); coverage 1/2.
        assert_eq!(s.n, 2);
        assert!((s.mase - 4.0).abs() < 1e-12);
        assert!((s.mape - 0.175).abs() < 1e-12);
        assert_eq!(s.coverage, 0.5);
        assert!(accuracy_drift(&s, 1.0, 1.5, 2).is_some(), "4 > 1.5 x 1");
        assert!(accuracy_drift(&s, 3.0, 1.5, 2).is_none(), "4 < 1.5 x 3");
        assert!(accuracy_drift(&s, 1.0, 1.5, 3).is_none(), "too few points");
        assert!(live_score(&[]).is_none());
    }
}
