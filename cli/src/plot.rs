//! `gras plot` and the demo's pictures: per metric and series, the recent history (actuals),
//! the stored forecasts with their interval band, and the alerts marked on the actuals, as a
//! self-contained SVG (no font or image dependencies; any browser opens it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use clap::Args;
use gras_shared::alerts::{self, Alert};
use gras_shared::pipeline::history::{load_history, newest_silver_date};
use gras_shared::predictions::{partition_key, Prediction, PREDICTIONS};
use gras_shared::storage::table::query_all;
use gras_shared::storage::{Query, SkRange, Stores};
use gras_shared::{Config, MetricId, SeriesKey};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Width of every plot, pixels.
pub const WIDTH: u32 = 1000;
/// Height of every plot, pixels.
pub const HEIGHT: u32 = 420;
const MARGIN_L: f64 = 70.0;
const MARGIN_R: f64 = 20.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 50.0;

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
}

/// The data of one plot.
#[derive(Debug, Default)]
pub struct PlotData {
    /// Title.
    pub title: String,
    /// Actuals: (time, value).
    pub actuals: Vec<(DateTime<Utc>, f64)>,
    /// Forecasts: (time, value, lower, upper), time order.
    pub forecasts: Vec<(DateTime<Utc>, f64, f64, f64)>,
    /// Alerts: (time, actual value).
    pub alerts: Vec<(DateTime<Utc>, f64)>,
}

impl PlotData {
    /// The time span drawn: from the first to the last actual or forecast point.
    fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self
            .actuals
            .iter()
            .map(|p| p.0)
            .chain(self.forecasts.iter().map(|p| p.0));
        Some((times.clone().min()?, times.max()?))
    }

    /// The alerts drawn: inside the span, with a finite value.
    fn visible_alerts(&self) -> impl Iterator<Item = &(DateTime<Utc>, f64)> {
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the plot as SVG: the interval band (`class="band"`), the forecast line
/// (`class="forecast"`), the actuals line (`class="actuals"`), one circle per alert
/// (`class="alert"`), axes with time and value ticks, a legend. Empty data gives a frame
/// saying so.
pub fn render(d: &PlotData) -> String {
    let (w, h) = (f64::from(WIDTH), f64::from(HEIGHT));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{MARGIN_L}" y="22" font-size="16" font-weight="bold">{}</text>
"##,
        esc(&d.title)
    );
    let Some((t0, t1)) = d.span() else {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">no data yet</text></svg>"#,
            w / 2.0,
            h / 2.0
        );
        return svg;
    };
    let values = d
        .actuals
        .iter()
        .map(|p| p.1)
        .chain(d.forecasts.iter().flat_map(|p| [p.1, p.2, p.3]))
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let span = (t1 - t0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        MARGIN_L + (t - t0).num_seconds() as f64 / span * (w - MARGIN_L - MARGIN_R)
    };
    let y = |v: f64| MARGIN_T + (hi - v) / (hi - lo) * (h - MARGIN_T - MARGIN_B);

    // Axes and ticks.
    let (x0, x1, y0, y1) = (MARGIN_L, w - MARGIN_R, MARGIN_T, h - MARGIN_B);
    let _ = writeln!(
        svg,
        r##"<g class="axes" stroke="#444" stroke-width="1"><line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/></g>"##
    );
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<g class="ytick"><line x1="{x0}" y1="{0:.1}" x2="{x1}" y2="{0:.1}" stroke="#eee"/><text x="{1}" y="{2:.1}" text-anchor="end">{3}</text></g>"##,
            y(v),
            x0 - 6.0,
            y(v) + 4.0,
            fmt_value(v)
        );
    }
    let days = ((t1 - t0).num_hours() / 24).max(1);
    let step = Duration::days((days / 8).max(1));
    let mut t = t0
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(t0);
    while t <= t1 {
        if t >= t0 {
            let _ = writeln!(
                svg,
                r##"<g class="xtick"><line x1="{0:.1}" y1="{y1}" x2="{0:.1}" y2="{1}" stroke="#444"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text></g>"##,
                x(t),
                y1 + 5.0,
                y1 + 20.0,
                t.format("%m-%d")
            );
        }
        t += step;
    }
    // Interval band: upper bounds forward, lower bounds back.
    let band: Vec<(DateTime<Utc>, f64, f64)> = d
        .forecasts
        .iter()
        .filter(|p| p.2.is_finite() && p.3.is_finite())
        .map(|p| (p.0, p.2, p.3))
        .collect();
    if !band.is_empty() {
        let mut pts = String::new();
        for (t, _, up) in &band {
            let _ = write!(pts, "{:.1},{:.1} ", x(*t), y(*up));
        }
        for (t, low, _) in band.iter().rev() {
            let _ = write!(pts, "{:.1},{:.1} ", x(*t), y(*low));
        }
        let _ = writeln!(
            svg,
            r##"<polygon class="band" points="{}" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>"##,
            pts.trim_end()
        );
    }
    let line = |pts: &mut dyn Iterator<Item = (DateTime<Utc>, f64)>| {
        let mut s = String::new();
        for (t, v) in pts.filter(|p| p.1.is_finite()) {
            let _ = write!(s, "{:.1},{:.1} ", x(t), y(v));
        }
        s.trim_end().to_string()
    };
    if !d.forecasts.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline class="forecast" points="{}" fill="none" stroke="#3182bd" stroke-width="1.5" stroke-dasharray="4 2"/>"##,
            line(&mut d.forecasts.iter().map(|p| (p.0, p.1)))
        );
    }
    if !d.actuals.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline class="actuals" points="{}" fill="none" stroke="#222" stroke-width="1.2"/>"##,
            line(&mut d.actuals.iter().copied())
        );
    }
    for (t, v) in d.visible_alerts() {
        let _ = writeln!(
            svg,
            r##"<circle class="alert" cx="{:.1}" cy="{:.1}" r="4" fill="#e6550d" stroke="#fff"/>"##,
            x(*t),
            y(*v)
        );
    }
    // Legend.
    let lx = w - MARGIN_R - 330.0;
    let _ = writeln!(
        svg,
        r##"<g class="legend"><line x1="{lx}" y1="22" x2="{0}" y2="22" stroke="#222"/><text x="{1}" y="26">actual</text><line x1="{2}" y1="22" x2="{3}" y2="22" stroke="#3182bd" stroke-dasharray="4 2"/><text x="{4}" y="26">forecast</text><rect x="{5}" y="16" width="18" height="12" fill="#9ecae1"/><text x="{6}" y="26">interval</text><circle cx="{7}" cy="22" r="4" fill="#e6550d"/><text x="{8}" y="26">alert</text></g>"##,
        lx + 18.0,
        lx + 22.0,
        lx + 70.0,
        lx + 88.0,
        lx + 92.0,
        lx + 150.0,
        lx + 172.0,
        lx + 240.0,
        lx + 248.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes the plot of one series to `out` and says what it shows.
pub async fn write_plot(
    stores: &Stores,
    metric: &MetricId,
    series: &SeriesKey,
    days: u32,
    step_us: i64,
    out: &Path,
) -> Result<PlotSummary, Error> {
    let data = load(stores, metric, series, days, step_us).await?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(out, render(&data)).map_err(|e| format!("{}: {e}", out.display()))?;
    let alerts = data.visible_alerts().count();
    Ok(PlotSummary {
        path: out.to_path_buf(),
        metric: metric.to_string(),
        series: series.to_string(),
        actuals: data.actuals.len(),
        forecasts: data.forecasts.len(),
        alerts,
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
    let (metric, cfg) = config
        .metric_by_name(&a.metric)
        .ok_or_else(|| format!("metric {:?} is not configured", a.metric))?;
    let series = SeriesKey::new(a.series.clone())?;
    let lake = a.lake.existing()?;
    let stores = Stores::local(lake)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_path(lake, metric, &series));
    let s = write_plot(
        &stores,
        metric,
        &series,
        a.days,
        cfg.frequency.micros(),
        &out,
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{}: {} actuals, {} forecast points, {} alerts",
            s.path.display(),
            s.actuals,
            s.forecasts,
            s.alerts
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + h * 3600, 0).expect("t")
    }

    #[test]
    fn renders_every_layer_inside_the_frame() {
        let d = PlotData {
            title: "G / <all>".into(),
            actuals: (0..48).map(|h| (t(h), 10.0 + (h % 24) as f64)).collect(),
            forecasts: (48..72).map(|h| (t(h), 12.0, 8.0, 16.0)).collect(),
            alerts: vec![(t(10), 20.0), (t(500), 1.0)],
        };
        let svg = render(&d);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("G / &lt;all&gt;"), "title escaped");
        assert_eq!(
            svg.matches("class=\"alert\"").count(),
            1,
            "only alerts in the window"
        );
        let actuals = svg
            .lines()
            .find(|l| l.contains("class=\"actuals\""))
            .expect("actuals line");
        let pts = actuals
            .split("points=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("points");
        assert_eq!(pts.split(' ').count(), 48);
        for p in pts.split(' ') {
            let (x, y) = p.split_once(',').expect("x,y");
            let (x, y): (f64, f64) = (x.parse().expect("x"), y.parse().expect("y"));
            assert!((MARGIN_L..=f64::from(WIDTH) - MARGIN_R).contains(&x), "{x}");
            assert!(
                (MARGIN_T..=f64::from(HEIGHT) - MARGIN_B).contains(&y),
                "{y}"
            );
        }
        assert_eq!(svg.matches("class=\"band\"").count(), 1);
        assert_eq!(svg.matches("class=\"forecast\"").count(), 1);
        assert!(render(&PlotData::default()).contains("no data yet"));
    }
}
