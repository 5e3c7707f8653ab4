//! In-memory adapters: a map for blobs and a map for tables. For tests and benchmarks.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::blob::{validate_key, BlobError, BlobStore, ObjectMeta};
use super::table::{
    kv, Condition, Item, KvCore, Page, Query, TableError, TableSpec, TableStore, TxOp,
};

/// A bucket held in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    objects: Mutex<BTreeMap<String, Bytes>>,
}

impl MemoryBlobStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated: every critical
        // section is a single map operation.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        self.lock()
            .get(key)
            .cloned()
            .ok_or_else(|| BlobError::NotFound {
                key: key.to_string(),
            })
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), BlobError> {
        validate_key(key)?;
        self.lock().insert(key.to_string(), body);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.lock().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BlobError> {
        Ok(self
            .lock()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }
}

type Rows = BTreeMap<(String, String, String), Item>;

/// Tables held in memory.
#[derive(Debug, Default)]
pub struct MemoryTableStore {
    rows: Mutex<Rows>,
}

impl MemoryTableStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rows> {
        // Transactions check every condition before writing anything, so a poisoned lock
        // still guards a consistent map.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct MapKv<'a>(&'a mut Rows);

impl KvCore for MapKv<'_> {
    type Err = Infallible;
    fn kv_get(&mut self, t: &str, pk: &str, sk: &str) -> Result<Option<Item>, Infallible> {
        Ok(self
            .0
            .get(&(t.to_string(), pk.to_string(), sk.to_string()))
            .cloned())
    }
    fn kv_put(&mut self, t: &str, pk: &str, sk: &str, item: &Item) -> Result<(), Infallible> {
        self.0.insert(
            (t.to_string(), pk.to_string(), sk.to_string()),
            item.clone(),
        );
        Ok(())
    }
    fn kv_delete(&mut self, t: &str, pk: &str, sk: &str) -> Result<(), Infallible> {
        self.0
            .remove(&(t.to_string(), pk.to_string(), sk.to_string()));
        Ok(())
    }
    fn kv_scan(
        &mut self,
        t: &str,
        pk: &str,
        forward: bool,
    ) -> Result<Vec<(String, Item)>, Infallible> {
        let lo = (t.to_string(), pk.to_string(), String::new());
        let mut out: Vec<(String, Item)> = self
            .0
            .range(lo..)
            .take_while(|((tt, pp, _), _)| tt == t && pp == pk)
            .map(|((_, _, sk), item)| (sk.clone(), item.clone()))
            .collect();
        if !forward {
            out.reverse();
        }
        Ok(out)
    }
}

fn never(e: Infallible) -> TableError {
    match e {}
}

#[async_trait]
impl TableStore for MemoryTableStore {
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        MapKv(&mut self.lock())
            .kv_get(table.name, pk, sk)
            .map_err(never)
    }
    async fn put(
        &self,
        table: &TableSpec,
        item: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        kv::put(
            &mut MapKv(&mut self.lock()),
            table,
            &item,
            &condition,
            never,
        )
    }
    async fn delete(
        &self,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<(), TableError> {
        kv::delete(
            &mut MapKv(&mut self.lock()),
            table,
            pk,
            sk,
            &condition,
            never,
        )
    }
    async fn batch_put(&self, table: &TableSpec, items: Vec<Item>) -> Result<(), TableError> {
        let mut rows = self.lock();
        for item in &items {
            kv::put(
                &mut MapKv(&mut rows),
                table,
                item,
                &Condition::Always,
                never,
            )?;
        }
        Ok(())
    }
    async fn batch_delete(
        &self,
        table: &TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), TableError> {
        let mut rows = self.lock();
        for (pk, sk) in &keys {
            kv::delete(
                &mut MapKv(&mut rows),
                table,
                pk,
                sk,
                &Condition::Always,
                never,
            )?;
        }
        Ok(())
    }
    async fn query(&self, table: &TableSpec, query: &Query) -> Result<Page, TableError> {
        kv::query(&mut MapKv(&mut self.lock()), table, query, never)
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        kv::transact(&mut MapKv(&mut self.lock()), &ops, never)
    }
}
