//! Broadcast progress in DynamoDB (`infra/broadcasts-table.json`): per broadcast a job item
//! whose counters grow by atomic `ADD`s, and an item per shard holding its cursor and the page
//! claimed. A claim is a conditional update (the cursor still where the worker read it, no page
//! claimed, the shard not done); a completion is one transaction: the shard's claim cleared
//! (conditional on the worker's token) and its cursor moved, with the counters added to the job.
//! The completion that finishes the last shard then sets `completedAt` conditionally, so exactly
//! one worker learns that the broadcast is complete.

use super::memory::report;
use super::{AsyncReport, BroadcastJob, BroadcastProgress, Claim, PageTally, ShardProgress};
use crate::Error;
use crate::store::dynamodb::errors::{
    built, cancellation_codes, condition_failed, condition_failed_at, unavailable,
};
use crate::store::table::TableDefinition;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::HashMap;

const ID: &str = "broadcastId";
const ITEM: &str = "item";
const JOB: &str = "job";
/// A broadcast's items go a week after it starts.
const TTL_SECONDS: i64 = 7 * 86_400;
const COUNTERS: [&str; 8] = [
    "connectionCount",
    "sent",
    "gone",
    "failed",
    "unconfirmed",
    "throttleRetries",
    "throttledMs",
    "shardsDone",
];

/// The default table name, from `infra/broadcasts-table.json`.
pub const BROADCASTS_TABLE_ENV: &str = "BROADCASTS_TABLE";

#[derive(Clone, Debug)]
pub struct DynamoDbBroadcasts {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn shard_key(shard: u32) -> String {
    format!("shard#{shard:06}")
}

fn expires_at() -> i64 {
    (crate::time::now_epoch_ms() / 1000) + TTL_SECONDS
}

fn conflict(id: &str, shard: u32, what: &str) -> Error {
    Error::Conflict(format!("shard {shard} of broadcast {id}: {what}"))
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(0)
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|value| value.as_s().ok()).cloned()
}

impl DynamoDbBroadcasts {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table named by [`BROADCASTS_TABLE_ENV`], else the definition's default.
    pub fn from_env(client: Client) -> Result<Self, Error> {
        let table = match std::env::var(BROADCASTS_TABLE_ENV) {
            Ok(name) if !name.trim().is_empty() => name,
            _ => TableDefinition::broadcasts()?.default_table_name,
        };
        Ok(Self::new(client, table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from `infra/broadcasts-table.json` unless it exists. For local
    /// development and tests; production tables come from the template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        crate::store::dynamodb::schema::create_if_missing(
            &self.client,
            &self.table,
            &TableDefinition::broadcasts()?,
        )
        .await
    }

    async fn item(
        &self,
        id: &str,
        item: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID, s(id))
            .key(ITEM, s(item))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &self.table, err))?;
        Ok(output.item)
    }

    /// Marks the broadcast completed unless someone did: `true` for the one who did.
    async fn mark_completed(&self, id: &str) -> Result<bool, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, s(id))
            .key(ITEM, s(JOB))
            .update_expression("SET completedAt = :now")
            .condition_expression("attribute_not_exists(completedAt)")
            .expression_attribute_values(":now", n(crate::time::now_epoch_ms() / 1000))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(unavailable("UpdateItem", &self.table, err)),
        }
    }
}

fn job_of(item: &HashMap<String, AttributeValue>) -> Option<BroadcastJob> {
    Some(BroadcastJob {
        id: text(item, ID)?,
        channel: text(item, "channel"),
        data: text(item, "data")?,
        seq: item.contains_key("seq").then(|| number(item, "seq")),
        epoch: text(item, "epoch"),
        shard_count: u32::try_from(number(item, "shardCount")).ok()?,
    })
}

#[async_trait]
impl BroadcastProgress for DynamoDbBroadcasts {
    async fn create(&self, job: &BroadcastJob) -> Result<(), Error> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ID, s(&job.id))
            .item(ITEM, s(JOB))
            .item("data", s(&job.data))
            .item("shardCount", n(job.shard_count))
            .item("expiresAt", n(expires_at()))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", ID);
        for counter in COUNTERS {
            request = request.item(counter, n(0));
        }
        if let Some(channel) = &job.channel {
            request = request.item("channel", s(channel));
        }
        if let Some(seq) = job.seq {
            request = request.item("seq", n(seq));
        }
        if let Some(epoch) = &job.epoch {
            request = request.item("epoch", s(epoch));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                Err(Error::Conflict(format!("broadcast {} exists", job.id)))
            }
            Err(err) => Err(unavailable("PutItem", &self.table, err)),
        }
    }

    async fn job(&self, id: &str) -> Result<Option<BroadcastJob>, Error> {
        Ok(self.item(id, JOB).await?.as_ref().and_then(job_of))
    }

    async fn shard(&self, id: &str, shard: u32) -> Result<ShardProgress, Error> {
        let Some(item) = self.item(id, &shard_key(shard)).await? else {
            return Ok(ShardProgress::default());
        };
        let claim = text(&item, "claimToken").map(|token| Claim {
            token,
            ids: item
                .get("claimIds")
                .and_then(|value| value.as_l().ok())
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| id.as_s().ok().cloned())
                        .collect()
                })
                .unwrap_or_default(),
            next: text(&item, "claimNext"),
            last: item
                .get("claimLast")
                .and_then(|value| value.as_bool().ok())
                .copied()
                .unwrap_or(false),
        });
        Ok(ShardProgress {
            cursor: text(&item, "cursor"),
            claim,
            done: item
                .get("done")
                .and_then(|value| value.as_bool().ok())
                .copied()
                .unwrap_or(false),
        })
    }

    async fn claim(
        &self,
        id: &str,
        shard: u32,
        from: Option<&str>,
        claim: &Claim,
    ) -> Result<(), Error> {
        let mut set = vec![
            "claimToken = :token",
            "claimIds = :ids",
            "claimLast = :last",
            "expiresAt = :expires",
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, s(id))
            .key(ITEM, s(shard_key(shard)))
            .expression_attribute_values(":token", s(&claim.token))
            .expression_attribute_values(
                ":ids",
                AttributeValue::L(claim.ids.iter().map(s).collect()),
            )
            .expression_attribute_values(":last", AttributeValue::Bool(claim.last))
            .expression_attribute_values(":expires", n(expires_at()));
        let mut remove = "";
        match &claim.next {
            Some(next) => {
                set.push("claimNext = :next");
                request = request.expression_attribute_values(":next", s(next));
            }
            None => remove = " REMOVE claimNext",
        }
        let at_cursor = match from {
            Some(from) => {
                request = request.expression_attribute_values(":from", s(from));
                "#cursor = :from"
            }
            None => "attribute_not_exists(#cursor)",
        };
        let result = request
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            .condition_expression(format!(
                "attribute_not_exists(claimToken) AND attribute_not_exists(done) AND {at_cursor}"
            ))
            .expression_attribute_names("#cursor", "cursor")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(conflict(id, shard, "moved on")),
            Err(err) => Err(unavailable("UpdateItem", &self.table, err)),
        }
    }

    async fn complete(
        &self,
        id: &str,
        shard: u32,
        token: &str,
        tally: &PageTally,
    ) -> Result<bool, Error> {
        let progress = self.shard(id, shard).await?;
        let claim = match progress.claim {
            Some(claim) if claim.token == token => claim,
            _ => return Err(conflict(id, shard, "not claimed by this worker")),
        };
        let (shard_update, shard_values) = match (&claim.next, claim.last) {
            (_, true) => (
                "SET done = :true",
                vec![(":true", AttributeValue::Bool(true))],
            ),
            (Some(next), false) => ("SET #cursor = :next", vec![(":next", s(next))]),
            (None, false) => ("REMOVE #cursor", vec![]),
        };
        let mut update_shard = Update::builder()
            .table_name(&self.table)
            .key(ID, s(id))
            .key(ITEM, s(shard_key(shard)))
            .update_expression(format!(
                "{shard_update} REMOVE claimToken, claimIds, claimNext, claimLast"
            ))
            .condition_expression("claimToken = :token")
            .expression_attribute_values(":token", s(token));
        if shard_update.contains("#cursor") {
            update_shard = update_shard.expression_attribute_names("#cursor", "cursor");
        }
        for (name, value) in shard_values {
            update_shard = update_shard.expression_attribute_values(name, value);
        }
        let amounts = [
            tally.connection_count,
            tally.sent,
            tally.gone,
            tally.failed,
            tally.unconfirmed,
            tally.throttle_retries,
            tally.throttled_ms,
            u64::from(claim.last),
        ];
        let mut add = Vec::new();
        let mut update_job = Update::builder()
            .table_name(&self.table)
            .key(ID, s(id))
            .key(ITEM, s(JOB))
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", ID);
        for (index, (counter, amount)) in COUNTERS.iter().zip(amounts).enumerate() {
            add.push(format!("{counter} :a{index}"));
            update_job = update_job.expression_attribute_values(format!(":a{index}"), n(amount));
        }
        let update_job = update_job.update_expression(format!("ADD {}", add.join(", ")));
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(built(update_shard.build())?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(built(update_job.build())?)
                    .build(),
            )
            .send()
            .await;
        if let Err(err) = result {
            let codes = cancellation_codes(&err);
            if condition_failed_at(&codes, 0) {
                return Err(conflict(id, shard, "not claimed by this worker"));
            }
            return Err(unavailable("TransactWriteItems", &self.table, err));
        }
        if !claim.last {
            return Ok(false);
        }
        let Some(item) = self.item(id, JOB).await? else {
            return Ok(false);
        };
        if number(&item, "shardsDone") >= number(&item, "shardCount") {
            return self.mark_completed(id).await;
        }
        Ok(false)
    }

    async fn report(&self, id: &str) -> Result<Option<AsyncReport>, Error> {
        let Some(item) = self.item(id, JOB).await? else {
            return Ok(None);
        };
        let Some(job) = job_of(&item) else {
            return Ok(None);
        };
        let totals = PageTally {
            connection_count: number(&item, "connectionCount"),
            sent: number(&item, "sent"),
            gone: number(&item, "gone"),
            failed: number(&item, "failed"),
            unconfirmed: number(&item, "unconfirmed"),
            throttle_retries: number(&item, "throttleRetries"),
            throttled_ms: number(&item, "throttledMs"),
        };
        let shards_done = u32::try_from(number(&item, "shardsDone")).unwrap_or(u32::MAX);
        Ok(Some(report(&job, &totals, shards_done)))
    }
}
