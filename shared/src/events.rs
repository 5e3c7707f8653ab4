//! Decoding S3 event notifications as they arrive in SQS message bodies.
//!
//! Pure and tolerant: a body may hold several records, an `s3:TestEvent` (sent when the
//! notification is configured), or something else entirely; keys are URL-encoded in the form
//! style (`+` for a space, then percent-escapes) and are decoded here.

use serde::Deserialize;

/// What one S3 record asks the features function to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Change {
    /// An object was created or overwritten.
    Created {
        /// The bucket.
        bucket: String,
        /// The decoded key.
        key: String,
    },
    /// An object was deleted.
    Removed {
        /// The bucket.
        bucket: String,
        /// The decoded key.
        key: String,
    },
    /// An event type the pipeline does not act on (restore, replication, ...).
    Other {
        /// The event name.
        event: String,
    },
}

/// The decoded content of one SQS message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// S3's test message; acknowledge and ignore.
    Test,
    /// One or more object changes.
    Changes(Vec<S3Change>),
}

/// Why a body could not be decoded; the message can never succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not an S3 notification.
    #[error("not an S3 event notification: {0}")]
    Shape(String),
    /// A key's escapes do not decode to UTF-8.
    #[error("object key {0:?} is not valid URL-encoded UTF-8")]
    Key(String),
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
}

/// Decodes an S3 event key: `+` becomes a space, then percent-escapes are decoded.
pub fn decode_key(raw: &str) -> Result<String, DecodeError> {
    let plus = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| DecodeError::Key(raw.to_string()))
}

/// Decodes an SQS message body holding an S3 notification.
pub fn decode_body(body: &str) -> Result<Notification, DecodeError> {
    let parsed: Body = serde_json::from_str(body).map_err(|e| DecodeError::Shape(e.to_string()))?;
    if parsed.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let records = parsed
        .records
        .ok_or_else(|| DecodeError::Shape("no Records".into()))?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let key = decode_key(&r.s3.object.key)?;
        let bucket = r.s3.bucket.name;
        out.push(if r.event_name.starts_with("ObjectCreated:") {
            S3Change::Created { bucket, key }
        } else if r.event_name.starts_with("ObjectRemoved:") {
            S3Change::Removed { bucket, key }
        } else {
            S3Change::Other {
                event: r.event_name,
            }
        });
    }
    Ok(Notification::Changes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(
            decode_key("bronze/gras/metric%3DG/a+b%2Bc.parquet").unwrap(),
            "bronze/gras/metric=G/a b+c.parquet"
        );
        assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
        assert!(decode_key("bad%FF").is_err());
        assert_eq!(decode_key("100%").unwrap(), "100%", "a lone % stays as is");
    }

    #[test]
    fn records_test_events_and_garbage() {
        let body = r#"{"Records":[
            {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"lake"},"object":{"key":"bronze/gras/metric%3DG/x.parquet","size":5}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"lake"},"object":{"key":"k"}}},
            {"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"lake"},"object":{"key":"k"}}}
        ]}"#;
        assert_eq!(
            decode_body(body).unwrap(),
            Notification::Changes(vec![
                S3Change::Created {
                    bucket: "lake".into(),
                    key: "bronze/gras/metric=G/x.parquet".into()
                },
                S3Change::Removed {
                    bucket: "lake".into(),
                    key: "k".into()
                },
                S3Change::Other {
                    event: "ObjectRestore:Completed".into()
                },
            ])
        );
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"lake","RequestId":"x","HostId":"y"}"#;
        assert_eq!(decode_body(test).unwrap(), Notification::Test);
        for bad in [
            "",
            "not json",
            "{}",
            r#"{"Records":[{"eventName":"x"}]}"#,
            "[1,2]",
        ] {
            assert!(decode_body(bad).is_err(), "{bad:?}");
        }
    }
}
