//! The conformance suite every storage adapter passes: the same calls, the same answers,
//! whether the store is a map, a folder and SQLite, or S3 and DynamoDB behind an emulator.
//!
//! Each function panics with a message naming the broken promise; call them from a test
//! with a fresh store (tables must exist and be empty for the `scratch` table names used).

use bytes::Bytes;

use super::blob::BlobStore;
use super::table::{
    query_all, Attr, Condition, Item, Query, SkRange, TableError, TableSpec, TableStore, TxOp,
};

/// A table with hash and range key used by the suite (`pk`, `sk`).
pub const SCRATCH: TableSpec = TableSpec {
    name: "gras_state",
    pk: "pk",
    sk: Some("sk"),
};
/// A table with only a hash key used by the suite (`pk`).
pub const SCRATCH_HASH_ONLY: TableSpec = TableSpec {
    name: "gras_features",
    pk: "pk",
    sk: None,
};

/// Checks the [`BlobStore`] promises.
pub async fn blob_store(store: &dyn BlobStore) {
    let k1 = "conf/a/one.parquet";
    let k2 = "conf/a/two space+plus%.parquet";
    let k3 = "conf/b/three";
    assert!(
        matches!(store.get(k1).await, Err(super::BlobError::NotFound { .. })),
        "missing object must be NotFound"
    );
    store
        .put(k1, Bytes::from_static(b"first"))
        .await
        .expect("put");
    store
        .put(k1, Bytes::from_static(b"second"))
        .await
        .expect("overwrite");
    assert_eq!(
        store.get(k1).await.expect("get"),
        Bytes::from_static(b"second"),
        "put replaces whole"
    );
    store
        .put(k2, Bytes::from_static(b""))
        .await
        .expect("put empty object");
    assert_eq!(store.get(k2).await.expect("get empty").len(), 0);
    store
        .put(k3, Bytes::from(vec![7u8; 70_000]))
        .await
        .expect("put larger");
    let listed: Vec<_> = store
        .list("conf/a/")
        .await
        .expect("list")
        .into_iter()
        .map(|m| (m.key, m.size))
        .collect();
    assert_eq!(
        listed,
        vec![(k1.to_string(), 6), (k2.to_string(), 0)],
        "list: prefix, sorted, sizes"
    );
    let all: Vec<_> = store
        .list("conf/")
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(
        all,
        vec![k1, k2, k3],
        "list walks nested prefixes in key order"
    );
    let partial: Vec<_> = store
        .list("conf/a/tw")
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(partial, vec![k2], "a prefix need not end at '/'");
    assert!(store
        .list("nothing/here/")
        .await
        .expect("list empty")
        .is_empty());
    store.delete(k1).await.expect("delete");
    store
        .delete(k1)
        .await
        .expect("delete of a missing key succeeds");
    assert!(matches!(
        store.get(k1).await,
        Err(super::BlobError::NotFound { .. })
    ));
    for bad in ["", "/abs", "a//b", "a/../b", "dir/"] {
        assert!(
            store.put(bad, Bytes::new()).await.is_err(),
            "invalid key {bad:?} accepted"
        );
    }
    store.delete(k2).await.expect("cleanup");
    store.delete(k3).await.expect("cleanup");
}

fn item(pk: &str, sk: &str, n: f64) -> Item {
    let mut i = Item::new();
    i.insert("pk".into(), Attr::S(pk.into()));
    i.insert("sk".into(), Attr::S(sk.into()));
    i.insert("n".into(), Attr::N(n));
    i.insert("flag".into(), Attr::Bool(true));
    i.insert("none".into(), Attr::Null);
    i.insert(
        "m".into(),
        Attr::M(
            [(
                "x".to_string(),
                Attr::L(vec![Attr::N(1.5), Attr::S("é#".into())]),
            )]
            .into_iter()
            .collect(),
        ),
    );
    i
}

/// Checks the [`TableStore`] promises.
pub async fn table_store(store: &dyn TableStore) {
    let t = &SCRATCH;
    assert_eq!(store.get(t, "p1", "a").await.expect("get missing"), None);
    store
        .put(t, item("p1", "a", 1.0), Condition::NotExists)
        .await
        .expect("put new");
    let err = store
        .put(t, item("p1", "a", 2.0), Condition::NotExists)
        .await
        .expect_err("a second put of a new item fails its condition");
    assert!(
        matches!(err, TableError::ConditionFailed { .. }),
        "NotExists on existing item: {err}"
    );
    assert_eq!(
        store.get(t, "p1", "a").await.expect("get"),
        Some(item("p1", "a", 1.0)),
        "items round-trip exactly"
    );
    store
        .put(
            t,
            item("p1", "a", 3.0),
            Condition::Equals("n".into(), Attr::N(1.0)),
        )
        .await
        .expect("Equals holds");
    assert!(store
        .put(
            t,
            item("p1", "a", 4.0),
            Condition::Equals("n".into(), Attr::N(1.0))
        )
        .await
        .is_err());
    assert!(store
        .put(
            t,
            item("p1", "a", 4.0),
            Condition::LessThan("n".into(), Attr::N(3.0))
        )
        .await
        .is_err());
    assert!(
        store
            .put(
                t,
                item("p1", "a", 4.0),
                Condition::LessThan("n".into(), Attr::S("9".into()))
            )
            .await
            .is_err(),
        "types do not compare"
    );
    store
        .put(
            t,
            item("p1", "a", 3.0),
            Condition::AtMost("n".into(), Attr::N(3.0)),
        )
        .await
        .expect("AtMost holds on equal");
    store
        .put(
            t,
            item("p1", "a", 4.0),
            Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("n".into(), Attr::N(3.5)),
            ]),
        )
        .await
        .expect("Or holds");
    store
        .put(
            t,
            item("p1", "b", 0.0),
            Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("n".into(), Attr::N(0.0)),
            ]),
        )
        .await
        .expect("Or NotExists holds");
    assert!(
        store
            .put(
                t,
                item("p1", "b", 0.0),
                Condition::LessThan("sk".into(), Attr::S("a".into()))
            )
            .await
            .is_err(),
        "b < a is false"
    );
    store
        .put(
            t,
            item("p1", "b", 1.0),
            Condition::LessThan("sk".into(), Attr::S("ba".into())),
        )
        .await
        .expect("strings compare bytewise");
    store
        .put(
            t,
            item("p1", "zz", 0.0),
            Condition::Or(vec![Condition::NotExists]),
        )
        .await
        .expect("Or NotExists");

    let many: Vec<Item> = (0..30)
        .map(|i| item("p2", &format!("2024-01-01T{i:02}:00:00Z"), f64::from(i)))
        .collect();
    store.batch_put(t, many.clone()).await.expect("batch put");
    store
        .batch_put(t, many.clone())
        .await
        .expect("batch put is idempotent");
    let all = query_all(
        store,
        t,
        &Query {
            limit: Some(7),
            ..Query::all("p2")
        },
    )
    .await
    .expect("paged query");
    assert_eq!(all, many, "pages concatenate to every item in order");
    let q = Query::between("p2", "2024-01-01T05:00:00Z", "2024-01-01T07:00:00Z");
    let got: Vec<f64> = store
        .query(t, &q)
        .await
        .expect("query")
        .items
        .iter()
        .filter_map(|i| i["n"].as_n())
        .collect();
    assert_eq!(got, vec![5.0, 6.0, 7.0], "Between is inclusive");
    let desc = Query {
        forward: false,
        limit: Some(2),
        ..Query::all("p2")
    };
    let page = store.query(t, &desc).await.expect("desc");
    let got: Vec<f64> = page.items.iter().filter_map(|i| i["n"].as_n()).collect();
    assert_eq!(got, vec![29.0, 28.0], "descending order");
    assert!(page.last_sk.is_some(), "a cut page says where to continue");
    let q = Query {
        range: SkRange::BeginsWith("2024-01-01T1".into()),
        ..Query::all("p2")
    };
    assert_eq!(store.query(t, &q).await.expect("prefix").items.len(), 10);
    let q = Query {
        range: SkRange::From("2024-01-01T28".into()),
        ..Query::all("p2")
    };
    assert_eq!(store.query(t, &q).await.expect("from").items.len(), 2);
    assert!(store
        .query(t, &Query::all("nobody"))
        .await
        .expect("empty")
        .items
        .is_empty());

    // Transactions: all or nothing.
    let ok = vec![
        TxOp::Put {
            table: *t,
            item: item("p3", "x", 1.0),
            condition: Condition::NotExists,
        },
        TxOp::Put {
            table: *t,
            item: item("p1", "a", 9.0),
            condition: Condition::Equals("n".into(), Attr::N(4.0)),
        },
    ];
    store.transact(ok).await.expect("transaction");
    let failing = vec![
        TxOp::Put {
            table: *t,
            item: item("p3", "y", 1.0),
            condition: Condition::NotExists,
        },
        TxOp::Check {
            table: *t,
            pk: "p1".into(),
            sk: "a".into(),
            condition: Condition::Equals("n".into(), Attr::N(4.0)),
        },
    ];
    let err = store
        .transact(failing)
        .await
        .expect_err("a failing transaction fails");
    assert!(
        matches!(err, TableError::ConditionFailed { .. }),
        "failed check: {err}"
    );
    assert_eq!(
        store.get(t, "p3", "y").await.expect("get"),
        None,
        "a failed transaction writes nothing"
    );
    assert_eq!(
        store
            .get(t, "p1", "a")
            .await
            .expect("get")
            .map(|i| i["n"].clone()),
        Some(Attr::N(9.0))
    );

    store
        .delete(t, "p3", "x", Condition::Exists)
        .await
        .expect("delete");
    assert_eq!(store.get(t, "p3", "x").await.expect("get"), None);
    assert!(
        store.delete(t, "p3", "x", Condition::Exists).await.is_err(),
        "conditional delete of missing item"
    );
    store
        .delete(t, "p3", "x", Condition::Always)
        .await
        .expect("unconditional delete of missing item");

    // Hash-key-only tables.
    let h = &SCRATCH_HASH_ONLY;
    let mut hi = Item::new();
    hi.insert("pk".into(), Attr::S("G#eu".into()));
    hi.insert("v".into(), Attr::N(-0.125));
    store
        .put(h, hi.clone(), Condition::Always)
        .await
        .expect("put hash-only");
    assert_eq!(
        store.get(h, "G#eu", "").await.expect("get hash-only"),
        Some(hi.clone())
    );
    let mut bad = Item::new();
    bad.insert("pk".into(), Attr::N(1.0));
    assert!(
        store.put(h, bad, Condition::Always).await.is_err(),
        "non-string key refused"
    );
    let mut nan = item("p9", "a", 0.0);
    nan.insert("n".into(), Attr::N(f64::NAN));
    assert!(
        store.put(t, nan, Condition::Always).await.is_err(),
        "NaN refused"
    );

    for (pk, sk) in [("p1", "a"), ("p1", "b"), ("p1", "zz"), ("p3", "x")] {
        store
            .delete(t, pk, sk, Condition::Always)
            .await
            .expect("cleanup");
    }

    // Batch reads: more distinct keys than one DynamoDB batch (100), in the order asked,
    // with repeated and missing keys.
    let sk = |i: i32| format!("2024-01-01T{i:02}:00:00Z");
    let mut keys: Vec<(String, String)> = Vec::new();
    for round in 0..5 {
        // Existing keys come in every chunk: the last ones after 124 distinct keys.
        for m in 0..25 {
            keys.push(("p2".to_string(), format!("missing-{round}-{m}")));
        }
        for i in (round * 6..round * 6 + 6).rev() {
            keys.push(("p2".to_string(), sk(i)));
        }
        keys.push(("p2".to_string(), sk(0)));
    }
    keys.push(("nobody".to_string(), sk(0)));
    let got = store.batch_get(t, &keys).await.expect("batch get");
    assert_eq!(got.len(), keys.len(), "one answer per key");
    for ((pk, k), answer) in keys.iter().zip(&got) {
        let want = (pk == "p2")
            .then(|| many.iter().find(|i| i["sk"].as_s() == Some(k.as_str())))
            .flatten();
        assert_eq!(answer.as_ref(), want, "batch get of ({pk}, {k})");
    }
    assert!(
        store
            .batch_get(t, &[])
            .await
            .expect("empty batch get")
            .is_empty(),
        "no keys, no answers"
    );
    assert_eq!(
        store
            .batch_get(h, &[("G#eu".into(), "ignored".into())])
            .await
            .expect("batch get on a hash-only table"),
        vec![Some(hi.clone())],
        "a hash-only table ignores the range key of a batch get"
    );

    // Batch deletes: more keys than one DynamoDB batch (25), a repeated key, a missing key.
    let mut keys: Vec<(String, String)> = (0..27).map(|i| ("p2".to_string(), sk(i))).collect();
    keys.push(("p2".into(), sk(0)));
    keys.push(("p2".into(), "missing".into()));
    store.batch_delete(t, keys).await.expect("batch delete");
    let left: Vec<f64> = query_all(store, t, &Query::all("p2"))
        .await
        .expect("query after batch delete")
        .iter()
        .filter_map(|i| i["n"].as_n())
        .collect();
    assert_eq!(
        left,
        vec![27.0, 28.0, 29.0],
        "exactly the listed keys are gone"
    );
    store
        .batch_delete(t, Vec::new())
        .await
        .expect("empty batch delete");
    store
        .batch_delete(t, (27..30).map(|i| ("p2".to_string(), sk(i))).collect())
        .await
        .expect("batch delete the rest");
    assert!(store
        .query(t, &Query::all("p2"))
        .await
        .expect("query")
        .items
        .is_empty());
    store
        .batch_delete(h, vec![("G#eu".into(), "ignored".into())])
        .await
        .expect("batch delete on a hash-only table");
    assert_eq!(
        store.get(h, "G#eu", "").await.expect("get"),
        None,
        "a hash-only table ignores the range key of a batch delete"
    );
}

#[cfg(test)]
mod tests {
    use super::super::{fs::LocalBlobStore, memory, sqlite::SqliteTableStore};

    #[tokio::test]
    async fn memory_blobs() {
        super::blob_store(&memory::MemoryBlobStore::default()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_folder_blobs() {
        let dir = tempfile::tempdir().unwrap();
        super::blob_store(&LocalBlobStore::new(dir.path())).await;
    }

    #[tokio::test]
    async fn memory_tables() {
        super::table_store(&memory::MemoryTableStore::default()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_file_tables() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteTableStore::open(&dir.path().join(".gras/state.db")).unwrap();
        super::table_store(&store).await;
        // A second connection to the same file sees the same data and conditions.
        let other = SqliteTableStore::open(&dir.path().join(".gras/state.db")).unwrap();
        super::table_store(&other).await;
    }

    #[tokio::test]
    async fn sqlite_in_memory_tables_on_current_thread_runtime() {
        super::table_store(&SqliteTableStore::open_in_memory().unwrap()).await;
    }
}
