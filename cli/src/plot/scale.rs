//! The scales of the SVG plots: a value range that one spike cannot flatten and that does not
//! dip below zero for a metric that never does, round value ticks (1, 2 or 5 times a power of
//! ten, with `k`/`M`/`G` for large numbers), and time ticks at whole minutes, hours, days or
//! weeks of the chosen time zone.

use chrono::{DateTime, FixedOffset, Utc};

/// A time zone as a fixed offset from UTC: `UTC`, `Z`, `+02:00`, `-05:30` or `+2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(pub FixedOffset);

impl Default for Zone {
    fn default() -> Self {
        Zone(FixedOffset::east_opt(0).expect("zero offset"))
    }
}

impl std::str::FromStr for Zone {
    type Err = String;

    /// Parses `UTC`/`Z` or a signed offset of at most 14 hours (`+HH`, `+HH:MM`, `-HHMM`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::default());
        }
        let bad = || {
            format!("{text:?} is not a time zone offset: use UTC, +02:00 or -05:30 (fixed offsets; names such as Europe/Berlin are not supported)")
        };
        let t = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("utc"))
            .unwrap_or(t);
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let (h, m) = if digits.len() <= 2 {
            (digits.as_str(), "0")
        } else {
            digits.split_at(digits.len() - 2)
        };
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 14 || m >= 60 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(Zone)
            .ok_or_else(bad)
    }
}

impl std::fmt::Display for Zone {
    /// `UTC`, or `UTC+02:00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.local_minus_utc() == 0 {
            f.write_str("UTC")
        } else {
            write!(f, "UTC{}", self.0)
        }
    }
}

/// A value axis: its bounds (tick multiples) and ticks, and how to write them.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueAxis {
    /// The lowest value drawn (the bottom of the frame).
    pub lo: f64,
    /// The highest value drawn (the top of the frame).
    pub hi: f64,
    /// Tick values, ascending, from `lo` to `hi`.
    pub ticks: Vec<f64>,
    step: f64,
}

/// The `p`-quantile (0..=1) of sorted values, by the nearest rank.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 1, 2 or 5 times a power of ten, the smallest such at least `raw`.
fn nice(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

impl ValueAxis {
    /// The axis for `values` (non-finite ones are ignored): the 0.5%..99.5% quantiles padded
    /// by 8%, so one spike cannot flatten the rest; extended to round ticks, about five of
    /// them. For a `non_negative` metric (one whose actuals never go below zero) nothing
    /// below zero is shown, whatever an interval's lower bound says, and the axis starts at 0
    /// when zero is near. No values give 0..1.
    pub fn robust(values: impl IntoIterator<Item = f64>, non_negative: bool) -> Self {
        let floor = if non_negative { 0.0 } else { f64::NEG_INFINITY };
        let mut v: Vec<f64> = values
            .into_iter()
            .filter(|v| v.is_finite())
            .map(|v| v.max(floor))
            .collect();
        v.sort_by(f64::total_cmp);
        let (mut lo, mut hi) = match v.as_slice() {
            [] => (0.0, 1.0),
            s => (quantile(s, 0.005), quantile(s, 0.995)),
        };
        let non_negative = non_negative || v.first().is_none_or(|m| *m >= 0.0);
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let d = (lo.abs() * 0.1).max(1.0);
            (lo, hi) = (lo - d, hi + d);
        }
        let pad = (hi - lo) * 0.08;
        let (mut lo, hi) = (lo - pad, hi + pad);
        if non_negative && (lo < 0.0 || lo < (hi - lo) * 0.5) {
            lo = 0.0;
        }
        let step = nice((hi - lo) / 5.0);
        let (first, last) = ((lo / step).floor(), (hi / step).ceil());
        let ticks = (first as i64..=last as i64)
            .map(|k| k as f64 * step)
            .map(|t| if t == 0.0 { 0.0 } else { t })
            .collect();
        ValueAxis {
            lo: first * step,
            hi: last * step,
            ticks,
            step,
        }
    }

    /// `v` clamped into the axis, and whether it was outside.
    pub fn clamp(&self, v: f64) -> (f64, bool) {
        if v > self.hi {
            (self.hi, true)
        } else if v < self.lo {
            (self.lo, true)
        } else {
            (v, false)
        }
    }

    /// A tick's label: as many decimals as the step needs, large values with `k`, `M`, `G`
    /// or `T` (`1.5k`, `20M`).
    pub fn label(&self, v: f64) -> String {
        let top = self.lo.abs().max(self.hi.abs());
        let (div, suffix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(d, _)| top >= *d && self.step >= d / 10.0)
            .unwrap_or((1.0, ""));
        let decimals = (-(self.step / div).log10() - 1e-9).ceil().max(0.0) as usize;
        format!("{:.*}{suffix}", decimals, v / div)
    }
}

/// Time tick steps, seconds: from one minute to four weeks.
const TIME_STEPS: [i64; 17] = [
    60,
    300,
    900,
    1_800,
    3_600,
    2 * 3_600,
    3 * 3_600,
    6 * 3_600,
    12 * 3_600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
    56 * 86_400,
    91 * 86_400,
    182 * 86_400,
];

/// Seconds from the epoch to Monday 1970-01-05 00:00: week ticks fall on Mondays.
const FIRST_MONDAY: i64 = 4 * 86_400;

/// Ticks between `t0` and `t1` (at most about twelve) at round times of `zone`: the
/// smallest step of [`TIME_STEPS`] that fits, aligned to the zone's midnights (weeks and
/// longer to Mondays). Labels are `HH:MM` within a day, `Mon DD` at midnights and for day
/// steps.
pub fn time_ticks(
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    zone: Zone,
) -> Vec<(DateTime<Utc>, String)> {
    let (a, b) = (t0.timestamp(), t1.timestamp());
    let span = (b - a).max(1);
    let step = TIME_STEPS
        .into_iter()
        .find(|s| span / s <= 12)
        .unwrap_or(TIME_STEPS[TIME_STEPS.len() - 1]);
    let off = i64::from(zone.0.local_minus_utc());
    let base = if step >= 7 * 86_400 { FIRST_MONDAY } else { 0 };
    let local0 = a + off - base;
    let mut local = local0.div_euclid(step) * step + base;
    if local < a + off {
        local += step;
    }
    let mut ticks = Vec::new();
    while local - off <= b {
        if let Some(t) = DateTime::from_timestamp(local - off, 0) {
            let shown = t.with_timezone(&zone.0);
            let label = if step < 86_400 && local.rem_euclid(86_400) != 0 {
                shown.format("%H:%M").to_string()
            } else {
                shown.format("%b %d").to_string()
            };
            ticks.push((t, label));
        }
        local += step;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_print() {
        let z = |s: &str| s.parse::<Zone>().map(|z| z.0.local_minus_utc());
        assert_eq!(z("UTC"), Ok(0));
        assert_eq!(z("z"), Ok(0));
        assert_eq!(z("+02:00"), Ok(7200));
        assert_eq!(z("-0530"), Ok(-19_800));
        assert_eq!(z("+2"), Ok(7200));
        assert_eq!(z("UTC+01:00"), Ok(3600));
        for bad in ["Europe/Berlin", "+25:00", "+02:75", "2", ""] {
            assert!(z(bad).is_err(), "{bad}");
        }
        assert_eq!("+02:00".parse::<Zone>().unwrap().to_string(), "UTC+02:00");
        assert_eq!(Zone::default().to_string(), "UTC");
    }

    #[test]
    fn one_spike_does_not_flatten_the_scale_and_counts_never_go_negative() {
        let mut v: Vec<f64> = (0..336).map(|i| 100.0 + (i % 24) as f64).collect();
        v[200] = 100_000.0;
        let a = ValueAxis::robust(v.iter().copied(), true);
        assert!(a.lo >= 0.0 && a.lo <= 100.0, "{a:?}");
        assert!(a.hi >= 123.0 && a.hi <= 200.0, "{a:?}");
        assert!(a.clamp(100_000.0).1 && !a.clamp(110.0).1);
        // Ticks are round multiples of one step, from the bottom to the top of the frame.
        assert_eq!(a.ticks.first(), Some(&a.lo));
        assert_eq!(a.ticks.last(), Some(&a.hi));
        let step = a.ticks[1] - a.ticks[0];
        assert!([1.0, 2.0, 5.0, 10.0, 20.0, 50.0].contains(&step), "{step}");
        assert!((4..=11).contains(&a.ticks.len()), "{:?}", a.ticks);
        // Far from zero, the axis follows the data instead of starting at 0.
        let far = ValueAxis::robust((0..100).map(|i| 1000.0 + f64::from(i % 10)), true);
        assert!(far.lo >= 990.0 && far.hi <= 1020.0, "{far:?}");
        // Negative data keeps its negative range.
        let neg = ValueAxis::robust([-5.0, -1.0, 3.0], false);
        assert!(neg.lo <= -5.0 && neg.hi >= 3.0);
        // Constant and empty data still give a frame.
        let c = ValueAxis::robust([7.0; 10], true);
        assert!(c.lo < 7.0 && c.hi > 7.0);
        assert_eq!(ValueAxis::robust([], false).lo, 0.0);
    }

    #[test]
    fn labels_have_the_decimals_the_step_needs() {
        let a = ValueAxis::robust([0.0, 0.42], true);
        assert!(
            a.ticks.iter().all(|t| a.label(*t).len() <= 4),
            "{:?}",
            a.ticks
        );
        assert_eq!(a.label(0.1), "0.1");
        let big = ValueAxis::robust([0.0, 2_400_000.0], true);
        assert_eq!(big.label(1_000_000.0), "1M");
        let k = ValueAxis::robust([0.0, 48_000.0], true);
        assert_eq!(k.label(20_000.0), "20k");
        let small = ValueAxis::robust([0.0, 480.0], true);
        assert_eq!(small.label(200.0), "200");
    }

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        let t0 = DateTime::parse_from_rfc3339("2024-01-01T05:00:00Z")
            .unwrap()
            .to_utc();
        let day = time_ticks(t0, t0 + chrono::Duration::hours(20), Zone::default());
        assert_eq!(day[0].1, "06:00");
        assert!(day.iter().any(|(_, l)| l == "Jan 02"), "{day:?}");
        assert!(day.len() <= 13);
        let two_weeks = time_ticks(t0, t0 + chrono::Duration::days(14), Zone::default());
        assert!(two_weeks.iter().all(|(t, _)| t.timestamp() % 86_400 == 0));
        let berlin: Zone = "+01:00".parse().unwrap();
        let local = time_ticks(t0, t0 + chrono::Duration::days(10), berlin);
        assert!(
            local
                .iter()
                .all(|(t, _)| (t.timestamp() + 3600) % 86_400 == 0),
            "{local:?}"
        );
        let year = time_ticks(t0, t0 + chrono::Duration::days(365), Zone::default());
        assert!(year.len() <= 13 && year.len() >= 4, "{year:?}");
        // Four-week ticks fall on Mondays.
        let months = time_ticks(t0, t0 + chrono::Duration::days(120), Zone::default());
        use chrono::Datelike;
        assert!(months
            .iter()
            .all(|(t, _)| t.weekday() == chrono::Weekday::Mon));
    }
}
