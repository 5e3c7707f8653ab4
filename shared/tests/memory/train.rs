//! The training use case on in-memory stores: generated bronze -> silver -> backtested
//! candidates -> a registered version with its artifact, the approval policy, sharding,
//! fan-out onto a queue and per-message failures.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gras_shared::artifact::load_artifact;
use gras_shared::contract::model_artifact_key;
use gras_shared::metrics::MemoryMetrics;
use gras_shared::pipeline::notifications::{FailureKind, Message};
use gras_shared::pipeline::train::{TrainError, TrainTask, Trainer};
use gras_shared::pipeline::Clock;
use gras_shared::queue::MemoryQueue;
use gras_shared::registry::{self, ModelStatus};
use gras_shared::storage::Stores;
use gras_shared::{Config, MetricId};

/// One metric, horizon 24, 3 windows over 18 days, approval with a wide coverage tolerance
/// (so the first version is auto-approved deterministically).
fn config(shard_series: u32) -> Arc<Config> {
    let text = format!(
        "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\ninterval = 0.9\n\
         [training]\nwindow_days = 18\nbacktest_windows = 3\nshard_series = {shard_series}\n\
         [approval]\nmargin = 0.02\ncoverage_tolerance = 1.0\n"
    );
    Arc::new(Config::from_toml(&text, None).expect("config"))
}

/// A clock that advances one minute per reading (versions are time-ordered and unique).
fn ticking_clock() -> Clock {
    let t = Arc::new(AtomicI64::new(1_706_000_000));
    Arc::new(move || {
        DateTime::<Utc>::from_timestamp(t.fetch_add(60, Ordering::SeqCst), 0).expect("time")
    })
}

async fn lake_with_history(config: &Arc<Config>, days: u32, series: u32) -> Stores {
    let stores = Stores::memory();
    gras_generate::generated_silver(&stores, config, days, series, 11)
        .await
        .expect("generated silver");
    stores
}

fn trainer(stores: &Stores, config: &Arc<Config>) -> (Trainer, Arc<MemoryMetrics>) {
    let metrics = Arc::new(MemoryMetrics::default());
    let t = Trainer::new(stores.clone(), config.clone(), metrics.clone(), "s3://lake")
        .with_clock(ticking_clock());
    (t, metrics)
}

async fn run_all(trainer: &Trainer) -> Vec<gras_shared::pipeline::train::TrainReport> {
    let mut out = Vec::new();
    for task in trainer.plan(None, "test").await.expect("plan") {
        out.push(trainer.train(&task).await.expect("train"));
    }
    out
}

#[tokio::test]
async fn first_version_is_the_best_candidate_and_auto_approved_then_a_tie_waits() {
    let config = config(400);
    let stores = lake_with_history(&config, 18, 3).await;
    let (trainer, metrics) = trainer(&stores, &config);
    let g = MetricId::new("G").expect("id");

    let reports = run_all(&trainer).await;
    assert_eq!(reports.len(), 1);
    let rec = reports[0].registered.clone().expect("registered");
    assert_eq!(
        rec.status,
        ModelStatus::Approved,
        "{:?}",
        reports[0].decision
    );
    assert_eq!(rec.series, 4, "3 stores and the total");
    assert_eq!(
        rec.artifact_uri,
        format!("s3://lake/{}", model_artifact_key(&g, &rec.version))
    );

    // The artifact: the winning spec, every candidate's score, the window and fingerprint.
    let art = load_artifact(&stores, &g, &rec.version)
        .await
        .expect("artifact");
    assert_eq!(art.model_kind, rec.model_kind);
    assert_eq!(art.spec.kind(), rec.model_kind);
    assert_eq!(art.horizon, 24);
    assert_eq!(art.series, 4);
    assert_eq!(
        art.backtest.len(),
        3,
        "the weekly seasonal-naive baseline, MSTL+ETS and their mean"
    );
    let best = art
        .backtest
        .iter()
        .map(|c| c.metrics.near_mase)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        rec.metrics.near_mase, best,
        "the selected model has the lowest first-day MASE"
    );
    // A one-day horizon: the first day is the whole window, and the extra first-day
    // origins are the windows' own, so both MASEs agree.
    for c in &art.backtest {
        assert!(c.metrics.near_mase.is_finite() && c.metrics.near_mase > 0.0);
        assert!(
            (c.metrics.near_mase - c.metrics.mase).abs() < 1e-12,
            "{c:?}"
        );
    }
    assert!(art
        .backtest
        .iter()
        .any(|c| c.spec == art.spec && c.metrics == rec.metrics));
    assert!(rec.metrics.coverage > 0.0 && rec.metrics.coverage <= 1.0);
    assert!(art.train_start < art.train_end);
    assert_eq!(art.data_fingerprint, rec.data_fingerprint);

    // Quality metrics went to the metrics sink.
    let names: Vec<String> = metrics.all().into_iter().map(|(_, d)| d.name).collect();
    for want in ["ModelMASE", "ModelNearMASE", "ModelMAPE", "ModelCoverage"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    // Same data again: the new version ties the approved one (no 2% margin), so it waits.
    let again = run_all(&trainer).await;
    let rec2 = again[0].registered.clone().expect("registered");
    assert_eq!(
        rec2.status,
        ModelStatus::PendingApproval,
        "{:?}",
        again[0].decision
    );
    assert_eq!(rec2.metrics, rec.metrics);
    assert_eq!(rec2.data_fingerprint, rec.data_fingerprint);
    let art2 = load_artifact(&stores, &g, &rec2.version)
        .await
        .expect("artifact");
    assert!(
        art2.backtest.iter().any(|c| c.role == "current"),
        "the approved spec is backtested on the same windows"
    );

    // A person approves it: the first is archived, one Approved remains.
    let now = Utc::now();
    registry::approve(&*stores.tables, &g, &rec2.version, "tester", "ok", now)
        .await
        .expect("approve");
    let all = registry::list(&*stores.tables, &g).await.expect("list");
    let approved: Vec<_> = all
        .iter()
        .filter(|r| r.status == ModelStatus::Approved)
        .collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].version, rec2.version);
    assert!(all
        .iter()
        .any(|r| r.version == rec.version && r.status == ModelStatus::Archived));
}

/// `gras forecast`'s selection (`select_model`, no registry) on the history training read
/// chooses what training registered: the same spec, calibration and backtest metrics.
#[tokio::test]
async fn select_model_on_the_training_window_is_what_training_registers() {
    let config = config(400);
    let stores = lake_with_history(&config, 18, 3).await;
    let (trainer, _) = trainer(&stores, &config);
    let g = MetricId::new("G").expect("id");
    let rec = run_all(&trainer).await[0]
        .registered
        .clone()
        .expect("registered");
    let art = load_artifact(&stores, &g, &rec.version)
        .await
        .expect("artifact");
    let cfg = config.metric(&g).expect("G");
    let end = gras_shared::pipeline::history::newest_silver_date(&stores, &g)
        .await
        .expect("read")
        .expect("silver");
    let start = end - chrono::Days::new(17);
    let history = gras_shared::pipeline::history::load_history(
        &stores,
        &g,
        start,
        end,
        cfg.frequency.micros(),
    )
    .await
    .expect("history");
    let sel = gras_shared::pipeline::train::select_model(&history, cfg, 3).expect("selection");
    assert_eq!(sel.spec, art.spec);
    assert_eq!(sel.calibration, art.calibration());
    assert_eq!(sel.series, rec.series);
    assert_eq!(sel.metrics.near_mase, rec.metrics.near_mase);
    assert_eq!(sel.metrics.coverage, rec.metrics.coverage);
}

#[tokio::test]
async fn sharded_training_registers_once_with_the_unsharded_result() {
    let whole_cfg = config(400);
    let stores = lake_with_history(&whole_cfg, 18, 5).await;
    let (whole, _) = trainer(&stores, &whole_cfg);
    let reference = run_all(&whole).await[0]
        .registered
        .clone()
        .expect("registered");

    let sharded_cfg = config(2);
    let (sharded, _) = trainer(&stores, &sharded_cfg);
    let mut tasks = sharded.plan(Some("G"), "test").await.expect("plan");
    assert_eq!(tasks.len(), 3, "6 series in shards of 2");
    tasks.reverse();
    let mut registered = Vec::new();
    for t in &tasks {
        // Retried shards must not register twice either.
        for _ in 0..2 {
            if let Some(r) = sharded.train(t).await.expect("train").registered {
                registered.push(r);
            }
        }
    }
    assert_eq!(registered.len(), 1, "exactly one version per run");
    let r = &registered[0];
    assert_eq!(r.series, reference.series);
    assert_eq!(r.data_fingerprint, reference.data_fingerprint);
    assert_eq!(r.model_kind, reference.model_kind);
    for (a, b) in [
        (r.metrics.mase, reference.metrics.mase),
        (r.metrics.coverage, reference.metrics.coverage),
        (r.metrics.smape, reference.metrics.smape),
    ] {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

#[tokio::test]
async fn fan_out_retrain_requests_and_bad_messages() {
    let config = config(400);
    let stores = lake_with_history(&config, 18, 2).await;
    let (trainer, _) = trainer(&stores, &config);
    let queue = MemoryQueue::default();

    let out = trainer
        .fan_out(&queue, None, "schedule")
        .await
        .expect("fan out");
    assert_eq!(out.tasks, 1);
    let bodies = queue.drain();
    let task: TrainTask = serde_json::from_str(&bodies[0]).expect("task json");
    assert_eq!(
        (
            task.metric.as_str(),
            task.shard,
            task.shards,
            task.reason.as_str()
        ),
        ("G", 0, 1, "schedule")
    );

    let messages = vec![
        Message {
            id: "ok".into(),
            body: bodies[0].clone(),
        },
        Message {
            id: "retrain".into(),
            body: r#"{"metric":"G","reason":"drift: mase 1.4"}"#.into(),
        },
        Message {
            id: "garbage".into(),
            body: "not json".into(),
        },
        Message {
            id: "unknown".into(),
            body: r#"{"metric":"Z"}"#.into(),
        },
        Message {
            id: "bad-shard".into(),
            body: r#"{"metric":"G","shard":3,"shards":2}"#.into(),
        },
    ];
    let failures = trainer.train_messages(messages).await;
    let ids: Vec<&str> = failures.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(ids, vec!["garbage", "unknown", "bad-shard"]);
    assert!(failures.iter().all(|f| f.kind == FailureKind::Permanent));
    let g = MetricId::new("G").expect("id");
    assert_eq!(
        registry::list(&*stores.tables, &g)
            .await
            .expect("list")
            .len(),
        2,
        "scheduled task and retrain request"
    );

    assert!(matches!(
        trainer.fan_out(&queue, Some("Z"), "x").await,
        Err(TrainError::UnknownMetric(_))
    ));
}

#[tokio::test]
async fn no_history_is_not_enough_data_and_is_acknowledged() {
    let config = config(400);
    let stores = Stores::memory();
    let (trainer, _) = trainer(&stores, &config);
    let task = TrainTask {
        metric: "G".into(),
        shard: 0,
        shards: 1,
        run_id: String::new(),
        reason: "t".into(),
    };
    assert!(matches!(
        trainer.train(&task).await,
        Err(TrainError::NotEnoughData { .. })
    ));
    let failures = trainer
        .train_messages(vec![Message {
            id: "m".into(),
            body: serde_json::to_string(&task).expect("json"),
        }])
        .await;
    assert!(failures.is_empty());
    // Too short a history (3 days: all of it is backtest windows) is the same.
    let short = lake_with_history(&config, 3, 1).await;
    let (trainer, _) = self::trainer(&short, &config);
    assert!(matches!(
        trainer.train(&task).await,
        Err(TrainError::NotEnoughData { .. })
    ));
}

/// A run that cannot name a valid model version (here: a clock past year 9999, so the
/// version's timestamp is not 14 digits) is an invalid task, failed permanently so that the
/// message reaches the dead-letter queue: it was once reported as "not enough data" and
/// acknowledged, dropping the version silently.
#[tokio::test]
async fn a_run_that_cannot_name_its_version_fails_permanently_not_silently() {
    let config = config(400);
    let stores = lake_with_history(&config, 18, 3).await;
    let far: Clock = Arc::new(|| {
        DateTime::<Utc>::from_timestamp(253_402_300_800 + 86_400, 0).expect("year 10000")
    });
    let trainer = Trainer::new(
        stores.clone(),
        config.clone(),
        Arc::new(MemoryMetrics::default()),
        "s3://lake",
    )
    .with_clock(far);
    let task = TrainTask {
        metric: "G".into(),
        shard: 0,
        shards: 1,
        run_id: "manual".into(),
        reason: "t".into(),
    };
    let err = trainer.train(&task).await.expect_err("no valid version");
    assert!(matches!(err, TrainError::InvalidId(_)), "{err:?}");
    assert!(!err.is_retryable());
    let failures = trainer
        .train_messages(vec![Message {
            id: "m".into(),
            body: serde_json::to_string(&task).expect("json"),
        }])
        .await;
    assert_eq!(failures.len(), 1, "the message must not be acknowledged");
    assert_eq!(failures[0].kind, FailureKind::Permanent);
    assert!(
        failures[0].reason.contains("model version"),
        "{}",
        failures[0].reason
    );
    let g = MetricId::new("G").expect("id");
    assert!(registry::list(&*stores.tables, &g)
        .await
        .expect("list")
        .is_empty());
}

fn event(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn sample_training_events_give_their_documented_outcomes() {
    let schedule = event("eventbridge-schedule-train.json");
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    assert_eq!(schedule["source"], "aws.events");

    let config = config(400);
    let stores = lake_with_history(&config, 18, 1).await;
    let (trainer, _) = trainer(&stores, &config);
    let tasks = event("sqs-train-tasks.json");
    let messages: Vec<Message> = tasks["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| Message {
            id: r["messageId"].as_str().expect("id").into(),
            body: r["body"].as_str().expect("body").into(),
        })
        .collect();
    let failures = trainer.train_messages(messages).await;
    let ids: Vec<&str> = failures.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["e7d5c3b1-9f8e-4d7c-a6b5-c4d3e2f1a0b9"],
        "only the unknown metric fails"
    );
    let g = MetricId::new("G").expect("id");
    assert_eq!(
        registry::list(&*stores.tables, &g)
            .await
            .expect("list")
            .len(),
        2,
        "the scheduled task and the retrain request"
    );
}

/// Fails the first write that marks a run's finalization done (the attempt registered and
/// decided its version, then died before saying so); everything else passes through.
#[derive(Debug)]
struct FailDoneOnce {
    inner: Arc<dyn gras_shared::storage::TableStore>,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl gras_shared::storage::TableStore for FailDoneOnce {
    async fn get(
        &self,
        table: &gras_shared::storage::TableSpec,
        pk: &str,
        sk: &str,
    ) -> Result<Option<gras_shared::storage::Item>, gras_shared::storage::TableError> {
        self.inner.get(table, pk, sk).await
    }
    async fn put(
        &self,
        table: &gras_shared::storage::TableSpec,
        item: gras_shared::storage::Item,
        condition: gras_shared::storage::Condition,
    ) -> Result<(), gras_shared::storage::TableError> {
        if item.contains_key("done") && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(gras_shared::storage::TableError::Backend {
                table: table.name,
                retryable: true,
                source: "injected: finalizer died before marking done".into(),
            });
        }
        self.inner.put(table, item, condition).await
    }
    async fn delete(
        &self,
        table: &gras_shared::storage::TableSpec,
        pk: &str,
        sk: &str,
        condition: gras_shared::storage::Condition,
    ) -> Result<(), gras_shared::storage::TableError> {
        self.inner.delete(table, pk, sk, condition).await
    }
    async fn batch_put(
        &self,
        table: &gras_shared::storage::TableSpec,
        items: Vec<gras_shared::storage::Item>,
    ) -> Result<(), gras_shared::storage::TableError> {
        self.inner.batch_put(table, items).await
    }
    async fn batch_delete(
        &self,
        table: &gras_shared::storage::TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), gras_shared::storage::TableError> {
        self.inner.batch_delete(table, keys).await
    }
    async fn query(
        &self,
        table: &gras_shared::storage::TableSpec,
        query: &gras_shared::storage::Query,
    ) -> Result<gras_shared::storage::Page, gras_shared::storage::TableError> {
        self.inner.query(table, query).await
    }
    async fn transact(
        &self,
        ops: Vec<gras_shared::storage::TxOp>,
    ) -> Result<(), gras_shared::storage::TableError> {
        self.inner.transact(ops).await
    }
}

#[tokio::test]
async fn a_retried_finalization_keeps_one_version_and_its_creation_time() {
    let config = config(400);
    let lake = lake_with_history(&config, 18, 3).await;
    let failing = Stores {
        blobs: lake.blobs.clone(),
        tables: Arc::new(FailDoneOnce {
            inner: lake.tables.clone(),
            failed: Default::default(),
        }),
    };
    // The clock ticks a minute per reading: a retry runs at a later "now".
    let (trainer, _) = trainer(&failing, &config);
    let g = MetricId::new("G").expect("id");
    let tasks = trainer.plan(None, "test").await.expect("plan");
    assert_eq!(tasks.len(), 1);
    let err = trainer
        .train(&tasks[0])
        .await
        .expect_err("first attempt dies");
    assert!(err.is_retryable(), "{err}");
    let report = trainer.train(&tasks[0]).await.expect("the retry finishes");
    let rec = report.registered.expect("registered");

    let versions = registry::list(&*lake.tables, &g).await.expect("list");
    assert_eq!(versions.len(), 1, "one version for one run: {versions:?}");
    let art = load_artifact(&lake, &g, &rec.version)
        .await
        .expect("artifact");
    assert_eq!(
        art.created_at,
        versions[0]
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "the artifact rewritten by the retry says when the version was created"
    );
}
