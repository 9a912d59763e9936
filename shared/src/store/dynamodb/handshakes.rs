//! Refused handshakes, kept a minute in the user-slots table: short-lived items with a TTL under
//! the partition key `handshake#<attempt id>` and slot -1, which no user's slot ever is (slots
//! count from 0), so they cannot collide with a user's slots. The table has no stream and is
//! never scanned, so these rows touch nothing else.

use super::DynamoDbStore;
use super::errors::unavailable;
use super::item::{EXPIRES_AT, SLOT, USER_ID};
use crate::Error;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const STATUS: &str = "status";
const HANDSHAKE_SLOT: &str = "-1";

fn key(attempt_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            USER_ID.to_owned(),
            AttributeValue::S(format!("handshake#{attempt_id}")),
        ),
        (
            SLOT.to_owned(),
            AttributeValue::N(HANDSHAKE_SLOT.to_owned()),
        ),
    ])
}

impl DynamoDbStore {
    pub(super) async fn put_refused_handshake(
        &self,
        attempt_id: &str,
        status: u16,
        expires_at: i64,
    ) -> Result<(), Error> {
        let mut item = key(attempt_id);
        item.insert(STATUS.to_owned(), AttributeValue::N(status.to_string()));
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.user_slots_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| unavailable("PutItem", &self.user_slots_table, err))?;
        Ok(())
    }

    pub(super) async fn get_refused_handshake(
        &self,
        attempt_id: &str,
    ) -> Result<Option<u16>, Error> {
        let found = self
            .client
            .get_item()
            .table_name(&self.user_slots_table)
            .set_key(Some(key(attempt_id)))
            // Read right after the `$connect` that wrote it: it must be there.
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", &self.user_slots_table, err))?;
        let Some(item) = found.item() else {
            return Ok(None);
        };
        let number = |name: &str| {
            item.get(name)
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        };
        // TTL deletes lazily (within days): an expired row is as good as gone.
        let now = crate::time::now_epoch_ms().div_euclid(1000);
        if number(EXPIRES_AT).is_none_or(|until| until <= now) {
            return Ok(None);
        }
        Ok(number(STATUS).and_then(|status| u16::try_from(status).ok()))
    }
}
