//! The tables' definitions, read from `infra/*-table.json`: the one place where keys, indexes
//! and TTL are written down.

use crate::Error;
use serde::Deserialize;

const CONNECTIONS_TABLE_JSON: &str = include_str!("../../../infra/connections-table.json");
const SUBSCRIPTIONS_TABLE_JSON: &str = include_str!("../../../infra/subscriptions-table.json");
const USER_SLOTS_TABLE_JSON: &str = include_str!("../../../infra/user-slots-table.json");
const HISTORY_TABLE_JSON: &str = include_str!("../../../infra/history-table.json");
const PRESENCE_TABLE_JSON: &str = include_str!("../../../infra/presence-table.json");
const BROADCASTS_TABLE_JSON: &str = include_str!("../../../infra/broadcasts-table.json");

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDefinition {
    pub default_table_name: String,
    pub partition_key: KeyAttribute,
    #[serde(default)]
    pub sort_key: Option<KeyAttribute>,
    pub time_to_live_attribute: String,
    pub global_secondary_indexes: Vec<IndexDefinition>,
    pub billing_mode: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct KeyAttribute {
    pub name: String,
    /// DynamoDB scalar type: `S`, `N` or `B`.
    #[serde(rename = "type")]
    pub attribute_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexDefinition {
    pub name: String,
    pub partition_key: KeyAttribute,
    /// `KEYS_ONLY` or `ALL`.
    pub projection: String,
}

impl TableDefinition {
    pub fn connections() -> Result<Self, Error> {
        serde_json::from_str(CONNECTIONS_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/connections-table.json: {err}")))
    }

    pub fn subscriptions() -> Result<Self, Error> {
        serde_json::from_str(SUBSCRIPTIONS_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/subscriptions-table.json: {err}")))
    }

    pub fn user_slots() -> Result<Self, Error> {
        serde_json::from_str(USER_SLOTS_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/user-slots-table.json: {err}")))
    }

    pub fn history() -> Result<Self, Error> {
        serde_json::from_str(HISTORY_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/history-table.json: {err}")))
    }

    pub fn presence() -> Result<Self, Error> {
        serde_json::from_str(PRESENCE_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/presence-table.json: {err}")))
    }

    pub fn broadcasts() -> Result<Self, Error> {
        serde_json::from_str(BROADCASTS_TABLE_JSON)
            .map_err(|err| Error::Config(format!("infra/broadcasts-table.json: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connections_table_definition_parses() {
        let table = TableDefinition::connections().unwrap();
        assert_eq!(table.partition_key.name, "connectionId");
        assert_eq!(table.time_to_live_attribute, "expiresAt");
    }

    #[test]
    fn the_subscriptions_table_is_keyed_by_channel_then_connection() {
        let table = TableDefinition::subscriptions().unwrap();
        assert_eq!(table.partition_key.name, "channel");
        assert_eq!(table.sort_key.unwrap().name, "connectionId");
        assert_eq!(table.time_to_live_attribute, "expiresAt");
        let slots = TableDefinition::user_slots().unwrap();
        assert_eq!(slots.partition_key.name, "userId");
        assert_eq!(slots.sort_key.unwrap().attribute_type, "N");
        let history = TableDefinition::history().unwrap();
        assert_eq!(history.partition_key.name, "channel");
        assert_eq!(history.sort_key.unwrap().name, "seq");
        assert_eq!(history.time_to_live_attribute, "expiresAt");
        assert_eq!(
            history.default_table_name,
            crate::settings::DEFAULT_HISTORY_TABLE
        );
        let presence = TableDefinition::presence().unwrap();
        assert_eq!(presence.partition_key.name, "channel");
        assert_eq!(presence.sort_key.unwrap().name, "userId");
        assert_eq!(
            presence.default_table_name,
            crate::settings::DEFAULT_PRESENCE_TABLE
        );
    }
}
