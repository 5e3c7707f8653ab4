//! Rolling-origin backtesting and model selection.
//!
//! For `windows` origins, the last `windows * horizon` steps are cut into consecutive test
//! windows; each is forecast from everything before it. Scores are means over windows, with
//! MASE scaled by the seasonal-naive error (period [`WEEK`](super::WEEK)) of each window's own
//! training part.

use serde::{Deserialize, Serialize};

use super::{fit_predict, metrics, ForecastError, ModelSpec, WEEK};

/// Mean scores of one model over the backtest windows (fractions, see [`metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestScore {
    /// Mean absolute percentage error (`NaN` when every actual is zero).
    pub mape: f64,
    /// Symmetric MAPE.
    pub smape: f64,
    /// Mean absolute scaled error (seasonal period 168).
    pub mase: f64,
    /// Fraction of actuals inside the bounds.
    pub coverage: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Backtests `spec` on `history` (gap-free) with `windows` rolling origins of `horizon` steps.
/// Fails when the first window's training part is too short for the model.
pub fn backtest(
    spec: &ModelSpec,
    history: &[f64],
    horizon: usize,
    level: f64,
    windows: usize,
) -> Result<BacktestScore, ForecastError> {
    if windows == 0 || horizon == 0 {
        return Err(ForecastError::InvalidParameter(
            "windows and horizon must be positive".into(),
        ));
    }
    let test_len = windows * horizon;
    let need = spec.min_history() + test_len;
    if history.len() < need {
        return Err(ForecastError::TooShort {
            spec: spec.to_string(),
            need,
            got: history.len(),
        });
    }
    let (mut mape, mut mape_n, mut smape, mut mase, mut cov) = (0.0, 0usize, 0.0, 0.0, 0.0);
    for w in 0..windows {
        let origin = history.len() - test_len + w * horizon;
        let (train, rest) = history.split_at(origin);
        let actual = &rest[..horizon];
        let f = fit_predict(spec, train, horizon, level)?;
        let m = metrics::mape(actual, &f.point);
        if m.is_finite() {
            mape += m;
            mape_n += 1;
        }
        smape += metrics::smape(actual, &f.point);
        mase += metrics::mase(actual, &f.point, train, WEEK);
        cov += metrics::coverage(actual, &f.lower, &f.upper);
    }
    let k = windows as f64;
    Ok(BacktestScore {
        mape: if mape_n == 0 {
            f64::NAN
        } else {
            mape / mape_n as f64
        },
        smape: smape / k,
        mase: mase / k,
        coverage: cov / k,
        windows,
    })
}

/// Index of the best score by MASE (lowest finite; ties keep the earlier entry), if any.
pub fn select(scores: &[BacktestScore]) -> Option<usize> {
    scores
        .iter()
        .enumerate()
        .filter(|(_, s)| s.mase.is_finite())
        .min_by(|(i, a), (j, b)| a.mase.total_cmp(&b.mase).then(i.cmp(j)))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(mase: f64) -> BacktestScore {
        BacktestScore {
            mape: 0.1,
            smape: 0.1,
            mase,
            coverage: 0.9,
            windows: 3,
        }
    }

    #[test]
    fn select_takes_lowest_finite_mase_first_on_ties() {
        assert_eq!(
            select(&[score(1.2), score(f64::NAN), score(0.8), score(0.8)]),
            Some(2)
        );
        assert_eq!(select(&[score(f64::NAN)]), None);
        assert_eq!(select(&[]), None);
    }

    #[test]
    fn windows_are_the_last_steps_and_scores_are_means() {
        // Period-2 series: seasonal naive with period 2 is exact except where the level jumps.
        let mut h: Vec<f64> = (0..400)
            .map(|t| if t % 2 == 0 { 10.0 } else { 20.0 })
            .collect();
        let exact = backtest(&ModelSpec::SeasonalNaive { period: 2 }, &h, 4, 0.9, 3).expect("bt");
        assert_eq!(exact.smape, 0.0);
        assert_eq!(exact.coverage, 1.0);
        assert_eq!(exact.mape, 0.0);
        assert_eq!(exact.windows, 3);
        // Shift only the last window by +10: that window's error is 10 on every point,
        // MAPE there is mean(10/20, 10/30) and the others 0.
        for v in &mut h[396..] {
            *v += 10.0;
        }
        let s = backtest(&ModelSpec::SeasonalNaive { period: 2 }, &h, 4, 0.9, 3).expect("bt");
        let want_mape = ((10.0 / 20.0 + 10.0 / 30.0) / 2.0) / 3.0;
        assert!((s.mape - want_mape).abs() < 1e-12, "{}", s.mape);
        assert!(s.coverage < 1.0);
    }

    #[test]
    fn too_short_history_is_an_error() {
        let h = vec![1.0; 100];
        assert!(matches!(
            backtest(&ModelSpec::SeasonalNaive { period: 24 }, &h, 168, 0.9, 3),
            Err(ForecastError::TooShort { .. })
        ));
    }
}
