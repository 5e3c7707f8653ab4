//! Anomalies (contract v2 §8): the causal per-series [`detector`] that scores every bucket,
//! the calibration of its evidence ([`tail`]), and the grouping of anomalous buckets into
//! [`events`]. Pure code over values and timestamps: the features path, batch inference and
//! `gras replay` all score with it.

mod baseline;
pub mod detector;
pub mod events;
pub mod tail;

use serde::{Deserialize, Serialize};

pub use detector::{Detector, Scored};

/// Deterministic test noise: an approximately standard normal draw (the sum of 12
/// uniforms, less 6) from the xorshift state `x`, which it advances.
#[cfg(test)]
pub(crate) fn approx_normal(x: &mut u64) -> f64 {
    let mut s = 0.0;
    for _ in 0..12 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        s += (*x >> 11) as f64 / (1u64 << 53) as f64;
    }
    s - 6.0
}
pub use events::{Event, Severity};

/// What kind of deviation an anomalous bucket or event is (contract §8 `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Above what is expected, briefly.
    Spike,
    /// Below what is expected, briefly.
    Dip,
    /// A persisting move to another level.
    LevelShift,
    /// The spread around what is expected changed.
    VarianceChange,
    /// The value stopped changing.
    Flatline,
    /// The series stopped delivering buckets.
    MissingData,
}

impl Kind {
    /// The contract's spelling (`spike`, `level_shift`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Spike => "spike",
            Kind::Dip => "dip",
            Kind::LevelShift => "level_shift",
            Kind::VarianceChange => "variance_change",
            Kind::Flatline => "flatline",
            Kind::MissingData => "missing_data",
        }
    }
}
