//! Training's scoring, pure: every candidate backtested on every series of a shard, the
//! scores summed over series ([`ShardResult`], what shards send to the finalizer), and the
//! choice of the best candidate by its mean first-day MASE ([`select_model`] runs it all on
//! one set of series, without the registry).

use super::*;

/// Sums over series of one spec's scores, indexed by the `S_*` constants.
pub(super) const NSUMS: usize = 9;
pub(super) const S_MAPE: usize = 0;
pub(super) const S_SMAPE: usize = 1;
pub(super) const S_MASE: usize = 2;
pub(super) const S_COVERAGE: usize = 3;
pub(super) const S_RAW_COVERAGE: usize = 4;
pub(super) const S_SCALE: usize = 5;
/// Series with a finite MAPE (an all-zero series has none).
pub(super) const S_MAPE_N: usize = 6;
/// The first day's calibration factor.
pub(super) const S_NEAR_SCALE: usize = 7;
/// The first day's MASE ([`BacktestScore::selection_mase`]: the whole horizon's where a
/// series' first days have none), what selection ranks by.
pub(super) const S_NEAR_MASE: usize = 8;

/// A spec with its score sums and the number of series summed.
pub(super) type ScoreSums = (ModelSpec, [f64; NSUMS], u64);

/// Reads a shard's sums, also as written by the two releases before: without the first
/// day's MASE (8 sums, no `S_NEAR_MASE`) and before the first day had its own calibration
/// factor either (7 sums, no `S_NEAR_SCALE`). A run that spans an upgrade then ranks by the
/// whole horizon's MASE and calibrates the first day with the single factor where those
/// releases did, instead of failing.
pub(super) fn sums_of_any_release<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, ScoreSums>, D::Error> {
    let raw = BTreeMap::<String, (ModelSpec, Vec<f64>, u64)>::deserialize(d)?;
    raw.into_iter()
        .map(|(label, (spec, v, n))| {
            let k = v.len();
            if !(S_NEAR_SCALE..=NSUMS).contains(&k) {
                return Err(serde::de::Error::custom(format!(
                    "{k} score sums for {label}, expected {NSUMS}"
                )));
            }
            let mut sums = [0.0; NSUMS];
            sums[..k].copy_from_slice(&v);
            // What an earlier release did not sum falls back to the whole horizon's figure.
            if k <= S_NEAR_SCALE {
                sums[S_NEAR_SCALE] = sums[S_SCALE];
            }
            if k <= S_NEAR_MASE {
                sums[S_NEAR_MASE] = sums[S_MASE];
            }
            Ok((label, (spec, sums, n)))
        })
        .collect()
}

/// The candidate (label `candidate:*`) with the lowest mean first-day MASE over its series
/// (as [`crate::forecast::backtest::select`] ranks one series; ties keep the first label),
/// if any has a finite one.
pub(super) fn best_candidate(sums: &BTreeMap<String, ScoreSums>) -> Option<&ScoreSums> {
    sums.iter()
        .filter(|(l, _)| l.starts_with("candidate:"))
        .map(|(_, e)| (e, e.1[S_NEAR_MASE] / e.2 as f64))
        .filter(|(e, m)| e.2 > 0 && m.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, _)| e)
}

/// The seasonal-naive baseline of a backtest (contract v2 §6, the quality gate): the mean
/// metrics of the best-ranked seasonal-naive candidate on the same windows, if one was
/// scored.
pub(super) fn seasonal_naive_baseline(
    sums: &BTreeMap<String, ScoreSums>,
) -> Option<BacktestMetrics> {
    sums.iter()
        .filter(|(l, (spec, _, n))| {
            l.starts_with("candidate:") && *n > 0 && matches!(spec, ModelSpec::SeasonalNaive { .. })
        })
        .map(|(_, (_, s, n))| mean_metrics(s, *n))
        .filter(|m| m.selection_mase().is_finite())
        .min_by(|a, b| a.selection_mase().total_cmp(&b.selection_mase()))
}

/// What training's selection chooses for a set of series, without the registry: the spec
/// with the lowest mean first-day backtest MASE, its mean backtest metrics and the
/// calibration of its bounds (what a version's artifact would hold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    /// The chosen spec.
    pub spec: ModelSpec,
    /// Its mean backtest metrics over the series.
    pub metrics: BacktestMetrics,
    /// The calibration inference applies to its forecasts.
    pub calibration: forecast::Calibration,
    /// Series that were long enough to backtest.
    pub series: u64,
}

/// Training's model selection and calibration on `history` (every series of one metric
/// with `cfg`'s horizon, interval and frequency; `windows` backtest windows), run on the
/// calling thread's pool as training runs it: the same candidates, scores and choice.
/// `None` when no series is long enough for any candidate.
pub fn select_model(
    history: &[SeriesHistory],
    cfg: &MetricConfig,
    windows: usize,
) -> Option<Selection> {
    let total = score_shard(history, cfg, windows, None);
    let (spec, sums, n) = best_candidate(&total.sums)?;
    let per = (*n).max(1) as f64;
    Some(Selection {
        spec: spec.clone(),
        metrics: mean_metrics(sums, *n),
        calibration: forecast::Calibration {
            scale: sums[S_SCALE] / per,
            near_steps: metric_plan(cfg, windows).near_steps(),
            near_scale: sums[S_NEAR_SCALE] / per,
        },
        series: total.series,
    })
}

/// Partial sums of one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ShardResult {
    /// Per candidate label: (spec, sums of mape, smape, mase, coverage, n).
    #[serde(deserialize_with = "sums_of_any_release")]
    pub(super) sums: BTreeMap<String, ScoreSums>,
    pub(super) series: u64,
    pub(super) fingerprint: u64,
    pub(super) start_us: i64,
    pub(super) end_us: i64,
}

/// Mean backtest metrics of a candidate from its sums over `n` series.
pub(super) fn mean_metrics(sums: &[f64; NSUMS], n: u64) -> BacktestMetrics {
    let n = n.max(1) as f64;
    BacktestMetrics {
        mape: if sums[S_MAPE_N] > 0.0 {
            sums[S_MAPE] / sums[S_MAPE_N]
        } else {
            f64::NAN
        },
        smape: sums[S_SMAPE] / n,
        mase: sums[S_MASE] / n,
        near_mase: sums[S_NEAR_MASE] / n,
        coverage: sums[S_COVERAGE] / n,
    }
}

/// One series' backtests: what [`score_shard`] adds up.
pub(super) struct SeriesScores {
    pub(super) start_us: i64,
    pub(super) end_us: i64,
    pub(super) fingerprint: u64,
    /// Per label (candidate or `current`): the spec and its score, when finite.
    pub(super) scores: Vec<(String, ModelSpec, BacktestScore)>,
}

/// Backtests every candidate (and the approved spec) on each series of a shard, the series
/// spread over the cores ([`map_balanced`]); the scores are added up in the series' order,
/// so the sums do not depend on the number of cores.
pub(super) fn score_shard(
    history: &[SeriesHistory],
    cfg: &MetricConfig,
    windows: usize,
    current: Option<&ModelSpec>,
) -> ShardResult {
    let mut out = ShardResult {
        start_us: i64::MAX,
        end_us: i64::MIN,
        ..ShardResult::default()
    };
    let scored = map_balanced(history, |h| score_series(h, cfg, windows, current));
    for s in scored.into_iter().flatten() {
        out.series += 1;
        out.start_us = out.start_us.min(s.start_us);
        out.end_us = out.end_us.max(s.end_us);
        out.fingerprint ^= s.fingerprint;
        for (label, spec, score) in s.scores {
            let e = out.sums.entry(label).or_insert((spec, [0.0; NSUMS], 0));
            if score.mape.is_finite() {
                e.1[S_MAPE] += score.mape;
                e.1[S_MAPE_N] += 1.0;
            }
            e.1[S_SMAPE] += score.smape;
            e.1[S_MASE] += score.mase;
            e.1[S_NEAR_MASE] += score.selection_mase();
            e.1[S_COVERAGE] += score.coverage;
            e.1[S_RAW_COVERAGE] += score.raw_coverage;
            e.1[S_SCALE] += score.interval_scale;
            e.1[S_NEAR_SCALE] += score.near_scale;
            e.2 += 1;
        }
    }
    out
}

/// The backtest plan of `cfg`'s metric: its horizon and interval, `windows` windows, a
/// week's MASE season and a day's near band in its buckets. Scoring and the artifact's
/// `near_steps` both come from it, so inference splits the bands where training did.
pub(super) fn metric_plan(cfg: &MetricConfig, windows: usize) -> Plan {
    Plan::new(
        cfg.horizon as usize,
        cfg.interval,
        windows,
        cfg.frequency.per_hour(),
    )
}

/// Backtests the candidates (and the approved spec) on one series; `None` for a series
/// without values or too short for any candidate.
pub(super) fn score_series(
    h: &SeriesHistory,
    cfg: &MetricConfig,
    windows: usize,
    current: Option<&ModelSpec>,
) -> Option<SeriesScores> {
    let horizon = cfg.horizon as usize;
    // Trim leading and trailing nulls (series that started late or stopped).
    let first = h.values.iter().position(Option::is_some)?;
    let last = h.values.iter().rposition(Option::is_some).unwrap_or(first);
    let values = &h.values[first..=last];
    // Candidates the first backtest window's training part is long enough for.
    let per_hour = cfg.frequency.per_hour();
    let week = forecast::WEEK * per_hour;
    let specs = forecast::candidates(values.len().saturating_sub(horizon * windows), per_hour);
    if specs.is_empty() {
        return None;
    }
    let filled = forecast::fill_gaps(values, week);
    let mut labelled: Vec<(String, ModelSpec)> = specs
        .into_iter()
        .map(|s| (format!("candidate:{}", spec_label(&s)), s))
        .collect();
    if let Some(c) = current {
        labelled.push(("current".into(), c.clone()));
    }
    let specs: Vec<ModelSpec> = labelled.iter().map(|(_, s)| s.clone()).collect();
    let plan = metric_plan(cfg, windows);
    let results = backtest_many(&specs, &filled, &plan);
    let mut scores = Vec::with_capacity(labelled.len());
    for ((label, spec), result) in labelled.into_iter().zip(results) {
        match result {
            Ok(score) if score.mase.is_finite() => scores.push((label, spec, score)),
            Ok(_) => {}
            Err(e) => {
                warn!(series = %h.key, model = spec.kind(), error = %e, "backtest failed for a series")
            }
        }
    }
    Some(SeriesScores {
        start_us: h.ts_us(first),
        end_us: h.ts_us(last),
        fingerprint: fingerprint(&h.key, &filled),
        scores,
    })
}

/// A stable, unique label of a spec (its JSON).
pub(super) fn spec_label(spec: &ModelSpec) -> String {
    serde_json::to_string(spec).unwrap_or_else(|_| spec.kind().to_string())
}

pub(super) fn fingerprint(key: &SeriesKey, values: &[f64]) -> u64 {
    let mut bytes = Vec::with_capacity(key.as_str().len() + values.len() * 8);
    bytes.extend_from_slice(key.as_str().as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_with_the_lowest_mean_first_day_mase_wins() {
        let naive = ModelSpec::SeasonalNaive { period: 168 };
        let mstl = ModelSpec::MstlEts {
            periods: vec![24, 168],
            box_cox: true,
        };
        let entry = |spec: &ModelSpec, mase: f64, near: f64, n: u64| {
            let mut s = [0.0; NSUMS];
            s[S_MASE] = mase * n as f64;
            s[S_NEAR_MASE] = near * n as f64;
            (spec.clone(), s, n)
        };
        let mut sums = BTreeMap::new();
        // The naive is better over the whole horizon, MSTL+ETS over the first day.
        sums.insert("candidate:a".to_string(), entry(&naive, 0.9, 1.1, 4));
        sums.insert("candidate:b".to_string(), entry(&mstl, 1.2, 0.6, 4));
        // The approved version's re-score never competes, however good.
        sums.insert("current".to_string(), entry(&naive, 0.1, 0.1, 4));
        assert_eq!(best_candidate(&sums).map(|e| &e.0), Some(&mstl));
        // A candidate without series or without a finite score is left out.
        sums.insert("candidate:c".to_string(), entry(&naive, 0.1, 0.1, 0));
        sums.insert("candidate:d".to_string(), entry(&naive, 0.1, f64::NAN, 4));
        assert_eq!(best_candidate(&sums).map(|e| &e.0), Some(&mstl));
        sums.retain(|l, _| l == "current");
        assert_eq!(best_candidate(&sums), None);
    }

    #[test]
    fn shard_sums_of_earlier_releases_read_with_the_whole_horizon_and_the_single_factor() {
        let spec = r#"{"kind":"seasonal_naive","period":168}"#;
        let old = format!(
            r#"{{"sums":{{"candidate:x":[{spec},[0.1,0.2,0.9,0.8,0.7,1.5,1.0],1]}},"series":1,"start_us":0,"end_us":0,"fingerprint":0}}"#
        );
        let r: ShardResult = serde_json::from_str(&old).expect("old shard result");
        let sums = r.sums["candidate:x"].1;
        assert_eq!(sums[S_SCALE], 1.5);
        assert_eq!(sums[S_NEAR_SCALE], 1.5);
        assert_eq!(sums[S_NEAR_MASE], 0.9, "ranked by the whole horizon's MASE");
        // The release before this one: its own first-day factor, no first-day MASE.
        let previous = old.replace("1.5,1.0]", "1.5,1.0,2.5]");
        let r8: ShardResult = serde_json::from_str(&previous).expect("previous shard result");
        let sums = r8.sums["candidate:x"].1;
        assert_eq!((sums[S_NEAR_SCALE], sums[S_NEAR_MASE]), (2.5, 0.9));
        // Written and read back by this release: unchanged.
        let mut now = r.clone();
        if let Some(e) = now.sums.get_mut("candidate:x") {
            e.1[S_NEAR_SCALE] = 2.5;
        }
        let text = serde_json::to_string(&now).expect("json");
        assert_eq!(
            serde_json::from_str::<ShardResult>(&text).expect("read"),
            now
        );
        let short = old.replace("0.7,1.5,1.0", "0.7");
        let err = serde_json::from_str::<ShardResult>(&short).expect_err("5 sums");
        assert!(err.to_string().contains("5 score sums"), "{err}");
    }
}
