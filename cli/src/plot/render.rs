//! The SVG of one plot, a pure function of [`PlotData`]: the interval band, the forecast,
//! the actuals (broken at gaps), alerts, a "now" line, round ticks in the chosen time zone,
//! the unit on the value axis, and markers for the points a robust scale leaves out. No
//! fonts or images: any browser opens it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::scale::{time_ticks, ValueAxis};
use super::PlotData;

/// Width of every plot, pixels.
pub const WIDTH: u32 = 1000;
/// Height of every plot, pixels.
pub const HEIGHT: u32 = 420;
/// Left margin: value labels and the axis title.
pub const MARGIN_L: f64 = 78.0;
/// Right margin.
pub const MARGIN_R: f64 = 20.0;
/// Top margin: title, subtitle and legend.
pub const MARGIN_T: f64 = 52.0;
/// Bottom margin: time labels and the axis title.
pub const MARGIN_B: f64 = 50.0;

// Okabe-Ito, the dashboard's palette: distinguishable with every common colour deficiency.
const INK: &str = "#1b1b1b";
const MUTED: &str = "#5a5a5a";
const GRID: &str = "#e4e4e4";
const BLUE: &str = "#0072b2";
const SKY: &str = "#56b4e9";
const ORANGE: &str = "#e69f00";
const VERMILLION: &str = "#d55e00";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What [`render`] drew besides the SVG text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Actuals outside the value axis, drawn as markers at its edge.
    pub clipped: usize,
    /// Alerts marked (inside the time span, with a finite value).
    pub alerts: usize,
}

/// Renders the plot: the band (`class="band"`), the forecast (`class="forecast"`), the
/// actuals as one `class="actuals"` polyline per run without gaps (a gap is more than 1.5
/// buckets), one `class="alert"` circle per alert, a `class="clipped"` triangle per actual
/// beyond the value axis, a `class="now"` line when `now` falls in the span, ticks, axis
/// titles and a legend. Every coordinate lies inside the frame. Empty data gives a frame
/// saying so.
pub fn render(d: &PlotData) -> (String, Drawn) {
    let (w, h) = (f64::from(WIDTH), f64::from(HEIGHT));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" fill="{INK}">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{MARGIN_L}" y="20" font-size="16" font-weight="bold">{}</text>
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
        return (svg, Drawn::default());
    };
    // A metric whose actuals never go below zero (a count, an amount) gets no negative axis.
    let non_negative =
        !d.actuals.is_empty() && d.actuals.iter().all(|p| p.1.is_nan() || p.1 >= 0.0);
    let axis = ValueAxis::robust(
        d.actuals
            .iter()
            .map(|p| p.1)
            .chain(d.forecasts.iter().flat_map(|p| [p.1, p.2, p.3])),
        non_negative,
    );
    let (x0, x1, y0, y1) = (MARGIN_L, w - MARGIN_R, MARGIN_T, h - MARGIN_B);
    let span = (t1 - t0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| x0 + (t - t0).num_seconds() as f64 / span * (x1 - x0);
    let y = |v: f64| y0 + (axis.hi - axis.clamp(v).0) / (axis.hi - axis.lo) * (y1 - y0);

    // Value grid and labels, the axis title with the unit.
    for v in &axis.ticks {
        let _ = writeln!(
            svg,
            r##"<g class="ytick"><line x1="{x0}" y1="{0:.1}" x2="{x1}" y2="{0:.1}" stroke="{GRID}"/><text x="{1}" y="{2:.1}" text-anchor="end">{3}</text></g>"##,
            y(*v),
            x0 - 6.0,
            y(*v) + 4.0,
            esc(&axis.label(*v))
        );
    }
    let unit = d.unit.as_deref().unwrap_or("value");
    let _ = writeln!(
        svg,
        r##"<text class="ylabel" transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="{MUTED}">{}</text>"##,
        (y0 + y1) / 2.0,
        esc(unit)
    );
    // Time ticks and the axis title with the zone.
    let _ = writeln!(
        svg,
        r##"<g class="axes" stroke="{MUTED}" stroke-width="1"><line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/></g>"##
    );
    for (t, label) in time_ticks(t0, t1, d.zone) {
        let _ = writeln!(
            svg,
            r##"<g class="xtick"><line x1="{0:.1}" y1="{y1}" x2="{0:.1}" y2="{1}" stroke="{MUTED}"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text></g>"##,
            x(t),
            y1 + 5.0,
            y1 + 19.0,
            esc(&label)
        );
    }
    let shown = |t: DateTime<Utc>| t.with_timezone(&d.zone.0).format("%Y-%m-%d %H:%M");
    let _ = writeln!(
        svg,
        r##"<text class="xlabel" x="{:.1}" y="{}" text-anchor="middle" fill="{MUTED}">time ({}) · {} to {}</text>"##,
        (x0 + x1) / 2.0,
        h - 10.0,
        d.zone,
        shown(t0),
        shown(t1)
    );

    // Interval band: upper bounds forward, lower bounds back (clamped into the frame).
    let band: Vec<_> = d
        .forecasts
        .iter()
        .filter(|p| p.2.is_finite() && p.3.is_finite())
        .collect();
    if !band.is_empty() {
        let mut pts = String::new();
        for p in &band {
            let _ = write!(pts, "{:.1},{:.1} ", x(p.0), y(p.3));
        }
        for p in band.iter().rev() {
            let _ = write!(pts, "{:.1},{:.1} ", x(p.0), y(p.2));
        }
        let _ = writeln!(
            svg,
            r##"<polygon class="band" points="{}" fill="{SKY}" fill-opacity="0.35" stroke="none"/>"##,
            pts.trim_end()
        );
    }
    let points = |pts: &[(DateTime<Utc>, f64)]| {
        let mut s = String::new();
        for (t, v) in pts {
            let _ = write!(s, "{:.1},{:.1} ", x(*t), y(*v));
        }
        s.trim_end().to_string()
    };
    let forecast: Vec<_> = d
        .forecasts
        .iter()
        .map(|p| (p.0, p.1))
        .filter(|p| p.1.is_finite())
        .collect();
    if !forecast.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline class="forecast" points="{}" fill="none" stroke="{BLUE}" stroke-width="1.6" stroke-dasharray="5 3"/>"##,
            points(&forecast)
        );
    }
    let gap = d.step_secs.max(1) as f64 * 1.5;
    let mut run: Vec<(DateTime<Utc>, f64)> = Vec::new();
    let actuals = d.actuals.iter().filter(|p| p.1.is_finite());
    let flush = |run: &mut Vec<(DateTime<Utc>, f64)>, svg: &mut String| {
        if run.len() == 1 {
            let (t, v) = run[0];
            let _ = writeln!(
                svg,
                r##"<circle class="lone" cx="{:.1}" cy="{:.1}" r="1.6" fill="{INK}"/>"##,
                x(t),
                y(v)
            );
        }
        if !run.is_empty() {
            let _ = writeln!(
                svg,
                r##"<polyline class="actuals" points="{}" fill="none" stroke="{INK}" stroke-width="1.2"/>"##,
                points(run)
            );
        }
        run.clear();
    };
    for p in actuals {
        if run
            .last()
            .is_some_and(|q| (p.0 - q.0).num_seconds() as f64 > gap)
        {
            flush(&mut run, &mut svg);
        }
        run.push(*p);
    }
    flush(&mut run, &mut svg);

    // Actuals beyond the axis: a triangle at the edge, pointing the way they went.
    let mut drawn = Drawn::default();
    for (t, v) in d.actuals.iter().filter(|p| p.1.is_finite()) {
        if !axis.clamp(*v).1 {
            continue;
        }
        drawn.clipped += 1;
        let (cx, up) = (x(*t), *v > axis.hi);
        let (tip, base) = if up { (y0, y0 + 8.0) } else { (y1, y1 - 8.0) };
        let _ = writeln!(
            svg,
            r##"<polygon class="clipped" points="{:.1},{tip:.1} {:.1},{base:.1} {:.1},{base:.1}" fill="{MUTED}"><title>{} off scale at {}</title></polygon>"##,
            cx,
            cx - 4.0,
            cx + 4.0,
            esc(&axis.label(*v)),
            shown(*t)
        );
    }
    for (t, v) in d.visible_alerts() {
        drawn.alerts += 1;
        let _ = writeln!(
            svg,
            r##"<circle class="alert" cx="{:.1}" cy="{:.1}" r="4" fill="{VERMILLION}" stroke="#fff"><title>alert at {}: {}</title></circle>"##,
            x(*t),
            y(*v),
            shown(*t),
            esc(&axis.label(*v))
        );
    }
    if let Some(now) = d.now.filter(|n| *n >= t0 && *n <= t1) {
        let _ = writeln!(
            svg,
            r##"<g class="now"><line x1="{0:.1}" y1="{y0}" x2="{0:.1}" y2="{y1}" stroke="{ORANGE}" stroke-width="1.5"/><text x="{1:.1}" y="{2}" fill="{ORANGE}">now</text></g>"##,
            x(now),
            x(now) + 3.0,
            y0 + 12.0
        );
    }

    // Subtitle: what is not in view, and when the data stop.
    let mut notes = Vec::new();
    if drawn.clipped > 0 {
        notes.push(format!(
            "{} point{} off scale (▲▼ at the edge)",
            drawn.clipped,
            if drawn.clipped == 1 { "" } else { "s" }
        ));
    }
    if let (Some(now), Some(last)) = (d.now, d.actuals.last().map(|p| p.0)) {
        let hours = (now - last).num_hours();
        if hours >= 1 {
            notes.push(format!("newest actual {hours} h before now"));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text class="notes" x="{MARGIN_L}" y="38" fill="{MUTED}">{}</text>"##,
            esc(&notes.join(" · "))
        );
    }
    // Legend.
    let lx = w - MARGIN_R - 360.0;
    let _ = writeln!(
        svg,
        r##"<g class="legend"><line x1="{lx}" y1="16" x2="{0}" y2="16" stroke="{INK}"/><text x="{1}" y="20">actual</text><line x1="{2}" y1="16" x2="{3}" y2="16" stroke="{BLUE}" stroke-dasharray="5 3"/><text x="{4}" y="20">forecast</text><rect x="{5}" y="10" width="18" height="12" fill="{SKY}" fill-opacity="0.35"/><text x="{6}" y="20">interval</text><circle cx="{7}" cy="16" r="4" fill="{VERMILLION}"/><text x="{8}" y="20">alert</text><line x1="{9}" y1="9" x2="{9}" y2="23" stroke="{ORANGE}" stroke-width="1.5"/><text x="{10}" y="20">now</text></g>"##,
        lx + 18.0,
        lx + 22.0,
        lx + 70.0,
        lx + 88.0,
        lx + 92.0,
        lx + 150.0,
        lx + 172.0,
        lx + 232.0,
        lx + 240.0,
        lx + 290.0,
        lx + 296.0
    );
    svg.push_str("</svg>\n");
    (svg, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::scale::Zone;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + h * 3600, 0).expect("t")
    }

    /// Every `x,y` pair of the `points` of each element of `class`.
    fn points(svg: &str, tag: &str, class: &str) -> Vec<Vec<(f64, f64)>> {
        svg.lines()
            .filter(|l| l.contains(&format!("<{tag} class=\"{class}\"")))
            .map(|l| {
                let pts = l
                    .split("points=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .expect("points");
                pts.split(' ')
                    .map(|p| {
                        let (x, y) = p.split_once(',').expect("x,y");
                        (x.parse().expect("x"), y.parse().expect("y"))
                    })
                    .collect()
            })
            .collect()
    }

    fn data() -> PlotData {
        PlotData {
            title: "G / <all>".into(),
            unit: Some("orders".into()),
            step_secs: 3600,
            zone: Zone::default(),
            now: Some(t(50)),
            actuals: (0..48)
                .filter(|h| !(20..25).contains(h))
                .map(|h| (t(h), 10.0 + (h % 24) as f64))
                .collect(),
            forecasts: (48..72).map(|h| (t(h), 12.0, -3.0, 16.0)).collect(),
            alerts: vec![(t(10), 20.0), (t(500), 1.0)],
        }
    }

    #[test]
    fn renders_every_layer_inside_the_frame() {
        let (svg, drawn) = render(&data());
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("G / &lt;all&gt;"), "title escaped");
        assert_eq!(drawn.alerts, 1, "only alerts in the window");
        assert_eq!(svg.matches("class=\"alert\"").count(), 1);
        let runs = points(&svg, "polyline", "actuals");
        assert_eq!(runs.len(), 2, "the 5-hour gap breaks the line");
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 43);
        let frame_x = MARGIN_L..=f64::from(WIDTH) - MARGIN_R;
        let frame_y = MARGIN_T..=f64::from(HEIGHT) - MARGIN_B;
        for (x, y) in runs
            .iter()
            .flatten()
            .chain(points(&svg, "polygon", "band").iter().flatten())
        {
            assert!(frame_x.contains(x) && frame_y.contains(y), "{x},{y}");
        }
        assert_eq!(points(&svg, "polygon", "band").len(), 1);
        assert_eq!(points(&svg, "polyline", "forecast").len(), 1);
        assert!(svg.contains("class=\"now\""), "now is inside the span");
        assert!(svg.contains(">orders</text>"), "the unit labels the axis");
        assert!(svg.contains("time (UTC)"));
        assert!(render(&PlotData::default()).0.contains("no data yet"));
    }

    /// The value axis of a count never shows negative ticks, even when the band's lower
    /// bound does go below zero.
    #[test]
    fn a_non_negative_metric_gets_no_negative_axis() {
        let (svg, _) = render(&data());
        let labels: Vec<&str> = svg
            .lines()
            .filter(|l| l.contains("class=\"ytick\""))
            .filter_map(|l| l.split("text-anchor=\"end\">").nth(1))
            .filter_map(|s| s.split('<').next())
            .collect();
        assert!(labels.len() >= 4, "{labels:?}");
        assert!(labels.iter().all(|l| !l.starts_with('-')), "{labels:?}");
        assert_eq!(labels[0], "0");
    }

    #[test]
    fn a_spike_is_marked_at_the_edge_not_flattening_the_rest() {
        let mut d = data();
        d.actuals[5].1 = 1e6;
        let (svg, drawn) = render(&d);
        assert_eq!(drawn.clipped, 1);
        assert_eq!(svg.matches("class=\"clipped\"").count(), 1);
        assert!(svg.contains("1 point off scale"));
        // The rest keeps the height of the frame: the daily cycle spans most of it.
        let ys: Vec<f64> = points(&svg, "polyline", "actuals")
            .into_iter()
            .flatten()
            .map(|p| p.1)
            .collect();
        let spread = ys.iter().copied().fold(f64::MIN, f64::max)
            - ys.iter().copied().fold(f64::MAX, f64::min);
        assert!(
            spread > 0.3 * (f64::from(HEIGHT) - MARGIN_T - MARGIN_B),
            "{spread}"
        );
    }

    #[test]
    fn times_follow_the_chosen_zone() {
        let mut d = data();
        d.zone = "+05:30".parse().expect("zone");
        let (svg, _) = render(&d);
        assert!(
            svg.contains("time (UTC+05:30)"),
            "axis title names the zone"
        );
        assert!(svg.contains("2024-01-01 05:30"), "range in local time");
    }
}
