//! Presence in DynamoDB: one table (`infra/presence-table.json`) keyed by `channel` and
//! `userId`. A member is one item: `connections` (a string set of the user's connection ids in
//! the channel), `joinedAt`, `info` (JSON text), and while the last connection is gone
//! `leaveToken` and `expiresAt`.
//!
//! Each step is one conditional `UpdateItem`/`DeleteItem` of that one item, which DynamoDB
//! applies atomically, so no multi-item transaction is needed and none can half-apply:
//! * join: `ADD connections :id`, `joinedAt` if not set, `REMOVE leaveToken, expiresAt`,
//!   returning the old item: of any number of concurrent first joins exactly one finds none;
//! * leave: `DELETE connections :id` on condition the set holds it, returning the new item:
//!   exactly one of concurrent leaves empties the set; that one then sets a fresh `leaveToken`
//!   on condition the set is still empty (a join in between withdraws the leave);
//! * the delayed check: `DeleteItem` on condition the set is empty and the token unchanged, so a
//!   check delivered twice, or after a return, removes nobody twice.
//!
//! A member whose check never ran (a lost timer) expires through `expiresAt`, an hour after the
//! grace period; until TTL deletes it, a join treats an expired item as absent.

use super::{Left, Member, MemberPage, PresenceStore, new_token};
use crate::Error;
use crate::settings::PresenceSettings;
use crate::store::dynamodb::errors::{condition_failed, unavailable};
use crate::store::table::TableDefinition;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::Value;
use std::collections::HashMap;

const CHANNEL: &str = "channel";
const USER: &str = "userId";
const CONNECTIONS: &str = "connections";
const JOINED_AT: &str = "joinedAt";
const INFO: &str = "info";
const LEAVE_TOKEN: &str = "leaveToken";
const EXPIRES_AT: &str = "expiresAt";
/// How long past its grace period an unconfirmed leave's item lingers before TTL takes it.
const LINGER_SECONDS: u64 = 3600;

#[derive(Clone, Debug)]
pub struct DynamoDbPresence {
    client: Client,
    table: String,
    grace_seconds: u64,
}

type Item = HashMap<String, AttributeValue>;

impl DynamoDbPresence {
    pub fn new(client: Client, settings: &PresenceSettings) -> Self {
        Self {
            client,
            table: settings.table.clone(),
            grace_seconds: settings.leave_grace_seconds,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from `infra/presence-table.json` unless it exists. For local
    /// development and tests; production tables come from the template.
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        crate::store::dynamodb::schema::create_if_missing(
            &self.client,
            &self.table,
            &TableDefinition::presence()?,
        )
        .await
    }

    fn key(channel: &str, user: &str) -> Item {
        HashMap::from([
            (CHANNEL.to_owned(), AttributeValue::S(channel.to_owned())),
            (USER.to_owned(), AttributeValue::S(user.to_owned())),
        ])
    }

    fn unavailable<E: std::error::Error + 'static>(
        &self,
        operation: &str,
        err: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Error {
        unavailable(operation, &self.table, err)
    }
}

#[async_trait]
impl PresenceStore for DynamoDbPresence {
    async fn join(
        &self,
        channel: &str,
        user: &str,
        connection_id: &str,
        info: Option<&Value>,
    ) -> Result<Option<Member>, Error> {
        let now_ms = crate::time::now_epoch_ms();
        let mut set = "#joinedAt = if_not_exists(#joinedAt, :now)".to_owned();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, user)))
            .expression_attribute_names("#connections", CONNECTIONS)
            .expression_attribute_names("#joinedAt", JOINED_AT)
            .expression_attribute_names("#leaveToken", LEAVE_TOKEN)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![connection_id.to_owned()]))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .return_values(ReturnValue::AllOld);
        if let Some(info) = info {
            set.push_str(", #info = :info");
            update = update
                .expression_attribute_names("#info", INFO)
                .expression_attribute_values(":info", AttributeValue::S(info.to_string()));
        }
        let written = update
            .update_expression(format!(
                "SET {set} ADD #connections :id REMOVE #leaveToken, #expiresAt"
            ))
            .send()
            .await
            .map_err(|err| self.unavailable("UpdateItem", err))?;
        let first = match written.attributes() {
            None => true,
            Some(old) if old.is_empty() => true,
            // A leave whose check never ran, past its TTL (deletion is lazy): gone already.
            Some(old) => {
                !old.contains_key(CONNECTIONS)
                    && number(old, EXPIRES_AT).is_some_and(|at| at <= now_ms.div_euclid(1000))
            }
        };
        // The first join wrote `joinedAt` (unless a lingering expired item had one).
        let joined_at = written
            .attributes()
            .and_then(|old| number(old, JOINED_AT))
            .unwrap_or(now_ms);
        Ok(first.then(|| Member {
            user: user.to_owned(),
            connections: 1,
            joined_at,
            info: info.cloned(),
        }))
    }

    async fn leave(&self, channel: &str, user: &str, connection_id: &str) -> Result<Left, Error> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, user)))
            .update_expression("DELETE #connections :id")
            .condition_expression("contains(#connections, :one)")
            .expression_attribute_names("#connections", CONNECTIONS)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![connection_id.to_owned()]))
            .expression_attribute_values(":one", AttributeValue::S(connection_id.to_owned()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let remaining = match removed {
            Ok(written) => written
                .attributes()
                .is_some_and(|item| item.contains_key(CONNECTIONS)),
            Err(err) if condition_failed(&err) => return Ok(Left::NotMember),
            Err(err) => return Err(self.unavailable("UpdateItem", err)),
        };
        if remaining {
            return Ok(Left::Remaining);
        }
        // The set went empty (DynamoDB drops an empty set): the pending leave, unless a join
        // came in between.
        let token = new_token();
        let expires_at = crate::time::now_epoch_ms().div_euclid(1000)
            + (self.grace_seconds + LINGER_SECONDS) as i64;
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, user)))
            .update_expression("SET #leaveToken = :token, #expiresAt = :expires")
            .condition_expression(
                "attribute_exists(#userId) AND attribute_not_exists(#connections)",
            )
            .expression_attribute_names("#leaveToken", LEAVE_TOKEN)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_names("#userId", USER)
            .expression_attribute_names("#connections", CONNECTIONS)
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        match marked {
            Ok(_) => Ok(Left::Last { token }),
            Err(err) if condition_failed(&err) => Ok(Left::Remaining),
            Err(err) => Err(self.unavailable("UpdateItem", err)),
        }
    }

    async fn confirm_leave(&self, channel: &str, user: &str, token: &str) -> Result<bool, Error> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(channel, user)))
            .condition_expression("attribute_not_exists(#connections) AND #leaveToken = :token")
            .expression_attribute_names("#connections", CONNECTIONS)
            .expression_attribute_names("#leaveToken", LEAVE_TOKEN)
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(self.unavailable("DeleteItem", err)),
        }
    }

    async fn members(
        &self,
        channel: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MemberPage, Error> {
        let wanted = limit.saturating_add(1);
        let mut members = Vec::new();
        let mut start = after.map(|after| Self::key(channel, after));
        // DynamoDB pages by size as well as by count: read on until one more than asked.
        while members.len() < wanted {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#channel = :channel")
                .expression_attribute_names("#channel", CHANNEL)
                .expression_attribute_values(":channel", AttributeValue::S(channel.to_owned()))
                .limit(i32::try_from(wanted - members.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| self.unavailable("Query", err))?;
            for item in page.items() {
                members.push(member(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        let next = if members.len() > limit {
            members.truncate(limit);
            members.last().map(|member| member.user.clone())
        } else {
            None
        };
        Ok(MemberPage { members, next })
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|raw| raw.parse().ok())
}

fn member(item: &Item) -> Result<Member, Error> {
    let malformed = |what: &str| Error::StoreUnavailable(format!("presence item lacks {what}"));
    Ok(Member {
        user: item
            .get(USER)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .ok_or_else(|| malformed(USER))?,
        connections: item
            .get(CONNECTIONS)
            .and_then(|value| value.as_ss().ok())
            .map_or(0, Vec::len),
        joined_at: number(item, JOINED_AT).ok_or_else(|| malformed(JOINED_AT))?,
        info: item
            .get(INFO)
            .and_then(|value| value.as_s().ok())
            .and_then(|raw| serde_json::from_str(raw).ok()),
    })
}
