//! The features function's consumer as the Lambda SQS integration runs it, for the fault
//! and soak tests: receive a batch, call the same [`handle_batch`] the Lambda calls, delete
//! the messages that did not fail (the partial batch response), leave the others to be
//! redelivered and, past the queue's `maxReceiveCount`, dead-lettered.
//!
//! [`CrashAfter`] wraps the stores of a worker process and ends the process abruptly before
//! its `n+1`-th write, so a test can kill a worker between any two writes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use gras_shared::events::{decode_body, Notification, S3Change};
use gras_shared::metrics::MetricsSink;
use gras_shared::pipeline::features::FeatureEngine;
use gras_shared::pipeline::notifications::{handle_batch, FailureKind, Message};
use gras_shared::storage::blob::{BlobError, BlobStore, ObjectMeta};
use gras_shared::storage::table::{
    Condition, Item, Page, Query, TableError, TableSpec, TableStore, TxOp,
};
use gras_shared::storage::Stores;
use serde::{Deserialize, Serialize};

/// What the worker writes after a message id when it deleted the message.
pub const DELETED: &str = "deleted";

/// Exit status of a worker that crashed on purpose.
pub const CRASH_EXIT: i32 = 86;

/// Counts writes down and, before the write that would take it below zero, ends the process
/// ([`CrashAfter::new`]) or fails that write and every later one ([`CrashAfter::failing`]:
/// the in-process stand-in for a crash, so one test can stop at every write in turn).
#[derive(Debug, Clone)]
pub struct CrashAfter {
    left: Arc<AtomicI64>,
    exit: bool,
}

impl CrashAfter {
    /// Exit the process before write number `writes + 1` (blob and table writes together).
    pub fn new(writes: u64) -> Self {
        Self {
            left: Arc::new(AtomicI64::new(writes as i64)),
            exit: true,
        }
    }

    /// Fail write number `writes + 1` and all later ones with a retryable error.
    pub fn failing(writes: u64) -> Self {
        Self {
            left: Arc::new(AtomicI64::new(writes as i64)),
            exit: false,
        }
    }

    /// Writes done so far were fewer than the limit (the crash point was not reached).
    pub fn not_reached(&self) -> bool {
        self.left.load(Ordering::SeqCst) >= 0
    }

    /// Writes attempted so far by a counter made with `failing(limit)`.
    pub fn attempted(&self, limit: u64) -> u64 {
        (limit as i64 - self.left.load(Ordering::SeqCst)).max(0) as u64
    }

    fn before_write(&self, what: &str) -> Result<(), String> {
        if self.left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            if self.exit {
                eprintln!("fault worker: crashing before write ({what})");
                std::process::exit(CRASH_EXIT);
            }
            return Err(format!("injected crash before write ({what})"));
        }
        Ok(())
    }

    fn blob(&self, what: &str) -> Result<(), BlobError> {
        self.before_write(what)
            .map_err(|message| BlobError::Backend {
                key: what.to_string(),
                retryable: true,
                source: message.into(),
            })
    }

    fn table(&self, what: &'static str) -> Result<(), TableError> {
        self.before_write(what)
            .map_err(|message| TableError::Backend {
                table: what,
                retryable: true,
                source: message.into(),
            })
    }

    /// Wraps both stores.
    pub fn wrap(&self, stores: Stores) -> Stores {
        Stores {
            blobs: Arc::new(CrashBlobs {
                inner: stores.blobs,
                crash: self.clone(),
            }),
            tables: Arc::new(CrashTables {
                inner: stores.tables,
                crash: self.clone(),
            }),
        }
    }
}

#[derive(Debug)]
struct CrashBlobs {
    inner: Arc<dyn BlobStore>,
    crash: CrashAfter,
}

#[async_trait]
impl BlobStore for CrashBlobs {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Bytes) -> Result<(), BlobError> {
        self.crash.blob(key)?;
        self.inner.put(key, body).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.crash.blob(key)?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BlobError> {
        self.inner.list(prefix).await
    }
}

#[derive(Debug)]
struct CrashTables {
    inner: Arc<dyn TableStore>,
    crash: CrashAfter,
}

#[async_trait]
impl TableStore for CrashTables {
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.inner.get(table, pk, sk).await
    }
    async fn put(
        &self,
        table: &TableSpec,
        item: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.crash.table(table.name)?;
        self.inner.put(table, item, condition).await
    }
    async fn delete(
        &self,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.crash.table(table.name)?;
        self.inner.delete(table, pk, sk, condition).await
    }
    async fn batch_put(&self, table: &TableSpec, items: Vec<Item>) -> Result<(), TableError> {
        self.crash.table(table.name)?;
        self.inner.batch_put(table, items).await
    }
    async fn batch_delete(
        &self,
        table: &TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), TableError> {
        self.crash.table(table.name)?;
        self.inner.batch_delete(table, keys).await
    }
    async fn query(&self, table: &TableSpec, query: &Query) -> Result<Page, TableError> {
        self.inner.query(table, query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        self.crash.table("transaction")?;
        self.inner.transact(ops).await
    }
}

/// A message that failed, as the worker records it (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// SQS message id.
    pub message_id: String,
    /// The object key, when one was involved.
    pub key: Option<String>,
    /// `true` for a permanent failure (bad file): it will be dead-lettered.
    pub permanent: bool,
    /// Why.
    pub reason: String,
}

/// What a consumer did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeReport {
    /// Messages received (redeliveries included).
    pub received: u64,
    /// Messages deleted after success.
    pub deleted: u64,
    /// Deletions that failed (the message comes back and is replayed).
    pub delete_errors: u64,
    /// Receive calls that failed.
    pub receive_errors: u64,
    /// Every failed message.
    pub failures: Vec<FailureRecord>,
    /// Objects processed, replayed, ignored (from the batch summaries).
    pub processed: u64,
    /// Replays skipped as already processed.
    pub replays: u64,
    /// When a message was last deleted after success.
    pub last_success: Option<Instant>,
}

impl ConsumeReport {
    /// Adds another report.
    pub fn merge(&mut self, o: ConsumeReport) {
        self.received += o.received;
        self.deleted += o.deleted;
        self.delete_errors += o.delete_errors;
        self.receive_errors += o.receive_errors;
        self.failures.extend(o.failures);
        self.processed += o.processed;
        self.replays += o.replays;
        self.last_success = self.last_success.max(o.last_success);
    }
}

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Messages per receive (Lambda's batch size, at most 10).
    pub batch: i32,
    /// Stop after this long without receiving anything.
    pub idle_exit: Duration,
    /// Stop after this long in any case.
    pub max_run: Duration,
}

/// What a consumer reports as it goes.
#[derive(Debug)]
pub enum ConsumeEvent<'a> {
    /// A message was received: its id and body.
    Received(&'a str, &'a str),
    /// A message failed.
    Failed(&'a FailureRecord),
    /// A message was deleted after success: its id.
    Deleted(&'a str),
}

/// Receives and processes messages until the queue stays empty for `idle_exit`.
/// `on_event` sees each received message and each failure as they happen (the worker
/// process appends them to files, so a crash loses none).
pub async fn consume(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    engine: &FeatureEngine,
    bucket: &str,
    metrics: &dyn MetricsSink,
    opts: &ConsumeOptions,
    mut on_event: impl FnMut(ConsumeEvent<'_>),
) -> ConsumeReport {
    let mut report = ConsumeReport::default();
    let started = Instant::now();
    let mut idle_since = Instant::now();
    while started.elapsed() < opts.max_run && idle_since.elapsed() < opts.idle_exit {
        let received = match sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(opts.batch)
            .wait_time_seconds(1)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "receive failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                );
                report.receive_errors += 1;
                continue;
            }
        };
        let msgs = received.messages();
        if msgs.is_empty() {
            continue;
        }
        idle_since = Instant::now();
        report.received += msgs.len() as u64;
        for m in msgs {
            on_event(ConsumeEvent::Received(
                m.message_id().unwrap_or_default(),
                m.body().unwrap_or_default(),
            ));
        }
        let batch: Vec<Message> = msgs
            .iter()
            .map(|m| Message {
                id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
            })
            .collect();
        let out = handle_batch(engine, bucket, &batch, metrics).await;
        report.processed += out.summary.files;
        report.replays += out.summary.replays;
        for f in &out.failures {
            let rec = FailureRecord {
                message_id: f.message_id.clone(),
                key: f.key.clone(),
                permanent: f.kind == FailureKind::Permanent,
                reason: f.reason.clone(),
            };
            on_event(ConsumeEvent::Failed(&rec));
            report.failures.push(rec);
        }
        let failed = out.failed_ids();
        for m in msgs {
            let id = m.message_id().unwrap_or_default();
            if failed.iter().any(|f| f == id) {
                continue;
            }
            match sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
            {
                Ok(_) => {
                    on_event(ConsumeEvent::Deleted(id));
                    report.deleted += 1;
                    report.last_success = Some(Instant::now());
                }
                Err(_) => report.delete_errors += 1,
            }
        }
    }
    report
}

/// The object keys an SQS body notifies of; `None` when it is not an object notification
/// (an `s3:TestEvent`, or not a notification at all).
pub fn notified_keys(body: &str) -> Option<Vec<String>> {
    match decode_body(body) {
        Ok(Notification::Changes(changes)) => Some(
            changes
                .into_iter()
                .filter_map(|c| match c {
                    S3Change::Created { key, .. } | S3Change::Removed { key, .. } => Some(key),
                    S3Change::Other { .. } => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Messages still in a queue: visible plus in flight (approximate, as SQS reports them).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let Ok(attrs) = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
    else {
        return u64::MAX;
    };
    let get = |a: A| {
        attrs
            .attributes()
            .and_then(|m| m.get(&a))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(A::ApproximateNumberOfMessages)
        + get(A::ApproximateNumberOfMessagesNotVisible)
        + get(A::ApproximateNumberOfMessagesDelayed)
}

/// Drains a queue (e.g. a DLQ) for inspection: every message body, each deleted.
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let r = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if r.messages().is_empty() {
            empty += 1;
            continue;
        }
        for m in r.messages() {
            out.push(m.body().unwrap_or_default().to_string());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    out
}
