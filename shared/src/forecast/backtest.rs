//! Rolling-origin backtesting and model selection.
//!
//! For `windows` origins, the last `windows * horizon` steps are cut into consecutive test
//! windows; each is forecast from everything before it. Scores are means over windows, with
//! MASE scaled by the seasonal-naive error (period `season`: a week in steps, [`WEEK`] for
//! hourly series) of each window's own training part.
//!
//! Interval calibration: a model's own bounds are often too narrow or too wide for the data
//! (ETS intervals assume Gaussian one-step errors). Each actual gets a conformity score, its
//! distance from the point in units of the bound's half-width; the scale that makes a fraction
//! `level` of the backtest actuals fall inside is the conformal quantile of those scores
//! ([`BacktestScore::interval_scale`], applied with
//! [`Forecast::scale_intervals`](super::Forecast::scale_intervals)). The reported `coverage` is
//! cross-fitted: window `w` is scored with the scale learned on the other windows, so it
//! estimates the calibrated coverage on unseen data rather than restating the target.

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::WEEK;
use std::collections::HashMap;

use super::{fit_predict, metrics, Forecast, ForecastError, ModelSpec};

/// Mean scores of one model over the backtest windows (fractions, see [`metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestScore {
    /// Mean absolute percentage error (`NaN` when every actual is zero).
    pub mape: f64,
    /// Symmetric MAPE.
    pub smape: f64,
    /// Mean absolute scaled error (seasonal period `season` of [`backtest`]).
    pub mase: f64,
    /// Fraction of actuals inside the calibrated bounds (cross-fitted, see the module docs).
    pub coverage: f64,
    /// Fraction of actuals inside the model's own (uncalibrated) bounds.
    pub raw_coverage: f64,
    /// Factor for the bounds' half-widths that reaches `level` on all windows.
    pub interval_scale: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Bounds on a calibration factor (a degenerate backtest must not produce absurd intervals).
pub const SCALE_RANGE: (f64, f64) = (0.05, 20.0);

/// Conformity score of an actual: 0 at the point, 1 on the bound, in half-widths beyond.
fn conformity(actual: f64, point: f64, lower: f64, upper: f64) -> f64 {
    let (dist, half) = if actual >= point {
        (actual - point, upper - point)
    } else {
        (point - actual, point - lower)
    };
    if dist == 0.0 {
        0.0
    } else if half > 0.0 {
        dist / half
    } else {
        f64::INFINITY
    }
}

/// The conformal quantile of `scores` at `level` (the `ceil((n + 1) level)`-th smallest),
/// clamped to [`SCALE_RANGE`]; 1 when there are no scores or it is not finite.
pub fn conformal_scale(scores: &[f64], level: f64) -> f64 {
    if scores.is_empty() {
        return 1.0;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let k = (((n + 1) as f64 * level).ceil() as usize).clamp(1, n);
    let q = sorted[k - 1];
    if q.is_finite() {
        q.clamp(SCALE_RANGE.0, SCALE_RANGE.1)
    } else {
        1.0
    }
}

/// Backtests `spec` on `history` (gap-free) with `windows` rolling origins of `horizon` steps,
/// MASE scaled by the seasonal naive of period `season` (a week in steps).
/// Fails when the first window's training part is too short for the model.
pub fn backtest(
    spec: &ModelSpec,
    history: &[f64],
    horizon: usize,
    level: f64,
    windows: usize,
    season: usize,
) -> Result<BacktestScore, ForecastError> {
    backtest_many(
        std::slice::from_ref(spec),
        history,
        horizon,
        level,
        windows,
        season,
    )
    .pop()
    .unwrap_or_else(|| Err(ForecastError::InvalidParameter("no spec".into())))
}

/// [`backtest`] of each of `specs` on the same windows, in order. A model that several specs
/// share (a [`ModelSpec::Mean`]'s members, or a spec listed twice) is fitted once per window:
/// the scores are those [`backtest`] gives each spec alone.
pub fn backtest_many(
    specs: &[ModelSpec],
    history: &[f64],
    horizon: usize,
    level: f64,
    windows: usize,
    season: usize,
) -> Vec<Result<BacktestScore, ForecastError>> {
    let mut fitted: HashMap<(ModelSpec, usize), Forecast> = HashMap::new();
    let mut fit_once = |spec: &ModelSpec, w: usize, train: &[f64]| {
        if let Some(f) = fitted.get(&(spec.clone(), w)) {
            return Ok(f.clone());
        }
        let f = fit_predict(spec, train, horizon, level)?;
        fitted.insert((spec.clone(), w), f.clone());
        Ok(f)
    };
    specs
        .iter()
        .map(|spec| {
            backtest_with(
                spec,
                history,
                horizon,
                level,
                windows,
                season,
                |w, train| match spec.mean_members()? {
                    Some(members) => {
                        let fits = members
                            .iter()
                            .map(|m| fit_once(m, w, train))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(Forecast::mean(&fits))
                    }
                    None => fit_once(spec, w, train),
                },
            )
        })
        .collect()
}

/// The backtest of `spec` with window `w`'s forecast from `forecast(w, training part)`.
fn backtest_with(
    spec: &ModelSpec,
    history: &[f64],
    horizon: usize,
    level: f64,
    windows: usize,
    season: usize,
    mut forecast: impl FnMut(usize, &[f64]) -> Result<Forecast, ForecastError>,
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
    let (mut mape, mut mape_n, mut smape, mut mase, mut raw) = (0.0, 0usize, 0.0, 0.0, 0.0);
    let mut scores: Vec<Vec<f64>> = Vec::with_capacity(windows);
    for w in 0..windows {
        let origin = history.len() - test_len + w * horizon;
        let (train, rest) = history.split_at(origin);
        let actual = &rest[..horizon];
        let f = forecast(w, train)?;
        let m = metrics::mape(actual, &f.point);
        if m.is_finite() {
            mape += m;
            mape_n += 1;
        }
        smape += metrics::smape(actual, &f.point);
        mase += metrics::mase(actual, &f.point, train, season);
        raw += metrics::coverage(actual, &f.lower, &f.upper);
        scores.push(
            (0..horizon)
                .map(|i| conformity(actual[i], f.point[i], f.lower[i], f.upper[i]))
                .collect(),
        );
    }
    let k = windows as f64;
    // Cross-fitted calibrated coverage: each window against the scale of the others.
    let mut cov = 0.0;
    for w in 0..windows {
        let others: Vec<f64> = scores
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != w)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let scale = conformal_scale(&others, level);
        cov += scores[w].iter().filter(|s| **s <= scale).count() as f64 / horizon as f64;
    }
    let all: Vec<f64> = scores.concat();
    Ok(BacktestScore {
        mape: if mape_n == 0 {
            f64::NAN
        } else {
            mape / mape_n as f64
        },
        smape: smape / k,
        mase: mase / k,
        coverage: cov / k,
        raw_coverage: raw / k,
        interval_scale: conformal_scale(&all, level),
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
    use crate::forecast::WEEK;

    fn score(mase: f64) -> BacktestScore {
        BacktestScore {
            mape: 0.1,
            smape: 0.1,
            mase,
            coverage: 0.9,
            raw_coverage: 0.9,
            interval_scale: 1.0,
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
        let exact =
            backtest(&ModelSpec::SeasonalNaive { period: 2 }, &h, 4, 0.9, 3, WEEK).expect("bt");
        assert_eq!(exact.smape, 0.0);
        assert_eq!(exact.coverage, 1.0);
        assert_eq!(exact.mape, 0.0);
        assert_eq!(exact.windows, 3);
        // Shift only the last window by +10: that window's error is 10 on every point,
        // MAPE there is mean(10/20, 10/30) and the others 0.
        for v in &mut h[396..] {
            *v += 10.0;
        }
        let s = backtest(&ModelSpec::SeasonalNaive { period: 2 }, &h, 4, 0.9, 3, WEEK).expect("bt");
        let want_mape = ((10.0 / 20.0 + 10.0 / 30.0) / 2.0) / 3.0;
        assert!((s.mape - want_mape).abs() < 1e-12, "{}", s.mape);
        assert!(s.coverage < 1.0);
    }

    #[test]
    fn backtest_many_scores_each_spec_as_backtest_does() {
        let h: Vec<f64> = (0..1400)
            .map(|t| {
                let day = (2.0 * std::f64::consts::PI * (t % 24) as f64 / 24.0).sin();
                100.0 + 10.0 * day + ((t * 7919) % 13) as f64 * 0.3
            })
            .collect();
        let naive = ModelSpec::SeasonalNaive { period: WEEK };
        let mstl = ModelSpec::MstlEts {
            periods: vec![24, WEEK],
            box_cox: true,
        };
        let specs = vec![
            naive.clone(),
            mstl.clone(),
            ModelSpec::Mean {
                members: vec![naive, mstl.clone()],
            },
            mstl,
            ModelSpec::SeasonalNaive { period: 5000 },
        ];
        let many = backtest_many(&specs, &h, 168, 0.9, 3, WEEK);
        assert_eq!(many.len(), specs.len());
        for (spec, got) in specs.iter().zip(&many) {
            match (backtest(spec, &h, 168, 0.9, 3, WEEK), got) {
                (Ok(alone), Ok(shared)) => assert_eq!(&alone, shared, "{spec}"),
                (Err(_), Err(_)) => {}
                (alone, shared) => panic!("{spec}: {alone:?} vs {shared:?}"),
            }
        }
        assert!(many[4].is_err(), "too short for a period of 5000");
    }

    #[test]
    fn conformity_and_conformal_scale_by_hand() {
        assert_eq!(conformity(12.0, 10.0, 6.0, 14.0), 0.5);
        assert_eq!(conformity(4.0, 10.0, 6.0, 14.0), 1.5);
        assert_eq!(conformity(10.0, 10.0, 10.0, 10.0), 0.0);
        assert_eq!(conformity(11.0, 10.0, 10.0, 10.0), f64::INFINITY);
        // n = 9, level 0.8: the ceil(10 * 0.8) = 8th smallest.
        let s = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6];
        assert_eq!(conformal_scale(&s, 0.8), 0.8);
        assert_eq!(conformal_scale(&[], 0.9), 1.0);
        assert_eq!(conformal_scale(&[f64::INFINITY], 0.9), 1.0);
        assert_eq!(conformal_scale(&[100.0], 0.9), SCALE_RANGE.1);
    }

    #[test]
    fn calibration_widens_too_narrow_intervals() {
        // Seasonal naive on a noisy period-4 series: its residual-quantile bounds are learned
        // on calm history, then the last windows get twice the noise.
        let noise = |t: usize, amp: f64| amp * (((t * 7919) % 17) as f64 / 8.0 - 1.0);
        let h: Vec<f64> = (0..600)
            .map(|t| 50.0 + (t % 4) as f64 * 5.0 + noise(t, if t >= 456 { 4.0 } else { 1.0 }))
            .collect();
        let s = backtest(
            &ModelSpec::SeasonalNaive { period: 4 },
            &h,
            48,
            0.9,
            3,
            WEEK,
        )
        .expect("bt");
        assert!(s.raw_coverage < 0.8, "raw {}", s.raw_coverage);
        assert!(s.interval_scale > 1.5, "scale {}", s.interval_scale);
        assert!(
            s.coverage > s.raw_coverage,
            "{} vs {}",
            s.coverage,
            s.raw_coverage
        );
    }

    #[test]
    fn too_short_history_is_an_error() {
        let h = vec![1.0; 100];
        assert!(matches!(
            backtest(
                &ModelSpec::SeasonalNaive { period: 24 },
                &h,
                168,
                0.9,
                3,
                WEEK
            ),
            Err(ForecastError::TooShort { .. })
        ));
    }
}
