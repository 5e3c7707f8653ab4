//! The tables on DynamoDB: [`DynamoTableStore`], a [`TableStore`] over the official SDK,
//! with the item conversion (`Attr` <-> `AttributeValue`) inside the adapter.

use super::*;

/// DynamoDB tables.
#[derive(Debug, Clone)]
pub struct DynamoTableStore {
    client: aws_sdk_dynamodb::Client,
    prefix: String,
}

/// Formats a number for DynamoDB's `N` (decimal text, round-trips through `f64`).
pub fn format_n(n: f64) -> String {
    let a = n.abs();
    if a != 0.0 && !(1e-7..1e21).contains(&a) {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

/// Converts an attribute to DynamoDB's representation.
pub fn to_av(a: &Attr) -> AttributeValue {
    match a {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(format_n(*n)),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::Null => AttributeValue::Null(true),
        Attr::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()),
        Attr::L(l) => AttributeValue::L(l.iter().map(to_av).collect()),
    }
}

/// Converts DynamoDB's representation to an attribute (sets and binaries are not used by
/// gras and are refused).
pub fn from_av(a: &AttributeValue) -> Result<Attr, String> {
    Ok(match a {
        AttributeValue::S(s) => Attr::S(s.clone()),
        AttributeValue::N(n) => Attr::N(n.parse().map_err(|_| format!("bad number {n:?}"))?),
        AttributeValue::Bool(b) => Attr::Bool(*b),
        AttributeValue::Null(_) => Attr::Null,
        AttributeValue::M(m) => Attr::M(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), from_av(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        AttributeValue::L(l) => Attr::L(l.iter().map(from_av).collect::<Result<_, _>>()?),
        other => return Err(format!("unsupported attribute type {other:?}")),
    })
}

pub(super) fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()
}

pub(super) fn from_item(
    table: &'static str,
    item: &HashMap<String, AttributeValue>,
) -> Result<Item, TableError> {
    item.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                from_av(v).map_err(|reason| TableError::InvalidItem { table, reason })?,
            ))
        })
        .collect()
}

/// A condition expression with its placeholders.
#[derive(Default)]
pub(super) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        let p = format!("#n{}", self.names.len());
        self.names.insert(p.clone(), n.to_string());
        p
    }
    fn value(&mut self, v: &Attr) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), to_av(v));
        p
    }
    /// `None` for a condition that always holds.
    fn condition(&mut self, table: &TableSpec, c: &Condition) -> Option<String> {
        Some(match c {
            Condition::Always => return None,
            Condition::NotExists => format!("attribute_not_exists({})", self.name(table.pk)),
            Condition::Exists => format!("attribute_exists({})", self.name(table.pk)),
            Condition::Equals(n, v) => format!("{} = {}", self.name(n), self.value(v)),
            Condition::LessThan(n, v) => format!("{} < {}", self.name(n), self.value(v)),
            Condition::AtMost(n, v) => format!("{} <= {}", self.name(n), self.value(v)),
            Condition::Or(cs) => {
                let mut parts = Vec::new();
                for c in cs {
                    // One alternative that always holds makes the whole condition hold.
                    parts.push(self.condition(table, c)?);
                }
                if parts.is_empty() {
                    // An empty disjunction never holds.
                    let pk = self.name(table.pk);
                    return Some(format!(
                        "(attribute_exists({pk}) AND attribute_not_exists({pk}))"
                    ));
                }
                format!("({})", parts.join(" OR "))
            }
        })
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Sends a batch request until nothing is left unprocessed, as DynamoDB's batch operations
/// need: `send` returns what a response gave and the unprocessed rest (`None` when there is
/// none). A retryable error sends the same request again and an unprocessed rest is sent
/// next, each after an exponential backoff (25 ms doubling, at most 5 s), up to 10 retries;
/// a rest still unprocessed after those is a retryable error (`unprocessed` describes it).
/// Returns what every response gave, in order.
pub(super) async fn send_until_processed<R, T, Fut>(
    table: &TableSpec,
    request: R,
    mut send: impl FnMut(R) -> Fut,
    unprocessed: impl Fn(&R) -> String,
) -> Result<Vec<T>, TableError>
where
    R: Clone,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<R>), TableError>>,
{
    let mut pending = request;
    let mut out = Vec::new();
    let mut delay = Duration::from_millis(25);
    for attempt in 0.. {
        match send(pending.clone()).await {
            Ok((got, rest)) => {
                out.extend(got);
                let Some(rest) = rest else { break };
                if attempt >= 10 {
                    return Err(TableError::Backend {
                        table: table.name,
                        retryable: true,
                        source: format!("{} after retries", unprocessed(&rest)).into(),
                    });
                }
                pending = rest;
            }
            Err(err) if err.is_retryable() && attempt < 10 => {}
            Err(err) => return Err(err),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Ok(out)
}

/// BatchGetItem requests of one `batch_get` in flight at once.
pub const GET_BATCH_CONCURRENCY: usize = 4;

impl DynamoTableStore {
    /// A store whose table names are `prefix + name`.
    pub fn new(client: aws_sdk_dynamodb::Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    /// The physical table name of a table.
    pub fn table_name(&self, t: &TableSpec) -> String {
        format!("{}{}", self.prefix, t.name)
    }

    /// Sends write requests with BatchWriteItem in chunks of 25, each until processed
    /// ([`send_until_processed`]).
    async fn write_batches(
        &self,
        table: &TableSpec,
        requests: Vec<WriteRequest>,
    ) -> Result<(), TableError> {
        let name = &self.table_name(table);
        for chunk in requests.chunks(25) {
            send_until_processed(
                table,
                chunk.to_vec(),
                |pending: Vec<WriteRequest>| async move {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(name, pending)
                        .send()
                        .await
                        .map_err(|e| Self::err(table.name, e))?;
                    let rest = out
                        .unprocessed_items()
                        .and_then(|m| m.get(name))
                        .filter(|r| !r.is_empty())
                        .cloned();
                    Ok((Vec::<()>::new(), rest))
                },
                |rest| format!("{} items still unprocessed", rest.len()),
            )
            .await?;
        }
        Ok(())
    }

    /// Reads one BatchGetItem's worth of distinct keys (at most 100), strongly consistent,
    /// until processed ([`send_until_processed`]); returns the items found.
    async fn get_batch(
        &self,
        table: &TableSpec,
        keys: &[(String, String)],
    ) -> Result<Vec<Item>, TableError> {
        let name = &self.table_name(table);
        let request = KeysAndAttributes::builder()
            .set_keys(Some(
                keys.iter()
                    .map(|(pk, sk)| Self::key(table, pk, sk))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(build_error(table))?;
        send_until_processed(
            table,
            request,
            |pending: KeysAndAttributes| async move {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(name, pending)
                    .send()
                    .await
                    .map_err(|e| Self::err(table.name, e))?;
                let found = out
                    .responses()
                    .and_then(|r| r.get(name))
                    .into_iter()
                    .flatten()
                    .map(|raw| from_item(table.name, raw))
                    .collect::<Result<Vec<Item>, TableError>>()?;
                let rest = out
                    .unprocessed_keys()
                    .and_then(|m| m.get(name))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                Ok((found, rest))
            },
            |_| "keys still unprocessed".to_string(),
        )
        .await
    }

    fn key(t: &TableSpec, pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        let mut k = HashMap::new();
        k.insert(t.pk.to_string(), AttributeValue::S(pk.to_string()));
        if let Some(s) = t.sk {
            k.insert(s.to_string(), AttributeValue::S(sk.to_string()));
        }
        k
    }

    fn err<E: ProvideErrorMetadata + std::error::Error + 'static>(
        table: &'static str,
        e: SdkError<E>,
    ) -> TableError {
        if e.code() == Some("ConditionalCheckFailedException") {
            return TableError::ConditionFailed { table };
        }
        TableError::Backend {
            table,
            retryable: retryable(&e),
            source: describe(&e).into(),
        }
    }
}

/// Maps a request builder's error (a required field missing) to an invalid item of `table`.
pub(super) fn build_error(
    table: &TableSpec,
) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> TableError {
    let table = table.name;
    move |e| TableError::InvalidItem {
        table,
        reason: e.to_string(),
    }
}

#[async_trait]
impl TableStore for DynamoTableStore {
    async fn get(&self, table: &TableSpec, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table_name(table))
            .set_key(Some(Self::key(table, pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::err(table.name, e))?;
        out.item().map(|i| from_item(table.name, i)).transpose()
    }

    async fn put(
        &self,
        table: &TableSpec,
        item: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        validate_item(table, &item)?;
        let mut expr = Expr::default();
        let cond = expr.condition(table, &condition);
        self.client
            .put_item()
            .table_name(self.table_name(table))
            .set_item(Some(to_item(&item)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(|e| Self::err(table.name, e))?;
        Ok(())
    }

    async fn delete(
        &self,
        table: &TableSpec,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<(), TableError> {
        let mut expr = Expr::default();
        let cond = expr.condition(table, &condition);
        self.client
            .delete_item()
            .table_name(self.table_name(table))
            .set_key(Some(Self::key(table, pk, sk)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(|e| Self::err(table.name, e))?;
        Ok(())
    }

    /// BatchGetItem over the distinct keys in chunks of 100, [`GET_BATCH_CONCURRENCY`] chunks
    /// at a time, each retried like `batch_put`; the answers are put back in the order asked.
    async fn batch_get(
        &self,
        table: &TableSpec,
        keys: &[(String, String)],
    ) -> Result<Vec<Option<Item>>, TableError> {
        // A batch may not hold one key twice.
        let mut distinct: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (pk, sk) in keys {
            let k = (pk.clone(), table.stored_sk(sk).to_string());
            if seen.insert(k.clone()) {
                distinct.push(k);
            }
        }
        // A plain loop builds the futures: a closure over the borrowed chunks would not be
        // general enough for the `Send` bound of the trait's future.
        let mut gets = Vec::new();
        for chunk in distinct.chunks(100) {
            gets.push(self.get_batch(table, chunk));
        }
        let batches: Vec<Vec<Item>> = stream::iter(gets)
            .buffer_unordered(GET_BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        let mut by_key: HashMap<(String, String), Item> = HashMap::new();
        for item in batches.into_iter().flatten() {
            by_key.insert(table.key_of(&item)?, item);
        }
        Ok(keys
            .iter()
            .map(|(pk, sk)| {
                by_key
                    .get(&(pk.clone(), table.stored_sk(sk).to_string()))
                    .cloned()
            })
            .collect())
    }

    /// BatchWriteItem in chunks of 25, retrying unprocessed items with exponential backoff
    /// (up to 10 attempts per chunk).
    async fn batch_put(&self, table: &TableSpec, items: Vec<Item>) -> Result<(), TableError> {
        // A batch may not hold one key twice: keep the last write of each key.
        let mut by_key: Vec<((String, String), Item)> = Vec::with_capacity(items.len());
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for item in items {
            let k = validate_item(table, &item)?;
            match seen.get(&k) {
                Some(&i) => by_key[i].1 = item,
                None => {
                    seen.insert(k.clone(), by_key.len());
                    by_key.push((k, item));
                }
            }
        }
        let requests = by_key
            .iter()
            .map(|(_, item)| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(item)))
                    .build()
                    .map_err(build_error(table))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        self.write_batches(table, requests).await
    }

    /// BatchWriteItem delete requests in chunks of 25, retried like `batch_put`.
    async fn batch_delete(
        &self,
        table: &TableSpec,
        keys: Vec<(String, String)>,
    ) -> Result<(), TableError> {
        // A batch may not hold one key twice.
        let mut seen = std::collections::HashSet::new();
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| (pk, table.stored_sk(&sk).to_string()))
            .filter(|k| seen.insert(k.clone()))
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(Self::key(table, &pk, &sk)))
                    .build()
                    .map_err(build_error(table))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        self.write_batches(table, requests).await
    }

    async fn query(&self, table: &TableSpec, q: &Query) -> Result<Page, TableError> {
        let mut expr = Expr::default();
        let pk_name = expr.name(table.pk);
        let pk_value = expr.value(&Attr::S(q.pk.clone()));
        let mut key_cond = format!("{pk_name} = {pk_value}");
        if let Some(sk) = table.sk {
            match &q.range {
                SkRange::All => {}
                SkRange::Between(a, b) => {
                    let n = expr.name(sk);
                    let (a, b) = (
                        expr.value(&Attr::S(a.clone())),
                        expr.value(&Attr::S(b.clone())),
                    );
                    key_cond.push_str(&format!(" AND {n} BETWEEN {a} AND {b}"));
                }
                SkRange::BeginsWith(p) => {
                    let n = expr.name(sk);
                    let p = expr.value(&Attr::S(p.clone()));
                    key_cond.push_str(&format!(" AND begins_with({n}, {p})"));
                }
                SkRange::From(a) => {
                    let n = expr.name(sk);
                    let a = expr.value(&Attr::S(a.clone()));
                    key_cond.push_str(&format!(" AND {n} >= {a}"));
                }
            }
        }
        let start = q.start_after.as_ref().map(|sk| Self::key(table, &q.pk, sk));
        let out = self
            .client
            .query()
            .table_name(self.table_name(table))
            .key_condition_expression(key_cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(q.forward)
            .consistent_read(true)
            .set_limit(q.limit.map(|l| l.clamp(1, i32::MAX as usize) as i32))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Self::err(table.name, e))?;
        let items = out
            .items()
            .iter()
            .map(|i| from_item(table.name, i))
            .collect::<Result<Vec<_>, _>>()?;
        let last_sk = out
            .last_evaluated_key()
            .and_then(|k| table.sk.and_then(|s| k.get(s)))
            .and_then(|v| v.as_s().ok().cloned());
        Ok(Page { items, last_sk })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        let mut items = Vec::with_capacity(ops.len());
        let mut first_table = "transaction";
        for (i, op) in ops.iter().enumerate() {
            let mut expr = Expr::default();
            let built = match op {
                TxOp::Put {
                    table,
                    item,
                    condition,
                } => {
                    validate_item(table, item)?;
                    if i == 0 {
                        first_table = table.name;
                    }
                    let cond = expr.condition(table, condition);
                    let put = Put::builder()
                        .table_name(self.table_name(table))
                        .set_item(Some(to_item(item)))
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error(table))?;
                    TransactWriteItem::builder().put(put).build()
                }
                TxOp::Check {
                    table,
                    pk,
                    sk,
                    condition,
                } => {
                    // A condition check needs an expression even when it always holds.
                    let cond = expr.condition(table, condition).unwrap_or_else(|| {
                        let pk = expr.name(table.pk);
                        format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
                    });
                    let check = ConditionCheck::builder()
                        .table_name(self.table_name(table))
                        .set_key(Some(Self::key(table, pk, sk)))
                        .condition_expression(cond)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error(table))?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            items.push(built);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let failed_check = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed")))
                        }
                        _ => None,
                    })
                    .unwrap_or(false)
                    || e.to_string().contains("ConditionalCheckFailed");
                if failed_check {
                    Err(TableError::ConditionFailed { table: first_table })
                } else {
                    Err(Self::err(first_table, e))
                }
            }
        }
    }
}
