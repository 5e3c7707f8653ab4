//! The embedded table store: every table in one SQLite file (`<lake>/.gras/state.db`).
//!
//! Items are stored as JSON next to their `(table, pk, sk)` key; SQLite's default BINARY
//! collation orders range keys by their UTF-8 bytes, as DynamoDB does. Writes run in
//! `IMMEDIATE` transactions, so conditional writes are atomic across processes too.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::table::{
    kv, Condition, Item, KvCore, Page, Query, TableError, TableSpec, TableStore, TxOp,
};

/// SQLite-backed tables.
#[derive(Debug, Clone)]
pub struct SqliteTableStore {
    conn: Arc<Mutex<Connection>>,
}

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

#[derive(Debug)]
enum SqlErr {
    Sql(rusqlite::Error),
    Json(serde_json::Error),
}

fn map_err(table: &'static str) -> impl Fn(SqlErr) -> TableError {
    move |e| match e {
        SqlErr::Sql(e) => backend(table, e),
        SqlErr::Json(e) => TableError::Backend {
            table,
            retryable: false,
            source: Box::new(e),
        },
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
        Self::init(conn)
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
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }
}

struct TxKv<'a>(&'a rusqlite::Transaction<'a>);

impl KvCore for TxKv<'_> {
    type Err = SqlErr;
    fn kv_get(&mut self, t: &str, pk: &str, sk: &str) -> Result<Option<Item>, SqlErr> {
        let body: Option<String> = self
            .0
            .query_row(
                "SELECT body FROM items WHERE tbl=?1 AND pk=?2 AND sk=?3",
                params![t, pk, sk],
                |r| r.get(0),
            )
            .optional()
            .map_err(SqlErr::Sql)?;
        body.map(|b| serde_json::from_str(&b).map_err(SqlErr::Json))
            .transpose()
    }
    fn kv_put(&mut self, t: &str, pk: &str, sk: &str, item: &Item) -> Result<(), SqlErr> {
        let body = serde_json::to_string(item).map_err(SqlErr::Json)?;
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
        let rows = stmt
            .query_map(params![t, pk], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(SqlErr::Sql)?;
        let mut out = Vec::new();
        for row in rows {
            let (sk, body) = row.map_err(SqlErr::Sql)?;
            out.push((sk, serde_json::from_str(&body).map_err(SqlErr::Json)?));
        }
        Ok(out)
    }
}

#[async_trait]
impl TableStore for SqliteTableStore {
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let (t, pk, sk) = (table.name, pk.to_string(), sk.to_string());
        self.with_tx(t, move |kv| kv.kv_get(t, &pk, &sk).map_err(map_err(t)))
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
    async fn query(&self, table: &TableSpec, query: &Query) -> Result<Page, TableError> {
        let (table, query) = (*table, query.clone());
        self.with_tx(table.name, move |kv| {
            kv::query(kv, &table, &query, map_err(table.name))
        })
        .await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        self.with_tx("transaction", move |kv| {
            kv::transact(kv, &ops, map_err("transaction"))
        })
        .await
    }
}
