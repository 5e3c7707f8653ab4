//! AWS adapters: the lake bucket on S3 and the tables on DynamoDB, with the official SDK.
//!
//! Clients are built once per cold start by [`AwsSettings::from_env`]; endpoint, region and
//! S3 path-style addressing are settable by environment so the same binary runs against
//! AWS and against an emulator (moto). Errors are classified here: throttling, 5xx and
//! transport failures are retryable, everything else is not.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, KeysAndAttributes, Put, PutRequest,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::blob::{validate_key, BlobError, BlobStore, ObjectMeta};
use super::table::{
    validate_item, Attr, Condition, Item, Page, Query, SkRange, TableError, TableSpec, TableStore,
    TxOp,
};

mod dynamodb;
mod s3;

pub use dynamodb::*;
pub use s3::*;

/// Environment variable: the lake bucket name.
pub const ENV_BUCKET: &str = "GRAS_LAKE_BUCKET";
/// Environment variable: prefix prepended to every DynamoDB table name (default none).
pub const ENV_TABLE_PREFIX: &str = "GRAS_TABLE_PREFIX";
/// Environment variable: `true` for path-style S3 addressing (emulators).
pub const ENV_PATH_STYLE: &str = "GRAS_S3_FORCE_PATH_STYLE";
/// Environment variable: endpoint for every AWS service (emulators); the SDK's own
/// `AWS_ENDPOINT_URL` works too.
pub const ENV_ENDPOINT: &str = "GRAS_AWS_ENDPOINT";

/// Settings and shared SDK configuration, read once per cold start.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// The SDK configuration (region, credentials, endpoint).
    pub sdk: aws_config::SdkConfig,
    /// Force path-style S3 addressing.
    pub path_style: bool,
    /// Prefix of table names.
    pub table_prefix: String,
}

impl AwsSettings {
    /// Loads the SDK configuration from the environment (region, credentials,
    /// `AWS_ENDPOINT_URL`), plus `GRAS_AWS_ENDPOINT`, `GRAS_S3_FORCE_PATH_STYLE` and
    /// `GRAS_TABLE_PREFIX`.
    pub async fn from_env() -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Ok(endpoint) = std::env::var(ENV_ENDPOINT) {
            if !endpoint.is_empty() {
                loader = loader.endpoint_url(endpoint);
            }
        }
        let sdk = loader.load().await;
        let path_style = std::env::var(ENV_PATH_STYLE).is_ok_and(|v| v == "true" || v == "1");
        let table_prefix = std::env::var(ENV_TABLE_PREFIX).unwrap_or_default();
        Self {
            sdk,
            path_style,
            table_prefix,
        }
    }

    /// An S3 client honouring the path-style setting.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.path_style)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// A CloudWatch client.
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    /// The lake bucket `bucket` and the tables under `table_prefix`, on new clients.
    pub fn stores(&self, bucket: &str) -> super::Stores {
        super::Stores {
            blobs: std::sync::Arc::new(S3BlobStore::new(self.s3(), bucket)),
            tables: std::sync::Arc::new(DynamoTableStore::new(
                self.dynamodb(),
                self.table_prefix.clone(),
            )),
        }
    }
}

/// Error codes that mean "slow down / try again".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
];

type SdkError<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// Classifies an SDK error: retryable when it is a transport failure, a timeout, an HTTP
/// 429/5xx, or a throttling/internal error code.
fn retryable<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            status == 429
                || status >= 500
                || err.code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    }
}

fn status_of<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The error with its whole chain of causes, as one message.
fn describe<E: std::error::Error + 'static>(err: &SdkError<E>) -> String {
    aws_sdk_s3::error::DisplayErrorContext(err).to_string()
}
