//! Batch inference on in-memory stores: an approved model forecasts every series into
//! `gras_predictions` and the Parquet copy; re-running overwrites; no approved version, no
//! predictions.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gras_shared::artifact::{load_artifact, Artifact};
use gras_shared::config::Frequency;
use gras_shared::contract::predictions_key;
use gras_shared::forecast;
use gras_shared::metrics::{MemoryMetrics, NoMetrics};
use gras_shared::pipeline::history::{load_history, SeriesHistory};
use gras_shared::pipeline::infer::{AnalyzeLimits, Inferencer};
use gras_shared::pipeline::train::Trainer;
use gras_shared::predictions::{Prediction, PREDICTIONS};
use gras_shared::queue::MemoryQueue;
use gras_shared::registry::ModelRecord;
use gras_shared::storage::table::query_all;
use gras_shared::storage::{Query, SkRange, Stores};
use gras_shared::{Config, MetricId, SeriesKey};

fn config() -> Arc<Config> {
    let text = "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\ninterval = 0.9\n\
                [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n";
    Arc::new(Config::from_toml(text, None).expect("config"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

async fn lake(config: &Arc<Config>) -> Stores {
    let stores = Stores::memory();
    gras_generate::generated_silver(&stores, config, 18, 2, 3)
        .await
        .expect("generated silver");
    stores
}

/// An inferencer at the fixed time `run`, without metrics or an alerts queue to look at.
fn quiet_inferencer(stores: &Stores, config: &Arc<Config>, run: DateTime<Utc>) -> Inferencer {
    Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        Arc::new(MemoryQueue::default()),
    )
    .with_clock(Arc::new(move || run))
}

/// The silver history of every series of `metric` from 2024-01-`first_day` to 2024-01-18.
async fn history_to_jan_18(
    stores: &Stores,
    metric: &MetricId,
    first_day: u32,
    step_us: i64,
) -> Vec<SeriesHistory> {
    load_history(
        stores,
        metric,
        NaiveDate::from_ymd_opt(2024, 1, first_day).expect("d"),
        NaiveDate::from_ymd_opt(2024, 1, 18).expect("d"),
        step_us,
    )
    .await
    .expect("history")
}

/// A lake of generated silver for the configuration `toml`, with metric G trained (the
/// first task) and its artifact.
async fn trained_lake(toml: &str) -> (Arc<Config>, Stores, Artifact) {
    let config = Arc::new(Config::from_toml(toml, None).expect("config"));
    let stores = lake(&config).await;
    let g = MetricId::new("G").expect("id");
    let rec = train_first_task(&stores, &config).await;
    let version = rec.version;
    // What the policy (or its quality gate) left pending, a person approves: these tests
    // are about the approved version's forecasts.
    if rec.status == gras_shared::registry::ModelStatus::PendingApproval {
        gras_shared::registry::approve(
            &*stores.tables,
            &g,
            &version,
            "test",
            "by hand",
            Utc::now(),
        )
        .await
        .expect("approve");
    }
    let artifact = load_artifact(&stores, &g, &version)
        .await
        .expect("artifact");
    (config, stores, artifact)
}

/// The prediction items stored under partition key `pk`, in time order.
async fn stored(stores: &Stores, pk: &str) -> Vec<Prediction> {
    query_all(&*stores.tables, &PREDICTIONS, &Query::all(pk))
        .await
        .expect("query")
        .iter()
        .map(|i| Prediction::from_item(i).expect("prediction"))
        .collect()
}

/// The raw forecast of `horizon` steps that inference makes for series `key` of `metric`
/// with `spec` (its hourly history to 2024-01-18, trimmed and gap-filled as inference does),
/// and the series' newest bucket (µs).
async fn refit_as_inference(
    stores: &Stores,
    metric: &MetricId,
    key: &str,
    spec: &forecast::ModelSpec,
    horizon: usize,
) -> (forecast::Forecast, i64) {
    let history = history_to_jan_18(stores, metric, 1, Frequency::HOURLY.micros()).await;
    let h = history
        .iter()
        .find(|h| h.key.as_str() == key)
        .expect("series");
    let first = h.values.iter().position(Option::is_some).expect("values");
    let last = h.values.iter().rposition(Option::is_some).expect("values");
    let filled = forecast::fill_gaps(&h.values[first..=last], forecast::WEEK);
    let raw = forecast::fit_predict(spec, &filled, horizon, 0.9).expect("fit");
    (raw, h.ts_us(last))
}

/// Stores one prediction item.
async fn store_prediction(stores: &Stores, p: &Prediction) {
    stores
        .tables
        .put(
            &PREDICTIONS,
            p.to_item(),
            gras_shared::storage::Condition::Always,
        )
        .await
        .expect("put");
}

/// Stores a forecast by `version` for every value of `h`: `bounds(actual)` gives the
/// point, lower and upper bound.
async fn store_forecasts_of(
    stores: &Stores,
    metric: &MetricId,
    h: &SeriesHistory,
    version: &str,
    bounds: impl Fn(f64) -> (f64, f64, f64),
) {
    for (i, v) in h.values.iter().enumerate() {
        let Some(v) = v else { continue };
        let ts = DateTime::from_timestamp_micros(h.ts_us(i)).expect("ts");
        let (value, lower, upper) = bounds(*v);
        let p = Prediction {
            metric: metric.clone(),
            series: h.key.clone(),
            ts,
            value,
            lower,
            upper,
            quantiles: Vec::new(),
            model_version: version.to_string(),
            generated_at: ts,
        };
        store_prediction(stores, &p).await;
    }
}

/// Trains the first planned task and returns the version it registered.
async fn train_first_task(stores: &Stores, config: &Arc<Config>) -> ModelRecord {
    let trainer = Trainer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        "s3://lake",
    );
    trainer
        .train(&trainer.plan(None, "t").await.expect("plan")[0])
        .await
        .expect("train")
        .registered
        .expect("registered")
}

#[tokio::test]
async fn approved_model_forecasts_every_series_into_items_and_parquet() {
    let config = config();
    let stores = lake(&config).await;
    let g = MetricId::new("G").expect("id");
    let run = at("2024-01-19T03:00:00Z");

    // Nothing approved yet: nothing written.
    let inf = quiet_inferencer(&stores, &config, run);
    let none = inf.run(None).await.expect("run");
    assert_eq!(none[0].version, None);
    assert!(stores
        .blobs
        .list("predictions/")
        .await
        .expect("list")
        .is_empty());

    let version = train_first_task(&stores, &config).await.version.to_string();

    let metrics = Arc::new(MemoryMetrics::default());
    let alerts = Arc::new(MemoryQueue::default());
    let inf = Inferencer::new(
        stores.clone(),
        config.clone(),
        metrics.clone(),
        alerts.clone(),
    )
    .with_clock(Arc::new(move || run));
    let reports = inf.run(Some("G")).await.expect("run");
    let r = &reports[0];
    assert_eq!(r.version.as_deref(), Some(version.as_str()));
    assert_eq!((r.series, r.skipped, r.predictions), (3, 0, 3 * 24));
    assert_eq!(
        r.key.as_deref(),
        Some(predictions_key(&g, run.date_naive()).as_str())
    );
    assert!(metrics
        .all()
        .iter()
        .any(|(_, d)| d.name == "PredictionsWritten" && d.value == 72.0));

    // Items of series store-0001 start one hour after its last silver bucket, 24 hourly steps,
    // bounds around the point; a range query on `timestamp` selects a sub-range.
    let history = history_to_jan_18(&stores, &g, 1, Frequency::HOURLY.micros()).await;
    let h = history
        .iter()
        .find(|h| h.key.as_str() == "store-0001")
        .expect("series");
    let last = h.values.iter().rposition(Option::is_some).expect("values");
    let first_forecast =
        DateTime::from_timestamp_micros(h.start_us + (last as i64 + 1) * 3_600_000_000)
            .expect("ts");
    let preds = stored(&stores, "G#store-0001").await;
    assert_eq!(preds.len(), 24);
    assert_eq!(preds[0].ts, first_forecast);
    assert_eq!(preds[23].ts, first_forecast + Duration::hours(23));
    assert!(preds.iter().all(|p| p.lower <= p.value
        && p.value <= p.upper
        && p.model_version == version
        && p.generated_at == run));
    assert_eq!(preds[0].series, SeriesKey::new("store-0001").expect("key"));
    // v2 (contract section 7): the default quantile levels, ascending in level and value,
    // the 0.05 and 0.95 ones on the 90% bounds, the median on the point.
    let levels = gras_shared::config::DEFAULT_QUANTILES;
    for p in &preds {
        let got: Vec<f64> = p.quantiles.iter().map(|(l, _)| *l).collect();
        assert_eq!(got, levels, "{p:?}");
        assert!(p.quantiles.windows(2).all(|w| w[0].1 <= w[1].1), "{p:?}");
        let at = |l: f64| p.quantiles.iter().find(|(x, _)| *x == l).expect("level").1;
        assert!(
            (at(0.05) - p.lower).abs() < 1e-6 * (1.0 + p.lower.abs()),
            "{p:?}"
        );
        assert!(
            (at(0.95) - p.upper).abs() < 1e-6 * (1.0 + p.upper.abs()),
            "{p:?}"
        );
        assert_eq!(at(0.5), p.value);
    }
    // Sales never go below zero, and neither do their forecasts or bounds.
    let keys: Vec<&str> = history.iter().map(|h| h.key.as_str()).collect();
    for key in &keys {
        let pk = gras_shared::predictions::partition_key(&g, &SeriesKey::new(*key).expect("key"));
        let items = query_all(&*stores.tables, &PREDICTIONS, &Query::all(pk))
            .await
            .expect("query");
        assert_eq!(items.len(), 24, "{key} of {keys:?}");
        for i in &items {
            let p = Prediction::from_item(i).expect("prediction");
            assert!(p.lower >= 0.0 && p.value >= 0.0, "{key}: {p:?}");
            assert!(p.quantiles.iter().all(|(_, v)| *v >= 0.0), "{key}: {p:?}");
        }
    }
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let window = Query {
        range: SkRange::Between(
            fmt(first_forecast + Duration::hours(2)),
            fmt(first_forecast + Duration::hours(5)),
        ),
        ..Query::all("G#store-0001")
    };
    assert_eq!(
        query_all(&*stores.tables, &PREDICTIONS, &window)
            .await
            .expect("range")
            .len(),
        4
    );
    assert_eq!(
        query_all(&*stores.tables, &PREDICTIONS, &Query::all("G"))
            .await
            .expect("total")
            .len(),
        24,
        "series _all is keyed by the bare metric"
    );

    // Re-running for the same run time overwrites: same items, same single Parquet object.
    inf.run(None).await.expect("rerun");
    assert_eq!(
        query_all(&*stores.tables, &PREDICTIONS, &Query::all("G#store-0001"))
            .await
            .expect("query")
            .len(),
        24
    );
    assert_eq!(
        stores.blobs.list("predictions/").await.expect("list").len(),
        1
    );

    assert!(inf.run(Some("nope")).await.is_err());
}

#[tokio::test]
async fn actuals_outside_their_interval_and_outliers_alert_once() {
    use gras_shared::alerts::{Alert, AlertKind, ALERTS};
    let config = config();
    let stores = lake(&config).await;
    let g = MetricId::new("G").expect("id");
    let queue = Arc::new(MemoryQueue::default());
    let inf = Inferencer::new(
        stores.clone(),
        config.clone(),
        Arc::new(NoMetrics),
        queue.clone(),
    );

    // A forecast stored for an actual of the newest day, with an interval that excludes it.
    let history = history_to_jan_18(&stores, &g, 18, Frequency::HOURLY.micros()).await;
    let h = history
        .iter()
        .find(|h| h.key.as_str() == "store-0002")
        .expect("series");
    let i = h.values.iter().position(Option::is_some).expect("a value");
    let actual = h.values[i].expect("value");
    let ts = DateTime::from_timestamp_micros(h.start_us + i as i64 * 3_600_000_000).expect("ts");
    let p = Prediction {
        metric: g.clone(),
        series: h.key.clone(),
        ts,
        value: actual + 100.0,
        lower: actual + 50.0,
        upper: actual + 150.0,
        quantiles: Vec::new(),
        model_version: "v20240101000000-aaaaaa".into(),
        generated_at: ts,
    };
    store_prediction(&stores, &p).await;

    let now = at("2024-01-19T03:00:00Z");
    let first = inf.check_alerts(&g, now).await.expect("alerts");
    let sent: Vec<Alert> = queue
        .drain()
        .iter()
        .map(|b| serde_json::from_str(b).expect("alert json"))
        .collect();
    assert_eq!(sent.len() as u64, first);
    let fmt = ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mine: Vec<&Alert> = sent
        .iter()
        .filter(|a| a.series_key == "store-0002" && a.ts == fmt)
        .collect();
    assert_eq!(mine.len(), 1, "{sent:?}");
    assert!(matches!(
        mine[0].kind,
        AlertKind::OutsideInterval | AlertKind::OutsideIntervalAndOutlier
    ));
    assert_eq!(
        (
            mine[0].value,
            mine[0].expected,
            mine[0].model_version.as_deref()
        ),
        (actual, Some(actual + 100.0), Some("v20240101000000-aaaaaa"))
    );
    // Every other alert is an outlier row of the generated data (no other forecasts exist).
    assert!(sent
        .iter()
        .filter(|a| !(a.series_key == "store-0002" && a.ts == fmt))
        .all(|a| a.kind == AlertKind::Outlier));
    assert!(stores
        .tables
        .get(&ALERTS, "G#store-0002", &fmt)
        .await
        .expect("get")
        .is_some());

    // Re-running over the same hours sends nothing again.
    assert_eq!(inf.check_alerts(&g, now).await.expect("again"), 0);
    assert!(queue.drain().is_empty());
}

#[tokio::test]
async fn accuracy_drift_sends_exactly_one_retrain_request_per_cooldown() {
    let config = config();
    let stores = lake(&config).await;
    let g = MetricId::new("G").expect("id");
    let rec = train_first_task(&stores, &config).await;

    // Forecasts by the approved version for the newest two days of one series, all 50% off.
    let history = history_to_jan_18(&stores, &g, 17, Frequency::HOURLY.micros()).await;
    let h = history
        .iter()
        .find(|h| h.key.as_str() == "store-0001")
        .expect("series");
    store_forecasts_of(&stores, &g, h, rec.version.as_str(), |v| {
        (v * 1.5, v * 1.4, v * 1.6)
    })
    .await;
    let retrain = Arc::new(MemoryQueue::default());
    let metrics = Arc::new(MemoryMetrics::default());
    let run = at("2024-01-19T03:00:00Z");
    let inf = Inferencer::new(
        stores.clone(),
        config.clone(),
        metrics.clone(),
        Arc::new(MemoryQueue::default()),
    )
    .with_retrain_queue(retrain.clone())
    .with_clock(Arc::new(move || run));
    let r = &inf.run(Some("G")).await.expect("run")[0];
    let live = r.live.expect("live score");
    assert!(
        live.n >= 48 && live.coverage == 0.0 && live.mase > 1.5 * rec.metrics.mase,
        "{live:?}"
    );
    assert!(
        r.drift
            .as_deref()
            .is_some_and(|d| d.contains("accuracy drift")),
        "{:?}",
        r.drift
    );
    assert!(r.retrain_requested);
    let sent = retrain.drain();
    assert_eq!(sent.len(), 1);
    let task: gras_shared::pipeline::train::TrainTask =
        serde_json::from_str(&sent[0]).expect("a training task");
    assert_eq!(task.metric, "G");
    assert!(metrics.all().iter().any(|(_, d)| d.name == "LiveMASE"));

    // Within the cool-down: drift again, no second request.
    let r = &inf.run(Some("G")).await.expect("run")[0];
    assert!(r.drift.is_some() && !r.retrain_requested);
    assert!(retrain.drain().is_empty());
    // After it, one more.
    let later = run + Duration::hours(25);
    let inf = inf.with_clock(Arc::new(move || later));
    assert!(inf.run(Some("G")).await.expect("run")[0].retrain_requested);
    assert_eq!(retrain.drain().len(), 1);
}

/// A metric bucketed every 15 minutes is trained and forecast in its own steps: a day is 96
/// steps and a week 672 for the models, and the forecasts are 15 minutes apart, starting
/// one bucket after each series' newest.
#[tokio::test]
async fn a_fifteen_minute_metric_is_modelled_and_forecast_in_its_own_steps() {
    use gras_shared::forecast::ModelSpec;
    let text = "[metrics.G]\naggregation = \"sum\"\nfrequency = \"15m\"\nhorizon = 8\n\
                interval = 0.9\n[training]\nwindow_days = 18\n\
                [approval]\ncoverage_tolerance = 1.0\n";
    let (config, stores, artifact) = trained_lake(text).await;
    let g = MetricId::new("G").expect("id");
    assert_eq!(artifact.frequency, "15m");
    fn in_steps(spec: &ModelSpec) -> bool {
        match spec {
            ModelSpec::SeasonalNaive { period } => *period == 672,
            ModelSpec::MstlEts { periods, .. } => periods == &vec![96, 672],
            ModelSpec::Mean { members } => members.iter().all(in_steps),
        }
    }
    let in_steps = in_steps(&artifact.spec);
    assert!(
        in_steps,
        "periods not in 15-minute steps: {:?}",
        artifact.spec
    );

    let run = at("2024-01-19T03:00:00Z");
    let inf = quiet_inferencer(&stores, &config, run);
    let r = &inf.run(Some("G")).await.expect("run")[0];
    assert_eq!((r.series, r.skipped, r.predictions), (3, 0, 3 * 8));

    let step = Frequency::parse("15m").expect("freq").micros();
    let history = history_to_jan_18(&stores, &g, 1, step).await;
    let h = history
        .iter()
        .find(|h| h.key.as_str() == "store-0001")
        .expect("series");
    let last = h.values.iter().rposition(Option::is_some).expect("values");
    // The 15-minute buckets are all there (4 a day-hour), not one an hour.
    assert!(h.values.len() >= 4 * 24 * 17, "{} buckets", h.values.len());
    let points = stored(&stores, "G#store-0001").await;
    let ts: Vec<i64> = points.iter().map(|p| p.ts.timestamp_micros()).collect();
    let expected: Vec<i64> = (1..=8).map(|k| h.ts_us(last) + k * step).collect();
    assert_eq!(ts, expected);
    // Forecasts on the scale of a 15-minute bucket: near the last day's mean bucket value.
    let day: Vec<f64> = h.values[last + 1 - 96..=last]
        .iter()
        .flatten()
        .copied()
        .collect();
    let mean = day.iter().sum::<f64>() / day.len() as f64;
    for p in &points {
        assert!(
            p.value > 0.0 && p.value < 3.0 * mean && p.lower <= p.value && p.value <= p.upper,
            "{p:?} against a daily mean of {mean}"
        );
    }
}

/// Inference applies the version's calibration by lead time: the first day's bounds get the
/// first day's factor, the later steps the other one (checked against a re-fit of the spec
/// on the same history).
#[tokio::test]
async fn the_first_day_of_a_forecast_gets_its_own_interval_scale() {
    let text = "[metrics.G]\naggregation = \"sum\"\nhorizon = 48\ninterval = 0.9\n\
                [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n";
    let (config, stores, artifact) = trained_lake(text).await;
    let g = MetricId::new("G").expect("id");
    assert_eq!(
        artifact.near_steps, 24,
        "the first day of a 48-step horizon"
    );
    assert_ne!(artifact.near_interval_scale, artifact.interval_scale);
    let calibration = artifact.calibration();

    let run = at("2024-01-19T03:00:00Z");
    let r = &quiet_inferencer(&stores, &config, run)
        .run(Some("G"))
        .await
        .expect("run")[0];
    assert_eq!((r.series, r.skipped, r.predictions), (3, 0, 3 * 48));

    let (raw, _) = refit_as_inference(&stores, &g, "store-0001", &artifact.spec, 48).await;
    let mut want = raw.clone();
    want.calibrate(&calibration);
    want.clip_at_zero();
    let got = stored(&stores, "G#store-0001").await;
    assert_eq!(got.len(), 48);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for (step, p) in got.iter().enumerate() {
        assert!(
            close(p.value, want.point[step])
                && close(p.lower, want.lower[step])
                && close(p.upper, want.upper[step]),
            "step {step}: stored {p:?}, want {} [{}, {}]",
            want.point[step],
            want.lower[step],
            want.upper[step]
        );
        // Where the upper bound is not clipped, it is the model's half-width times the
        // step's factor.
        let factor = if step < 24 {
            artifact.near_interval_scale
        } else {
            artifact.interval_scale
        };
        let half = raw.upper[step] - raw.point[step];
        assert!(close(p.upper - p.value, half * factor), "step {step}");
    }
}

/// The online interval factor: actuals that arrive inside their bounds narrow the next
/// forecasts' bounds by the rate of `forecast::online`, each actual counts once however
/// often it is scored again, the factor is kept per version in `gras_state`, and a zero
/// rate leaves the trained calibration alone.
#[tokio::test]
async fn actuals_inside_their_bounds_narrow_the_next_forecasts_once() {
    use gras_shared::state::eval::{ATTR_ADAPT_THROUGH_US, ATTR_INTERVAL_ADAPT};
    use gras_shared::storage::Attr;
    for rate in [0.05, 0.0] {
        let text = format!(
            "[metrics.G]\naggregation = \"sum\"\nhorizon = 24\ninterval = 0.9\n\
             [training]\nwindow_days = 18\n[approval]\ncoverage_tolerance = 1.0\n\
             [inference]\ninterval_adapt_rate = {rate}\n"
        );
        let (config, stores, artifact) = trained_lake(&text).await;
        let g = MetricId::new("G").expect("id");
        let version = gras_shared::registry::approved(&*stores.tables, &g)
            .await
            .expect("registry")
            .expect("approved")
            .version;

        // Forecasts by the approved version for the newest two days of one series, every
        // actual well inside its bounds.
        let history = history_to_jan_18(&stores, &g, 17, Frequency::HOURLY.micros()).await;
        let h = history
            .iter()
            .find(|h| h.key.as_str() == "store-0001")
            .expect("series");
        store_forecasts_of(&stores, &g, h, version.as_str(), |v| (v, v * 0.5, v * 1.5)).await;
        let run = at("2024-01-19T03:00:00Z");
        let inf = quiet_inferencer(&stores, &config, run);
        let r = inf.run(Some("G")).await.expect("run")[0].clone();
        let live = r.live.expect("live score");
        assert_eq!(live.coverage, 1.0);
        // One series: as many time steps as points, all covered.
        let want = (rate * live.n as f64 * (0.0 - 0.1)).exp();
        let got = r.interval_adapt.expect("factor");
        assert!((got - want).abs() < 1e-12, "rate {rate}: {got} vs {want}");
        if rate > 0.0 {
            assert!(got < 0.9, "{} points covered narrow the bounds", live.n);
        }
        let state = inf.online_state(&g, version.as_str()).await.expect("state");
        assert_eq!(state.factor, got);
        let newest = h.values.iter().rposition(Option::is_some).expect("values");
        assert_eq!(state.through_us, Some(h.ts_us(newest)));
        let item = stores
            .tables
            .get(
                &gras_shared::state::STATE,
                &format!("eval#{g}"),
                version.as_str(),
            )
            .await
            .expect("get")
            .expect("eval item");
        assert_eq!(
            item.get(ATTR_INTERVAL_ADAPT).and_then(Attr::as_n),
            Some(got)
        );
        assert_eq!(
            item.get(ATTR_ADAPT_THROUGH_US).and_then(Attr::as_n),
            state.through_us.map(|t| t as f64)
        );

        // The forecasts just written carry it: each bound is the model's half-width times
        // the trained first-day factor times the online one (store-0002, never clipped
        // here: checked below against a re-fit).
        let (raw, newest_us) =
            refit_as_inference(&stores, &g, "store-0002", &artifact.spec, 24).await;
        let points = stored(&stores, "G#store-0002").await;
        let points: Vec<&Prediction> = points
            .iter()
            .filter(|p| p.ts.timestamp_micros() > newest_us)
            .collect();
        assert_eq!(points.len(), 24);
        let half =
            |step: usize| (raw.upper[step] - raw.point[step]) * artifact.near_interval_scale * got;
        for (step, p) in points.iter().enumerate() {
            assert!(
                ((p.upper - p.value) - half(step)).abs() <= 1e-9 * half(step).abs().max(1.0),
                "step {step}: {} vs {}",
                p.upper - p.value,
                half(step)
            );
        }
        // "Analyze now" applies it too.
        let analysis = inf
            .analyze(
                "G",
                Some(&SeriesKey::new("store-0002").expect("key")),
                Some(24),
                AnalyzeLimits::default(),
            )
            .await
            .expect("analyze");
        assert_eq!(analysis.predictions.len(), 24);
        for (step, p) in analysis.predictions.iter().enumerate() {
            assert!(
                ((p.upper - p.value) - half(step)).abs() <= 1e-9 * half(step).abs().max(1.0),
                "analyze step {step}"
            );
        }

        // The next run scores the same actuals again: they were counted, nothing moves.
        let again = inf.run(Some("G")).await.expect("run")[0].clone();
        assert_eq!(again.interval_adapt, Some(got));
    }
}
