//! The store contract (`ws_bridge::store::contract`) against DynamoDB Local, one test per check
//! (`on_dynamodb_local::<check>`), each on tables of its own; the in-memory store runs the same
//! checks in `shared`'s unit tests.

use ws_bridge::store::table::TableDefinition;
use ws_bridge_e2e::{dynamodb_endpoint, fresh_dynamodb_store};

mod on_dynamodb_local {
    use super::{dynamodb_endpoint, fresh_dynamodb_store};

    ws_bridge::store_contract_tests!(|| async { fresh_dynamodb_store(&dynamodb_endpoint()).await });
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
