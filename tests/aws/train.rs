//! Training against a real AWS API (moto on 127.0.0.1): a scheduled fan-out puts one task
//! per metric on a real SQS queue; the tasks are received and trained as the Lambda's SQS
//! integration delivers them; the artifact lands in S3, the version in the registry table,
//! the approved pointer in the state table, and the model quality metrics in CloudWatch.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::DimensionFilter;
use aws_sdk_s3::primitives::ByteStream;
use chrono::NaiveDate;
use gras_generate::{generate, GenSpec};
use gras_integration_tests::{Fixture, Moto};
use gras_shared::artifact::load_artifact;
use gras_shared::contract::model_artifact_key;
use gras_shared::metrics::{CloudWatchMetrics, NAMESPACE};
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::infer::Inferencer;
use gras_shared::pipeline::notifications::Message;
use gras_shared::pipeline::train::{TrainTask, Trainer};
use gras_shared::predictions::{Prediction, PREDICTIONS};
use gras_shared::queue::SqsQueue;
use gras_shared::registry::{self, ModelStatus, MODELS};
use gras_shared::storage::{Query, SkRange};
use gras_shared::{online, state, Config, MetricId};

fn config() -> Arc<Config> {
    let text = "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\n\
                [metrics.A]\naggregation = \"mean\"\nhorizon = 24\n\
                [training]\nwindow_days = 18\nbacktest_windows = 3\nshard_series = 400\n\
                [approval]\ncoverage_tolerance = 1.0\n";
    Arc::new(Config::from_toml(text, None).expect("config"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_fans_out_to_sqs_and_tasks_train_into_s3_registry_and_cloudwatch() {
    let moto = Moto::start();
    let fx = Fixture::new(
        &moto,
        "train",
        &[
            state::STATE,
            online::FEATURES,
            MODELS,
            PREDICTIONS,
            gras_shared::alerts::ALERTS,
        ],
        3,
    )
    .await;
    let config = config();

    // Bronze through S3, silver by the batch path on the AWS adapters.
    let spec = GenSpec {
        start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        days: 18,
        series: 2,
        seed: 5,
    };
    for obj in generate(&spec, &config) {
        let obj = obj.expect("generate");
        fx.s3
            .put_object()
            .bucket(&fx.bucket)
            .key(&obj.key)
            .body(ByteStream::from(obj.body))
            .send()
            .await
            .expect("put");
    }
    FeatureEngine::new(fx.stores.clone(), config.clone())
        .batch()
        .await
        .expect("silver");

    // The training queue.
    let train_url = fx
        .sqs
        .create_queue()
        .queue_name(format!("train{}", rand::random::<u32>()))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let queue = SqsQueue::new(fx.sqs.clone(), train_url.clone());
    let metrics = Arc::new(CloudWatchMetrics::new(fx.settings.cloudwatch()));
    let trainer = Trainer::new(
        fx.stores.clone(),
        config.clone(),
        metrics,
        format!("s3://{}", fx.bucket),
    );

    // Schedule: one task per metric on SQS.
    let out = trainer
        .fan_out(&queue, None, "schedule")
        .await
        .expect("fan out");
    assert_eq!(out.tasks, 2);
    let received = fx.receive(&train_url, 2, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 2, "both tasks are on the queue");
    let mut metrics_seen: Vec<String> = received
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<TrainTask>(body)
                .expect("task")
                .metric
        })
        .collect();
    metrics_seen.sort();
    assert_eq!(metrics_seen, vec!["A", "G"]);

    // Deliver them as the SQS integration does; successes are deleted.
    let messages: Vec<Message> = received
        .iter()
        .map(|(id, _, body)| Message {
            id: id.clone(),
            body: body.clone(),
        })
        .collect();
    let failures = trainer.train_messages(messages).await;
    assert!(failures.is_empty(), "{failures:?}");
    for (_, receipt, _) in &received {
        fx.delete(&train_url, receipt).await;
    }

    for m in ["G", "A"] {
        let id = MetricId::new(m).expect("id");
        let versions = registry::list(&*fx.stores.tables, &id).await.expect("list");
        assert_eq!(versions.len(), 1, "{m}");
        let v = &versions[0];
        assert_eq!(
            v.status,
            ModelStatus::Approved,
            "first version of {m} is auto-approved"
        );
        assert_eq!(
            registry::approved(&*fx.stores.tables, &id)
                .await
                .expect("approved")
                .map(|r| r.version),
            Some(v.version.clone())
        );
        // The artifact is a real S3 object at the contract's key.
        let key = model_artifact_key(&id, &v.version);
        assert_eq!(v.artifact_uri, format!("s3://{}/{}", fx.bucket, key));
        let head = fx
            .s3
            .head_object()
            .bucket(&fx.bucket)
            .key(&key)
            .send()
            .await
            .expect("artifact object");
        assert!(head.content_length().unwrap_or(0) > 100);
        let art = load_artifact(&fx.stores, &id, &v.version)
            .await
            .expect("artifact");
        assert_eq!(art.model_kind, v.model_kind);
        assert_eq!(art.series, 3);

        // The registry item as DynamoDB holds it (contract section 6 attributes).
        let item = fx
            .ddb
            .get_item()
            .table_name(format!("{}{}", fx.settings.table_prefix, MODELS.name))
            .key(
                "metric_id",
                aws_sdk_dynamodb::types::AttributeValue::S(m.into()),
            )
            .key(
                "version",
                aws_sdk_dynamodb::types::AttributeValue::S(v.version.to_string()),
            )
            .send()
            .await
            .expect("get item")
            .item
            .expect("item");
        for attr in [
            "status",
            "model_kind",
            "artifact_uri",
            "mape",
            "smape",
            "mase",
            "near_mase",
            "coverage",
            "created_at",
        ] {
            assert!(item.contains_key(attr), "{attr} missing from {item:?}");
        }

        // Model quality metrics are readable back from CloudWatch.
        let listed = fx
            .settings
            .cloudwatch()
            .list_metrics()
            .namespace(NAMESPACE)
            .dimensions(
                DimensionFilter::builder()
                    .name("Version")
                    .value(v.version.as_str())
                    .build(),
            )
            .send()
            .await
            .expect("list metrics");
        let mut names: Vec<&str> = listed
            .metrics()
            .iter()
            .filter_map(|x| x.metric_name())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names,
            vec!["ModelCoverage", "ModelMAPE", "ModelMASE", "ModelNearMASE"],
            "{m}"
        );
    }
    let left = fx.receive(&train_url, 1, Duration::from_secs(2)).await;
    assert!(left.is_empty(), "every task was acknowledged");

    // Inference with the approved versions: items in DynamoDB (range query on `timestamp`)
    // and the Parquet copy in S3.
    let inf = Inferencer::new(
        fx.stores.clone(),
        config.clone(),
        Arc::new(gras_shared::metrics::NoMetrics),
        Arc::new(gras_shared::queue::MemoryQueue::default()),
    );
    let reports = inf.run(None).await.expect("infer");
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.predictions, 3 * 24, "{r}");
        let key = r.key.clone().expect("parquet key");
        fx.s3
            .head_object()
            .bucket(&fx.bucket)
            .key(&key)
            .send()
            .await
            .expect("predictions parquet");
    }
    let all = gras_shared::storage::table::query_all(
        &*fx.stores.tables,
        &PREDICTIONS,
        &Query::all("G#store-0001"),
    )
    .await
    .expect("query");
    assert_eq!(all.len(), 24);
    let first = Prediction::from_item(&all[0]).expect("prediction");
    let ts = |h: i64| {
        (first.ts + chrono::Duration::hours(h)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let q = Query {
        range: SkRange::Between(ts(1), ts(3)),
        ..Query::all("G#store-0001")
    };
    let ranged = gras_shared::storage::table::query_all(&*fx.stores.tables, &PREDICTIONS, &q)
        .await
        .expect("range query");
    assert_eq!(ranged.len(), 3);

    // Injected anomalies: forecasts by the approved version for the newest two days of one
    // series, all far above the actuals. The next run alerts on them (SQS + gras_alerts) and
    // finds accuracy drift: exactly one retrain request on the training queue.
    let g = MetricId::new("G").expect("id");
    let approved = registry::approved(&*fx.stores.tables, &g)
        .await
        .expect("approved")
        .expect("version");
    let end = gras_shared::pipeline::history::newest_silver_date(&fx.stores, &g)
        .await
        .expect("date")
        .expect("silver");
    let history = gras_shared::pipeline::history::load_history(
        &fx.stores,
        &g,
        end - chrono::Days::new(1),
        end,
        gras_shared::config::Frequency::HOURLY.micros(),
    )
    .await
    .expect("history");
    let h = history
        .iter()
        .find(|h| h.key.as_str() == "store-0002")
        .expect("series");
    let mut injected = Vec::new();
    for (i, v) in h.values.iter().enumerate() {
        let Some(v) = v else { continue };
        let ts = chrono::DateTime::from_timestamp_micros(h.start_us + i as i64 * 3_600_000_000)
            .expect("ts");
        let p = Prediction {
            metric: g.clone(),
            series: h.key.clone(),
            ts,
            value: v * 2.0 + 10.0,
            lower: v * 1.8 + 5.0,
            upper: v * 2.2 + 15.0,
            quantiles: Vec::new(),
            model_version: approved.version.to_string(),
            generated_at: ts,
        };
        injected.push(p.to_item());
    }
    let n_injected = injected.len();
    fx.stores
        .tables
        .batch_put(&PREDICTIONS, injected)
        .await
        .expect("inject");
    let alerts_url = fx
        .sqs
        .create_queue()
        .queue_name(format!("alerts{}", rand::random::<u32>()))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let monitor = Inferencer::new(
        fx.stores.clone(),
        config.clone(),
        Arc::new(gras_shared::metrics::NoMetrics),
        Arc::new(SqsQueue::new(fx.sqs.clone(), alerts_url.clone())),
    )
    .with_retrain_queue(Arc::new(SqsQueue::new(fx.sqs.clone(), train_url.clone())));
    let reports = monitor.run(Some("G")).await.expect("monitor run");
    assert!(reports[0].retrain_requested, "{:?}", reports[0]);
    let alert_msgs = fx
        .receive(&alerts_url, n_injected, Duration::from_secs(20))
        .await;
    let alerts: Vec<gras_shared::alerts::Alert> = alert_msgs
        .iter()
        .map(|(_, _, b)| serde_json::from_str(b).expect("alert"))
        .collect();
    let mine: Vec<&gras_shared::alerts::Alert> = alerts
        .iter()
        .filter(|a| a.series_key == "store-0002" && a.expected.is_some())
        .collect();
    assert_eq!(mine.len(), n_injected, "one alert per injected hour");
    let item = fx
        .ddb
        .get_item()
        .table_name(format!("{}gras_alerts", fx.settings.table_prefix))
        .key(
            "metric_id",
            aws_sdk_dynamodb::types::AttributeValue::S("G#store-0002".into()),
        )
        .key(
            "ts",
            aws_sdk_dynamodb::types::AttributeValue::S(mine[0].ts.clone()),
        )
        .send()
        .await
        .expect("get alert")
        .item
        .expect("alert item");
    assert!(item.contains_key("kind") && item.contains_key("ttl"));
    let requests = fx.receive(&train_url, 2, Duration::from_secs(5)).await;
    assert_eq!(requests.len(), 1, "exactly one retrain request");
    let task: TrainTask = serde_json::from_str(&requests[0].2).expect("task");
    assert_eq!(task.metric, "G");
    assert!(task.reason.contains("drift"), "{}", task.reason);

    // Again: the same alerts and the cool-down send nothing more.
    let again = monitor.run(Some("G")).await.expect("again");
    assert_eq!((again[0].alerts, again[0].retrain_requested), (0, false));
    fx.delete(&train_url, &requests[0].1).await;
    assert!(fx
        .receive(&train_url, 1, Duration::from_secs(3))
        .await
        .is_empty());
}
