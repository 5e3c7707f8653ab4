//! The seasonal naive model: the value one season ago, with intervals from the empirical
//! quantiles of the in-sample seasonal differences, widened by `sqrt(k)` for the k-th
//! season ahead.

use super::*;

pub(super) fn seasonal_naive(
    history: &[f64],
    period: usize,
    horizon: usize,
    level: f64,
) -> Result<Forecast, ForecastError> {
    if period == 0 {
        return Err(ForecastError::InvalidParameter("period is 0".into()));
    }
    let n = history.len();
    let mut residuals: Vec<f64> = history
        .windows(period + 1)
        .map(|w| w[period] - w[0])
        .collect();
    residuals.sort_by(f64::total_cmp);
    // On a steadily trending history every seasonal difference can have the same sign, and
    // both quantiles with it: the bounds would then lie on one side of the point, an actual
    // equal to its forecast would be an alert, and calibration could not scale the empty
    // side. The point is always inside its bounds.
    let lo = quantile_sorted(&residuals, (1.0 - level) / 2.0).min(0.0);
    let hi = quantile_sorted(&residuals, (1.0 + level) / 2.0).max(0.0);
    let mut out = Forecast {
        point: Vec::with_capacity(horizon),
        lower: Vec::with_capacity(horizon),
        upper: Vec::with_capacity(horizon),
    };
    for h in 0..horizon {
        let p = history[n - period + (h % period)];
        let k = ((h / period) + 1) as f64;
        out.point.push(p);
        out.lower.push(p + lo * k.sqrt());
        out.upper.push(p + hi * k.sqrt());
    }
    Ok(out)
}
