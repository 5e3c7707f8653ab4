//! Fuzz target: the tolerant bronze reader ([`gras_shared::bronze::read_bronze`]) on
//! arbitrary bytes, as the features Lambda calls it on every object it is notified of.
//!
//! Oracle: no panic leaves the reader (a bad file is an `Err` with a message), and a file it
//! accepts is consistent: the per-row columns have one length, every row's series index
//! points into the key dictionary, the keys are distinct, every value is finite (and `-0.0`
//! is stored as `0.0`), and every row read was either kept or counted as rejected.
//!
//! The reader turns panics of the Parquet/Arrow decoder into errors (`BronzeError::
//! DecoderPanic`). libfuzzer-sys aborts on every panic from its panic hook, before any
//! unwinding, so this target installs a hook that lets panics raised in those crates unwind
//! (silently) to the reader's guard; a panic anywhere else, or one that escapes
//! `read_bronze`, still aborts and is reported as a crash.
//!
//! Seeds (`scripts/fuzz.sh`): generated bronze files and hand-made files of every physical
//! type the reader accepts.

#![no_main]

use std::any::Any;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

use bytes::Bytes;
use gras_shared::bronze::read_bronze;
use gras_shared::config::RowBounds;
use gras_shared::MetricId;
use libfuzzer_sys::fuzz_target;

fn metric() -> &'static MetricId {
    static METRIC: OnceLock<MetricId> = OnceLock::new();
    METRIC.get_or_init(|| MetricId::new("G").expect("G is a valid metric id"))
}

/// True for a source location in the Parquet or Arrow crates (the decoder under the guard):
/// registry crates (`.../parquet-60.1.0/src/...`) and the patched copy of `parquet` in
/// `third_party/parquet/`.
fn in_decoder(file: &str) -> bool {
    ["/parquet-", "/arrow-", "third_party/parquet/"]
        .iter()
        .any(|c| file.contains(c))
}

/// Lets panics raised in the decoder unwind silently to the reader's guard; every other
/// panic goes to libfuzzer-sys's hook, which prints it and aborts.
fn install_panic_hook() {
    let abort = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| in_decoder(l.file())) {
            abort(info);
        }
    }));
}

fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

fn check(data: &[u8]) {
    let read = panic::catch_unwind(AssertUnwindSafe(|| {
        read_bronze(Bytes::copy_from_slice(data), metric(), Some(&RowBounds::DEFAULT))
    }));
    let file = match read {
        Err(payload) => panic!(
            "a decoder panic escaped read_bronze: {}",
            message(&*payload)
        ),
        Ok(Err(e)) => {
            assert!(!e.to_string().is_empty(), "an error says why");
            return;
        }
        Ok(Ok(file)) => file,
    };
    let rows = &file.rows;
    assert_eq!(rows.series.len(), rows.ts.len(), "one series index per row");
    assert_eq!(rows.value.len(), rows.ts.len(), "one value per row");
    assert!(
        rows.series.iter().all(|&s| (s as usize) < rows.keys.len()),
        "series indexes point into the key dictionary"
    );
    let distinct: HashSet<&str> = rows.keys.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        distinct.len(),
        rows.keys.len(),
        "series keys are interned once"
    );
    for &v in &rows.value {
        assert!(v.is_finite(), "only finite values pass step 1: {v}");
        assert!(v != 0.0 || v.is_sign_positive(), "-0.0 is stored as 0.0");
    }
    assert_eq!(
        file.rows_read,
        rows.len() as u64 + file.rejected.total(),
        "every row read is kept or rejected: {}",
        file.rejected
    );
}

fuzz_target!(init: install_panic_hook(), |data: &[u8]| check(data));
