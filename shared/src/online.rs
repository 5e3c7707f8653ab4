//! Online features (contract section 5): one `gras_features` item per series holding its
//! newest silver row.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::contract::{silver_col as col, table};
use crate::features::SilverRows;
use crate::storage::table::{Attr, Item, TableSpec};

/// The online store table: hash key `pk = "<metric_id>#<series_key>"`.
pub const FEATURES: TableSpec = TableSpec {
    name: table::FEATURES,
    pk: "pk",
    sk: None,
};

/// Attribute names of online items beyond the feature columns.
pub mod attr {
    /// `"<metric_id>#<series_key>"`.
    pub const PK: &str = "pk";
    /// Bucket start, RFC 3339 UTC (`2024-01-29T14:00:00Z`).
    pub const TS: &str = "ts";
    /// When the item was written, RFC 3339 UTC.
    pub const UPDATED_AT: &str = "updated_at";
    /// Expiry, epoch seconds: `updated_at` + 7 days.
    pub const TTL: &str = "ttl";
}

/// Seconds an online item lives after its last update.
pub const TTL_SECS: i64 = 7 * 24 * 3600;

/// The hash key of a series' online item.
pub fn pk(metric_id: &str, series_key: &str) -> String {
    format!("{metric_id}#{series_key}")
}

/// Formats a microsecond timestamp as RFC 3339 UTC with second precision.
pub fn rfc3339_us(ts_us: i64) -> String {
    DateTime::from_timestamp_micros(ts_us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Feature attributes that hold whole numbers (silver's int32 columns): the item stores every
/// number as a DynamoDB number, and readers show these as integers.
pub const INTEGER_ATTRS: &[&str] = &[col::HOUR, col::DAY_OF_WEEK];

/// The online item for row `i` of `rows`, written at `now`.
pub fn item(rows: &SilverRows, i: usize, now: DateTime<Utc>) -> Item {
    let mut it = Item::new();
    it.insert(
        attr::PK.into(),
        Attr::S(pk(&rows.metric_id[i], &rows.series_key[i])),
    );
    it.insert(
        col::METRIC_ID.into(),
        Attr::S(rows.metric_id[i].to_string()),
    );
    it.insert(
        col::SERIES_KEY.into(),
        Attr::S(rows.series_key[i].to_string()),
    );
    it.insert(attr::TS.into(), Attr::S(rfc3339_us(rows.ts_us[i])));
    it.insert(col::VALUE.into(), Attr::opt_n(rows.value.get(i)));
    it.insert(col::IS_IMPUTED.into(), Attr::Bool(rows.is_imputed[i]));
    it.insert(col::HOUR.into(), Attr::N(f64::from(rows.hour[i])));
    it.insert(
        col::DAY_OF_WEEK.into(),
        Attr::N(f64::from(rows.day_of_week[i])),
    );
    it.insert(col::IS_WEEKEND.into(), Attr::Bool(rows.is_weekend[i]));
    it.insert(col::IS_HOLIDAY.into(), Attr::Bool(rows.is_holiday[i]));
    for (name, values) in col::FLOAT_FEATURES.iter().zip(&rows.floats) {
        it.insert((*name).into(), Attr::opt_n(values.get(i)));
    }
    it.insert(col::IS_OUTLIER.into(), Attr::Bool(rows.is_outlier[i]));
    for (name, values) in col::TOTALS.iter().zip(&rows.totals) {
        it.insert((*name).into(), Attr::opt_n(values.get(i)));
    }
    it.insert(
        attr::UPDATED_AT.into(),
        Attr::S(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    it.insert(
        attr::TTL.into(),
        Attr::N((now.timestamp() + TTL_SECS) as f64),
    );
    it
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_has_contract_keys_types_and_ttl() {
        let mut rows = SilverRows::default();
        rows.metric_id.push("G".into());
        rows.series_key.push("eu".into());
        rows.ts_us.push(1_706_536_800_000_000); // 2024-01-29T14:00:00Z
        rows.value.push(Some(3.5));
        rows.is_imputed.push(false);
        rows.hour.push(14);
        rows.day_of_week.push(0);
        rows.is_weekend.push(false);
        rows.is_holiday.push(false);
        for c in rows.floats.iter_mut() {
            c.push(None);
        }
        rows.floats[0].set(0, Some(1.25));
        rows.is_outlier.push(false);
        rows.totals = [Some(84.0), None, Some(0.5)].map(|v| vec![v].into());
        let now = DateTime::from_timestamp(1_706_540_000, 0).unwrap();
        let it = item(&rows, 0, now);
        assert_eq!(it["pk"], Attr::S("G#eu".into()));
        assert_eq!(it["ts"], Attr::S("2024-01-29T14:00:00Z".into()));
        assert_eq!(it["value"], Attr::N(3.5));
        assert_eq!(it["lag_1h"], Attr::N(1.25));
        assert_eq!(it["lag_24h"], Attr::Null);
        assert_eq!(it["hour"], Attr::N(14.0));
        assert_eq!(it["is_outlier"], Attr::Bool(false));
        assert_eq!(it["roll_sum_168h"], Attr::N(84.0));
        assert_eq!(it["roll_sum_720h"], Attr::Null);
        assert_eq!(it["roll_mean_720h"], Attr::N(0.5));
        assert_eq!(it["ttl"], Attr::N((1_706_540_000 + 7 * 86_400) as f64));
        assert_eq!(it["updated_at"], Attr::S("2024-01-29T14:53:20Z".into()));
    }
}
