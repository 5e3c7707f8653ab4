//! Storage ports and their adapters.
//!
//! Two small ports carry all I/O of the pipeline:
//! - [`BlobStore`]: the lake bucket (S3 in AWS, a folder locally, a map in memory);
//! - [`TableStore`]: DynamoDB-shaped tables (DynamoDB in AWS, SQLite locally, a map in memory).
//!
//! Adapters live one per module; `conformance` (built for tests and with the `testkit`
//! feature, not into the Lambdas) is the one test suite all of them pass.

#[cfg(feature = "aws")]
pub mod aws;
pub mod blob;
pub mod codec;
#[cfg(any(test, feature = "testkit"))]
pub mod conformance;
pub mod fs;
pub mod memory;
pub mod sqlite;
pub mod table;

pub use blob::{BlobError, BlobStore, ObjectMeta};
pub use table::{
    Attr, Condition, Item, Page, Query, SkRange, TableError, TableSpec, TableStore, TxOp,
};

use std::path::Path;
use std::sync::Arc;

/// The pair of stores a use case runs on.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The lake bucket.
    pub blobs: Arc<dyn BlobStore>,
    /// The tables.
    pub tables: Arc<dyn TableStore>,
}

impl Stores {
    /// The embedded local backend: the lake is the folder `dir` (same key layout as the
    /// bucket) and the tables live in the SQLite file `dir/.gras/state.db`.
    pub fn local(dir: &Path) -> Result<Self, TableError> {
        let blobs = fs::LocalBlobStore::new(dir);
        let tables = sqlite::SqliteTableStore::open(&dir.join(".gras").join("state.db"))?;
        Ok(Self {
            blobs: Arc::new(blobs),
            tables: Arc::new(tables),
        })
    }

    /// Fresh in-memory stores, for tests.
    pub fn memory() -> Self {
        Self {
            blobs: Arc::new(memory::MemoryBlobStore::default()),
            tables: Arc::new(memory::MemoryTableStore::default()),
        }
    }
}
