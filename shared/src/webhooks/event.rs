//! The events: `{"type", "timestamp", "id", "data"}`, and the filter `WEBHOOK_EVENTS` sets.

use crate::protocol::Audience;
use crate::protocol::BroadcastReport;
use crate::store::Connection;
use crate::time::{iso8601_from_epoch_ms, now_epoch_ms, now_iso8601};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A `message.broadcast` event carries the message itself when it is at most this many bytes
/// (and valid JSON, as every delivered message is); a larger one is left out, with
/// `messageTruncated: true`. Keeps events well inside SQS's 256 KiB.
pub const MAX_MESSAGE_IN_EVENT_BYTES: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "client.connected")]
    ClientConnected,
    #[serde(rename = "client.disconnected")]
    ClientDisconnected,
    #[serde(rename = "message.broadcast")]
    MessageBroadcast,
    #[serde(rename = "channel.occupied")]
    ChannelOccupied,
    #[serde(rename = "channel.vacated")]
    ChannelVacated,
    #[serde(rename = "broadcast.stats")]
    BroadcastStats,
    #[serde(rename = "server.status")]
    ServerStatus,
    #[serde(rename = "presence.join")]
    PresenceJoin,
    #[serde(rename = "presence.leave")]
    PresenceLeave,
    #[serde(rename = "broadcast.completed")]
    BroadcastCompleted,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        Self::ClientConnected,
        Self::ClientDisconnected,
        Self::MessageBroadcast,
        Self::ChannelOccupied,
        Self::ChannelVacated,
        Self::BroadcastStats,
        Self::ServerStatus,
        Self::PresenceJoin,
        Self::PresenceLeave,
        Self::BroadcastCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientConnected => "client.connected",
            Self::ClientDisconnected => "client.disconnected",
            Self::MessageBroadcast => "message.broadcast",
            Self::ChannelOccupied => "channel.occupied",
            Self::ChannelVacated => "channel.vacated",
            Self::BroadcastStats => "broadcast.stats",
            Self::ServerStatus => "server.status",
            Self::PresenceJoin => "presence.join",
            Self::PresenceLeave => "presence.leave",
            Self::BroadcastCompleted => "broadcast.completed",
        }
    }
}

/// Which event types are sent (`WEBHOOK_EVENTS`); all by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter(BTreeSet<EventType>);

impl Default for EventFilter {
    fn default() -> Self {
        Self(EventType::ALL.into_iter().collect())
    }
}

impl EventFilter {
    pub fn allows(&self, event_type: EventType) -> bool {
        self.0.contains(&event_type)
    }
}

impl std::str::FromStr for EventFilter {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut types = BTreeSet::new();
        for name in raw
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let found = EventType::ALL
                .into_iter()
                .find(|t| t.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                    format!(
                        "names an unknown event {name:?}; known: {}",
                        known.join(", ")
                    )
                })?;
            types.insert(found);
        }
        if types.is_empty() {
            return Err("must name at least one event type".into());
        }
        Ok(Self(types))
    }
}

/// One webhook. `id` is the `webhook-id` of every attempt to deliver it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// ISO 8601 UTC, when it happened.
    pub timestamp: String,
    pub id: String,
    pub data: Value,
}

/// A fresh, unique event id.
pub fn new_event_id() -> String {
    format!("evt_{:032x}", rand::random::<u128>())
}

/// How a connection ended, as far as `client.disconnected` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closing {
    /// `$disconnect`'s status code and reason; `None` when no `$disconnect` ran (expiry, 410).
    pub code: Option<i64>,
    pub reason: Option<String>,
    /// The row was removed by expiry (DynamoDB TTL, or the gateway's sweep), not by `$disconnect`.
    pub expired: bool,
}

impl WebhookEvent {
    pub fn new(event_type: EventType, id: String, timestamp: String, data: Value) -> Self {
        Self {
            event_type,
            timestamp,
            id,
            data,
        }
    }

    fn now(event_type: EventType, data: Value) -> Self {
        Self::new(event_type, new_event_id(), now_iso8601(), data)
    }

    pub fn client_connected(id: String, connection: &Connection) -> Self {
        Self::new(
            EventType::ClientConnected,
            id,
            iso8601_from_epoch_ms(connection.connected_at),
            json!({
                "connectionId": connection.connection_id,
                "userId": connection.user_id,
                "clientId": connection.client_id(),
                "channels": connection.channels,
                "connectedAt": iso8601_from_epoch_ms(connection.connected_at),
            }),
        )
    }

    /// `at_ms`: when the row went (epoch ms).
    pub fn client_disconnected(
        id: String,
        connection: &Connection,
        closing: &Closing,
        at_ms: i64,
    ) -> Self {
        Self::new(
            EventType::ClientDisconnected,
            id,
            iso8601_from_epoch_ms(at_ms),
            json!({
                "connectionId": connection.connection_id,
                "userId": connection.user_id,
                "clientId": connection.client_id(),
                "channels": connection.channels,
                "closeCode": closing.code,
                "closeReason": closing.reason,
                "expired": closing.expired,
                "connectedAt": iso8601_from_epoch_ms(connection.connected_at),
                "disconnectedAt": iso8601_from_epoch_ms(at_ms),
                "durationMs": (at_ms - connection.connected_at).max(0),
            }),
        )
    }

    /// `presence.join` / `presence.leave`: `{"channel": …, "member": {"user": …, …}}`.
    pub fn presence(event_type: EventType, channel: &str, member: &Value) -> Self {
        Self::now(event_type, json!({"channel": channel, "member": member}))
    }

    pub fn message_broadcast(
        audience: &Target<'_>,
        report: &BroadcastReport,
        message: &[u8],
    ) -> Self {
        let mut data = json!({
            "audience": audience.to_json(),
            "connectionCount": report.connection_count,
            "sent": report.sent,
            "gone": report.gone.len(),
            "failed": report.failed.len(),
            "messageBytes": message.len(),
        });
        let embedded = (message.len() <= MAX_MESSAGE_IN_EVENT_BYTES)
            .then(|| serde_json::from_slice::<Value>(message).ok())
            .flatten();
        data["messageTruncated"] = Value::Bool(embedded.is_none());
        if let Some(message) = embedded {
            data["message"] = message;
        }
        if let Some(error) = &report.error {
            data["error"] = Value::String(error.clone());
        }
        Self::now(EventType::MessageBroadcast, data)
    }

    pub fn channel(event_type: EventType, id: String, channel: &str, subscribers: u64) -> Self {
        Self::new(
            event_type,
            id,
            now_iso8601(),
            json!({"channel": channel, "subscribers": subscribers}),
        )
    }

    pub fn broadcast_stats(
        connections: u64,
        channels: u64,
        delivered: Option<u64>,
        interval_secs: u64,
    ) -> Self {
        Self::now(
            EventType::BroadcastStats,
            json!({
                "connections": connections,
                "channels": channels,
                "messagesDelivered": delivered,
                "intervalSecs": interval_secs,
            }),
        )
    }

    /// An asynchronous broadcast's final report (`GET /broadcasts/{id}`'s body).
    pub fn broadcast_completed(report: &crate::protocol::AsyncReport) -> Self {
        Self::now(
            EventType::BroadcastCompleted,
            serde_json::to_value(report).unwrap_or(Value::Null),
        )
    }

    pub fn server_status(status: &str, url: &str) -> Self {
        Self::now(
            EventType::ServerStatus,
            json!({"status": status, "url": url, "at": now_epoch_ms()}),
        )
    }
}

/// Who a delivery went to: a fan-out's [`Audience`], or one connection.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Audience(Audience<'a>),
    Connection(&'a str),
}

impl Target<'_> {
    fn to_json(self) -> Value {
        match self {
            Self::Audience(Audience::Everyone) => json!({"type": "everyone"}),
            Self::Audience(Audience::Channel(name)) => json!({"type": "channel", "channel": name}),
            Self::Audience(Audience::User(user)) => json!({"type": "user", "userId": user}),
            Self::Connection(id) => json!({"type": "connection", "connectionId": id}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_reads_names_and_refuses_unknown_ones() {
        let filter: EventFilter = " client.connected, message.broadcast".parse().unwrap();
        assert!(filter.allows(EventType::ClientConnected));
        assert!(!filter.allows(EventType::ServerStatus));
        assert!(
            "client.connect"
                .parse::<EventFilter>()
                .unwrap_err()
                .contains("unknown")
        );
        assert!(" , ".parse::<EventFilter>().is_err());
        assert!(EventFilter::default().allows(EventType::ChannelVacated));
    }

    #[test]
    fn a_large_or_non_json_message_is_left_out_and_said_so() {
        let report = BroadcastReport::default();
        let small = WebhookEvent::message_broadcast(
            &Target::Audience(Audience::Everyone),
            &report,
            br#"{"a":1}"#,
        );
        assert_eq!(small.data["message"], json!({"a": 1}));
        assert_eq!(small.data["messageTruncated"], false);
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_MESSAGE_IN_EVENT_BYTES));
        let large =
            WebhookEvent::message_broadcast(&Target::Connection("c"), &report, big.as_bytes());
        assert!(large.data.get("message").is_none());
        assert_eq!(large.data["messageTruncated"], true);
        assert_eq!(large.data["messageBytes"], big.len());
        assert_eq!(
            serde_json::to_value(&large).unwrap()["type"],
            "message.broadcast"
        );
    }
}
