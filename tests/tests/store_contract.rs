//! The store contract suite (`ws_bridge::store::contract`) against DynamoDB Local; the in-memory
//! store runs the same suite in `shared`'s unit tests.

use ws_bridge::store::contract;
use ws_bridge::store::table::TableDefinition;
use ws_bridge_e2e::{dynamodb_endpoint, fresh_dynamodb_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_store_passes_the_store_contract() {
    let endpoint = dynamodb_endpoint();
    contract::run_all(|| fresh_dynamodb_store(&endpoint)).await;
}

#[tokio::test]
async fn dynamodb_tables_are_created_with_the_ttl_attribute_of_the_definition() {
    let store = fresh_dynamodb_store(&dynamodb_endpoint()).await;
    let connections = TableDefinition::connections().unwrap();
    assert_eq!(
        store.time_to_live_attribute(store.table()).await.unwrap(),
        Some(connections.time_to_live_attribute)
    );
    let subscriptions = TableDefinition::subscriptions().unwrap();
    assert_eq!(
        store
            .time_to_live_attribute(store.subscriptions_table())
            .await
            .unwrap(),
        Some(subscriptions.time_to_live_attribute)
    );
    assert_eq!(
        store
            .time_to_live_attribute(store.user_slots_table())
            .await
            .unwrap(),
        Some(
            TableDefinition::user_slots()
                .unwrap()
                .time_to_live_attribute
        )
    );
}
