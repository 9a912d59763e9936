//! Connections in DynamoDB: one item per connection, keyed by `connectionId`, with a TTL
//! attribute because `$disconnect` is best effort. Listing is a paginated, segmented Scan that
//! projects only the ids a broadcast needs.
//!
//! Subscriptions live in a second table keyed by `channel` then `connectionId`, so a channel's
//! subscribers are one Query. The connection's item lists its channels too (`channels`, a string
//! set): that is how a delete finds the subscription rows to remove. A connection item and its
//! subscription rows change together, in one transaction.
//!
//! A per-user connection limit uses a third table of slots (`userId`, `slot`): a connect claims
//! a free slot and writes its connection in one transaction, so concurrent connects cannot
//! exceed the limit, and a slot whose connection expired can be claimed again.

use super::table::TableDefinition;
use super::{
    ChannelCounts, Connection, ConnectionPage, ConnectionStore, Segment, not_stored,
    too_many_channels, too_many_connections,
};
use crate::Error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType, Select,
    TableStatus, TimeToLiveSpecification, TransactWriteItem, Update, WriteRequest,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// `CONNECTIONS_TABLE`: the table's name (default from `infra/connections-table.json`).
pub const TABLE_ENV: &str = "CONNECTIONS_TABLE";
/// `SUBSCRIPTIONS_TABLE`: the subscriptions table's name (default: the connections table's name
/// followed by `-subscriptions`).
pub const SUBSCRIPTIONS_TABLE_ENV: &str = "SUBSCRIPTIONS_TABLE";
/// `USER_SLOTS_TABLE`: the per-user slots table's name (default: the connections table's name
/// followed by `-user-slots`).
pub const USER_SLOTS_TABLE_ENV: &str = "USER_SLOTS_TABLE";
/// `SCAN_SEGMENTS`: parallel Scan segments for listing (default 4).
pub const SEGMENTS_ENV: &str = "SCAN_SEGMENTS";
const DEFAULT_SEGMENTS: u32 = 4;

const ID: &str = "connectionId";
const CONNECTED_AT: &str = "connectedAt";
const SOURCE_IP: &str = "sourceIp";
const USER_AGENT: &str = "userAgent";
const QUERY: &str = "query";
const EXPIRES_AT: &str = "expiresAt";
const USER_ID: &str = "userId";
const CHANNELS: &str = "channels";
const CHANNEL: &str = "channel";
const BY_USER_INDEX: &str = "byUser";
const CLAIMS: &str = "claims";
const CHANNEL_GRANTS: &str = "channelGrants";
const USER_SLOT: &str = "userSlot";
const SLOT: &str = "slot";
const RATE_WINDOW: &str = "rateWindow";
const RATE_COUNT: &str = "rateCount";
/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;

#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    subscriptions_table: String,
    user_slots_table: String,
    segments: u32,
}

impl DynamoDbStore {
    /// A store on the connections table `table` and its subscriptions table
    /// `{table}-subscriptions`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            client,
            subscriptions_table: format!("{table}-subscriptions"),
            user_slots_table: format!("{table}-user-slots"),
            table,
            segments: DEFAULT_SEGMENTS,
        }
    }

    pub fn with_subscriptions_table(mut self, table: impl Into<String>) -> Self {
        self.subscriptions_table = table.into();
        self
    }

    pub fn subscriptions_table(&self) -> &str {
        &self.subscriptions_table
    }

    pub fn with_user_slots_table(mut self, table: impl Into<String>) -> Self {
        self.user_slots_table = table.into();
        self
    }

    pub fn user_slots_table(&self) -> &str {
        &self.user_slots_table
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
        let mut store = Self::new(Self::client(sdk_config), table).with_segments(segments);
        if let Ok(name) = std::env::var(SUBSCRIPTIONS_TABLE_ENV)
            && !name.trim().is_empty()
        {
            store = store.with_subscriptions_table(name);
        }
        if let Ok(name) = std::env::var(USER_SLOTS_TABLE_ENV)
            && !name.trim().is_empty()
        {
            store = store.with_user_slots_table(name);
        }
        Ok(store)
    }

    /// Creates both tables from their definitions in `infra/` unless they exist, and waits until
    /// they are active. For local development and tests; production tables come from the
    /// template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        self.create_if_missing(&self.table, &TableDefinition::connections()?)
            .await?;
        self.create_if_missing(
            &self.subscriptions_table,
            &TableDefinition::subscriptions()?,
        )
        .await?;
        self.create_if_missing(&self.user_slots_table, &TableDefinition::user_slots()?)
            .await
    }

    async fn create_if_missing(
        &self,
        table: &str,
        definition: &TableDefinition,
    ) -> Result<(), Error> {
        if self.describe_status(table).await?.is_some() {
            return self.wait_until_active(table).await;
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
        let created = self
            .client
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
        self.wait_until_active(table).await?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(&definition.time_to_live_attribute)
            .enabled(true)
            .build()
            .map_err(|err| Error::Config(err.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|err| unavailable("UpdateTimeToLive", table, err))?;
        Ok(())
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

    async fn describe_status(&self, table: &str) -> Result<Option<TableStatus>, Error> {
        match self.client.describe_table().table_name(table).send().await {
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

    async fn wait_until_active(&self, table: &str) -> Result<(), Error> {
        for _ in 0..120 {
            if self.describe_status(table).await? == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(Error::StoreUnavailable(format!(
            "table {table} did not become active within 60 s"
        )))
    }

    fn unavailable<E>(&self, operation: &str, err: SdkError<E>) -> Error
    where
        E: std::error::Error + 'static,
    {
        unavailable(operation, &self.table, err)
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

fn unavailable<E>(operation: &str, table: &str, err: SdkError<E>) -> Error
where
    E: std::error::Error + 'static,
{
    Error::StoreUnavailable(format!(
        "DynamoDB {operation} on table {table}: {}",
        DisplayErrorContext(&err)
    ))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
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
    if let Some(user_id) = &connection.user_id {
        item.insert(USER_ID.to_owned(), AttributeValue::S(user_id.clone()));
    }
    if !connection.claims.is_empty() {
        let claims = connection
            .claims
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect();
        item.insert(CLAIMS.to_owned(), AttributeValue::M(claims));
    }
    // A list, not a set: an empty grant list (only the user's own channel) must be storable.
    if let Some(grants) = &connection.channel_grants {
        let grants = grants.iter().cloned().map(AttributeValue::S).collect();
        item.insert(CHANNEL_GRANTS.to_owned(), AttributeValue::L(grants));
    }
    // DynamoDB has no empty sets: no channels, no attribute.
    if !connection.channels.is_empty() {
        item.insert(CHANNELS.to_owned(), string_set(&connection.channels));
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
        user_id: text(USER_ID),
        channels: channels_of(item),
        claims: match item.get(CLAIMS) {
            Some(AttributeValue::M(map)) => map
                .iter()
                .filter_map(|(name, value)| value.as_s().ok().map(|v| (name.clone(), v.clone())))
                .collect(),
            _ => BTreeMap::new(),
        },
        channel_grants: match item.get(CHANNEL_GRANTS) {
            Some(AttributeValue::L(grants)) => Some(
                grants
                    .iter()
                    .filter_map(|grant| grant.as_s().ok().cloned())
                    .collect(),
            ),
            _ => None,
        },
    })
}

fn channels_of(item: &HashMap<String, AttributeValue>) -> BTreeSet<String> {
    match item.get(CHANNELS) {
        Some(AttributeValue::Ss(channels)) => channels.iter().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

fn string_set<'a>(values: impl IntoIterator<Item = &'a String>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().cloned().collect())
}

fn connection_key(connection_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(ID.to_owned(), AttributeValue::S(connection_id.to_owned()))])
}

fn subscription_key(channel: &str, connection_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (CHANNEL.to_owned(), AttributeValue::S(channel.to_owned())),
        (ID.to_owned(), AttributeValue::S(connection_id.to_owned())),
    ])
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, Error> {
    result.map_err(|err| Error::Config(err.to_string()))
}

/// Why a cancelled transaction's items failed, item by item (`"None"` for items that did not).
fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a single-item write was refused by its condition expression.
fn condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

fn condition_failed_at(codes: &[String], index: usize) -> bool {
    codes
        .get(index)
        .is_some_and(|code| code == "ConditionalCheckFailed")
}

/// Whether a transaction was cancelled because its first item's condition failed (the
/// connection item, by our convention) rather than for any other reason.
fn first_condition_failed(err: &SdkError<TransactWriteItemsError>) -> bool {
    condition_failed_at(&cancellation_codes(err), 0)
}

fn id_of(item: &HashMap<String, AttributeValue>) -> Option<String> {
    item.get(ID).and_then(|id| id.as_s().ok()).cloned()
}

#[async_trait]
impl ConnectionStore for DynamoDbStore {
    async fn put(&self, connection: Connection) -> Result<(), Error> {
        if !connection.channels.is_empty() {
            return self.put_with_subscriptions(connection).await;
        }
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
            Err(err) if condition_failed(&err) => Err(Error::Conflict(format!(
                "connection {} is already stored",
                connection.connection_id
            ))),
            Err(err) => Err(self.unavailable("PutItem", err)),
        }
    }

    async fn put_limited(&self, connection: Connection, max_per_user: usize) -> Result<(), Error> {
        let Some(user) = connection.user_id.clone() else {
            return self.put(connection).await;
        };
        // Claim the first free slot; a slot another connect is claiming at the same moment is a
        // transaction conflict, retried briefly before moving on.
        for slot in 0..max_per_user {
            for attempt in 0..4u32 {
                match self.put_in_slot(&connection, &user, slot).await? {
                    SlotClaim::Claimed => return Ok(()),
                    SlotClaim::Taken => break,
                    SlotClaim::Contended => {
                        let jitter = u64::from(jitter_ms(&connection.connection_id, attempt));
                        tokio::time::sleep(Duration::from_millis(10 + jitter)).await;
                    }
                }
            }
        }
        Err(too_many_connections(&user, max_per_user))
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
        let Some(old) = deleted.attributes().filter(|old| !old.is_empty()) else {
            return Ok(false);
        };
        if let (Some(AttributeValue::S(user)), Some(AttributeValue::N(slot))) =
            (old.get(USER_ID), old.get(USER_SLOT))
        {
            self.release_slot(user, slot, connection_id).await?;
        }
        // The row listed its channels; if removing their rows fails now, TTL removes them.
        self.delete_subscription_rows(connection_id, &channels_of(old))
            .await?;
        Ok(true)
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
        Ok(ConnectionPage {
            connection_ids: page.items().iter().filter_map(id_of).collect(),
            next_cursor: page.last_evaluated_key().and_then(id_of),
        })
    }

    async fn count(&self) -> Result<u64, Error> {
        let counts = futures::future::try_join_all(
            Segment::all(self.segments).map(|segment| self.count_segment(segment)),
        )
        .await?;
        Ok(counts.into_iter().sum())
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
        max_channels: usize,
    ) -> Result<BTreeSet<String>, Error> {
        let current = self.stored(connection_id).await?;
        let new: BTreeSet<String> = channels.difference(&current.channels).cloned().collect();
        if new.is_empty() {
            return Ok(current.channels);
        }
        let too_many = || too_many_channels(max_channels);
        let room = max_channels.checked_sub(new.len()).ok_or_else(too_many)?;
        if current.channels.len() > room {
            return Err(too_many());
        }
        // The condition re-checks the bound at write time, so concurrent subscribes of one
        // connection cannot overshoot it; it also keeps a vanished connection from being
        // re-created by the update.
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(connection_key(connection_id)))
                .update_expression("ADD #channels :new")
                .condition_expression(
                    "attribute_exists(#id) AND (attribute_not_exists(#channels) OR size(#channels) <= :room)",
                )
                .expression_attribute_names("#channels", CHANNELS)
                .expression_attribute_names("#id", ID)
                .expression_attribute_values(":new", string_set(&new))
                .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        for channel in &new {
            items.push(self.subscription_put(channel, connection_id, current.expires_at)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(current.channels.union(&new).cloned().collect()),
            Err(err) if first_condition_failed(&err) => match self.get(connection_id).await? {
                None => Err(not_stored(connection_id)),
                Some(_) => Err(too_many()),
            },
            Err(err) => Err(self.unavailable("TransactWriteItems", err)),
        }
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Error> {
        let current = self.stored(connection_id).await?;
        let leaving: BTreeSet<String> = channels.intersection(&current.channels).cloned().collect();
        if leaving.is_empty() {
            return Ok(current.channels);
        }
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(connection_key(connection_id)))
                .update_expression("DELETE #channels :leaving")
                .condition_expression("attribute_exists(#id)")
                .expression_attribute_names("#channels", CHANNELS)
                .expression_attribute_names("#id", ID)
                .expression_attribute_values(":leaving", string_set(&leaving))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        for channel in &leaving {
            let delete = built(
                Delete::builder()
                    .table_name(&self.subscriptions_table)
                    .set_key(Some(subscription_key(channel, connection_id)))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(current.channels.difference(&leaving).cloned().collect()),
            Err(err) if first_condition_failed(&err) => Err(not_stored(connection_id)),
            Err(err) => Err(self.unavailable("TransactWriteItems", err)),
        }
    }

    async fn list_subscribers(
        &self,
        channel: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let mut query = self
            .client
            .query()
            .table_name(&self.subscriptions_table)
            .key_condition_expression("#channel = :channel")
            .expression_attribute_names("#channel", CHANNEL)
            .expression_attribute_values(":channel", AttributeValue::S(channel.to_owned()))
            .projection_expression(ID)
            .consistent_read(true)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        if let Some(after) = cursor {
            query = query.set_exclusive_start_key(Some(subscription_key(channel, after)));
        }
        let page = query
            .send()
            .await
            .map_err(|err| unavailable("Query", &self.subscriptions_table, err))?;
        Ok(ConnectionPage {
            connection_ids: page.items().iter().filter_map(id_of).collect(),
            next_cursor: page.last_evaluated_key().and_then(id_of),
        })
    }

    async fn count_subscribers(&self, channel: &str) -> Result<u64, Error> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.subscriptions_table)
                .key_condition_expression("#channel = :channel")
                .expression_attribute_names("#channel", CHANNEL)
                .expression_attribute_values(":channel", AttributeValue::S(channel.to_owned()))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| unavailable("Query", &self.subscriptions_table, err))?;
            total += u64::try_from(page.count()).unwrap_or(0);
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(total),
            }
        }
    }

    async fn channel_counts(&self, limit: usize) -> Result<ChannelCounts, Error> {
        // A Scan of the subscriptions table (not of the connections): its cost grows with the
        // number of subscriptions, which is why `/stats` is an operator's tool, not a hot path.
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.subscriptions_table)
                .projection_expression("#channel")
                .expression_attribute_names("#channel", CHANNEL)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| unavailable("Scan", &self.subscriptions_table, err))?;
            for channel in page
                .items()
                .iter()
                .filter_map(|item| item.get(CHANNEL).and_then(|c| c.as_s().ok()))
            {
                *counts.entry(channel.clone()).or_default() += 1;
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(ChannelCounts::top(counts, limit)),
            }
        }
    }

    async fn record_message(&self, connection_id: &str, window: i64) -> Result<u64, Error> {
        // The window's count lives on the connection item, so it goes when the connection goes.
        // Usually one write: count within the current window; a new window resets it.
        for _ in 0..3 {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(connection_key(connection_id)))
                .update_expression("ADD #count :one")
                .condition_expression("#window = :window")
                .expression_attribute_names("#count", RATE_COUNT)
                .expression_attribute_names("#window", RATE_WINDOW)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":window", AttributeValue::N(window.to_string()))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await;
            match counted {
                Ok(output) => {
                    return Ok(output
                        .attributes()
                        .and_then(|new| new.get(RATE_COUNT))
                        .and_then(|count| count.as_n().ok())
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(1));
                }
                Err(err) if !condition_failed(&err) => {
                    return Err(self.unavailable("UpdateItem", err));
                }
                Err(_) => {}
            }
            let started = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(connection_key(connection_id)))
                .update_expression("SET #window = :window, #count = :one")
                .condition_expression(
                    "attribute_exists(#id) AND (attribute_not_exists(#window) OR #window < :window)",
                )
                .expression_attribute_names("#count", RATE_COUNT)
                .expression_attribute_names("#window", RATE_WINDOW)
                .expression_attribute_names("#id", ID)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":window", AttributeValue::N(window.to_string()))
                .send()
                .await;
            match started {
                Ok(_) => return Ok(1),
                Err(err) if !condition_failed(&err) => {
                    return Err(self.unavailable("UpdateItem", err));
                }
                // Another message started this window first, or the connection is gone.
                Err(_) => {
                    if self.get(connection_id).await?.is_none() {
                        return Err(not_stored(connection_id));
                    }
                }
            }
        }
        Err(Error::StoreUnavailable(format!(
            "could not count a message of {connection_id}: too much contention"
        )))
    }

    async fn connections_of_user(&self, user_id: &str) -> Result<Vec<String>, Error> {
        // A global secondary index is eventually consistent: a connection made a moment ago
        // may be missing here for a moment.
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_USER_INDEX)
                .key_condition_expression("#user = :user")
                .expression_attribute_names("#user", USER_ID)
                .expression_attribute_values(":user", AttributeValue::S(user_id.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| self.unavailable("Query", err))?;
            ids.extend(page.items().iter().filter_map(id_of));
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(ids),
            }
        }
    }
}

/// What became of one attempt to claim a user slot.
enum SlotClaim {
    Claimed,
    Taken,
    Contended,
}

/// A few milliseconds that differ between competing connects, so their retries spread out.
fn jitter_ms(id: &str, attempt: u32) -> u8 {
    id.bytes().fold(attempt as u8, |acc, byte| {
        acc.wrapping_mul(31).wrapping_add(byte)
    }) % 40
}

impl DynamoDbStore {
    /// The connection's row, or [`Error::NotFound`].
    async fn stored(&self, connection_id: &str) -> Result<Connection, Error> {
        self.get(connection_id)
            .await?
            .ok_or_else(|| not_stored(connection_id))
    }

    /// One transaction: the slot (free, or held by a connection that has expired), the
    /// connection item naming its slot, and its subscription rows.
    async fn put_in_slot(
        &self,
        connection: &Connection,
        user: &str,
        slot: usize,
    ) -> Result<SlotClaim, Error> {
        let now = crate::time::now_epoch_ms().div_euclid(1000);
        let slot_item = HashMap::from([
            (USER_ID.to_owned(), AttributeValue::S(user.to_owned())),
            (SLOT.to_owned(), AttributeValue::N(slot.to_string())),
            (
                ID.to_owned(),
                AttributeValue::S(connection.connection_id.clone()),
            ),
            (
                EXPIRES_AT.to_owned(),
                AttributeValue::N(connection.expires_at.to_string()),
            ),
        ]);
        let claim = built(
            Put::builder()
                .table_name(&self.user_slots_table)
                .set_item(Some(slot_item))
                .condition_expression("attribute_not_exists(#user) OR #expires < :now")
                .expression_attribute_names("#user", USER_ID)
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build(),
        )?;
        let mut item = to_item(connection);
        item.insert(USER_SLOT.to_owned(), AttributeValue::N(slot.to_string()));
        let mut items = vec![TransactWriteItem::builder().put(claim).build()];
        items.extend(self.new_connection_writes(item, connection)?);
        match self.transact(items).await {
            Ok(()) => Ok(SlotClaim::Claimed),
            Err(err) => {
                let codes = cancellation_codes(&err);
                if condition_failed_at(&codes, 1) {
                    Err(Error::Conflict(format!(
                        "connection {} is already stored",
                        connection.connection_id
                    )))
                } else if condition_failed_at(&codes, 0) {
                    Ok(SlotClaim::Taken)
                } else if codes.iter().any(|code| code == "TransactionConflict") {
                    Ok(SlotClaim::Contended)
                } else {
                    Err(self.unavailable("TransactWriteItems", err))
                }
            }
        }
    }

    /// Frees `slot` of `user` if `connection_id` still holds it (it may have been reclaimed
    /// after expiring).
    async fn release_slot(&self, user: &str, slot: &str, connection_id: &str) -> Result<(), Error> {
        let released = self
            .client
            .delete_item()
            .table_name(&self.user_slots_table)
            .key(USER_ID, AttributeValue::S(user.to_owned()))
            .key(SLOT, AttributeValue::N(slot.to_owned()))
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", ID)
            .expression_attribute_values(":id", AttributeValue::S(connection_id.to_owned()))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(unavailable("DeleteItem", &self.user_slots_table, err)),
        }
    }

    /// A new connection's item (refused if the id is stored) and its subscription rows.
    fn new_connection_writes(
        &self,
        item: HashMap<String, AttributeValue>,
        connection: &Connection,
    ) -> Result<Vec<TransactWriteItem>, Error> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(connectionId)")
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for channel in &connection.channels {
            items.push(self.subscription_put(
                channel,
                &connection.connection_id,
                connection.expires_at,
            )?);
        }
        Ok(items)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    fn subscription_put(
        &self,
        channel: &str,
        connection_id: &str,
        expires_at: i64,
    ) -> Result<TransactWriteItem, Error> {
        let mut item = subscription_key(channel, connection_id);
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        );
        let put = built(
            Put::builder()
                .table_name(&self.subscriptions_table)
                .set_item(Some(item))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The connection item and its subscription rows in one transaction (at most 100 items, so
    /// the handlers bound channels per connection well below that).
    async fn put_with_subscriptions(&self, connection: Connection) -> Result<(), Error> {
        let items = self.new_connection_writes(to_item(&connection), &connection)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(err) if first_condition_failed(&err) => Err(Error::Conflict(format!(
                "connection {} is already stored",
                connection.connection_id
            ))),
            Err(err) => Err(self.unavailable("TransactWriteItems", err)),
        }
    }

    /// Removes `connection_id`'s rows for `channels`, 25 per request, retrying what DynamoDB
    /// leaves unprocessed.
    async fn delete_subscription_rows(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let requests: Vec<WriteRequest> = channels
            .iter()
            .map(|channel| {
                let delete = built(
                    DeleteRequest::builder()
                        .set_key(Some(subscription_key(channel, connection_id)))
                        .build(),
                )?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, Error>>()?;
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            for attempt in 0..5u32 {
                let written = self
                    .client
                    .batch_write_item()
                    .request_items(&self.subscriptions_table, pending)
                    .send()
                    .await
                    .map_err(|err| unavailable("BatchWriteItem", &self.subscriptions_table, err))?;
                pending = written
                    .unprocessed_items()
                    .and_then(|left| left.get(&self.subscriptions_table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            if !pending.is_empty() {
                return Err(Error::StoreUnavailable(format!(
                    "DynamoDB left {} subscription rows of {connection_id} unprocessed",
                    pending.len()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::sample_connection;

    #[test]
    fn items_round_trip() {
        let mut connection = sample_connection("Vb7rKfZ-joECH_A=");
        assert_eq!(from_item(&to_item(&connection)).unwrap(), connection);
        connection.user_id = Some("user-7".into());
        connection.channels = ["news".to_string(), "post:42".to_string()].into();
        connection.claims = [("email".to_string(), "ada@example.com".to_string())].into();
        connection.channel_grants = Some(Default::default());
        let item = to_item(&connection);
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N(connection.expires_at.to_string())
        );
        assert_eq!(from_item(&item).unwrap(), connection);
    }
}
