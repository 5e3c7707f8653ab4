//! `idx#<M>` / `<YYYY-MM-DD>#<bronze key>`: the bronze index, which objects hold valid rows
//! of a metric on a UTC date.

use super::*;

/// Records that `key` holds `rows` valid rows of `metric` on `date`.
pub async fn put_index(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    key: &str,
    rows: u64,
) -> Result<(), TableError> {
    t.put(
        &STATE,
        index_item(metric, date, key, rows),
        Condition::Always,
    )
    .await
}

/// The `(pk, sk)` of the index entry of bronze object `key` on `date`.
pub(super) fn index_key(metric: &MetricId, date: NaiveDate, key: &str) -> (String, String) {
    (format!("idx#{metric}"), format!("{}#{key}", date_str(date)))
}

/// The item [`put_index`] writes (for writing many at once with `batch_put`).
pub fn index_item(metric: &MetricId, date: NaiveDate, key: &str, rows: u64) -> Item {
    let (pk, sk) = index_key(metric, date, key);
    let mut item = key_item(pk, sk);
    item.insert(A_ROWS.into(), Attr::N(rows as f64));
    item
}

/// Removes an index entry.
pub async fn delete_index(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    key: &str,
) -> Result<(), TableError> {
    let (pk, sk) = index_key(metric, date, key);
    t.delete(&STATE, &pk, &sk, Condition::Always).await
}

/// Removes many index entries `(date, key)` of `metric` with one batch delete.
pub async fn delete_index_many(
    t: &dyn TableStore,
    metric: &MetricId,
    entries: &[(NaiveDate, String)],
) -> Result<(), TableError> {
    let keys = entries
        .iter()
        .map(|(d, key)| index_key(metric, *d, key))
        .collect();
    t.batch_delete(&STATE, keys).await
}

/// The bronze objects holding rows of `metric` on dates in `[from, to]`, as `(date, key)`.
pub async fn query_index(
    t: &dyn TableStore,
    metric: &MetricId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, TableError> {
    // '$' sorts after '#', so "<to>$" bounds every "<to>#<key>".
    let q = Query::between(
        format!("idx#{metric}"),
        format!("{}#", date_str(from)),
        format!("{}$", date_str(to)),
    );
    let items = query_all(t, &STATE, &q).await?;
    Ok(items
        .iter()
        .filter_map(|i| parse_index_sk(i.get(SK)?.as_s()?))
        .collect())
}

/// Every index entry of a metric.
pub async fn query_index_all(
    t: &dyn TableStore,
    metric: &MetricId,
) -> Result<Vec<(NaiveDate, String)>, TableError> {
    let items = query_all(t, &STATE, &Query::all(format!("idx#{metric}"))).await?;
    Ok(items
        .iter()
        .filter_map(|i| parse_index_sk(i.get(SK)?.as_s()?))
        .collect())
}

pub(super) fn parse_index_sk(sk: &str) -> Option<(NaiveDate, String)> {
    let (d, key) = sk.split_once('#')?;
    Some((
        NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?,
        key.to_string(),
    ))
}
