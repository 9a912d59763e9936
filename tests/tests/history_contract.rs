//! The history contract (`ws_bridge::history::contract`) against DynamoDB Local, one test per
//! check (`on_dynamodb_local::<check>`), each on a table of its own; the in-memory history runs
//! the same checks in `shared`'s unit tests.

use ws_bridge::DynamoDbHistory;
use ws_bridge::settings::HistorySettings;
use ws_bridge::store::table::TableDefinition;
use ws_bridge_e2e::{dynamodb_config, dynamodb_endpoint, fresh_dynamodb_store};

/// A DynamoDB history with `settings` on a new table of its own.
async fn fresh_history(settings: HistorySettings) -> DynamoDbHistory {
    let mut config = dynamodb_config(&dynamodb_endpoint());
    config.history_channels = Some(settings.channels.clone());
    config.history_ttl_seconds = Some(settings.ttl_seconds);
    config.history_max_messages = Some(settings.max_messages);
    local_gateway::dynamodb_history(&config)
        .await
        .expect("history table created")
}

mod on_dynamodb_local {
    use super::fresh_history;

    ws_bridge::history_contract_tests!(fresh_history);
}

#[tokio::test]
async fn the_history_table_is_created_with_the_ttl_attribute_of_the_definition() {
    let history = fresh_history(HistorySettings::default()).await;
    let store = fresh_dynamodb_store(&dynamodb_endpoint()).await;
    assert_eq!(
        store.time_to_live_attribute(history.table()).await.unwrap(),
        Some(TableDefinition::history().unwrap().time_to_live_attribute)
    );
}
