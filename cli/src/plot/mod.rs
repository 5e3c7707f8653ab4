//! `gras plot` and the demo's pictures: per metric and series, the recent history (actuals),
//! the stored forecasts with their interval band, and the alerts marked on the actuals, as a
//! self-contained SVG. This module reads the data; [`render()`] draws it on the scales of
//! [`scale`].

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use gras_shared::alerts::{self, Alert};
use gras_shared::config::MetricConfig;
use gras_shared::pipeline::history::{load_history, newest_silver_date};
use gras_shared::predictions::{partition_key, Prediction, PREDICTIONS};
use gras_shared::storage::table::query_all;
use gras_shared::storage::{Query, SkRange, Stores};
use gras_shared::{Config, MetricId, SeriesKey};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub mod render;
pub mod scale;

pub use render::render;
use scale::Zone;

/// `gras plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    #[command(flatten)]
    pub lake: crate::commands::LakeArgs,
    /// The metric.
    #[arg(long)]
    pub metric: String,
    /// The series (default `_all`).
    #[arg(long, default_value = "_all")]
    pub series: String,
    /// Days of history before the newest actual.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Output file (default `LAKE/plots/<metric>-<series>.svg`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The time zone of the time axis, as an offset: `UTC`, `+02:00`, `-05:30`.
    #[arg(long, default_value = "UTC")]
    pub tz: Zone,
}

/// What one plot shows (the numbers are also what the test checks against the SVG).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlotSummary {
    /// The file written.
    pub path: PathBuf,
    /// Metric.
    pub metric: String,
    /// Series.
    pub series: String,
    /// Actual values drawn.
    pub actuals: usize,
    /// Forecast points drawn.
    pub forecasts: usize,
    /// Alerts marked.
    pub alerts: usize,
    /// Actuals beyond the robust value axis, marked at its edge.
    pub clipped: usize,
}

/// The data of one plot.
#[derive(Debug, Default)]
pub struct PlotData {
    /// Title.
    pub title: String,
    /// The metric's unit, labelling the value axis (`value` when none).
    pub unit: Option<String>,
    /// The bucket width, seconds: actuals further apart than 1.5 of it are a gap.
    pub step_secs: i64,
    /// The time zone of the time axis.
    pub zone: Zone,
    /// The time of the "now" line, drawn when inside the span.
    pub now: Option<DateTime<Utc>>,
    /// Actuals: (time, value).
    pub actuals: Vec<(DateTime<Utc>, f64)>,
    /// Forecasts: (time, value, lower, upper), time order.
    pub forecasts: Vec<(DateTime<Utc>, f64, f64, f64)>,
    /// Alerts: (time, actual value).
    pub alerts: Vec<(DateTime<Utc>, f64)>,
}

impl PlotData {
    /// The time span drawn: from the first to the last actual or forecast point.
    pub(crate) fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self
            .actuals
            .iter()
            .map(|p| p.0)
            .chain(self.forecasts.iter().map(|p| p.0));
        Some((times.clone().min()?, times.max()?))
    }

    /// The alerts drawn: inside the span, with a finite value.
    pub(crate) fn visible_alerts(&self) -> impl Iterator<Item = &(DateTime<Utc>, f64)> {
        let span = self.span();
        self.alerts.iter().filter(move |(t, v)| {
            span.is_some_and(|(t0, t1)| *t >= t0 && *t <= t1) && v.is_finite()
        })
    }
}

/// Reads the plot data of a series: `days` of silver actuals (buckets `step_us` wide, the
/// metric's frequency) up to the newest, the stored forecasts from the start of that window
/// on, and the series' alerts in it.
pub async fn load(
    stores: &Stores,
    metric: &MetricId,
    series: &SeriesKey,
    days: u32,
    step_us: i64,
) -> Result<PlotData, Error> {
    let mut data = PlotData {
        title: format!("{metric} / {series}"),
        step_secs: step_us / 1_000_000,
        ..PlotData::default()
    };
    let Some(end) = newest_silver_date(stores, metric).await? else {
        return Ok(data);
    };
    let start = end - chrono::Days::new(u64::from(days.max(1)) - 1);
    let history = load_history(stores, metric, start, end, step_us).await?;
    if let Some(h) = history.iter().find(|h| &h.key == series) {
        for (i, v) in h.values.iter().enumerate() {
            let (Some(v), Some(t)) = (v, DateTime::from_timestamp_micros(h.ts_us(i))) else {
                continue;
            };
            data.actuals.push((t, *v));
        }
    }
    let from = start
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or_default();
    let since = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Forecasts and alerts share the hash key (`G` / `G#<series>`) and the range.
    let q = Query {
        range: SkRange::From(since),
        ..Query::all(partition_key(metric, series))
    };
    for item in query_all(&*stores.tables, &PREDICTIONS, &q).await? {
        if let Some(p) = Prediction::from_item(&item) {
            data.forecasts.push((p.ts, p.value, p.lower, p.upper));
        }
    }
    for item in query_all(&*stores.tables, &alerts::ALERTS, &q).await? {
        let Some(a): Option<Alert> = alerts::from_item(&item) else {
            continue;
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(&a.ts) {
            data.alerts.push((t.with_timezone(&Utc), a.value));
        }
    }
    Ok(data)
}

/// How a plot is drawn: the metric's settings (bucket width, unit), the days shown and the
/// time zone.
#[derive(Debug, Clone, Copy)]
pub struct PlotOptions<'a> {
    /// The metric's settings.
    pub metric: &'a MetricConfig,
    /// Days of history before the newest actual.
    pub days: u32,
    /// The time zone of the time axis.
    pub zone: Zone,
}

/// Writes the plot of one series to `out` and says what it shows; the "now" line is the
/// wall clock.
pub async fn write_plot(
    stores: &Stores,
    metric: &MetricId,
    series: &SeriesKey,
    opts: PlotOptions<'_>,
    out: &Path,
) -> Result<PlotSummary, Error> {
    let mut data = load(
        stores,
        metric,
        series,
        opts.days,
        opts.metric.frequency.micros(),
    )
    .await?;
    data.unit = opts.metric.unit.clone();
    data.zone = opts.zone;
    data.now = Some(Utc::now());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let (svg, drawn) = render(&data);
    std::fs::write(out, svg).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(PlotSummary {
        path: out.to_path_buf(),
        metric: metric.to_string(),
        series: series.to_string(),
        actuals: data.actuals.len(),
        forecasts: data.forecasts.len(),
        alerts: drawn.alerts,
        clipped: drawn.clipped,
    })
}

/// The default file of a plot: `LAKE/plots/<metric>-<series>.svg`.
pub fn default_path(lake: &Path, metric: &MetricId, series: &SeriesKey) -> PathBuf {
    let safe: String = series
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    lake.join("plots").join(format!("{metric}-{safe}.svg"))
}

/// `gras plot`.
pub async fn run(
    a: &PlotArgs,
    config: &Config,
    json: bool,
) -> Result<std::process::ExitCode, Error> {
    let (metric, cfg) = crate::commands::configured(config, &a.metric)?;
    let series = SeriesKey::new(a.series.clone())?;
    let lake = a.lake.existing()?;
    let stores = Stores::local(lake)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_path(lake, metric, &series));
    let opts = PlotOptions {
        metric: cfg,
        days: a.days,
        zone: a.tz,
    };
    let s = write_plot(&stores, metric, &series, opts, &out).await?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{}: {} actuals, {} forecast points, {} alerts{}",
            s.path.display(),
            s.actuals,
            s.forecasts,
            s.alerts,
            match s.clipped {
                0 => String::new(),
                n => format!(", {n} off scale (marked at the edge)"),
            }
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
