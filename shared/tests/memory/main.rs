//! The library's end-to-end tests on in-memory stores, one test binary (one link instead of
//! seven): bronze reading, the incremental feature path, training, inference and the HTTP
//! router, each module one part of the pipeline. `tests/span.rs` stays a binary of its own:
//! it installs a process-wide tracing subscriber.

// Test code: an unwrap is a failed assertion.
#![allow(clippy::unwrap_used)]

mod api;
mod bounds;
mod bronze_corrupt;
mod bronze_types;
mod dashboard;
mod incremental;
mod infer;
mod observed_rules;
mod train;
mod window_totals;

/// The runtime of the tests that drive the engine from a plain `#[test]` (proptest cases
/// among them): two worker threads, as a small Lambda has.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
