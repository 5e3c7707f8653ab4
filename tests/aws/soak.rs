//! A soak run against the emulator (moto on 127.0.0.1): many bronze uploads (with late
//! files, replays, corrected files and bad files) put into S3 by a producer while feature
//! consumers process the bucket's real notifications from SQS concurrently, as the Lambda
//! SQS integration would (batches, partial batch responses, redelivery, dead-letter queue).
//!
//! Checked: the dead-letter queue holds exactly the bad files, the queue ends empty, and
//! silver and the online store equal a batch run over the good files. Reported (one JSON
//! line, `soak report`): uploads by kind, messages and redeliveries, DLQ entries, wall time
//! and uploads per second.
//!
//! Sizes: `GRAS_SOAK_METRICS` (1-4, default 2), `GRAS_SOAK_DAYS` (default 4),
//! `GRAS_SOAK_PARTS` (parts per day, default 6), `GRAS_SOAK_BAD` (default 4),
//! `GRAS_SOAK_CONSUMERS` (default 2), `GRAS_SOAK_MAX_SECS` (default 600).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gras_integration_tests::scenario::{Plan, PlanSpec, UploadKind};
use gras_integration_tests::worker::{
    consume, drain, notified_keys, queue_depth, ConsumeEvent, ConsumeOptions, ConsumeReport,
};
use gras_integration_tests::{env_num, Fixture, Moto};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::testkit::{assert_silver_eq, online as online_items, silver};
use gras_shared::{online, state, Config};

/// Consumes the fixture's queue (batches of 3) until it stays empty for `idle_secs`,
/// collecting the ids of object notifications received.
async fn consume_for(
    fx: &Fixture,
    engine: &FeatureEngine,
    idle_secs: u64,
    max_secs: u64,
    ids: &mut Vec<String>,
) -> ConsumeReport {
    let opts = ConsumeOptions {
        batch: 3,
        idle_exit: Duration::from_secs(idle_secs),
        max_run: Duration::from_secs(max_secs),
    };
    consume(
        &fx.sqs,
        &fx.queue_url,
        engine,
        &fx.bucket,
        &NoMetrics,
        &opts,
        |e| {
            if let ConsumeEvent::Received(id, body) = e {
                if notified_keys(body).is_some() {
                    ids.push(id.to_string());
                }
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_uploads_through_s3_sqs_features_lose_nothing() {
    let moto = Moto::start();
    let metrics: usize = env_num("GRAS_SOAK_METRICS", 2usize).clamp(1, 4);
    let spec = PlanSpec {
        metrics,
        days: env_num("GRAS_SOAK_DAYS", 4),
        parts: env_num("GRAS_SOAK_PARTS", 6),
        late: 0.1,
        replays: 0.05,
        corrections: 0.05,
        bad: env_num("GRAS_SOAK_BAD", 4),
        seed: env_num("GRAS_SOAK_SEED", 11),
    };
    let consumers: usize = env_num("GRAS_SOAK_CONSUMERS", 2);
    let max_secs: u64 = env_num("GRAS_SOAK_MAX_SECS", 600);
    // Visibility 10 s (well above the processing time of a batch of 3), three receives
    // before the DLQ.
    let fx = Arc::new(
        Fixture::with_queue(
            &moto,
            "soak",
            &[state::STATE, online::FEATURES],
            3,
            10,
            true,
        )
        .await,
    );
    let plan = Plan::new(&spec);
    let config = Arc::new(Config::gras_defaults());
    let started = Instant::now();

    // Consumers run while the producer uploads.
    let mut tasks = Vec::new();
    for _ in 0..consumers {
        let fx = fx.clone();
        let engine = FeatureEngine::new(fx.stores.clone(), config.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let report = consume_for(&fx, &engine, 8, max_secs, &mut ids).await;
            (report, ids)
        }));
    }
    fx.upload(&plan.uploads).await;
    let uploaded = started.elapsed();

    // Bad files come back after the visibility timeout until they are dead-lettered; keep
    // consuming until the queue is empty.
    let mut total = ConsumeReport::default();
    let mut ids = Vec::new();
    for t in tasks {
        let (r, i) = t.await.expect("consumer");
        total.merge(r);
        ids.extend(i);
    }
    let engine = FeatureEngine::new(fx.stores.clone(), config.clone());
    while queue_depth(&fx.sqs, &fx.queue_url).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(max_secs),
            "queue not drained within {max_secs}s"
        );
        total.merge(consume_for(&fx, &engine, 12, max_secs, &mut ids).await);
    }
    let elapsed = started.elapsed();

    let dead = drain(&fx.sqs, &fx.dlq_url).await;
    let mut dead_keys: Vec<String> = dead
        .iter()
        .filter_map(|b| notified_keys(b))
        .flatten()
        .collect();
    dead_keys.sort();
    assert_eq!(
        dead_keys,
        plan.bad_keys(),
        "the DLQ holds exactly the bad files"
    );
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        plan.uploads.len(),
        "one object notification per upload"
    );
    for f in &total.failures {
        if f.permanent {
            assert!(
                f.key.as_ref().is_some_and(|k| dead_keys.contains(k)),
                "a good file failed permanently: {f:?}"
            );
        }
    }

    let reference = plan.batch_reference().await;
    let want = silver(&*reference.blobs).await;
    let got = silver(&*fx.stores.blobs).await;
    assert_silver_eq(&want, &got);
    let pks = plan.online_pks(metrics);
    assert_eq!(
        online_items(&*reference.tables, &pks).await,
        online_items(&*fx.stores.tables, &pks).await,
        "online features differ from the batch run"
    );
    let rows: usize = got.values().map(|r| r.len()).sum();
    // Throughput up to the last successful message: the tail after it is the bad files
    // waiting out their redeliveries before the DLQ.
    let busy = total
        .last_success
        .map_or(elapsed, |t| t.duration_since(started));
    let good_uploads = plan.uploads.len() - plan.count(UploadKind::Bad);
    println!(
        "soak report: {}",
        serde_json::json!({
            "uploads": plan.uploads.len(),
            "good": plan.count(UploadKind::Good),
            "late": plan.count(UploadKind::Late),
            "replays": plan.count(UploadKind::Replay),
            "corrections": plan.count(UploadKind::Corrected),
            "bad": plan.count(UploadKind::Bad),
            "consumers": consumers,
            "messages": distinct.len(),
            "deliveries": ids.len(),
            "redelivered": ids.len() - distinct.len(),
            "processed": total.processed,
            "replays_skipped": total.replays,
            "retryable_failures": total.failures.iter().filter(|f| !f.permanent).count(),
            "dlq_entries": dead.len(),
            "silver_partitions": got.len(),
            "silver_rows": rows,
            "upload_seconds": uploaded.as_secs_f64(),
            "seconds": elapsed.as_secs_f64(),
            "seconds_to_last_success": busy.as_secs_f64(),
            "good_uploads_per_second": good_uploads as f64 / busy.as_secs_f64(),
            "differences": 0,
        })
    );
}
