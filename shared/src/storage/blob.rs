//! The blob store port: the lake bucket as keys and bytes.

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object key, relative to the bucket root, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// Errors of a blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No object under this key.
    #[error("object not found: {key}")]
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// The key cannot name an object (empty segment, `..`, absolute path).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Local file system failure.
    #[error("i/o error on {key}: {source}")]
    Io {
        /// The key being accessed.
        key: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A remote backend failure (S3), classified as retryable (throttling, 5xx, timeouts)
    /// or not.
    #[error("storage backend error on {key} ({}): {source}", if *retryable { "retryable" } else { "permanent" })]
    Backend {
        /// The key being accessed.
        key: String,
        /// Whether trying again later may succeed.
        retryable: bool,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BlobError {
    /// True when the same call may succeed later (throttling, 5xx, timeouts, local I/O).
    pub fn is_retryable(&self) -> bool {
        match self {
            BlobError::NotFound { .. } | BlobError::InvalidKey { .. } => false,
            BlobError::Io { .. } => true,
            BlobError::Backend { retryable, .. } => *retryable,
        }
    }
}

/// The lake bucket. Keys are `/`-separated and relative to the bucket root.
///
/// Contract for implementors: `put` replaces an object whole and atomically (readers see
/// the old or the new bytes, never a mix); `delete` of a missing key succeeds; `list`
/// returns every object whose key starts with `prefix`, sorted by key.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Reads a whole object; [`BlobError::NotFound`] when absent.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Writes a whole object, replacing any previous one.
    async fn put(&self, key: &str, body: Bytes) -> Result<(), BlobError>;
    /// Deletes an object; succeeds when it does not exist.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Lists objects under a prefix, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BlobError>;
}

/// Checks a key is a relative, normalised `/` path (shared by all adapters).
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |reason| {
        Err(BlobError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty key");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return bad("leading or trailing '/'");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("empty, '.' or '..' segment");
    }
    if key.chars().any(|c| c == '\\' || c.is_control()) {
        return bad("backslash or control character");
    }
    Ok(())
}
