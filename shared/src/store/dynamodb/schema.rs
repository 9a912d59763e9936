//! Table administration: creating the tables from their definitions in `infra/`, for local
//! development and tests.

use super::DynamoDbStore;
use super::errors::unavailable;
use crate::Error;
use crate::store::table::TableDefinition;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use std::time::Duration;

impl DynamoDbStore {
    /// Creates the three tables (connections, subscriptions, user slots) from their definitions in `infra/` unless they exist, and waits until
    /// they are active. For local development and tests; production tables come from the
    /// template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        let client = &self.client;
        create_if_missing(client, &self.table, &TableDefinition::connections()?).await?;
        create_if_missing(
            client,
            &self.subscriptions_table,
            &TableDefinition::subscriptions()?,
        )
        .await?;
        create_if_missing(
            client,
            &self.user_slots_table,
            &TableDefinition::user_slots()?,
        )
        .await
    }

    /// The name of the TTL attribute `table` has enabled, if any.
    pub async fn time_to_live_attribute(&self, table: &str) -> Result<Option<String>, Error> {
        let described = self
            .client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|err| unavailable("DescribeTimeToLive", table, err))?;
        Ok(described
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .map(str::to_owned))
    }
}

/// Creates `table` from `definition` unless it exists, waits until it is active and enables its
/// TTL. Shared with the history table.
pub(crate) async fn create_if_missing(
    client: &Client,
    table: &str,
    definition: &TableDefinition,
) -> Result<(), Error> {
    if describe_status(client, table).await?.is_some() {
        return wait_until_active(client, table).await;
    }
    let mut attributes = vec![attribute(
        &definition.partition_key.name,
        &definition.partition_key.attribute_type,
    )?];
    let mut key_schema = vec![key(&definition.partition_key.name, KeyType::Hash)?];
    if let Some(sort_key) = &definition.sort_key {
        attributes.push(attribute(&sort_key.name, &sort_key.attribute_type)?);
        key_schema.push(key(&sort_key.name, KeyType::Range)?);
    }
    let mut indexes = Vec::new();
    for index in &definition.global_secondary_indexes {
        attributes.push(attribute(
            &index.partition_key.name,
            &index.partition_key.attribute_type,
        )?);
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.as_str()))
            .build();
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .key_schema(key(&index.partition_key.name, KeyType::Hash)?)
                .projection(projection)
                .build()
                .map_err(|err| Error::Config(err.to_string()))?,
        );
    }
    let created = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::from(definition.billing_mode.as_str()))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Someone else created it meanwhile: fine.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(err) => return Err(unavailable("CreateTable", table, err)),
    }
    wait_until_active(client, table).await?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(&definition.time_to_live_attribute)
        .enabled(true)
        .build()
        .map_err(|err| Error::Config(err.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|err| unavailable("UpdateTimeToLive", table, err))?;
    Ok(())
}

async fn describe_status(client: &Client, table: &str) -> Result<Option<TableStatus>, Error> {
    match client.describe_table().table_name(table).send().await {
        Ok(described) => Ok(described.table().and_then(|t| t.table_status()).cloned()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(unavailable("DescribeTable", table, err)),
    }
}

async fn wait_until_active(client: &Client, table: &str) -> Result<(), Error> {
    for _ in 0..120 {
        if describe_status(client, table).await? == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::StoreUnavailable(format!(
        "table {table} did not become active within 60 s"
    )))
}

fn attribute(name: &str, attribute_type: &str) -> Result<AttributeDefinition, Error> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::from(attribute_type))
        .build()
        .map_err(|err| Error::Config(err.to_string()))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|err| Error::Config(err.to_string()))
}
