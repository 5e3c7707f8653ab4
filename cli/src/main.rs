//! `gras`: the GRAS pipeline on a laptop. Every command runs the same use cases as the
//! Lambdas, on the embedded backend (the lake is a folder, the tables an SQLite file).

mod commands;
mod demo;
mod forecast;
mod holdout;
mod models;
mod online;
mod plot;
mod replay;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What `gras --version` prints: the command's version, the API's (`openapi.json`) and the
/// data contract's (CHANGELOG.md says how each is versioned).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (API 1.3.0, contract v2)");

/// Forecasting and anomaly pipeline for business metrics, run locally.
#[derive(Debug, Parser)]
#[command(name = "gras", version = VERSION, about)]
pub struct Cli {
    /// Configuration file (default: $GRAS_CONFIG, else ./config/gras.toml, else the repository's config/gras.toml built into the binary).
    #[arg(long, global = true, env = "GRAS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole pipeline on the embedded backend: generate bronze data, ingest it file by
    /// file through the features Lambda's code path, train, approve by policy, forecast, let
    /// the last days' actuals arrive (alerts, live accuracy), forecast again, plot.
    Demo(demo::DemoArgs),
    /// Write synthetic bronze files (seasonality, trend, holidays, gaps, duplicates, outliers).
    Generate(commands::GenerateArgs),
    /// Batch: every bronze object under LAKE/bronze/ into LAKE/silver/.
    Features(commands::LakeArgs),
    /// Incremental: handle bronze keys as the features Lambda handles one batch of their S3
    /// events (in order; new objects of a metric share one recomputation).
    Ingest(commands::IngestArgs),
    /// Train: backtest candidate models per metric, register the best, apply the approval policy.
    Train(commands::TrainArgs),
    /// Batch inference: forecast every metric with its approved version into the predictions
    /// table and `LAKE/predictions/`.
    Infer(commands::TrainArgs),
    /// Live accuracy of each version on the actuals that arrived (continuous evaluation).
    Evaluate(commands::LakeMetricArgs),
    /// Alerts sent by `infer` on the embedded backend (LAKE/.gras/alerts.jsonl), oldest first.
    Alerts(commands::LakeMetricArgs),
    /// List model versions with status and backtest metrics; `models decisions`, the
    /// decision history; `models rollback METRIC`, back to the version the approved one replaced.
    Models(models::ModelsArgs),
    /// One series' online features (the newest silver row, with its 7- and 30-day totals).
    Online(online::OnlineArgs),
    /// Approve a PendingApproval version (the previous approved one is archived).
    Approve(commands::DecideArgs),
    /// Reject a PendingApproval version.
    Reject(commands::DecideArgs),
    /// Plot a series: recent actuals, the stored forecasts with their interval, alerts (SVG).
    Plot(plot::PlotArgs),
    /// Serve the HTTP API (the API Lambda's router) on the embedded backend. Mutating
    /// endpoints need `Authorization: Bearer $GRAS_API_TOKEN`; without the variable they are off.
    Serve(commands::ServeArgs),
    /// Forecast every series of a CSV (`series,ts,value` or `ts,value`) with training's
    /// model selection and calibration: `series,ts,forecast,lower,upper` and quantiles.
    Forecast(forecast::ForecastArgs),
    /// Score a `timestamp,value` CSV (NAB's format) with the production anomaly detector:
    /// `timestamp,value,anomaly_score,kind,event_id`, one row per input row.
    Replay(replay::ReplayArgs),
    /// Score training's model selection on the hold-out end of a CSV series.
    Holdout(holdout::HoldoutArgs),
    /// Print a shell completion script: `gras completions bash > ~/.local/share/bash-completion/completions/gras`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `gras man > ~/.local/share/man/man1/gras.1`.
    Man,
}

/// Writes `gras completions SHELL` or `gras man` to stdout, from the same clap definition
/// that parses the arguments (so they cannot drift apart).
fn print_generated(command: &Command) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    let mut out = std::io::stdout().lock();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli, "gras", &mut out);
            Ok(())
        }
        _ => clap_mangen::Man::new(cli).render(&mut out),
    }
}

/// Caps glibc's malloc arenas at two. By default glibc gives every thread that allocates its
/// own arena (up to 8 per core), and the freed memory of the worker threads' arenas stays
/// resident: a batch run's peak RSS was 232 MiB with the default and 110 MiB with two arenas,
/// at the same speed (BENCHMARKS.md). `MALLOC_ARENA_MAX` in the environment still wins.
/// Called before the runtime's threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// glibc malloc settings for `gras serve`: a request allocates a few hundred small blocks
/// (the decoded items) and frees them all, far more than glibc's per-thread cache keeps (7
/// blocks of each size), so most of them went through the shared bins and their
/// consolidation. With a larger cache and no fast bins, `GET /v1/forecasts` under load went
/// from 19.4k to 23.2k requests/s on 2 cores (BENCHMARKS.md).
const SERVER_TUNABLES: &str = "glibc.malloc.tcache_count=1000";

/// Tunes glibc malloc for `gras serve`: no fast bins (`mallopt`), and [`SERVER_TUNABLES`],
/// which glibc reads only from the environment at start-up, so the process re-executes
/// itself once (same pid, arguments and environment, plus `GLIBC_TUNABLES`). The
/// re-execution is skipped when `GLIBC_TUNABLES` is already set (the user's choice wins, and
/// the re-executed process sees it set); if it fails the server keeps glibc's default cache.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc_for_server() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "GLIBC_TUNABLES";
    if std::env::var_os(VAR).is_none() {
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env(VAR, SERVER_TUNABLES)
                .exec();
            eprintln!("gras: serving with glibc's default malloc cache (re-exec failed: {err})");
        }
    }
    // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc_for_server() {}

/// Restores the default action of `SIGPIPE` (end the process quietly), as command-line
/// tools do: `gras models | head -n 1` then stops when `head` has read its line, instead
/// of failing on the closed pipe. Rust ignores the signal by default so that a write to a
/// closed socket is an error, not the end of a server: [`main`] keeps that for the
/// commands that serve HTTP.
#[cfg(unix)]
fn exit_quietly_on_closed_pipe() {
    // SAFETY: sets a signal disposition to its default; called before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn exit_quietly_on_closed_pipe() {}

/// Whether to colour what goes to stderr: only on a terminal, and never when `NO_COLOR` is
/// set to anything non-empty (<https://no-color.org>).
fn stderr_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints `e` to stderr once: its message, then each source whose text the messages before
/// it do not already hold (many errors repeat their source in their own message).
fn report(e: &(dyn std::error::Error + 'static)) {
    let mut said = e.to_string();
    eprintln!("gras: {said}");
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !said.contains(&text) {
            eprintln!("  caused by: {text}");
            said.push_str(&text);
        }
        source = s.source();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The batch commands' memory matters more than allocation throughput; the server's
    // request threads allocate concurrently and keep glibc's default arenas, with a larger
    // per-thread cache.
    let serves = match &cli.command {
        Command::Serve(_) => true,
        Command::Demo(a) => a.serves(),
        _ => false,
    };
    if matches!(cli.command, Command::Serve(_)) {
        tune_malloc_for_server();
    } else {
        limit_malloc_arenas();
    }
    if !serves {
        exit_quietly_on_closed_pipe();
    }
    if matches!(cli.command, Command::Completions { .. } | Command::Man) {
        return match print_generated(&cli.command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report(&e);
                ExitCode::from(2)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_ansi(stderr_colour())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gras: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            report(&*e);
            ExitCode::from(2)
        }
    }
}
