//! [`ConnectionStore`] on the three tables.

use super::DynamoDbStore;
use super::errors::{
    built, cancellation_codes, condition_failed, conflicted, first_condition_failed, unavailable,
};
use super::item::{
    BY_USER_INDEX, CHANNEL, CHANNELS, ID, RATE_COUNT, RATE_WINDOW, USER_ID, USER_SLOT, channels_of,
    connection_key, from_item, id_of, string_set, subscription_key, to_item,
};
use super::slots::{SlotClaim, jitter_ms};
use crate::Error;
use crate::store::{
    ChannelCounts, Connection, ConnectionPage, ConnectionStore, Segment, already_stored,
    not_stored, too_many_channels, too_many_connections,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Select, TransactWriteItem, Update};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::time::Duration;

/// Attempts of a subscribe whose transaction keeps losing races.
const SUBSCRIBE_ATTEMPTS: u32 = 8;

impl DynamoDbStore {
    async fn count_segment(&self, segment: Segment) -> Result<u64, Error> {
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
        let mut pages = scan.into_paginator().send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.unavailable("Scan", err))?;
            total += u64::try_from(page.count()).unwrap_or(0);
        }
        Ok(total)
    }

    /// One attempt of [`ConnectionStore::subscribe`]; `None` when its transaction lost a race.
    async fn try_subscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
        max_channels: usize,
    ) -> Result<Option<BTreeSet<String>>, Error> {
        let current = self.stored(connection_id).await?;
        let new: BTreeSet<String> = channels.difference(&current.channels).cloned().collect();
        if new.is_empty() {
            return Ok(Some(current.channels));
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
            Ok(()) => Ok(Some(current.channels.union(&new).cloned().collect())),
            Err(err) if first_condition_failed(&err) => match self.get(connection_id).await? {
                None => Err(not_stored(connection_id)),
                Some(_) => Err(too_many()),
            },
            Err(err) if conflicted(&cancellation_codes(&err)) => Ok(None),
            Err(err) => Err(self.unavailable("TransactWriteItems", err)),
        }
    }

    /// The connection's row, or [`Error::NotFound`].
    async fn stored(&self, connection_id: &str) -> Result<Connection, Error> {
        self.get(connection_id)
            .await?
            .ok_or_else(|| not_stored(connection_id))
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
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
            Err(err) if condition_failed(&err) => Err(already_stored(&connection.connection_id)),
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
        // The subscription rows go first, then the row: a process stopped between the two (a
        // gateway shutting down, a Lambda timing out) leaves the row, which the next 410 or
        // `$disconnect` removes whole, never a subscription without its connection (counted and
        // listed until its TTL).
        let Some(listed) = self.get(connection_id).await? else {
            return Ok(false);
        };
        self.delete_subscription_rows(connection_id, &listed.channels)
            .await?;
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
        // A subscribe between the read and the delete added channels: their rows go now.
        let late: BTreeSet<String> = channels_of(old)
            .difference(&listed.channels)
            .cloned()
            .collect();
        if !late.is_empty() {
            self.delete_subscription_rows(connection_id, &late).await?;
        }
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
        // Concurrent subscribes of one connection can cancel each other's transactions
        // (`TransactionConflict`); the loser starts again from a fresh read, so it ends accepted
        // or over the bound, as the contract says, rather than as an outage.
        for attempt in 0..SUBSCRIBE_ATTEMPTS {
            if let Some(joined) = self
                .try_subscribe(connection_id, channels, max_channels)
                .await?
            {
                return Ok(joined);
            }
            let jitter = RandomState::new().hash_one(attempt) % 40;
            tokio::time::sleep(Duration::from_millis(10 + jitter)).await;
        }
        Err(Error::StoreUnavailable(format!(
            "could not subscribe {connection_id}: too much contention"
        )))
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
        let mut pages = self
            .client
            .query()
            .table_name(&self.subscriptions_table)
            .key_condition_expression("#channel = :channel")
            .expression_attribute_names("#channel", CHANNEL)
            .expression_attribute_values(":channel", AttributeValue::S(channel.to_owned()))
            .select(Select::Count)
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| unavailable("Query", &self.subscriptions_table, err))?;
            total += u64::try_from(page.count()).unwrap_or(0);
        }
        Ok(total)
    }

    async fn channel_counts(&self, limit: usize) -> Result<ChannelCounts, Error> {
        // A Scan of the subscriptions table (not of the connections): its cost grows with the
        // number of subscriptions, which is why `/stats` is an operator's tool, not a hot path.
        let mut items = self
            .client
            .scan()
            .table_name(&self.subscriptions_table)
            .projection_expression("#channel")
            .expression_attribute_names("#channel", CHANNEL)
            .into_paginator()
            .items()
            .send();
        let mut counts: HashMap<String, u64> = HashMap::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|err| unavailable("Scan", &self.subscriptions_table, err))?;
            if let Some(AttributeValue::S(channel)) = item.get(CHANNEL) {
                *counts.entry(channel.clone()).or_default() += 1;
            }
        }
        Ok(ChannelCounts::top(counts, limit))
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
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", USER_ID)
            .expression_attribute_values(":user", AttributeValue::S(user_id.to_owned()))
            .into_paginator()
            .items()
            .send();
        let mut ids = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|err| self.unavailable("Query", err))?;
            ids.extend(id_of(&item));
        }
        Ok(ids)
    }

    async fn record_refused_handshake(
        &self,
        attempt_id: &str,
        status: u16,
        expires_at: i64,
    ) -> Result<(), Error> {
        self.put_refused_handshake(attempt_id, status, expires_at)
            .await
    }

    async fn refused_handshake(&self, attempt_id: &str) -> Result<Option<u16>, Error> {
        self.get_refused_handshake(attempt_id).await
    }
}
