//! A robust baseline: a level plus, optionally, a seasonal offset that is the median of
//! the last [`SEASONS`] seasons at the same phase (the same time of day, or of the week),
//! and a scale (the exponentially weighted mean absolute residual). The median learns a
//! clean cycle, even a square wave, exactly within a few seasons, and one season's spike
//! does not pass into it; level and scale updates are Huber-clipped at [`CLIP`] scales, so a
//! spike does not drag the level or widen the scale. The detector runs several of them
//! (no season, daily, weekly) and follows whichever has been the most accurate lately.

/// Huber clip of the updates, in scales.
pub const CLIP: f64 = 3.0;
/// Seasons whose values at a phase make its median.
pub const SEASONS: usize = 5;
/// Smoothing of the scale and of the accuracy used to choose between baselines.
const BETA: f64 = 0.02;

/// One baseline's state.
#[derive(Debug, Clone)]
pub(super) struct Baseline {
    step_secs: i64,
    alpha: f64,
    level: f64,
    /// Buckets per season (0: no season).
    period: usize,
    /// `value − level` at each phase of each of the last SEASONS seasons (NaN: not seen),
    /// `history[phase * SEASONS + season % SEASONS]`.
    history: Vec<f32>,
    scale: f64,
    /// Exponentially weighted mean absolute residual, clipped at 2·CLIP scales: how well
    /// this baseline has been doing.
    error: f64,
    seen: u64,
}

impl Baseline {
    /// A baseline for buckets `step_secs` wide with level smoothing `alpha` and a season of
    /// `period` buckets (0: none).
    pub(super) fn new(step_secs: i64, alpha: f64, period: usize) -> Self {
        Self {
            step_secs: step_secs.max(1),
            alpha,
            level: 0.0,
            period,
            history: vec![f32::NAN; period * SEASONS],
            scale: 0.0,
            error: 0.0,
            seen: 0,
        }
    }

    /// Values learned from so far.
    pub(super) fn seen(&self) -> u64 {
        self.seen
    }

    /// Buckets per season (0: none).
    pub(super) fn period(&self) -> usize {
        self.period
    }

    /// The scale, unfloored.
    pub(super) fn scale(&self) -> f64 {
        self.scale
    }

    /// How far off this baseline has been lately (lower is better).
    pub(super) fn error(&self) -> f64 {
        self.error
    }

    /// `(phase, season)` of `ts_secs`, without a season `None`.
    fn slot(&self, ts_secs: i64) -> Option<(usize, usize)> {
        (self.period > 0).then(|| {
            let bucket = ts_secs.div_euclid(self.step_secs);
            let p = self.period as i64;
            (
                bucket.rem_euclid(p) as usize,
                bucket.div_euclid(p).rem_euclid(SEASONS as i64) as usize,
            )
        })
    }

    /// The seasonal offset at `ts_secs`: the median of the stored seasons at its phase
    /// (0 before any).
    fn offset(&self, ts_secs: i64) -> f64 {
        let Some((phase, _)) = self.slot(ts_secs) else {
            return 0.0;
        };
        let mut v = [0.0_f32; SEASONS];
        let mut n = 0;
        for x in &self.history[phase * SEASONS..(phase + 1) * SEASONS] {
            if !x.is_nan() {
                v[n] = *x;
                n += 1;
            }
        }
        if n == 0 {
            return 0.0;
        }
        let v = &mut v[..n];
        v.sort_unstable_by(f32::total_cmp);
        let m = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        f64::from(m)
    }

    /// The expectation for a bucket at `ts_secs`.
    pub(super) fn expected(&self, ts_secs: i64) -> f64 {
        self.level + self.offset(ts_secs)
    }

    /// Learns from `x` at `ts_secs`, with `floor` the least scale to clip by.
    pub(super) fn learn(&mut self, ts_secs: i64, x: f64, floor: f64) {
        if self.seen == 0 {
            self.level = x;
            self.seen = 1;
            self.store(ts_secs, x);
            return;
        }
        let offset = self.offset(ts_secs);
        let r = x - self.level - offset;
        let scale = self.scale.max(floor);
        self.seen += 1;
        let early = self.seen < 30;
        if early {
            // A plain running mean of |r| sets the scale quickly.
            self.scale += (r.abs() - self.scale) / self.seen as f64;
            self.error = self.scale;
        } else {
            self.scale += BETA * (r.abs().min(2.0 * CLIP * scale) - self.scale);
            self.error += BETA * (r.abs().min(2.0 * CLIP * scale) - self.error);
        }
        let e = if early {
            r
        } else {
            r.clamp(-CLIP * scale, CLIP * scale)
        };
        let alpha = if early {
            self.alpha.max(0.3)
        } else {
            self.alpha
        };
        self.level += alpha * e;
        self.store(ts_secs, x);
    }

    /// Stores `x − level` as this season's value at the phase of `ts_secs`.
    fn store(&mut self, ts_secs: i64, x: f64) {
        if let Some((phase, season)) = self.slot(ts_secs) {
            self.history[phase * SEASONS + season] = (x - self.level) as f32;
        }
    }

    /// Moves the baseline to the new normal shown by `run` (`(ts, value)` of a persisting
    /// one-sided run), if the run is one-sided beyond `threshold` scales against this
    /// baseline too (a seasonal baseline that expected the move is left alone): when the
    /// series is positive and moved by a clear factor, its seasonal offsets and scale are
    /// multiplied by it (business metrics move multiplicatively); then the level is moved
    /// so that the run's mean residual is zero.
    pub(super) fn rebase(&mut self, run: &[(i64, f64)], threshold: f64, floor: f64) {
        let limit = threshold * self.scale.max(floor);
        let up = run.iter().all(|(t, x)| x - self.expected(*t) > limit);
        let down = run.iter().all(|(t, x)| x - self.expected(*t) < -limit);
        if run.is_empty() || !(up || down) {
            return;
        }
        let n = run.len() as f64;
        let mean_residual = |b: &Self| run.iter().map(|(t, x)| x - b.expected(*t)).sum::<f64>() / n;
        let before = self.level;
        let ratio = (before + mean_residual(self)) / before;
        if before > 0.0 && ratio > 0.0 && !(0.8..=1.25).contains(&ratio) {
            let k = ratio as f32;
            self.history.iter_mut().for_each(|d| *d *= k);
            self.scale *= ratio;
            self.error *= ratio;
        }
        self.level += mean_residual(self);
        // The run's own buckets were stored against the old level: store them again.
        for (t, x) in run {
            self.store(*t, *x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seasonal_baseline_learns_a_noise_free_daily_square_wave() {
        // 5-minute buckets, 68 from 09:00 to 18:00 and 20 otherwise, 14 days.
        let mut b = Baseline::new(300, 0.0139, 288);
        let value = |i: i64| {
            if (108..216).contains(&(i % 288)) {
                68.0
            } else {
                20.0
            }
        };
        let mut worst = 0.0_f64;
        for i in 0..288 * 14 {
            let ts = 1_396_310_400 + i * 300;
            if i >= 288 * 11 {
                worst = worst.max((value(i) - b.expected(ts)).abs());
            }
            b.learn(ts, value(i), 0.05);
        }
        assert!(worst < 1.0, "largest error in the last three days {worst}");
        assert!(b.error() < 0.5, "{}", b.error());
    }

    #[test]
    fn one_days_spike_does_not_enter_the_profile() {
        let mut b = Baseline::new(3600, 0.05, 24);
        for i in 0..24 * 10 {
            let spike = if i == 24 * 8 + 5 { 500.0 } else { 0.0 };
            b.learn(i * 3600, 100.0 + (i % 24) as f64 + spike, 0.01);
        }
        let e = b.expected(24 * 10 * 3600 + 5 * 3600);
        assert!((e - 105.0).abs() < 1.0, "{e}");
    }
}
