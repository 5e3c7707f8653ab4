//! `gras replay` (contract §8): scores a `timestamp,value` CSV (the NAB corpus format) with
//! the production detector ([`gras_shared::anomaly::Detector`]) and groups the anomalous
//! buckets into events ([`gras_shared::anomaly::events::group`]) with a metric's
//! `[metrics.M.anomaly]` settings (the defaults without `--metric`). It writes one row per
//! input row, in input order: `timestamp,value,anomaly_score,kind,event_id`.
//!
//! Input rules: a header `timestamp,value` (or `ts,value`); timestamps in RFC 3339 or as
//! `YYYY-MM-DD HH:MM:SS` (UTC, NAB's form); an empty value is missing (scored 0). The rows
//! must be in time order: a timestamp before the previous row's is an error naming its line
//! (sort first), as is a non-numeric value. A repeated timestamp is scored as the next
//! observation of the same bucket (NAB's corpus has one, at a clock change). Gaps and
//! irregular steps are allowed; the bucket width is the median step unless `--frequency`
//! gives it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDateTime};
use clap::Args;
use gras_shared::anomaly::events::{group, Buckets};
use gras_shared::anomaly::{Detector, Scored, Severity};
use gras_shared::config::AnomalyConfig;
use gras_shared::{Config, MetricId, SeriesKey};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// CSV with header `timestamp,value`, oldest first.
    #[arg(long)]
    csv: PathBuf,
    /// The scored CSV to write (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use this configured metric's anomaly settings and interval (default: the contract's
    /// defaults).
    #[arg(long)]
    pub metric: Option<String>,
    /// Bucket width (`300s`, `5min`, `1h`, `1d`). Default: the median step.
    #[arg(long)]
    frequency: Option<String>,
}

/// One input row: its text as written, its time in seconds and its value.
struct Row {
    timestamp: String,
    value_text: String,
    secs: i64,
    value: Option<f64>,
}

/// Parses a timestamp: RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DDTHH:MM:SS` as UTC.
fn parse_ts(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp())
}

/// Reads and checks the CSV: every row, or a clear error naming the line.
fn read_rows(path: &Path) -> Result<Vec<Row>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let at = |line: usize| format!("{}:{line}", path.display());
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or_default();
    if !matches!(header, "timestamp,value" | "ts,value") {
        return Err(format!(
            "{}: the header must be `timestamp,value` (NAB's format), found `{header}`",
            at(1)
        )
        .into());
    }
    let mut rows: Vec<Row> = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [ts, value] = fields.as_slice() else {
            return Err(format!("{}: expected 2 fields, found {}", at(n), fields.len()).into());
        };
        let secs = parse_ts(ts).ok_or_else(|| {
            format!(
                "{}: timestamp {ts:?} is neither RFC 3339 (2015-02-26T21:42:53Z) nor `YYYY-MM-DD HH:MM:SS`",
                at(n)
            )
        })?;
        let value_text = (*value).to_string();
        let value = crate::commands::csv_value(value, &at(n))?;
        if let Some(prev) = rows.last() {
            if secs < prev.secs {
                return Err(format!(
                    "{}: timestamp {ts} is before the previous row's ({}): replay scores a stream, so sort the rows by time first",
                    at(n),
                    prev.timestamp
                )
                .into());
            }
        }
        rows.push(Row {
            timestamp: ts.to_string(),
            value_text,
            secs,
            value,
        });
    }
    if rows.is_empty() {
        return Err(format!("{}: no data rows", path.display()).into());
    }
    Ok(rows)
}

/// Parses `--frequency`: a whole number with `s`, `min`, `h` or `d`.
fn parse_frequency(text: &str) -> Result<i64, Error> {
    let units = [("min", 60), ("s", 1), ("h", 3600), ("d", 86_400)];
    units
        .iter()
        .find_map(|(u, k)| {
            text.strip_suffix(u)
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .map(|n| n * k)
        })
        .ok_or_else(|| {
            format!("--frequency {text:?}: give a whole number of s, min, h or d (such as 5min)")
                .into()
        })
}

/// The bucket width: `--frequency`, else the median step between rows.
fn step_secs(given: Option<&str>, rows: &[Row]) -> Result<i64, Error> {
    if let Some(text) = given {
        return parse_frequency(text);
    }
    let mut steps: Vec<i64> = rows.windows(2).map(|w| w[1].secs - w[0].secs).collect();
    if steps.is_empty() {
        return Err("cannot infer the frequency from one row: give --frequency".into());
    }
    steps.sort_unstable();
    Ok(steps[steps.len() / 2])
}

/// The scored CSV.
fn to_csv(
    rows: &[Row],
    scored: &[Scored],
    grouped: &gras_shared::anomaly::events::Grouped,
) -> String {
    let mut out = String::with_capacity(rows.len() * 48);
    out.push_str("timestamp,value,anomaly_score,kind,event_id\n");
    for (i, (row, s)) in rows.iter().zip(scored).enumerate() {
        let event = grouped.of_bucket[i].map(|e| &grouped.events[e]);
        let kind = event.map_or("", |e| e.kind.as_str());
        let id = event.map_or("", |e| e.event_id.as_str());
        out.push_str(&format!(
            "{},{},{},{kind},{id}\n",
            row.timestamp, row.value_text, s.score
        ));
    }
    out
}

/// Runs `gras replay`.
pub fn run(a: &ReplayArgs, config: &Config, json: bool) -> Result<ExitCode, Error> {
    let (metric, settings, interval) = match &a.metric {
        Some(name) => {
            let (id, m) = crate::commands::configured(config, name)?;
            (id.clone(), m.anomaly.clone(), m.interval)
        }
        None => (MetricId::new("replay")?, AnomalyConfig::default(), 0.9),
    };
    let rows = read_rows(&a.csv)?;
    let step = step_secs(a.frequency.as_deref(), &rows)?;
    let bar = crate::commands::progress(rows.len() as u64, "replay", json || rows.len() < 100_000);
    let mut detector = Detector::new(step, interval);
    let mut scored = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        scored.push(detector.score(r.secs, r.value));
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    let ts: Vec<i64> = rows.iter().map(|r| r.secs).collect();
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.value).collect();
    let series = SeriesKey::all();
    let grouped = group(
        &metric,
        &series,
        &Buckets {
            ts: &ts,
            values: &values,
            scored: &scored,
            step_secs: step,
        },
        &settings,
    );
    let csv = to_csv(&rows, &scored, &grouped);
    match &a.out {
        Some(path) => std::fs::write(path, &csv).map_err(|e| format!("{}: {e}", path.display()))?,
        None if !json => std::io::stdout().lock().write_all(csv.as_bytes())?,
        None => {}
    }
    let by = |s: Severity| grouped.events.iter().filter(|e| e.severity == s).count();
    if json {
        let doc = serde_json::json!({
            "rows": rows.len(), "step_secs": step, "sensitivity": settings.sensitivity,
            "events": grouped.events, "out": a.out,
        });
        println!("{doc}");
    } else {
        eprintln!(
            "gras: {} rows every {step} s scored; {} events at sensitivity {} (critical {}, high {}, medium {}, low {}){}",
            rows.len(),
            grouped.events.len(),
            settings.sensitivity,
            by(Severity::Critical),
            by(Severity::High),
            by(Severity::Medium),
            by(Severity::Low),
            a.out.as_ref().map_or(String::new(), |p| format!(" written to {}", p.display()))
        );
    }
    Ok(ExitCode::SUCCESS)
}
