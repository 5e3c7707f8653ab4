//! The `gras` binary as a user runs it: summaries, exit codes, clear errors, and the
//! incremental command producing what the batch command produces.

use std::path::Path;
use std::process::{Command, Output};

fn gras(args: &[&str]) -> Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_gras"))
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run gras")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn features_summary_bad_file_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let out = gras(&[
        "generate", "--lake", lake_s, "--days", "3", "--series", "2", "--seed", "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("files="),
        "{}",
        text(&out.stdout)
    );

    let bad = lake.join("bronze/gras/metric=G/year=2024/month=01/day=02/broken.parquet");
    std::fs::write(&bad, b"PAR1 garbage").unwrap();
    let out = gras(&["features", "--lake", lake_s]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad file makes the exit status 1: {stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(
        stdout.contains("failed=1")
            && stdout.contains("rows_read=")
            && stdout.contains("partitions_written=12"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.parquet") && stderr.contains("not a readable Parquet file"),
        "{stderr}"
    );

    // JSON output for scripts.
    let out = gras(&["features", "--lake", lake_s, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["failed"].as_array().map(Vec::len), Some(1));
    assert!(v["rows_read"].as_u64().unwrap() > 0);

    // A bad config is a usage error (2) with the file and line in the message.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[metrics.G]\naggregation = \"median\"\n").unwrap();
    let out = gras(&[
        "features",
        "--lake",
        lake_s,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("unknown variant"),
        "{stderr}"
    );
}

#[test]
fn ingest_key_by_key_equals_batch() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for lake in [&a, &b] {
        let out = gras(&[
            "generate",
            "--lake",
            lake.to_str().unwrap(),
            "--days",
            "9",
            "--series",
            "3",
            "--seed",
            "5",
        ]);
        assert!(out.status.success());
    }
    let mut keys: Vec<String> = Vec::new();
    let mut stack = vec![a.join("bronze")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                keys.push(p.strip_prefix(&a).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    // Newest first: the hardest order for the incremental path.
    keys.sort();
    keys.reverse();
    let mut args = vec!["ingest", "--lake", a.to_str().unwrap()];
    args.extend(keys.iter().map(String::as_str));
    let out = gras(&args);
    assert!(
        out.status.success(),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(&format!("files={}", keys.len())));
    let out = gras(&["features", "--lake", b.to_str().unwrap()]);
    assert!(out.status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sa =
            gras_shared::testkit::silver(&gras_shared::storage::fs::LocalBlobStore::new(&a)).await;
        let sb =
            gras_shared::testkit::silver(&gras_shared::storage::fs::LocalBlobStore::new(&b)).await;
        assert!(!sa.is_empty());
        gras_shared::testkit::assert_silver_eq(&sa, &sb);
    });
}
