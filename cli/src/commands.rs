//! The subcommands: argument types and their runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;
use gras_generate::{generate, GenSpec};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::{FeatureEngine, RunSummary};
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::pipeline::train::{TrainError, TrainReport, Trainer};
use gras_shared::registry;
use gras_shared::storage::Stores;
use gras_shared::{Config, MetricConfig, MetricId};

use crate::{Cli, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `--lake DIR`, else `$GRAS_LAKE`: required, never a silent `./lake`.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake folder (same key layout as the S3 bucket).
    #[arg(long, env = "GRAS_LAKE", value_name = "DIR")]
    pub lake: PathBuf,
}

impl LakeArgs {
    /// The lake folder, which must exist: only `gras generate` and `gras demo` create one.
    /// Otherwise the error says what to do.
    pub fn existing(&self) -> Result<&Path, Error> {
        let lake = &self.lake;
        if lake.is_dir() {
            Ok(lake)
        } else {
            Err(format!(
            "no lake folder at {0}: give --lake (or $GRAS_LAKE) an existing lake, or create one with `gras demo --lake {0}` or `gras generate --lake {0}`",
            lake.display()
        )
        .into())
        }
    }
}

/// `gras ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Object keys relative to the lake (`bronze/gras/metric=G/...`); paths inside the lake
    /// folder are accepted too.
    #[arg(required = true)]
    keys: Vec<String>,
}

/// How much synthetic data `gras generate` and `gras demo` write.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Days of data (training uses the newest `window_days`, 56 by default).
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Series per metric (plus the metric's `_all` total).
    #[arg(long, default_value_t = 20)]
    pub series: u32,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// `gras generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    data: DataArgs,
    /// First UTC date.
    #[arg(long, default_value = "2024-01-01")]
    start: NaiveDate,
}

/// `gras train` and `gras infer`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Only this metric (default: every configured metric).
    #[arg(long)]
    metric: Option<String>,
}

/// `gras evaluate` and `gras alerts`: a lake and optionally one metric.
#[derive(Debug, Args)]
pub struct LakeMetricArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Only this metric.
    #[arg(long)]
    metric: Option<String>,
}

/// `gras approve` / `gras reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// The metric.
    #[arg(long)]
    metric: String,
    /// The version (`v<YYYYMMDDHHMMSS>-<id>`).
    #[arg(long)]
    version: String,
    /// Who decides (recorded in the registry).
    #[arg(long, default_value = "cli")]
    by: String,
    /// Why (recorded in the registry).
    #[arg(long, default_value = "decided with gras CLI")]
    reason: String,
}

/// `gras serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Bearer token for the mutating endpoints (approve, analyze) and, unless
    /// `--open-reads`, for every read too.
    #[arg(long, env = "GRAS_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Let reads (GET /v1/...) through without the token; mutations still need it.
    #[arg(long)]
    open_reads: bool,
}

/// Runs the parsed command; `Err` is a usage or environment problem (exit 2), a partial
/// failure of the data is reported and gives exit code 1.
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    // `holdout`, `forecast` and `replay` (without --metric) read a CSV, not the configuration.
    let reads_config = !matches!(&cli.command, Command::Holdout(_) | Command::Forecast(_))
        && !matches!(&cli.command, Command::Replay(r) if r.metric.is_none());
    if reads_config && Config::resolve_path(cli.config.as_deref()).is_none() {
        eprintln!(
            "gras: no config file (--config, $GRAS_CONFIG or ./{}): using the repository's config/gras.toml as built into this binary",
            gras_shared::config::DEFAULT_CONFIG_PATH
        );
    }
    let config = Arc::new(Config::load_or_default(cli.config.as_deref())?);
    match cli.command {
        Command::Generate(a) => run_generate(&a, &config, cli.json).await,
        Command::Demo(a) => crate::demo::run(&a, config, cli.json).await,
        Command::Features(a) => {
            let engine = FeatureEngine::new(Stores::local(a.existing()?)?, config);
            let summary = engine.batch().await?;
            Ok(report(&summary, cli.json))
        }
        Command::Train(a) => {
            run_train(a.lake.existing()?, a.metric.as_deref(), config, cli.json).await
        }
        Command::Models(a) => crate::models::run(&a, &config, cli.json).await,
        Command::Approve(a) => run_decide(&a, &config, true, cli.json).await,
        Command::Reject(a) => run_decide(&a, &config, false, cli.json).await,
        Command::Holdout(a) => crate::holdout::run(&a, cli.json),
        Command::Forecast(a) => crate::forecast::run(&a, cli.json),
        Command::Replay(a) => crate::replay::run(&a, &config, cli.json),
        // Handled by `main` before the runtime starts.
        Command::Completions { .. } | Command::Man => Ok(ExitCode::SUCCESS),
        Command::Online(a) => crate::online::run(&a, &config, cli.json).await,
        Command::Serve(a) => run_serve(&a, config, cli.json).await,
        Command::Plot(a) => crate::plot::run(&a, &config, cli.json).await,
        Command::Alerts(a) => {
            run_alerts(a.lake.existing()?, a.metric.as_deref(), &config, cli.json)
        }
        Command::Evaluate(a) => {
            run_evaluate(a.lake.existing()?, a.metric.as_deref(), &config, cli.json).await
        }
        Command::Infer(a) => {
            run_infer(a.lake.existing()?, a.metric.as_deref(), config, cli.json).await
        }
        Command::Ingest(a) => {
            let lake = a.lake.existing()?;
            let stores = Stores::local(lake)?;
            let keys: Vec<String> = a.keys.iter().map(|k| lake_key(lake, k)).collect();
            check_ingest_keys(lake, &stores, &keys).await?;
            let summary = FeatureEngine::new(stores, config).ingest(&keys).await;
            Ok(report(&summary, cli.json))
        }
    }
}

/// Every key must be a bronze object key that the lake holds, or one that it held and was
/// ingested (then its ingestion is a removal): anything else is a typo, reported by name
/// before anything runs.
async fn check_ingest_keys(lake: &Path, stores: &Stores, keys: &[String]) -> Result<(), Error> {
    for key in keys {
        if let Err(e) = gras_shared::contract::BronzeKey::parse(key) {
            return Err(format!(
                "{key} is not a bronze object key ({}); give keys such as bronze/gras/metric=G/year=2024/month=01/day=31/part-0.parquet, relative to the lake or as paths inside it",
                e.reason
            )
            .into());
        }
        let held = stores.blobs.list(key).await?.iter().any(|o| &o.key == key);
        if !held
            && gras_shared::state::get_manifest(&*stores.tables, key)
                .await?
                .is_none()
        {
            return Err(format!(
                "{key}: no such object in the lake {} and never ingested (a removal needs a key that was ingested)",
                lake.display()
            )
            .into());
        }
    }
    Ok(())
}

/// The configured metric named `name`, or an error naming it and the configured ones (the
/// one check every command with `--metric` makes).
pub fn configured<'a>(
    config: &'a Config,
    name: &str,
) -> Result<(&'a MetricId, &'a MetricConfig), Error> {
    config.metric_by_name(name).ok_or_else(|| {
        let known: Vec<&str> = config.metrics.keys().map(MetricId::as_str).collect();
        format!(
            "metric {name:?} is not configured (configured: {})",
            known.join(", ")
        )
        .into()
    })
}

/// Every configured metric, or only `name` when given ([`configured`]'s error when it is
/// not configured).
pub fn selected<'a>(config: &'a Config, name: Option<&str>) -> Result<Vec<&'a MetricId>, Error> {
    match name {
        Some(n) => Ok(vec![configured(config, n)?.0]),
        None => Ok(config.metrics.keys().collect()),
    }
}

/// A key given as a path inside the lake folder becomes the object key.
fn lake_key(lake: &Path, key: &str) -> String {
    let p = Path::new(key);
    let stripped: Option<PathBuf> =
        p.strip_prefix(lake)
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| {
                let abs_lake = std::fs::canonicalize(lake).ok()?;
                let abs = std::fs::canonicalize(p).ok()?;
                abs.strip_prefix(&abs_lake).ok().map(Path::to_path_buf)
            });
    match stripped {
        Some(rel) => rel
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/"),
        None => key.to_string(),
    }
}

fn report(summary: &RunSummary, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(summary).unwrap_or_default());
    } else {
        println!("{summary}");
        for f in &summary.failed {
            eprintln!("failed: {}: {}", f.key, f.reason);
        }
    }
    if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn run_generate(a: &GenerateArgs, config: &Config, json: bool) -> Result<ExitCode, Error> {
    let stores = Stores::local(&a.lake.lake)?;
    let spec = GenSpec {
        start: a.start,
        days: a.data.days,
        series: a.data.series,
        seed: a.data.seed,
    };
    let (mut files, mut rows, mut bytes) = (0u64, 0u64, 0u64);
    for obj in generate(&spec, config) {
        let obj = obj?;
        files += 1;
        rows += obj.rows as u64;
        bytes += obj.body.len() as u64;
        stores.blobs.put(&obj.key, obj.body).await?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"files": files, "rows": rows, "bytes": bytes, "lake": a.lake.lake})
        );
    } else {
        println!(
            "files={files} rows={rows} bytes={bytes} lake={}",
            a.lake.lake.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr for a long step; hidden when stderr is not a terminal or with
/// `--json` (indicatif draws nothing to a non-terminal).
pub fn progress(len: u64, what: &str, json: bool) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// A CSV value cell: empty is missing (`None`), else a finite number, or an error naming
/// `at` (`FILE:LINE`). Shared by `gras forecast` and `gras replay`.
pub fn csv_value(value: &str, at: &str) -> Result<Option<f64>, Error> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(format!(
            "{at}: value {value:?} is not a finite number (leave it empty when missing)"
        )
        .into()),
    }
}

/// The embedded backend's alerts queue: JSON lines in `LAKE/.gras/alerts.jsonl`.
pub fn alerts_queue(lake: &Path) -> Arc<gras_shared::queue::FileQueue> {
    Arc::new(gras_shared::queue::FileQueue::new(
        lake.join(".gras").join("alerts.jsonl"),
    ))
}

/// The embedded backend's retrain requests: JSON lines in `LAKE/.gras/retrain-requests.jsonl`
/// (run `gras train --lake LAKE --metric M` for them).
pub fn retrain_queue(lake: &Path) -> Arc<gras_shared::queue::FileQueue> {
    Arc::new(gras_shared::queue::FileQueue::new(
        lake.join(".gras").join("retrain-requests.jsonl"),
    ))
}

fn lake_uri(lake: &Path) -> String {
    let abs = std::fs::canonicalize(lake).unwrap_or_else(|_| lake.to_path_buf());
    format!("file://{}", abs.display())
}

/// Trains every task of a run in-process (the Lambda sends them to SQS instead).
pub async fn train_all(
    stores: &Stores,
    lake: &Path,
    metric: Option<&str>,
    config: Arc<Config>,
) -> Result<Vec<TrainReport>, Error> {
    let trainer = Trainer::new(stores.clone(), config, Arc::new(NoMetrics), lake_uri(lake));
    let mut reports = Vec::new();
    for task in trainer.plan(metric, "manual").await? {
        match trainer.train(&task).await {
            Ok(r) => reports.push(r),
            Err(TrainError::NotEnoughData { metric, reason }) => {
                eprintln!("gras: {metric}: nothing to train ({reason})")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(reports)
}

async fn run_train(
    lake: &Path,
    metric: Option<&str>,
    config: Arc<Config>,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let reports = train_all(&stores, lake, metric, config).await?;
    if json {
        println!("{}", serde_json::to_string(&reports)?);
    } else {
        for r in reports.iter().filter(|r| r.registered.is_some()) {
            println!("{r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_infer(
    lake: &Path,
    metric: Option<&str>,
    config: Arc<Config>,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let reports = Inferencer::new(stores, config, Arc::new(NoMetrics), alerts_queue(lake))
        .with_retrain_queue(retrain_queue(lake))
        .run(metric)
        .await?;
    if json {
        println!("{}", serde_json::to_string(&reports)?);
    } else {
        for r in &reports {
            println!("{r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_evaluate(
    lake: &Path,
    metric: Option<&str>,
    config: &Config,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(lake)?;
    let mut rows = Vec::new();
    for m in selected(config, metric)? {
        for r in gras_shared::state::eval::list_evals(&*stores.tables, m).await? {
            rows.push(serde_json::json!({
                "metric": m.as_str(), "version": r.version, "mape": r.mape, "mase": r.mase,
                "coverage": r.coverage, "n": r.n, "updated_at": r.updated_at,
                "interval_adapt": r.interval_adapt,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<6} {:<24} {:>8} {:>8} {:>8} {:>6} {:>8} updated_at",
        "metric", "version", "MASE", "MAPE", "cover", "n", "adapt"
    );
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"));
    for r in &rows {
        println!(
            "{:<6} {:<24} {:>8} {:>8} {:>8} {:>6} {:>8} {}",
            r["metric"].as_str().unwrap_or_default(),
            r["version"].as_str().unwrap_or_default(),
            f(&r["mase"]),
            f(&r["mape"]),
            f(&r["coverage"]),
            r["n"].as_u64().unwrap_or(0),
            f(&r["interval_adapt"]),
            r["updated_at"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_alerts(
    lake: &Path,
    metric: Option<&str>,
    config: &Config,
    json: bool,
) -> Result<ExitCode, Error> {
    if let Some(m) = metric {
        configured(config, m)?;
    }
    let path = lake.join(".gras").join("alerts.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    };
    let mut alerts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let a: gras_shared::alerts::Alert =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
        if metric.is_none_or(|m| m == a.metric_id) {
            alerts.push(a);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&alerts)?);
        return Ok(ExitCode::SUCCESS);
    }
    let n = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    for a in &alerts {
        println!(
            "{} {} {} value={:.3} expected={} lower={} upper={} kind={} model={}",
            a.ts,
            a.metric_id,
            a.series_key,
            a.value,
            n(a.expected),
            n(a.lower),
            n(a.upper),
            serde_json::to_value(a.kind)?.as_str().unwrap_or_default(),
            a.model_version.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_decide(
    a: &DecideArgs,
    config: &Config,
    approve: bool,
    json: bool,
) -> Result<ExitCode, Error> {
    let stores = Stores::local(a.lake.existing()?)?;
    let (metric, _) = configured(config, &a.metric)?;
    let version = gras_shared::ModelVersion::new(a.version.clone())?;
    let now = chrono::Utc::now();
    let rec = if approve {
        registry::approve(&*stores.tables, metric, &version, &a.by, &a.reason, now).await
    } else {
        registry::reject(&*stores.tables, metric, &version, &a.by, &a.reason, now).await
    };
    match rec {
        Ok(r) if json => println!("{}", serde_json::to_string(&r)?),
        Ok(r) => println!(
            "metric={} version={} status={}",
            r.metric_id, r.version, r.status
        ),
        Err(e) => {
            eprintln!("gras: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The API router over the embedded backend.
pub fn local_router(
    lake: &Path,
    config: Arc<Config>,
    token: Option<String>,
    open_reads: bool,
) -> Result<axum::Router, Error> {
    use gras_shared::api::{router, ApiState, Auth};
    let stores = Stores::local(lake)?;
    let inferencer = Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(gras_shared::queue::NoQueue("alerts")),
    );
    let auth = match token.filter(|t| !t.is_empty()) {
        Some(t) => Auth::Bearer(t),
        None => Auth::Disabled,
    };
    Ok(router(
        ApiState::new(stores, config, inferencer, auth).with_open_reads(open_reads),
    ))
}

async fn run_serve(a: &ServeArgs, config: Arc<Config>, json: bool) -> Result<ExitCode, Error> {
    let app = local_router(a.lake.existing()?, config, a.token.clone(), a.open_reads)?;
    let listener = bind(a.addr).await?;
    let local = listener.local_addr()?;
    // The first line on stdout is the address (scripts read it when they asked for port 0).
    if json {
        println!(
            "{}",
            serde_json::json!({ "listening": format!("http://{local}") })
        );
    } else {
        println!("listening on http://{local}");
    }
    eprintln!("gras: the dashboard is at http://{local}/");
    if a.token.as_deref().is_none_or(str::is_empty) {
        eprintln!("gras: GRAS_API_TOKEN is not set: approve and analyze are disabled");
    } else if !a.open_reads {
        eprintln!("gras: reads need the token too (--open-reads opens them)");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    serve_until_ctrl_c(listener, app).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}").into())
}

/// Serves the router until Ctrl-C, letting requests in flight finish.
pub async fn serve_until_ctrl_c(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> Result<(), Error> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
