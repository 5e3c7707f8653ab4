//! The per-series causal detector of contract §8: one bucket in, its `anomaly_score`,
//! `expected`, `lower`, `upper` and `kind` out, using only the buckets before it.
//!
//! How a bucket is scored:
//! 1. **Expected value** from up to three robust baselines (module `baseline`): a fast
//!    level without seasons, a level plus the median of the last days at the same time of
//!    day (when the bucket divides a day into 2..=1440 buckets), and the same with weeks
//!    (up to 2,016 buckets a week). The detector follows whichever has had the smallest
//!    mean absolute residual lately.
//! 2. **Residual z** = (value − expected) / that baseline's scale.
//! 3. **Four pieces of evidence**: the point deviation `|z|` (spikes and dips), a short
//!    exponentially weighted mean of z (level shifts), a short mean of z² (variance changes)
//!    and the run of unchanged values (flatlines).
//! 4. **Rarity**: each statistic's conformal p-value against its own history ([`Tail`]);
//!    the bucket's p is the Bonferroni combination, made [`CONSERVATISM`] times more
//!    conservative, and `anomaly_score = 1 − p` (bent on a log scale below 1e-4, so that
//!    extreme buckets stay apart). On calm data the share of buckets with a score of at
//!    least `s` is then at most `1 − s`.
//! 5. **Re-baselining**: [`SHIFT_RUN`] consecutive residuals beyond [`SHIFT_Z`] on one side
//!    move both baselines to the new normal (instead of widening the band), and the run's
//!    own evidence is kept out of the histories; that bucket reports
//!    [`Scored::rebaselined`], so the caller can ask for a retrain.
//!
//! State per series: a few scalars, five days and five weeks of values (at most 17,280
//! f32) and four 160-bin
//! histograms; a few microseconds per bucket.

use super::baseline::{Baseline, CLIP};
use super::tail::Tail;
use super::Kind;
use crate::forecast::quantiles::normal_quantile;

/// Residuals beyond this many scales, on one side, count towards a level shift.
pub const SHIFT_Z: f64 = 3.0;
/// Consecutive one-sided residuals beyond [`SHIFT_Z`] that re-baseline the level.
pub const SHIFT_RUN: usize = 6;
/// Factor by which the combined p-value is made more conservative (see the module doc).
pub const CONSERVATISM: f64 = 8.0;

/// Level smoothing of the fast baseline.
const ALPHA_FAST: f64 = 0.1;
/// Level smoothing of the seasonal baselines.
const ALPHA_SEASONAL: f64 = 0.02;
/// Smoothing of the short mean of z (level evidence).
const A_MEAN: f64 = 0.15;
/// Smoothing of the short mean of z² (variance evidence).
const A_VAR: f64 = 0.1;
/// The scale is at least this share of the series' spread.
const SPREAD_FLOOR: f64 = 0.01;
/// Smoothing of the series' long mean and spread.
const A_SPREAD: f64 = 0.02;
/// Evidence statistics combined per bucket.
const EVIDENCE: usize = 4;

/// What the detector says about one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// `anomaly_score` in [0, 1] (0 for a missing value and during the warm-up).
    pub score: f64,
    /// The value the baseline expected.
    pub expected: f64,
    /// Lower bound of the metric's interval around `expected`.
    pub lower: f64,
    /// Upper bound of the metric's interval around `expected`.
    pub upper: f64,
    /// What kind of deviation the strongest evidence points to (`None` for a missing value).
    pub kind: Option<Kind>,
    /// This bucket moved the baseline to a new level (a persisting level shift).
    pub rebaselined: bool,
}

/// A series' detector state. Feed it the series' buckets in time order with
/// [`Detector::score`].
#[derive(Debug, Clone)]
pub struct Detector {
    interval: f64,
    warmup: u64,
    seen: u64,
    fast: Baseline,
    /// The daily and weekly baselines, where the bucket width allows them.
    seasonal: Vec<Baseline>,
    /// Long exponentially weighted mean of the values and mean absolute deviation from it.
    mean: f64,
    spread: f64,
    mean_z: f64,
    mean_z2: f64,
    last: Option<f64>,
    flat_run: u32,
    /// The current one-sided run beyond SHIFT_Z: its sign and `(ts, value)`s.
    shift_sign: f64,
    run: Vec<(i64, f64)>,
    evidence: [Tail; EVIDENCE],
    /// Evidence of the current run, not yet in the histories.
    pending: Vec<[f64; EVIDENCE]>,
}

impl Detector {
    /// A fresh detector for buckets `step_secs` wide (at least 1) whose band has nominal
    /// coverage `interval` (in (0, 1)).
    pub fn new(step_secs: i64, interval: f64) -> Self {
        let step_secs = step_secs.max(1);
        let per_day = 86_400 / step_secs;
        let day = if 86_400 % step_secs == 0 && (2..=1440).contains(&per_day) {
            per_day as usize
        } else {
            0
        };
        let mut seasonal = Vec::new();
        if day > 0 {
            seasonal.push(Baseline::new(step_secs, ALPHA_SEASONAL, day));
            if 7 * day <= 2016 {
                seasonal.push(Baseline::new(step_secs, ALPHA_SEASONAL, 7 * day));
            }
        }
        Self {
            interval: interval.clamp(0.01, 0.999),
            warmup: (3 * day as u64).clamp(100, 600),
            seen: 0,
            fast: Baseline::new(step_secs, ALPHA_FAST, 0),
            seasonal,
            mean: 0.0,
            spread: 0.0,
            mean_z: 0.0,
            mean_z2: 1.0,
            last: None,
            flat_run: 0,
            shift_sign: 0.0,
            run: Vec::new(),
            evidence: Default::default(),
            pending: Vec::new(),
        }
    }

    /// Buckets with a value seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The baseline followed now: of the fast one and the seasonal ones with two seasons
    /// behind them, the one with the smallest recent error.
    fn chosen(&self) -> &Baseline {
        self.seasonal
            .iter()
            .filter(|s| s.seen() >= 2 * s.period() as u64)
            .fold(
                &self.fast,
                |best, s| if s.error() < best.error() { s } else { best },
            )
    }

    /// The least scale: 1e-9 of the level, so that a constant series does not divide by
    /// zero, and [`SPREAD_FLOOR`] of the series' spread, so that a series without noise (a
    /// clean daily cycle) is not alarmed by its baseline's rounding.
    fn floor(&self) -> f64 {
        (1e-9 * (1.0 + self.mean.abs())).max(SPREAD_FLOOR * self.spread)
    }

    /// Half-width of the interval band in scales: the empirical `interval` quantile of past
    /// `|z|`, or a normal one's (in mean-absolute-deviation units) early on.
    fn band(&self) -> f64 {
        let normal =
            normal_quantile((1.0 + self.interval) / 2.0) * (std::f64::consts::PI / 2.0).sqrt();
        if self.evidence[0].seen() < 200 {
            return normal;
        }
        self.evidence[0].quantile(self.interval).unwrap_or(normal)
    }

    /// Scores the bucket at `ts_secs` with `value` (`None`: missing, scored 0 and not
    /// learned from), then learns from it. Buckets must come in time order.
    pub fn score(&mut self, ts_secs: i64, value: Option<f64>) -> Scored {
        let base = self.chosen();
        let expected = base.expected(ts_secs);
        let scale = base.scale().max(self.floor());
        let half = self.band() * scale;
        let mut out = Scored {
            score: 0.0,
            expected,
            lower: expected - half,
            upper: expected + half,
            kind: None,
            rebaselined: false,
        };
        let Some(x) = value.filter(|v| v.is_finite()) else {
            return out;
        };
        if self.seen == 0 {
            self.mean = x;
            self.last = Some(x);
            self.learn(ts_secs, x);
            out.expected = x;
            out.lower = x;
            out.upper = x;
            out.kind = Some(Kind::Spike);
            return out;
        }
        let r = x - expected;
        let z = r / scale;
        // Both clipped at CLIP scales, so that one spike is the point evidence's alone.
        let mean_z = (1.0 - A_MEAN) * self.mean_z + A_MEAN * z.clamp(-CLIP, CLIP);
        let mean_z2 = (1.0 - A_VAR) * self.mean_z2 + A_VAR * (z * z).min(CLIP * CLIP);
        let flat = self
            .last
            .is_some_and(|l| (x - l).abs() <= 1e-12 * (1.0 + x.abs()));
        let flat_run = if flat { self.flat_run + 1 } else { 0 };
        let stats = [
            z.abs(),
            mean_z.abs() / (A_MEAN / (2.0 - A_MEAN)).sqrt(),
            mean_z2,
            f64::from(flat_run),
        ];
        let p: [f64; EVIDENCE] = std::array::from_fn(|i| self.evidence[i].p_value(stats[i]));
        let (strongest, p_min) =
            p.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |a, (i, v)| if v < a.1 { (i, v) } else { a },
                );
        let combined = (p_min * EVIDENCE as f64 * CONSERVATISM).min(1.0);
        if self.seen >= self.warmup {
            out.score = 1.0 - compress(combined);
        }
        out.kind = Some(match strongest {
            1 => Kind::LevelShift,
            2 => Kind::VarianceChange,
            3 => Kind::Flatline,
            _ if r < 0.0 => Kind::Dip,
            _ => Kind::Spike,
        });
        self.mean_z = mean_z;
        self.mean_z2 = mean_z2;
        self.flat_run = flat_run;
        self.last = Some(x);
        self.learn(ts_secs, x);
        // Level shifts: a run of one-sided residuals beyond SHIFT_Z scales.
        let sign = z.signum();
        if z.abs() > SHIFT_Z && (self.run.is_empty() || sign == self.shift_sign) {
            self.shift_sign = sign;
            self.run.push((ts_secs, x));
        } else {
            self.run.clear();
        }
        if self.run.len() >= SHIFT_RUN {
            let floor = self.floor();
            self.fast.rebase(&self.run, SHIFT_Z, floor);
            for s in &mut self.seasonal {
                s.rebase(&self.run, SHIFT_Z, floor);
            }
            self.mean_z = 0.0;
            self.mean_z2 = 1.0;
            self.run.clear();
            out.rebaselined = true;
            out.kind = Some(Kind::LevelShift);
        }
        // The first buckets' residuals say more about the baselines still learning than
        // about the series: they do not enter the evidence's history. Nor do a level
        // shift's own: a run's statistics wait until the run ends, and are dropped when it
        // re-baselines.
        if self.seen > self.warmup / 3 {
            if !self.run.is_empty() {
                self.pending.push(stats);
            } else {
                let pending = std::mem::take(&mut self.pending);
                if !out.rebaselined {
                    for past in pending {
                        self.record(past);
                    }
                    self.record(stats);
                }
            }
        }
        out
    }

    /// Teaches both baselines and the spread the value `x` at `ts_secs`.
    fn learn(&mut self, ts_secs: i64, x: f64) {
        self.seen += 1;
        let k = A_SPREAD.max(1.0 / self.seen as f64);
        self.spread += k * ((x - self.mean).abs() - self.spread);
        self.mean += k * (x - self.mean);
        let floor = self.floor();
        self.fast.learn(ts_secs, x, floor);
        for s in &mut self.seasonal {
            s.learn(ts_secs, x, floor);
        }
    }

    /// Adds one bucket's evidence to the histories.
    fn record(&mut self, stats: [f64; EVIDENCE]) {
        for (t, s) in self.evidence.iter_mut().zip(stats) {
            t.record(s);
        }
    }
}

/// Below this p-value, [`compress`] bends p on a log scale.
const BEND: f64 = 1e-4;

/// Maps a p-value to `1 − score`: unchanged down to [`BEND`], then
/// `BEND / (1 + ln(BEND / p))²`, which is larger than `p` (so the score stays calibrated,
/// more conservatively) and keeps extreme buckets apart in f64: p = 1e-300 gives 2e-10
/// instead of a score that rounds to 1.
fn compress(p: f64) -> f64 {
    if p >= BEND {
        return p;
    }
    let l = 1.0 + (BEND / p.max(f64::MIN_POSITIVE)).ln();
    BEND / (l * l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hourly calm data: a daily cycle, a weekly offset and noise (deterministic).
    fn calm(hours: usize, seed: u64) -> Vec<f64> {
        let mut x = seed | 1;
        (0..hours)
            .map(|h| {
                let n = super::super::approx_normal(&mut x);
                let day = (h as f64 / 24.0 * std::f64::consts::TAU).sin() * 30.0;
                let weekend = if (h / 24 + 3) % 7 >= 5 { -20.0 } else { 0.0 };
                100.0 + day + weekend + n * 5.0
            })
            .collect()
    }

    fn run(values: &[f64]) -> Vec<Scored> {
        let mut d = Detector::new(3600, 0.9);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| d.score(i as i64 * 3600, Some(*v)))
            .collect()
    }

    #[test]
    fn calm_data_is_calibrated_and_quiet() {
        for seed in [1, 7, 42] {
            let s = run(&calm(24 * 7 * 26, seed));
            let scored = &s[600..];
            for level in [0.9, 0.99, 0.999] {
                let share =
                    scored.iter().filter(|b| b.score >= level).count() as f64 / scored.len() as f64;
                assert!(
                    share <= 1.0 - level,
                    "seed {seed}: share >= {level} is {share}"
                );
            }
            let covered = scored
                .iter()
                .zip(&calm(24 * 7 * 26, seed)[600..])
                .filter(|(b, v)| (b.lower..=b.upper).contains(*v))
                .count() as f64
                / scored.len() as f64;
            assert!((0.85..0.95).contains(&covered), "coverage {covered}");
        }
    }

    #[test]
    fn a_spike_scores_high_at_once_and_the_baseline_ignores_it() {
        let mut v = calm(24 * 60, 3);
        v[1000] += 80.0;
        v[1200] -= 80.0;
        let s = run(&v);
        assert!(s[1000].score >= 0.999, "{:?}", s[1000]);
        assert_eq!(s[1000].kind, Some(Kind::Spike));
        assert!(s[1200].score >= 0.999);
        assert_eq!(s[1200].kind, Some(Kind::Dip));
        assert!(s[1001].score < 0.99, "{:?}", s[1001]);
    }

    #[test]
    fn a_level_shift_is_rebaselined_and_a_later_spike_still_detected() {
        let mut v = calm(24 * 60, 5);
        for x in v.iter_mut().skip(800) {
            *x *= 3.0;
        }
        v[800 + 72] += 150.0;
        let s = run(&v);
        let first = s[800..]
            .iter()
            .position(|b| b.rebaselined)
            .expect("re-baselined");
        assert!(first < 24, "re-baselined after {first} buckets");
        assert!(s[800..806].iter().any(|b| b.score >= 0.99));
        assert!(s[872].score >= 0.99, "spike after the shift: {:?}", s[872]);
    }

    #[test]
    fn a_flatline_and_a_variance_change_are_named() {
        let mut v = calm(24 * 60, 9);
        for x in v.iter_mut().skip(900).take(30) {
            *x = 100.0;
        }
        let s = run(&v);
        let flat = s[900..930]
            .iter()
            .find(|b| b.score >= 0.99)
            .expect("flatline detected");
        assert_eq!(flat.kind, Some(Kind::Flatline));

        let mut w = calm(24 * 60, 11);
        let base = calm(24 * 60, 11);
        let smooth: Vec<f64> = (0..w.len())
            .map(|h| 100.0 + (h as f64 / 24.0 * std::f64::consts::TAU).sin() * 30.0)
            .collect();
        for h in 900..1000 {
            w[h] = smooth[h] + (base[h] - smooth[h]) * 3.0;
        }
        let s = run(&w);
        assert!(s[900..1000].iter().any(|b| b.score >= 0.99));
    }

    #[test]
    fn missing_values_score_zero_and_teach_nothing() {
        let v = calm(24 * 30, 13);
        let mut d = Detector::new(3600, 0.9);
        for (i, x) in v.iter().enumerate().take(600) {
            d.score(i as i64 * 3600, Some(*x));
        }
        let before = d.seen();
        let gap = d.score(600 * 3600, None);
        assert_eq!(gap.score, 0.0);
        assert_eq!(gap.kind, None);
        assert_eq!(d.seen(), before);
        assert!(gap.lower < gap.expected && gap.expected < gap.upper);
    }
}
