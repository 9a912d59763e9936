//! History in DynamoDB: one table (`infra/history-table.json`) keyed by `channel` and `seq`.
//! A message is the item `(channel, seq ≥ 1)` with `data`, `epoch` and `expiresAt` (its TTL);
//! the channel's counter is the item `(channel, 0)` with `latest`, `epoch` and `expiresAt` (a
//! day after the last publish, or the message TTL if longer).
//!
//! A publish reads the counter (strongly consistent) and writes one transaction: the counter
//! moved from the value read to the next, and the message put under that number. A concurrent
//! publisher makes the condition fail; the loser reads again and retries with jittered backoff.
//! So a number is taken exactly when its message is stored, and a failed publish takes none.
//! Reads filter `expiresAt` (TTL deletion is lazy) and the epoch (an expired counter's old
//! messages may linger under a new one), and trim by count logically.

use super::{ChannelHistory, Entry, Needed, Position, Replay, complete, needed, new_epoch};
use crate::Error;
use crate::settings::HistorySettings;
use crate::store::dynamodb::errors::{
    built, cancellation_codes, condition_failed_at, conflicted, unavailable,
};
use crate::store::table::TableDefinition;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "channel";
const SEQ: &str = "seq";
const DATA: &str = "data";
const EPOCH: &str = "epoch";
const LATEST: &str = "latest";
const EXPIRES_AT: &str = "expiresAt";
/// A quiet channel's counter goes away a day after its last publish (a new one: a new epoch).
const COUNTER_TTL_SECONDS: u64 = 86_400;
/// Attempts of a publish that keeps losing races to other publishers before it answers 503.
const MAX_ATTEMPTS: u32 = 12;

#[derive(Clone, Debug)]
pub struct DynamoDbHistory {
    client: Client,
    table: String,
    ttl_seconds: u64,
    max_messages: usize,
}

/// The counter item as read.
struct Counter {
    latest: u64,
    epoch: String,
    expires_at: i64,
}

impl DynamoDbHistory {
    pub fn new(client: Client, settings: &HistorySettings) -> Self {
        Self {
            client,
            table: settings.table.clone(),
            ttl_seconds: settings.ttl_seconds,
            max_messages: settings.max_messages.max(1),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from `infra/history-table.json` unless it exists. For local
    /// development and tests; production tables come from the template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        crate::store::dynamodb::schema::create_if_missing(
            &self.client,
            &self.table,
            &TableDefinition::history()?,
        )
        .await
    }

    fn unavailable_error<E>(
        &self,
        operation: &str,
        err: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Error
    where
        E: std::error::Error + 'static,
    {
        match unavailable(operation, &self.table, err) {
            Error::StoreUnavailable(reason) => Error::HistoryUnavailable(reason),
            other => other,
        }
    }

    fn key(channel: &str, seq: u64) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (CHANNEL.to_owned(), AttributeValue::S(channel.to_owned())),
            (SEQ.to_owned(), AttributeValue::N(seq.to_string())),
        ])
    }

    async fn counter(&self, channel: &str) -> Result<Option<Counter>, Error> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, 0)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.unavailable_error("GetItem", err))?;
        let Some(item) = read.item() else {
            return Ok(None);
        };
        Ok(Some(Counter {
            latest: number(item, LATEST)?,
            epoch: string(item, EPOCH)?,
            expires_at: number(item, EXPIRES_AT)?,
        }))
    }

    /// The live counter's position, or the origin when there is none (or it expired).
    async fn live_position(&self, channel: &str) -> Result<Position, Error> {
        let now = now_seconds();
        Ok(match self.counter(channel).await? {
            Some(counter) if counter.expires_at > now => {
                Position::new(counter.latest, counter.epoch)
            }
            _ => Position::default(),
        })
    }

    /// The kept messages `from..=to` of `epoch`, ascending.
    async fn read(
        &self,
        channel: &str,
        epoch: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, Error> {
        let now = now_seconds();
        let mut entries = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#channel = :channel AND #seq BETWEEN :from AND :to")
                .filter_expression("#expiresAt > :now AND #epoch = :epoch")
                .projection_expression("#seq, #data")
                .expression_attribute_names("#channel", CHANNEL)
                .expression_attribute_names("#seq", SEQ)
                .expression_attribute_names("#data", DATA)
                .expression_attribute_names("#epoch", EPOCH)
                .expression_attribute_names("#expiresAt", EXPIRES_AT)
                .expression_attribute_values(":channel", AttributeValue::S(channel.to_owned()))
                .expression_attribute_values(":from", AttributeValue::N(from.to_string()))
                .expression_attribute_values(":to", AttributeValue::N(to.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .expression_attribute_values(":epoch", AttributeValue::S(epoch.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| self.unavailable_error("Query", err))?;
            for item in page.items() {
                entries.push(Entry {
                    seq: number(item, SEQ)?,
                    data: Arc::from(string(item, DATA)?),
                });
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(entries),
            }
        }
    }

    /// One try at taking the next number: `Ok(None)` when another publisher won the race.
    async fn try_append(&self, channel: &str, data: &str) -> Result<Option<Position>, Error> {
        let now = now_seconds();
        let read = self.counter(channel).await?;
        let (next, epoch) = match &read {
            Some(counter) if counter.expires_at > now => {
                (counter.latest + 1, counter.epoch.clone())
            }
            // None yet, or expired (TTL deletion is lazy): a new numbering.
            _ => (1, new_epoch()),
        };
        let counter_expires = now + COUNTER_TTL_SECONDS.max(self.ttl_seconds) as i64;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, 0)))
            .update_expression("SET #latest = :next, #epoch = :epoch, #expiresAt = :expires")
            .expression_attribute_names("#latest", LATEST)
            .expression_attribute_names("#epoch", EPOCH)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
            .expression_attribute_values(":epoch", AttributeValue::S(epoch.clone()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(counter_expires.to_string()),
            );
        update = match &read {
            Some(counter) => update
                .condition_expression("#latest = :read AND #epoch = :readEpoch")
                .expression_attribute_values(":read", AttributeValue::N(counter.latest.to_string()))
                .expression_attribute_values(
                    ":readEpoch",
                    AttributeValue::S(counter.epoch.clone()),
                ),
            None => update.condition_expression("attribute_not_exists(#latest)"),
        };
        let mut item = Self::key(channel, next);
        item.insert(DATA.to_owned(), AttributeValue::S(data.to_owned()));
        item.insert(EPOCH.to_owned(), AttributeValue::S(epoch.clone()));
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires_at(self.ttl_seconds).to_string()),
        );
        // An item of an older epoch at that number may linger until TTL deletes it.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#seq) OR #epoch <> :epoch")
            .expression_attribute_names("#seq", SEQ)
            .expression_attribute_names("#epoch", EPOCH)
            .expression_attribute_values(":epoch", AttributeValue::S(epoch.clone()));
        let items = vec![
            TransactWriteItem::builder()
                .update(built(update.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(built(put.build())?)
                .build(),
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Some(Position::new(next, epoch))),
            Err(err) => {
                let codes = cancellation_codes(&err);
                if conflicted(&codes)
                    || condition_failed_at(&codes, 0)
                    || condition_failed_at(&codes, 1)
                {
                    Ok(None)
                } else {
                    Err(self.unavailable_error("TransactWriteItems", err))
                }
            }
        }
    }
}

#[async_trait]
impl ChannelHistory for DynamoDbHistory {
    async fn append(&self, channel: &str, data: &str) -> Result<Position, Error> {
        for attempt in 0..MAX_ATTEMPTS {
            if let Some(position) = self.try_append(channel, data).await? {
                return Ok(position);
            }
            // Jittered, growing: contending publishers spread out instead of colliding again.
            let ceiling = 10u64 << attempt.min(5);
            let pause = ceiling / 2 + rand::random::<u64>() % (ceiling / 2 + 1);
            tracing::debug!(%channel, attempt, pause_ms = pause, "history counter contended; retrying");
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Err(Error::HistoryUnavailable(format!(
            "the counter of {channel:?} in table {} stayed contended over {MAX_ATTEMPTS} attempts",
            self.table
        )))
    }

    async fn latest(&self, channel: &str) -> Result<Position, Error> {
        self.live_position(channel).await
    }

    async fn replay(&self, channel: &str, since: &Position) -> Result<Replay, Error> {
        // The counter first: every number up to it was stored before it was handed out.
        let latest = self.live_position(channel).await?;
        Ok(match needed(latest, since, self.max_messages) {
            Needed::Answer(replay) => replay,
            Needed::Messages { latest, from } => {
                let kept = self.read(channel, &latest.epoch, from, latest.seq).await?;
                complete(latest, from, kept)
            }
        })
    }
}

fn now_seconds() -> i64 {
    crate::time::now_epoch_ms().div_euclid(1000)
}

/// `ttl_seconds` from now, rounded up to a whole second: kept at least that long.
fn expires_at(ttl_seconds: u64) -> i64 {
    let ms = crate::time::now_epoch_ms() + (ttl_seconds as i64).saturating_mul(1000);
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
}

fn number<T: std::str::FromStr>(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<T, Error> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| Error::HistoryUnavailable(format!("history item lacks the number {name}")))
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Result<String, Error> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .cloned()
        .ok_or_else(|| Error::HistoryUnavailable(format!("history item lacks the string {name}")))
}
