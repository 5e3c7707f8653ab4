//! `gras holdout`: the model-selection procedure of training, scored on the hold-out end of a
//! CSV series (`ts,value`, hourly). Prints a table, one row per candidate, or with `--json`
//! one JSON line per candidate (the forecasting benchmark compares them with Prophet and
//! statsforecast on the same split). By default the
//! hold-out is forecast in one go; with `--refresh-every N` it is scored as deployed
//! (trained once, re-fitted and re-forecast every N hours, see
//! [`gras_shared::forecast::evaluate::evaluate_refreshed`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use gras_shared::forecast::evaluate::{evaluate, evaluate_refreshed};
use gras_shared::forecast::{fill_gaps, WEEK};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras holdout`.
#[derive(Debug, Args)]
pub struct HoldoutArgs {
    /// CSV file with header `ts,value`, one row per hour, oldest first (empty value: missing).
    #[arg(long)]
    csv: PathBuf,
    /// Hours held out at the end (forecast in one go, unless `--refresh-every`).
    #[arg(long, default_value_t = 336)]
    holdout: usize,
    /// Score the hold-out as deployed: train once (backtest horizon `--horizon`), then
    /// re-fit on all data so far and forecast the next N hours, every N hours. 0: one shot.
    #[arg(long, default_value_t = 0)]
    refresh_every: usize,
    /// Training's horizon for `--refresh-every` (backtest windows and calibration).
    #[arg(long, default_value_t = 168)]
    horizon: usize,
    /// Online interval factor's rate for `--refresh-every` (`[inference]
    /// interval_adapt_rate`; 0: the trained calibration alone).
    #[arg(long, default_value_t = gras_shared::forecast::online::DEFAULT_RATE)]
    adapt_rate: f64,
    /// Nominal interval coverage.
    #[arg(long, default_value_t = 0.9)]
    level: f64,
    /// Rolling-origin backtest windows on the training part.
    #[arg(long, default_value_t = 3)]
    windows: usize,
    /// Timed fit + predict repetitions (the median is reported; with `--refresh-every`,
    /// each origin is fitted once and the median is over the origins).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn read_csv(path: &Path) -> Result<Vec<Option<f64>>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    if header != "ts,value" {
        return Err(format!(
            "{}: header must be `ts,value`, found `{header}`",
            path.display()
        )
        .into());
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let Some((_, v)) = line.split_once(',') else {
            return Err(format!("{}:{}: expected `ts,value`", path.display(), i + 2).into());
        };
        let v = v.trim();
        out.push(if v.is_empty() {
            None
        } else {
            Some(
                v.parse::<f64>()
                    .map_err(|e| format!("{}:{}: value {v:?}: {e}", path.display(), i + 2))?,
            )
        });
    }
    Ok(out)
}

/// Runs the command: a table on stdout, or JSON lines when `json`.
pub fn run(a: &HoldoutArgs, json: bool) -> Result<ExitCode, Error> {
    let values = fill_gaps(&read_csv(&a.csv)?, WEEK);
    if a.holdout == 0 || values.len() <= a.holdout {
        return Err(format!("{} rows cannot hold out {} hours", values.len(), a.holdout).into());
    }
    let (train, test) = values.split_at(values.len() - a.holdout);
    let evaluations = if a.refresh_every == 0 {
        evaluate(train, test, a.level, a.windows, a.runs)?
    } else {
        evaluate_refreshed(
            train,
            test,
            a.level,
            a.windows,
            a.horizon,
            a.refresh_every,
            a.adapt_rate,
        )?
    };
    if json {
        for e in evaluations {
            println!("{}", serde_json::to_string(&e)?);
        }
    } else {
        print_table(&evaluations, a.level);
    }
    Ok(ExitCode::SUCCESS)
}

/// The candidates as a table; `*` marks the one the backtest selects, as training would.
fn print_table(evaluations: &[gras_shared::forecast::evaluate::Evaluation], level: f64) {
    println!(
        "  {:<34} {:>11} {:>9} {:>9} {:>9} {:>10}",
        "model",
        "backtest MASE",
        "MASE",
        "sMAPE",
        format!("cover {:.0}%", level * 100.0),
        "fit s"
    );
    for e in evaluations {
        println!(
            "{} {:<34} {:>13.3} {:>9.3} {:>9.3} {:>9.3} {:>10.3}",
            if e.selected { "*" } else { " " },
            e.model,
            e.backtest.mase,
            e.mase,
            e.smape,
            e.coverage,
            e.fit_predict_s
        );
    }
    println!("* selected by the backtest (lowest first-day MASE), as training selects");
}
