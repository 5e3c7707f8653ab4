//! The pipeline's own state in the `gras_state` table (not part of the contract).
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `idx#<M>` | `<YYYY-MM-DD>#<bronze key>` | bronze index: the object holds valid rows of `M` on that UTC date |
//! | `obj#<bronze key>` | `_` | manifest: fingerprint of the processed content ([`REMOVING`] while the object's rows are taken out), its dates, the span of its rows' timestamps and a filter of their series ([`SeriesFilter`]), status (`pending`/`done`), and while pending the affected silver dates once known |
//! | `ext#<M>` | `<series_key>` | extent: the series' first and last bucket over all bronze |
//! | `lease#<M>#<YYYY-MM-DD>` | `_` | lease on a silver partition while it is recomputed |
//! | `alerts#<M>` | `<ts>#<series_key>` | alerts of a metric by time, for `GET /v1/alerts` (TTL as the alert) |
//! | `eval#<M>` | `<version>` | live accuracy of a version (continuous evaluation), and its online interval factor with the newest bucket counted ([`eval`]) |
//! | `retrain#<M>` | `cooldown` | the last retrain request, for the cool-down |
//! | `approved#<M>` | `_` | the approval pointer: the metric's one approved version (owned by [`crate::registry`]) |
//! | `dec#<M>` | `<decided_at>#<0\|1>#<version>#<action>` | the registry's decision history (owned by [`crate::registry`]) |
//!
//! The index and extents are written *before* a partition lease is taken and read *after*
//! it, which is what makes concurrent writers converge (see ARCHITECTURE.md, "Incremental processing and concurrency").

pub mod eval;
mod extent;
mod index;
mod lease;
mod manifest;

pub use extent::*;
pub use index::*;
pub use lease::*;
pub use manifest::*;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::{MetricId, SeriesKey};
use crate::storage::table::{
    query_all, Attr, Condition, Item, Query, TableError, TableSpec, TableStore,
};

/// The state table: hash key `pk`, range key `sk`.
pub const STATE: TableSpec = TableSpec {
    name: crate::contract::table::STATE,
    pk: "pk",
    sk: Some("sk"),
};

const PK: &str = "pk";
const SK: &str = "sk";
const SINGLETON: &str = "_";
const A_FP: &str = "fingerprint";
const A_DATES: &str = "dates";
const A_AFFECTED: &str = "affected";
const A_ROWS_FIRST: &str = "rows_first";
const A_ROWS_LAST: &str = "rows_last";
const A_SERIES: &str = "series_filter";
const A_STATUS: &str = "status";
const A_ROWS: &str = "rows";
const A_FIRST: &str = "first";
const A_LAST: &str = "last";
const A_VERSION: &str = "version";
const A_OWNER: &str = "owner";
const A_UNTIL: &str = "until";
const A_UPDATED: &str = "updated_at";
const NANOS: i64 = 1_000_000_000;

fn s(v: impl Into<String>) -> Attr {
    Attr::S(v.into())
}

fn key_item(pk: String, sk: String) -> Item {
    let mut i = Item::new();
    i.insert(PK.into(), Attr::S(pk));
    i.insert(SK.into(), Attr::S(sk));
    i
}

fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A list attribute of dates (`YYYY-MM-DD`), as [`dates_of`] reads it.
fn date_list(dates: &BTreeSet<NaiveDate>) -> Attr {
    Attr::L(dates.iter().map(|d| s(date_str(*d))).collect())
}

/// The dates of a list attribute written by [`date_list`] (unparsable entries skipped).
fn dates_of(list: &[Attr]) -> BTreeSet<NaiveDate> {
    list.iter()
        .filter_map(|d| {
            d.as_s()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryTableStore;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, day).unwrap()
    }

    #[tokio::test]
    async fn index_queries_by_date_range() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        for (day, key) in [
            (1, "k/a"),
            (2, "k/b"),
            (2, "k/c#x"),
            (3, "k/d"),
            (10, "k/e"),
        ] {
            put_index(&t, &g, d(day), key, 5).await.unwrap();
        }
        put_index(&t, &MetricId::new("GX").unwrap(), d(2), "other", 1)
            .await
            .unwrap();
        let got = query_index(&t, &g, d(2), d(3)).await.unwrap();
        assert_eq!(
            got,
            vec![
                (d(2), "k/b".into()),
                (d(2), "k/c#x".into()),
                (d(3), "k/d".into())
            ]
        );
        assert_eq!(query_index_all(&t, &g).await.unwrap().len(), 5);
        delete_index(&t, &g, d(2), "k/b").await.unwrap();
        assert_eq!(query_index(&t, &g, d(2), d(2)).await.unwrap().len(), 1);
        delete_index_many(&t, &g, &[(d(1), "k/a".into()), (d(10), "k/e".into())])
            .await
            .unwrap();
        assert_eq!(
            query_index_all(&t, &g).await.unwrap(),
            vec![(d(2), "k/c#x".into()), (d(3), "k/d".into())]
        );
        assert_eq!(
            query_index_all(&t, &MetricId::new("GX").unwrap())
                .await
                .unwrap()
                .len(),
            1,
            "other metrics keep their entries"
        );
    }

    fn s(k: &str) -> SeriesKey {
        SeriesKey::new(k).unwrap()
    }

    /// Extents of one hour starting at hour `v`, by series.
    fn ext(pairs: &[(&str, i64)]) -> BTreeMap<SeriesKey, (i64, i64)> {
        let h = 3600 * NANOS;
        pairs
            .iter()
            .map(|(k, v)| (s(k), (v * h, (v + 1) * h)))
            .collect()
    }

    #[tokio::test]
    async fn replace_extents_drops_vanished_series_and_bumps_versions() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        replace_extents(&t, &g, &BTreeMap::new(), &ext(&[("a", 1), ("b", 2)]))
            .await
            .unwrap();
        let old = load_extents(&t, &g).await.unwrap();
        replace_extents(&t, &g, &old, &ext(&[("b", 5), ("c", 7)]))
            .await
            .unwrap();
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec![s("b"), s("c")]
        );
        let h = 3600 * NANOS;
        assert_eq!((got[&s("b")].first, got[&s("b")].version), (5 * h, 2));
        assert_eq!((got[&s("c")].first, got[&s("c")].version), (7 * h, 1));
        // An unchanged extent is not written (its version stays).
        replace_extents(&t, &g, &got, &ext(&[("b", 5), ("c", 8)]))
            .await
            .unwrap();
        let again = load_extents(&t, &g).await.unwrap();
        assert_eq!(again[&s("b")].version, 2);
        assert_eq!((again[&s("c")].first, again[&s("c")].version), (8 * h, 2));
    }

    #[tokio::test]
    async fn a_checked_replacement_never_undoes_a_concurrent_widening() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let h = 3600 * NANOS;
        replace_extents(&t, &g, &BTreeMap::new(), &ext(&[("a", 1), ("b", 2)]))
            .await
            .unwrap();
        // Unchanged since read: replaced, vanished series deleted, versions bumped.
        let old = load_extents(&t, &g).await.unwrap();
        assert!(
            replace_extents_checked(&t, &g, &old, &ext(&[("a", 3), ("c", 4)]))
                .await
                .unwrap()
        );
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec![s("a"), s("c")]
        );
        assert_eq!((got[&s("a")].first, got[&s("a")].version), (3 * h, 2));

        // A writer widens `a` and creates `d` after the rebuild read the extents: the
        // replacement reports the conflict and both widenings stay.
        let old = load_extents(&t, &g).await.unwrap();
        widen_extent(&t, &g, &s("a"), old.get(&s("a")).copied(), 3 * h, 30 * h)
            .await
            .unwrap();
        widen_extent(&t, &g, &s("d"), None, 5 * h, 6 * h)
            .await
            .unwrap();
        assert!(
            !replace_extents_checked(&t, &g, &old, &ext(&[("a", 3), ("d", 9)]))
                .await
                .unwrap()
        );
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!(got[&s("a")].last, 30 * h, "the widening of a stays");
        assert_eq!(got[&s("d")].first, 5 * h, "the new series d stays");
        // Unconditional replacement (the batch path) would have overwritten it.
        replace_extents(&t, &g, &old, &ext(&[("a", 2)]))
            .await
            .unwrap();
        assert_eq!(load_extents(&t, &g).await.unwrap()[&s("a")].last, 3 * h);

        // A series the replacement leaves as it was read is not written: widening it
        // meanwhile is no conflict, and the widening stays.
        let read = load_extents(&t, &g).await.unwrap();
        widen_extent(&t, &g, &s("a"), read.get(&s("a")).copied(), 3 * h, 40 * h)
            .await
            .unwrap();
        let mut want = ext(&[("e", 2)]);
        want.insert(s("a"), (read[&s("a")].first, read[&s("a")].last));
        assert!(replace_extents_checked(&t, &g, &read, &want).await.unwrap());
        let got = load_extents(&t, &g).await.unwrap();
        assert_eq!((got[&s("a")].last, got[&s("e")].first), (40 * h, 2 * h));
    }

    #[tokio::test]
    async fn extents_only_widen_and_survive_races() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let a = SeriesKey::new("a").unwrap();
        let h = 3600 * NANOS;
        assert_eq!(
            widen_extent(&t, &g, &a, None, 5 * h, 9 * h).await.unwrap(),
            None
        );
        // A stale view (None) is refreshed after the failed condition.
        let old = widen_extent(&t, &g, &a, None, 2 * h, 6 * h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((old.first, old.last), (5 * h, 9 * h));
        let e = load_extents(&t, &g).await.unwrap()[&a];
        assert_eq!((e.first, e.last, e.version), (2 * h, 9 * h, 2));
        // Covered: no write.
        widen_extent(&t, &g, &a, Some(e), 3 * h, 4 * h)
            .await
            .unwrap();
        assert_eq!(load_extents(&t, &g).await.unwrap()[&a].version, 2);
    }

    #[tokio::test]
    async fn leases_exclude_until_released_or_expired() {
        let t = MemoryTableStore::default();
        let g = MetricId::new("G").unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ttl = Duration::from_secs(900);
        assert!(try_lease(&t, &g, d(1), "a", now, ttl).await.unwrap());
        assert!(!try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap());
        assert!(
            try_lease(&t, &g, d(2), "b", now, ttl).await.unwrap(),
            "other partition is free"
        );
        assert!(
            try_lease(&t, &g, d(1), "a", now, ttl).await.unwrap(),
            "re-entrant for its owner"
        );
        release_lease(&t, &g, d(1), "b").await.unwrap();
        assert!(
            !try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap(),
            "only the owner releases"
        );
        release_lease(&t, &g, d(1), "a").await.unwrap();
        assert!(try_lease(&t, &g, d(1), "b", now, ttl).await.unwrap());
        let later = now + chrono::Duration::seconds(901);
        assert!(
            try_lease(&t, &g, d(1), "c", later, ttl).await.unwrap(),
            "expired lease is taken over"
        );
    }

    #[test]
    fn series_filters_hold_their_members_and_few_others() {
        for n in [0usize, 1, 200, 5_000, 20_000] {
            let members: Vec<SeriesKey> = (0..n)
                .map(|i| SeriesKey::new(format!("store-{i:05}")).unwrap())
                .collect();
            let f = SeriesFilter::of(members.iter());
            assert!(
                members.iter().all(|s| f.may_contain(s)),
                "{n}: no false negatives"
            );
            let others = 10_000;
            let false_positives = (0..others)
                .filter(|i| f.may_contain(&SeriesKey::new(format!("other-{i}")).unwrap()))
                .count();
            // ~1% at 10 bits per member; 20,000 members exceed the cap (6.5 bits each).
            let limit = if n > 13_000 { 0.06 } else { 0.02 };
            assert!(
                (false_positives as f64) < limit * others as f64,
                "{n}: {false_positives} false positives"
            );
            assert_eq!(SeriesFilter::from_hex(&f.to_hex()), Some(f.clone()));
            assert!(f.bits.len() * 8 <= SeriesFilter::MAX_BITS);
        }
        for bad in ["", "abc", "zz", "0g"] {
            assert_eq!(SeriesFilter::from_hex(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn manifests_round_trip() {
        let t = MemoryTableStore::default();
        let m = Manifest {
            fingerprint: "abc".into(),
            dates: [d(1), d(3)].into_iter().collect(),
            span: Some((1_704_067_200 * NANOS, 1_704_326_399 * NANOS)),
            series: Some(SeriesFilter::of(
                [SeriesKey::new("a").unwrap(), SeriesKey::new("b").unwrap()].iter(),
            )),
            done: true,
            affected: None,
        };
        put_manifest(&t, "bronze/x.parquet", &m, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifest(&t, "bronze/x.parquet").await.unwrap(),
            Some(m.clone())
        );
        let widened = Manifest {
            fingerprint: "abc".into(),
            dates: [d(3)].into_iter().collect(),
            span: None,
            series: None,
            done: false,
            affected: Some([d(3), d(4), d(9)].into_iter().collect()),
        };
        put_manifest(&t, "bronze/x.parquet", &widened, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifest(&t, "bronze/x.parquet").await.unwrap(),
            Some(widened.clone())
        );
        put_manifest(&t, "bronze/y.parquet", &m, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            get_manifests(
                &t,
                &[
                    "bronze/y.parquet",
                    "bronze/none.parquet",
                    "bronze/x.parquet"
                ]
            )
            .await
            .unwrap(),
            vec![Some(m), None, Some(widened)],
            "batched reads, in the order asked"
        );
        delete_manifest(&t, "bronze/x.parquet").await.unwrap();
        assert_eq!(get_manifest(&t, "bronze/x.parquet").await.unwrap(), None);
    }
}
