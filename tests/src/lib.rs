//! Support for the integration tests: a moto server on 127.0.0.1 and fixtures of real AWS
//! resources on it (bucket with notifications to SQS, queues with a dead-letter queue,
//! DynamoDB tables).
//!
//! The test script starts moto and exports `GRAS_TEST_AWS_ENDPOINT` (and a single-threaded
//! moto for transaction races, `GRAS_TEST_AWS_SERIAL_ENDPOINT`); without them, the tests start
//! the servers themselves (moto is installed by `scripts/test.sh`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use gras_shared::storage::aws::AwsSettings;
use gras_shared::storage::{Stores, TableSpec};

pub mod faults;
pub mod scenario;
pub mod worker;

/// Environment variable naming a running emulator's endpoint.
pub const ENV_ENDPOINT: &str = "GRAS_TEST_AWS_ENDPOINT";

/// Environment variable naming a running single-threaded emulator (`scripts/moto_serial.py`),
/// used by [`Moto::start_serial`].
pub const ENV_SERIAL_ENDPOINT: &str = "GRAS_TEST_AWS_SERIAL_ENDPOINT";

/// A moto server, started here or already running.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    /// Uses `GRAS_TEST_AWS_ENDPOINT`, or starts `moto_server` on a free loopback port.
    pub fn start() -> Self {
        Self::from_env_or_spawn(ENV_ENDPOINT, "moto_server", &["-H", "127.0.0.1", "-p"])
    }

    /// A moto that serves one request at a time: `GRAS_TEST_AWS_SERIAL_ENDPOINT`, or
    /// `scripts/moto_serial.py` started on a free loopback port.
    ///
    /// For races between conditional transactions only: threaded moto does not isolate
    /// concurrent TransactWriteItems calls (two can commit on the same condition), which
    /// DynamoDB never allows; serialized requests give DynamoDB's outcome. Not for SQS
    /// long polls, which would hold the server.
    pub fn start_serial() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto_serial.py");
        Self::from_env_or_spawn(ENV_SERIAL_ENDPOINT, "python3", &[script])
    }

    /// The endpoint in `env`, else `program args... <free port>` waited for until it listens.
    fn from_env_or_spawn(env: &str, program: &str, args: &[&str]) -> Self {
        if let Ok(endpoint) = std::env::var(env) {
            if !endpoint.is_empty() {
                return Self {
                    endpoint,
                    child: None,
                };
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(program)
            .args(args)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): run `bash scripts/test.sh`, or `pip install 'moto[server]'`, or set {env}")
            });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{program} did not listen on {addr} within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            endpoint: format!("http://{addr}"),
            child: Some(child),
        }
    }

    /// SDK settings pointing at the emulator (static test credentials, us-east-1,
    /// path-style S3).
    pub async fn settings(&self, table_prefix: &str) -> AwsSettings {
        settings_for(&self.endpoint, table_prefix).await
    }
}

/// SDK settings for an endpoint (the emulator or a proxy in front of it): static test
/// credentials, us-east-1, path-style S3.
pub async fn settings_for(endpoint: &str, table_prefix: &str) -> AwsSettings {
    let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "moto");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    AwsSettings {
        sdk,
        path_style: true,
        table_prefix: table_prefix.to_string(),
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads a number from the environment (test sizes), `default` when unset or unparsable.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Real resources on the emulator, named uniquely per fixture so tests run in parallel.
#[derive(Debug)]
pub struct Fixture {
    /// SDK settings.
    pub settings: AwsSettings,
    /// The lake bucket.
    pub bucket: String,
    /// The bronze notification queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
    /// Stores over the bucket and the prefixed tables.
    pub stores: Stores,
    /// The table name prefix.
    pub prefix: String,
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB client.
    pub ddb: aws_sdk_dynamodb::Client,
}

/// Creates a DynamoDB table for a spec (on-demand billing).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, prefix: &str, spec: &TableSpec) {
    let mut req = ddb
        .create_table()
        .table_name(format!("{prefix}{}", spec.name))
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(spec.pk)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(spec.pk)
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        );
    if let Some(sk) = spec.sk {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(sk)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attr"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(sk)
                    .key_type(KeyType::Range)
                    .build()
                    .expect("key"),
            );
    }
    req.send().await.expect("create table");
}

impl Fixture {
    /// Bucket + notification to a queue with a DLQ (`max_receive` receives), and `tables`.
    pub async fn new(moto: &Moto, name: &str, tables: &[TableSpec], max_receive: u32) -> Self {
        Self::with_queue(moto, name, tables, max_receive, 1, false).await
    }

    /// As [`Fixture::new`], with the bronze queue's visibility timeout in seconds and, when
    /// `bronze_only`, the template's notification filter (prefix `bronze/gras/`, suffix
    /// `.parquet`) so that the lake's own writes do not notify.
    pub async fn with_queue(
        moto: &Moto,
        name: &str,
        tables: &[TableSpec],
        max_receive: u32,
        visibility_secs: u32,
        bronze_only: bool,
    ) -> Self {
        let id: u32 = rand::random::<u32>() % 1_000_000;
        let prefix = format!("{name}{id}_");
        let settings = moto.settings(&prefix).await;
        let (s3, sqs, ddb) = (settings.s3(), settings.sqs(), settings.dynamodb());
        let bucket = format!("lake-{name}-{id}").to_lowercase().replace('_', "-");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");

        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}bronze-dlq"))
            .send()
            .await
            .expect("dlq")
            .queue_url
            .expect("url");
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive}"}}"#);
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}bronze"))
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_secs.to_string(),
            )
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        let arn = queue_arn(&sqs, &queue_url).await;
        let notification = NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .queue_arn(arn)
                    .events(Event::from("s3:ObjectCreated:*"))
                    .events(Event::from("s3:ObjectRemoved:*"))
                    .set_filter(bronze_only.then(|| {
                        let rule = |n: FilterRuleName, v: &str| {
                            FilterRule::builder().name(n).value(v).build()
                        };
                        NotificationConfigurationFilter::builder()
                            .key(
                                S3KeyFilter::builder()
                                    .filter_rules(rule(FilterRuleName::Prefix, "bronze/gras/"))
                                    .filter_rules(rule(FilterRuleName::Suffix, ".parquet"))
                                    .build(),
                            )
                            .build()
                    }))
                    .build()
                    .expect("queue config"),
            )
            .build();
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(notification)
            .send()
            .await
            .expect("notification");
        for t in tables {
            create_table(&ddb, &prefix, t).await;
        }
        let stores = settings.stores(&bucket);
        Self {
            settings,
            bucket,
            queue_url,
            dlq_url,
            stores,
            prefix,
            s3,
            sqs,
            ddb,
        }
    }

    /// Puts objects into the bucket in order, as the producer does (through the raw S3 client,
    /// so every put notifies).
    pub async fn upload(&self, uploads: &[scenario::Upload]) {
        for u in uploads {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&u.key)
                .body(aws_sdk_s3::primitives::ByteStream::from(u.body.clone()))
                .send()
                .await
                .expect("upload");
        }
    }

    /// Stores over the same bucket and tables reached through another endpoint (a proxy).
    pub async fn stores_via(&self, endpoint: &str) -> (Stores, AwsSettings) {
        let settings = settings_for(endpoint, &self.prefix).await;
        (settings.stores(&self.bucket), settings)
    }

    /// Receives messages until `want` arrived or `timeout` passed: `(id, receipt, body)`.
    pub async fn receive(
        &self,
        queue_url: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < want && Instant::now() < deadline {
            let r = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            for m in r.messages() {
                out.push((
                    m.message_id().unwrap_or_default().to_string(),
                    m.receipt_handle().unwrap_or_default().to_string(),
                    m.body().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    }

    /// Deletes a received message (what Lambda's SQS integration does on success).
    pub async fn delete(&self, queue_url: &str, receipt: &str) {
        self.sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .expect("delete message");
    }
}

/// The ARN of a queue.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attrs");
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .expect("queue arn")
}
