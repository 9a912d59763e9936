//! The per-user connection limit: a connect claims a free slot of its user and writes its
//! connection in one transaction.

use super::DynamoDbStore;
use super::errors::{
    built, cancellation_codes, condition_failed, condition_failed_at, conflicted, unavailable,
};
use super::item::{EXPIRES_AT, ID, SLOT, USER_ID, USER_SLOT, to_item};
use crate::Error;
use crate::store::{Connection, already_stored};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;

/// What became of one attempt to claim a user slot.
pub(super) enum SlotClaim {
    Claimed,
    Taken,
    Contended,
}

/// A few milliseconds that differ between competing connects, so their retries spread out.
pub(super) fn jitter_ms(id: &str, attempt: u32) -> u8 {
    id.bytes().fold(attempt as u8, |acc, byte| {
        acc.wrapping_mul(31).wrapping_add(byte)
    }) % 40
}

impl DynamoDbStore {
    /// One transaction: the slot (free, or held by a connection that has expired), the
    /// connection item naming its slot, and its subscription rows.
    pub(super) async fn put_in_slot(
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
                    Err(already_stored(&connection.connection_id))
                } else if condition_failed_at(&codes, 0) {
                    Ok(SlotClaim::Taken)
                } else if conflicted(&codes) {
                    Ok(SlotClaim::Contended)
                } else {
                    Err(self.unavailable("TransactWriteItems", err))
                }
            }
        }
    }

    /// Frees `slot` of `user` if `connection_id` still holds it (it may have been reclaimed
    /// after expiring).
    pub(super) async fn release_slot(
        &self,
        user: &str,
        slot: &str,
        connection_id: &str,
    ) -> Result<(), Error> {
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
}
