//! The connections table's definition, read from `infra/connections-table.json`: the one place
//! where keys, index and TTL are written down.

use crate::Error;
use serde::Deserialize;

const CONNECTIONS_TABLE_JSON: &str = include_str!("../../../infra/connections-table.json");

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDefinition {
    pub default_table_name: String,
    pub partition_key: KeyAttribute,
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
}
