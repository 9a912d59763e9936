//! Writes that change a connection item and its subscription rows together.

use super::DynamoDbStore;
use super::errors::{built, first_condition_failed, unavailable};
use super::item::{EXPIRES_AT, subscription_key, to_item};
use crate::Error;
use crate::store::{Connection, already_stored};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, TransactWriteItem, WriteRequest,
};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// BatchWriteItem's limit.
const BATCH_WRITE_MAX: usize = 25;

impl DynamoDbStore {
    /// A new connection's item (refused if the id is stored) and its subscription rows.
    pub(super) fn new_connection_writes(
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

    pub(super) async fn transact(
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

    pub(super) fn subscription_put(
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
    pub(super) async fn put_with_subscriptions(&self, connection: Connection) -> Result<(), Error> {
        let items = self.new_connection_writes(to_item(&connection), &connection)?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(err) if first_condition_failed(&err) => {
                Err(already_stored(&connection.connection_id))
            }
            Err(err) => Err(self.unavailable("TransactWriteItems", err)),
        }
    }

    /// Removes `connection_id`'s rows for `channels`, 25 per request, retrying what DynamoDB
    /// leaves unprocessed.
    pub(super) async fn delete_subscription_rows(
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
