//! Fuzz target: the features function's input path. The input is read three ways:
//!
//! 1. as an SQS message body carrying an S3 notification
//!    ([`gras_shared::events::decode_body`]);
//! 2. as a raw, form-encoded object key ([`gras_shared::events::decode_key`]);
//! 3. as the whole SQS event the Lambda runtime hands the features function
//!    (`aws_lambda_events`' `SqsEvent`, deserialized from the bytes as the runtime does), whose
//!    messages then go through the batch use case
//!    ([`gras_shared::pipeline::notifications::handle_batch`]) on fresh in-memory stores
//!    holding one good and one broken bronze object at the keys of `events/`.
//!
//! Oracle: nothing panics; a decoded body agrees with a plain JSON reading of it (number of
//! records, event kinds, keys); a decoded key re-encodes and decodes to itself; a batch
//! accounts for every change of every decodable message exactly once (processed, replayed,
//! removed, ignored or failed), reports each test event, and fails only messages it was given,
//! each at most once.

#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use gras_shared::events::{decode_body, decode_key, Notification, S3Change};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::{EngineOptions, FeatureEngine};
use gras_shared::pipeline::notifications::{handle_batch, Message};
use gras_shared::storage::Stores;
use gras_shared::testkit::BronzeFile;
use gras_shared::Config;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;
use tokio::runtime::Runtime;

/// The lake bucket of the sample events.
const BUCKET: &str = "gras-lake-local";

/// What every run shares: the runtime, the configuration and the two bronze objects.
struct Fixture {
    rt: Runtime,
    config: Arc<Config>,
    objects: Vec<(String, Bytes)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime");
        // The keys of events/sqs-s3-put.json and events/sqs-batch-test-bad-good.json.
        let good = BronzeFile::dense("G", 0, "part 0000.parquet", &[]);
        let broken = BronzeFile::dense("G", 1, "broken file.parquet", &[]);
        Fixture {
            rt,
            config: Arc::new(Config::gras_defaults()),
            objects: vec![
                (good.key(), good.body()),
                (broken.key(), Bytes::from_static(b"not parquet")),
            ],
        }
    })
}

/// Cross-checks `decode_body` against a plain JSON reading of the same text.
fn check_body(body: &str) {
    let notification = match decode_body(body) {
        Ok(n) => n,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error says why");
            return;
        }
    };
    let json: Value = serde_json::from_str(body).expect("a decoded body is JSON");
    // serde also accepts a struct written as an array; only objects are cross-checked.
    let Some(object) = json.as_object() else {
        return;
    };
    match notification {
        Notification::Test => {
            assert_eq!(object.get("Event"), Some(&Value::from("s3:TestEvent")));
        }
        Notification::Changes(changes) => {
            let records = object
                .get("Records")
                .and_then(Value::as_array)
                .expect("changes come from a Records array");
            assert_eq!(records.len(), changes.len(), "one change per record");
            for (record, change) in records.iter().zip(&changes) {
                let name = record.get("eventName").and_then(Value::as_str);
                let raw_key = record
                    .pointer("/s3/object/key")
                    .and_then(Value::as_str)
                    .map(|k| decode_key(k).expect("the key decoded once"));
                let bucket = record.pointer("/s3/bucket/name").and_then(Value::as_str);
                match change {
                    S3Change::Created { bucket: b, key } => {
                        assert!(name.is_none_or(|n| n.starts_with("ObjectCreated:")));
                        assert!(raw_key.is_none_or(|k| &k == key), "{key:?}");
                        assert!(bucket.is_none_or(|x| x == b));
                    }
                    S3Change::Removed { bucket: b, key } => {
                        assert!(name.is_none_or(|n| n.starts_with("ObjectRemoved:")));
                        assert!(raw_key.is_none_or(|k| &k == key), "{key:?}");
                        assert!(bucket.is_none_or(|x| x == b));
                    }
                    S3Change::Other { event } => {
                        assert!(!event.starts_with("ObjectCreated:"));
                        assert!(!event.starts_with("ObjectRemoved:"));
                        assert!(name.is_none_or(|n| n == event));
                    }
                }
            }
        }
    }
}

/// `decode_key` undoes S3's encoding: any key it yields, percent-encoded, decodes to itself;
/// text without `%` or `+` is left as it is.
fn check_key(raw: &str) {
    match decode_key(raw) {
        Ok(key) => {
            let encoded = utf8_percent_encode(&key, NON_ALPHANUMERIC).to_string();
            assert_eq!(decode_key(&encoded).as_ref(), Ok(&key), "round trip");
            if !raw.contains(['%', '+']) {
                assert_eq!(key, raw, "nothing to decode");
            }
        }
        Err(e) => assert!(raw.contains('%'), "only escapes can fail: {e}"),
    }
}

/// The messages of an SQS event, as `gras_shared::lambda::sqs_messages` builds them (that
/// function is behind the `aws` feature; see Cargo.toml).
fn sqs_messages(event: SqsEvent) -> Vec<Message> {
    event
        .records
        .into_iter()
        .map(|r| Message {
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

/// Runs the batch use case on fresh stores and checks that every change is accounted for.
fn check_batch(messages: &[Message]) {
    let fx = fixture();
    let stores = Stores::memory();
    let engine =
        FeatureEngine::new(stores.clone(), fx.config.clone()).with_options(EngineOptions {
            // A missing object is gone at once: no back-off sleeps in a fuzz run.
            not_found_retries: 0,
            not_found_delay: Duration::ZERO,
            ..EngineOptions::default()
        });
    let outcome = fx.rt.block_on(async {
        for (key, body) in &fx.objects {
            stores
                .blobs
                .put(key, body.clone())
                .await
                .expect("memory put");
        }
        handle_batch(&engine, BUCKET, messages, &NoMetrics).await
    });

    let (mut changes, mut tests) = (0, 0);
    for m in messages {
        match decode_body(&m.body) {
            Ok(Notification::Changes(c)) => changes += c.len(),
            Ok(Notification::Test) => tests += 1,
            Err(_) => {}
        }
    }
    let s = &outcome.summary;
    assert_eq!(
        outcome.test_events, tests,
        "every test event is acknowledged"
    );
    assert_eq!(
        s.files + s.replays + s.removed + s.ignored + s.failed.len() as u64,
        changes as u64,
        "every change is accounted for once: {s}"
    );
    let ids: HashSet<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    assert!(
        outcome.failures.len() <= messages.len(),
        "one failure per message at most"
    );
    for f in &outcome.failures {
        assert!(
            ids.contains(f.message_id.as_str()),
            "{f:?} names a message of the batch"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<SqsEvent>(data) {
        let messages = sqs_messages(event);
        for m in &messages {
            check_body(&m.body);
        }
        check_batch(&messages);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_body(text);
    check_key(text);
});
