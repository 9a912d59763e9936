//! The presence contract (`ws_bridge::presence::contract`) against DynamoDB Local, one test per
//! check (`on_dynamodb_local::<check>`), each on a table of its own; the in-memory store runs
//! the same checks in `shared`'s unit tests.

use ws_bridge::DynamoDbPresence;
use ws_bridge::store::table::TableDefinition;
use ws_bridge_e2e::{dynamodb_config, dynamodb_endpoint, fresh_dynamodb_store};

/// A DynamoDB presence store on a new table of its own.
async fn fresh_presence() -> DynamoDbPresence {
    let config = dynamodb_config(&dynamodb_endpoint());
    local_gateway::dynamodb_presence(&config)
        .await
        .expect("presence table created")
}

mod on_dynamodb_local {
    use super::fresh_presence;

    ws_bridge::presence_contract_tests!(fresh_presence);
}

#[tokio::test]
async fn the_presence_table_is_created_with_the_ttl_attribute_of_the_definition() {
    let presence = fresh_presence().await;
    let store = fresh_dynamodb_store(&dynamodb_endpoint()).await;
    assert_eq!(
        store
            .time_to_live_attribute(presence.table())
            .await
            .unwrap(),
        Some(TableDefinition::presence().unwrap().time_to_live_attribute)
    );
}
