//! Logs written on the parallel helpers' threads keep the caller's tracing span, which is
//! how a Lambda's request id reaches every log line of a request. Its own test binary: it
//! installs a global subscriber, as the functions do.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gras_shared::parallel::{blocking, map_balanced, run_jobs};

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_on_worker_threads_carry_the_callers_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("global subscriber");

    let span = tracing::info_span!("request", request_id = "req-42");
    let _entered = span.enter();
    run_jobs(vec![1, 2, 3], |job| tracing::info!(job, "run_jobs"));
    map_balanced(&[1, 2, 3, 4], |item| {
        tracing::info!(item = *item, "map_balanced")
    });
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(blocking(|| tracing::info!("blocking")));

    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert_eq!(v["span"]["request_id"], "req-42", "{line}");
    }
}
