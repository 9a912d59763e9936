//! The Lambdas' side of webhooks on AWS, both off the critical path of delivery to receivers:
//!
//! * `$disconnect` writes its close code and reason onto the connection row (one conditional
//!   `UpdateItem`) just before deleting it; the table's stream then carries them to the
//!   dispatch function in the REMOVE record's old image;
//! * the delivery routes put their `message.broadcast` event on the SQS queue
//!   (`WEBHOOK_QUEUE_URL`), one `SendMessage`.
//!
//! Both are on only when `WEBHOOK_QUEUE_URL` is set (the template sets it when `WebhookUrl` is).

use super::event::{EventType, Target, WebhookEvent};
use super::stream::{CLOSE_CODE, CLOSE_REASON};
use super::{EventFilter, WebhookSink};
use crate::protocol::BroadcastReport;
use crate::store::table::TableDefinition;
use crate::{DynamoDbStore, Error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;

/// `WEBHOOK_QUEUE_URL`: the SQS queue the dispatch function reads.
pub const QUEUE_URL_ENV: &str = "WEBHOOK_QUEUE_URL";

pub struct AwsWebhooks {
    filter: EventFilter,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

/// The sink of a Lambda: [`AwsWebhooks`] when `WEBHOOK_QUEUE_URL` is set, else none.
pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Arc<dyn WebhookSink>, Error> {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(queue_url) = read(QUEUE_URL_ENV) else {
        return Ok(Arc::new(super::NoWebhooks));
    };
    let filter = read("WEBHOOK_EVENTS")
        .map(|raw| {
            raw.parse::<EventFilter>()
                .map_err(|p| Error::Config(format!("WEBHOOK_EVENTS {p}")))
        })
        .transpose()?
        .unwrap_or_default();
    let table = match read(crate::store::dynamodb::TABLE_ENV) {
        Some(table) => table,
        None => TableDefinition::connections()?.default_table_name,
    };
    Ok(Arc::new(AwsWebhooks::new(
        sdk_config, filter, table, queue_url,
    )))
}

impl AwsWebhooks {
    /// The sink for the connections table `table` and the queue at `queue_url`.
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        filter: EventFilter,
        table: String,
        queue_url: String,
    ) -> Self {
        Self {
            filter,
            dynamodb: DynamoDbStore::client(sdk_config),
            table,
            sqs: aws_sdk_sqs::Client::new(sdk_config),
            queue_url,
        }
    }
}

#[async_trait]
impl WebhookSink for AwsWebhooks {
    async fn closing(&self, connection_id: &str, code: Option<i64>, reason: &str) {
        if !self.filter.allows(EventType::ClientDisconnected) {
            return;
        }
        let mut update = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("connectionId", AttributeValue::S(connection_id.to_owned()))
            // Never recreate a row that is already gone.
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_names("#reason", CLOSE_REASON)
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()));
        update = match code {
            Some(code) => update
                .update_expression("SET #reason = :reason, #code = :code")
                .expression_attribute_names("#code", CLOSE_CODE)
                .expression_attribute_values(":code", AttributeValue::N(code.to_string())),
            None => update.update_expression("SET #reason = :reason"),
        };
        if let Err(err) = update.send().await {
            tracing::warn!(connection_id, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err),
                "could not note the close on the row; client.disconnected will lack it");
        }
    }

    async fn delivered(&self, target: Target<'_>, report: &BroadcastReport, message: &[u8]) {
        if self.filter.allows(EventType::MessageBroadcast) {
            self.enqueue(&WebhookEvent::message_broadcast(&target, report, message))
                .await;
        }
    }

    async fn presence(&self, event_type: EventType, channel: &str, member: &serde_json::Value) {
        if self.filter.allows(event_type) {
            self.enqueue(&WebhookEvent::presence(event_type, channel, member))
                .await;
        }
    }

    async fn broadcast_completed(&self, report: &crate::protocol::AsyncReport) {
        if self.filter.allows(EventType::BroadcastCompleted) {
            self.enqueue(&WebhookEvent::broadcast_completed(report))
                .await;
        }
    }
}

impl AwsWebhooks {
    /// One SendMessage to the webhook queue; the dispatch function signs and sends it.
    async fn enqueue(&self, event: &WebhookEvent) {
        let body = match serde_json::to_string(event) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialise a webhook event");
                return;
            }
        };
        if let Err(err) = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
        {
            tracing::error!(id = %event.id, event_type = event.event_type.as_str(), error = %aws_sdk_sqs::error::DisplayErrorContext(&err),
                "could not enqueue a webhook event; it is lost");
        }
    }
}
