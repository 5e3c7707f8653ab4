//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the emulator.
//!
//! The SDK clients of the code under test point at the proxy instead of moto. For each
//! request the proxy tells the service apart (by the SigV4 credential scope) and, with the configured
//! probability, injects one fault drawn from the enabled [`FaultKind`]s:
//!
//! - `Delay`: forwards after a pause (tens to hundreds of milliseconds);
//! - `DropRequest`: closes the connection without forwarding (a transport failure);
//! - `DropResponse`: forwards, then closes the connection instead of answering: the call
//!   took effect but its caller cannot know (the case idempotency has to handle);
//! - `ServerError`: answers HTTP 500 with the service's own error shape (`InternalError`,
//!   `InternalFailure`), without forwarding;
//! - `Throttle`: answers the service's throttling error (S3 `503 SlowDown`, DynamoDB
//!   `ProvisionedThroughputExceededException`, SQS `RequestThrottled`), without forwarding.
//!
//! Decisions come from a seeded generator, so a run's fault sequence is reproducible up to
//! the order of concurrent requests. Counts by service and kind are kept for the report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;

/// The AWS service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// S3.
    S3,
    /// DynamoDB.
    DynamoDb,
    /// SQS.
    Sqs,
    /// CloudWatch or anything else (never faulted).
    Other,
}

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Forward after a pause.
    Delay,
    /// Close the connection without forwarding.
    DropRequest,
    /// Forward, then close the connection without answering.
    DropResponse,
    /// Answer a 500 internal error without forwarding.
    ServerError,
    /// Answer the service's throttling error without forwarding.
    Throttle,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Delay,
        FaultKind::DropRequest,
        FaultKind::DropResponse,
        FaultKind::ServerError,
        FaultKind::Throttle,
    ];
}

/// What the proxy injects.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Probability that a request to a faulted service gets a fault.
    pub rate: f64,
    /// Kinds drawn from, uniformly.
    pub kinds: Vec<FaultKind>,
    /// Services faulted.
    pub services: Vec<Service>,
    /// Longest injected delay.
    pub max_delay: Duration,
}

impl FaultPlan {
    /// No faults: a transparent proxy.
    pub fn none() -> Self {
        Self {
            rate: 0.0,
            kinds: FaultKind::ALL.to_vec(),
            services: vec![Service::S3, Service::DynamoDb, Service::Sqs],
            max_delay: Duration::from_millis(200),
        }
    }

    /// Every kind at `rate` on S3, DynamoDB and SQS.
    pub fn all(rate: f64) -> Self {
        Self {
            rate,
            ..Self::none()
        }
    }
}

/// Counters of requests and injected faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultStats {
    /// Requests seen, by service.
    pub requests: BTreeMap<Service, u64>,
    /// Faults injected, by service and kind.
    pub faults: BTreeMap<(Service, FaultKind), u64>,
}

impl FaultStats {
    /// Faults of one kind over all services.
    pub fn of_kind(&self, kind: FaultKind) -> u64 {
        self.faults
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Faults of one service over all kinds.
    pub fn of_service(&self, service: Service) -> u64 {
        self.faults
            .iter()
            .filter(|((s, _), _)| *s == service)
            .map(|(_, n)| n)
            .sum()
    }

    /// All injected faults.
    pub fn total(&self) -> u64 {
        self.faults.values().sum()
    }
}

struct Shared {
    plan: FaultPlan,
    rng: StdRng,
    stats: FaultStats,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the SDK.
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a connection was closed on purpose (hyper closes it when the service errs).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

type Upstream = Client<HttpConnector, Full<Bytes>>;

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on the current tokio runtime.
    pub async fn start(upstream: &str, plan: FaultPlan, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr: SocketAddr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Mutex::new(Shared {
            plan,
            rng: StdRng::seed_from_u64(seed),
            stats: FaultStats::default(),
        }));
        let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_string();
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (shared, client, upstream) =
                        (shared.clone(), client.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, shared.clone(), client.clone(), upstream.clone())
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Self {
            endpoint: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Replaces the plan (e.g. to stop injecting faults).
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.lock().expect("proxy state").plan = plan;
    }

    /// The counters so far.
    pub fn stats(&self) -> FaultStats {
        self.shared.lock().expect("proxy state").stats.clone()
    }
}

/// Tells the service of a request from the service name in its SigV4 credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
pub fn service_of<B>(req: &Request<B>) -> Service {
    let scope = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("");
    match scope {
        "s3" => Service::S3,
        "dynamodb" => Service::DynamoDb,
        "sqs" => Service::Sqs,
        _ => Service::Other,
    }
}

fn error_response(service: Service, kind: FaultKind) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (service, kind) {
        (Service::S3, FaultKind::Throttle) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_string(),
        ),
        (Service::S3, _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>".to_string(),
        ),
        (Service::DynamoDb, FaultKind::Throttle) => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.to_string(),
        ),
        (Service::DynamoDb, _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazon.coral.service#InternalFailure","message":"The request processing has failed because of an unknown error."}"#.to_string(),
        ),
        (_, FaultKind::Throttle) => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}"#.to_string(),
        ),
        (_, _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.sqs#InternalError","message":"internal error"}"#.to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Mutex<Shared>>,
    client: Upstream,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let service = service_of(&req);
    let (fault, delay) = {
        let mut s = shared.lock().map_err(|_| Dropped)?;
        *s.stats.requests.entry(service).or_default() += 1;
        let Shared { plan, rng, .. } = &mut *s;
        let fault = (plan.services.contains(&service)
            && !plan.kinds.is_empty()
            && rng.random_bool(plan.rate.clamp(0.0, 1.0)))
        .then(|| plan.kinds[rng.random_range(0..plan.kinds.len())]);
        let max_ms = plan.max_delay.as_millis().max(1) as u64;
        let delay = (fault == Some(FaultKind::Delay))
            .then(|| Duration::from_millis(rng.random_range(max_ms / 10..=max_ms)));
        if let Some(k) = fault {
            *s.stats.faults.entry((service, k)).or_default() += 1;
        }
        (fault, delay)
    };
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    match fault {
        Some(FaultKind::DropRequest) => return Err(Dropped),
        Some(k @ (FaultKind::ServerError | FaultKind::Throttle)) => {
            return Ok(error_response(service, k))
        }
        _ => {}
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: hyper::Uri = format!("{upstream}{path}").parse().map_err(|_| Dropped)?;
    let mut out = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let out = out.body(Full::new(body)).map_err(|_| Dropped)?;
    let resp = client.request(out).await.map_err(|_| Dropped)?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if fault == Some(FaultKind::DropResponse) {
        return Err(Dropped);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
