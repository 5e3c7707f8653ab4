//! `gras forecast`: a CSV in, a forecast CSV out, with training's selection; bad rows are
//! errors naming their line.

use std::path::Path;
use std::process::{Command, Output};

fn gras(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gras"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run gras")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Six weeks of hourly values with a daily and a weekly season, per series (`None`: a row
/// with an empty value; some hours have no row at all).
fn series_csv(names: &[&str]) -> String {
    let t0 = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").expect("t0");
    let mut out = String::from("series,ts,value\n");
    for (k, name) in names.iter().enumerate() {
        for h in 0..24 * 7 * 6i64 {
            if h == 300 {
                continue; // no row: a gap
            }
            let t = t0 + chrono::Duration::hours(h);
            let day = (h / 24) % 7;
            let v = 40.0
                + 10.0 * k as f64
                + 15.0 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                + if day >= 5 { 8.0 } else { 0.0 }
                + ((h * 7919) % 11) as f64 / 3.0;
            let value = if h == 101 {
                String::new()
            } else {
                format!("{v:.3}")
            };
            out.push_str(&format!(
                "{name},{},{value}\n",
                t.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    out
}

#[test]
fn a_long_csv_gets_a_forecast_per_series_with_ordered_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), series_csv(&["north", "south"])).unwrap();
    let out = gras(
        dir.path(),
        &[
            "forecast",
            "--csv",
            "in.csv",
            "--horizon",
            "24",
            "--quantiles",
            "0.1,0.5,0.9",
            "--out",
            "out.csv",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("chosen on 2 series"),
        "{}",
        text(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("series,ts,forecast,lower,upper,q0.1,q0.5,q0.9")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 24);
    for (i, r) in rows.iter().enumerate() {
        let series = if i < 24 { "north" } else { "south" };
        assert_eq!(r[0], series);
        // The forecast continues hourly after the last row (2024-02-11T23:00:00Z).
        let want = chrono::DateTime::parse_from_rfc3339("2024-02-12T00:00:00Z").unwrap()
            + chrono::Duration::hours((i % 24) as i64);
        assert_eq!(r[1], want.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        let v: Vec<f64> = r[2..].iter().map(|x| x.parse().unwrap()).collect();
        let (point, lower, upper, q1, q5, q9) = (v[0], v[1], v[2], v[3], v[4], v[5]);
        assert!(lower <= q1 && q1 <= q5 && q5 <= q9 && q9 <= upper, "{r:?}");
        assert_eq!(q5, point, "the median is the point forecast");
        assert!(lower < upper && lower >= 0.0, "{r:?}");
        assert!((20.0..90.0).contains(&point), "a plausible level: {r:?}");
    }
    // --json without --out: the same rows in one document, with the chosen model.
    let out = gras(
        dir.path(),
        &["--json", "forecast", "--csv", "in.csv", "--horizon", "24"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["rows"], 48);
    assert_eq!(doc["forecast"].as_array().map(Vec::len), Some(48));
    assert_eq!(doc["frequency"], "1h");
    assert!(
        doc["model"].is_string() && doc["backtest"]["mase"].is_number(),
        "{doc}"
    );
}

#[test]
fn one_series_without_a_series_column_is_all() {
    let dir = tempfile::tempdir().unwrap();
    let body = series_csv(&["x"])
        .replace("series,ts,value", "ts,value")
        .replace("x,", "");
    std::fs::write(dir.path().join("one.csv"), body).unwrap();
    let out = gras(
        dir.path(),
        &["forecast", "--csv", "one.csv", "--horizon", "6"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.starts_with("_all,")), "{csv}");
}

#[test]
fn bad_input_is_one_clear_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = series_csv(&["a"]);
    let cases: Vec<(String, &str)> = vec![
        ("time,v\n".to_string() + "x,1\n", ":1: the header must be"),
        (
            good.replacen("a,2024-01-01T05:00:00Z", "a,yesterday", 1),
            ":7: ts \"yesterday\"",
        ),
        (
            good.replacen(",2024-01-01T03:00:00Z,", ",2024-01-01T03:00:00Z,lots", 1),
            ":5: value",
        ),
        (
            good.replacen("a,2024-01-01T02:00:00Z,", "a,2024-01-01T02:00:00Z,1,", 1),
            ":4: expected 3 fields",
        ),
        (
            good.clone() + "a,2024-01-01T00:30:00Z,5\n",
            "two rows of series \"a\"",
        ),
        (
            "series,ts,value\na,2024-01-01T00:00:00Z,1\na,2024-01-01T01:00:00Z,2\n".to_string(),
            "no series is long enough",
        ),
    ];
    for (body, want) in cases {
        std::fs::write(dir.path().join("bad.csv"), &body).unwrap();
        let out = gras(
            dir.path(),
            &["forecast", "--csv", "bad.csv", "--horizon", "24"],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = gras(
        dir.path(),
        &["forecast", "--csv", "bad.csv", "--quantiles", "0.5,1.2"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("1.2 is not a level"));
}
