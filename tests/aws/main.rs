//! The end-to-end tests against the AWS API emulator (moto), one test binary: each module is
//! one part of the pipeline, its resources named apart from every other module's (random
//! suffixes, `tests/src/lib.rs`), so all of them run at once against one moto server.

// Test code: an unwrap is a failed assertion.
#![allow(clippy::unwrap_used)]

mod api;
mod events;
mod faults;
mod features;
mod registry;
mod soak;
mod train;
