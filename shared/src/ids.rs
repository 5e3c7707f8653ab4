//! Newtypes for the identifiers of the contract: metrics, series, model versions.
//!
//! They validate on construction so that a value that reached the core is safe to put in
//! an S3 key (`metric=<M>`) or a DynamoDB key (`<metric_id>#<series_key>`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Error for an identifier that cannot be used in keys and paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidId {
    /// Which identifier kind failed (`metric_id`, `series_key`, `model version`).
    pub kind: &'static str,
    /// The offending value.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// A configured business metric such as `G`, `R`, `A`, `S` (contract section 1).
///
/// Non-empty, at most 64 characters from `[A-Za-z0-9_-]`: it appears verbatim in
/// `metric=<M>` path segments and in DynamoDB keys, so `/`, `=`, `#` are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricId(String);

impl MetricId {
    /// Validates and wraps a metric id.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        let bad = |reason| InvalidId {
            kind: "metric_id",
            value: value.clone(),
            reason,
        };
        if value.is_empty() || value.len() > 64 {
            return Err(bad("must be 1 to 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad("only letters, digits, '_' and '-' are allowed"));
        }
        Ok(Self(value))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MetricId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<MetricId> for String {
    fn from(value: MetricId) -> Self {
        value.0
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The entity a series belongs to (region, user id...); `_all` when the row has none.
///
/// Any non-empty UTF-8 string up to 256 bytes without control characters or `#`
/// (the DynamoDB key separator of contract sections 5 and 7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeriesKey(String);

impl SeriesKey {
    /// The series key of rows without one (contract section 1).
    pub const ALL: &'static str = "_all";

    /// Validates and wraps a series key.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        let bad = |reason| InvalidId {
            kind: "series_key",
            value: value.clone(),
            reason,
        };
        if value.is_empty() || value.len() > 256 {
            return Err(bad("must be 1 to 256 bytes"));
        }
        if value.chars().any(|c| c.is_control() || c == '#') {
            return Err(bad("control characters and '#' are not allowed"));
        }
        Ok(Self(value))
    }

    /// The `_all` series.
    pub fn all() -> Self {
        Self(Self::ALL.to_string())
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the `_all` series.
    pub fn is_all(&self) -> bool {
        self.0 == Self::ALL
    }
}

impl TryFrom<String> for SeriesKey {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SeriesKey> for String {
    fn from(value: SeriesKey) -> Self {
        value.0
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A model version `v<YYYYMMDDHHMMSS>-<short id>` (contract section 6); sorts by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelVersion(String);

impl ModelVersion {
    /// Validates the `v<14 digits>-<1..16 lowercase alphanumerics>` shape.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        let ok = value.len() >= 17
            && value.starts_with('v')
            && value.as_bytes()[1..15].iter().all(u8::is_ascii_digit)
            && value.as_bytes()[15] == b'-'
            && (1..=16).contains(&(value.len() - 16))
            && value[16..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(value))
        } else {
            Err(InvalidId {
                kind: "model version",
                value,
                reason: "expected v<YYYYMMDDHHMMSS>-<short id>",
            })
        }
    }

    /// Builds a version from its creation time and a short id (lowercase alphanumerics).
    pub fn from_parts(
        created: chrono::DateTime<chrono::Utc>,
        short_id: &str,
    ) -> Result<Self, InvalidId> {
        Self::new(format!("v{}-{}", created.format("%Y%m%d%H%M%S"), short_id))
    }

    /// The version as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModelVersion {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ModelVersion> for String {
    fn from(value: ModelVersion) -> Self {
        value.0
    }
}

impl fmt::Display for ModelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_ids_are_path_safe() {
        assert!(MetricId::new("G").is_ok());
        assert!(MetricId::new("revenue_eu-1").is_ok());
        for bad in ["", "a/b", "a=b", "a#b", "a b", &"x".repeat(65)] {
            assert!(MetricId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn series_keys_refuse_separator_and_controls() {
        assert!(SeriesKey::new("eu-west / 1").is_ok());
        assert!(SeriesKey::new("a#b").is_err());
        assert!(SeriesKey::new("a\nb").is_err());
        assert!(SeriesKey::new("").is_err());
        assert!(SeriesKey::all().is_all());
    }

    #[test]
    fn model_versions_sort_by_time() {
        let a = ModelVersion::new("v20240101000000-abc123").unwrap();
        let b = ModelVersion::new("v20240102000000-000000").unwrap();
        assert!(a < b);
        assert!(ModelVersion::new("v2024010100000-abc").is_err());
        assert!(ModelVersion::new("v20240101000000-").is_err());
        assert!(ModelVersion::new("v20240101000000-ABC").is_err());
    }
}
