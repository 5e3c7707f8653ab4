//! The I/O floor of the batch features job (issue 2): how long this machine takes only to
//! read and decode a lake's bronze files and to encode and write its silver files, with the
//! same code `gras features` uses for those two steps and none of the work between them
//! (cleansing, aggregation, features, bookkeeping).
//!
//! ```sh
//! target/release/gras features --lake LAKE      # once, so that LAKE has its silver
//! cargo run --release -p gras-shared --example io_floor -- LAKE [RUNS]
//! ```
//!
//! Each run, on all cores ([`map_balanced`], as the job spreads these steps):
//! - `read`: every bronze object of the lake (the keys [`BronzeKey::parse`] accepts, as the
//!   job lists them) fetched through the job's [`LocalBlobStore`] and decoded by
//!   [`read_bronze`] (the needed columns only, step 1 of the cleansing included);
//! - `write_zstd`: every silver partition, decoded into Arrow batches before the clock
//!   starts, encoded with the job's [`silver::writer_properties`] and written to a scratch
//!   folder; `write_snappy`: the same with snappy instead of zstd.
//!
//! Prints one line per run and the medians. The job cannot finish faster than `read` plus
//! the write of its codec: both steps are in its critical path for every metric. Files go
//! to `LAKE/.io_floor/` (removed at the end).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use arrow_array::RecordBatch;
use gras_shared::bronze::read_bronze;
use gras_shared::config::RowBounds;
use gras_shared::contract::{parse_silver_key, BronzeKey, BRONZE_PREFIX, SILVER_PREFIX};
use gras_shared::parallel::map_balanced;
use gras_shared::silver;
use gras_shared::storage::fs::LocalBlobStore;
use gras_shared::storage::BlobStore;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (lake, runs) = match args.as_slice() {
        [lake] => (PathBuf::from(lake), 5),
        [lake, runs] => match runs.parse::<usize>() {
            Ok(n) if n > 0 => (PathBuf::from(lake), n),
            _ => return usage(),
        },
        _ => return usage(),
    };
    match run(&lake, runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("io_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: io_floor LAKE [RUNS]");
    ExitCode::from(2)
}

fn run(lake: &Path, runs: usize) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new()?;
    let store = LocalBlobStore::new(lake);
    let bronze: Vec<(String, BronzeKey)> = rt
        .block_on(store.list(BRONZE_PREFIX))?
        .into_iter()
        .filter_map(|meta| {
            let bk = BronzeKey::parse(&meta.key).ok()?;
            Some((meta.key, bk))
        })
        .collect();
    let silver_keys: Vec<String> = rt
        .block_on(store.list(SILVER_PREFIX))?
        .into_iter()
        .filter(|meta| parse_silver_key(&meta.key).is_some())
        .map(|meta| meta.key)
        .collect();
    if bronze.is_empty() || silver_keys.is_empty() {
        return Err(format!(
            "{} needs bronze and silver files (run `gras features` on it first)",
            lake.display()
        )
        .into());
    }
    // The silver to write, as Arrow batches: decoding them is not part of the floor.
    let mut batches: Vec<RecordBatch> = Vec::new();
    for key in &silver_keys {
        let rows = silver::read_parquet(rt.block_on(store.get(key))?)?;
        batches.push(silver::to_batch(&rows)?);
    }
    let scratch = lake.join(".io_floor");
    std::fs::create_dir_all(&scratch)?;
    let zstd = silver::writer_properties();
    let snappy = zstd
        .clone()
        .into_builder()
        .set_compression(Compression::SNAPPY)
        .build();

    println!(
        "{} bronze files, {} silver partitions ({} rows), {} threads",
        bronze.len(),
        batches.len(),
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        gras_shared::parallel::worker_threads()
    );
    let (mut reads, mut zstds, mut snappys) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let start = Instant::now();
        let rows = map_balanced(&bronze, |(key, bk)| -> Result<usize, Error> {
            let body = rt.block_on(store.get(key))?;
            Ok(read_bronze(body, &bk.metric, Some(&RowBounds::DEFAULT))?
                .rows
                .len())
        })
        .into_iter()
        .sum::<Result<usize, Error>>()?;
        let read = start.elapsed().as_secs_f64();
        let write_zstd = write_all(&batches, &zstd, &scratch)?;
        let write_snappy = write_all(&batches, &snappy, &scratch)?;
        println!(
            "run {run}: read {read:.3} s ({rows} rows kept), write_zstd {write_zstd:.3} s, \
             write_snappy {write_snappy:.3} s"
        );
        reads.push(read);
        zstds.push(write_zstd);
        snappys.push(write_snappy);
    }
    std::fs::remove_dir_all(&scratch)?;
    let (read, zstd, snappy) = (median(reads), median(zstds), median(snappys));
    println!(
        "median: read {read:.3} s, write_zstd {zstd:.3} s, write_snappy {snappy:.3} s; \
         floor read+write_zstd {:.3} s, read+write_snappy {:.3} s",
        read + zstd,
        read + snappy
    );
    Ok(())
}

/// Encodes and writes every batch with `props` on all cores; the wall seconds it took.
fn write_all(batches: &[RecordBatch], props: &WriterProperties, dir: &Path) -> Result<f64, Error> {
    let indexed: Vec<(usize, &RecordBatch)> = batches.iter().enumerate().collect();
    let start = Instant::now();
    map_balanced(&indexed, |(i, batch)| -> Result<(), Error> {
        let body = silver::encode_batch(batch, props.clone())?;
        std::fs::write(dir.join(format!("{i}.parquet")), body)?;
        Ok(())
    })
    .into_iter()
    .collect::<Result<(), Error>>()?;
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
