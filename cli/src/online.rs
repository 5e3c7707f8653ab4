//! `gras online`: one series' online features (contract section 5) from the embedded
//! backend's `gras_features` table, the v2 7- and 30-day totals included.

use std::process::ExitCode;

use clap::Args;
use gras_shared::contract::silver_col as col;
use gras_shared::online::{self, FEATURES};
use gras_shared::storage::table::Attr;
use gras_shared::storage::Stores;
use gras_shared::{Config, SeriesKey};

use crate::commands::LakeArgs;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras online METRIC [--series KEY]`.
#[derive(Debug, Args)]
pub struct OnlineArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// The metric.
    metric: String,
    /// The series (default `_all`, the metric's total).
    #[arg(long, default_value = SeriesKey::ALL)]
    series: String,
}

/// The item's attributes in contract column order (section 4), then `ts` and `updated_at`.
fn columns() -> Vec<&'static str> {
    let mut names = vec![
        col::VALUE,
        col::IS_IMPUTED,
        col::HOUR,
        col::DAY_OF_WEEK,
        col::IS_WEEKEND,
        col::IS_HOLIDAY,
    ];
    names.extend(col::FLOAT_FEATURES);
    names.push(col::IS_OUTLIER);
    names.extend(col::TOTALS);
    names
}

fn json_of(a: &Attr) -> serde_json::Value {
    match a {
        // Whole numbers (hour, day_of_week, counts) as JSON integers.
        Attr::N(n) if n.fract() == 0.0 && n.abs() < 9e15 => serde_json::json!(*n as i64),
        Attr::N(n) => serde_json::json!(n),
        Attr::Bool(b) => serde_json::json!(b),
        Attr::S(s) => serde_json::json!(s),
        _ => serde_json::Value::Null,
    }
}

/// Prints the series' online item; an unknown metric or series is an error naming it.
pub async fn run(a: &OnlineArgs, config: &Config, json: bool) -> Result<ExitCode, Error> {
    let lake = a.lake.existing()?;
    let (metric, _) = crate::commands::configured(config, &a.metric)?;
    let series =
        SeriesKey::new(a.series.clone()).map_err(|e| format!("series {:?}: {e}", a.series))?;
    let stores = Stores::local(lake)?;
    let pk = online::pk(metric.as_str(), series.as_str());
    let item = stores
        .tables
        .get(&FEATURES, &pk, "")
        .await?
        .ok_or_else(|| {
            format!(
                "no online features for series {} of metric {metric} (ingest its data first)",
                series.as_str()
            )
        })?;
    let text = |k: &str| item.get(k).and_then(Attr::as_s).unwrap_or_default();
    if json {
        let mut out = serde_json::Map::new();
        out.insert("metric".into(), metric.as_str().into());
        out.insert("series".into(), series.as_str().into());
        out.insert("ts".into(), text(online::attr::TS).into());
        out.insert("updated_at".into(), text(online::attr::UPDATED_AT).into());
        let features = columns()
            .into_iter()
            .map(|c| {
                (
                    c.to_string(),
                    item.get(c).map_or(serde_json::Value::Null, json_of),
                )
            })
            .collect();
        out.insert("features".into(), serde_json::Value::Object(features));
        println!("{}", serde_json::Value::Object(out));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{metric} {} at {} (written {})",
        series.as_str(),
        text(online::attr::TS),
        text(online::attr::UPDATED_AT)
    );
    for c in columns() {
        let shown = match item.get(c) {
            Some(Attr::N(n)) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
            Some(Attr::N(n)) => format!("{n}"),
            Some(Attr::Bool(b)) => b.to_string(),
            _ => "null".to_string(),
        };
        println!("  {c:<16} {shown}");
    }
    Ok(ExitCode::SUCCESS)
}
