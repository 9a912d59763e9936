//! What changed in the store, and the events each change makes. On AWS the changes are the
//! DynamoDB Streams records of the connections and subscriptions tables (see `stream.rs`);
//! in the local gateway, the store itself reports them (see `local.rs`). Either way the same
//! function turns a change into events.
//!
//! `channel.occupied` / `channel.vacated` come from the channel's subscriber count, read when the
//! change is processed: a subscription added while the count is 1 means the channel was empty
//! before; one removed leaving it at 0 means it is empty now. The count is read after the fact,
//! so fast churn may skip or repeat one; the count itself (`GET /connections/count?channel=`) is
//! the truth.

use super::event::{Closing, EventType, WebhookEvent};
use crate::store::Connection;
use crate::{ConnectionStore, Error};
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq)]
pub enum StoreChange {
    /// A connection row was written (`$connect`).
    ConnectionAdded { id: String, connection: Connection },
    /// A connection row went: `$disconnect`, a 410 clean-up, or expiry.
    ConnectionRemoved {
        id: String,
        connection: Connection,
        closing: Closing,
        /// Epoch ms of the removal.
        at_ms: i64,
    },
    /// A connection joined (`added`) or left a channel.
    Subscription {
        id: String,
        channel: String,
        added: bool,
    },
}

impl StoreChange {
    /// Whether this change can make an event the filter lets through, before any store read.
    pub fn may_produce(&self, allows: impl Fn(EventType) -> bool) -> bool {
        match self {
            Self::ConnectionAdded { .. } => allows(EventType::ClientConnected),
            Self::ConnectionRemoved { .. } => allows(EventType::ClientDisconnected),
            Self::Subscription { added: true, .. } => allows(EventType::ChannelOccupied),
            Self::Subscription { added: false, .. } => allows(EventType::ChannelVacated),
        }
    }
}

/// The event `change` makes, if any. `occupied`, when given, is this process's view of which
/// channels have subscribers (the local gateway's), so each transition is reported once; without
/// it (a Lambda, which keeps nothing between invocations) the count alone decides.
pub async fn event_for(
    change: StoreChange,
    store: &dyn ConnectionStore,
    occupied: Option<&std::sync::Mutex<HashSet<String>>>,
) -> Result<Option<WebhookEvent>, Error> {
    Ok(match change {
        StoreChange::ConnectionAdded { id, connection } => {
            Some(WebhookEvent::client_connected(id, &connection))
        }
        StoreChange::ConnectionRemoved {
            id,
            connection,
            closing,
            at_ms,
        } => Some(WebhookEvent::client_disconnected(
            id,
            &connection,
            &closing,
            at_ms,
        )),
        StoreChange::Subscription { id, channel, added } => {
            let subscribers = store.count_subscribers(&channel).await?;
            let transition = match occupied {
                Some(occupied) => {
                    let mut occupied = occupied
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if added && subscribers > 0 {
                        occupied.insert(channel.clone())
                    } else if !added && subscribers == 0 {
                        occupied.remove(&channel)
                    } else {
                        false
                    }
                }
                None => (added && subscribers == 1) || (!added && subscribers == 0),
            };
            transition.then(|| {
                let event_type = if added {
                    EventType::ChannelOccupied
                } else {
                    EventType::ChannelVacated
                };
                WebhookEvent::channel(event_type, id, &channel, subscribers)
            })
        }
    })
}
