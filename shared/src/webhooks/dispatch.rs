//! The `webhook-dispatch` Lambda's handler. One function, three event sources:
//!
//! * DynamoDB Streams of the connections and subscriptions tables: `client.connected`,
//!   `client.disconnected` (TTL expiries marked `expired`), `channel.occupied` / `vacated`;
//! * the SQS webhook queue: events the delivery routes enqueued (`message.broadcast`);
//! * an EventBridge schedule: `broadcast.stats`.
//!
//! Each event is delivered with [`Deliverer`]'s retries; one still failing is reported in
//! `batchItemFailures` (ReportBatchItemFailures), so the event source retries just it and, after
//! its own attempts, hands it to the dead-letter queue. A stream event's id is derived from the
//! record's `eventID`, an SQS event carries its own: a retried event keeps its `webhook-id`.

use super::EventFilter;
use super::changes::event_for;
use super::delivery::{Counters, Delivered, Deliverer};
use super::event::{EventType, WebhookEvent};
use super::stream::change_from_record;
use crate::{ConnectionStore, Error};
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

/// What the function needs, built once per cold start.
pub struct Dispatch {
    pub deliverer: Deliverer,
    pub store: std::sync::Arc<dyn ConnectionStore>,
    pub filter: EventFilter,
    pub stats_interval_secs: u64,
    pub counters: Counters,
}

impl Dispatch {
    pub async fn handle(&self, event: Value) -> Result<Value, Error> {
        let source = event
            .pointer("/Records/0/eventSource")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match source.as_deref() {
            Some("aws:dynamodb") => {
                let event: StreamEvent = parse(event, "a DynamoDB Streams event")?;
                Ok(self.stream(event).await)
            }
            Some("aws:sqs") => {
                let event: SqsEvent = parse(event, "an SQS event")?;
                Ok(self.queue(event).await)
            }
            _ if event.get("source").and_then(Value::as_str) == Some("aws.events") => {
                self.stats().await?;
                Ok(json!({}))
            }
            // An empty batch is nothing to do, not an error.
            _ if event
                .get("Records")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty) =>
            {
                Ok(json!({"batchItemFailures": []}))
            }
            _ => Err(Error::MalformedEvent(
                "not a DynamoDB Streams, SQS or EventBridge scheduled event".into(),
            )),
        }
    }

    async fn stream(&self, event: StreamEvent) -> Value {
        let deliveries = event.records.iter().map(|record| async move {
            let failed = || record.change.sequence_number.clone();
            let change = match change_from_record(record) {
                Ok(Some(change)) => change,
                Ok(None) => return None,
                Err(err) => {
                    // Retrying cannot fix a record we cannot read: skip it, loudly.
                    tracing::error!(error = %err, "unreadable stream record skipped");
                    return None;
                }
            };
            if !change.may_produce(|t| self.filter.allows(t)) {
                return None;
            }
            match event_for(change, self.store.as_ref(), None).await {
                Ok(Some(event)) => self.send(&event).await.then(failed).flatten(),
                Ok(None) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot derive the event; the record is retried");
                    failed()
                }
            }
        });
        failures(futures::future::join_all(deliveries).await)
    }

    async fn queue(&self, event: SqsEvent) -> Value {
        let deliveries = event.records.iter().map(|message| async move {
            let failed = || message.message_id.clone();
            let parsed = message
                .body
                .as_deref()
                .map(serde_json::from_str::<WebhookEvent>);
            match parsed {
                Some(Ok(event)) => self.send(&event).await.then(failed).flatten(),
                _ => {
                    tracing::error!(message_id = ?message.message_id, "queue message is not a webhook event; skipped");
                    None
                }
            }
        });
        failures(futures::future::join_all(deliveries).await)
    }

    async fn stats(&self) -> Result<(), Error> {
        if !self.filter.allows(EventType::BroadcastStats) {
            return Ok(());
        }
        let (connections, counts) =
            futures::try_join!(self.store.count(), self.store.channel_counts(1))?;
        // No process sees every delivery on AWS, so messages delivered is not counted there.
        let event = WebhookEvent::broadcast_stats(
            connections,
            counts.total_channels,
            None,
            self.stats_interval_secs,
        );
        if self.send(&event).await {
            return Err(Error::WebhookUndelivered(format!(
                "broadcast.stats {} could not be delivered",
                event.id
            )));
        }
        Ok(())
    }

    /// Whether `event` failed for good (after every attempt).
    async fn send(&self, event: &WebhookEvent) -> bool {
        if !self.filter.allows(event.event_type) {
            return false;
        }
        matches!(
            self.deliverer.deliver(event, &self.counters).await,
            Delivered::Dead { .. }
        )
    }
}

fn parse<T: serde::de::DeserializeOwned>(event: Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(event).map_err(|err| Error::MalformedEvent(format!("not {what}: {err}")))
}

fn failures(failed: Vec<Option<String>>) -> Value {
    let items: Vec<Value> = failed
        .into_iter()
        .flatten()
        .map(|id| json!({"itemIdentifier": id}))
        .collect();
    json!({"batchItemFailures": items})
}
