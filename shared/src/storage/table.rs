//! The table store port: DynamoDB-shaped tables of items keyed by a hash key and an optional
//! string range key.
//!
//! Items are maps of typed attributes ([`Attr`]) mirroring DynamoDB's S, N, BOOL, NULL, M, L.
//! Domain modules convert their records to and from [`Item`]s; the AWS adapter converts
//! [`Attr`] to and from DynamoDB's `AttributeValue`.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    /// String.
    S(String),
    /// Number (finite).
    N(f64),
    /// Boolean.
    Bool(bool),
    /// Null.
    Null,
    /// Map.
    M(BTreeMap<String, Attr>),
    /// List.
    L(Vec<Attr>),
}

impl Attr {
    /// The string, if this is an `S`.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }
    /// The number, if this is an `N`.
    pub fn as_n(&self) -> Option<f64> {
        match self {
            Attr::N(n) => Some(*n),
            _ => None,
        }
    }
    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The map, if this is an `M`.
    pub fn as_m(&self) -> Option<&BTreeMap<String, Attr>> {
        match self {
            Attr::M(m) => Some(m),
            _ => None,
        }
    }
    /// The list, if this is an `L`.
    pub fn as_l(&self) -> Option<&[Attr]> {
        match self {
            Attr::L(l) => Some(l),
            _ => None,
        }
    }
    /// `N` for a finite number, `Null` for `None` (DynamoDB cannot store NaN or infinities).
    pub fn opt_n(v: Option<f64>) -> Attr {
        match v {
            Some(v) if v.is_finite() => Attr::N(v),
            _ => Attr::Null,
        }
    }
}

/// An item: attribute name to value.
pub type Item = BTreeMap<String, Attr>;

/// A table's name and key schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name (without any deployment prefix; adapters may map it).
    pub name: &'static str,
    /// Hash key attribute (type S).
    pub pk: &'static str,
    /// Range key attribute (type S), if any.
    pub sk: Option<&'static str>,
}

impl TableSpec {
    /// The range key an item addressed with `sk` is stored under: `sk` itself, or `""` for a
    /// table without a range key (which ignores it).
    pub fn stored_sk<'a>(&self, sk: &'a str) -> &'a str {
        if self.sk.is_some() {
            sk
        } else {
            ""
        }
    }

    /// Extracts `(pk, sk)` from an item; `sk` is `""` for tables without a range key.
    pub fn key_of(&self, item: &Item) -> Result<(String, String), TableError> {
        let get = |name: &str| {
            item.get(name)
                .and_then(Attr::as_s)
                .map(str::to_string)
                .ok_or_else(|| TableError::InvalidItem {
                    table: self.name,
                    reason: format!("key attribute {name:?} missing or not a string"),
                })
        };
        let pk = get(self.pk)?;
        let sk = match self.sk {
            Some(sk) => get(sk)?,
            None => String::new(),
        };
        if pk.is_empty() {
            return Err(TableError::InvalidItem {
                table: self.name,
                reason: "empty hash key".into(),
            });
        }
        Ok((pk, sk))
    }
}

/// A condition on the current item, checked atomically with a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No condition.
    Always,
    /// No item exists under the key.
    NotExists,
    /// An item exists under the key.
    Exists,
    /// The item exists and the attribute equals the value.
    Equals(String, Attr),
    /// The item exists and the attribute is below the value (numbers with numbers,
    /// strings with strings by UTF-8 bytes).
    LessThan(String, Attr),
    /// The item exists and the attribute is at most the value (same typing as `LessThan`).
    AtMost(String, Attr),
    /// Any of the conditions holds.
    Or(Vec<Condition>),
}

impl Condition {
    /// Evaluates the condition against the current item (`None`: no item).
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::Equals(name, v) => current.and_then(|i| i.get(name)) == Some(v),
            Condition::LessThan(name, v) => compare(current.and_then(|i| i.get(name)), v)
                .is_some_and(|o| o == std::cmp::Ordering::Less),
            Condition::AtMost(name, v) => compare(current.and_then(|i| i.get(name)), v)
                .is_some_and(|o| o != std::cmp::Ordering::Greater),
            Condition::Or(cs) => cs.iter().any(|c| c.holds(current)),
        }
    }
}

fn compare(a: Option<&Attr>, b: &Attr) -> Option<std::cmp::Ordering> {
    match (a?, b) {
        (Attr::N(x), Attr::N(y)) => x.partial_cmp(y),
        (Attr::S(x), Attr::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Which range keys a query selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    /// Every item of the hash key.
    All,
    /// Range keys from `.0` to `.1`, both included.
    Between(String, String),
    /// Range keys starting with the prefix.
    BeginsWith(String),
    /// Range keys at or after the value.
    From(String),
}

impl SkRange {
    /// True when `sk` is selected.
    pub fn contains(&self, sk: &str) -> bool {
        match self {
            SkRange::All => true,
            SkRange::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            SkRange::BeginsWith(p) => sk.starts_with(p.as_str()),
            SkRange::From(a) => a.as_str() <= sk,
        }
    }
}

/// A query: the items of one hash key, ordered by range key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The hash key.
    pub pk: String,
    /// The range key condition.
    pub range: SkRange,
    /// Ascending (`true`) or descending range key order.
    pub forward: bool,
    /// At most this many items in the page.
    pub limit: Option<usize>,
    /// Continue after this range key (from [`Page::last_sk`]).
    pub start_after: Option<String>,
}

impl Query {
    /// All items of a hash key, ascending.
    pub fn all(pk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            range: SkRange::All,
            forward: true,
            limit: None,
            start_after: None,
        }
    }
    /// Items of a hash key whose range key is within `[from, to]`, ascending.
    pub fn between(pk: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            range: SkRange::Between(from.into(), to.into()),
            ..Self::all(pk)
        }
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The items, in range key order.
    pub items: Vec<Item>,
    /// Set when more items may follow: pass it as [`Query::start_after`].
    pub last_sk: Option<String>,
}

/// One operation of an all-or-nothing transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    /// Write an item if the condition holds.
    Put {
        /// The table.
        table: TableSpec,
        /// The whole new item.
        item: Item,
        /// Condition on the current item.
        condition: Condition,
    },
    /// Require the condition on an item without writing it.
    Check {
        /// The table.
        table: TableSpec,
        /// Hash key.
        pk: String,
        /// Range key (`""` without one).
        sk: String,
        /// The condition.
        condition: Condition,
    },
}

/// Errors of a table store.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A conditional write's condition did not hold (for a transaction: any of them).
    #[error("condition failed on table {table}")]
    ConditionFailed {
        /// The table.
        table: &'static str,
    },
    /// The item lacks its key attributes or holds a value the store cannot keep.
    #[error("invalid item for table {table}: {reason}")]
    InvalidItem {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A backend failure, classified as retryable (throttling, 5xx, timeouts,
    /// a busy local database) or not.
    #[error("table backend error on {table} ({}): {source}", if *retryable { "retryable" } else { "permanent" })]
    Backend {
        /// The table.
        table: &'static str,
        /// Whether trying again later may succeed.
        retryable: bool,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TableError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TableError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// DynamoDB-shaped tables.
///
/// Contract for implementors: single-item writes and transactions are atomic with their
/// conditions; `batch_get` answers every key or fails; `batch_put` writes every item and
/// `batch_delete` removes every key (retrying unprocessed ones) or fails, neither atomic as
/// a whole;
/// `query` returns range keys in byte order of their UTF-8 encoding.
#[async_trait]
pub trait TableStore: Send + Sync + Debug {
    /// Reads one item.
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError>;
    /// Writes one whole item if the condition holds on the current one.
    async fn put(
        &self,
        table: &TableSpec,
        item: Item,
        condition: Condition,
    ) -> Result<(), TableError>;
    /// Deletes one item if the condition holds (a missing item with `Always` is fine).
    async fn delete(
        &self,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<(), TableError>;
    /// Reads many `(pk, sk)` keys, each as [`get`](Self::get) does (strongly consistent):
    /// one entry per key in the order given, `None` where there is no item; repeated keys
    /// are fine, and tables without a range key ignore `sk` (as `batch_delete` does). Not a
    /// snapshot: each item is as of some moment during the call. The default reads the keys
    /// one by one; remote stores override it with batched reads.
    async fn batch_get(
        &self,
        table: &TableSpec,
        keys: &[(String, String)],
    ) -> Result<Vec<Option<Item>>, TableError> {
        let mut out = Vec::with_capacity(keys.len());
        for (pk, sk) in keys {
            out.push(self.get(table, pk, table.stored_sk(sk)).await?);
        }
        Ok(out)
    }
    /// Writes many items without conditions.
    async fn batch_put(&self, table: &TableSpec, items: Vec<Item>) -> Result<(), TableError>;
    /// Deletes many `(pk, sk)` keys without conditions (`sk` is ignored by tables without a
    /// range key); missing items and repeated keys are fine.
    async fn batch_delete(
        &self,
        table: &TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), TableError>;
    /// Queries one hash key.
    async fn query(&self, table: &TableSpec, query: &Query) -> Result<Page, TableError>;
    /// Applies all operations or none.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError>;
}

/// Reads every page of a query.
pub async fn query_all(
    store: &dyn TableStore,
    table: &TableSpec,
    query: &Query,
) -> Result<Vec<Item>, TableError> {
    let mut q = query.clone();
    let mut out = Vec::new();
    loop {
        let page = store.query(table, &q).await?;
        out.extend(page.items);
        match page.last_sk {
            Some(sk) => q.start_after = Some(sk),
            None => return Ok(out),
        }
    }
}

/// Checks an item can be stored (finite numbers only), shared by all adapters.
pub fn validate_item(table: &TableSpec, item: &Item) -> Result<(String, String), TableError> {
    fn finite(a: &Attr) -> bool {
        match a {
            Attr::N(n) => n.is_finite(),
            Attr::M(m) => m.values().all(finite),
            Attr::L(l) => l.iter().all(finite),
            _ => true,
        }
    }
    if !item.values().all(finite) {
        return Err(TableError::InvalidItem {
            table: table.name,
            reason: "non-finite number".into(),
        });
    }
    table.key_of(item)
}

/// A synchronous ordered key-value view used to implement [`TableStore`] once for the
/// in-memory and SQLite adapters. Keys are `(table, pk, sk)`.
pub(crate) trait KvCore {
    type Err;
    fn kv_get(&mut self, table: &str, pk: &str, sk: &str) -> Result<Option<Item>, Self::Err>;
    fn kv_put(&mut self, table: &str, pk: &str, sk: &str, item: &Item) -> Result<(), Self::Err>;
    fn kv_delete(&mut self, table: &str, pk: &str, sk: &str) -> Result<(), Self::Err>;
    /// Items of `(table, pk)` in range key order (descending when `!forward`).
    fn kv_scan(
        &mut self,
        table: &str,
        pk: &str,
        forward: bool,
    ) -> Result<Vec<(String, Item)>, Self::Err>;
}

/// Shared semantics of the synchronous adapters, over a [`KvCore`] inside one transaction.
pub(crate) mod kv {
    use super::*;

    pub fn put<K: KvCore>(
        kv: &mut K,
        table: &TableSpec,
        item: &Item,
        condition: &Condition,
        map: impl Fn(K::Err) -> TableError,
    ) -> Result<(), TableError> {
        let (pk, sk) = validate_item(table, item)?;
        let current = kv.kv_get(table.name, &pk, &sk).map_err(&map)?;
        if !condition.holds(current.as_ref()) {
            return Err(TableError::ConditionFailed { table: table.name });
        }
        kv.kv_put(table.name, &pk, &sk, item).map_err(map)
    }

    pub fn delete<K: KvCore>(
        kv: &mut K,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: &Condition,
        map: impl Fn(K::Err) -> TableError,
    ) -> Result<(), TableError> {
        let sk = table.stored_sk(sk);
        let current = kv.kv_get(table.name, pk, sk).map_err(&map)?;
        if !condition.holds(current.as_ref()) {
            return Err(TableError::ConditionFailed { table: table.name });
        }
        kv.kv_delete(table.name, pk, sk).map_err(map)
    }

    pub fn query<K: KvCore>(
        kv: &mut K,
        table: &TableSpec,
        q: &Query,
        map: impl Fn(K::Err) -> TableError,
    ) -> Result<Page, TableError> {
        let rows = kv.kv_scan(table.name, &q.pk, q.forward).map_err(map)?;
        let limit = q.limit.unwrap_or(usize::MAX).max(1);
        let mut items = Vec::new();
        let mut last_sk = None;
        for (sk, item) in rows {
            if let Some(after) = &q.start_after {
                let past = if q.forward {
                    sk.as_str() > after.as_str()
                } else {
                    sk.as_str() < after.as_str()
                };
                if !past {
                    continue;
                }
            }
            if !q.range.contains(&sk) {
                continue;
            }
            if items.len() == limit {
                break;
            }
            if items.len() + 1 == limit {
                last_sk = Some(sk.clone());
            }
            items.push(item);
        }
        // `last_sk` is only meaningful when the page was cut by the limit and more may follow.
        if items.len() < limit {
            last_sk = None;
        }
        Ok(Page { items, last_sk })
    }

    pub fn transact<K: KvCore>(
        kv: &mut K,
        ops: &[TxOp],
        map: impl Fn(K::Err) -> TableError,
    ) -> Result<(), TableError> {
        for op in ops {
            let (table, pk, sk, cond) = match op {
                TxOp::Put {
                    table,
                    item,
                    condition,
                } => {
                    let (pk, sk) = validate_item(table, item)?;
                    (table, pk, sk, condition)
                }
                TxOp::Check {
                    table,
                    pk,
                    sk,
                    condition,
                } => (table, pk.clone(), sk.clone(), condition),
            };
            let current = kv.kv_get(table.name, &pk, &sk).map_err(&map)?;
            if !cond.holds(current.as_ref()) {
                return Err(TableError::ConditionFailed { table: table.name });
            }
        }
        for op in ops {
            if let TxOp::Put { table, item, .. } = op {
                let (pk, sk) = table.key_of(item)?;
                kv.kv_put(table.name, &pk, &sk, item).map_err(&map)?;
            }
        }
        Ok(())
    }
}
