//! Deterministic synthetic bronze data (the input of `gras generate`).
//!
//! [`generate`] writes, for every configured metric (in configuration order) and every UTC
//! day of a [`GenSpec`], the raw Parquet files a real producer would upload to
//! `bronze/gras/metric=<M>/year=/month=/day=/` (contract section 2), one file at a time, so
//! memory stays bounded by one metric-day. Everything follows from the seed: the same spec
//! and configuration give byte-identical files.
//!
//! # Content
//! - Series `store-0001` .. `store-<K>` plus the metric total, written with a null
//!   `series_key` (or, on some days, in a file of its own without the column), which the
//!   contract maps to `_all`. The total is the sum (sum metrics) or mean (mean/last metrics)
//!   of the stores' hourly values.
//! - Hourly shape per series: a log-normal level, daily seasonality (night low, afternoon
//!   peak), weekly seasonality (sum metrics: weekends lower; mean/last metrics: weekends
//!   higher), a slow trend with a gentle multi-week wave, multiplicative noise, and lower
//!   values on the metric's holidays. Values are never negative.
//! - Sum metrics: several events per hour at random instants whose amounts (cents) add up
//!   to the hourly amount. Mean/last metrics: 1 to 4 readings per hour around the level.
//!
//! # Faults, as a real producer has them
//! - ~0.5% exact duplicate rows: ~0.3% repeated in place, plus on ~10% of metric-days a
//!   replay file (`replay-0001.parquet`, same schema) re-sending ~2% of the day's first file.
//! - Gaps: per series and day a 3% chance of a short gap (1-3 hours) and a 0.6% chance of a
//!   long one (4-30 hours, possibly over midnight); half those rates for the total.
//! - Outliers: 0.15% of series-hours, 60% of them spikes x4..x8, the rest drops to < 3%.
//! - ~0.05% extra invalid rows: value NaN (null where the type cannot hold NaN), value null,
//!   or `ts` null.
//! - Late data: on ~15% of metric-days a `late-0001.parquet` holds the rows of a 1-6 hour
//!   window for ~25% of the series, rows that are missing from `part-0000.parquet`.
//!
//! # Physical types (rotated by metric, day and file so every one appears within two days)
//! - `ts`: timestamp(ms), timestamp(us, "UTC"), timestamp(ns, "+02:00"), int64 epoch
//!   milliseconds, RFC 3339 text with `Z` (fraction omitted when zero, as Java's
//!   `Instant.toString` does), text without zone (UTC), text with a numeric offset.
//! - `value`: float64, float32, int64 (sum metrics only, rounded to whole counts),
//!   decimal128(18, 4).
//! - `series_key`: utf8, large utf8, dictionary(int32, utf8).
//! - Some files carry `metric_id` (utf8, always the metric) and an unrelated `source`
//!   column, and column order varies.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::builder::{LargeStringBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Decimal128Array, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use chrono::{Datelike, Days, NaiveDate, NaiveTime};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use gras_shared::config::{Aggregation, Config, MetricConfig};
use gras_shared::contract::{bronze_col, BronzeKey};
use gras_shared::ids::MetricId;

/// Maximum rows per Parquet row group in generated files.
pub const MAX_ROW_GROUP_ROWS: usize = 65_536;

/// Largest accepted [`GenSpec::series`].
pub const MAX_SERIES: u32 = 1_000_000;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Chance that a row is repeated in place (exact duplicate in the same file).
const DUP_IN_FILE_P: f64 = 0.003;
/// Chance that a metric-day gets a replay file.
const REPLAY_FILE_P: f64 = 0.10;
/// Mean fraction of the first file's rows a replay re-sends.
const REPLAY_FRACTION: f64 = 0.02;
/// Chance that a row is followed by an extra invalid row.
const INVALID_P: f64 = 0.0005;
/// Chance that a series-hour is an outlier.
const OUTLIER_P: f64 = 0.0015;
/// Chance that a metric-day gets a late file.
const LATE_FILE_P: f64 = 0.15;
/// Share of the series whose rows of the late window arrive late.
const LATE_SERIES_P: f64 = 0.25;
/// Chance per series and day that a short gap (1-3 hours) starts.
const SHORT_GAP_P: f64 = 0.03;
/// Chance per series and day that a long gap (4-30 hours) starts.
const LONG_GAP_P: f64 = 0.006;
/// Chance that a metric-day writes the total series in a file without `series_key`.
const TOTALS_SPLIT_P: f64 = 0.25;

/// Values of the extra `source` column, by store; the total uses `rollup`.
const SOURCES: [&str; 4] = ["pos", "web", "app", "partner"];

/// What to generate: the UTC dates, the number of series per metric, and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenSpec {
    /// First UTC date.
    pub start: NaiveDate,
    /// Number of consecutive days (at least 1).
    pub days: u32,
    /// Store series per metric (`store-0001` ..); the total series comes in addition.
    pub series: u32,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for GenSpec {
    /// 30 days from 2024-01-01, 20 series, seed 7.
    fn default() -> Self {
        Self {
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date"),
            days: 30,
            series: 20,
            seed: 7,
        }
    }
}

/// One generated bronze object.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedObject {
    /// The object key, `bronze/gras/metric=<M>/year=<YYYY>/month=<MM>/day=<DD>/<name>.parquet`.
    pub key: String,
    /// The Parquet file.
    pub body: Bytes,
    /// Rows in the file (duplicates and invalid rows included).
    pub rows: usize,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The Parquet writer failed.
    #[error("cannot write parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// An Arrow array or batch could not be built.
    #[error("cannot build arrow data: {0}")]
    Arrow(#[from] ArrowError),
    /// The spec or configuration cannot be generated.
    #[error("invalid generation request: {0}")]
    Invalid(String),
}

/// Generates the bronze files of `spec` for every metric of `config`, one file at a time.
///
/// Files come metric by metric (configuration order), day by day; within a day
/// `part-0000.parquet` first, then when present `part-0001.parquet` (the total series
/// without a `series_key` column), `late-0001.parquet` and `replay-0001.parquet`.
/// An invalid spec (no days, too many series, dates out of range, no metrics) yields one
/// [`GenerateError::Invalid`] and ends.
pub fn generate<'a>(spec: &GenSpec, config: &'a Config) -> Generator<'a> {
    let error = validate(spec, config).err();
    let names = (1..=spec.series.min(MAX_SERIES))
        .map(|i| format!("store-{i:04}"))
        .collect();
    Generator {
        spec: *spec,
        metrics: config.metrics.iter().collect(),
        names,
        metric_pos: 0,
        day: 0,
        current: None,
        pending: VecDeque::new(),
        error,
        done: false,
    }
}

fn validate(spec: &GenSpec, config: &Config) -> Result<(), GenerateError> {
    if spec.days == 0 {
        return Err(GenerateError::Invalid("days must be at least 1".into()));
    }
    if spec.series > MAX_SERIES {
        return Err(GenerateError::Invalid(format!(
            "series = {}: at most {MAX_SERIES} are supported",
            spec.series
        )));
    }
    if spec
        .start
        .checked_add_days(Days::new(u64::from(spec.days)))
        .is_none()
    {
        return Err(GenerateError::Invalid(format!(
            "{} days from {} run past the supported dates",
            spec.days, spec.start
        )));
    }
    if config.metrics.is_empty() {
        return Err(GenerateError::Invalid("no metrics configured".into()));
    }
    Ok(())
}

/// The iterator returned by [`generate`]: yields one encoded file per call.
pub struct Generator<'a> {
    spec: GenSpec,
    metrics: Vec<(&'a MetricId, &'a MetricConfig)>,
    names: Vec<String>,
    metric_pos: usize,
    day: u32,
    current: Option<MetricState<'a>>,
    pending: VecDeque<PlannedFile>,
    error: Option<GenerateError>,
    done: bool,
}

impl Iterator for Generator<'_> {
    type Item = Result<GeneratedObject, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.error.take() {
            self.done = true;
            return Some(Err(err));
        }
        loop {
            if self.done {
                return None;
            }
            if let Some(file) = self.pending.pop_front() {
                let metric = self.current.as_ref().map(|s| s.id)?;
                return Some(encode(&file, metric, &self.names));
            }
            if self.current.is_none() {
                let Some(&(id, cfg)) = self.metrics.get(self.metric_pos) else {
                    self.done = true;
                    return None;
                };
                self.day = 0;
                self.current = Some(MetricState::new(&self.spec, self.metric_pos, id, cfg));
            }
            let Some(state) = &self.current else { continue };
            if self.day >= self.spec.days {
                self.current = None;
                self.metric_pos += 1;
                continue;
            }
            self.pending.extend(plan_day(&self.spec, state, self.day));
            self.day += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Randomness

/// SplitMix64 finaliser: decorrelates derived seeds.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix(a ^ splitmix(b))
}

/// FNV-1a of a metric id, so a metric's data does not depend on which others exist.
fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const TAG_SERIES: u64 = 0x5345_5249_4553;
const TAG_DAY: u64 = 0x4441_5900_0000;

struct Rand {
    rng: StdRng,
    spare: Option<f64>,
}

impl Rand {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u32) -> u32 {
        self.rng.random_range(0..n)
    }

    /// Standard normal (Box-Muller, both values used).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

// ---------------------------------------------------------------------------------------
// Series model

/// Flow metrics (sum) are amounts split into events; level metrics (mean/last) are readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flow,
    Level,
}

struct SeriesParams {
    level: f64,
    slope: f64,
    wave_amp: f64,
    wave_period: f64,
    wave_phase: f64,
    daily: [f64; 24],
    weekly: [f64; 7],
    noise: f64,
    /// Mean events per hour at a daily factor of 1 (flow metrics).
    events: f64,
    /// Missing hours, `[start, end)` counted from the first generated hour.
    gaps: Vec<(u32, u32)>,
}

impl SeriesParams {
    fn new(rng: &mut Rand, shape: Shape, base: f64, total: bool, days: u32) -> Self {
        let (level, ratio) = match shape {
            Shape::Flow => {
                let r = (0.8 * rng.normal()).exp();
                (base * r, r)
            }
            Shape::Level => {
                let r = (0.35 * rng.normal()).exp();
                (base * r, r)
            }
        };
        let peak = 15.0 + 0.8 * rng.normal();
        let mut daily = [0.0; 24];
        match shape {
            Shape::Flow => {
                let width = 4.0 + 1.5 * rng.unit();
                let morning = 0.15 + 0.2 * rng.unit();
                for (h, d) in daily.iter_mut().enumerate() {
                    let x = h as f64 + 0.5;
                    *d = 0.05
                        + (-0.5 * ((x - peak) / width).powi(2)).exp()
                        + morning * (-0.5 * ((x - 9.5) / 1.5).powi(2)).exp();
                }
            }
            Shape::Level => {
                let amp = 0.15 + 0.2 * rng.unit();
                for (h, d) in daily.iter_mut().enumerate() {
                    let x = h as f64 + 0.5;
                    *d = 1.0 + amp * (std::f64::consts::TAU * (x - peak) / 24.0).cos();
                }
            }
        }
        let mean = daily.iter().sum::<f64>() / 24.0;
        daily.iter_mut().for_each(|d| *d /= mean);
        let (week, jitter) = match shape {
            Shape::Flow => ([1.0, 1.0, 1.02, 1.05, 1.12, 0.72, 0.62], 0.04),
            Shape::Level => ([0.96, 0.95, 0.97, 1.0, 1.04, 1.15, 1.12], 0.02),
        };
        let mut weekly = [0.0; 7];
        for (w, base_w) in weekly.iter_mut().zip(week) {
            *w = base_w * (jitter * rng.normal()).exp();
        }
        let slope = rng.normal()
            * match shape {
                Shape::Flow => 0.003,
                Shape::Level => 0.0015,
            };
        let wave_amp = 0.03 + 0.03 * rng.unit();
        let wave_period = 20.0 + 20.0 * rng.unit();
        let wave_phase = std::f64::consts::TAU * rng.unit();
        let noise = match shape {
            Shape::Flow => 0.08 + 0.10 * rng.unit(),
            Shape::Level => 0.03 + 0.04 * rng.unit(),
        };
        let events = if total {
            6.0
        } else {
            (1.5 + 2.5 * ratio.sqrt()).min(12.0)
        };
        let scale = if total { 0.5 } else { 1.0 };
        let mut gaps = Vec::new();
        for d in 0..days {
            if rng.chance(SHORT_GAP_P * scale) {
                let s = d * 24 + rng.below(24);
                gaps.push((s, s + 1 + rng.below(3)));
            }
            if rng.chance(LONG_GAP_P * scale) {
                let s = d * 24 + rng.below(24);
                gaps.push((s, s + 4 + rng.below(27)));
            }
        }
        Self {
            level,
            slope,
            wave_amp,
            wave_period,
            wave_phase,
            daily,
            weekly,
            noise,
            events,
            gaps,
        }
    }

    /// The hourly value before faults (draws one normal).
    fn hourly(&self, rng: &mut Rand, t_days: f64, hour: usize, dow: usize, holiday: f64) -> f64 {
        let trend = (1.0
            + self.slope * t_days
            + self.wave_amp
                * (std::f64::consts::TAU * t_days / self.wave_period + self.wave_phase).sin())
        .max(0.3);
        let noise = (self.noise * rng.normal() - 0.5 * self.noise * self.noise).exp();
        self.level * trend * self.daily[hour] * self.weekly[dow] * holiday * noise
    }

    /// Bit h set when hour h of `day` is missing.
    fn gap_mask(&self, day: u32) -> u32 {
        let (lo, hi) = (day * 24, day * 24 + 24);
        let mut mask = 0u32;
        for &(a, b) in &self.gaps {
            for h in a.max(lo)..b.min(hi) {
                mask |= 1 << (h - lo);
            }
        }
        mask
    }
}

struct MetricState<'a> {
    index: usize,
    id: &'a MetricId,
    cfg: &'a MetricConfig,
    shape: Shape,
    seed: u64,
    stores: Vec<SeriesParams>,
    total: SeriesParams,
}

impl<'a> MetricState<'a> {
    fn new(spec: &GenSpec, index: usize, id: &'a MetricId, cfg: &'a MetricConfig) -> Self {
        let seed = mix(spec.seed, name_hash(id.as_str()));
        let shape = match cfg.aggregation {
            Aggregation::Sum => Shape::Flow,
            Aggregation::Mean | Aggregation::Last => Shape::Level,
        };
        let mut metric_rng = Rand::new(mix(seed, 0));
        let base = match shape {
            Shape::Flow => 60.0,
            Shape::Level => 30.0,
        } * (0.5 * metric_rng.normal()).exp();
        let params = |i: u64, total: bool| {
            let mut rng = Rand::new(mix(seed, TAG_SERIES ^ (i << 20)));
            SeriesParams::new(&mut rng, shape, base, total, spec.days)
        };
        let stores = (0..spec.series)
            .map(|i| params(u64::from(i) + 1, false))
            .collect();
        let total = params(0, true);
        Self {
            index,
            id,
            cfg,
            shape,
            seed,
            stores,
            total,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rows and day plans

/// Series index of the total (`_all`) series.
const TOTAL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    NullTs,
    NullValue,
    NanValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    /// Epoch milliseconds (kept for ordering even when the row's ts is written null).
    ts: i64,
    value: f64,
    /// Store index, or [`TOTAL`].
    series: u32,
    flaw: Flaw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Part,
    Totals,
    Late,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsKind {
    Millis,
    MicrosUtc,
    NanosPlus2,
    EpochMillis,
    TextZulu,
    TextNaive,
    TextOffset,
}

const TS_KINDS: [TsKind; 7] = [
    TsKind::Millis,
    TsKind::TextZulu,
    TsKind::MicrosUtc,
    TsKind::EpochMillis,
    TsKind::NanosPlus2,
    TsKind::TextNaive,
    TsKind::TextOffset,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    F64,
    F32,
    I64,
    Decimal,
}

const FLOW_VALUES: [ValueKind; 4] = [
    ValueKind::F64,
    ValueKind::F32,
    ValueKind::I64,
    ValueKind::Decimal,
];
const LEVEL_VALUES: [ValueKind; 3] = [ValueKind::F64, ValueKind::Decimal, ValueKind::F32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeriesKind {
    Utf8,
    Large,
    Dict,
}

const SERIES_KINDS: [SeriesKind; 3] = [SeriesKind::Utf8, SeriesKind::Dict, SeriesKind::Large];

/// Offsets (minutes) used by [`TsKind::TextOffset`].
const TEXT_OFFSETS: [i32; 3] = [120, -300, 330];

/// The physical shape of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    ts: TsKind,
    /// Offset in minutes for [`TsKind::TextOffset`].
    offset_min: i32,
    value: ValueKind,
    /// `None`: no `series_key` column (only total rows).
    series: Option<SeriesKind>,
    metric_id: bool,
    source: bool,
    reversed: bool,
}

impl Layout {
    fn choose(
        rng: &mut Rand,
        metric: usize,
        day: u32,
        file_no: usize,
        shape: Shape,
        with_series: bool,
    ) -> Self {
        let day = day as usize;
        let ts = TS_KINDS[(day + 2 * metric + 3 * file_no) % TS_KINDS.len()];
        let value = match shape {
            Shape::Flow => FLOW_VALUES[(day + metric + 2 * file_no) % FLOW_VALUES.len()],
            Shape::Level => LEVEL_VALUES[(day + metric + 2 * file_no) % LEVEL_VALUES.len()],
        };
        let series =
            with_series.then(|| SERIES_KINDS[(2 * day + metric + file_no) % SERIES_KINDS.len()]);
        Self {
            ts,
            offset_min: TEXT_OFFSETS[rng.below(TEXT_OFFSETS.len() as u32) as usize],
            value,
            series,
            metric_id: rng.chance(0.4),
            source: rng.chance(0.3),
            reversed: rng.chance(0.5),
        }
    }
}

struct PlannedFile {
    key: String,
    layout: Layout,
    rows: Vec<Row>,
}

/// Collects the rows of one hour, adding in-place duplicates and invalid rows.
struct HourSink {
    rows: Vec<(Dest, Row)>,
    shape: Shape,
    hour_ms: i64,
}

impl HourSink {
    fn push(&mut self, rng: &mut Rand, dest: Dest, row: Row) {
        self.rows.push((dest, row));
        let u = rng.unit();
        if u < DUP_IN_FILE_P {
            self.rows.push((dest, row));
        } else if u < DUP_IN_FILE_P + INVALID_P {
            let k = rng.unit();
            let flaw = if k < 0.4 {
                Flaw::NanValue
            } else if k < 0.7 {
                Flaw::NullValue
            } else {
                Flaw::NullTs
            };
            self.rows.push((dest, Row { flaw, ..row }));
        }
    }

    /// Emits the rows of one series-hour whose (aggregated) value is `v`.
    fn emit(&mut self, rng: &mut Rand, series: u32, v: f64, daily: f64, events: f64, dest: Dest) {
        match self.shape {
            Shape::Flow => {
                let n = (1.0 + events * daily.sqrt() * (0.5 + rng.unit()))
                    .floor()
                    .min(48.0) as usize;
                let mut weights = [0.0f64; 48];
                let mut sum = 0.0;
                for w in weights.iter_mut().take(n) {
                    *w = -(1.0 - rng.unit()).ln() + 1e-9;
                    sum += *w;
                }
                for w in weights.iter().take(n) {
                    let ts = self.hour_ms + i64::from(rng.below(HOUR_MS as u32));
                    let value = (v * w / sum * 100.0).round() / 100.0;
                    self.push(
                        rng,
                        dest,
                        Row {
                            ts,
                            value,
                            series,
                            flaw: Flaw::None,
                        },
                    );
                }
            }
            Shape::Level => {
                let n = 1 + rng.below(4);
                for j in 0..n {
                    let slot = (f64::from(j) + rng.unit()) / f64::from(n);
                    let ts = self.hour_ms + (slot * HOUR_MS as f64) as i64;
                    let value =
                        ((v * (1.0 + 0.03 * rng.normal())).max(0.0) * 10_000.0).round() / 10_000.0;
                    self.push(
                        rng,
                        dest,
                        Row {
                            ts,
                            value,
                            series,
                            flaw: Flaw::None,
                        },
                    );
                }
            }
        }
    }
}

fn outlier(rng: &mut Rand, v: f64) -> f64 {
    let u = rng.unit();
    if u < OUTLIER_P * 0.6 {
        v * (4.0 + 4.0 * rng.unit())
    } else if u < OUTLIER_P {
        v * 0.03 * rng.unit()
    } else {
        v
    }
}

/// Generates the rows of one metric-day and splits them into files.
fn plan_day(spec: &GenSpec, st: &MetricState<'_>, day: u32) -> Vec<PlannedFile> {
    let date = spec.start + Days::new(u64::from(day));
    let mut rng = Rand::new(mix(st.seed, TAG_DAY ^ (u64::from(day) << 24)));
    let k = st.stores.len();
    let day_ms = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    let dow = date.weekday().num_days_from_monday() as usize;
    let holiday = if st.cfg.holidays.contains(&date) {
        match st.shape {
            Shape::Flow => 0.55,
            Shape::Level => 0.85,
        }
    } else {
        1.0
    };

    let split_totals = k > 0 && rng.chance(TOTALS_SPLIT_P);
    let late = rng.chance(LATE_FILE_P).then(|| {
        let h0 = rng.below(24);
        (h0, (h0 + 1 + rng.below(6)).min(24))
    });
    let late_sel: Vec<bool> = match late {
        Some(_) => (0..=k).map(|_| rng.chance(LATE_SERIES_P)).collect(),
        None => Vec::new(),
    };
    let masks: Vec<u32> = st.stores.iter().map(|p| p.gap_mask(day)).collect();
    let total_mask = st.total.gap_mask(day);

    let per_hour = (k + 1) * if st.shape == Shape::Flow { 5 } else { 3 };
    let mut part = Vec::with_capacity(per_hour * 24);
    let mut totals = Vec::new();
    let mut late_rows = Vec::new();
    let mut sink = HourSink {
        rows: Vec::with_capacity(per_hour + 16),
        shape: st.shape,
        hour_ms: 0,
    };

    for h in 0..24usize {
        let t_days = (f64::from(day) * 24.0 + h as f64) / 24.0;
        sink.hour_ms = day_ms + h as i64 * HOUR_MS;
        let in_late = late.is_some_and(|(a, b)| (a..b).contains(&(h as u32)));
        let mut sum = 0.0;
        for (s, p) in st.stores.iter().enumerate() {
            let v = p.hourly(&mut rng, t_days, h, dow, holiday);
            sum += v;
            if masks[s] >> h & 1 == 1 {
                continue;
            }
            let v = outlier(&mut rng, v);
            let dest = if in_late && late_sel[s] {
                Dest::Late
            } else {
                Dest::Part
            };
            sink.emit(&mut rng, s as u32, v, p.daily[h], p.events, dest);
        }
        let total = match (k, st.shape) {
            (0, _) => st.total.hourly(&mut rng, t_days, h, dow, holiday),
            (_, Shape::Flow) => sum,
            (_, Shape::Level) => sum / k as f64,
        };
        if total_mask >> h & 1 == 0 {
            let v = outlier(&mut rng, total);
            let dest = if in_late && late_sel[k] {
                Dest::Late
            } else if split_totals {
                Dest::Totals
            } else {
                Dest::Part
            };
            let daily = if k == 0 { st.total.daily[h] } else { 1.0 };
            sink.emit(&mut rng, TOTAL, v, daily, st.total.events, dest);
        }
        sink.rows.sort_by_key(|(_, r)| r.ts);
        for (dest, row) in sink.rows.drain(..) {
            match dest {
                Dest::Part => part.push(row),
                Dest::Totals => totals.push(row),
                Dest::Late => late_rows.push(row),
            }
        }
    }

    let replay = (!part.is_empty() && rng.chance(REPLAY_FILE_P)).then(|| {
        let want = (part.len() as f64 * REPLAY_FRACTION * (0.5 + rng.unit())).ceil() as usize;
        let len = want.clamp(1, part.len());
        let start = rng.below((part.len() - len + 1) as u32) as usize;
        part[start..start + len].to_vec()
    });

    let part_layout = Layout::choose(&mut rng, st.index, day, 0, st.shape, true);
    let totals_layout = Layout::choose(&mut rng, st.index, day, 1, st.shape, false);
    let late_layout = Layout::choose(&mut rng, st.index, day, 2, st.shape, true);
    let key = |name: &str| BronzeKey::key(st.id, date, name);
    let mut files = Vec::with_capacity(4);
    for (name, layout, rows) in [
        ("part-0000.parquet", part_layout, Some(part)),
        ("part-0001.parquet", totals_layout, Some(totals)),
        ("late-0001.parquet", late_layout, Some(late_rows)),
        ("replay-0001.parquet", part_layout, replay),
    ] {
        if let Some(rows) = rows.filter(|r| !r.is_empty()) {
            files.push(PlannedFile {
                key: key(name),
                layout,
                rows,
            });
        }
    }
    files
}

// ---------------------------------------------------------------------------------------
// Encoding

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .build()
}

fn encode(
    file: &PlannedFile,
    metric: &MetricId,
    names: &[String],
) -> Result<GeneratedObject, GenerateError> {
    let rows = &file.rows;
    let layout = file.layout;
    let mut cols: Vec<(Field, ArrayRef)> = Vec::with_capacity(5);
    cols.push(ts_column(rows, layout));
    if let Some(kind) = layout.series {
        cols.push(series_column(rows, kind, names)?);
    }
    cols.push(value_column(rows, layout.value)?);
    if layout.metric_id {
        let a = StringArray::from_iter_values(std::iter::repeat_n(metric.as_str(), rows.len()));
        cols.push((
            Field::new(bronze_col::METRIC_ID, DataType::Utf8, true),
            Arc::new(a),
        ));
    }
    if layout.source {
        let a = StringArray::from_iter_values(rows.iter().map(|r| {
            if r.series == TOTAL {
                "rollup"
            } else {
                SOURCES[r.series as usize % SOURCES.len()]
            }
        }));
        cols.push((Field::new("source", DataType::Utf8, true), Arc::new(a)));
    }
    if layout.reversed {
        cols.reverse();
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(writer_properties()))?;
    writer.write(&batch)?;
    let body = writer.into_inner()?;
    Ok(GeneratedObject {
        key: file.key.clone(),
        body: Bytes::from(body),
        rows: rows.len(),
    })
}

fn ts_opt(r: &Row) -> Option<i64> {
    (r.flaw != Flaw::NullTs).then_some(r.ts)
}

fn ts_column(rows: &[Row], layout: Layout) -> (Field, ArrayRef) {
    let (dt, array): (DataType, ArrayRef) = match layout.ts {
        TsKind::Millis => (
            DataType::Timestamp(TimeUnit::Millisecond, None),
            Arc::new(
                rows.iter()
                    .map(ts_opt)
                    .collect::<TimestampMillisecondArray>(),
            ),
        ),
        TsKind::MicrosUtc => (
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Arc::new(
                rows.iter()
                    .map(|r| ts_opt(r).map(|t| t * 1_000))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
        ),
        TsKind::NanosPlus2 => (
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            Arc::new(
                rows.iter()
                    .map(|r| ts_opt(r).map(|t| t * 1_000_000))
                    .collect::<TimestampNanosecondArray>()
                    .with_timezone("+02:00"),
            ),
        ),
        TsKind::EpochMillis => (
            DataType::Int64,
            Arc::new(rows.iter().map(ts_opt).collect::<Int64Array>()),
        ),
        TsKind::TextZulu | TsKind::TextNaive | TsKind::TextOffset => {
            let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 29);
            let mut text = TextTs::new(layout.ts, layout.offset_min);
            for r in rows {
                match ts_opt(r) {
                    Some(t) => b.append_value(text.format(t)),
                    None => b.append_null(),
                }
            }
            (DataType::Utf8, Arc::new(b.finish()))
        }
    };
    (Field::new(bronze_col::TS, dt, true), array)
}

/// RFC 3339 formatting without per-row allocation.
struct TextTs {
    kind: TsKind,
    offset_ms: i64,
    suffix: String,
    /// (local day number, "YYYY-MM-DDT").
    date: Option<(i64, String)>,
    buf: String,
}

impl TextTs {
    fn new(kind: TsKind, offset_min: i32) -> Self {
        let (offset_ms, suffix) = match kind {
            TsKind::TextOffset => {
                let sign = if offset_min < 0 { '-' } else { '+' };
                let m = offset_min.unsigned_abs();
                (
                    i64::from(offset_min) * 60_000,
                    format!("{sign}{:02}:{:02}", m / 60, m % 60),
                )
            }
            TsKind::TextZulu => (0, "Z".to_string()),
            _ => (0, String::new()),
        };
        Self {
            kind,
            offset_ms,
            suffix,
            date: None,
            buf: String::with_capacity(32),
        }
    }

    fn format(&mut self, ts_ms: i64) -> &str {
        let local = ts_ms + self.offset_ms;
        let day = local.div_euclid(DAY_MS);
        let in_day = local.rem_euclid(DAY_MS);
        if self.date.as_ref().is_none_or(|(d, _)| *d != day) {
            let text = i32::try_from(day + 719_163)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .map(|d| format!("{:04}-{:02}-{:02}T", d.year(), d.month(), d.day()))
                .unwrap_or_else(|| "0000-01-01T".to_string());
            self.date = Some((day, text));
        }
        let buf = &mut self.buf;
        buf.clear();
        buf.push_str(self.date.as_ref().map_or("", |(_, s)| s.as_str()));
        let secs = in_day / 1000;
        let ms = (in_day % 1000) as u32;
        push2(buf, (secs / 3600) as u32);
        buf.push(':');
        push2(buf, (secs / 60 % 60) as u32);
        buf.push(':');
        push2(buf, (secs % 60) as u32);
        if ms != 0 || self.kind != TsKind::TextZulu {
            buf.push('.');
            buf.push(char::from(b'0' + (ms / 100) as u8));
            push2(buf, ms % 100);
        }
        buf.push_str(&self.suffix);
        buf
    }
}

fn push2(buf: &mut String, v: u32) {
    buf.push(char::from(b'0' + (v / 10 % 10) as u8));
    buf.push(char::from(b'0' + (v % 10) as u8));
}

fn series_column(
    rows: &[Row],
    kind: SeriesKind,
    names: &[String],
) -> Result<(Field, ArrayRef), GenerateError> {
    let name = |r: &Row| (r.series != TOTAL).then(|| names[r.series as usize].as_str());
    let (dt, array): (DataType, ArrayRef) = match kind {
        SeriesKind::Utf8 => (
            DataType::Utf8,
            Arc::new(rows.iter().map(name).collect::<StringArray>()),
        ),
        SeriesKind::Large => {
            let mut b = LargeStringBuilder::with_capacity(rows.len(), rows.len() * 10);
            for r in rows {
                b.append_option(name(r));
            }
            (DataType::LargeUtf8, Arc::new(b.finish()))
        }
        SeriesKind::Dict => {
            let keys: Int32Array = rows
                .iter()
                .map(|r| (r.series != TOTAL).then_some(r.series as i32))
                .collect();
            let values = Arc::new(StringArray::from_iter_values(names.iter()));
            let dict = DictionaryArray::<Int32Type>::try_new(keys, values)?;
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                Arc::new(dict),
            )
        }
    };
    Ok((Field::new(bronze_col::SERIES_KEY, dt, true), array))
}

fn value_column(rows: &[Row], kind: ValueKind) -> Result<(Field, ArrayRef), GenerateError> {
    let value = |r: &Row| match r.flaw {
        Flaw::NullValue => None,
        Flaw::NanValue => Some(f64::NAN),
        Flaw::None | Flaw::NullTs => Some(r.value),
    };
    let finite = |r: &Row| value(r).filter(|v| v.is_finite());
    let (dt, array): (DataType, ArrayRef) = match kind {
        ValueKind::F64 => (
            DataType::Float64,
            Arc::new(rows.iter().map(value).collect::<Float64Array>()),
        ),
        ValueKind::F32 => (
            DataType::Float32,
            Arc::new(
                rows.iter()
                    .map(|r| value(r).map(|v| v as f32))
                    .collect::<Float32Array>(),
            ),
        ),
        ValueKind::I64 => (
            DataType::Int64,
            Arc::new(
                rows.iter()
                    .map(|r| finite(r).map(|v| v.round() as i64))
                    .collect::<Int64Array>(),
            ),
        ),
        ValueKind::Decimal => (
            DataType::Decimal128(18, 4),
            Arc::new(
                rows.iter()
                    .map(|r| finite(r).map(|v| (v * 10_000.0).round() as i128))
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(18, 4)?,
            ),
        ),
    };
    Ok((Field::new(bronze_col::VALUE, dt, true), array))
}

/// Why [`generated_silver`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SilverError {
    /// Generating a file failed.
    #[error("generating bronze: {0}")]
    Generate(#[from] GenerateError),
    /// Writing a file to the lake failed.
    #[error("writing bronze: {0}")]
    Blob(#[from] gras_shared::storage::BlobError),
    /// The batch feature path failed.
    #[error("computing silver: {0}")]
    Features(#[from] gras_shared::pipeline::features::FeaturesError),
}

/// Writes generated bronze (from 2024-01-01, `days` x `series`, `seed`) into `stores` and
/// runs the batch feature path over it: the silver a test or benchmark starts from.
pub async fn generated_silver(
    stores: &gras_shared::storage::Stores,
    config: &Arc<Config>,
    days: u32,
    series: u32,
    seed: u64,
) -> Result<(), SilverError> {
    let spec = GenSpec {
        start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
        days,
        series,
        seed,
    };
    for obj in generate(&spec, config) {
        let obj = obj?;
        stores.blobs.put(&obj.key, obj.body).await?;
    }
    gras_shared::pipeline::features::FeatureEngine::new(stores.clone(), config.clone())
        .batch()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampMillisecondType};
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    const TOML: &str = "holidays = [\"2024-01-01\", \"2024-02-10\"]\n\
        [metrics.G]\naggregation = \"sum\"\n[metrics.R]\naggregation = \"sum\"\n\
        [metrics.A]\naggregation = \"mean\"\n[metrics.S]\naggregation = \"mean\"\n";

    fn config() -> Config {
        Config::from_toml(TOML, None).unwrap()
    }

    fn spec(days: u32, series: u32, seed: u64) -> GenSpec {
        GenSpec {
            days,
            series,
            seed,
            ..GenSpec::default()
        }
    }

    fn all(spec: &GenSpec, cfg: &Config) -> Vec<GeneratedObject> {
        generate(spec, cfg).collect::<Result<Vec<_>, _>>().unwrap()
    }

    /// A file read back with plain Arrow casts (independent of the crate's bronze reader).
    struct Decoded {
        row_groups: usize,
        series: Vec<Option<String>>,
        ts: Vec<Option<i64>>,
        value: Vec<Option<f64>>,
    }

    fn decode(body: &Bytes) -> Decoded {
        let builder = ParquetRecordBatchReaderBuilder::try_new(body.clone()).unwrap();
        let row_groups = builder.metadata().num_row_groups();
        let mut out = Decoded {
            row_groups,
            series: vec![],
            ts: vec![],
            value: vec![],
        };
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let ts = batch.column_by_name("ts").unwrap();
            let ts = arrow_cast::cast(
                ts,
                &DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            )
            .unwrap();
            let ts = ts.as_primitive::<TimestampMillisecondType>();
            out.ts.extend(ts.iter());
            let v = arrow_cast::cast(batch.column_by_name("value").unwrap(), &DataType::Float64)
                .unwrap();
            out.value.extend(v.as_primitive::<Float64Type>().iter());
            match batch.column_by_name("series_key") {
                Some(s) => {
                    let s = arrow_cast::cast(s, &DataType::Utf8).unwrap();
                    out.series
                        .extend(s.as_string::<i32>().iter().map(|x| x.map(str::to_string)));
                }
                None => out
                    .series
                    .extend(std::iter::repeat_n(None, batch.num_rows())),
            }
            if let Some(m) = batch.column_by_name("metric_id") {
                let m = m.as_string::<i32>();
                assert_eq!(m.null_count(), 0);
            }
        }
        out
    }

    fn name_of(key: &str) -> &str {
        key.rsplit('/').next().unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let cfg = config();
        let a = all(&spec(2, 5, 7), &cfg);
        let b = all(&spec(2, 5, 7), &cfg);
        assert_eq!(a, b);
        let c = all(&spec(2, 5, 8), &cfg);
        assert_ne!(
            a.iter().map(|o| &o.body).collect::<Vec<_>>(),
            c.iter().map(|o| &o.body).collect::<Vec<_>>()
        );
    }

    #[test]
    fn keys_parse_and_files_read_back() {
        let cfg = config();
        let s = spec(3, 10, 7);
        let objs = all(&s, &cfg);
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        for o in &objs {
            let k = BronzeKey::parse(&o.key).unwrap();
            let (metric, _) = cfg.metric_by_name(k.metric.as_str()).unwrap();
            if order.last() != Some(metric) {
                order.push(metric.clone());
            }
            assert!(seen.insert(o.key.clone()), "duplicate key {}", o.key);
            let d = decode(&o.body);
            assert_eq!(d.ts.len(), o.rows);
            assert!(o.rows > 0);
            let lo = k.date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
            let mut prev = i64::MIN;
            let mut out_of_order = 0;
            for t in d.ts.iter().flatten() {
                assert!(
                    (lo..lo + DAY_MS).contains(t),
                    "{}: ts {t} outside its day",
                    o.key
                );
                out_of_order += usize::from(*t < prev);
                prev = *t;
            }
            assert_eq!(out_of_order, 0, "{}", o.key);
            for v in d.value.iter().flatten() {
                assert!(v.is_nan() || *v >= 0.0);
            }
            for s in d.series.iter().flatten() {
                assert!(s.starts_with("store-00") && s.len() == 10, "{s}");
            }
        }
        // Metric-major in configuration order, every day of every metric has a first file.
        assert_eq!(order, cfg.metrics.keys().cloned().collect::<Vec<_>>());
        let parts = objs
            .iter()
            .filter(|o| name_of(&o.key) == "part-0000.parquet")
            .count();
        assert_eq!(parts, 4 * 3);
    }

    #[test]
    fn every_physical_type_and_shape_appears_within_a_week() {
        let cfg = Config::gras_defaults();
        let objs = all(&spec(7, 10, 7), &cfg);
        let mut types: BTreeMap<&str, HashSet<DataType>> = BTreeMap::new();
        let mut names = BTreeSet::new();
        let (mut no_series, mut with_metric, mut with_source) = (0, 0, 0);
        let mut text_styles = BTreeSet::new();
        for o in &objs {
            names.insert(name_of(&o.key).to_string());
            let b = ParquetRecordBatchReaderBuilder::try_new(o.body.clone()).unwrap();
            let schema = b.schema().clone();
            for f in schema.fields() {
                let col = match f.name().as_str() {
                    "ts" => "ts",
                    "value" => "value",
                    "series_key" => "series_key",
                    "metric_id" => "metric_id",
                    "source" => "source",
                    other => panic!("unexpected column {other}"),
                };
                types.entry(col).or_default().insert(f.data_type().clone());
            }
            no_series += usize::from(schema.field_with_name("series_key").is_err());
            with_metric += usize::from(schema.field_with_name("metric_id").is_ok());
            with_source += usize::from(schema.field_with_name("source").is_ok());
            if schema.field_with_name("ts").unwrap().data_type() == &DataType::Utf8 {
                let batch = b.build().unwrap().next().unwrap().unwrap();
                for t in batch
                    .column_by_name("ts")
                    .unwrap()
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                {
                    text_styles.insert(match t.len() {
                        20 => "zulu-no-fraction",
                        24 if t.ends_with('Z') => "zulu",
                        23 => "naive",
                        29 => "offset",
                        _ => panic!("unexpected ts text {t}"),
                    });
                }
            }
        }
        let ts = &types["ts"];
        for dt in [
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            DataType::Int64,
            DataType::Utf8,
        ] {
            assert!(ts.contains(&dt), "ts type {dt} missing");
        }
        let value = &types["value"];
        for dt in [
            DataType::Float64,
            DataType::Float32,
            DataType::Int64,
            DataType::Decimal128(18, 4),
        ] {
            assert!(value.contains(&dt), "value type {dt} missing");
        }
        let series = &types["series_key"];
        for dt in [
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ] {
            assert!(series.contains(&dt), "series_key type {dt} missing");
        }
        assert_eq!(types["metric_id"], HashSet::from([DataType::Utf8]));
        assert!(no_series > 0 && with_metric > 0 && with_source > 0);
        assert_eq!(text_styles.len(), 4, "{text_styles:?}");
        for n in [
            "part-0000.parquet",
            "part-0001.parquet",
            "late-0001.parquet",
            "replay-0001.parquet",
        ] {
            assert!(names.contains(n), "no {n} in {names:?}");
        }
    }

    #[test]
    fn every_encoding_round_trips_the_rows() {
        let names: Vec<String> = (1..=3).map(|i| format!("store-{i:04}")).collect();
        let base = NaiveDate::from_ymd_opt(2024, 3, 9)
            .unwrap()
            .and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp_millis();
        let mk = |ts: i64, value: f64, series: u32, flaw: Flaw| Row {
            ts: base + ts,
            value,
            series,
            flaw,
        };
        let rows = vec![
            mk(0, 0.0, 0, Flaw::None),
            mk(1_000, 12.25, 1, Flaw::None),
            mk(13 * HOUR_MS + 45 * 60_000 + 10_250, 3.5, TOTAL, Flaw::None),
            mk(23 * HOUR_MS + 59 * 60_000 + 59_999, 99.0, 2, Flaw::None),
            mk(5, 1.0, 0, Flaw::NullTs),
            mk(6, 1.0, 0, Flaw::NullValue),
            mk(7, 1.0, 0, Flaw::NanValue),
        ];
        let g = MetricId::new("G").unwrap();
        for ts in TS_KINDS {
            for value in FLOW_VALUES {
                for series in SERIES_KINDS {
                    for offset_min in TEXT_OFFSETS {
                        let layout = Layout {
                            ts,
                            offset_min,
                            value,
                            series: Some(series),
                            metric_id: true,
                            source: true,
                            reversed: offset_min < 0,
                        };
                        let file = PlannedFile {
                            key: "k".into(),
                            layout,
                            rows: rows.clone(),
                        };
                        let d = decode(&encode(&file, &g, &names).unwrap().body);
                        for (i, r) in rows.iter().enumerate() {
                            let ctx = format!("{layout:?} row {i}");
                            assert_eq!(d.ts[i], ts_opt(r), "{ctx}");
                            let want_series =
                                (r.series != TOTAL).then(|| names[r.series as usize].clone());
                            assert_eq!(d.series[i], want_series, "{ctx}");
                            match (r.flaw, d.value[i]) {
                                (Flaw::NullValue, v) => assert_eq!(v, None, "{ctx}"),
                                (Flaw::NanValue, v) => assert!(v.is_none_or(f64::is_nan), "{ctx}"),
                                (_, Some(v)) => {
                                    let tol = if value == ValueKind::I64 {
                                        0.5
                                    } else {
                                        1e-6 * r.value.max(1.0)
                                    };
                                    assert!(
                                        (v - r.value).abs() <= tol,
                                        "{ctx}: {v} vs {}",
                                        r.value
                                    );
                                }
                                (_, None) => panic!("{ctx}: value lost"),
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sum_metrics_have_sub_hour_events_and_mean_metrics_few_readings() {
        let cfg = config();
        let (days, k) = (2u32, 20u32);
        let mut rows: HashMap<String, usize> = HashMap::new();
        for o in all(&spec(days, k, 3), &cfg) {
            *rows
                .entry(BronzeKey::parse(&o.key).unwrap().metric.to_string())
                .or_default() += o.rows;
        }
        let series_hours = (days * 24 * (k + 1)) as usize;
        for m in ["G", "R"] {
            assert!(
                rows[m] > 2 * series_hours,
                "{m}: {} rows for {series_hours} series-hours",
                rows[m]
            );
        }
        for m in ["A", "S"] {
            assert!(
                rows[m] > series_hours && rows[m] < 4 * series_hours,
                "{m}: {}",
                rows[m]
            );
        }
    }

    #[test]
    fn faults_appear_at_about_the_intended_rates() {
        let cfg = config();
        let s = spec(7, 60, 11);
        let (mut total, mut dups, mut invalid) = (0usize, 0usize, 0usize);
        let mut seen: HashSet<(String, Option<String>, i64, u64)> = HashSet::new();
        let mut hours: HashMap<(String, Option<String>), BTreeSet<i64>> = HashMap::new();
        let mut replay_rows = 0;
        for o in all(&s, &cfg) {
            let k = BronzeKey::parse(&o.key).unwrap();
            let d = decode(&o.body);
            let replay = name_of(&o.key).starts_with("replay");
            for i in 0..o.rows {
                total += 1;
                let (Some(ts), Some(v)) = (d.ts[i], d.value[i].filter(|v| !v.is_nan())) else {
                    invalid += 1;
                    continue;
                };
                let series = d.series[i].clone();
                if !seen.insert((k.metric.to_string(), series.clone(), ts, v.to_bits())) {
                    dups += 1;
                    replay_rows += usize::from(replay);
                }
                hours
                    .entry((k.metric.to_string(), series))
                    .or_default()
                    .insert(ts.div_euclid(HOUR_MS));
            }
        }
        let dup_rate = dups as f64 / total as f64;
        let invalid_rate = invalid as f64 / total as f64;
        println!("rows {total}, duplicates {dups} ({replay_rows} replayed), invalid {invalid}");
        assert!(
            (0.0025..0.01).contains(&dup_rate),
            "duplicates {dups} of {total}"
        );
        assert!(
            (0.0001..0.0015).contains(&invalid_rate),
            "invalid {invalid} of {total}"
        );
        assert!(replay_rows > 0, "no replayed duplicates");
        // Series with a total per metric; gaps of both kinds inside the observed timelines.
        assert_eq!(hours.len(), 4 * 61);
        let (mut short, mut long) = (0, 0);
        for set in hours.values() {
            let v: Vec<i64> = set.iter().copied().collect();
            for w in v.windows(2) {
                match w[1] - w[0] - 1 {
                    0 => {}
                    1..=3 => short += 1,
                    _ => long += 1,
                }
            }
        }
        assert!(
            short > 20 && long > 2,
            "short gaps {short}, long gaps {long}"
        );
    }

    #[test]
    fn seasonality_and_holidays_shape_the_totals() {
        let cfg = config();
        // 2024-01-01 is a Monday and a holiday; 2024-01-06/07 a weekend.
        let mut by_day: HashMap<(String, u32), f64> = HashMap::new();
        let mut by_hour: HashMap<(String, u32), f64> = HashMap::new();
        let mut dedup = HashSet::new();
        for o in all(&spec(8, 30, 5), &cfg) {
            let k = BronzeKey::parse(&o.key).unwrap();
            let d = decode(&o.body);
            for i in 0..o.rows {
                let (Some(ts), Some(v)) = (d.ts[i], d.value[i].filter(|v| !v.is_nan())) else {
                    continue;
                };
                if !dedup.insert((k.metric.to_string(), d.series[i].clone(), ts, v.to_bits())) {
                    continue;
                }
                let m = k.metric.to_string();
                *by_day.entry((m.clone(), k.date.day())).or_default() += v;
                *by_hour
                    .entry((m, (ts.rem_euclid(DAY_MS) / HOUR_MS) as u32))
                    .or_default() += v;
            }
        }
        for m in ["G", "R"] {
            let day = |d: u32| by_day[&(m.to_string(), d)];
            assert!(
                day(1) < 0.75 * day(8),
                "{m}: holiday Monday {} vs Monday {}",
                day(1),
                day(8)
            );
            assert!(
                day(6) + day(7) < 0.85 * (day(4) + day(5)),
                "{m}: weekend not lower"
            );
            let hour = |h: u32| by_hour[&(m.to_string(), h)];
            assert!(
                hour(3) < 0.3 * hour(15),
                "{m}: night {} vs afternoon {}",
                hour(3),
                hour(15)
            );
        }
    }

    #[test]
    fn large_files_have_several_row_groups() {
        let cfg = Config::from_toml("[metrics.G]\n", None).unwrap();
        let objs = all(&spec(1, 1_200, 1), &cfg);
        let d = decode(&objs[0].body);
        assert!(objs[0].rows > MAX_ROW_GROUP_ROWS, "{} rows", objs[0].rows);
        assert!(d.row_groups >= 2);
    }

    #[test]
    fn zero_series_gives_only_the_total() {
        let cfg = Config::from_toml("[metrics.A]\n", None).unwrap();
        let objs = all(&spec(2, 0, 1), &cfg);
        assert!(!objs.is_empty());
        for o in &objs {
            assert!(decode(&o.body).series.iter().all(Option::is_none));
        }
    }

    #[test]
    fn invalid_specs_are_refused() {
        let cfg = config();
        let mut it = generate(&spec(0, 5, 1), &cfg);
        assert!(matches!(it.next(), Some(Err(GenerateError::Invalid(_)))));
        assert!(it.next().is_none());
        let far = GenSpec {
            start: NaiveDate::MAX,
            ..spec(3, 1, 1)
        };
        assert!(matches!(
            generate(&far, &cfg).next(),
            Some(Err(GenerateError::Invalid(_)))
        ));
        assert!(matches!(
            generate(&spec(1, MAX_SERIES + 1, 1), &cfg).next(),
            Some(Err(GenerateError::Invalid(_)))
        ));
    }
}
