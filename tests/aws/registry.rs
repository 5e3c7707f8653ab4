//! The approval state machine on DynamoDB (moto): conditional transactions keep at most one
//! `Approved` version per metric, even when approvals race.
//!
//! Runs on the single-threaded moto ([`Moto::start_serial`]): threaded moto lets two
//! concurrent TransactWriteItems commit on the same condition, which DynamoDB never does, so
//! the race's outcome there is moto's, not DynamoDB's.

use std::sync::Arc;

use gras_integration_tests::{create_table, Moto};
use gras_shared::registry::{checks, rollback_checks, MODELS};
use gras_shared::state::STATE;
use gras_shared::storage::aws::DynamoTableStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approvals_leave_one_approved_version() {
    let moto = Moto::start_serial();
    let prefix = format!("reg{}_", rand::random::<u32>() % 1_000_000);
    let settings = moto.settings(&prefix).await;
    for t in [STATE, MODELS] {
        create_table(&settings.dynamodb(), &prefix, &t).await;
    }
    let store = Arc::new(DynamoTableStore::new(settings.dynamodb(), prefix));
    checks::approval_state_machine(store, "G", 6).await;
}

#[tokio::test]
async fn rollback_and_the_decision_history_on_dynamodb() {
    let moto = Moto::start_serial();
    let prefix = format!("rb{}_", rand::random::<u32>() % 1_000_000);
    let settings = moto.settings(&prefix).await;
    for t in [STATE, MODELS] {
        create_table(&settings.dynamodb(), &prefix, &t).await;
    }
    let store = DynamoTableStore::new(settings.dynamodb(), prefix);
    rollback_checks::rollback_and_history(&store, "G").await;
}
