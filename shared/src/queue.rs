//! The queue port: messages to SQS (training tasks, retrain requests, alerts).
//!
//! Adapters: `SqsQueue` (feature `aws`) and [`MemoryQueue`] (tests, local runs).

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;

/// Sending failed.
#[derive(Debug, thiserror::Error)]
#[error("queue send failed ({}): {message}", if *retryable { "retryable" } else { "permanent" })]
pub struct QueueError {
    /// What went wrong.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
}

/// A message queue.
#[async_trait]
pub trait Queue: Send + Sync + Debug {
    /// Sends every body (in batches where the backend has them); all or an error.
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError>;
}

/// Keeps sent messages in memory.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<String>>,
}

impl MemoryQueue {
    /// Removes and returns every message sent so far.
    pub fn drain(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }
    /// A copy of every message sent so far.
    pub fn peek(&self) -> Vec<String> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(bodies);
        Ok(())
    }
}

/// A queue for use cases wired without one (the API's "analyze now" sends no alerts):
/// every send fails with a permanent error naming the queue's role.
#[derive(Debug, Clone, Copy)]
pub struct NoQueue(pub &'static str);

#[async_trait]
impl Queue for NoQueue {
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        Err(QueueError {
            message: format!("no {} queue is configured for this function", self.0),
            retryable: false,
        })
    }
}

/// Appends each message as one line to a file (the embedded backend's alerts queue).
#[derive(Debug)]
pub struct FileQueue {
    path: std::path::PathBuf,
    lock: Mutex<()>,
}

impl FileQueue {
    /// A queue writing to `path` (created with its folder on first send).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Queue for FileQueue {
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        use std::io::Write;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let err = |e: std::io::Error| QueueError {
            message: format!("{}: {e}", self.path.display()),
            retryable: false,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        for b in bodies {
            writeln!(f, "{}", b.replace('\n', " ")).map_err(err)?;
        }
        Ok(())
    }
}

/// An SQS queue by URL.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

#[cfg(feature = "aws")]
impl SqsQueue {
    /// A queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[cfg(feature = "aws")]
#[async_trait]
impl Queue for SqsQueue {
    /// SendMessageBatch in groups of 10, resending entries SQS reports as failed (up to 5
    /// attempts with backoff).
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        for chunk in bodies.chunks(10) {
            let mut pending: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("m{i}"), b.clone()))
                .collect();
            let mut delay = std::time::Duration::from_millis(50);
            for attempt in 0..5 {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| QueueError {
                        message: e.to_string(),
                        retryable: false,
                    })?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                match out {
                    Ok(out) => {
                        let failed: Vec<String> =
                            out.failed().iter().map(|f| f.id().to_string()).collect();
                        pending.retain(|(id, _)| failed.contains(id));
                        if pending.is_empty() {
                            break;
                        }
                    }
                    Err(e) if attempt == 4 => {
                        return Err(QueueError {
                            message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                            retryable: true,
                        })
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            if !pending.is_empty() {
                return Err(QueueError {
                    message: format!("{} messages not accepted by SQS", pending.len()),
                    retryable: true,
                });
            }
        }
        Ok(())
    }
}
