//! `gras forecast`: any CSV forecast in one command, the offline twin of the API's analyze
//! now. It reads a long CSV (`series,ts,value`, or `ts,value` for one series), runs
//! training's model selection and calibration on all its series
//! ([`gras_shared::pipeline::train::select_model`]), forecasts each series as inference
//! does ([`gras_shared::pipeline::infer::forecast_series`]) and writes
//! `series,ts,forecast,lower,upper` plus one `q<level>` column per requested quantile.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat};
use clap::Args;
use gras_shared::config::{Aggregation, AnomalyConfig, Frequency, MetricConfig, RowBounds};
use gras_shared::forecast::quantiles::quantiles_at;
use gras_shared::pipeline::history::SeriesHistory;
use gras_shared::pipeline::infer::forecast_series;
use gras_shared::pipeline::train::{select_model, Selection};
use gras_shared::SeriesKey;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras forecast`.
#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// Long CSV with header `series,ts,value` (or `ts,value` for one series): RFC 3339
    /// timestamps, an empty value for a missing one.
    #[arg(long)]
    csv: PathBuf,
    /// Steps to forecast after each series' last value.
    #[arg(long, default_value_t = 168)]
    horizon: u32,
    /// The forecast CSV to write (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Nominal coverage of the `lower`..`upper` interval.
    #[arg(long, default_value_t = 0.9)]
    interval: f64,
    /// Quantile levels, comma-separated (such as 0.1,0.5,0.9): one `q<level>` column each.
    #[arg(long, value_delimiter = ',')]
    quantiles: Vec<f64>,
    /// Bucket width (`1h`, `15min`, ...; a divisor of one hour). Default: the median step
    /// between consecutive timestamps.
    #[arg(long)]
    frequency: Option<String>,
    /// Rolling-origin backtest windows (training's default).
    #[arg(long, default_value_t = 3)]
    windows: usize,
}

/// One data row: its line number, series, timestamp (µs) and value.
struct Row {
    line: usize,
    series: String,
    ts_us: i64,
    value: Option<f64>,
}

/// Reads the CSV: every row or a clear error naming the line.
fn read_rows(path: &Path) -> Result<Vec<Row>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let at = |line: usize| format!("{}:{line}", path.display());
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or_default();
    let with_series = match header {
        "series,ts,value" => true,
        "ts,value" => false,
        other => {
            return Err(format!(
                "{}: the header must be `series,ts,value` or `ts,value`, found `{other}`",
                at(1)
            )
            .into())
        }
    };
    let mut rows = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (series, ts, value) = match (with_series, fields.as_slice()) {
            (true, [s, t, v]) => (*s, *t, *v),
            (false, [t, v]) => (SeriesKey::ALL, *t, *v),
            _ => {
                return Err(format!(
                    "{}: expected {} fields, found {}",
                    at(n),
                    if with_series { 3 } else { 2 },
                    fields.len()
                )
                .into())
            }
        };
        let ts_us = DateTime::parse_from_rfc3339(ts)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(|ns| ns.div_euclid(1_000))
            .ok_or_else(|| {
                format!(
                    "{}: ts {ts:?} is not an RFC 3339 timestamp such as 2024-01-29T14:00:00Z",
                    at(n)
                )
            })?;
        let value = crate::commands::csv_value(value, &at(n))?;
        rows.push(Row {
            line: n,
            series: series.to_string(),
            ts_us,
            value,
        });
    }
    if rows.is_empty() {
        return Err(format!("{}: no data rows", path.display()).into());
    }
    Ok(rows)
}

/// The bucket width: `given`, else the median positive step between consecutive timestamps
/// of each series; either must divide one hour.
fn frequency(given: Option<&str>, by_series: &BySeries<'_>) -> Result<Frequency, Error> {
    if let Some(text) = given {
        return Frequency::parse(text).map_err(|e| format!("--frequency: {e}").into());
    }
    let mut steps: Vec<i64> = by_series
        .values()
        .flat_map(|rows| rows.windows(2).map(|w| w[1].ts_us - w[0].ts_us))
        .filter(|d| *d > 0)
        .collect();
    if steps.is_empty() {
        return Err("cannot infer the frequency from fewer than two timestamps per series: give --frequency".into());
    }
    steps.sort_unstable();
    let median = steps[steps.len() / 2];
    let minutes = median / 60_000_000;
    if median % 60_000_000 != 0 || minutes == 0 {
        return Err(format!(
            "the median step ({median} µs) is not a whole number of minutes: give --frequency"
        )
        .into());
    }
    Frequency::parse(&format!("{minutes}min")).map_err(|e| {
        format!(
            "the median step is {minutes} minutes: {e} (the models' seasons are a day and a week of such buckets)"
        )
        .into()
    })
}

/// The rows of each series, by series name, oldest first.
type BySeries<'a> = BTreeMap<&'a str, Vec<&'a Row>>;

/// Groups `rows` by series, each series' rows in time order.
fn group(rows: &[Row]) -> BySeries<'_> {
    let mut by_series: BySeries<'_> = BTreeMap::new();
    for r in rows {
        by_series.entry(&r.series).or_default().push(r);
    }
    for v in by_series.values_mut() {
        v.sort_by_key(|r| r.ts_us);
    }
    by_series
}

/// Each series' buckets from its first to its last row, `None` where no row fell.
fn histories(by_series: &BySeries<'_>, freq: Frequency) -> Result<Vec<SeriesHistory>, Error> {
    let step = freq.micros();
    let mut out = Vec::with_capacity(by_series.len());
    for (&name, rows) in by_series {
        let key = SeriesKey::new(name).map_err(|e| {
            let first = rows.iter().map(|r| r.line).min().unwrap_or(0);
            format!("line {first}: series {name:?}: {e}")
        })?;
        let start = rows[0].ts_us.div_euclid(step) * step;
        let last = rows[rows.len() - 1].ts_us.div_euclid(step) * step;
        let len = usize::try_from((last - start) / step + 1)?;
        if len > 10_000_000 {
            return Err(format!(
                "series {name:?} spans {len} buckets of {}: too many",
                String::from(freq)
            )
            .into());
        }
        let mut values: Vec<Option<f64>> = vec![None; len];
        let mut seen: Vec<Option<usize>> = vec![None; len];
        for r in rows {
            let i = usize::try_from((r.ts_us.div_euclid(step) * step - start) / step)?;
            if let Some(other) = seen[i] {
                return Err(format!(
                    "lines {other} and {}: two rows of series {name:?} in one {} bucket",
                    r.line,
                    String::from(freq)
                )
                .into());
            }
            seen[i] = Some(r.line);
            values[i] = r.value;
        }
        out.push(SeriesHistory {
            key,
            start_us: start,
            step_us: step,
            values,
        });
    }
    Ok(out)
}

/// One forecast step of one series: series, timestamp, point, lower, upper, quantiles.
type Step = (String, String, f64, f64, f64, Vec<f64>);

/// The arguments' values that no CSV can fix, checked before anything is read.
fn check_args(a: &ForecastArgs) -> Result<(), Error> {
    if !(a.interval > 0.0 && a.interval < 1.0) {
        return Err(format!(
            "--interval {}: must be strictly between 0 and 1",
            a.interval
        )
        .into());
    }
    if let Some(q) = a.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        return Err(format!("--quantiles: {q} is not a level strictly between 0 and 1").into());
    }
    if a.horizon == 0 || a.horizon > 24 * 366 {
        return Err(format!("--horizon {}: must be between 1 and 8784 steps", a.horizon).into());
    }
    Ok(())
}

/// The settings training would use for a metric of this CSV: its frequency, and the
/// command's horizon and interval (the rest does not affect selection).
fn metric_config(a: &ForecastArgs, frequency: Frequency) -> MetricConfig {
    MetricConfig {
        aggregation: Aggregation::Sum,
        frequency,
        horizon: a.horizon,
        interval: a.interval,
        outlier_z: 3.0,
        holidays: Default::default(),
        bounds: RowBounds::DEFAULT,
        anomaly: AnomalyConfig::default(),
        quantiles: a.quantiles.clone(),
        unit: None,
    }
}

/// Each series' forecast steps with `sel`, and the series that could not be forecast.
fn forecast_all(
    a: &ForecastArgs,
    history: &[SeriesHistory],
    sel: &Selection,
    json: bool,
) -> (Vec<Step>, Vec<String>) {
    let horizon = a.horizon as usize;
    let bar = crate::commands::progress(history.len() as u64, "forecast", json);
    let (mut table, mut skipped) = (Vec::new(), Vec::new());
    for h in history {
        bar.inc(1);
        let (last, f) = match forecast_series(h, &sel.spec, &sel.calibration, horizon, a.interval) {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                skipped.push(format!("{}: {e}", h.key));
                continue;
            }
            None => {
                skipped.push(format!("{}: no values", h.key));
                continue;
            }
        };
        let never_negative = h.values.iter().flatten().all(|v| *v >= 0.0);
        for step in 0..horizon {
            let ts = DateTime::from_timestamp_micros(h.ts_us(last + step + 1))
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            let (p, lo, hi) = (f.point[step], f.lower[step], f.upper[step]);
            let qs = quantiles_at(p, lo, hi, a.interval, &a.quantiles, never_negative)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            table.push((h.key.to_string(), ts, p, lo, hi, qs));
        }
    }
    bar.finish_and_clear();
    (table, skipped)
}

/// The forecast as CSV: `series,ts,forecast,lower,upper` and a column per quantile name.
fn to_csv(table: &[Step], names: &[String]) -> String {
    let mut csv = String::from("series,ts,forecast,lower,upper");
    for n in names {
        csv.push(',');
        csv.push_str(n);
    }
    csv.push('\n');
    for (s, ts, p, lo, hi, qs) in table {
        csv.push_str(&format!("{s},{ts},{p},{lo},{hi}"));
        for q in qs {
            csv.push_str(&format!(",{q}"));
        }
        csv.push('\n');
    }
    csv
}

/// The forecast as JSON rows (for `--json` without `--out`).
fn to_json_rows(table: &[Step], names: &[String]) -> serde_json::Value {
    table
        .iter()
        .map(|(s, ts, p, lo, hi, qs)| {
            let mut row =
                serde_json::json!({"series": s, "ts": ts, "forecast": p, "lower": lo, "upper": hi});
            for (n, q) in names.iter().zip(qs) {
                row[n] = serde_json::json!(q);
            }
            row
        })
        .collect()
}

/// Runs the command: the forecast CSV to `--out` or stdout; a summary on stderr (or, with
/// `json`, as one JSON document on stdout, holding the rows too when there is no `--out`).
pub fn run(a: &ForecastArgs, json: bool) -> Result<ExitCode, Error> {
    check_args(a)?;
    let rows = read_rows(&a.csv)?;
    let by_series = group(&rows);
    let freq = frequency(a.frequency.as_deref(), &by_series)?;
    let history = histories(&by_series, freq)?;
    let spinner = crate::commands::progress(1, "backtest", json);
    let selection = select_model(&history, &metric_config(a, freq), a.windows);
    spinner.finish_and_clear();
    let longest = history.iter().map(|h| h.values.len()).max().unwrap_or(0);
    let sel = selection.ok_or_else(|| {
        format!(
            "no series is long enough for training's backtest ({} windows of {} steps after a model's shortest history, two days for the shortest): the longest has {longest} buckets",
            a.windows, a.horizon
        )
    })?;
    let (table, skipped) = forecast_all(a, &history, &sel, json);
    let names: Vec<String> = a.quantiles.iter().map(|q| format!("q{q}")).collect();
    let csv = to_csv(&table, &names);
    match &a.out {
        Some(path) => std::fs::write(path, &csv).map_err(|e| format!("{}: {e}", path.display()))?,
        None if !json => std::io::stdout().lock().write_all(csv.as_bytes())?,
        None => {}
    }
    if json {
        let mut doc = serde_json::json!({
            "model": sel.spec.to_string(), "backtest": sel.metrics, "calibration": sel.calibration,
            "series": history.len() - skipped.len(), "skipped": skipped, "rows": table.len(),
            "frequency": String::from(freq), "out": a.out,
        });
        if a.out.is_none() {
            doc["forecast"] = to_json_rows(&table, &names);
        }
        println!("{doc}");
    } else {
        eprintln!(
            "gras: {} chosen on {} series (backtest MASE {:.3}, first day {:.3}, coverage {:.3} for a nominal {}); {} rows{}",
            sel.spec,
            sel.series,
            sel.metrics.mase,
            sel.metrics.near_mase,
            sel.metrics.coverage,
            a.interval,
            table.len(),
            a.out.as_ref().map_or(String::new(), |p| format!(" written to {}", p.display()))
        );
        for s in &skipped {
            eprintln!("gras: series not forecast: {s}");
        }
    }
    Ok(if skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
