//! Forecasting studies behind the "measured, not kept" notes of BENCHMARKS.md (issue 4):
//! alternatives to training's interval calibration and model selection, scored from many
//! rolling origins of a real hourly series (a `ts,value` CSV from `bench/fetch_series.py`).
//!
//! ```sh
//! cargo run --release -p gras-shared --example forecast_study -- coverage CSV HORIZON STEP [MAX_ORIGINS] [WINDOWS]
//! cargo run --release -p gras-shared --example forecast_study -- selection CSV HORIZON STEP
//! cargo run --release -p gras-shared --example forecast_study -- leads CSV TRAIN_HOURS [HORIZON]
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
//! - `leads`: MSTL+ETS trained once on the first TRAIN_HOURS (training's backtest and
//!   calibration for HORIZON, default 168), then re-fitted every 24 h over the rest of the
//!   CSV, each time forecasting HORIZON hours, as inference does. Every forecast issued is
//!   scored at every lead day as the actuals arrive, with its bounds scaled by: training's
//!   calibration times inference's online factor (one, moved by the actuals that meet the
//!   newest forecast, its first day); training's times one online factor per lead day (moved
//!   by the actuals that meet the forecasts made that many days before them), at the
//!   default rate or at the rate divided by the lead day; a rolling conformal scale per lead
//!   day (the quantile of the last 28 or 14 days' conformity scores of the raw bounds at
//!   that lead day; training's calibration until 7 days of scores exist); and that 28-day
//!   scale times a per-lead-day factor at rate / lead day. Prints per scheme the coverage
//!   and the mean half-width per lead day.

use std::collections::HashMap;
use std::process::ExitCode;

use gras_shared::forecast::backtest::{self, conformal_scale, Plan};
use gras_shared::forecast::evaluate::{evaluate_refreshed, Evaluation};
use gras_shared::forecast::online::{adapt, DEFAULT_RATE};
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
    let usage = "usage: forecast_study coverage|selection CSV HORIZON STEP [MAX_ORIGINS] [WINDOWS]\n       \
                 forecast_study leads CSV TRAIN_HOURS [HORIZON]";
    if let [mode, csv, train, rest @ ..] = args {
        if mode == "leads" {
            let horizon: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(WEEK);
            return leads(&read_csv(csv)?, train.parse()?, horizon);
        }
    }
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

/// `raw` with the bounds of step `i` scaled by `factor(i)` ([`Forecast::scale_steps`]).
fn scaled(raw: &Forecast, factor: impl Fn(usize) -> f64) -> Forecast {
    let mut f = raw.clone();
    f.scale_steps(factor);
    f
}

fn leads(v: &[f64], train_len: usize, h: usize) -> Result<(), Error> {
    if h < DAY || !h.is_multiple_of(DAY) || train_len + DAY > v.len() {
        return Err(
            "HORIZON must be a positive multiple of 24, and TRAIN_HOURS leave at least a day of the CSV".into(),
        );
    }
    let spec = ModelSpec::MstlEts {
        periods: vec![DAY, WEEK],
        box_cox: true,
    };
    let days = h / DAY;
    let cal = backtest::backtest(&spec, &v[..train_len], &Plan::new(h, LEVEL, 3, 1))?.calibration();
    let schemes = [
        "one, from the first day (inference's)",
        "one per lead day",
        "one per lead day, rate / (lead day)",
        "rolling conformal per lead day (last 28 days)",
        "rolling conformal per lead day (last 14 days)",
        "rolling conformal (28 days) x one per lead day, rate / (lead day)",
    ];
    const WINDOW_DAYS: usize = 28;
    let (mut single, mut per_lead, mut per_lead_slow) = (1.0, vec![1.0; days], vec![1.0; days]);
    let mut on_rolling = vec![1.0; days];
    // Per lead day, the conformity scores of the raw bounds, newest last.
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); days];
    // Forecasts still reaching the coming day: (origin, raw, bounds per scheme).
    let mut issued: Vec<(usize, Forecast, Vec<Forecast>)> = Vec::new();
    let mut n = vec![0usize; days];
    let mut inside = vec![vec![0usize; schemes.len()]; days];
    let mut half = vec![vec![0.0f64; schemes.len()]; days];
    let mut t = train_len;
    while t + DAY <= v.len() {
        let raw = fit_predict(&spec, &v[..t], h, LEVEL)?;
        let rolling_over = |window_days: usize| -> Vec<f64> {
            scores
                .iter()
                .map(|s| {
                    if s.len() >= 7 * DAY {
                        conformal_scale(&s[s.len().saturating_sub(window_days * DAY)..], LEVEL)
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        };
        let (rolling, rolling14) = (rolling_over(WINDOW_DAYS), rolling_over(14));
        // A rolling scale where 7 days of scores exist, training's calibration before.
        let or_training = |r: f64, i: usize| {
            if r.is_nan() {
                cal.factor(i) * single
            } else {
                r
            }
        };
        let bounds = vec![
            scaled(&raw, |i| cal.factor(i) * single),
            scaled(&raw, |i| cal.factor(i) * per_lead[i / DAY]),
            scaled(&raw, |i| cal.factor(i) * per_lead_slow[i / DAY]),
            scaled(&raw, |i| or_training(rolling[i / DAY], i)),
            scaled(&raw, |i| or_training(rolling14[i / DAY], i)),
            scaled(&raw, |i| {
                or_training(rolling[i / DAY], i) * on_rolling[i / DAY]
            }),
        ];
        issued.push((t, raw, bounds));
        // The day [t, t + 24) arrives: every forecast reaching it is scored on it, and the
        // factors move by what they judge (the bounds as they were issued).
        for (o, raw, bounds) in &issued {
            let lead = (t - o) / DAY;
            let mut misses = vec![0usize; schemes.len()];
            for j in 0..DAY {
                let (i, actual) = (t - o + j, v[t + j]);
                n[lead] += 1;
                scores[lead].push(conformity(actual, raw, i));
                for (k, f) in bounds.iter().enumerate() {
                    if (f.lower[i]..=f.upper[i]).contains(&actual) {
                        inside[lead][k] += 1;
                    } else {
                        misses[k] += 1;
                    }
                    half[lead][k] += (f.upper[i] - f.lower[i]) / 2.0;
                }
            }
            if lead == 0 {
                single = adapt(single, misses[0], DAY, DAY, LEVEL, DEFAULT_RATE);
            }
            per_lead[lead] = adapt(per_lead[lead], misses[1], DAY, DAY, LEVEL, DEFAULT_RATE);
            per_lead_slow[lead] = adapt(
                per_lead_slow[lead],
                misses[2],
                DAY,
                DAY,
                LEVEL,
                DEFAULT_RATE / (lead + 1) as f64,
            );
            on_rolling[lead] = adapt(
                on_rolling[lead],
                misses[5],
                DAY,
                DAY,
                LEVEL,
                DEFAULT_RATE / (lead + 1) as f64,
            );
        }
        issued.retain(|(o, ..)| o + h > t + DAY);
        t += DAY;
    }
    println!(
        "trained on {train_len} h (scales: first day {:.2}, after {:.2}), re-forecast every 24 h \
         over {} h, horizon {h}",
        cal.near_scale,
        cal.scale,
        t - train_len
    );
    println!("| online calibration | coverage by lead day | mean abs(coverage - {LEVEL}) over lead days | mean half-width by lead day |");
    println!("|---|---|---:|---|");
    for (k, name) in schemes.iter().enumerate() {
        let cov: Vec<f64> = (0..days)
            .map(|d| inside[d][k] as f64 / n[d].max(1) as f64)
            .collect();
        let err = cov.iter().map(|c| (c - LEVEL).abs()).sum::<f64>() / days as f64;
        println!(
            "| {name} | {} | {err:.3} | {} |",
            cov.iter()
                .map(|c| format!("{c:.3}"))
                .collect::<Vec<_>>()
                .join(" "),
            (0..days)
                .map(|d| format!("{:.0}", half[d][k] / n[d].max(1) as f64))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}
