//! The features path against a real AWS API (moto on 127.0.0.1): bronze uploaded to S3,
//! the bucket's real notifications received from SQS, the batch handler invoked with them,
//! silver checked in S3, online features in DynamoDB, partial batch responses, the
//! dead-letter path, replays, concurrent writers, and the storage conformance suite on the
//! AWS adapters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use gras_integration_tests::{Fixture, Moto};
use gras_shared::metrics::MemoryMetrics;
use gras_shared::online;
use gras_shared::pipeline::features::{EngineOptions, FeatureEngine};
use gras_shared::pipeline::notifications::{handle_batch, FailureKind, Message};
use gras_shared::state;
use gras_shared::storage::{conformance, Stores};
use gras_shared::testkit::{assert_silver_eq, online as online_items, silver, BronzeFile};
use gras_shared::Config;

fn config() -> Arc<Config> {
    Arc::new(Config::gras_defaults())
}

fn moto() -> &'static Moto {
    static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

const TABLES: [gras_shared::storage::TableSpec; 2] = [state::STATE, online::FEATURES];

async fn batch_reference(files: &[BronzeFile]) -> Stores {
    let stores = Stores::memory();
    for f in files {
        stores.blobs.put(&f.key(), f.body()).await.unwrap();
    }
    FeatureEngine::new(stores.clone(), config())
        .batch()
        .await
        .unwrap();
    stores
}

fn pks() -> Vec<String> {
    ["G#a", "G#_all"].iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_to_silver_online_store_partial_failures_and_dlq() {
    let fx = Fixture::new(moto(), "feat", &TABLES, 2).await;
    // Keys with a space exercise the form-encoding of event keys.
    let files: Vec<BronzeFile> = (0..6)
        .map(|d| BronzeFile::dense("G", d, &format!("part {d}.parquet"), &[]))
        .collect();
    let bad_key = "bronze/gras/metric=G/year=2024/month=01/day=03/broken file.parquet";
    for f in &files {
        fx.s3
            .put_object()
            .bucket(&fx.bucket)
            .key(f.key())
            .body(ByteStream::from(f.body()))
            .send()
            .await
            .unwrap();
    }
    fx.s3
        .put_object()
        .bucket(&fx.bucket)
        .key(bad_key)
        .body(ByteStream::from_static(b"not parquet"))
        .send()
        .await
        .unwrap();
    fx.s3
        .put_object()
        .bucket(&fx.bucket)
        .key("uploads/readme.txt")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .unwrap();

    // The notifications S3 really sent (moto may add an s3:TestEvent first).
    let received = fx.receive(&fx.queue_url, 8, Duration::from_secs(20)).await;
    assert!(
        received.len() >= 8,
        "expected 8 notifications, got {}",
        received.len()
    );
    let messages: Vec<Message> = received
        .iter()
        .map(|(id, _, body)| Message {
            id: id.clone(),
            body: body.clone(),
        })
        .collect();
    let bad_id = received
        .iter()
        .find(|(_, _, b)| b.contains("broken"))
        .map(|(id, _, _)| id.clone())
        .expect("bad file notified");
    assert!(
        received
            .iter()
            .any(|(_, _, b)| b.contains("%3D") || b.contains("metric=G")),
        "keys arrive in the body"
    );

    let engine = FeatureEngine::new(fx.stores.clone(), config());
    let metrics = MemoryMetrics::default();
    let out = handle_batch(&engine, &fx.bucket, &messages, &metrics).await;
    assert_eq!(
        out.failed_ids(),
        vec![bad_id.clone()],
        "only the bad file's message fails: {:?}",
        out.failures
    );
    assert_eq!(out.failures[0].kind, FailureKind::Permanent);
    assert!(
        out.failures[0]
            .reason
            .contains("not a readable Parquet file"),
        "{}",
        out.failures[0].reason
    );
    assert_eq!(out.summary.files, 6, "{}", out.summary);
    assert_eq!(
        out.summary.ignored, 1,
        "the non-bronze key is ignored: {}",
        out.summary
    );
    let published: BTreeMap<String, f64> = metrics
        .all()
        .into_iter()
        .filter(|(_, d)| d.dimensions.len() == 1)
        .map(|(_, d)| (d.name, d.value))
        .collect();
    assert_eq!(published["Files"], 6.0);
    assert_eq!(published["FilesFailed"], 1.0);
    for (id, receipt, _) in &received {
        if *id != bad_id {
            fx.delete(&fx.queue_url, receipt).await;
        }
    }

    // Silver in S3 and online items in DynamoDB equal a batch run over the good files.
    let expected = batch_reference(&files).await;
    let got = silver(&*fx.stores.blobs).await;
    assert_eq!(got.len(), 6);
    assert_silver_eq(&silver(&*expected.blobs).await, &got);
    let online_got = online_items(&*fx.stores.tables, &pks()).await;
    assert_eq!(online_got.len(), 2);
    assert_eq!(online_items(&*expected.tables, &pks()).await, online_got);
    let item = fx
        .stores
        .tables
        .get(&online::FEATURES, "G#a", "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["ts"].as_s(), Some("2024-01-06T23:00:00Z"));
    let ttl = item["ttl"].as_n().unwrap() as i64;
    let now = chrono::Utc::now().timestamp();
    assert!(
        (ttl - now - 7 * 86_400).abs() < 120,
        "ttl is updated_at + 7 days"
    );

    // Replaying the same messages changes nothing (silver bytes identical).
    let before: BTreeMap<String, bytes::Bytes> = {
        let mut m = BTreeMap::new();
        for o in fx.stores.blobs.list("silver/").await.unwrap() {
            m.insert(o.key.clone(), fx.stores.blobs.get(&o.key).await.unwrap());
        }
        m
    };
    let again = handle_batch(&engine, &fx.bucket, &messages, &metrics).await;
    assert_eq!(again.summary.replays, 6, "{}", again.summary);
    assert_eq!(again.summary.partitions_written, 0);
    for (k, v) in &before {
        assert_eq!(
            &fx.stores.blobs.get(k).await.unwrap(),
            v,
            "{k} changed on replay"
        );
    }

    // The bad message is redelivered and, past maxReceiveCount (2), lands in the DLQ.
    let mut dead = Vec::new();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        for (id, receipt, body) in fx.receive(&fx.queue_url, 1, Duration::from_secs(2)).await {
            let is_bad = body.contains("broken");
            let out = handle_batch(
                &engine,
                &fx.bucket,
                &[Message {
                    id: id.clone(),
                    body,
                }],
                &metrics,
            )
            .await;
            if is_bad {
                assert_eq!(out.failed_ids(), vec![id], "still failing");
            } else {
                // A late s3:TestEvent: acknowledged.
                assert!(out.failures.is_empty());
                fx.delete(&fx.queue_url, &receipt).await;
            }
        }
        dead = fx.receive(&fx.dlq_url, 1, Duration::from_secs(1)).await;
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(
        dead.len(),
        1,
        "the bad file's message is in the dead-letter queue"
    );
    assert!(dead[0].2.contains("broken"), "{}", dead[0].2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_the_same_partitions_converge() {
    let fx = Fixture::new(moto(), "conc", &TABLES, 3).await;
    // Late and out-of-order files for overlapping dates, ingested by three engines at once.
    let mut files: Vec<BronzeFile> = (0..8)
        .map(|d| BronzeFile::dense("G", d, "part-0.parquet", &[5, 6]))
        .collect();
    files.extend((0..8).map(|d| {
        BronzeFile::dense(
            "G",
            d,
            "late-1.parquet",
            &[
                0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            ],
        )
    }));
    for f in &files {
        fx.stores.blobs.put(&f.key(), f.body()).await.unwrap();
    }
    let opts = EngineOptions {
        lease_wait: Duration::from_secs(120),
        ..EngineOptions::default()
    };
    let engines: Vec<FeatureEngine> = (0..3)
        .map(|_| FeatureEngine::new(fx.stores.clone(), config()).with_options(opts.clone()))
        .collect();
    let mut tasks = Vec::new();
    for (i, f) in files.iter().rev().enumerate() {
        let e = engines[i % 3].clone();
        let key = f.key();
        tasks.push(tokio::spawn(
            async move { e.ingest_one(&key).await.map(|_| ()) },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let expected = batch_reference(&files).await;
    assert_silver_eq(
        &silver(&*expected.blobs).await,
        &silver(&*fx.stores.blobs).await,
    );
    assert_eq!(
        online_items(&*expected.tables, &pks()).await,
        online_items(&*fx.stores.tables, &pks()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_adapters_pass_the_storage_conformance_suite() {
    let fx = Fixture::new(
        moto(),
        "conf",
        &[conformance::SCRATCH, conformance::SCRATCH_HASH_ONLY],
        3,
    )
    .await;
    conformance::blob_store(&*fx.stores.blobs).await;
    conformance::table_store(&*fx.stores.tables).await;
    // Batch writes of more than 25 items (chunking) and duplicate keys in one batch.
    let items: Vec<_> = (0..60)
        .map(|i| {
            let mut it = gras_shared::storage::Item::new();
            it.insert("pk".into(), gras_shared::storage::Attr::S("many".into()));
            it.insert(
                "sk".into(),
                gras_shared::storage::Attr::S(format!("{:03}", i % 55)),
            );
            it.insert("n".into(), gras_shared::storage::Attr::N(f64::from(i)));
            it
        })
        .collect();
    fx.stores
        .tables
        .batch_put(&conformance::SCRATCH, items)
        .await
        .unwrap();
    let got = gras_shared::storage::table::query_all(
        &*fx.stores.tables,
        &conformance::SCRATCH,
        &gras_shared::storage::Query::all("many"),
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 55);
    assert_eq!(
        got[0]["n"].as_n(),
        Some(55.0),
        "the last write of a duplicated key wins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_metrics_are_readable_back() {
    use gras_shared::metrics::{CloudWatchMetrics, Datum, MetricsSink, Unit};
    let settings = moto().settings("cw_").await;
    let cw = settings.cloudwatch();
    let ns = format!("GRAS-test-{}", rand::random::<u32>());
    CloudWatchMetrics::new(cw.clone())
        .put(
            &ns,
            vec![Datum::new(
                "Files",
                3.0,
                Unit::Count,
                &[("Function", "features")],
            )],
        )
        .await
        .expect("put metric data");
    let listed = cw
        .list_metrics()
        .namespace(&ns)
        .send()
        .await
        .expect("list metrics");
    let names: Vec<&str> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    assert_eq!(names, vec!["Files"]);
}
