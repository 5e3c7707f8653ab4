//! Hold-out evaluation of the whole model-selection procedure on one series, as training does
//! it: backtest every candidate on the training part (rolling origins, calibration), select by
//! MASE, then fit each candidate on the full training part, forecast the hold-out and score it
//! with the calibrated bounds. Used by `gras evaluate` and the forecasting benchmark.

use std::time::Instant;

use serde::Serialize;

use super::backtest::{backtest_many, BacktestScore, Plan};
use super::{candidates, fit_predict, metrics, ForecastError, ModelSpec, DAY, WEEK};

/// One candidate's result on the hold-out.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The model (`gras:<spec>`).
    pub model: String,
    /// The spec.
    pub spec: ModelSpec,
    /// Chosen by the backtest (lowest backtest MASE).
    pub selected: bool,
    /// The backtest on the training part.
    pub backtest: BacktestScore,
    /// Hold-out MASE (seasonal period 168, scaled on the training part).
    pub mase: f64,
    /// Hold-out sMAPE.
    pub smape: f64,
    /// Hold-out MAPE.
    pub mape: f64,
    /// Hold-out coverage of the calibrated bounds.
    pub coverage: f64,
    /// Hold-out coverage of the calibrated bounds over the first day (24 steps), what
    /// alerts compare actuals with.
    pub first_day_coverage: f64,
    /// Hold-out coverage of the model's own bounds.
    pub raw_coverage: f64,
    /// Median seconds of one fit + predict on the training part.
    pub fit_predict_s: f64,
    /// Seconds of the backtest (selection and calibration) of all candidates together,
    /// divided by their number (models they share are fitted once, as in training).
    pub backtest_s: f64,
}

/// Evaluates every candidate. `runs` (at least 1) repeats the timed fit + predict.
pub fn evaluate(
    train: &[f64],
    test: &[f64],
    level: f64,
    windows: usize,
    runs: usize,
) -> Result<Vec<Evaluation>, ForecastError> {
    let horizon = test.len();
    let day = DAY.min(horizon);
    let specs = candidates(train.len().saturating_sub(windows * horizon), 1);
    if specs.is_empty() {
        return Err(ForecastError::TooShort {
            spec: "any candidate".into(),
            need: windows * horizon + 26,
            got: train.len(),
        });
    }
    // All candidates on the same windows at once, as training runs them (models the
    // candidates share are fitted once).
    let t = Instant::now();
    let scores = backtest_many(&specs, train, &Plan::new(horizon, level, windows, 1));
    let backtest_s = t.elapsed().as_secs_f64() / specs.len() as f64;
    let mut out = Vec::new();
    for (spec, bt) in specs.into_iter().zip(scores) {
        let bt = bt?;
        let mut times = Vec::new();
        let mut forecast = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let f = fit_predict(&spec, train, horizon, level)?;
            times.push(t.elapsed().as_secs_f64());
            forecast = Some(f);
        }
        times.sort_by(f64::total_cmp);
        let Some(mut f) = forecast else { continue };
        let raw_coverage = metrics::coverage(test, &f.lower, &f.upper);
        f.calibrate(&bt.calibration());
        out.push(Evaluation {
            model: format!("gras:{spec}"),
            spec,
            selected: false,
            backtest: bt,
            mase: metrics::mase(test, &f.point, train, WEEK),
            smape: metrics::smape(test, &f.point),
            mape: metrics::mape(test, &f.point),
            coverage: metrics::coverage(test, &f.lower, &f.upper),
            first_day_coverage: metrics::coverage(&test[..day], &f.lower[..day], &f.upper[..day]),
            raw_coverage,
            fit_predict_s: times[times.len() / 2],
            backtest_s,
        });
    }
    let scores: Vec<BacktestScore> = out.iter().map(|e| e.backtest).collect();
    if let Some(i) = super::backtest::select(&scores) {
        out[i].selected = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selected_candidate_has_the_lowest_backtest_mase_and_scores_are_real() {
        let y: Vec<f64> = (0..24 * 7 * 8)
            .map(|t| {
                100.0
                    + 20.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                    + ((t * 7919) % 11) as f64
            })
            .collect();
        let (train, test) = y.split_at(y.len() - 168);
        let evals = evaluate(train, test, 0.9, 3, 1).expect("evaluate");
        assert_eq!(evals.len(), 3, "weekly naive, MSTL+ETS and their mean");
        let sel: Vec<&Evaluation> = evals.iter().filter(|e| e.selected).collect();
        assert_eq!(sel.len(), 1);
        let min = evals
            .iter()
            .map(|e| e.backtest.mase)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(sel[0].backtest.mase, min);
        for e in &evals {
            assert!(e.mase.is_finite() && e.mase > 0.0, "{e:?}");
            assert!((0.0..=1.0).contains(&e.coverage));
        }
        assert!(evaluate(&y[..100], &y[100..268], 0.9, 3, 1).is_err());
    }
}
