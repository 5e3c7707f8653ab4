//! MSTL + AutoETS: MSTL decomposition (daily and weekly periods) with AutoETS on the last
//! [`TREND_TAIL`] steps of trend + remainder, optionally on a Box-Cox scale with the λ of
//! [`guerrero_lambda`].

use super::*;

pub(super) fn mstl_ets(
    spec: &ModelSpec,
    history: &[f64],
    periods: &[usize],
    horizon: usize,
    level: f64,
) -> Result<Forecast, ForecastError> {
    if periods.is_empty() || periods.contains(&0) {
        return Err(ForecastError::InvalidParameter(format!(
            "periods {periods:?}"
        )));
    }
    let err = |e: &dyn std::fmt::Display| ForecastError::Model {
        spec: spec.to_string(),
        message: e.to_string(),
    };
    let ets = AutoETS::new(1, "AZN")
        .map_err(|e| err(&e))?
        .into_trend_model();
    let model = MSTLModel::new(
        periods.to_vec(),
        TailTrend {
            inner: ets,
            tail: TREND_TAIL,
        },
    );
    let fitted = model.fit(history).map_err(|e| err(&e))?;
    let f = fitted.predict(horizon, level).map_err(|e| err(&e))?;
    let intervals = f.intervals.ok_or_else(|| err(&"no prediction intervals"))?;
    let out = Forecast {
        point: f.point,
        lower: intervals.lower,
        upper: intervals.upper,
    };
    if out.point.len() != horizon
        || out
            .point
            .iter()
            .chain(&out.lower)
            .chain(&out.upper)
            .any(|v| !v.is_finite())
    {
        return Err(err(&"non-finite or short forecast"));
    }
    Ok(out)
}

/// Range searched for the Box-Cox λ of `mstl_ets` with `box_cox`: log (0) to untransformed
/// (1). Guerrero's method is often run over [-1, 2], but a negative λ makes the
/// back-transform of an upper bound unbounded (it diverges as `λz + 1` nears 0), and on the
/// two real series of BENCHMARKS.md the wider range (which mostly picked -1) was no better
/// overall.
pub const BOX_COX_RANGE: (f64, f64) = (0.0, 1.0);

/// Guerrero's (1993) Box-Cox λ for `history`, searched on a grid of 0.01 over
/// [`BOX_COX_RANGE`]: the last whole `period`-long blocks give means `m` and standard
/// deviations `s`, and the λ chosen makes `s / m^(1 - λ)` the most nearly constant across
/// blocks (smallest coefficient of variation; the smallest λ on ties). λ = 0 means the
/// spread grows in proportion to the level (a log scale evens it), λ = 1 that it does not
/// grow. `None` when there are fewer than two blocks, a value is not strictly positive,
/// or every block is constant.
pub fn guerrero_lambda(history: &[f64], period: usize) -> Option<f64> {
    let period = period.max(2);
    let blocks = history.len() / period;
    if blocks < 2 || history.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
        return None;
    }
    let stats: Vec<(f64, f64)> = history[history.len() - blocks * period..]
        .chunks_exact(period)
        .map(|c| {
            let m = c.iter().sum::<f64>() / period as f64;
            let var = c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (period - 1) as f64;
            (m, var.sqrt())
        })
        .collect();
    let cv = |lambda: f64| {
        let r: Vec<f64> = stats
            .iter()
            .map(|(m, s)| s / m.powf(1.0 - lambda))
            .collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (r.len() - 1) as f64;
        var.sqrt() / mean
    };
    let (lo, hi) = BOX_COX_RANGE;
    let mut best: Option<(f64, f64)> = None;
    for i in 0..=100 {
        let lambda = lo + (hi - lo) * f64::from(i) / 100.0;
        let c = cv(lambda);
        if c.is_finite() && best.is_none_or(|(b, _)| c < b) {
            best = Some((c, lambda));
        }
    }
    best.map(|(_, lambda)| lambda)
}

/// A Box-Cox transform of values divided by `scale` (their mean: transformed values near
/// 0 whatever the units, which keeps ETS's optimizer in a well-conditioned range).
#[derive(Debug, Clone, Copy)]
pub(super) struct BoxCox {
    pub(super) lambda: f64,
    pub(super) scale: f64,
}

impl BoxCox {
    /// The transform for `history` with the λ of [`guerrero_lambda`], or `None` when there
    /// is none or it is 1 (the identity up to an affine map: the history is used as it is).
    pub(super) fn for_history(history: &[f64], period: usize) -> Option<Self> {
        let lambda = guerrero_lambda(history, period)?;
        let scale = history.iter().sum::<f64>() / history.len() as f64;
        (lambda < 1.0 && scale > 0.0 && scale.is_finite()).then_some(BoxCox { lambda, scale })
    }

    pub(super) fn forward(&self, v: f64) -> f64 {
        let x = v / self.scale;
        if self.lambda == 0.0 {
            x.ln()
        } else {
            (x.powf(self.lambda) - 1.0) / self.lambda
        }
    }

    /// Inverse of [`BoxCox::forward`]; increasing, so bounds stay ordered. Values below the
    /// transform's range (possible for a lower bound when λ > 0) map to 0.
    pub(super) fn inverse(&self, z: f64) -> f64 {
        let x = if self.lambda == 0.0 {
            z.exp()
        } else {
            (self.lambda * z + 1.0).max(0.0).powf(1.0 / self.lambda)
        };
        x * self.scale
    }
}

/// Steps of deseasonalized history the trend model of `mstl_ets` is fitted on (4 weeks):
/// the level and trend that matter for the next weeks are recent, and fitting ETS on a fixed
/// tail keeps the cost flat as the history grows.
pub const TREND_TAIL: usize = 4 * WEEK;

/// A trend model fitted on the last `tail` steps only.
#[derive(Debug)]
pub(super) struct TailTrend<T> {
    inner: T,
    tail: usize,
}

impl<T: augurs::mstl::TrendModel> augurs::mstl::TrendModel for TailTrend<T> {
    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.inner.name()
    }

    fn fit(
        &self,
        y: &[f64],
    ) -> Result<
        Box<dyn augurs::mstl::FittedTrendModel + Sync + Send>,
        Box<dyn std::error::Error + Send + Sync + 'static>,
    > {
        self.inner.fit(&y[y.len().saturating_sub(self.tail)..])
    }
}
