//! # gras-shared
//!
//! The library behind every gras Lambda and the `gras` CLI: the data contract's types
//! ([`contract`], [`ids`], [`config`]), the pure core (bronze reading, cleansing, features),
//! the storage ports with their adapters ([`storage`]), and the use cases that wire them
//! ([`pipeline`]).

pub mod alerts;
pub mod anomaly;
#[cfg(feature = "api")]
pub mod api;
pub mod artifact;
pub mod bronze;
pub mod cleanse;
pub mod column;
pub mod config;
pub mod contract;
pub mod drift;
pub mod events;
pub mod features;
pub mod forecast;
pub mod ids;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod metrics;
pub mod online;
pub mod parallel;
pub mod pipeline;
pub mod predictions;
pub mod queue;
pub mod registry;
pub mod silver;
pub mod state;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{Aggregation, Config, MetricConfig};
pub use ids::{MetricId, ModelVersion, SeriesKey};
