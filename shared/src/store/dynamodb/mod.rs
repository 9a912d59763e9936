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
//!
//! A refused handshake's status is kept a minute in the slots table too (see [`handshakes`]).
//!
//! The modules: [`schema`] creates the tables, [`item`] maps a connection to its item and back,
//! [`errors`] classifies what DynamoDB refused, [`slots`] and [`transactions`] hold the
//! multi-item writes, and [`store`] implements [`super::ConnectionStore`] with them.

pub(crate) mod errors;
mod handshakes;
mod item;
pub(crate) mod schema;
mod slots;
mod store;
mod transactions;

use super::table::TableDefinition;
use crate::Error;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;
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

    /// A [`Error::StoreUnavailable`] naming the connections table.
    fn unavailable<E>(&self, operation: &str, err: SdkError<E>) -> Error
    where
        E: std::error::Error + 'static,
    {
        errors::unavailable(operation, &self.table, err)
    }
}
