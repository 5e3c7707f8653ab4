//! The sample events in `events/` are real-shaped: they deserialize as the Lambda runtime's
//! SQS event type, and running them through the handler's use case against moto gives the
//! documented outcome.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use gras_integration_tests::{create_table, Moto};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::notifications::{handle_batch, FailureKind, Message};
use gras_shared::testkit::BronzeFile;
use gras_shared::{online, state, Config};

fn load(name: &str) -> Vec<Message> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let event: SqsEvent =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an SQS event: {e}"));
    event
        .records
        .into_iter()
        .map(|r| Message {
            id: r.message_id.expect("messageId"),
            body: r.body.expect("body"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_give_their_documented_outcomes() {
    let moto = Moto::start();
    let id: u32 = rand::random::<u32>() % 1_000_000;
    let prefix = format!("ev{id}_");
    let settings = moto.settings(&prefix).await;
    // The bucket named in the events.
    let bucket = "gras-lake-local";
    let s3 = settings.s3();
    let _ = s3.create_bucket().bucket(bucket).send().await;
    for t in [state::STATE, online::FEATURES] {
        create_table(&settings.dynamodb(), &prefix, &t).await;
    }
    let stores = settings.stores(bucket);
    let good = BronzeFile::dense("G", 0, "part 0000.parquet", &[]);
    assert_eq!(
        good.key(),
        "bronze/gras/metric=G/year=2024/month=01/day=01/part 0000.parquet"
    );
    stores.blobs.put(&good.key(), good.body()).await.unwrap();
    stores
        .blobs
        .put(
            "bronze/gras/metric=G/year=2024/month=01/day=02/broken file.parquet",
            bytes::Bytes::from_static(b"garbage"),
        )
        .await
        .unwrap();
    let engine = FeatureEngine::new(stores.clone(), Arc::new(Config::gras_defaults()));

    let put = load("sqs-s3-put.json");
    let out = handle_batch(&engine, bucket, &put, &NoMetrics).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    assert_eq!(out.summary.files, 1);
    assert!(stores
        .blobs
        .get("silver/gras/features/metric=G/date=2024-01-01/part-0.parquet")
        .await
        .is_ok());

    let batch = load("sqs-batch-test-bad-good.json");
    let out = handle_batch(&engine, bucket, &batch, &NoMetrics).await;
    assert_eq!(out.test_events, 1);
    assert_eq!(
        out.failed_ids(),
        vec!["c80e8021-a70a-42c7-a470-796cb4f0e0b8".to_string()]
    );
    assert_eq!(out.failures[0].kind, FailureKind::Permanent);
    assert_eq!(
        (out.summary.replays, out.summary.ignored),
        (1, 1),
        "{}",
        out.summary
    );
}
