//! Online interval calibration: the factor training learned on its backtest
//! ([`super::Calibration`]) is multiplied by one more, adapted while the version is in use
//! from the actuals that arrive against the forecasts made for them.
//!
//! A factor learned once on three backtest weeks is wrong whenever the weeks after are
//! calmer or rougher than those: the bounds then over- or under-cover for the whole life of
//! the version (BENCHMARKS.md measures both on real series). The update is adaptive
//! conformal inference (Gibbs and Candès, 2021) in the form of quantile tracking on a log
//! scale (Angelopoulos, Candès and Tibshirani, 2023, "Conformal PID control"): after each
//! batch of actuals,
//!
//! `factor <- factor * exp(rate * steps * (miss_share - (1 - level)))`
//!
//! where `miss_share` is the share of the batch's actuals outside their bounds and `steps`
//! the number of distinct time steps it spans (so a metric with many series moves as fast
//! as one with one series, by its mean miss rate). Every miss widens the bounds a little and
//! every hit narrows them a little, so the long-run share of misses is driven to
//! `1 - level` whatever the data do: over `T` steps it is within
//! `(max_factor_step + rate) / (rate * T)` of it for any sequence, with no assumption on the
//! model (the guarantee of adaptive conformal inference).

/// Bounds on the online factor: it corrects the trained calibration, it does not replace it.
pub const ADAPT_RANGE: (f64, f64) = (0.1, 10.0);

/// Default adaptation rate per time step (`[inference] interval_adapt_rate`). Chosen on
/// both benchmark series before their final fortnights (BENCHMARKS.md), re-forecast daily
/// over three spans: 0.02 left them 0.887 / 0.931 / 0.920 covered, 0.05 0.894 / 0.912 /
/// 0.905, 0.1 0.898 / 0.903 / 0.899, against nominal 0.90 (0.870 / 0.999 / 0.939 without).
/// 0.1 was marginally closer; 0.05 was kept because a larger rate swings the bounds users
/// see more from one day to the next (a fully covered day narrows them by 11% at 0.05, 21%
/// at 0.1).
pub const DEFAULT_RATE: f64 = 0.05;

/// The online factor after a batch of `points` actuals over `steps` distinct time steps, of
/// which `misses` fell outside their bounds, for nominal coverage `level` and adaptation
/// `rate`. Returns `factor` unchanged for an empty batch or a zero rate; the result is kept
/// within [`ADAPT_RANGE`] (and a non-finite or non-positive `factor` restarts from 1).
pub fn adapt(
    factor: f64,
    misses: usize,
    points: usize,
    steps: usize,
    level: f64,
    rate: f64,
) -> f64 {
    let factor = if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        1.0
    };
    if points == 0 || rate <= 0.0 || !rate.is_finite() {
        return factor.clamp(ADAPT_RANGE.0, ADAPT_RANGE.1);
    }
    let miss_share = misses.min(points) as f64 / points as f64;
    let step = rate * steps.max(1) as f64 * (miss_share - (1.0 - level));
    (factor * step.exp()).clamp(ADAPT_RANGE.0, ADAPT_RANGE.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_narrow_misses_widen_and_the_nominal_share_keeps_the_factor() {
        // 24 hours of one series, all covered: exp(0.05 * 24 * (0 - 0.1)) = exp(-0.12).
        let narrowed = adapt(1.0, 0, 24, 24, 0.9, 0.05);
        assert!((narrowed - (-0.12f64).exp()).abs() < 1e-12, "{narrowed}");
        // 12 of 24 outside: exp(0.05 * 24 * 0.4) = exp(0.48).
        let widened = adapt(1.0, 12, 24, 24, 0.9, 0.05);
        assert!((widened - 0.48f64.exp()).abs() < 1e-12, "{widened}");
        // Exactly the nominal share of misses: unchanged.
        assert!((adapt(1.3, 10, 100, 10, 0.9, 0.05) - 1.3).abs() < 1e-12);
        // 200 series over the same 24 hours move the factor by their mean miss rate.
        let many = adapt(1.0, 0, 24 * 200, 24, 0.9, 0.05);
        assert!((many - narrowed).abs() < 1e-12);
    }

    #[test]
    fn empty_batches_zero_rates_and_bad_factors_are_harmless() {
        assert_eq!(adapt(1.7, 0, 0, 0, 0.9, 0.05), 1.7);
        assert_eq!(adapt(1.7, 5, 10, 10, 0.9, 0.0), 1.7);
        assert_eq!(adapt(f64::NAN, 0, 0, 0, 0.9, 0.05), 1.0);
        assert_eq!(adapt(-2.0, 0, 0, 0, 0.9, 0.05), 1.0);
        // Clamped: a long run of misses cannot blow the bounds up without limit.
        assert_eq!(adapt(9.9, 1000, 1000, 1000, 0.9, 0.05), ADAPT_RANGE.1);
        assert_eq!(adapt(0.11, 0, 1000, 1000, 0.9, 0.05), ADAPT_RANGE.0);
        // More misses than points (a caller's slip) count as all missed.
        assert_eq!(
            adapt(1.0, 30, 24, 24, 0.9, 0.05),
            adapt(1.0, 24, 24, 24, 0.9, 0.05)
        );
    }

    /// The guarantee: fed its own misses, the factor drives the share of misses to the
    /// nominal one, from bounds that are far too wide and from bounds far too narrow.
    #[test]
    fn fed_back_its_own_misses_the_miss_share_converges_to_nominal() {
        // Errors uniform in [-1, 1] by a fixed sequence; the trained half-width is `w`,
        // so the bounds are `w * factor` wide on each side.
        for w in [0.5, 3.0] {
            let (mut factor, mut misses, n) = (1.0, 0usize, 20_000usize);
            for t in 0..n {
                let e = ((t as f64 * 0.618_033_988_75).fract() * 2.0) - 1.0;
                let miss = e.abs() > w * factor;
                misses += usize::from(miss);
                factor = adapt(factor, usize::from(miss), 1, 1, 0.9, 0.05);
            }
            let share = misses as f64 / n as f64;
            assert!((share - 0.1).abs() < 0.01, "w {w}: miss share {share}");
            // The half-width settles near the 90% quantile of |e| (0.9).
            assert!(
                (w * factor - 0.9).abs() < 0.15,
                "w {w}: width {}",
                w * factor
            );
        }
    }
}
