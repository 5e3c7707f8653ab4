//! The features function's use case: a batch of SQS messages carrying S3 notifications,
//! their object changes applied in order (new objects of one metric share their
//! recomputation); the result lists only the messages that failed (SQS partial batch
//! response), so one bad file never fails the others.

use std::time::Instant;

use serde::Serialize;
use tracing::{error, info, warn};

use super::features::{Change, FeatureEngine, ObjectOutcome, RunSummary};
use crate::bronze::Rejections;
use crate::events::{decode_body, Notification, S3Change};
use crate::metrics::{Datum, MetricsSink, Unit, NAMESPACE};

/// One SQS message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The SQS message id (returned when it fails).
    pub id: String,
    /// The body: an S3 event notification.
    pub body: String,
}

/// How a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Throttling, 5xx, a busy partition: redelivery will likely succeed.
    Retryable,
    /// A bad file or an undecodable body: it will end in the dead-letter queue.
    Permanent,
}

/// A failed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageFailure {
    /// The SQS message id.
    pub message_id: String,
    /// The object key, when one was involved.
    pub key: Option<String>,
    /// How it failed.
    pub kind: FailureKind,
    /// Why.
    pub reason: String,
}

/// The outcome of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchOutcome {
    /// Failed messages (each listed once).
    pub failures: Vec<MessageFailure>,
    /// Totals over the processed objects.
    pub summary: RunSummary,
    /// Messages that were S3 test events.
    pub test_events: u64,
}

impl BatchOutcome {
    /// The ids of failed messages, for the partial batch response.
    pub fn failed_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.failures.iter().map(|f| f.message_id.clone()).collect();
        ids.dedup();
        ids
    }
}

/// Processes a batch of messages for the lake bucket `bucket`.
pub async fn handle_batch(
    engine: &FeatureEngine,
    bucket: &str,
    messages: &[Message],
    metrics: &dyn MetricsSink,
) -> BatchOutcome {
    let started = Instant::now();
    let mut out = BatchOutcome::default();
    let mut partitions = std::collections::BTreeSet::new();
    // The batch's object changes, in order, with the id of the message of each.
    let (mut ids, mut batch): (Vec<&str>, Vec<Change>) = (Vec::new(), Vec::new());
    for m in messages {
        let changes = match decode_body(&m.body) {
            Ok(Notification::Test) => {
                info!(message_id = %m.id, "s3:TestEvent acknowledged");
                out.test_events += 1;
                continue;
            }
            Ok(Notification::Changes(c)) => c,
            Err(e) => {
                error!(message_id = %m.id, error_kind = "permanent", reason = %e, "undecodable message");
                out.failures.push(MessageFailure {
                    message_id: m.id.clone(),
                    key: None,
                    kind: FailureKind::Permanent,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        for change in changes {
            match change {
                S3Change::Created { bucket: b, key } | S3Change::Removed { bucket: b, key }
                    if b != bucket =>
                {
                    warn!(message_id = %m.id, bucket = %b, key = %key, "event for another bucket ignored");
                    out.summary.ignored += 1;
                }
                S3Change::Created { key, .. } => {
                    ids.push(m.id.as_str());
                    batch.push(Change::Created(key));
                }
                S3Change::Removed { key, .. } => {
                    ids.push(m.id.as_str());
                    batch.push(Change::Removed(key));
                }
                S3Change::Other { event } => {
                    info!(message_id = %m.id, event = %event, "event type ignored");
                    out.summary.ignored += 1;
                }
            }
        }
    }
    // One pass over the batch's changes, in order: new objects of a metric share their
    // recomputation (see `FeatureEngine::apply`).
    let results = engine.apply(&batch).await;
    for ((message_id, change), result) in ids.into_iter().zip(&batch).zip(results) {
        let key = change.key().to_string();
        match result {
            Ok(report) => {
                if let ObjectOutcome::Ignored { reason } = &report.outcome {
                    info!(key = %key, reason = %reason, "non-bronze key ignored");
                }
                out.summary.add(&report, &mut partitions);
            }
            Err(e) => {
                let kind = if e.is_retryable() {
                    FailureKind::Retryable
                } else {
                    FailureKind::Permanent
                };
                if kind == FailureKind::Retryable {
                    warn!(message_id = %message_id, key = %key, error_kind = "retryable", reason = %e, "object failed; SQS will redeliver");
                } else {
                    error!(message_id = %message_id, key = %key, error_kind = "permanent", reason = %e, "object rejected; after the receive limit the message goes to the dead-letter queue");
                }
                out.summary.failed.push(super::features::FileFailure {
                    key: key.clone(),
                    reason: e.to_string(),
                    retryable: e.is_retryable(),
                });
                if !out.failures.iter().any(|f| f.message_id == message_id) {
                    out.failures.push(MessageFailure {
                        message_id: message_id.to_string(),
                        key: Some(key),
                        kind,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    out.summary.partitions_written = partitions.len() as u64;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Err(e) = metrics
        .put(NAMESPACE, invocation_metrics(&out, elapsed_ms))
        .await
    {
        warn!(error = %e, "metrics not published");
    }
    out
}

/// The per-invocation metrics of the features function.
pub fn invocation_metrics(out: &BatchOutcome, duration_ms: f64) -> Vec<Datum> {
    let f = [("Function", "features")];
    let s = &out.summary;
    let mut data = vec![
        Datum::new("Files", s.files as f64, Unit::Count, &f),
        Datum::new("FilesFailed", s.failed.len() as f64, Unit::Count, &f),
        Datum::new("Replays", s.replays as f64, Unit::Count, &f),
        Datum::new("RowsRead", s.rows_read as f64, Unit::Count, &f),
        Datum::new("RowsRejected", s.rejected.total() as f64, Unit::Count, &f),
        Datum::new(
            "PartitionsWritten",
            s.partitions_written as f64,
            Unit::Count,
            &f,
        ),
        Datum::new("Rebuilds", s.rebuilds as f64, Unit::Count, &f),
        Datum::new("Duration", duration_ms, Unit::Milliseconds, &f),
    ];
    let Rejections(by_reason) = &s.rejected;
    for (reason, n) in by_reason {
        data.push(Datum::new(
            "RowsRejected",
            *n as f64,
            Unit::Count,
            &[("Function", "features"), ("Reason", reason.as_str())],
        ));
    }
    data
}
