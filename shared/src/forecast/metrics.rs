//! Forecast accuracy metrics: MAPE, sMAPE, MASE and empirical interval coverage.
//!
//! All are fractions (0.05 means 5 %), averaged over the points of one forecast. A metric
//! that is undefined for its input (MAPE over all-zero actuals, MASE over a constant
//! history) is `NaN`, never a panic.

/// Mean absolute percentage error: mean of `|a - f| / |a|` over the points with `a != 0`.
/// `NaN` when every actual is zero or the slices are empty.
pub fn mape(actual: &[f64], forecast: &[f64]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (a, f) in actual.iter().zip(forecast) {
        if *a != 0.0 {
            sum += ((a - f) / a).abs();
            n += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Symmetric MAPE: mean of `2 |a - f| / (|a| + |f|)`, in `[0, 2]`; a point where both are
/// zero counts as 0. `NaN` for empty slices.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let n = actual.len().min(forecast.len());
    if n == 0 {
        return f64::NAN;
    }
    let sum: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| {
            let d = a.abs() + f.abs();
            if d == 0.0 {
                0.0
            } else {
                2.0 * (a - f).abs() / d
            }
        })
        .sum();
    sum / n as f64
}

/// Mean absolute scaled error: the forecast's mean absolute error divided by the in-sample
/// mean absolute error of the seasonal-naive forecast with period `season` (falling back to
/// period 1 when the history is shorter than `season + 1`). `NaN` when the scale is zero
/// (a constant history) or an input is empty.
pub fn mase(actual: &[f64], forecast: &[f64], insample: &[f64], season: usize) -> f64 {
    let n = actual.len().min(forecast.len());
    let m = if insample.len() > season {
        season.max(1)
    } else {
        1
    };
    if n == 0 || insample.len() <= m {
        return f64::NAN;
    }
    let scale = insample
        .windows(m + 1)
        .map(|w| (w[m] - w[0]).abs())
        .sum::<f64>()
        / (insample.len() - m) as f64;
    if scale == 0.0 || !scale.is_finite() {
        return f64::NAN;
    }
    let mae = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / n as f64;
    mae / scale
}

/// Empirical coverage: the fraction of actuals within `[lower, upper]` (inclusive).
/// `NaN` for empty slices.
pub fn coverage(actual: &[f64], lower: &[f64], upper: &[f64]) -> f64 {
    let n = actual.len().min(lower.len()).min(upper.len());
    if n == 0 {
        return f64::NAN;
    }
    let inside = actual
        .iter()
        .zip(lower)
        .zip(upper)
        .filter(|((a, l), u)| *l <= *a && *a <= *u)
        .count();
    inside as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn mape_by_hand() {
        // |100-110|/100 = 0.1, |200-150|/200 = 0.25, zero actual skipped.
        assert!(close(
            mape(&[100.0, 200.0, 0.0], &[110.0, 150.0, 5.0]),
            0.175
        ));
        assert!(mape(&[0.0, 0.0], &[1.0, 2.0]).is_nan());
        assert!(mape(&[], &[]).is_nan());
    }

    #[test]
    fn smape_by_hand() {
        // 2*10/210, 2*50/350, both-zero = 0.
        let want = (20.0 / 210.0 + 100.0 / 350.0 + 0.0) / 3.0;
        assert!(close(
            smape(&[100.0, 200.0, 0.0], &[110.0, 150.0, 0.0]),
            want
        ));
        // Opposite signs reach the bound 2.
        assert!(close(smape(&[1.0], &[-1.0]), 2.0));
    }

    #[test]
    fn mase_by_hand() {
        // Season 2: in-sample naive errors |3-1|, |4-2|, |7-3| -> mean 8/3.
        let insample = [1.0, 2.0, 3.0, 4.0, 7.0];
        let m = mase(&[10.0, 10.0], &[8.0, 14.0], &insample, 2);
        assert!(close(m, 3.0 / (8.0 / 3.0)));
        // Too short for the season: falls back to lag 1: |1|,|1|,|1|,|3| -> 1.5.
        let m1 = mase(&[10.0], &[7.0], &insample, 168);
        assert!(close(m1, 3.0 / 1.5));
        // A constant history has no scale.
        assert!(mase(&[1.0], &[2.0], &[5.0; 10], 2).is_nan());
    }

    #[test]
    fn coverage_by_hand() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let lo = [0.0, 2.0, 3.5, 0.0];
        let hi = [2.0, 2.0, 4.0, 3.9];
        // inside, on the bound (inside), below, above.
        assert!(close(coverage(&a, &lo, &hi), 0.5));
        assert!(coverage(&[], &[], &[]).is_nan());
    }
}
