//! The embedded table store: every table in one SQLite file (`<lake>/.gras/state.db`).
//!
//! Items are stored in the compact binary form of [`super::codec`] next to their
//! `(table, pk, sk)` key (JSON bodies of earlier versions are still read); SQLite's default BINARY
//! collation orders range keys by their UTF-8 bytes, as DynamoDB does. Writes run in
//! `IMMEDIATE` transactions, so conditional writes are atomic across processes too.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};

use super::codec::{self, CodecError};
use super::table::{
    kv, Condition, Item, KvCore, Page, Query, TableError, TableSpec, TableStore, TxOp,
};

/// SQLite-backed tables.
#[derive(Debug, Clone)]
pub struct SqliteTableStore {
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections for `get` and `query` (WAL lets them read while a write runs);
    /// empty for an in-memory database, which then reads through `conn`.
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
}

/// Read connections opened next to the writer (concurrent API requests read in parallel).
const READERS: usize = 4;

fn backend(table: &'static str, e: rusqlite::Error) -> TableError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    TableError::Backend {
        table,
        retryable,
        source: Box::new(e),
    }
}

/// The stored body's bytes, borrowed from SQLite's buffer: a BLOB (binary form) or, in a
/// database written by an earlier version, TEXT (JSON).
fn body_bytes<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<&'r [u8]> {
    row.get_ref(idx)?.as_bytes().map_err(Into::into)
}

/// A stored body that does not decode (not retryable).
fn corrupt(table: &'static str, e: CodecError) -> TableError {
    TableError::Backend {
        table,
        retryable: false,
        source: Box::new(e),
    }
}

#[derive(Debug)]
enum SqlErr {
    Sql(rusqlite::Error),
    Codec(CodecError),
}

fn map_err(table: &'static str) -> impl Fn(SqlErr) -> TableError {
    move |e| match e {
        SqlErr::Sql(e) => backend(table, e),
        SqlErr::Codec(e) => corrupt(table, e),
    }
}

impl SqliteTableStore {
    /// Opens (creating if needed) the database file and its parent folder.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TableError::Backend {
                table: "*",
                retryable: false,
                source: Box::new(e),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| backend("*", e))?;
        let mut store = Self::init(conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| backend("*", e))?;
            r.busy_timeout(Duration::from_secs(30))
                .map_err(|e| backend("*", e))?;
            // The query planner's stability guarantee: plans do not depend on the values
            // bound to the range parameters, so a cached statement is not re-prepared on every
            // step (which took 14% of a forecast request's CPU).
            r.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(|e| backend("*", e))?;
            readers.push(Mutex::new(r));
        }
        store.readers = Arc::new(readers);
        Ok(store)
    }

    /// A private in-memory database.
    pub fn open_in_memory() -> Result<Self, TableError> {
        Self::init(Connection::open_in_memory().map_err(|e| backend("*", e))?)
    }

    fn init(conn: Connection) -> Result<Self, TableError> {
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| backend("*", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS items (
                 tbl TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL, body TEXT NOT NULL,
                 PRIMARY KEY (tbl, pk, sk)
             ) WITHOUT ROWID;",
        )
        .map_err(|e| backend("*", e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Vec::new()),
            next_reader: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }

    /// Runs a read on a reader connection (round robin, preferring an idle one), or on the
    /// writer's connection for an in-memory database. Reads see the last committed state.
    /// An idle reader runs the read inline: a point read or a page costs tens of
    /// microseconds, less than handing the worker thread over (`block_in_place`), which is
    /// kept for when every reader is busy and the call would wait.
    async fn with_reader<T: Send + 'static>(
        &self,
        table: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        if self.readers.is_empty() {
            let conn = self.conn.clone();
            return block(move || {
                let guard = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&guard)
            });
        }
        let (readers, next) = (&self.readers, &self.next_reader);
        let start = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = readers.len();
        for i in 0..n {
            if let Ok(guard) = readers[(start + i) % n].try_lock() {
                return f(&guard);
            }
        }
        let _ = table;
        block(move || {
            let guard = readers[start % n].lock().unwrap_or_else(|e| e.into_inner());
            f(&guard)
        })
    }

    /// Runs `f` inside one IMMEDIATE transaction on a blocking thread.
    async fn with_tx<T: Send + 'static>(
        &self,
        table: &'static str,
        f: impl FnOnce(&mut TxKv<'_>) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let conn = self.conn.clone();
        let run = move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            let tx = guard
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend(table, e))?;
            let out = f(&mut TxKv(&tx))?;
            tx.commit().map_err(|e| backend(table, e))?;
            Ok(out)
        };
        block(run)
    }
}

/// Runs blocking SQLite work without stalling the async runtime's other tasks.
fn block<T>(run: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// A query run in SQL: the range key bounds, the continuation and the limit are pushed into
/// the statement, so a page costs what it returns, not the whole hash key.
fn read_query(conn: &Connection, table: &TableSpec, q: &Query) -> Result<Page, TableError> {
    use super::table::SkRange;
    let t = table.name;
    let (mut lo, mut hi): (Option<String>, Option<String>) = match &q.range {
        SkRange::All => (None, None),
        SkRange::Between(a, b) => (Some(a.clone()), Some(b.clone())),
        SkRange::BeginsWith(p) => (Some(p.clone()), Some(format!("{p}\u{10FFFF}"))),
        SkRange::From(a) => (Some(a.clone()), None),
    };
    // The continuation is exclusive; fold it into the bound on the scan's side.
    let (mut lo_excl, mut hi_excl) = (false, false);
    if let Some(after) = &q.start_after {
        if q.forward {
            if lo.as_ref().is_none_or(|l| after >= l) {
                lo = Some(after.clone());
                lo_excl = true;
            }
        } else if hi.as_ref().is_none_or(|h| after <= h) {
            hi = Some(after.clone());
            hi_excl = true;
        }
    }
    let limit = q.limit.unwrap_or(usize::MAX).max(1);
    let sql = format!(
        "SELECT sk, body FROM items WHERE tbl=?1 AND pk=?2 AND sk {} ?3 AND sk {} ?4 \
         ORDER BY sk {} LIMIT ?5",
        if lo_excl { ">" } else { ">=" },
        if hi_excl { "<" } else { "<=" },
        if q.forward { "ASC" } else { "DESC" },
    );
    let lo = lo.unwrap_or_default();
    // No upper bound: SQLite orders every BLOB after every TEXT.
    let hi_val = match hi {
        Some(h) => rusqlite::types::Value::Text(h),
        None => rusqlite::types::Value::Blob(Vec::new()),
    };
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| backend(t, e))?;
    let mut rows = stmt
        .query(params![t, q.pk, lo, hi_val, fetch])
        .map_err(|e| backend(t, e))?;
    let mut items = Vec::new();
    let mut last_sk = None;
    let mut more = false;
    while let Some(row) = rows.next().map_err(|e| backend(t, e))? {
        let sk: String = row.get(0).map_err(|e| backend(t, e))?;
        if !q.range.contains(&sk) {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        // Decoded straight from SQLite's buffer (no copy into a String first).
        let body = body_bytes(row, 1).map_err(|e| backend(t, e))?;
        items.push(codec::decode(body).map_err(|e| corrupt(t, e))?);
        last_sk = Some(sk);
    }
    Ok(Page {
        items,
        last_sk: if more { last_sk } else { None },
    })
}

/// The item under `(t, pk, sk)`, decoded straight from SQLite's buffer; for reads on a
/// reader connection and inside a write transaction alike.
fn read_item(conn: &Connection, t: &str, pk: &str, sk: &str) -> Result<Option<Item>, SqlErr> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM items WHERE tbl=?1 AND pk=?2 AND sk=?3")
        .map_err(SqlErr::Sql)?;
    let mut rows = stmt.query(params![t, pk, sk]).map_err(SqlErr::Sql)?;
    match rows.next().map_err(SqlErr::Sql)? {
        None => Ok(None),
        Some(row) => {
            let body = body_bytes(row, 0).map_err(SqlErr::Sql)?;
            codec::decode(body).map(Some).map_err(SqlErr::Codec)
        }
    }
}

struct TxKv<'a>(&'a rusqlite::Transaction<'a>);

impl KvCore for TxKv<'_> {
    type Err = SqlErr;
    fn kv_get(&mut self, t: &str, pk: &str, sk: &str) -> Result<Option<Item>, SqlErr> {
        read_item(self.0, t, pk, sk)
    }
    fn kv_put(&mut self, t: &str, pk: &str, sk: &str, item: &Item) -> Result<(), SqlErr> {
        let body = codec::encode(item);
        self.0
            .execute(
                "INSERT INTO items (tbl, pk, sk, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tbl, pk, sk) DO UPDATE SET body = excluded.body",
                params![t, pk, sk, body],
            )
            .map_err(SqlErr::Sql)?;
        Ok(())
    }
    fn kv_delete(&mut self, t: &str, pk: &str, sk: &str) -> Result<(), SqlErr> {
        self.0
            .execute(
                "DELETE FROM items WHERE tbl=?1 AND pk=?2 AND sk=?3",
                params![t, pk, sk],
            )
            .map_err(SqlErr::Sql)?;
        Ok(())
    }
    fn kv_scan(&mut self, t: &str, pk: &str, forward: bool) -> Result<Vec<(String, Item)>, SqlErr> {
        let sql = if forward {
            "SELECT sk, body FROM items WHERE tbl=?1 AND pk=?2 ORDER BY sk ASC"
        } else {
            "SELECT sk, body FROM items WHERE tbl=?1 AND pk=?2 ORDER BY sk DESC"
        };
        let mut stmt = self.0.prepare_cached(sql).map_err(SqlErr::Sql)?;
        let mut rows = stmt.query(params![t, pk]).map_err(SqlErr::Sql)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(SqlErr::Sql)? {
            let sk: String = row.get(0).map_err(SqlErr::Sql)?;
            let body = body_bytes(row, 1).map_err(SqlErr::Sql)?;
            out.push((sk, codec::decode(body).map_err(SqlErr::Codec)?));
        }
        Ok(out)
    }
}

#[async_trait]
impl TableStore for SqliteTableStore {
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let (t, pk, sk) = (table.name, pk.to_string(), sk.to_string());
        self.with_reader(t, move |conn| {
            read_item(conn, t, &pk, &sk).map_err(map_err(t))
        })
        .await
    }
    async fn put(
        &self,
        table: &TableSpec,
        item: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        let table = *table;
        self.with_tx(table.name, move |kv| {
            kv::put(kv, &table, &item, &condition, map_err(table.name))
        })
        .await
    }
    async fn delete(
        &self,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<(), TableError> {
        let (table, pk, sk) = (*table, pk.to_string(), sk.to_string());
        self.with_tx(table.name, move |kv| {
            kv::delete(kv, &table, &pk, &sk, &condition, map_err(table.name))
        })
        .await
    }
    async fn batch_put(&self, table: &TableSpec, items: Vec<Item>) -> Result<(), TableError> {
        let table = *table;
        self.with_tx(table.name, move |kv| {
            for item in &items {
                kv::put(kv, &table, item, &Condition::Always, map_err(table.name))?;
            }
            Ok(())
        })
        .await
    }
    async fn batch_delete(
        &self,
        table: &TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), TableError> {
        let table = *table;
        self.with_tx(table.name, move |kv| {
            for (pk, sk) in &keys {
                kv::delete(kv, &table, pk, sk, &Condition::Always, map_err(table.name))?;
            }
            Ok(())
        })
        .await
    }
    async fn query(&self, table: &TableSpec, query: &Query) -> Result<Page, TableError> {
        let (table, query) = (*table, query.clone());
        self.with_reader(table.name, move |conn| read_query(conn, &table, &query))
            .await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        self.with_tx("transaction", move |kv| {
            kv::transact(kv, &ops, map_err("transaction"))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::table::Attr;

    const T: TableSpec = TableSpec {
        name: "t",
        pk: "pk",
        sk: Some("sk"),
    };

    fn item(sk: &str, n: f64) -> Item {
        Item::from([
            ("pk".to_string(), Attr::S("p".into())),
            ("sk".to_string(), Attr::S(sk.into())),
            ("n".to_string(), Attr::N(n)),
        ])
    }

    #[tokio::test]
    async fn a_database_with_json_bodies_of_an_earlier_version_reads_and_updates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteTableStore::open(&path).unwrap();
        // Rows as an earlier version wrote them: JSON text.
        {
            let conn = store.conn.lock().unwrap();
            for (sk, n) in [("a", 1.0), ("b", 2.5)] {
                let body = serde_json::to_string(&item(sk, n)).unwrap();
                conn.execute(
                    "INSERT INTO items (tbl, pk, sk, body) VALUES ('t', 'p', ?1, ?2)",
                    params![sk, body],
                )
                .unwrap();
            }
        }
        assert_eq!(store.get(&T, "p", "a").await.unwrap(), Some(item("a", 1.0)));
        // An update stores the binary form; reads see old and new rows alike.
        store
            .put(
                &T,
                item("b", 3.0),
                Condition::Equals("n".into(), Attr::N(2.5)),
            )
            .await
            .unwrap();
        let page = store.query(&T, &Query::all("p")).await.unwrap();
        assert_eq!(page.items, vec![item("a", 1.0), item("b", 3.0)]);
        let kind: String = store
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT typeof(body) FROM items WHERE sk='b'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kind, "blob");
    }

    #[tokio::test]
    async fn a_corrupt_body_is_a_non_retryable_error_not_a_panic() {
        let store = SqliteTableStore::open_in_memory().unwrap();
        store
            .conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO items (tbl, pk, sk, body) VALUES ('t', 'p', 'a', x'B10101')",
                [],
            )
            .unwrap();
        for err in [
            store.get(&T, "p", "a").await.unwrap_err(),
            store.query(&T, &Query::all("p")).await.unwrap_err(),
        ] {
            assert!(
                matches!(
                    err,
                    TableError::Backend {
                        retryable: false,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
