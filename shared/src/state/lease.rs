//! `lease#<M>#<YYYY-MM-DD>` / `_`: the lease on a silver partition while it is recomputed.

use super::*;

/// Tries once to take the lease on a silver partition; `Ok(false)` when another owner
/// holds an unexpired one.
pub async fn try_lease(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    owner: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool, TableError> {
    let mut item = key_item(
        format!("lease#{metric}#{}", date_str(date)),
        SINGLETON.into(),
    );
    item.insert(A_OWNER.into(), s(owner));
    item.insert(
        A_UNTIL.into(),
        Attr::N((now.timestamp() + ttl.as_secs() as i64) as f64),
    );
    let cond = Condition::Or(vec![
        Condition::NotExists,
        Condition::LessThan(A_UNTIL.into(), Attr::N(now.timestamp() as f64)),
        Condition::Equals(A_OWNER.into(), s(owner)),
    ]);
    match t.put(&STATE, item, cond).await {
        Ok(()) => Ok(true),
        Err(TableError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases a lease held by `owner` (a lease taken over by someone else is left alone).
pub async fn release_lease(
    t: &dyn TableStore,
    metric: &MetricId,
    date: NaiveDate,
    owner: &str,
) -> Result<(), TableError> {
    let pk = format!("lease#{metric}#{}", date_str(date));
    match t
        .delete(
            &STATE,
            &pk,
            SINGLETON,
            Condition::Equals(A_OWNER.into(), s(owner)),
        )
        .await
    {
        Ok(()) | Err(TableError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
