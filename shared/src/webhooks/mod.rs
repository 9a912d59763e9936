//! Webhooks: the backend hears about connections and broadcasts, signed (Standard Webhooks
//! 1.0), retried, and never in the way of a handshake or a broadcast.
//!
//! * [`event`]: the events and the `WEBHOOK_EVENTS` filter;
//! * [`signature`]: the `whsec_` secret, signing and verifying;
//! * [`delivery`]: one event to the receiver, with retries, then dead;
//! * [`changes`] and [`stream`]: store changes (DynamoDB Streams records on AWS) into events;
//! * [`aws`]: what the Lambdas do on their critical path (an SQS enqueue, a row attribute);
//! * [`local`]: the local gateway's bounded in-process queue, its worker and its store hook.
//!
//! The handlers see only [`WebhookSink`], called once per event site.

pub mod aws;
pub mod changes;
pub mod delivery;
pub mod dispatch;
pub mod event;
pub mod signature;
pub mod stream;

pub use delivery::{Counters, Delivered, Deliverer};
pub use event::{EventFilter, EventType, Target, WebhookEvent};
pub use signature::WebhookSecret;

use crate::protocol::BroadcastReport;
use async_trait::async_trait;

/// Where the handlers hand their webhook-worthy facts. Every method returns quickly and never
/// fails the caller: a webhook problem is logged and counted, not the handler's.
#[async_trait]
pub trait WebhookSink: Send + Sync + 'static {
    /// `$disconnect`, just before the row is removed: its close code and reason, for
    /// `client.disconnected`.
    async fn closing(&self, connection_id: &str, code: Option<i64>, reason: &str);

    /// A delivery route has delivered `message` to `target`, as `report` says.
    async fn delivered(&self, target: Target<'_>, report: &BroadcastReport, message: &[u8]);

    /// A presence channel's member joined (their first connection) or left (their last one gone
    /// for the grace period): `presence.join` / `presence.leave` with `channel` and `member`.
    async fn presence(&self, _event_type: EventType, _channel: &str, _member: &serde_json::Value) {}
    /// An asynchronous broadcast finished (every shard done), with its final report: the
    /// `broadcast.completed` webhook. Sinks that do not send it ignore it.
    async fn broadcast_completed(&self, _report: &crate::protocol::AsyncReport) {}

    /// Delivery totals for `/stats` (the local gateway's); `None` where webhooks are off or a
    /// dead-letter queue keeps the count.
    fn counters(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Webhooks off.
pub struct NoWebhooks;

#[async_trait]
impl WebhookSink for NoWebhooks {
    async fn closing(&self, _: &str, _: Option<i64>, _: &str) {}
    async fn delivered(&self, _: Target<'_>, _: &BroadcastReport, _: &[u8]) {}
}
