//! Calibration of one evidence statistic: a conformal p-value against the statistic's own
//! recent history, with an exponential tail beyond everything seen (peaks over threshold,
//! as in Siffer et al., "Anomaly detection in streams with extreme value theory", KDD 2017).
//!
//! The history is a histogram of the statistic on log-spaced bins with exponentially
//! decayed counts (memory [`MEMORY`] buckets), so its state is a fixed 1.3 kB whatever the
//! series' length, and a lookup costs one pass over the bins. A value's p-value is the
//! decayed share of past values at least as large, counted conservatively (its whole bin
//! counts as "at least as large"), which keeps the promise of contract §8: on data like
//! the history, `P(p <= a) <= a`.

/// Effective memory of the histogram, in buckets: the weight of a value halves after
/// about 0.69 × this many newer ones.
pub const MEMORY: f64 = 2000.0;

/// Histogram bins: `bin(v) = floor(ln(1 + v) × BINS_PER_E)`, the last bin open-ended.
const BINS: usize = 160;
/// Bins per unit of `ln(1 + v)`: 16 gives bins about 6% wide at large values.
const BINS_PER_E: f64 = 16.0;
/// Values before [`Tail::record`] starts capping.
pub const CAP_AFTER: u64 = 200;
/// The quantile of the history that caps recorded values: low enough that an anomaly
/// lasting a few dozen buckets cannot lift it by itself.
pub const CAP_QUANTILE: f64 = 0.98;
/// Recorded values are capped at this multiple of the [`CAP_QUANTILE`] quantile (5.8 for
/// |N(0, 1)|).
pub const CAP: f64 = 2.5;
/// Share of the history above the tail threshold used to fit the exponential tail.
const TAIL_SHARE: f64 = 0.05;

/// The decayed history of one non-negative statistic.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Decayed counts per bin, in units of the current `weight`'s scale.
    counts: Vec<f64>,
    /// Sum of `counts`.
    total: f64,
    /// Weight the next value adds (grows by `1/decay` per value; rescaled when large).
    weight: f64,
    /// Values seen.
    seen: u64,
}

impl Default for Tail {
    fn default() -> Self {
        Self {
            counts: vec![0.0; BINS],
            total: 0.0,
            weight: 1.0,
            seen: 0,
        }
    }
}

/// The bin of `v` (`v` non-negative; NaN and negatives fall into bin 0).
fn bin(v: f64) -> usize {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    ((v.ln_1p() * BINS_PER_E) as usize).min(BINS - 1)
}

/// The lower edge of bin `i`.
fn lower_edge(i: usize) -> f64 {
    (i as f64 / BINS_PER_E).exp_m1()
}

impl Tail {
    /// Values recorded so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The effective number of values in the history (decayed), at most about [`MEMORY`].
    pub fn effective(&self) -> f64 {
        self.total / self.weight
    }

    /// The conformal p-value of `v` in (0, 1]: `(m + 1) / (n + 1)` with `m` the decayed
    /// count of past values in `v`'s bin or above and `n` the decayed total. Where less than
    /// one past value is that large, the exponential tail fitted to the top 5% of the
    /// history lowers it further, so that more extreme values rank higher.
    pub fn p_value(&self, v: f64) -> f64 {
        let n = self.effective();
        let b = bin(v);
        let at_or_above: f64 = self.counts[b..].iter().sum::<f64>() / self.weight;
        let conformal = ((at_or_above + 1.0) / (n + 1.0)).min(1.0);
        if at_or_above >= 1.0 || n < 20.0 {
            return conformal;
        }
        match self.exponential_tail() {
            Some((threshold, share, mean_excess)) if v > threshold => {
                let p = share * (-(v - threshold) / mean_excess).exp();
                p.clamp(1e-300, conformal)
            }
            _ => conformal,
        }
    }

    /// The value below which a share `q` of the history lies (the lower edge of the bin
    /// where the decayed cumulative share reaches `q`); `None` before any value.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let want = q.clamp(0.0, 1.0) * self.total;
        let mut acc = 0.0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= want {
                return Some(lower_edge(i + 1));
            }
        }
        Some(lower_edge(BINS))
    }

    /// `(threshold, share above it, mean excess above it)` of the history's top
    /// [`TAIL_SHARE`], from bin midpoints; `None` when the tail is empty or degenerate.
    fn exponential_tail(&self) -> Option<(f64, f64, f64)> {
        let want = TAIL_SHARE * self.total;
        let mut acc = 0.0;
        let mut start = BINS;
        for i in (0..BINS).rev() {
            acc += self.counts[i];
            if acc >= want {
                start = i;
                break;
            }
        }
        if start == BINS || acc <= 0.0 {
            return None;
        }
        let threshold = lower_edge(start);
        let excess: f64 = (start..BINS)
            .map(|i| self.counts[i] * ((lower_edge(i) + lower_edge(i + 1)) / 2.0 - threshold))
            .sum::<f64>()
            / acc;
        (excess > 0.0).then_some((threshold, acc / self.total, excess))
    }

    /// Adds `v` to the history (ages every older value by one step of the decay). Once
    /// [`CAP_AFTER`] values are in, `v` is capped at [`CAP`] × the history's
    /// [`CAP_QUANTILE`] quantile:
    /// an anomaly still counts, but its size does not stretch the tail, so that a 60σ level
    /// shift does not hide a 9σ spike days later. A genuinely heavier tail still shows,
    /// as values pile up at the cap and lift the quantile.
    pub fn record(&mut self, v: f64) {
        let v = match self.seen >= CAP_AFTER {
            true => self.quantile(CAP_QUANTILE).map_or(v, |q| v.min(CAP * q)),
            false => v,
        };
        self.weight /= 1.0 - 1.0 / MEMORY;
        if self.weight > 1e150 {
            let k = 1.0 / self.weight;
            self.counts.iter_mut().for_each(|c| *c *= k);
            self.total *= k;
            self.weight = 1.0;
        }
        self.counts[bin(v)] += self.weight;
        self.total += self.weight;
        self.seen += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of |N(0,1)|-like values (sum of uniforms).
    fn stream(n: usize) -> Vec<f64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| crate::anomaly::approx_normal(&mut x).abs())
            .collect()
    }

    #[test]
    fn p_values_are_calibrated_on_data_like_the_history() {
        let mut t = Tail::default();
        let mut below = [0usize; 3];
        let levels = [0.1, 0.01, 0.002];
        let values = stream(60_000);
        let mut scored = 0;
        for (i, v) in values.iter().enumerate() {
            if i >= 2_000 {
                let p = t.p_value(*v);
                scored += 1;
                for (k, a) in levels.iter().enumerate() {
                    if p <= *a {
                        below[k] += 1;
                    }
                }
            }
            t.record(*v);
        }
        for (k, a) in levels.iter().enumerate() {
            let share = below[k] as f64 / scored as f64;
            assert!(share <= *a * 1.1, "P(p <= {a}) = {share}");
            assert!(
                share >= *a * 0.3,
                "P(p <= {a}) = {share} is needlessly conservative"
            );
        }
    }

    #[test]
    fn more_extreme_values_get_smaller_p_values_beyond_the_history() {
        let mut t = Tail::default();
        for v in stream(5_000) {
            t.record(v);
        }
        let (a, b, c) = (t.p_value(5.0), t.p_value(8.0), t.p_value(12.0));
        assert!(a > b && b > c, "{a} {b} {c}");
        assert!(a < 1.0 / 1000.0);
        assert!(t.p_value(0.0) > 0.999);
        let q = t.quantile(0.9).unwrap();
        assert!((1.4..2.0).contains(&q), "q0.9 of |N(0,1)| = {q}");
    }
}
