//! Cleansing (contract section 3, steps 2-4): exact-duplicate removal, bucketing with the
//! metric's aggregation, and the per-series timeline with short gaps interpolated.
//!
//! Everything here is a pure function of the set of rows, never of their order: rows are
//! sorted by `(series, ts, value)` before anything is combined, so sums add in one fixed
//! order and a batch run and any incremental run give bit-identical values.

use std::collections::BTreeMap;

use crate::bronze::BronzeRows;
use crate::config::Aggregation;
use crate::ids::SeriesKey;

/// Longest run of missing buckets that is interpolated (contract section 3, step 4).
pub const MAX_INTERPOLATED_GAP: i64 = 3;

/// One series' observed (aggregated) buckets, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesBuckets {
    /// The series.
    pub key: SeriesKey,
    /// Bucket starts, nanoseconds since the epoch, strictly ascending.
    pub buckets: Vec<i64>,
    /// Aggregated value per bucket.
    pub values: Vec<f64>,
}

/// The result of steps 2 and 3.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregated {
    /// Series in ascending key order.
    pub series: Vec<SeriesBuckets>,
    /// Exact duplicate rows dropped (step 2).
    pub duplicates: u64,
}

/// `floor(ts, width)` for nanosecond timestamps, also before 1970.
pub fn bucket_of(ts_ns: i64, width_ns: i64) -> i64 {
    ts_ns.div_euclid(width_ns) * width_ns
}

/// Steps 2 and 3: drops exact duplicates, buckets, and combines each bucket's rows.
pub fn aggregate(rows: &BronzeRows, width_ns: i64, aggregation: Aggregation) -> Aggregated {
    aggregate_on(rows, width_ns, aggregation, 1)
}

/// [`aggregate`] on up to `threads` threads: the series are split into contiguous ranges of
/// key order with about equal rows, each range is sorted and combined on its own thread,
/// and the results are concatenated in key order. The result does not depend on `threads`.
pub fn aggregate_on(
    rows: &BronzeRows,
    width_ns: i64,
    aggregation: Aggregation,
    threads: usize,
) -> Aggregated {
    // Order the rows by (series rank, ts, value) so that duplicates become adjacent and
    // every bucket's rows are in a canonical order: a counting sort by rank into one
    // array, then each series' (ts, value) pairs sorted on their own (already sorted when
    // the files were concatenated in time order, which the sort detects in one pass). The
    // value's bits are mapped so that integer order is `f64::total_cmp` order (and back:
    // the value is read from its key).
    let (key_rank, by_rank) = rank_keys(&rows.keys);
    let ranks = rows.keys.len();
    let mut start = vec![0usize; ranks + 1];
    for &sid in &rows.series {
        start[key_rank[sid as usize] as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut cursor = start.clone();
    let mut packed: Vec<(i64, u64)> = vec![(0, 0); rows.len()];
    for i in 0..rows.len() {
        let c = &mut cursor[key_rank[rows.series[i] as usize] as usize];
        packed[*c] = (rows.ts[i], total_order_bits(rows.value[i]));
        *c += 1;
    }
    drop(cursor);

    // Contiguous rank ranges of about equal rows, one per thread.
    let threads = threads.clamp(1, 8);
    let target = rows.len().div_ceil(threads).max(1);
    let mut bounds = vec![0usize];
    for r in 1..ranks {
        if start[r] - start[*bounds.last().unwrap_or(&0)] >= target && bounds.len() < threads {
            bounds.push(r);
        }
    }
    bounds.push(ranks);
    let mut slices = Vec::with_capacity(bounds.len());
    let mut rest: &mut [(i64, u64)] = &mut packed;
    for w in bounds.windows(2) {
        let (head, tail) = rest.split_at_mut(start[w[1]] - start[w[0]]);
        slices.push((w[0], w[1], head));
        rest = tail;
    }
    let run = |(lo, hi, slice): (usize, usize, &mut [(i64, u64)])| {
        let base = start[lo];
        let mut out = Aggregated::default();
        for r in lo..hi {
            let series = &mut slice[start[r] - base..start[r + 1] - base];
            series.sort_unstable();
            let key = &rows.keys[by_rank[r]];
            combine_series(key, series, width_ns, aggregation, &mut out);
        }
        out
    };
    let parts = crate::parallel::run_jobs(slices, run);
    let mut out = Aggregated::default();
    for mut p in parts {
        out.series.append(&mut p.series);
        out.duplicates += p.duplicates;
    }
    out
}

/// Steps 2 and 3 for one series whose rows `sorted` are (ts, value bits) in ascending
/// order: appends its buckets to `out` (nothing when it has no rows) and counts duplicates.
fn combine_series(
    key: &SeriesKey,
    sorted: &[(i64, u64)],
    width_ns: i64,
    aggregation: Aggregation,
    out: &mut Aggregated,
) {
    if sorted.is_empty() {
        return;
    }
    let mut s = SeriesBuckets {
        key: key.clone(),
        buckets: Vec::new(),
        values: Vec::new(),
    };
    let mut flush = |bucket: i64, sum: f64, count: u64, last: f64| {
        if count == 0 {
            return;
        }
        s.buckets.push(bucket);
        s.values.push(match aggregation {
            Aggregation::Sum => sum,
            Aggregation::Mean => sum / count as f64,
            Aggregation::Last => last,
        });
    };
    let mut prev: Option<(i64, u64)> = None;
    // Accumulator of the open bucket.
    let mut bucket = bucket_of(sorted[0].0, width_ns);
    let (mut sum, mut count, mut last) = (0.0f64, 0u64, 0.0f64);
    for &row in sorted {
        if prev == Some(row) {
            out.duplicates += 1;
            continue;
        }
        prev = Some(row);
        let (ts, bits) = row;
        let value = from_total_order_bits(bits);
        let b = bucket_of(ts, width_ns);
        if b != bucket {
            flush(bucket, sum, count, last);
            (bucket, sum, count) = (b, 0.0, 0);
        }
        sum += value;
        count += 1;
        // Rows are in (ts, value) order, so the last one has the greatest ts and, among
        // equal ts, the greatest value: exactly the `last` rule.
        last = value;
    }
    flush(bucket, sum, count, last);
    out.series.push(s);
}

/// Bits of `v` whose unsigned order is the order of [`f64::total_cmp`].
fn total_order_bits(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The inverse of [`total_order_bits`].
fn from_total_order_bits(b: u64) -> f64 {
    if b >> 63 == 1 {
        f64::from_bits(b & !(1 << 63))
    } else {
        f64::from_bits(!b)
    }
}

/// Each key's rank in key order, and the key index of each rank.
fn rank_keys(keys: &[SeriesKey]) -> (Vec<u32>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut rank = vec![0u32; keys.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i] = r as u32;
    }
    (rank, idx)
}

/// Each series' first and last bucket over the rows of `parts` (rows that passed step 1):
/// the extents step 4 spans, as [`aggregate`] would give them (the first and last of each
/// series' buckets), without sorting or combining any row.
pub fn bucket_extents<'a>(
    parts: impl IntoIterator<Item = &'a BronzeRows>,
    width_ns: i64,
) -> BTreeMap<SeriesKey, (i64, i64)> {
    let mut out: BTreeMap<SeriesKey, (i64, i64)> = BTreeMap::new();
    for part in parts {
        let mut span: Vec<Option<(i64, i64)>> = vec![None; part.keys.len()];
        for (&s, &ts) in part.series.iter().zip(&part.ts) {
            let e = &mut span[s as usize];
            *e = Some(e.map_or((ts, ts), |(lo, hi)| (lo.min(ts), hi.max(ts))));
        }
        for (key, e) in part.keys.iter().zip(span) {
            let Some((lo, hi)) = e else { continue };
            let (lo, hi) = (bucket_of(lo, width_ns), bucket_of(hi, width_ns));
            out.entry(key.clone())
                .and_modify(|x| *x = (x.0.min(lo), x.1.max(hi)))
                .or_insert((lo, hi));
        }
    }
    out
}

/// A dense stretch of one series' timeline after step 4.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Start of the first bucket of the stretch (nanoseconds).
    pub start: i64,
    /// Bucket width (nanoseconds).
    pub width: i64,
    /// Per bucket: the value, `None` outside the series' extent or inside a long gap.
    pub values: Vec<Option<f64>>,
    /// Per bucket: whether the value was interpolated.
    pub imputed: Vec<bool>,
    /// Per bucket: whether the bucket belongs to the series' timeline (its extent).
    pub in_timeline: Vec<bool>,
}

/// Step 4 over the stretch `[from, to]` (bucket starts, inclusive).
///
/// `observed` must hold every observed bucket in `[from - 4w, to + 4w]` (more is fine);
/// `extent` is the series' first and last bucket over all bronze data. Buckets outside the
/// extent are not in the timeline; missing buckets in a gap of at most
/// [`MAX_INTERPOLATED_GAP`] are interpolated linearly, longer gaps stay `None`.
pub fn timeline(
    observed: &SeriesBuckets,
    extent: (i64, i64),
    from: i64,
    to: i64,
    width: i64,
) -> Timeline {
    let n = if to >= from {
        ((to - from) / width + 1) as usize
    } else {
        0
    };
    let mut values = vec![None; n];
    let mut imputed = vec![false; n];
    let in_timeline: Vec<bool> = (0..n)
        .map(|i| {
            let b = from + i as i64 * width;
            extent.0 <= b && b <= extent.1
        })
        .collect();
    let slot = |b: i64| -> Option<usize> {
        (from..=to)
            .contains(&b)
            .then(|| ((b - from) / width) as usize)
    };
    let (bs, vs) = (&observed.buckets, &observed.values);
    for i in 0..bs.len() {
        if let Some(s) = slot(bs[i]) {
            values[s] = Some(vs[i]);
        }
        if i + 1 < bs.len() {
            let missing = (bs[i + 1] - bs[i]) / width - 1;
            if (1..=MAX_INTERPOLATED_GAP).contains(&missing) {
                let (v0, v1) = (vs[i], vs[i + 1]);
                for k in 1..=missing {
                    if let Some(s) = slot(bs[i] + k * width) {
                        values[s] = Some(v0 + (v1 - v0) * (k as f64 / (missing + 1) as f64));
                        imputed[s] = true;
                    }
                }
            }
        }
    }
    Timeline {
        start: from,
        width,
        values,
        imputed,
        in_timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    fn rows(data: &[(&str, i64, f64)]) -> BronzeRows {
        let mut r = BronzeRows::default();
        for (k, ts, v) in data {
            let key = SeriesKey::new(*k).unwrap();
            let id = match r.keys.iter().position(|x| x == &key) {
                Some(i) => i,
                None => {
                    r.keys.push(key);
                    r.keys.len() - 1
                }
            };
            r.series.push(id as u32);
            r.ts.push(*ts);
            r.value.push(*v);
        }
        r
    }

    #[test]
    fn bucket_extents_are_the_first_and_last_aggregated_buckets() {
        let m = 60_000_000_000;
        let a = rows(&[("a", 5 * H + m, 1.0), ("b", -H - m, 2.0), ("a", 2 * H, 3.0)]);
        let b = rows(&[
            ("a", 9 * H + 59 * m, 4.0),
            ("c", 3 * H, 5.0),
            ("b", 4 * H, 6.0),
        ]);
        let got = bucket_extents([&a, &b], H);
        let all = BronzeRows::concat([&a, &b]);
        let want: BTreeMap<SeriesKey, (i64, i64)> = aggregate(&all, H, Aggregation::Sum)
            .series
            .iter()
            .map(|s| (s.key.clone(), (s.buckets[0], *s.buckets.last().unwrap())))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[&SeriesKey::new("b").unwrap()], (-2 * H, 4 * H));
        assert!(bucket_extents([&BronzeRows::default()], H).is_empty());
    }

    #[test]
    fn duplicates_are_exact_and_buckets_aggregate() {
        let m = 60_000_000_000;
        let r = rows(&[
            ("b", 0, 1.0),
            ("a", 10 * m, 2.0),
            ("a", 10 * m, 2.0), // exact duplicate
            ("a", 10 * m, 3.0), // same ts, other value: kept
            ("a", 70 * m, 5.0), // next bucket
            ("a", 59 * m, 1.0),
        ]);
        let sum = aggregate(&r, H, Aggregation::Sum);
        assert_eq!(sum.duplicates, 1);
        assert_eq!(sum.series[0].key.as_str(), "a");
        assert_eq!(sum.series[0].buckets, vec![0, H]);
        assert_eq!(sum.series[0].values, vec![6.0, 5.0]);
        assert_eq!(sum.series[1].values, vec![1.0]);
        let mean = aggregate(&r, H, Aggregation::Mean);
        assert_eq!(mean.series[0].values, vec![2.0, 5.0]);
        let last = aggregate(&r, H, Aggregation::Last);
        // Greatest ts in bucket 0 is 59m (value 1.0).
        assert_eq!(last.series[0].values, vec![1.0, 5.0]);
    }

    #[test]
    fn last_ties_take_the_greatest_value() {
        let r = rows(&[("a", 5, 7.0), ("a", 9, 1.0), ("a", 9, 4.0), ("a", 9, -2.0)]);
        assert_eq!(
            aggregate(&r, H, Aggregation::Last).series[0].values,
            vec![4.0]
        );
    }

    #[test]
    fn negative_times_floor_down() {
        assert_eq!(bucket_of(-1, H), -H);
        assert_eq!(bucket_of(H + 5, H), H);
    }

    #[test]
    fn total_order_bits_follow_total_cmp() {
        let mut v = [
            3.5,
            -0.0,
            0.0,
            -7.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            -1e-300,
            42.0,
        ];
        let mut by_bits = v;
        v.sort_by(f64::total_cmp);
        by_bits.sort_by_key(|x| total_order_bits(*x));
        assert_eq!(v.map(f64::to_bits), by_bits.map(f64::to_bits));
    }

    #[test]
    fn aggregation_ignores_row_order() {
        let mut data = vec![
            ("a", 1, 0.1),
            ("a", 2, 0.2),
            ("a", 3, 0.3),
            ("b", 4, 1e16),
            ("b", 5, 1.0),
            ("b", 6, -1e16),
        ];
        let a = aggregate(&rows(&data), H, Aggregation::Sum);
        data.reverse();
        let b = aggregate(&rows(&data), H, Aggregation::Sum);
        assert_eq!(a, b);
    }

    fn obs(buckets: &[i64], values: &[f64]) -> SeriesBuckets {
        SeriesBuckets {
            key: SeriesKey::all(),
            buckets: buckets.iter().map(|b| b * H).collect(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn gap_of_three_is_interpolated_gap_of_four_is_not() {
        // Observed at 0 and 4 (3 missing), then 9 (4 missing: 5..8).
        let o = obs(&[0, 4, 9], &[0.0, 8.0, 100.0]);
        let t = timeline(&o, (0, 9 * H), 0, 9 * H, H);
        assert_eq!(
            t.values,
            vec![
                Some(0.0),
                Some(2.0),
                Some(4.0),
                Some(6.0),
                Some(8.0),
                None,
                None,
                None,
                None,
                Some(100.0)
            ]
        );
        assert_eq!(
            t.imputed,
            vec![false, true, true, true, false, false, false, false, false, false]
        );
        assert!(t.in_timeline.iter().all(|&b| b));
    }

    #[test]
    fn stretch_outside_extent_is_not_in_timeline() {
        let o = obs(&[2, 3], &[1.0, 2.0]);
        let t = timeline(&o, (2 * H, 3 * H), 0, 5 * H, H);
        assert_eq!(t.in_timeline, vec![false, false, true, true, false, false]);
        assert_eq!(t.values, vec![None, None, Some(1.0), Some(2.0), None, None]);
    }

    #[test]
    fn partial_stretch_interpolates_with_neighbours_outside_it() {
        // Gap 11..13 between 10 and 14; the stretch is only 12..13.
        let o = obs(&[10, 14], &[10.0, 14.0]);
        let t = timeline(&o, (10 * H, 14 * H), 12 * H, 13 * H, H);
        assert_eq!(t.values, vec![Some(12.0), Some(13.0)]);
        assert_eq!(t.imputed, vec![true, true]);
    }

    #[test]
    fn total_order_bits_round_trip() {
        for v in [0.0, -0.0, 1.5, -1.5, f64::MAX, f64::MIN, 1e-310, -1e-310] {
            assert_eq!(
                from_total_order_bits(total_order_bits(v)).to_bits(),
                v.to_bits()
            );
        }
    }

    proptest::proptest! {
        /// Splitting the series over threads changes nothing: same series, buckets, values
        /// (to the bit) and duplicate count for any number of threads.
        #[test]
        fn aggregation_on_threads_equals_one_thread(
            data in proptest::collection::vec(
                (0usize..9, 0i64..40, proptest::sample::select(vec![0.0, 1.0, 2.5, -3.0, 0.1])),
                0..300),
            threads in 1usize..6,
            agg in proptest::sample::select(vec![Aggregation::Sum, Aggregation::Mean, Aggregation::Last]),
        ) {
            let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
            let data: Vec<(&str, i64, f64)> = data
                .iter()
                .map(|&(k, t, v)| (names[k], t * 900_000_000_000, v))
                .collect();
            let r = rows(&data);
            let one = aggregate(&r, H, agg);
            let many = aggregate_on(&r, H, agg, threads);
            proptest::prop_assert_eq!(one.duplicates, many.duplicates);
            proptest::prop_assert_eq!(one.series.len(), many.series.len());
            for (a, b) in one.series.iter().zip(&many.series) {
                proptest::prop_assert_eq!(&a.key, &b.key);
                proptest::prop_assert_eq!(&a.buckets, &b.buckets);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                proptest::prop_assert_eq!(bits(&a.values), bits(&b.values));
            }
        }
    }
}
