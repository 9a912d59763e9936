//! Connections in DynamoDB: one item per connection, keyed by `connectionId`, with a TTL
//! attribute because `$disconnect` is best effort. Listing is a paginated, segmented Scan that
//! projects only the ids a broadcast needs.

use super::table::TableDefinition;
use super::{Connection, ConnectionPage, ConnectionStore, Segment};
use crate::Error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, Select, TableStatus,
    TimeToLiveSpecification,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// `CONNECTIONS_TABLE`: the table's name (default from `infra/connections-table.json`).
pub const TABLE_ENV: &str = "CONNECTIONS_TABLE";
/// `SCAN_SEGMENTS`: parallel Scan segments for listing (default 4).
pub const SEGMENTS_ENV: &str = "SCAN_SEGMENTS";
const DEFAULT_SEGMENTS: u32 = 4;

const ID: &str = "connectionId";
const CONNECTED_AT: &str = "connectedAt";
const SOURCE_IP: &str = "sourceIp";
const USER_AGENT: &str = "userAgent";
const QUERY: &str = "query";
const EXPIRES_AT: &str = "expiresAt";

#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    segments: u32,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            segments: DEFAULT_SEGMENTS,
        }
    }

    pub fn with_segments(mut self, segments: u32) -> Self {
        self.segments = segments.max(1);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A client whose calls fail within seconds when DynamoDB is unreachable, so a handshake
    /// or broadcast reports the outage instead of hanging until API Gateway's 29 s.
    pub fn client(sdk_config: &aws_config::SdkConfig) -> Client {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(8))
            .build();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .build();
        Client::from_conf(config)
    }

    /// Table from [`TABLE_ENV`], segments from [`SEGMENTS_ENV`]; the endpoint is the SDK's
    /// (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, Error> {
        let table = match std::env::var(TABLE_ENV) {
            Ok(name) if !name.trim().is_empty() => name,
            _ => TableDefinition::connections()?.default_table_name,
        };
        let segments = match std::env::var(SEGMENTS_ENV) {
            Err(_) => DEFAULT_SEGMENTS,
            Ok(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "{SEGMENTS_ENV} must be a positive integer, got {raw:?}"
                    ))
                })?,
        };
        Ok(Self::new(Self::client(sdk_config), table).with_segments(segments))
    }

    /// Creates the table from `infra/connections-table.json` unless it exists, and waits until
    /// it is active. For local development and tests; production tables come from the template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        if self.describe_status().await?.is_some() {
            return self.wait_until_active().await;
        }
        let definition = TableDefinition::connections()?;
        let mut attributes = vec![attribute(
            &definition.partition_key.name,
            &definition.partition_key.attribute_type,
        )?];
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
                    .key_schema(hash_key(&index.partition_key.name)?)
                    .projection(projection)
                    .build()
                    .map_err(|err| Error::Config(err.to_string()))?,
            );
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(attributes))
            .key_schema(hash_key(&definition.partition_key.name)?)
            .set_global_secondary_indexes(Some(indexes))
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
            Err(err) => return Err(self.unavailable("CreateTable", err)),
        }
        self.wait_until_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(&definition.time_to_live_attribute)
            .enabled(true)
            .build()
            .map_err(|err| Error::Config(err.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|err| self.unavailable("UpdateTimeToLive", err))?;
        Ok(())
    }

    /// The name of the TTL attribute the table has enabled, if any.
    pub async fn time_to_live_attribute(&self) -> Result<Option<String>, Error> {
        let described = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|err| self.unavailable("DescribeTimeToLive", err))?;
        Ok(described
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .map(str::to_owned))
    }

    async fn describe_status(&self) -> Result<Option<TableStatus>, Error> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(described) => Ok(described.table().and_then(|t| t.table_status()).cloned()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.unavailable("DescribeTable", err)),
        }
    }

    async fn wait_until_active(&self) -> Result<(), Error> {
        for _ in 0..120 {
            if self.describe_status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(Error::StoreUnavailable(format!(
            "table {} did not become active within 60 s",
            self.table
        )))
    }

    fn unavailable<E>(&self, operation: &str, err: SdkError<E>) -> Error
    where
        E: std::error::Error + 'static,
    {
        Error::StoreUnavailable(format!(
            "DynamoDB {operation} on table {}: {}",
            self.table,
            DisplayErrorContext(&err)
        ))
    }

    async fn count_segment(&self, segment: Segment) -> Result<u64, Error> {
        let mut total = 0u64;
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.table)
                .select(Select::Count);
            if segment.total > 1 {
                scan = scan
                    .segment(to_i32(segment.index))
                    .total_segments(to_i32(segment.total));
            }
            let page = scan
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| self.unavailable("Scan", err))?;
            total += u64::try_from(page.count()).unwrap_or(0);
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(total),
            }
        }
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn attribute(name: &str, attribute_type: &str) -> Result<AttributeDefinition, Error> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::from(attribute_type))
        .build()
        .map_err(|err| Error::Config(err.to_string()))
}

fn hash_key(name: &str) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|err| Error::Config(err.to_string()))
}

fn to_item(connection: &Connection) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            ID.to_owned(),
            AttributeValue::S(connection.connection_id.clone()),
        ),
        (
            CONNECTED_AT.to_owned(),
            AttributeValue::N(connection.connected_at.to_string()),
        ),
        (
            SOURCE_IP.to_owned(),
            AttributeValue::S(connection.source_ip.clone()),
        ),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N(connection.expires_at.to_string()),
        ),
    ]);
    if let Some(user_agent) = &connection.user_agent {
        item.insert(USER_AGENT.to_owned(), AttributeValue::S(user_agent.clone()));
    }
    if !connection.query.is_empty() {
        let query = connection
            .query
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect();
        item.insert(QUERY.to_owned(), AttributeValue::M(query));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Connection, Error> {
    let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let malformed =
        |what: &str| Error::StoreUnavailable(format!("malformed connection item: {what}"));
    let query: BTreeMap<String, String> = match item.get(QUERY) {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(name, value)| value.as_s().ok().map(|v| (name.clone(), v.clone())))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Connection {
        connection_id: text(ID).ok_or_else(|| malformed(ID))?,
        connected_at: number(CONNECTED_AT).ok_or_else(|| malformed(CONNECTED_AT))?,
        source_ip: text(SOURCE_IP).unwrap_or_default(),
        user_agent: text(USER_AGENT),
        query,
        expires_at: number(EXPIRES_AT).ok_or_else(|| malformed(EXPIRES_AT))?,
    })
}

#[async_trait]
impl ConnectionStore for DynamoDbStore {
    async fn put(&self, connection: Connection) -> Result<(), Error> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&connection)))
            .condition_expression("attribute_not_exists(connectionId)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict(format!(
                    "connection {} is already stored",
                    connection.connection_id
                )))
            }
            Err(err) => Err(self.unavailable("PutItem", err)),
        }
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.unavailable("GetItem", err))?;
        found.item().map(from_item).transpose()
    }

    async fn delete(&self, connection_id: &str) -> Result<bool, Error> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| self.unavailable("DeleteItem", err))?;
        Ok(deleted.attributes().is_some_and(|old| !old.is_empty()))
    }

    fn listing_segments(&self) -> u32 {
        self.segments
    }

    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression(ID)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        if segment.total > 1 {
            scan = scan
                .segment(to_i32(segment.index))
                .total_segments(to_i32(segment.total));
        }
        if let Some(after) = cursor {
            scan = scan.exclusive_start_key(ID, AttributeValue::S(after.to_owned()));
        }
        let page = scan
            .send()
            .await
            .map_err(|err| self.unavailable("Scan", err))?;
        let connection_ids = page
            .items()
            .iter()
            .filter_map(|item| item.get(ID).and_then(|id| id.as_s().ok()).cloned())
            .collect();
        let next_cursor = page
            .last_evaluated_key()
            .and_then(|key| key.get(ID))
            .and_then(|id| id.as_s().ok())
            .cloned();
        Ok(ConnectionPage {
            connection_ids,
            next_cursor,
        })
    }

    async fn count(&self) -> Result<u64, Error> {
        let counts = futures::future::try_join_all(
            Segment::all(self.segments).map(|segment| self.count_segment(segment)),
        )
        .await?;
        Ok(counts.into_iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::sample_connection;

    #[test]
    fn items_round_trip() {
        let connection = sample_connection("Vb7rKfZ-joECH_A=");
        let item = to_item(&connection);
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N(connection.expires_at.to_string())
        );
        assert_eq!(from_item(&item).unwrap(), connection);
    }
}
