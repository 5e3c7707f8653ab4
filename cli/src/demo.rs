//! `gras demo`: the whole pipeline on the embedded backend, on generated data whose last day
//! is yesterday (so that the API's default windows show it). The run's results are kept in
//! `LAKE/.gras/demo.json`: a second run on the same lake shows them again instead of adding
//! model versions and alerts to the first's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use clap::Args;
use gras_generate::{generate, GenSpec};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::{FeatureEngine, RunSummary};
use gras_shared::pipeline::infer::{InferReport, Inferencer};
use gras_shared::pipeline::train::TrainReport;
use gras_shared::registry::{self, ModelStatus};
use gras_shared::storage::Stores;
use gras_shared::{Config, SeriesKey};
use serde::{Deserialize, Serialize};

use crate::commands::{
    alerts_queue, bind, local_router, progress, retrain_queue, serve_until_ctrl_c, train_all,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// `gras demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The lake folder: created; one that a finished demo with the same data made is reused.
    #[arg(long, default_value = "demo-lake")]
    lake: PathBuf,
    #[command(flatten)]
    data: crate::commands::DataArgs,
    /// First UTC date of the data (default: `--days` days before today, so the last day is
    /// yesterday).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Serve the API on this address when done (like `gras serve`), until Ctrl-C.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    serve: Option<std::net::SocketAddr>,
}

impl DemoArgs {
    /// Whether the demo serves the API when done.
    pub fn serves(&self) -> bool {
        self.serve.is_some()
    }
}

/// The generated data a demo ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DemoData {
    start: NaiveDate,
    days: u32,
    series: u32,
    seed: u64,
}

impl DemoData {
    /// The last day of the data.
    fn end(&self) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(self.days.saturating_sub(1)))
    }

    /// Whether a demo of `self` is what `a` asks for (any start, unless `a` names one).
    fn answers(&self, a: &DemoArgs) -> bool {
        (self.days, self.series, self.seed) == (a.data.days, a.data.series, a.data.seed)
            && a.start.is_none_or(|s| s == self.start)
    }
}

/// `LAKE/.gras/demo.json`: written when a demo starts (`finished: false`) and again with its
/// report when it ends.
#[derive(Debug, Serialize, Deserialize)]
struct DemoRecord {
    data: DemoData,
    /// The configuration it ran with.
    #[serde(default)]
    config: serde_json::Value,
    finished: bool,
    /// When the demo ended (RFC 3339).
    made_at: Option<String>,
    /// The `--json` report of the run.
    report: Option<serde_json::Value>,
}

fn record_path(lake: &Path) -> PathBuf {
    lake.join(".gras").join("demo.json")
}

fn write_record(lake: &Path, record: &DemoRecord) -> Result<(), Error> {
    let path = record_path(lake);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(record)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// One row of the demo's summary table.
#[derive(Debug, Serialize, Deserialize)]
struct DemoRow {
    metric: String,
    /// `approved`, `pending approval` or `not trained`.
    status: String,
    /// The approved version, else the one waiting for approval.
    version: Option<String>,
    model_kind: Option<String>,
    /// Why a version waits for a person (the approval policy's decision).
    decision: Option<String>,
    backtest_mase: Option<f64>,
    backtest_coverage: Option<f64>,
    live_mase: Option<f64>,
    live_coverage: Option<f64>,
    interval_adapt: Option<f64>,
    predictions: u64,
    alerts: u64,
    plot: crate::plot::PlotSummary,
}

/// Runs the demo, or shows the results of the one this lake already holds.
pub async fn run(a: &DemoArgs, config: Arc<Config>, json: bool) -> Result<ExitCode, Error> {
    let recorded = serde_json::to_value(&*config)?;
    let code = match previous(a, &recorded)? {
        Some(record) => show_previous(a, &record, json)?,
        None => run_fresh(a, config.clone(), recorded, json).await?,
    };
    if let Some(addr) = a.serve {
        let app = local_router(&a.lake, config, std::env::var("GRAS_API_TOKEN").ok(), false)?;
        let listener = bind(addr).await?;
        let local = listener.local_addr()?;
        eprintln!(
            "serving the dashboard on http://{local}/ and the API under it (Ctrl-C to stop), for example curl 'http://{local}/v1/forecasts/G?limit=3'"
        );
        serve_until_ctrl_c(listener, app).await?;
    }
    Ok(code)
}

/// The finished demo of the same data that `a.lake` holds; `None` for a new or empty folder;
/// an error for anything else (another demo's data, an interrupted demo, a lake that no demo
/// made), which a new run would mix with its own.
fn previous(a: &DemoArgs, config: &serde_json::Value) -> Result<Option<DemoRecord>, Error> {
    let lake = a.lake.display();
    let path = record_path(&a.lake);
    if !path.exists() {
        let empty = std::fs::read_dir(&a.lake).map_or(true, |mut d| d.next().is_none());
        return if empty {
            Ok(None)
        } else {
            Err(format!(
                "{lake} exists and was not made by gras demo: pass another --lake (the demo creates it)"
            )
            .into())
        };
    }
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let record: DemoRecord = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a demo record ({e}): remove {lake} to run again",
            path.display()
        )
    })?;
    if !record.finished {
        return Err(format!(
            "the demo in {lake} was interrupted: remove {lake} (or pass another --lake) to run it again"
        )
        .into());
    }
    if &record.config != config {
        return Err(format!(
            "{lake} holds a demo made with another configuration: remove {lake} (or pass another --lake) to run it with this one"
        )
        .into());
    }
    if !record.data.answers(a) {
        let d = &record.data;
        return Err(format!(
            "{lake} holds a demo of other data (--days {} --series {} --seed {} --start {}): pass those, another --lake, or remove {lake}",
            d.days, d.series, d.seed, d.start
        )
        .into());
    }
    Ok(Some(record))
}

/// Prints the results of the demo that `record` describes, saying that they were reused.
fn show_previous(a: &DemoArgs, record: &DemoRecord, json: bool) -> Result<ExitCode, Error> {
    let report = record.report.clone().unwrap_or_default();
    if json {
        let mut report = report;
        if let Some(o) = report.as_object_mut() {
            o.insert("reused".into(), serde_json::Value::Bool(true));
        }
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<DemoRow> = serde_json::from_value(report["summary"].clone())?;
    let d = &record.data;
    eprintln!(
        "reusing the demo in {} (made {}, data {}..{}): remove the folder or pass another --lake to run it again",
        a.lake.display(),
        record.made_at.as_deref().unwrap_or("?"),
        d.start,
        d.end()
    );
    print_table(&rows, &a.lake);
    print_next(&a.lake);
    Ok(ExitCode::SUCCESS)
}

/// What the pipeline steps of a fresh demo produced.
struct Outcome {
    summary: RunSummary,
    trained: Vec<TrainReport>,
    first: Vec<InferReport>,
    inferred: Vec<InferReport>,
}

/// The pipeline on `data`: generate, ingest file by file, train, forecast, let the last
/// days' actuals arrive, forecast again (steps 1 to 5 of the demo's progress lines).
async fn run_pipeline(
    a: &DemoArgs,
    stores: &Stores,
    data: &DemoData,
    config: &Arc<Config>,
    json: bool,
) -> Result<Outcome, Error> {
    let say = |line: String| {
        if !json {
            eprintln!("{line}");
        }
    };
    let keys = generate_bronze(stores, data, config, &a.lake, json).await?;
    // The newest `holdback` days arrive after the first forecast, as actuals do.
    let holdback = if data.days > 10 { 2 } else { 0 };
    let cut = data.start + chrono::Days::new(u64::from(data.days.saturating_sub(holdback)));
    let (early, late): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| gras_shared::contract::BronzeKey::parse(k).map_or(true, |b| b.date < cut));
    let engine = FeatureEngine::new(stores.clone(), config.clone());
    let mut summary = ingest_file_by_file(&engine, early, "ingest", json).await;
    say(format!(
        "2/6 features (first {} days): {summary}",
        data.days - holdback
    ));
    // The scheduled training run, every task in-process, and the approval policy.
    let trained = train_all(stores, &a.lake, None, config.clone()).await?;
    for r in trained.iter().filter(|r| r.registered.is_some()) {
        say(format!("3/6 model: {r}"));
    }
    let inferencer = Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        alerts_queue(&a.lake),
    )
    .with_retrain_queue(retrain_queue(&a.lake));
    let first = inferencer.run(None).await?;
    say(format!(
        "4/6 forecast {} points with the approved versions",
        first.iter().map(|r| r.predictions).sum::<u64>()
    ));
    // The held-back days arrive: alerts and live accuracy against the stored forecasts,
    // then forecasts from the newest data.
    let mut inferred = first.clone();
    if !late.is_empty() {
        let s = ingest_file_by_file(&engine, late, "actuals", json).await;
        say(format!("5/6 actuals of the last {holdback} days: {s}"));
        summary.merge(s);
        inferred = inferencer.run(None).await?;
    }
    Ok(Outcome {
        summary,
        trained,
        first,
        inferred,
    })
}

/// Runs the demo on a new lake; `recorded` is `config` as `demo.json` keeps it.
async fn run_fresh(
    a: &DemoArgs,
    config: Arc<Config>,
    recorded: serde_json::Value,
    json: bool,
) -> Result<ExitCode, Error> {
    let started = std::time::Instant::now();
    let data = DemoData {
        start: a
            .start
            .unwrap_or_else(|| Utc::now().date_naive() - chrono::Days::new(u64::from(a.data.days))),
        days: a.data.days,
        series: a.data.series,
        seed: a.data.seed,
    };
    let stores = Stores::local(&a.lake)?;
    let record = |finished: bool, report: Option<serde_json::Value>| -> Result<(), Error> {
        write_record(
            &a.lake,
            &DemoRecord {
                data: data.clone(),
                config: recorded.clone(),
                finished,
                made_at: finished
                    .then(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                report,
            },
        )
    };
    record(false, None)?;
    let o = run_pipeline(a, &stores, &data, &config, json).await?;
    let rows = summary_rows(
        &stores,
        &config,
        &a.lake,
        &o.trained,
        &o.first,
        &o.inferred,
        json,
    )
    .await?;
    if !json {
        eprintln!("6/6 plots under {}", a.lake.join("plots").display());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "lake": a.lake, "data": data, "reused": false, "features": o.summary, "models": o.trained,
        "predictions": o.inferred, "summary": rows, "seconds": elapsed,
    });
    record(true, Some(report.clone()))?;
    if json {
        println!("{report}");
    } else {
        print_table(&rows, &a.lake);
        println!("done in {elapsed:.1}s.");
        print_next(&a.lake);
    }
    Ok(if o.summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes the generated bronze files into the lake and returns their keys, in upload order.
async fn generate_bronze(
    stores: &Stores,
    data: &DemoData,
    config: &Config,
    lake: &Path,
    json: bool,
) -> Result<Vec<String>, Error> {
    let spec = GenSpec {
        start: data.start,
        days: data.days,
        series: data.series,
        seed: data.seed,
    };
    let mut keys = Vec::new();
    let mut rows = 0u64;
    let bar = progress(
        u64::from(data.days) * config.metrics.len() as u64,
        "generate",
        json,
    );
    for obj in generate(&spec, config) {
        let obj = obj?;
        rows += obj.rows as u64;
        stores.blobs.put(&obj.key, obj.body).await?;
        keys.push(obj.key);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !json {
        eprintln!(
            "1/6 generated {} bronze files ({rows} rows, {}..{}) in {}",
            keys.len(),
            data.start,
            data.end(),
            lake.display()
        );
    }
    Ok(keys)
}

/// Ingests `keys` a few at a time, in order, as S3 events would bring them to the Lambda.
async fn ingest_file_by_file(
    engine: &FeatureEngine,
    keys: Vec<String>,
    what: &str,
    json: bool,
) -> RunSummary {
    let bar = progress(keys.len() as u64, what, json);
    let mut total = RunSummary::default();
    for chunk in keys.chunks(8) {
        total.merge(engine.ingest(chunk).await);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    total
}

/// One row per metric: its model's status, accuracy, forecasts, alerts and plot.
async fn summary_rows(
    stores: &Stores,
    config: &Config,
    lake: &Path,
    trained: &[TrainReport],
    first: &[InferReport],
    inferred: &[InferReport],
    json: bool,
) -> Result<Vec<DemoRow>, Error> {
    let bar = progress(config.metrics.len() as u64, "plot", json);
    let mut rows = Vec::new();
    for (metric, cfg) in &config.metrics {
        let versions = registry::list(&*stores.tables, metric).await?;
        let approved = versions.iter().find(|m| m.status == ModelStatus::Approved);
        let pending = versions
            .iter()
            .find(|m| m.status == ModelStatus::PendingApproval);
        let (status, model) = match (approved, pending) {
            (Some(m), _) => ("approved", Some(m)),
            (None, Some(m)) => ("pending approval", Some(m)),
            (None, None) => ("not trained", None),
        };
        let decision = trained
            .iter()
            .find(|r| r.metric == metric.as_str() && r.registered.is_some())
            .and_then(|r| r.decision.clone());
        let report = inferred.iter().find(|r| r.metric == metric.as_str());
        let first_alerts = first
            .iter()
            .find(|r| r.metric == metric.as_str())
            .map_or(0, |r| r.alerts);
        let series = SeriesKey::new(SeriesKey::ALL)?;
        let path = crate::plot::default_path(lake, metric, &series);
        let opts = crate::plot::PlotOptions {
            metric: cfg,
            days: 14,
            zone: Default::default(),
        };
        let plot = crate::plot::write_plot(stores, metric, &series, opts, &path).await?;
        bar.inc(1);
        let live = report.and_then(|r| r.live.as_ref());
        rows.push(DemoRow {
            metric: metric.to_string(),
            status: status.to_string(),
            version: model.map(|m| m.version.to_string()),
            model_kind: model.map(|m| m.model_kind.clone()),
            decision,
            backtest_mase: model.map(|m| m.metrics.mase),
            backtest_coverage: model.map(|m| m.metrics.coverage),
            live_mase: live.map(|l| l.mase),
            live_coverage: live.map(|l| l.coverage),
            interval_adapt: report.and_then(|r| r.interval_adapt),
            predictions: report.map_or(0, |r| r.predictions),
            alerts: first_alerts + report.map_or(0, |r| r.alerts),
            plot,
        });
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// The summary table, then a line per metric whose model waits for a person.
fn print_table(rows: &[DemoRow], lake: &Path) {
    let f = |v: Option<f64>| {
        v.filter(|x| x.is_finite())
            .map_or("-".to_string(), |x| format!("{x:.3}"))
    };
    println!(
        "{:<6} {:<16} {:<12} {:>8} {:>8} {:>9} {:>9} {:>6} {:>7} {:>6}  plot",
        "metric",
        "status",
        "model",
        "MASE",
        "cover",
        "live MASE",
        "live cov",
        "adapt",
        "points",
        "alerts"
    );
    for r in rows {
        println!(
            "{:<6} {:<16} {:<12} {:>8} {:>8} {:>9} {:>9} {:>6} {:>7} {:>6}  {}",
            r.metric,
            r.status,
            r.model_kind.as_deref().unwrap_or("-"),
            f(r.backtest_mase),
            f(r.backtest_coverage),
            f(r.live_mase),
            f(r.live_coverage),
            f(r.interval_adapt),
            r.predictions,
            r.alerts,
            r.plot.path.display()
        );
    }
    for r in rows.iter().filter(|r| r.status == "pending approval") {
        println!(
            "{}: version {} waits for a person ({}); until then {} has no forecasts. Approve it with: gras approve --lake {} --metric {} --version {}",
            r.metric,
            r.version.as_deref().unwrap_or("?"),
            r.decision
                .as_deref()
                .map_or("the approval policy did not approve it", |d| d.trim_start_matches("pending approval: ")),
            r.metric,
            lake.display(),
            r.metric,
            r.version.as_deref().unwrap_or("?"),
        );
    }
}

/// What to look at next.
fn print_next(lake: &Path) {
    let l = lake.display();
    println!("Next:");
    println!("  open {l}/plots/G-_all.svg                  # a picture per metric (any browser)");
    println!("  gras models --lake {l}                     # versions, backtests, approvals");
    println!("  gras alerts --lake {l}                     # alerts the last days raised");
    println!("  gras serve --lake {l}                      # the dashboard at http://127.0.0.1:8080/ and the HTTP API under /v1 (or gras demo --serve)");
    println!(
        "  python3 -m pip install duckdb && python3 -c \"import duckdb; duckdb.sql(\\\"SELECT metric, series_key, ts, value, roll_sum_720h FROM read_parquet('{l}/silver/gras/features/*/*/*.parquet', hive_partitioning = true) LIMIT 5\\\").show()\""
    );
}
