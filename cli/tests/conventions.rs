//! Command-line conventions, command by command: quiet on a closed pipe, no silent `./lake`,
//! one clear error for a missing lake or a bad config, no colour in pipes, generated
//! completions and man page.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `gras` in `cwd`, with neither `GRAS_LAKE` nor `GRAS_CONFIG` inherited.
fn gras(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gras"));
    c.current_dir(cwd)
        .env_remove("GRAS_LAKE")
        .env_remove("GRAS_CONFIG")
        .env_remove("NO_COLOR");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The repository's configuration.
fn config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/gras.toml")
        .to_string_lossy()
        .into_owned()
}

/// Every command that reads an existing lake, with the arguments it needs besides `--lake`.
const LAKE_COMMANDS: &[&[&str]] = &[
    &["features"],
    &[
        "ingest",
        "bronze/gras/metric=G/year=2024/month=01/day=01/part-0.parquet",
    ],
    &["train", "--metric", "G"],
    &["infer", "--metric", "G"],
    &["evaluate"],
    &["alerts"],
    &["models"],
    &["online", "G"],
    &[
        "approve",
        "--metric",
        "G",
        "--version",
        "v20240101000000-abcdef",
    ],
    &[
        "reject",
        "--metric",
        "G",
        "--version",
        "v20240101000000-abcdef",
    ],
    &["plot", "--metric", "G"],
    &["serve", "--addr", "127.0.0.1:0"],
];

/// A small lake with silver, a model and forecasts, in `dir/lake`.
fn lake(dir: &Path) -> String {
    let lake = dir.join("lake").to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let out = gras(dir)
            .args(["--config", &config()])
            .args(args)
            .output()
            .expect("run gras");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    run(&["generate", "--lake", &lake, "--days", "16", "--series", "2"]);
    run(&["features", "--lake", &lake]);
    run(&["train", "--lake", &lake, "--metric", "G"]);
    run(&["infer", "--lake", &lake, "--metric", "G"]);
    lake
}

/// Runs `cmd` with its stdout a pipe whose reader is gone before the command writes (what
/// `gras ... | head -n 1` does once `head` has its line) and returns its stderr, after
/// checking that it ended quietly: an exit code or `SIGPIPE`, never a panic.
fn with_closed_stdout(mut cmd: Command, what: &str) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gras");
    drop(child.stdout.take());
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).expect("stderr");
    }
    let status = child.wait().expect("wait");
    #[cfg(unix)]
    let by_sigpipe = std::os::unix::process::ExitStatusExt::signal(&status) == Some(13);
    #[cfg(not(unix))]
    let by_sigpipe = false;
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: {err}"
    );
    // A usage or data error may end it (exit 1 or 2); a panic (101) or any other signal may not.
    assert!(
        by_sigpipe || matches!(status.code(), Some(0..=2)),
        "{what}: {status:?} {err}"
    );
    err
}

#[test]
fn no_command_panics_when_its_output_pipe_closes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let csv = dir.path().join("s.csv");
    let mut body = String::from("ts,value\n");
    for t in 0..24 * 7 * 5 {
        body.push_str(&format!("t{t},{}\n", 50 + (t % 24) + (t * 7) % 5));
    }
    std::fs::write(&csv, body).unwrap();
    let csv = csv.to_string_lossy().into_owned();
    let dated = dir.path().join("dated.csv");
    let mut body = String::from("ts,value\n");
    for t in 0..24 * 7 * 5i64 {
        let ts = chrono::DateTime::from_timestamp(1_704_067_200 + 3600 * t, 0).unwrap();
        body.push_str(&format!(
            "{},{}\n",
            ts.to_rfc3339(),
            50 + (t % 24) + (t * 7) % 5
        ));
    }
    std::fs::write(&dated, body).unwrap();
    let dated = dated.to_string_lossy().into_owned();
    let gen = dir.path().join("gen").to_string_lossy().into_owned();
    let mut commands: Vec<Vec<&str>> = LAKE_COMMANDS
        .iter()
        // `serve` prints its address first, then serves until stopped: not a pipe's job.
        .filter(|c| c[0] != "serve")
        .map(|c| [&c[..], &["--lake", &lake]].concat())
        .collect();
    commands.extend([
        vec!["generate", "--lake", &gen, "--days", "2", "--series", "1"],
        vec!["holdout", "--csv", &csv, "--holdout", "48", "--runs", "1"],
        vec!["forecast", "--csv", &dated, "--horizon", "24"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
        vec!["--version"],
    ]);
    for args in &commands {
        for json in [false, true] {
            let mut cmd = gras(dir.path());
            cmd.args(["--config", &config()]).args(args);
            if json {
                cmd.arg("--json");
            }
            with_closed_stdout(cmd, &format!("gras {} (json {json})", args.join(" ")));
        }
    }
}

#[test]
fn a_missing_or_wrong_lake_is_one_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a lake").unwrap();
    let file = file.to_string_lossy().into_owned();
    for args in LAKE_COMMANDS {
        let what = args.join(" ");
        // No --lake and no GRAS_LAKE: clap's usage error, naming the option.
        let out = gras(dir.path())
            .args(["--config", &config()])
            .args(*args)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("--lake"), "{what}: {err}");
        // A folder that is not there, given either way, and a file.
        for (lake, by_env) in [("nope", false), ("nope", true), (file.as_str(), false)] {
            let mut cmd = gras(dir.path());
            cmd.args(["--config", &config()]).args(*args);
            if by_env {
                cmd.env("GRAS_LAKE", lake);
            } else {
                cmd.args(["--lake", lake]);
            }
            let out = cmd.output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} ({lake}): {err}");
            assert_eq!(
                err.matches("no lake folder at").count(),
                1,
                "{what} ({lake}): {err}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}");
        }
        assert!(!dir.path().join("lake").exists(), "{what} created ./lake");
        assert!(!dir.path().join("nope").exists(), "{what} created ./nope");
    }
}

/// Every command that takes a metric says so, once, when the metric is not configured,
/// whatever the lake holds; none answers with an empty list.
#[test]
fn an_unknown_metric_is_one_clear_error_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    let lake = lake.to_string_lossy().into_owned();
    let mut commands: Vec<Vec<&str>> = LAKE_COMMANDS
        .iter()
        .filter(|a| a.contains(&"--metric") || a[0] == "online")
        .map(|a| a.iter().map(|x| if *x == "G" { "Q" } else { x }).collect())
        .collect();
    for c in ["evaluate", "alerts", "models"] {
        commands.push(vec![c, "--metric", "Q"]);
    }
    commands.push(vec!["models", "decisions", "--metric", "Q"]);
    commands.push(vec!["models", "rollback", "Q"]);
    assert!(commands.len() >= 11, "{commands:?}");
    for args in &commands {
        let what = args.join(" ");
        let out = gras(dir.path())
            .args(["--config", &config()])
            .args(args)
            .args(["--lake", &lake])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert_eq!(
            err.matches("metric \"Q\" is not configured").count(),
            1,
            "{what}: {err}"
        );
        assert!(text(&out.stdout).is_empty(), "{what} printed a result");
    }
}

#[test]
fn a_bad_config_is_one_clear_error_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[metrics.G]\naggregation = \"median\"\n").unwrap();
    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, "root:x:0:0\n").unwrap();
    for cfg in [&bad, &garbage] {
        for args in LAKE_COMMANDS {
            let what = format!("{} with {}", args.join(" "), cfg.display());
            let out = gras(dir.path())
                .env("GRAS_CONFIG", cfg)
                .args(*args)
                .args(["--lake", "lake"])
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {err}");
            assert!(err.contains("invalid config file"), "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            // Once: no line repeats (an error whose source says the same is not shown twice).
            let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut unique = lines.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), lines.len(), "{what}: {err}");
        }
    }
}

#[test]
fn an_unknown_ingest_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    let lake = lake.to_string_lossy().into_owned();
    for key in [
        "bronze/gras/metric=G/year=2024/month=01/day=01/tpyo.parquet",
        "bronze/gras/metric=G/part-0.parquet",
    ] {
        let out = gras(dir.path())
            .args(["--config", &config(), "ingest", "--lake", &lake, key])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains(key), "{key}: {err}");
        assert!(out.stdout.is_empty(), "{key}: nothing ran");
    }
}

#[test]
fn logs_are_not_coloured_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let out: Output = gras(dir.path())
        .env("RUST_LOG", "info")
        .args([
            "--config",
            &config(),
            "train",
            "--lake",
            &lake,
            "--metric",
            "G",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("INFO"), "logs at info: {err}");
    assert!(!err.contains('\u{1b}'), "ANSI codes in a pipe: {err:?}");
}

#[test]
fn completions_man_page_and_version_come_from_the_same_definition() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = gras(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        // Every subcommand can be completed.
        for sub in ["demo", "ingest", "holdout", "completions"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
    let out = gras(dir.path()).arg("man").output().unwrap();
    assert!(out.status.success());
    let man = text(&out.stdout);
    assert!(man.contains(".TH gras 1"), "{man}");
    assert!(
        man.contains("completions") && man.contains("ingest"),
        "{man}"
    );
    let out = gras(dir.path()).arg("--version").output().unwrap();
    let api: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "gras {} (API {}, contract v2)",
            env!("CARGO_PKG_VERSION"),
            api["info"]["version"].as_str().unwrap()
        )
    );
    let out = gras(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("tcsh"));
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), logs are coloured, unless
/// `NO_COLOR` is set.
#[test]
fn logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let line = format!(
        "{} --config {} train --lake {lake} --metric G",
        env!("CARGO_BIN_EXE_gras"),
        config()
    );
    for no_color in [false, true] {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().expect("util-linux's script runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let all = text(&out.stdout);
        assert!(all.contains("INFO"), "logs at info: {all}");
        assert_eq!(
            all.contains('\u{1b}'),
            !no_color,
            "NO_COLOR={no_color}: {all:?}"
        );
    }
}
