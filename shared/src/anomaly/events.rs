//! Events (contract §8): consecutive buckets of one series scoring at least `sensitivity`
//! for `min_duration` buckets open an event; qualifying buckets within `merge_gap` buckets
//! of an open event join it (with the buckets between). A bucket in an `exclude` window,
//! under `min_abs_deviation` or against `direction` never opens or extends an event.
//!
//! [`group`] applies these rules to one series' scored buckets in time order; it is the
//! single place they live.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Kind, Scored};
use crate::config::{AnomalyConfig, Direction};
use crate::ids::{MetricId, SeriesKey};

/// An event's identifier: `<start as YYYYMMDDTHHMMSSZ>-<8 hex digits of the series>`, so
/// ids sort by start and the same event always gets the same id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// The id of the event of `metric`/`series` that starts at `start_secs`.
    pub fn new(metric: &MetricId, series: &SeriesKey, start_secs: i64) -> Self {
        // FNV-1a over "metric#series": stable across builds and platforms.
        let mut h: u32 = 0x811c_9dc5;
        for b in metric
            .as_str()
            .bytes()
            .chain(std::iter::once(b'#'))
            .chain(series.as_str().bytes())
        {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        let start = DateTime::<Utc>::from_timestamp(start_secs, 0)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| format!("{start_secs}s"));
        Self(format!("{start}-{h:08x}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How much an event matters, from its peak score and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rare, but brief and near the threshold.
    Low,
    /// Clearly rare, or long.
    Medium,
    /// Very rare, or rare and long.
    High,
    /// Beyond anything in the series' history, or very rare and long.
    Critical,
}

impl Severity {
    /// The severity of an event whose peak score is `peak` and which spans `buckets`:
    /// `-log10(1 - peak)` (2 at 0.99, 3 at 0.999) plus half a point per doubling of the
    /// duration (at most 1.5); below 3 low, below 4 medium, below 5 high, else critical.
    pub fn of(peak: f64, buckets: u32) -> Self {
        let rarity = -(1.0 - peak).max(1e-12).log10();
        let duration = (0.5 * f64::from(buckets.max(1)).log2()).min(1.5);
        match rarity + duration {
            s if s < 3.0 => Severity::Low,
            s if s < 4.0 => Severity::Medium,
            s if s < 5.0 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One event of one series (contract §8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Stable, sortable id.
    pub event_id: EventId,
    /// The metric.
    pub metric_id: MetricId,
    /// The series.
    pub series_key: SeriesKey,
    /// `level_shift` when a bucket of the event re-baselined the detector, else the kind at
    /// the peak.
    pub kind: Kind,
    /// First bucket, seconds since the epoch.
    pub start: i64,
    /// Last bucket, `None` while open.
    pub end: Option<i64>,
    /// The bucket with the highest score.
    pub peak_ts: i64,
    /// Its score.
    pub peak_score: f64,
    /// From the peak score and the duration ([`Severity::of`]).
    pub severity: Severity,
    /// Buckets from start to end (or to the newest bucket while open).
    pub buckets: u32,
    /// The value at the peak.
    pub value: f64,
    /// What was expected at the peak.
    pub expected: f64,
}

impl Event {
    /// `open` or `closed`.
    pub fn status(&self) -> &'static str {
        if self.end.is_some() {
            "closed"
        } else {
            "open"
        }
    }
}

/// One series' buckets, in time order, as [`group`] reads them.
pub struct Buckets<'a> {
    /// Timestamps, seconds since the epoch, increasing.
    pub ts: &'a [i64],
    /// Values (`None`: missing).
    pub values: &'a [Option<f64>],
    /// The detector's output per bucket.
    pub scored: &'a [Scored],
    /// Bucket width in seconds.
    pub step_secs: i64,
}

/// The events of one series and, per bucket, the index of the event it belongs to.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Events, oldest first.
    pub events: Vec<Event>,
    /// `Some(i)`: the bucket belongs to `events[i]`.
    pub of_bucket: Vec<Option<usize>>,
}

/// Whether bucket `i` may open or extend an event under `cfg`.
fn qualifies(b: &Buckets<'_>, i: usize, cfg: &AnomalyConfig) -> bool {
    let s = &b.scored[i];
    let Some(v) = b.values[i] else { return false };
    let ns = b.ts[i].saturating_mul(1_000_000_000);
    let deviation = v - s.expected;
    s.score >= cfg.sensitivity
        && deviation.abs() >= cfg.min_abs_deviation
        && match cfg.direction {
            Direction::Both => true,
            Direction::Up => deviation > 0.0,
            Direction::Down => deviation < 0.0,
        }
        && !cfg.exclude.iter().any(|(a, z)| (*a..*z).contains(&ns))
}

/// Groups one series' scored buckets into events by the rules of the module doc. The
/// newest event stays open when its last qualifying bucket is within `merge_gap` buckets
/// of the newest bucket.
pub fn group(
    metric: &MetricId,
    series: &SeriesKey,
    b: &Buckets<'_>,
    cfg: &AnomalyConfig,
) -> Grouped {
    let n = b.ts.len().min(b.values.len()).min(b.scored.len());
    let step = b.step_secs.max(1);
    let gap = |from: usize, to: usize| (b.ts[to] - b.ts[from]) / step - 1;
    let mut out = Grouped {
        events: Vec::new(),
        of_bucket: vec![None; n],
    };
    // The open event: (index in events, its last qualifying bucket).
    let mut open: Option<(usize, usize)> = None;
    let mut run_start: Option<usize> = None;
    let mut rebaselined = false;
    // Per event, its last qualifying bucket.
    let mut lasts: Vec<usize> = Vec::new();
    for i in 0..n {
        if !qualifies(b, i, cfg) {
            run_start = None;
            if let Some((_, last)) = open {
                if gap(last, i) >= i64::from(cfg.merge_gap) {
                    open = None;
                }
            }
            continue;
        }
        if let Some((e, last)) = open {
            if gap(last, i) <= i64::from(cfg.merge_gap) {
                open = Some((e, i));
                lasts[e] = i;
                rebaselined |= b.scored[i].rebaselined;
                extend(&mut out, e, last + 1, i, b, rebaselined);
                continue;
            }
        }
        let start = match run_start {
            Some(s) if i > 0 && gap(i - 1, i) <= 0 => s,
            _ => i,
        };
        run_start = Some(start);
        if (i - start + 1) as u32 >= cfg.min_duration {
            rebaselined = (start..=i).any(|k| b.scored[k].rebaselined);
            let e = out.events.len();
            out.events.push(Event {
                event_id: EventId::new(metric, series, b.ts[start]),
                metric_id: metric.clone(),
                series_key: series.clone(),
                kind: Kind::Spike,
                start: b.ts[start],
                end: None,
                peak_ts: b.ts[start],
                peak_score: -1.0,
                severity: Severity::Low,
                buckets: 0,
                value: 0.0,
                expected: 0.0,
            });
            open = Some((e, i));
            lasts.push(i);
            run_start = None;
            extend(&mut out, e, start, i, b, rebaselined);
        }
    }
    // Close every event but one still within merge_gap of the newest bucket.
    let still_open = open
        .filter(|(_, last)| n > 0 && gap(*last, n - 1) < i64::from(cfg.merge_gap))
        .map(|(e, _)| e);
    for (k, ev) in out.events.iter_mut().enumerate() {
        if Some(k) != still_open {
            ev.end = Some(b.ts[lasts[k]]);
        } else if n > 0 {
            ev.buckets = ((b.ts[n - 1] - ev.start) / step + 1) as u32;
            ev.severity = Severity::of(ev.peak_score, ev.buckets);
        }
    }
    out
}

/// Makes buckets `first..=last` (the ones new to it) part of event `e` and updates its
/// peak, kind, size and severity.
fn extend(
    out: &mut Grouped,
    e: usize,
    first: usize,
    last: usize,
    b: &Buckets<'_>,
    rebaselined: bool,
) {
    let ev = &mut out.events[e];
    for i in first..=last {
        out.of_bucket[i] = Some(e);
        let s = &b.scored[i];
        if s.score > ev.peak_score {
            if let Some(v) = b.values[i] {
                ev.peak_score = s.score;
                ev.peak_ts = b.ts[i];
                ev.value = v;
                ev.expected = s.expected;
                ev.kind = s.kind.unwrap_or(Kind::Spike);
            }
        }
    }
    if rebaselined {
        ev.kind = Kind::LevelShift;
    }
    ev.buckets = ((b.ts[last] - ev.start) / b.step_secs.max(1) + 1) as u32;
    ev.severity = Severity::of(ev.peak_score, ev.buckets);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(score: f64) -> Scored {
        Scored {
            score,
            expected: 10.0,
            lower: 9.0,
            upper: 11.0,
            kind: Some(Kind::Spike),
            rebaselined: false,
        }
    }

    fn events(scores: &[f64], cfg: &AnomalyConfig) -> Grouped {
        let ts: Vec<i64> = (0..scores.len() as i64)
            .map(|i| 1_700_000_000 + i * 3600)
            .collect();
        let values: Vec<Option<f64>> = scores.iter().map(|_| Some(20.0)).collect();
        let s: Vec<Scored> = scores.iter().map(|x| scored(*x)).collect();
        group(
            &MetricId::new("G").unwrap(),
            &SeriesKey::all(),
            &Buckets {
                ts: &ts,
                values: &values,
                scored: &s,
                step_secs: 3600,
            },
            cfg,
        )
    }

    #[test]
    fn nearby_buckets_merge_and_far_ones_do_not() {
        let cfg = AnomalyConfig::default();
        let g = events(
            &[
                0.0, 0.995, 0.0, 0.0, 0.999, 0.0, 0.0, 0.0, 0.995, 0.0, 0.0, 0.0,
            ],
            &cfg,
        );
        assert_eq!(g.events.len(), 2, "{:?}", g.events);
        assert_eq!(g.events[0].buckets, 4);
        assert_eq!(g.of_bucket[2], Some(0));
        assert_eq!(g.events[0].peak_score, 0.999);
        assert!(g.events.iter().all(|e| e.end.is_some()));
        assert!(g.events[0].event_id < g.events[1].event_id);
    }

    #[test]
    fn min_duration_and_an_open_event_at_the_end() {
        let cfg = AnomalyConfig {
            min_duration: 2,
            ..AnomalyConfig::default()
        };
        let g = events(
            &[0.995, 0.0, 0.995, 0.995, 0.0, 0.0, 0.0, 0.0, 0.999, 0.999],
            &cfg,
        );
        assert_eq!(g.events.len(), 2);
        assert_eq!(g.of_bucket[0], None);
        assert_eq!(g.events[0].start, 1_700_000_000 + 2 * 3600);
        assert_eq!(g.events[1].end, None);
        assert_eq!(g.events[1].status(), "open");
    }

    #[test]
    fn direction_and_minimum_deviation_filter() {
        let up_only = AnomalyConfig {
            direction: Direction::Down,
            ..AnomalyConfig::default()
        };
        assert!(events(&[0.0, 0.999, 0.0], &up_only).events.is_empty());
        let small = AnomalyConfig {
            min_abs_deviation: 50.0,
            ..AnomalyConfig::default()
        };
        assert!(events(&[0.0, 0.999, 0.0], &small).events.is_empty());
    }

    #[test]
    fn severity_rises_with_rarity_and_duration() {
        assert_eq!(Severity::of(0.99, 1), Severity::Low);
        assert_eq!(Severity::of(0.9999, 1), Severity::High);
        assert!(Severity::of(0.999, 16) > Severity::of(0.999, 1));
        assert_eq!(Severity::of(1.0, 1), Severity::Critical);
    }
}
