//! Silver partitions record the version of the rules that produced their observed buckets
//! (`silver::OBSERVED_RULES_VERSION`), and this test pins what those rules give on a
//! generated lake: a change to the bronze reader, cleansing or aggregation changes the
//! digest below, and must come with a new version, so that the incremental path stops
//! reading old partitions' buckets back (it reads their bronze instead).

use std::sync::Arc;

use gras_generate::generated_silver;
use gras_shared::silver::{read_observed, OBSERVED_RULES_VERSION};
use gras_shared::storage::Stores;
use gras_shared::Config;

/// (rules version, digest of the observed buckets of the lake below). Append a line with a
/// new version when the rules change; replace the last digest only when the lake itself
/// changed (the generator), with the rules untouched.
const PINNED: &[(u32, u64)] = &[(1, 0x269e_39b4_9b87_39d8)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_buckets_of_a_pinned_lake_match_the_rules_version() {
    let stores = Stores::memory();
    let config = Arc::new(Config::gras_defaults());
    generated_silver(&stores, &config, 12, 6, 7)
        .await
        .expect("generated silver");
    let mut keys: Vec<String> = stores
        .blobs
        .list("silver/")
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 4 * 12, "a partition per metric and day");
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buckets = 0;
    for key in &keys {
        let body = stores.blobs.get(key).await.expect("get");
        h.update(key.as_bytes());
        for b in read_observed(body).expect("observed buckets") {
            h.update(b.series.as_str().as_bytes());
            h.update(&b.bucket_ns.to_le_bytes());
            h.update(&b.value.to_bits().to_le_bytes());
            buckets += 1;
        }
    }
    assert!(buckets > 4 * 12 * 6 * 20, "{buckets} observed buckets");
    let digest = h.digest();
    let &(version, pinned) = PINNED.last().expect("a pinned version");
    assert_eq!(
        version, OBSERVED_RULES_VERSION,
        "the newest pinned version must be the build's"
    );
    assert_eq!(
        digest,
        pinned,
        "the observed buckets of the pinned lake changed ({digest:#x}): if reading, cleansing \
         or aggregation changed, raise silver::OBSERVED_RULES_VERSION and append \
         ({}, {digest:#x}) to PINNED; if only the generated lake changed, replace the last digest",
        OBSERVED_RULES_VERSION + 1
    );
}
