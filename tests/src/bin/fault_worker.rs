//! A features consumer in its own process, for the fault test: it consumes the bronze queue
//! through the given endpoint (the fault proxy) as the Lambda SQS integration would, appends
//! every received message (`id<TAB>key`), every deleted one (`id<TAB>deleted`) and every failed message (JSON) to files, and, with `--crash-after N`, ends abruptly
//! before its `N+1`-th write to the lake or the tables.
//!
//! Usage: `fault_worker --endpoint URL --bucket B --queue URL --prefix P --failures FILE
//! [--received FILE] [--crash-after N] [--lease-ttl-secs S] [--idle-exit-secs S] [--batch N]`

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use gras_integration_tests::settings_for;
use gras_integration_tests::worker::{
    consume, notified_keys, ConsumeEvent, ConsumeOptions, CrashAfter, DELETED,
};
use gras_shared::metrics::NoMetrics;
use gras_shared::pipeline::features::{EngineOptions, FeatureEngine};
use gras_shared::Config;

fn args() -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            eprintln!("unexpected argument {k}");
            std::process::exit(2);
        };
        let Some(v) = it.next() else {
            eprintln!("--{name} needs a value");
            std::process::exit(2);
        };
        out.insert(name.to_string(), v);
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let need = |k: &str| {
        a.get(k).cloned().unwrap_or_else(|| {
            eprintln!("missing --{k}");
            std::process::exit(2)
        })
    };
    let num = |k: &str, d: u64| a.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (endpoint, bucket, queue, prefix) = (
        need("endpoint"),
        need("bucket"),
        need("queue"),
        need("prefix"),
    );
    let failures_path = need("failures");

    let settings = settings_for(&endpoint, &prefix).await;
    let mut stores = settings.stores(&bucket);
    if let Some(n) = a.get("crash-after").and_then(|v| v.parse::<u64>().ok()) {
        stores = CrashAfter::new(n).wrap(stores);
    }
    let engine =
        FeatureEngine::new(stores, Arc::new(Config::gras_defaults())).with_options(EngineOptions {
            lease_ttl: Duration::from_secs(num("lease-ttl-secs", 4)),
            lease_wait: Duration::from_secs(20),
            ..EngineOptions::default()
        });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&failures_path)
        .unwrap_or_else(|e| {
            eprintln!("cannot open {failures_path}: {e}");
            std::process::exit(2)
        });
    let mut received = a.get("received").map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap_or_else(|e| {
                eprintln!("cannot open {p}: {e}");
                std::process::exit(2)
            })
    });
    let opts = ConsumeOptions {
        batch: num("batch", 5) as i32,
        idle_exit: Duration::from_secs(num("idle-exit-secs", 3)),
        max_run: Duration::from_secs(num("max-run-secs", 600)),
    };
    let report = consume(
        &settings.sqs(),
        &queue,
        &engine,
        &bucket,
        &NoMetrics,
        &opts,
        |event| match event {
            ConsumeEvent::Received(id, body) => {
                let Some(f) = received.as_mut() else {
                    return;
                };
                let key = notified_keys(body).unwrap_or_default().join(",");
                let _ = writeln!(f, "{id}\t{key}");
                let _ = f.flush();
            }
            ConsumeEvent::Deleted(id) => {
                if let Some(f) = received.as_mut() {
                    let _ = writeln!(f, "{id}\t{DELETED}");
                    let _ = f.flush();
                }
            }
            ConsumeEvent::Failed(f) => {
                if let Ok(line) = serde_json::to_string(f) {
                    let _ = writeln!(file, "{line}");
                    let _ = file.flush();
                }
            }
        },
    )
    .await;
    println!(
        "{{\"received\":{},\"deleted\":{},\"delete_errors\":{},\"receive_errors\":{},\"failures\":{},\"processed\":{},\"replays\":{}}}",
        report.received,
        report.deleted,
        report.delete_errors,
        report.receive_errors,
        report.failures.len(),
        report.processed,
        report.replays
    );
}
