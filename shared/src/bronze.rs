//! The tolerant bronze reader (contract section 2).
//!
//! Reads only the `ts`, `value`, `metric_id` and `series_key` columns of a raw Parquet file,
//! batch by batch, accepting every physical type the contract lists, and returns the rows
//! that pass step 1 of cleansing together with the count of rejected rows by reason.
//! A file that cannot be used at all (not Parquet, truncated, lacking `ts` or `value`, or a
//! column of an unsupported type) is rejected whole with a [`BronzeError`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use serde::Serialize;

use crate::config::RowBounds;
use crate::contract::bronze_col;
use crate::ids::{MetricId, SeriesKey};

/// Rows read per Arrow batch; bounds memory for large row groups.
const BATCH_ROWS: usize = 65_536;

/// Why a row was rejected (contract section 3, step 1, and the reader's own checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// `ts` is null.
    NullTs,
    /// `ts` cannot be read as an instant (bad RFC 3339 text, out of range).
    InvalidTs,
    /// `value` is null.
    NullValue,
    /// `value` is NaN.
    NanValue,
    /// `value` is infinite.
    InfiniteValue,
    /// The metric is not configured.
    UnknownMetric,
    /// `metric_id` differs from the path's `metric=`.
    MetricMismatch,
    /// `series_key` cannot be used as a key (empty, `#`, control characters, too long).
    InvalidSeriesKey,
    /// v2: `ts` is outside the metric's `ts_range`.
    TsOutOfRange,
    /// v2: `|value|` exceeds the metric's `max_abs_value`.
    ValueOutOfRange,
}

impl RejectReason {
    /// The snake_case name used in summaries and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::NullTs => "null_ts",
            RejectReason::InvalidTs => "invalid_ts",
            RejectReason::NullValue => "null_value",
            RejectReason::NanValue => "nan_value",
            RejectReason::InfiniteValue => "infinite_value",
            RejectReason::UnknownMetric => "unknown_metric",
            RejectReason::MetricMismatch => "metric_mismatch",
            RejectReason::InvalidSeriesKey => "invalid_series_key",
            RejectReason::TsOutOfRange => "ts_out_of_range",
            RejectReason::ValueOutOfRange => "value_out_of_range",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts of rejected rows by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Rejections(pub BTreeMap<RejectReason, u64>);

impl Rejections {
    /// Adds one rejection.
    pub fn add(&mut self, reason: RejectReason) {
        *self.0.entry(reason).or_default() += 1;
    }
    /// Adds `n` rejections.
    pub fn add_n(&mut self, reason: RejectReason, n: u64) {
        if n > 0 {
            *self.0.entry(reason).or_default() += n;
        }
    }
    /// Merges another set of counts.
    pub fn merge(&mut self, other: &Rejections) {
        for (r, n) in &other.0 {
            self.add_n(*r, *n);
        }
    }
    /// Total rejected rows.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

impl fmt::Display for Rejections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self.0.iter().map(|(r, n)| format!("{r}={n}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Why a whole file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum BronzeError {
    /// Not a Parquet file, truncated, or corrupt.
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The Parquet decoder panicked on a corrupt file (see `decoding`).
    #[error("not a readable Parquet file: decoder panicked: {0}")]
    DecoderPanic(String),
    /// Decoding a column failed.
    #[error("cannot decode column data: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A required column is absent.
    #[error("required column `{0}` is missing")]
    MissingColumn(&'static str),
    /// A column has a type the contract does not accept.
    #[error("column `{column}` has unsupported type {data_type}; expected {expected}")]
    UnsupportedType {
        /// The column.
        column: &'static str,
        /// Its Arrow type.
        data_type: DataType,
        /// What the contract accepts.
        expected: &'static str,
    },
    /// The file declares more rows than one bronze object may hold ([`MAX_BRONZE_ROWS`]).
    #[error("the file declares {declared} rows, more than the {MAX_BRONZE_ROWS} one bronze object may hold: split it")]
    TooManyRows {
        /// Rows declared by the footer's row groups.
        declared: i64,
    },
}

/// The most rows one bronze object may declare. Producers write hourly or daily parts of
/// about 10^5 rows; the cap bounds what one file can make a features invocation decode
/// (with the patched parquet reader, no data page can declare more values than its row
/// group's rows, so no decoder buffer is sized beyond this either).
pub const MAX_BRONZE_ROWS: i64 = 10_000_000;

/// Rows of one metric that passed step 1: columnar, with series interned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BronzeRows {
    /// Distinct series keys; `series` indexes into it.
    pub keys: Vec<SeriesKey>,
    /// Per row: index into `keys`.
    pub series: Vec<u32>,
    /// Per row: event time, nanoseconds since the Unix epoch (UTC).
    pub ts: Vec<i64>,
    /// Per row: finite value.
    pub value: Vec<f64>,
}

impl BronzeRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The first and last event time; `None` without rows.
    pub fn span(&self) -> Option<(i64, i64)> {
        let (&head, rest) = self.ts.split_first()?;
        Some(
            rest.iter()
                .fold((head, head), |(lo, hi), &t| (lo.min(t), hi.max(t))),
        )
    }

    /// The rows of `parts` in order, one key dictionary for all (each distinct key once, in
    /// order of first appearance); memory is reserved once for the total.
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a BronzeRows> + Clone) -> BronzeRows {
        let total: usize = parts.clone().into_iter().map(BronzeRows::len).sum();
        let mut out = BronzeRows {
            keys: Vec::new(),
            series: Vec::with_capacity(total),
            ts: Vec::with_capacity(total),
            value: Vec::with_capacity(total),
        };
        let mut index: HashMap<&SeriesKey, u32> = HashMap::new();
        let mut remap = Vec::new();
        for part in parts {
            remap.clear();
            for k in &part.keys {
                let next = index.len() as u32;
                let id = *index.entry(k).or_insert_with(|| {
                    out.keys.push(k.clone());
                    next
                });
                remap.push(id);
            }
            out.series
                .extend(part.series.iter().map(|&s| remap[s as usize]));
            out.ts.extend_from_slice(&part.ts);
            out.value.extend_from_slice(&part.value);
        }
        out
    }

    /// Keeps only the rows whose `ts` lies in `[from_ns, to_ns)`.
    pub fn retain_ts(&mut self, from_ns: i64, to_ns: i64) {
        self.retain(|ts| (from_ns..to_ns).contains(&ts));
    }

    /// Keeps the rows whose event time `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(i64) -> bool) {
        let mut w = 0;
        for r in 0..self.ts.len() {
            if keep(self.ts[r]) {
                self.series[w] = self.series[r];
                self.ts[w] = self.ts[r];
                self.value[w] = self.value[r];
                w += 1;
            }
        }
        self.series.truncate(w);
        self.ts.truncate(w);
        self.value.truncate(w);
    }
}

/// The result of reading one bronze file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BronzeFile {
    /// Rows that passed step 1.
    pub rows: BronzeRows,
    /// Rows in the file.
    pub rows_read: u64,
    /// Rejected rows by reason.
    pub rejected: Rejections,
}

/// Reads a bronze file of the metric named by its path.
///
/// `bounds` are the metric's cleansing bounds (`None` when the metric is not configured:
/// every row is then rejected as [`RejectReason::UnknownMetric`], the file itself still
/// validated). A row's reasons are checked in the order of [`RejectReason`]'s variants up
/// to `unknown_metric`, then `ts_out_of_range`, `value_out_of_range`,
/// `invalid_series_key`; it counts once, under the first that applies.
pub fn read_bronze(
    body: Bytes,
    path_metric: &MetricId,
    bounds: Option<&RowBounds>,
) -> Result<BronzeFile, BronzeError> {
    let builder = decoding(|| ParquetRecordBatchReaderBuilder::try_new(body.clone()))??;
    check_footer(builder.metadata())?;
    let schema = builder.schema().clone();
    let find = |name: &str| schema.fields().iter().position(|f| f.name() == name);
    let ts_idx = find(bronze_col::TS).ok_or(BronzeError::MissingColumn(bronze_col::TS))?;
    let value_idx = find(bronze_col::VALUE).ok_or(BronzeError::MissingColumn(bronze_col::VALUE))?;
    let metric_idx = find(bronze_col::METRIC_ID);
    let series_idx = find(bronze_col::SERIES_KEY);

    check_type(
        bronze_col::TS,
        schema.field(ts_idx).data_type(),
        is_ts_type,
        "timestamp, int64 epoch milliseconds or RFC 3339 string",
    )?;
    check_type(
        bronze_col::VALUE,
        schema.field(value_idx).data_type(),
        is_value_type,
        "a float, integer or decimal",
    )?;
    for (idx, name) in [
        (metric_idx, bronze_col::METRIC_ID),
        (series_idx, bronze_col::SERIES_KEY),
    ] {
        if let Some(i) = idx {
            check_type(
                name,
                schema.field(i).data_type(),
                is_string_type,
                "utf8, large utf8 or dictionary of strings",
            )?;
        }
    }

    // The metric and series columns as dictionaries where they are plain strings: each
    // distinct string is then checked and interned once, not once per row. A file whose
    // schema the reader will not read that way is read as it is.
    let builder = match dictionary_hint(&schema, &[metric_idx, series_idx]) {
        Some(hint) => {
            let options = ArrowReaderOptions::new().with_schema(hint);
            match decoding(|| ArrowReaderMetadata::try_new(builder.metadata().clone(), options)) {
                Ok(Ok(meta)) => ParquetRecordBatchReaderBuilder::new_with_metadata(body, meta),
                _ => builder,
            }
        }
        None => builder,
    };

    let mut roots: Vec<usize> = [Some(ts_idx), Some(value_idx), metric_idx, series_idx]
        .into_iter()
        .flatten()
        .collect();
    roots.sort_unstable();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut reader = decoding(|| {
        builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
    })??;

    let mut out = BronzeFile::default();
    let mut interner = Interner::default();
    while let Some(batch) = decoding(|| reader.next())? {
        let batch = batch?;
        decode_batch(&batch, path_metric, bounds, &mut interner, &mut out)?;
    }
    out.rows.keys = interner.keys;
    Ok(out)
}

/// Runs one step of the Parquet decoder, turning a panic into [`BronzeError::DecoderPanic`].
///
/// The decoder trusts parts of a file it does not validate; on corrupt pages it can panic
/// (found by fuzzing: definition levels, dictionary pages, delta-encoded byte arrays). A
/// corrupt file must be an error of its own, not a crashed invocation that fails the whole
/// SQS batch. Only the decoder's steps are guarded, so a panic in this module's own code
/// still surfaces as the bug it is. (Needs `panic = "unwind"`, the default of every profile.)
fn decoding<T>(step: impl FnOnce() -> T) -> Result<T, BronzeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        BronzeError::DecoderPanic(message)
    })
}

/// Refuses column chunks with a negative offset or size: the decoder trusts the footer's
/// numbers and panics on those (`ColumnChunkMetaData::byte_range`), where a corrupt file
/// must be an error. Offsets past the end of the file are the decoder's own error. Also
/// refuses negative row counts and files declaring more than [`MAX_BRONZE_ROWS`] rows.
fn check_footer(meta: &ParquetMetaData) -> Result<(), BronzeError> {
    let mut declared: i64 = 0;
    for (g, group) in meta.row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Err(BronzeError::Parquet(ParquetError::General(format!(
                "row group {g} declares {} rows",
                group.num_rows()
            ))));
        }
        declared = declared.saturating_add(group.num_rows());
        if declared > MAX_BRONZE_ROWS {
            return Err(BronzeError::TooManyRows { declared });
        }
        for (c, chunk) in group.columns().iter().enumerate() {
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            if start < 0 || chunk.compressed_size() < 0 {
                return Err(BronzeError::Parquet(ParquetError::General(format!(
                    "column chunk {c} of row group {g} has a negative offset ({start}) or size ({})",
                    chunk.compressed_size()
                ))));
            }
        }
    }
    Ok(())
}

fn check_type(
    column: &'static str,
    dt: &DataType,
    ok: fn(&DataType) -> bool,
    expected: &'static str,
) -> Result<(), BronzeError> {
    if ok(dt) {
        Ok(())
    } else {
        Err(BronzeError::UnsupportedType {
            column,
            data_type: dt.clone(),
            expected,
        })
    }
}

fn is_string_type(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_type(v),
        _ => false,
    }
}

fn is_ts_type(dt: &DataType) -> bool {
    matches!(dt, DataType::Timestamp(_, _) | DataType::Int64) || is_string_type(dt)
}

fn is_value_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Decimal32(_, _)
            | DataType::Decimal64(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _)
    ) || matches!(dt, DataType::Dictionary(_, v) if is_value_type(v))
}

#[derive(Default)]
struct Interner {
    keys: Vec<SeriesKey>,
    index: HashMap<String, u32>,
    all: Option<u32>,
    /// The key interned last.
    last: Option<u32>,
}

impl Interner {
    fn all(&mut self) -> u32 {
        if let Some(i) = self.all {
            return i;
        }
        let i = self.intern_valid(SeriesKey::all());
        self.all = Some(i);
        i
    }
    fn intern(&mut self, s: &str) -> Option<u32> {
        // Files usually hold a series' rows together: check the previous key first.
        if let Some(i) = self.last.filter(|&i| self.keys[i as usize].as_str() == s) {
            return Some(i);
        }
        let i = match self.index.get(s) {
            Some(&i) => i,
            None => self.intern_valid(SeriesKey::new(s).ok()?),
        };
        self.last = Some(i);
        Some(i)
    }
    fn intern_valid(&mut self, key: SeriesKey) -> u32 {
        if let Some(&i) = self.index.get(key.as_str()) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.index.insert(key.as_str().to_string(), i);
        self.keys.push(key);
        i
    }
}

/// `schema` with the plain `Utf8` columns among `columns` read as `Dictionary(Int32, Utf8)`;
/// `None` when there is none.
fn dictionary_hint(schema: &SchemaRef, columns: &[Option<usize>]) -> Option<SchemaRef> {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut changed = false;
    for &i in columns.iter().flatten() {
        if fields[i].data_type() == &DataType::Utf8 {
            fields[i] = fields[i].clone().with_data_type(dict.clone());
            changed = true;
        }
    }
    changed
        .then(|| std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// A string column of a batch: plain, or a dictionary of `Utf8` values with `Int32` keys
/// (each distinct value then handled once, see [`StrColumn::memo`]).
enum StrColumn {
    Plain(ArrayRef),
    Dict {
        keys: arrow_array::Int32Array,
        values: ArrayRef,
    },
}

impl StrColumn {
    fn new(col: &ArrayRef) -> Result<Self, BronzeError> {
        if let DataType::Dictionary(k, v) = col.data_type() {
            if **k == DataType::Int32 && **v == DataType::Utf8 {
                let d = col.as_dictionary::<arrow_array::types::Int32Type>();
                return Ok(StrColumn::Dict {
                    keys: d.keys().clone(),
                    values: d.values().clone(),
                });
            }
        }
        Ok(StrColumn::Plain(to_utf8(col)?))
    }

    /// `f` of the string at row `i` (`None` when null); with a dictionary, `f` runs once
    /// per distinct value and its results are kept in `memo`.
    fn map<T: Copy>(
        &self,
        i: usize,
        memo: &mut Vec<Option<T>>,
        mut f: impl FnMut(&str) -> T,
    ) -> Option<T> {
        match self {
            StrColumn::Plain(a) => {
                let a = a.as_string::<i32>();
                (!a.is_null(i)).then(|| f(a.value(i)))
            }
            StrColumn::Dict { keys, values } => {
                if keys.is_null(i) {
                    return None;
                }
                let k = keys.value(i) as usize;
                let values = values.as_string::<i32>();
                if values.is_null(k) {
                    return None;
                }
                if memo.len() < values.len() {
                    memo.resize(values.len(), None);
                }
                Some(*memo[k].get_or_insert_with(|| f(values.value(k))))
            }
        }
    }
}

/// Converts a string-like column to plain Utf8.
fn to_utf8(col: &ArrayRef) -> Result<ArrayRef, BronzeError> {
    if col.data_type() == &DataType::Utf8 {
        return Ok(col.clone());
    }
    Ok(arrow_cast::cast(col, &DataType::Utf8)?)
}

/// Event times as nanoseconds; `Err(reason)` per row that has none.
fn decode_ts(col: &ArrayRef) -> Result<Vec<Result<i64, RejectReason>>, BronzeError> {
    let n = col.len();
    let mut out = Vec::with_capacity(n);
    fn scaled<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
        col: &ArrayRef,
        factor: i64,
        out: &mut Vec<Result<i64, RejectReason>>,
    ) {
        let a = col.as_primitive::<T>();
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                Err(RejectReason::NullTs)
            } else {
                a.value(i)
                    .checked_mul(factor)
                    .ok_or(RejectReason::InvalidTs)
            });
        }
    }
    match col.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(col, 1_000_000_000, &mut out)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(col, 1_000_000, &mut out)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(col, 1_000, &mut out)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(col, 1, &mut out)
        }
        DataType::Int64 => scaled::<Int64Type>(col, 1_000_000, &mut out),
        _ => {
            let s = to_utf8(col)?;
            let a = s.as_string::<i32>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Err(RejectReason::NullTs)
                } else {
                    parse_ts_text(a.value(i))
                });
            }
        }
    }
    Ok(out)
}

/// Parses RFC 3339 text; without a zone the time is UTC.
///
/// Accepted: what chrono's RFC 3339 parser accepts, and `YYYY-MM-DD[T ]HH:MM:SS[.fff]`
/// without a zone. The common shapes go through a hand-written parser (a tenth of the cost
/// of chrono's format-driven one, which dominated reading string timestamps); anything it
/// does not recognise, or finds out of range, is left to chrono, so the accepted set and
/// every result are chrono's.
pub fn parse_ts_text(text: &str) -> Result<i64, RejectReason> {
    let t = text.trim();
    match parse_ts_fast(t.as_bytes()) {
        Some(ns) => ns.ok_or(RejectReason::InvalidTs),
        None => parse_ts_chrono(t),
    }
}

/// The chrono path of [`parse_ts_text`] (also its reference in tests).
fn parse_ts_chrono(t: &str) -> Result<i64, RejectReason> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return dt.timestamp_nanos_opt().ok_or(RejectReason::InvalidTs);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return naive
                .and_utc()
                .timestamp_nanos_opt()
                .ok_or(RejectReason::InvalidTs);
        }
    }
    Err(RejectReason::InvalidTs)
}

/// `YYYY-MM-DD(T|t| )HH:MM:SS[.d{1,9}][Z|z|(+|-)HH:MM]` (no `t` without a zone) with every
/// field in range:
/// `Some(Some(ns))`, or `Some(None)` when the instant is outside the nanosecond range;
/// `None` for any other text (left to chrono).
fn parse_ts_fast(b: &[u8]) -> Option<Option<i64>> {
    fn num(b: &[u8]) -> Option<i64> {
        let mut v = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)?;
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let Some((b'.', tail)) = rest.split_first() {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(&tail[..digits])? * 10i64.pow(9 - digits as u32);
        rest = &tail[digits..];
    }
    let offset_secs = match rest {
        // Without a zone only chrono's two naive formats apply: 'T' or ' ', not 't'.
        [] if b[10] == b't' => return None,
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let days = i64::from(chrono::Datelike::num_days_from_ce(&date)) - 719_163;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(
        secs.checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(nanos)),
    )
}

fn decode_batch(
    batch: &RecordBatch,
    path_metric: &MetricId,
    bounds: Option<&RowBounds>,
    interner: &mut Interner,
    out: &mut BronzeFile,
) -> Result<(), BronzeError> {
    let n = batch.num_rows();
    out.rows_read += n as u64;
    let col = |name: &str| batch.column_by_name(name);
    let ts_col = col(bronze_col::TS).ok_or(BronzeError::MissingColumn(bronze_col::TS))?;
    let value_col = col(bronze_col::VALUE).ok_or(BronzeError::MissingColumn(bronze_col::VALUE))?;
    let ts = decode_ts(ts_col)?;
    let values = arrow_cast::cast(value_col, &DataType::Float64)?;
    let values = values.as_primitive::<arrow_array::types::Float64Type>();
    let metric = col(bronze_col::METRIC_ID).map(StrColumn::new).transpose()?;
    let series = col(bronze_col::SERIES_KEY)
        .map(StrColumn::new)
        .transpose()?;
    // Per distinct dictionary value: whether it names another metric; its series id.
    let (mut metric_memo, mut series_memo) = (Vec::new(), Vec::new());

    let rows = &mut out.rows;
    for i in 0..n {
        let ts = match ts[i] {
            Ok(t) => t,
            Err(r) => {
                out.rejected.add(r);
                continue;
            }
        };
        if values.is_null(i) {
            out.rejected.add(RejectReason::NullValue);
            continue;
        }
        let v = values.value(i);
        if v.is_nan() {
            out.rejected.add(RejectReason::NanValue);
            continue;
        }
        if v.is_infinite() {
            out.rejected.add(RejectReason::InfiniteValue);
            continue;
        }
        if let Some(m) = &metric {
            if m.map(i, &mut metric_memo, |s| s != path_metric.as_str()) == Some(true) {
                out.rejected.add(RejectReason::MetricMismatch);
                continue;
            }
        }
        let Some(bounds) = bounds else {
            out.rejected.add(RejectReason::UnknownMetric);
            continue;
        };
        if !bounds.ts_ok(ts) {
            out.rejected.add(RejectReason::TsOutOfRange);
            continue;
        }
        if !bounds.value_ok(v) {
            out.rejected.add(RejectReason::ValueOutOfRange);
            continue;
        }
        let sid = match series
            .as_ref()
            .and_then(|s| s.map(i, &mut series_memo, |k| interner.intern(k)))
        {
            Some(Some(id)) => id,
            Some(None) => {
                out.rejected.add(RejectReason::InvalidSeriesKey);
                continue;
            }
            None => interner.all(),
        };
        rows.series.push(sid);
        rows.ts.push(ts);
        // -0.0 and 0.0 are the same value: keep one representation so that exact
        // duplicate detection compares values, not bit patterns.
        rows.value.push(if v == 0.0 { 0.0 } else { v });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};

    use super::*;

    #[test]
    fn span_is_the_first_and_last_event_time() {
        let rows = |ts: Vec<i64>| BronzeRows {
            keys: vec![],
            series: vec![0; ts.len()],
            value: vec![0.0; ts.len()],
            ts,
        };
        assert_eq!(rows(vec![]).span(), None);
        assert_eq!(rows(vec![7]).span(), Some((7, 7)));
        assert_eq!(rows(vec![5, -1, 9, 3]).span(), Some((-1, 9)));
    }

    #[test]
    fn concat_merges_key_dictionaries_and_keeps_row_order() {
        let key = |k: &str| SeriesKey::new(k).expect("key");
        let a = BronzeRows {
            keys: vec![key("x"), key("y")],
            series: vec![1, 0, 1],
            ts: vec![1, 2, 3],
            value: vec![10.0, 20.0, 30.0],
        };
        let b = BronzeRows {
            keys: vec![key("z"), key("x")],
            series: vec![1, 0],
            ts: vec![4, 5],
            value: vec![40.0, 50.0],
        };
        let all = BronzeRows::concat([&a, &BronzeRows::default(), &b]);
        assert_eq!(all.keys, vec![key("x"), key("y"), key("z")]);
        let rows: Vec<(&str, i64, f64)> = (0..all.len())
            .map(|i| {
                (
                    all.keys[all.series[i] as usize].as_str(),
                    all.ts[i],
                    all.value[i],
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("y", 1, 10.0),
                ("x", 2, 20.0),
                ("y", 3, 30.0),
                ("x", 4, 40.0),
                ("z", 5, 50.0)
            ]
        );
        assert!(BronzeRows::concat(&[] as &[BronzeRows]).is_empty());
    }

    /// A good two-column file with its footer written anew; with `Some(offset)` as every
    /// column chunk's data page offset (and no dictionary page offset).
    fn with_data_page_offset(offset: Option<i64>) -> Bytes {
        with_footer(offset, None)
    }

    /// As [`with_data_page_offset`], and with `Some(rows)` as the row group's row count.
    fn with_footer(offset: Option<i64>, num_rows: Option<i64>) -> Bytes {
        let batch = RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(Int64Array::from(vec![1_704_067_200_000])) as ArrayRef,
            ),
            ("value", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
        ])
        .expect("batch");
        let mut file = Vec::new();
        let mut w = ArrowWriter::try_new(&mut file, batch.schema(), None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let file = Bytes::from(file);
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .expect("footer");
        let footer_len =
            u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
        let data_end = file.len() - 8 - footer_len as usize;
        let mut builder = meta.into_builder();
        let groups = builder
            .take_row_groups()
            .into_iter()
            .map(|g| {
                let columns = g
                    .columns()
                    .iter()
                    .map(|c| match offset {
                        Some(o) => c
                            .clone()
                            .into_builder()
                            .set_dictionary_page_offset(None)
                            .set_data_page_offset(o)
                            .build()
                            .expect("column chunk"),
                        None => c.clone(),
                    })
                    .collect();
                let g = g.into_builder().set_column_metadata(columns);
                match num_rows {
                    Some(n) => g.set_num_rows(n),
                    None => g,
                }
                .build()
                .expect("row group")
            })
            .collect();
        let meta = builder.set_row_groups(groups).build();
        let mut out = file[..data_end].to_vec();
        ParquetMetaDataWriter::new(&mut out, &meta)
            .finish()
            .expect("footer written");
        Bytes::from(out)
    }

    /// A file declaring more rows than a bronze object may hold is refused from its footer,
    /// before any page is read; so is a negative row count.
    #[test]
    fn row_counts_over_the_cap_or_negative_are_refused_from_the_footer() {
        let g = MetricId::new("G").unwrap();
        let e = read_bronze(
            with_footer(None, Some(MAX_BRONZE_ROWS + 1)),
            &g,
            Some(&RowBounds::DEFAULT),
        )
        .unwrap_err();
        assert!(
            matches!(e, BronzeError::TooManyRows { declared } if declared == MAX_BRONZE_ROWS + 1),
            "{e}"
        );
        assert!(e.to_string().contains("split it"), "{e}");
        let e =
            read_bronze(with_footer(None, Some(-1)), &g, Some(&RowBounds::DEFAULT)).unwrap_err();
        assert!(
            e.to_string().contains("row group 0 declares -1 rows"),
            "{e}"
        );
        // At the cap the footer passes this check (the pages then hold 1 row, which is
        // the reader's own business: no panic, no huge allocation).
        let at_cap = read_bronze(
            with_footer(None, Some(MAX_BRONZE_ROWS)),
            &g,
            Some(&RowBounds::DEFAULT),
        );
        assert!(
            !matches!(at_cap, Err(BronzeError::TooManyRows { .. })),
            "{at_cap:?}"
        );
    }

    /// Found by the bronze_reader fuzz target: a footer with a negative column chunk offset
    /// made the Parquet decoder panic ("column start and length should not be negative").
    #[test]
    fn negative_column_chunk_offset_is_an_error_not_a_panic() {
        let g = MetricId::new("G").unwrap();
        let e = read_bronze(
            with_data_page_offset(Some(-4)),
            &g,
            Some(&RowBounds::DEFAULT),
        )
        .unwrap_err();
        assert!(matches!(e, BronzeError::Parquet(_)), "{e}");
        assert!(
            e.to_string().starts_with("not a readable Parquet file: ")
                && e.to_string().contains("negative offset (-4)"),
            "{e}"
        );
        // The footer written anew unchanged still reads: the surgery is sound.
        let good = read_bronze(with_data_page_offset(None), &g, Some(&RowBounds::DEFAULT)).unwrap();
        assert_eq!(good.rows.value, vec![1.0]);
    }

    fn unhex(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    /// Found by the bronze_reader fuzz target (a pyarrow file with DELTA_BYTE_ARRAY strings,
    /// mutated; 310 bytes): a negative suffix length that the Parquet decoder adds to an
    /// offset unchecked (`parquet` 60, `arrow/decoder/delta_byte_array.rs`).
    const DELTA_NEGATIVE_SUFFIX: &str = concat!(
        "5041523115001538153a2c1504150e150615061c0000001c20020000000401800104010938000000",
        "80010402028b0000000061621500152c15302c15041500150615061c000000165402000000040000",
        "000001000000000000f03f0000000f0000000000000000000000401504193c36001806736368656d",
        "61150400150c25021802747325004c1c000000150a2502180576616c7565001604191c192c26001c",
        "150c1925060e191802747315021604165e16602608491c1500150e1502003c160419061926000400",
        "000026001c150a1925060019180576616c756515021604165216562668491c150015001502003c29",
        "061926000400000016b0011604260816b601002820706172717565742d6370702d6172726f772076",
        "657273696f6e2032362e302e31192c1c00001c000000c300000050415231",
    );

    /// With overflow checks (tests, fuzz builds) that addition panics inside the decoder;
    /// the reader turns the panic into an error of the file.
    #[test]
    fn decoder_panic_is_an_error_not_a_panic() {
        let g = MetricId::new("G").unwrap();
        let e =
            read_bronze(unhex(DELTA_NEGATIVE_SUFFIX), &g, Some(&RowBounds::DEFAULT)).unwrap_err();
        if cfg!(debug_assertions) {
            assert!(matches!(e, BronzeError::DecoderPanic(_)), "{e}");
            assert!(
                e.to_string()
                    .starts_with("not a readable Parquet file: decoder panicked: "),
                "{e}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The hand-written timestamp parser agrees with chrono on every text: the shapes
        /// it takes (separators, fractions of 1-9 digits, zones) and the ones it leaves to
        /// chrono (out-of-range fields, other widths, garbage around them).
        #[test]
        fn fast_ts_parser_agrees_with_chrono(
            year in 0i64..10_000,
            month in 0i64..14,
            day in 0i64..33,
            hour in 0i64..26,
            minute in 0i64..62,
            second in 0i64..62,
            sep in proptest::sample::select(vec!["T", "t", " ", "_", "TT"]),
            frac in proptest::option::of("[0-9]{0,11}"),
            zone in proptest::sample::select(vec![
                "", "Z", "z", "+00:00", "-00:00", "+05:30", "-11:59", "+23:59", "+24:00",
                "+05:60", "+0530", "+05", " Z", "ZZ", "UTC"]),
            pad in proptest::sample::select(vec!["", " ", "\t"]),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!(
                "{pad}{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{frac}{zone}{pad}"
            );
            proptest::prop_assert_eq!(
                parse_ts_text(&text),
                parse_ts_chrono(text.trim()),
                "{}",
                text
            );
        }
    }

    #[test]
    fn fast_ts_parser_takes_the_common_shapes() {
        for (text, want) in [
            ("2026-03-01T12:30:00Z", 1_772_368_200_000_000_000i64),
            ("2026-03-01T12:30:00.250+01:00", 1_772_364_600_250_000_000),
            ("2026-03-01 12:30:00.000000001", 1_772_368_200_000_000_001),
            ("1900-01-01T00:00:00Z", -2_208_988_800_000_000_000),
        ] {
            assert_eq!(parse_ts_fast(text.as_bytes()), Some(Some(want)), "{text}");
            assert_eq!(parse_ts_chrono(text), Ok(want), "{text}");
        }
        // Outside the nanosecond range: invalid, as chrono says.
        assert_eq!(parse_ts_fast(b"9999-12-31T23:59:59Z"), Some(None));
        assert_eq!(
            parse_ts_text("9999-12-31T23:59:59Z"),
            Err(RejectReason::InvalidTs)
        );
        // Left to chrono: leap second, ten fraction digits.
        assert_eq!(parse_ts_fast(b"2026-06-30T23:59:60Z"), None);
        assert_eq!(parse_ts_fast(b"2026-06-30T23:59:59.0123456789Z"), None);
    }
}
