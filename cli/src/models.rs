//! `gras models`: the registry's versions with their backtest metrics; `gras models
//! decisions`, the decision history (contract v2 §6); `gras models rollback METRIC`, the
//! return to the version the approved one replaced.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use gras_shared::registry;
use gras_shared::storage::Stores;
use gras_shared::Config;

use crate::commands::LakeArgs;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras models [--metric M]`, or one of its subcommands.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Option<ModelsAction>,
    #[command(flatten)]
    list: ListArgs,
}

/// The list's options.
#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    lake: Option<LakeArgs>,
    /// Only this metric.
    #[arg(long)]
    metric: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ModelsAction {
    /// Every decision on the versions (approve, reject, archive, rollback, the policy's
    /// holds), newest first, with who made it and why.
    Decisions {
        #[command(flatten)]
        lake: LakeArgs,
        /// Only this metric.
        #[arg(long)]
        metric: Option<String>,
    },
    /// Re-approve the version that the approved one replaced (now Archived) and archive the
    /// approved one, in one conditional write. A second rollback goes one further back.
    Rollback {
        #[command(flatten)]
        lake: LakeArgs,
        /// The metric.
        metric: String,
        /// Who decides (recorded in the registry's history).
        #[arg(long, default_value = "cli")]
        by: String,
        /// Why (recorded in the registry's history).
        #[arg(long, default_value = "rolled back with gras CLI")]
        reason: String,
    },
}

/// Runs `gras models` or its subcommand.
pub async fn run(a: &ModelsArgs, config: &Config, json: bool) -> Result<ExitCode, Error> {
    match &a.action {
        None => {
            let lake = a
                .list
                .lake
                .as_ref()
                .ok_or("give --lake DIR (or $GRAS_LAKE): the lake whose registry to list")?;
            list(lake.existing()?, a.list.metric.as_deref(), config, json).await
        }
        Some(ModelsAction::Decisions { lake, metric }) => {
            decisions(lake.existing()?, metric.as_deref(), config, json).await
        }
        Some(ModelsAction::Rollback {
            lake,
            metric,
            by,
            reason,
        }) => rollback(lake.existing()?, metric, by, reason, config, json).await,
    }
}

async fn list(
    lake: &Path,
    metric: Option<&str>,
    config: &Config,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let mut all = Vec::new();
    for m in crate::commands::selected(config, metric)? {
        all.extend(registry::list(&*stores.tables, m).await?);
    }
    if json {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<6} {:<24} {:<16} {:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "metric",
        "version",
        "status",
        "kind",
        "MASE",
        "MASE-d1",
        "MAPE",
        "sMAPE",
        "cover",
        "series"
    );
    for r in &all {
        println!(
            "{:<6} {:<24} {:<16} {:<14} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.3} {:>7}",
            r.metric_id.as_str(),
            r.version.as_str(),
            r.status.as_str(),
            r.model_kind,
            r.metrics.mase,
            r.metrics.near_mase,
            r.metrics.mape,
            r.metrics.smape,
            r.metrics.coverage,
            r.series
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn decisions(
    lake: &Path,
    metric: Option<&str>,
    config: &Config,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let mut rows = Vec::new();
    for m in crate::commands::selected(config, metric)? {
        for d in registry::decisions(&*stores.tables, m).await? {
            rows.push((m.clone(), d));
        }
    }
    if json {
        for (m, d) in &rows {
            let mut v = serde_json::to_value(d)?;
            v["metric"] = serde_json::Value::String(m.to_string());
            println!("{v}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<6} {:<24} {:<9} {:<16} {:<12} reason",
        "at (UTC)", "metric", "version", "action", "status", "by"
    );
    for (m, d) in &rows {
        println!(
            "{:<20} {:<6} {:<24} {:<9} {:<16} {:<12} {}",
            d.at.format("%Y-%m-%d %H:%M:%S"),
            m.as_str(),
            d.version.as_str(),
            serde_json::to_value(d.action)?.as_str().unwrap_or("?"),
            d.status.as_str(),
            d.by,
            d.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn rollback(
    lake: &Path,
    metric: &str,
    by: &str,
    reason: &str,
    config: &Config,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let (m, _) = crate::commands::configured(config, metric)?;
    match registry::rollback(&*stores.tables, m, by, reason, chrono::Utc::now()).await {
        Ok(r) if json => println!("{}", serde_json::to_string(&r)?),
        Ok(r) => println!(
            "metric={} version={} status={} (rolled back: {})",
            r.metric_id, r.version, r.status, reason
        ),
        Err(e) => {
            eprintln!("gras: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
