//! Use cases: each wires the pure core to the storage ports. Handlers (Lambda, CLI, HTTP)
//! translate their input to one call here and the result back.

pub mod features;
pub mod history;
pub mod infer;
pub mod notifications;
pub mod train;

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of the current time, injectable for tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}
