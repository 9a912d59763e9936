//! Presence: who is in a channel. A member is a user (anonymous connections count as their own
//! user), with the connections they have in the channel, when they joined and an `info` object
//! the server took from their token. A seam of its own beside the
//! [`ConnectionStore`](crate::ConnectionStore): the in-memory store keeps a map per channel, the
//! DynamoDB one an item per `(channel, user)` in `infra/presence-table.json`.
//!
//! A member stays a member while their last connection is gone for the grace period: the leave
//! that takes the last connection hands back a *leave token*, a join in the meantime withdraws
//! it, and only the delayed check that still finds the same token removes the member (and so
//! announces `presence.leave`). Every step is one atomic write of one item, so concurrent joins
//! of one user's tabs see exactly one first join, concurrent leaves exactly one last leave, and
//! a check delivered twice (SQS is at-least-once) removes the member once.

mod dynamodb;
mod leaves;
mod memory;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;

pub use dynamodb::DynamoDbPresence;
pub use leaves::{LeaveCheck, LeaveScheduler, SqsLeaveQueue};
pub use memory::InMemoryPresence;

use crate::Error;
use crate::settings::PresenceSettings;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

pub use crate::protocol::{Member, MemberPage};

/// The most members one page of a member list holds (`GET /channels/{channel}/presence`, the
/// `presence` action, a `subscribed` reply).
pub const MAX_MEMBERS_PAGE: usize = 1000;

/// What a leave did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Left {
    /// The connection was not in the channel (already left, or never joined): nothing changed.
    NotMember,
    /// The user still has other connections in the channel.
    Remaining,
    /// That was the user's last connection: after the grace period, [`PresenceStore::confirm_leave`]
    /// with this token removes them unless they came back.
    Last { token: String },
}

#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Adds `connection_id` of `user` to `channel`. `Some(member)`, as now stored, exactly when
    /// this made `user` a member (nobody else saw them join): the caller announces
    /// `presence.join`. A member in their grace period is still a member: joining again
    /// withdraws the pending leave.
    async fn join(
        &self,
        channel: &str,
        user: &str,
        connection_id: &str,
        info: Option<&Value>,
    ) -> Result<Option<Member>, Error>;

    /// Takes `connection_id` of `user` out of `channel`.
    async fn leave(&self, channel: &str, user: &str, connection_id: &str) -> Result<Left, Error>;

    /// Removes `user` from `channel` if they still have no connection there and `token` is
    /// still their pending leave. `true` exactly once per leave: the caller announces
    /// `presence.leave`.
    async fn confirm_leave(&self, channel: &str, user: &str, token: &str) -> Result<bool, Error>;

    /// Up to `limit` members of `channel` after the user `after` (none: from the start).
    async fn members(
        &self,
        channel: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MemberPage, Error>;
}

/// What the handlers need for presence channels, built once: the members, where pending
/// leaves go, and where presence webhooks go.
#[derive(Clone)]
pub struct Presence {
    pub store: Arc<dyn PresenceStore>,
    pub leaves: Arc<dyn LeaveScheduler>,
    pub webhooks: Arc<dyn crate::webhooks::WebhookSink>,
}

/// A fresh leave token: 16 random base-62 characters.
pub(crate) fn new_token() -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..16)
        .map(|_| DIGITS[(rand::random::<u8>() % 62) as usize] as char)
        .collect()
}

/// What a Lambda binary that joins or leaves needs (`ws-default`, `ws-disconnect`), once per cold
/// start: none when `PRESENCE_CHANNELS` names no channel; else the store and the delay queue
/// `PRESENCE_LEAVE_QUEUE_URL` names (required then).
pub fn handlers_from_env(
    sdk_config: &aws_config::SdkConfig,
    settings: &PresenceSettings,
    webhooks: Arc<dyn crate::webhooks::WebhookSink>,
) -> Result<Option<Presence>, Error> {
    let Some(store) = from_env(sdk_config, settings)? else {
        return Ok(None);
    };
    let queue_url = settings.leave_queue_url.clone().ok_or_else(|| {
        Error::Config(
            "PRESENCE_LEAVE_QUEUE_URL must name the presence leave queue when PRESENCE_CHANNELS is set"
                .into(),
        )
    })?;
    Ok(Some(Presence {
        store,
        leaves: Arc::new(SqsLeaveQueue::new(sdk_config, queue_url)),
        webhooks,
    }))
}

/// The presence store a Lambda binary uses, once per cold start: none when
/// `PRESENCE_CHANNELS` names no channel, else the one matching `CONNECTION_STORE`.
pub fn from_env(
    sdk_config: &aws_config::SdkConfig,
    settings: &PresenceSettings,
) -> Result<Option<Arc<dyn PresenceStore>>, Error> {
    if !settings.enabled() {
        return Ok(None);
    }
    let kind = std::env::var(crate::store::STORE_ENV).unwrap_or_else(|_| "dynamodb".into());
    match kind.as_str() {
        "dynamodb" => Ok(Some(Arc::new(DynamoDbPresence::new(
            crate::DynamoDbStore::client(sdk_config),
            settings,
        )))),
        "memory" => Ok(Some(Arc::new(InMemoryPresence::new()))),
        other => Err(Error::Config(format!(
            "{}={other:?} is not a known store; use \"dynamodb\" or \"memory\"",
            crate::store::STORE_ENV
        ))),
    }
}
