//! Hold-out evaluation of the whole model-selection procedure on one series, as training does
//! it: backtest every candidate on the training part (rolling origins, calibration), select by
//! the first day's MASE ([`super::backtest::select`]), then fit each candidate on the full
//! training part, forecast the hold-out and score it with the calibrated bounds. Used by
//! `gras holdout` and the forecasting benchmark.
//!
//! Two protocols: [`evaluate`] forecasts the whole hold-out in one go from its start;
//! [`evaluate_refreshed`] scores it as the deployed system sees it, where training runs
//! once and inference re-fits the trained spec every `every` steps on all the data so far,
//! so each actual meets the newest forecast made before it, and the online interval factor
//! learns from the actuals as they arrive.

use std::time::Instant;

use serde::Serialize;

use super::backtest::{backtest_many, BacktestScore, Plan};
use super::{candidates, fit_predict, metrics, Forecast, ForecastError, ModelSpec, DAY, WEEK};

/// One candidate's result on the hold-out.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The model (`gras:<spec>`).
    pub model: String,
    /// The spec.
    pub spec: ModelSpec,
    /// Chosen by the backtest (lowest first-day backtest MASE, as training selects).
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
    let (specs, scores, backtest_s) = backtest_candidates(train, level, windows, horizon)?;
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
        let Some(raw) = forecast else { continue };
        let mut f = raw.clone();
        f.calibrate(&bt.calibration());
        out.push(score(spec, bt, train, test, &raw, &f, times, backtest_s));
    }
    mark_selected(&mut out);
    Ok(out)
}

/// Evaluates every candidate as deployed: training's procedure (backtest with `horizon`,
/// training's horizon, selection, calibration) runs once on `train`; then from the start of
/// `test` and every `every` steps after, each candidate is re-fitted on `train` plus the
/// actuals of `test` before that origin (as inference re-fits the trained spec on the newest
/// data) and forecasts the `every` steps up to the next origin, with the calibration learned
/// in training times the online factor ([`super::online`], adaptation `rate`; 0: off) that
/// the actuals of the earlier pieces have moved. The hold-out is scored on those pieces
/// together; `fit_predict_s` is the median over the origins.
pub fn evaluate_refreshed(
    train: &[f64],
    test: &[f64],
    level: f64,
    windows: usize,
    horizon: usize,
    every: usize,
    rate: f64,
) -> Result<Vec<Evaluation>, ForecastError> {
    if every == 0 || every > horizon {
        return Err(ForecastError::InvalidParameter(format!(
            "refresh interval {every} must be between 1 and the horizon {horizon}"
        )));
    }
    let (specs, scores, backtest_s) = backtest_candidates(train, level, windows, horizon)?;
    let history: Vec<f64> = train.iter().chain(test).copied().collect();
    let mut out = Vec::new();
    for (spec, bt) in specs.into_iter().zip(scores) {
        let bt = bt?;
        let (mut raw, mut f, mut times) = (empty(test.len()), empty(test.len()), Vec::new());
        let mut online = 1.0;
        for origin in (0..test.len()).step_by(every) {
            let steps = every.min(test.len() - origin);
            let t = Instant::now();
            let piece = fit_predict(&spec, &history[..train.len() + origin], steps, level)?;
            times.push(t.elapsed().as_secs_f64());
            raw.point.extend(&piece.point);
            raw.lower.extend(&piece.lower);
            raw.upper.extend(&piece.upper);
            let mut piece = piece;
            piece.calibrate(&bt.calibration().scaled(online));
            // The piece's actuals arrive: the online factor counts them, as inference does.
            let misses = (0..steps)
                .filter(|&i| {
                    let a = test[origin + i];
                    a < piece.lower[i] || a > piece.upper[i]
                })
                .count();
            online = super::online::adapt(online, misses, steps, steps, level, rate);
            f.point.extend(piece.point);
            f.lower.extend(piece.lower);
            f.upper.extend(piece.upper);
        }
        out.push(score(spec, bt, train, test, &raw, &f, times, backtest_s));
    }
    mark_selected(&mut out);
    Ok(out)
}

/// Training's candidates for `train`, their backtests on `windows` windows of `horizon`
/// (all at once, as training runs them: models the candidates share are fitted once), and
/// the backtest's seconds per candidate.
type Backtests = (
    Vec<ModelSpec>,
    Vec<Result<BacktestScore, ForecastError>>,
    f64,
);

fn backtest_candidates(
    train: &[f64],
    level: f64,
    windows: usize,
    horizon: usize,
) -> Result<Backtests, ForecastError> {
    let specs = candidates(train.len().saturating_sub(windows * horizon), 1);
    if specs.is_empty() {
        return Err(ForecastError::TooShort {
            spec: "any candidate".into(),
            need: windows * horizon + 26,
            got: train.len(),
        });
    }
    let t = Instant::now();
    let scores = backtest_many(&specs, train, &Plan::new(horizon, level, windows, 1));
    let backtest_s = t.elapsed().as_secs_f64() / specs.len() as f64;
    Ok((specs, scores, backtest_s))
}

fn empty(capacity: usize) -> Forecast {
    Forecast {
        point: Vec::with_capacity(capacity),
        lower: Vec::with_capacity(capacity),
        upper: Vec::with_capacity(capacity),
    }
}

/// Scores one candidate's forecast of `test` (`raw`: the model's own bounds, `f`: calibrated).
#[allow(clippy::too_many_arguments)]
fn score(
    spec: ModelSpec,
    backtest: BacktestScore,
    train: &[f64],
    test: &[f64],
    raw: &Forecast,
    f: &Forecast,
    mut times: Vec<f64>,
    backtest_s: f64,
) -> Evaluation {
    times.sort_by(f64::total_cmp);
    let day = DAY.min(test.len());
    Evaluation {
        model: format!("gras:{spec}"),
        spec,
        selected: false,
        backtest,
        mase: metrics::mase(test, &f.point, train, WEEK),
        smape: metrics::smape(test, &f.point),
        mape: metrics::mape(test, &f.point),
        coverage: metrics::coverage(test, &f.lower, &f.upper),
        first_day_coverage: metrics::coverage(&test[..day], &f.lower[..day], &f.upper[..day]),
        raw_coverage: metrics::coverage(test, &raw.lower, &raw.upper),
        fit_predict_s: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        backtest_s,
    }
}

/// Marks the candidate training would select ([`super::backtest::select`]: the lowest
/// first-day backtest MASE) as selected.
fn mark_selected(out: &mut [Evaluation]) {
    let scores: Vec<BacktestScore> = out.iter().map(|e| e.backtest).collect();
    if let Some(i) = super::backtest::select(&scores) {
        out[i].selected = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selected_candidate_has_the_lowest_first_day_backtest_mase_and_scores_are_real() {
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
            .map(|e| e.backtest.near_mase)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(sel[0].backtest.near_mase, min);
        for e in &evals {
            assert!(e.mase.is_finite() && e.mase > 0.0, "{e:?}");
            assert!((0.0..=1.0).contains(&e.coverage));
        }
        assert!(evaluate(&y[..100], &y[100..268], 0.9, 3, 1).is_err());
    }

    /// Refreshed daily, each piece is a fresh 24-step forecast from the data so far; the
    /// online factor moves the bounds only when its rate is positive, never the points.
    #[test]
    fn refreshed_evaluation_refits_every_piece_and_adapts_only_the_bounds() {
        let y: Vec<f64> = (0..24 * 7 * 9)
            .map(|t| {
                100.0
                    + 20.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                    + ((t * 7919) % 11) as f64
                    // Rougher after the training part: the trained bounds under-cover.
                    + if t >= 24 * 7 * 7 { ((t * 104_729) % 41) as f64 - 20.0 } else { 0.0 }
            })
            .collect();
        let (train, test) = y.split_at(24 * 7 * 7);
        let fixed = evaluate_refreshed(train, test, 0.9, 3, 168, 24, 0.0).expect("evaluate");
        let adapted = evaluate_refreshed(train, test, 0.9, 3, 168, 24, 0.05).expect("evaluate");
        assert_eq!(fixed.len(), 3);
        for (f, a) in fixed.iter().zip(&adapted) {
            assert_eq!((f.mase, f.smape, f.selected), (a.mase, a.smape, a.selected));
            assert!(
                a.coverage > f.coverage,
                "{}: adapted {} vs fixed {}",
                f.model,
                a.coverage,
                f.coverage
            );
        }
        // The weekly naive refreshed daily forecasts each hour with the actual a week
        // before it, which only a re-fit on the data so far can know for the second week.
        let lagged: Vec<f64> = (0..test.len()).map(|t| y[train.len() + t - 168]).collect();
        let want = metrics::mase(test, &lagged, train, WEEK);
        let naive = fixed
            .iter()
            .find(|e| e.model.contains("seasonal_naive"))
            .expect("naive");
        assert!(
            (naive.mase - want).abs() < 1e-12,
            "{} vs {want}",
            naive.mase
        );
        assert!(evaluate_refreshed(train, test, 0.9, 3, 168, 0, 0.05).is_err());
        assert!(evaluate_refreshed(train, test, 0.9, 3, 168, 169, 0.05).is_err());
    }
}
