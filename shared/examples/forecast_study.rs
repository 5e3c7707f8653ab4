//! Forecasting studies behind the "measured, not kept" notes of BENCHMARKS.md (issue 4):
//! alternatives to training's interval calibration and model selection, scored from many
//! rolling origins of a real hourly series (a `ts,value` CSV from `bench/fetch_series.py`).
//!
//! ```sh
//! cargo run --release -p gras-shared --example forecast_study -- coverage CSV HORIZON STEP [MAX_ORIGINS] [WINDOWS]
//! cargo run --release -p gras-shared --example forecast_study -- selection CSV HORIZON STEP
//! ```
//!
//! Origins run from `len - HORIZON` back every STEP hours while 337 + max(3, WINDOWS) x
//! HORIZON hours of history remain (as `bench/forecast_origins.sh` places them; pass the CSV
//! without its final 336 hours to stay out of the benchmark's hold-out).
//!
//! - `coverage`: MSTL+ETS (24, 168, Box-Cox) forecasts HORIZON hours in one go from each
//!   origin; its bounds are calibrated by (a) training's scales (first day / the rest,
//!   [`Calibration`]), (b) one conformal scale per lead day from the backtest windows, (c)
//!   training's scales times the ratio of the last week's daily-naive MAE at the origin to
//!   its mean at the windows' origins (local volatility). Prints per scheme the coverage,
//!   the mean absolute coverage error per origin, the mean half-width and the coverage per
//!   lead day; with one origin also each scheme's scales and the origin's own 90% quantile of
//!   conformity scores per lead day.
//! - `selection`: each origin scored as deployed ([`evaluate_refreshed`], re-forecast every
//!   24 h, online factor at its default rate) for every candidate, then the mean MASE of the
//!   candidate each selection rule picks.

use std::collections::HashMap;
use std::process::ExitCode;

use gras_shared::forecast::backtest::{self, conformal_scale, Plan};
use gras_shared::forecast::evaluate::{evaluate_refreshed, Evaluation};
use gras_shared::forecast::online::DEFAULT_RATE;
use gras_shared::forecast::{
    fill_gaps, fit_predict, metrics, Calibration, Forecast, ModelSpec, DAY, WEEK,
};

type Error = Box<dyn std::error::Error>;

const LEVEL: f64 = 0.9;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("forecast_study: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let usage = "usage: forecast_study coverage|selection CSV HORIZON STEP [MAX_ORIGINS] [WINDOWS]";
    let [mode, csv, horizon, step, rest @ ..] = args else {
        return Err(usage.into());
    };
    let values = read_csv(csv)?;
    let horizon: usize = horizon.parse()?;
    let step: usize = step.parse()?;
    let max_origins: usize = rest
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let windows: usize = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    if horizon < DAY || !horizon.is_multiple_of(DAY) || step == 0 || windows == 0 {
        return Err("HORIZON must be a positive multiple of 24, STEP and WINDOWS positive".into());
    }
    let first = 337 + windows.max(3) * horizon;
    let mut origins = Vec::new();
    let mut o = values.len().saturating_sub(horizon);
    while o >= first && origins.len() < max_origins {
        origins.push(o);
        o = match o.checked_sub(step) {
            Some(o) => o,
            None => break,
        };
    }
    if origins.is_empty() {
        return Err(format!(
            "{} hours leave no origin for {horizon} x {windows}",
            values.len()
        )
        .into());
    }
    match mode.as_str() {
        "coverage" => coverage(&values, &origins, horizon, windows),
        "selection" => selection(&values, &origins, horizon),
        _ => Err(usage.into()),
    }
}

fn read_csv(path: &str) -> Result<Vec<f64>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let vals: Vec<Option<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').and_then(|(_, v)| v.trim().parse().ok()))
        .collect();
    Ok(fill_gaps(&vals, WEEK))
}

/// Training's conformity score of the actual at step `i` of `f`.
fn conformity(actual: f64, f: &Forecast, i: usize) -> f64 {
    backtest::conformity(actual, f.point[i], f.lower[i], f.upper[i])
}

/// Mean absolute daily-naive error over the week before `origin` (local volatility).
fn local_scale(v: &[f64], origin: usize) -> f64 {
    (origin - WEEK..origin)
        .map(|t| (v[t] - v[t - DAY]).abs())
        .sum::<f64>()
        / WEEK as f64
}

fn coverage(v: &[f64], origins: &[usize], h: usize, windows: usize) -> Result<(), Error> {
    let spec = ModelSpec::MstlEts {
        periods: vec![DAY, WEEK],
        box_cox: true,
    };
    let days = h / DAY;
    let schemes = ["training", "per-lead-day", "local-volatility"];
    let mut covered = vec![vec![0usize; days]; schemes.len()];
    let mut abs_err = vec![0.0; schemes.len()];
    let mut width = vec![0.0; schemes.len()];
    for &o in origins {
        let train = &v[..o];
        let cal: Calibration =
            backtest::backtest(&spec, train, &Plan::new(h, LEVEL, windows, 1))?.calibration();
        let window_origins: Vec<usize> = (0..windows).map(|w| o - windows * h + w * h).collect();
        let mut per_day: Vec<Vec<f64>> = vec![Vec::new(); days];
        for &wo in &window_origins {
            let f = fit_predict(&spec, &train[..wo], h, LEVEL)?;
            for i in 0..h {
                per_day[i / DAY].push(conformity(train[wo + i], &f, i));
            }
        }
        let day_scale: Vec<f64> = (0..days)
            .map(|d| {
                if d == 0 {
                    cal.near_scale
                } else {
                    conformal_scale(&per_day[d], LEVEL)
                }
            })
            .collect();
        let base = window_origins
            .iter()
            .map(|&wo| local_scale(v, wo))
            .sum::<f64>()
            / windows as f64;
        let ratio = local_scale(v, o) / base;
        let f = fit_predict(&spec, train, h, LEVEL)?;
        let mut inside = vec![0usize; schemes.len()];
        for i in 0..h {
            let s = conformity(v[o + i], &f, i);
            let half = (f.upper[i] - f.lower[i]) / 2.0;
            let factors = [cal.factor(i), day_scale[i / DAY], cal.factor(i) * ratio];
            for (k, factor) in factors.iter().enumerate() {
                if s <= *factor {
                    covered[k][i / DAY] += 1;
                    inside[k] += 1;
                }
                width[k] += half * factor;
            }
        }
        for k in 0..schemes.len() {
            abs_err[k] += (inside[k] as f64 / h as f64 - LEVEL).abs();
        }
        if origins.len() == 1 {
            let fmt = |x: &[f64]| {
                x.iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "training scales: first day {:.2}, after {:.2}",
                cal.near_scale, cal.scale
            );
            println!("per-lead-day scales: {}", fmt(&day_scale));
            println!("local volatility ratio: {ratio:.2}");
            let own: Vec<f64> = (0..days)
                .map(|d| {
                    let scores: Vec<f64> = (d * DAY..(d + 1) * DAY)
                        .map(|i| conformity(v[o + i], &f, i))
                        .collect();
                    conformal_scale(&scores, LEVEL)
                })
                .collect();
            println!(
                "the origin's own 90% conformity quantile per lead day: {}",
                fmt(&own)
            );
        }
    }
    let n = origins.len();
    println!("origins: {n}, horizon {h}, windows {windows}");
    println!("| calibration | coverage | mean abs coverage error per origin | mean half-width | coverage by lead day |");
    println!("|---|---:|---:|---:|---|");
    for (k, name) in schemes.iter().enumerate() {
        let total: usize = covered[k].iter().sum();
        let by_day: Vec<String> = covered[k]
            .iter()
            .map(|c| format!("{:.2}", *c as f64 / (DAY * n) as f64))
            .collect();
        println!(
            "| {name} | {:.3} | {:.3} | {:.0} | {} |",
            total as f64 / (h * n) as f64,
            abs_err[k] / n as f64,
            width[k] / (h * n) as f64,
            by_day.join(" ")
        );
    }
    Ok(())
}

/// A selection rule: the index of the evaluation it picks, given each candidate's
/// first-day MASE at the last 14 daily origins of the training part.
type Rule = (&'static str, fn(&[Evaluation], &[f64]) -> usize);

fn argmin(n: usize, key: impl Fn(usize) -> f64) -> usize {
    (0..n)
        .min_by(|&a, &b| key(a).total_cmp(&key(b)))
        .unwrap_or(0)
}

fn is_mstl(e: &Evaluation) -> bool {
    matches!(e.spec, ModelSpec::MstlEts { .. })
}

fn by_margin(ev: &[Evaluation], margin: f64) -> usize {
    let Some(m) = ev.iter().position(is_mstl) else {
        return argmin(ev.len(), |i| ev[i].backtest.selection_mase());
    };
    let best = argmin(ev.len(), |i| ev[i].backtest.selection_mase());
    if ev[best].backtest.selection_mase() < ev[m].backtest.selection_mase() * (1.0 - margin) {
        best
    } else {
        m
    }
}

const RULES: [Rule; 8] = [
    ("training (first-day backtest MASE)", |ev, _| {
        ev.iter().position(|e| e.selected).unwrap_or(0)
    }),
    ("whole-horizon backtest MASE", |ev, _| {
        argmin(ev.len(), |i| ev[i].backtest.mase)
    }),
    ("first-day MASE at the last 14 daily origins", |ev, d14| {
        argmin(ev.len(), |i| d14[i])
    }),
    ("training, without the mean candidate", |ev, _| {
        argmin(ev.len(), |i| match ev[i].spec {
            ModelSpec::Mean { .. } => f64::INFINITY,
            _ => ev[i].backtest.selection_mase(),
        })
    }),
    ("MSTL+ETS unless another is 10% lower", |ev, _| {
        by_margin(ev, 0.10)
    }),
    ("MSTL+ETS unless another is 20% lower", |ev, _| {
        by_margin(ev, 0.20)
    }),
    ("MSTL+ETS always", |ev, _| {
        ev.iter().position(is_mstl).unwrap_or(0)
    }),
    ("oracle (lowest hold-out MASE)", |ev, _| {
        argmin(ev.len(), |i| ev[i].mase)
    }),
];

fn selection(v: &[f64], origins: &[usize], h: usize) -> Result<(), Error> {
    let mut total = [0.0; RULES.len()];
    let mut picks: Vec<HashMap<String, usize>> = vec![HashMap::new(); RULES.len()];
    for &o in origins {
        let (train, test) = (&v[..o], &v[o..o + h]);
        let ev = evaluate_refreshed(train, test, LEVEL, 3, h, DAY, DEFAULT_RATE)?;
        // Each candidate fitted as training fits it (a mean re-fits its members: a few
        // more fits, and no second copy of how a mean forecasts).
        let mut d14 = Vec::with_capacity(ev.len());
        for e in &ev {
            let mut sum = 0.0;
            for d in 1..=14 {
                let org = o - DAY * d;
                let f = fit_predict(&e.spec, &train[..org], DAY, LEVEL)?;
                sum += metrics::mase(&train[org..org + DAY], &f.point, &train[..org], WEEK);
            }
            d14.push(sum / 14.0);
        }
        for (r, (_, rule)) in RULES.iter().enumerate() {
            let pick = rule(&ev, &d14);
            total[r] += ev[pick].mase;
            *picks[r].entry(ev[pick].model.clone()).or_default() += 1;
        }
    }
    println!(
        "origins: {}, horizon {h}, re-forecast every 24 h",
        origins.len()
    );
    println!("| selection rule | mean MASE as deployed | picks |");
    println!("|---|---:|---|");
    for (r, (name, _)) in RULES.iter().enumerate() {
        let mut p: Vec<String> = picks[r].iter().map(|(m, c)| format!("{c} {m}")).collect();
        p.sort();
        println!(
            "| {name} | {:.4} | {} |",
            total[r] / origins.len() as f64,
            p.join(", ")
        );
    }
    Ok(())
}
