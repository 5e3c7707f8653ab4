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

#[test]
fn train_models_approve_reject_and_holdout() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let cfg = dir.path().join("gras.toml");
    std::fs::write(
        &cfg,
        "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\n[metrics.A]\naggregation = \"mean\"\nhorizon = 24\n\
         [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n",
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let run = |args: &[&str]| gras(&[&["--config", cfg_s], args].concat());
    assert!(
        run(&["generate", "--lake", lake_s, "--days", "18", "--series", "2"])
            .status
            .success()
    );
    assert!(run(&["features", "--lake", lake_s]).status.success());

    let out = run(&["train", "--lake", lake_s]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 2, "one line per metric: {stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains("status=Approved") && l.contains("mase=")),
        "{stdout}"
    );

    // Same data again: ties the approved version, so it waits for a person.
    let out = run(&["--json", "train", "--lake", lake_s, "--metric", "G"]);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pending = reports[0]["registered"]["version"]
        .as_str()
        .expect("version")
        .to_string();
    assert_eq!(reports[0]["registered"]["status"], "PendingApproval");

    let out = run(&["models", "--lake", lake_s]);
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 4, "header + 3 versions: {table}");
    assert!(
        table.contains("PendingApproval") && table.contains("Approved"),
        "{table}"
    );

    let out = run(&[
        "approve",
        "--lake",
        lake_s,
        "--metric",
        "G",
        "--version",
        "v20990101000000-ffffff",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).is_empty());
    let out = run(&[
        "approve",
        "--lake",
        lake_s,
        "--metric",
        "G",
        "--version",
        &pending,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["--json", "models", "--lake", lake_s, "--metric", "G"]);
    let models: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let statuses: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "Approved").count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.contains(&"Archived"), "{statuses:?}");
    // Inference with the approved versions, then the alerts it sent (outlier rows of the
    // generated data at least: it injects outliers).
    let out = run(&["infer", "--lake", lake_s]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("metric=G version=") && l.contains("predictions=72")),
        "{stdout}"
    );
    assert!(lake.join("predictions").is_dir());
    let out = run(&["--json", "alerts", "--lake", lake_s, "--metric", "G"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(alerts
        .as_array()
        .expect("array")
        .iter()
        .all(|a| a["metric_id"] == "G"));
    let out = run(&["evaluate", "--lake", lake_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("metric"),
        "{}",
        text(&out.stdout)
    );
    // Rejecting an approved version is refused.
    let out = run(&[
        "reject",
        "--lake",
        lake_s,
        "--metric",
        "G",
        "--version",
        &pending,
    ]);
    assert_eq!(out.status.code(), Some(1));

    // holdout: a clear error for a bad CSV, JSON lines for a good one.
    let csv = dir.path().join("s.csv");
    std::fs::write(&csv, "time,v\n1,2\n").unwrap();
    let out = run(&["holdout", "--csv", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("header must be `ts,value`"),
        "{}",
        text(&out.stderr)
    );
    let mut body = String::from("ts,value\n");
    for t in 0..24 * 7 * 6 {
        let noise = ((t * 7919) % 13) as f64;
        body.push_str(&format!(
            "t{t},{}\n",
            50.0 + ((t % 24) as f64 / 3.0).sin() * 10.0 + noise + 0.01 * t as f64
        ));
    }
    std::fs::write(&csv, body).unwrap();
    let holdout = [
        "holdout",
        "--csv",
        csv.to_str().unwrap(),
        "--holdout",
        "168",
        "--runs",
        "1",
    ];
    let out = run(&[&holdout[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l["selected"] == true).count(), 1);
    // Text by default: a table with the same candidates, the selected one marked.
    let out = run(&holdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let selected = lines.iter().find(|l| l["selected"] == true).unwrap();
    let marked: Vec<&str> = table.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 2, "{table}"); // the row and the footnote
    assert!(
        marked[0].contains(selected["model"].as_str().unwrap()),
        "{table}"
    );
    assert_eq!(table.lines().count(), lines.len() + 2, "{table}");
}

/// The `points` of every `<polyline class="CLASS"` in an SVG (the actuals are one polyline
/// per run without gaps), as numbers.
fn polyline(svg: &str, class: &str) -> Vec<(f64, f64)> {
    svg.lines()
        .filter(|l| l.contains(&format!("<polyline class=\"{class}\"")))
        .flat_map(|line| {
            let pts = line
                .split("points=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("points attribute");
            pts.split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().expect("x"), y.parse().expect("y"))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks a plot file: an SVG of the documented size whose layers have as many marks as
/// the data the command reported, every mark inside the canvas.
fn check_plot(plot: &serde_json::Value) {
    let path = plot["path"].as_str().expect("path");
    let svg = std::fs::read_to_string(path).expect("plot file");
    assert!(svg.starts_with("<svg "), "{path}");
    assert!(svg.trim_end().ends_with("</svg>"), "{path}");
    let attr = |name: &str| {
        svg.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("dimension")
    };
    assert_eq!((attr("width"), attr("height")), (1000.0, 420.0), "{path}");
    let actuals = polyline(&svg, "actuals");
    assert_eq!(
        actuals.len() as u64,
        plot["actuals"].as_u64().expect("n"),
        "{path}"
    );
    let forecast = polyline(&svg, "forecast");
    assert_eq!(
        forecast.len() as u64,
        plot["forecasts"].as_u64().expect("n"),
        "{path}"
    );
    for (x, y) in actuals.iter().chain(&forecast) {
        assert!(
            (0.0..=1000.0).contains(x) && (0.0..=420.0).contains(y),
            "{path}: {x},{y}"
        );
    }
    assert_eq!(
        svg.matches("<circle class=\"alert\"").count() as u64,
        plot["alerts"].as_u64().expect("n"),
        "{path}"
    );
    assert_eq!(
        svg.contains("<polygon class=\"band\""),
        !forecast.is_empty(),
        "{path}: an interval band with every forecast"
    );
}

#[test]
fn demo_runs_the_whole_pipeline_and_writes_every_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let out = gras(&[
        "--json", "demo", "--lake", lake_s, "--days", "30", "--series", "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let rows = report["summary"].as_array().expect("summary rows");
    assert_eq!(rows.len(), 4, "one row per GRAS metric");

    // Silver: one partition per metric and day.
    for m in ["G", "R", "A", "S"] {
        let parts = std::fs::read_dir(lake.join(format!("silver/gras/features/metric={m}")))
            .expect("silver partitions")
            .count();
        assert_eq!(parts, 30, "{m}");
    }
    // Models: at least one version approved by policy, each row naming its version.
    let models = gras(&["--json", "models", "--lake", lake_s]);
    let models: serde_json::Value = serde_json::from_slice(&models.stdout).expect("models");
    let approved: Vec<&serde_json::Value> = models
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["status"] == "Approved")
        .collect();
    assert!(!approved.is_empty(), "{models}");
    for m in &approved {
        let row = rows
            .iter()
            .find(|r| r["metric"] == m["metric_id"])
            .expect("row");
        assert_eq!(row["version"], m["version"]);
        assert!(row["predictions"].as_u64().expect("n") > 0, "{row}");
        let key = format!(
            "predictions/metric={}",
            m["metric_id"].as_str().expect("id")
        );
        assert!(lake.join(key).is_dir(), "Parquet copy of the predictions");
    }
    // Alerts: the ones the summary counts are the ones in the alerts queue file.
    let sent = std::fs::read_to_string(lake.join(".gras/alerts.jsonl")).unwrap_or_default();
    let total: u64 = rows.iter().map(|r| r["alerts"].as_u64().expect("n")).sum();
    assert_eq!(sent.lines().count() as u64, total);
    assert!(total > 0, "the held-back days raise alerts");
    // Live accuracy exists for the approved versions (the held-back days were scored).
    assert!(rows.iter().any(|r| r["live_mase"].is_number()), "{rows:?}");
    // Plots: one per metric, each rendering what was reported.
    for r in rows {
        check_plot(&r["plot"]);
    }
    let g = rows.iter().find(|r| r["metric"] == "G").expect("G");
    assert!(g["plot"]["actuals"].as_u64().expect("n") > 24 * 7, "{g}");
    // On demand, for one series.
    let out = gras(&[
        "--json",
        "plot",
        "--lake",
        lake_s,
        "--metric",
        "G",
        "--series",
        "store-0001",
        "--tz",
        "+02:00",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plot: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plot json");
    assert!(plot["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("plots/G-store-0001.svg")));
    check_plot(&plot);
    let svg = std::fs::read_to_string(plot["path"].as_str().expect("path")).expect("svg");
    assert!(svg.contains("time (UTC+02:00)"), "the axis names its zone");
    let out = gras(&[
        "plot",
        "--lake",
        lake_s,
        "--metric",
        "G",
        "--tz",
        "Mars/Olympus",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a time zone offset"),
        "{}",
        text(&out.stderr)
    );
    let out = gras(&["plot", "--lake", lake_s, "--metric", "Q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not configured"),
        "{}",
        text(&out.stderr)
    );

    // Dated relative to now: the last day of data is yesterday (UTC).
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    assert_eq!(
        report["data"]["start"],
        (yesterday - chrono::Days::new(29)).to_string()
    );
    assert!(lake
        .join(format!("silver/gras/features/metric=G/date={yesterday}"))
        .is_dir());
    // Every metric's status is shown, and a pending one says why and how to approve it.
    for r in rows {
        let status = r["status"].as_str().expect("status");
        assert!(
            ["approved", "pending approval", "not trained"].contains(&status),
            "{r}"
        );
        if status == "pending approval" {
            assert!(r["decision"].is_string(), "{r}");
        }
    }
    // A second run on the same lake shows the same results and says it reused them; it
    // adds no model version and no alert.
    let versions = |l: &str| {
        let out = gras(&["--json", "models", "--lake", l]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("models")
    };
    let before = versions(lake_s);
    let again = gras(&[
        "--json", "demo", "--lake", lake_s, "--days", "30", "--series", "2",
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("report");
    assert_eq!(again["reused"], true);
    assert_eq!(again["summary"], report["summary"]);
    assert_eq!(versions(lake_s), before);
    let resent = std::fs::read_to_string(lake.join(".gras/alerts.jsonl")).unwrap_or_default();
    assert_eq!(resent, sent);
    let text_run = gras(&["demo", "--lake", lake_s, "--days", "30", "--series", "2"]);
    assert!(
        text(&text_run.stderr).contains("reusing the demo"),
        "{}",
        text(&text_run.stderr)
    );
    assert!(text(&text_run.stdout).contains("Next:"));
    // Other data on that lake, or a lake no demo made: an error, nothing touched.
    let out = gras(&["demo", "--lake", lake_s, "--days", "31", "--series", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds a demo of other data"),
        "{}",
        text(&out.stderr)
    );
    let cfg = dir.path().join("other.toml");
    std::fs::write(&cfg, "[metrics.G]\naggregation = \"sum\"\n").unwrap();
    let out = gras(&[
        "--config",
        cfg.to_str().unwrap(),
        "demo",
        "--lake",
        lake_s,
        "--days",
        "30",
        "--series",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("another configuration"),
        "{}",
        text(&out.stderr)
    );
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("bronze")).unwrap();
    let out = gras(&["demo", "--lake", other.to_str().unwrap(), "--days", "30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("was not made by gras demo"),
        "{}",
        text(&out.stderr)
    );
}

/// Starts `gras serve` on an ephemeral port with `tunables` as `GLIBC_TUNABLES` (unset for
/// `None`), answers one `/health`, and returns the server process's `GLIBC_TUNABLES`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn serve_tunables(tunables: Option<&str>) -> Option<String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let lake = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gras"));
    cmd.args(["serve", "--lake"])
        .arg(lake.path())
        .args(["--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .env_remove("GLIBC_TUNABLES");
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    let mut child = cmd.spawn().expect("spawn gras serve");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    // Same pid: the re-execution replaced the process image, it did not fork.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("GLIBC_TUNABLES="))
        .map(str::to_string)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_runs_with_the_server_malloc_settings_unless_the_user_set_their_own() {
    assert_eq!(
        serve_tunables(None).as_deref(),
        Some("glibc.malloc.tcache_count=1000")
    );
    assert_eq!(
        serve_tunables(Some("glibc.malloc.check=0")).as_deref(),
        Some("glibc.malloc.check=0")
    );
}

/// `gras replay`: one scored row per input row in input order, a spike scored high and
/// grouped into an event, and a clear error (exit 2, the line named) for bad input.
#[test]
fn replay_scores_every_row_and_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut body = String::from("timestamp,value\n");
    for t in 0..24 * 40i64 {
        let ts = chrono::DateTime::from_timestamp(1_704_067_200 + 3600 * t, 0).unwrap();
        let noise = ((t * 7919) % 13) as f64 - 6.0;
        let spike = if t == 24 * 30 { 400.0 } else { 0.0 };
        let value =
            100.0 + ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() * 30.0 + noise + spike;
        body.push_str(&format!("{},{value}\n", ts.format("%Y-%m-%d %H:%M:%S")));
    }
    std::fs::write(&csv, &body).unwrap();
    let out_csv = dir.path().join("out.csv");
    let out = gras(&[
        "replay",
        "--csv",
        csv.to_str().unwrap(),
        "--out",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let scored = std::fs::read_to_string(&out_csv).unwrap();
    let rows: Vec<&str> = scored.lines().collect();
    assert_eq!(rows[0], "timestamp,value,anomaly_score,kind,event_id");
    assert_eq!(rows.len(), body.lines().count());
    let spike: Vec<&str> = rows[1 + 24 * 30].split(',').collect();
    assert!(spike[2].parse::<f64>().unwrap() >= 0.99, "{spike:?}");
    assert_eq!(spike[3], "spike");
    assert!(!spike[4].is_empty());

    for (bad, says) in [
        (
            "time,v\n2024-01-01 00:00:00,1\n",
            "header must be `timestamp,value`",
        ),
        (
            "timestamp,value\n2024-01-01 00:00:00,abc\n",
            "in.csv:2: value \"abc\"",
        ),
        (
            "timestamp,value\n2024-01-01 01:00:00,1\n2024-01-01 00:00:00,2\n",
            "in.csv:3: timestamp 2024-01-01 00:00:00 is before",
        ),
    ] {
        std::fs::write(&csv, bad).unwrap();
        let out = gras(&["replay", "--csv", csv.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
}
