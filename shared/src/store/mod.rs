//! Where connection ids live. The trait is the seam between the handlers and a backend: the
//! in-memory store (the local gateway's embedded default) and DynamoDB in production.

mod connection;
pub(crate) mod dynamodb;
mod memory;
pub mod table;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;

pub use connection::Connection;
pub use dynamodb::DynamoDbStore;
pub use memory::InMemoryStore;

use crate::Error;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// One of `total` disjoint shares of a listing, which can be read in parallel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub total: u32,
}

impl Segment {
    /// The whole listing as one segment.
    pub const WHOLE: Segment = Segment { index: 0, total: 1 };

    /// All `total` segments of a listing.
    pub fn all(total: u32) -> impl Iterator<Item = Segment> {
        let total = total.max(1);
        (0..total).map(move |index| Segment { index, total })
    }
}

/// One page of a listing: ids only, because a broadcast needs nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionPage {
    pub connection_ids: Vec<String>,
    /// Opaque; pass it back to get the next page. `None` when the listing is complete.
    pub next_cursor: Option<String>,
}

/// How many subscribers each channel has: the largest first, at most the number asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    /// `(channel, subscribers)`, by subscribers descending, then by name.
    pub channels: Vec<(String, u64)>,
    /// How many channels have subscribers at all (may exceed `channels.len()`).
    pub total_channels: u64,
}

impl ChannelCounts {
    /// Orders `counts` as documented and keeps the first `limit`.
    pub fn top(counts: impl IntoIterator<Item = (String, u64)>, limit: usize) -> Self {
        let mut channels: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        let total_channels = channels.len() as u64;
        channels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        channels.truncate(limit);
        Self {
            channels,
            total_channels,
        }
    }
}

#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Records a new connection, subscribed to its `channels`, in one write. Conditional: an id
    /// that is already stored is refused with [`Error::Conflict`], so a replayed or colliding
    /// `$connect` never overwrites a live row.
    async fn put(&self, connection: Connection) -> Result<(), Error>;

    /// [`Self::put`] for a connection with a `user_id`, refused with [`Error::LimitExceeded`]
    /// (nothing stored) when that user already has `max_per_user` connections. Holds under
    /// concurrent connects of one user: the check and the write are one atomic step.
    async fn put_limited(&self, connection: Connection, max_per_user: usize) -> Result<(), Error>;

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error>;

    /// Removes a connection and its subscriptions. Idempotent: `$disconnect` is best effort and
    /// may race a 410 cleanup, so removing an absent id succeeds. Returns whether a row was
    /// removed.
    async fn delete(&self, connection_id: &str) -> Result<bool, Error>;

    /// How many segments a full listing is best read in, in parallel (1: sequentially).
    fn listing_segments(&self) -> u32 {
        1
    }

    /// Lists at most `limit` ids of `segment` after `cursor`. Across all segments of a `total`,
    /// every id stored before the listing started and not removed during it appears exactly once.
    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error>;

    async fn count(&self) -> Result<u64, Error>;

    /// Subscribes a stored connection to `channels`, keeping it within `max_channels` in all.
    /// Returns its channels afterwards. [`Error::NotFound`] when the connection is not stored,
    /// [`Error::LimitExceeded`] (and nothing changes) when it would exceed `max_channels`.
    async fn subscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
        max_channels: usize,
    ) -> Result<BTreeSet<String>, Error>;

    /// Unsubscribes a stored connection from `channels` (ones it is not in are ignored).
    /// Returns its channels afterwards; [`Error::NotFound`] when the connection is not stored.
    async fn unsubscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Error>;

    /// Lists at most `limit` subscribers of `channel` after `cursor`, without scanning other
    /// channels.
    async fn list_subscribers(
        &self,
        channel: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error>;

    async fn count_subscribers(&self, channel: &str) -> Result<u64, Error>;

    /// The `limit` channels with the most subscribers.
    async fn channel_counts(&self, limit: usize) -> Result<ChannelCounts, Error>;

    /// The ids of every connection whose `user_id` is `user_id`.
    async fn connections_of_user(&self, user_id: &str) -> Result<Vec<String>, Error>;

    /// Counts one client message in the rate window `window` (e.g. epoch seconds divided by the
    /// window's length) and returns how many the connection has sent in it, this one included.
    /// A new window starts from one. [`Error::NotFound`] when the connection is not stored.
    async fn record_message(&self, connection_id: &str, window: i64) -> Result<u64, Error>;

    /// Keeps the HTTP status `$connect` refused the handshake `attempt_id` with, until
    /// `expires_at` (epoch seconds): a browser cannot read a refused handshake's status, so it
    /// asks for it by the id it put on the handshake (`GET /handshakes/{attemptId}`).
    /// Recording the same id again replaces the status.
    async fn record_refused_handshake(
        &self,
        attempt_id: &str,
        status: u16,
        expires_at: i64,
    ) -> Result<(), Error>;

    /// The status recorded for `attempt_id`, or `None` when nothing was, or it expired.
    async fn refused_handshake(&self, attempt_id: &str) -> Result<Option<u16>, Error>;
}

/// The refusals both stores give, worded once.
pub(crate) fn already_stored(connection_id: &str) -> Error {
    Error::Conflict(format!("connection {connection_id} is already stored"))
}

pub(crate) fn not_stored(connection_id: &str) -> Error {
    Error::NotFound(format!("connection {connection_id} is not stored"))
}

pub(crate) fn too_many_channels(max: usize) -> Error {
    Error::LimitExceeded(format!("a connection may be in at most {max} channels"))
}

pub(crate) fn too_many_connections(user: &str, max: usize) -> Error {
    Error::LimitExceeded(format!("user {user} already has {max} connections"))
}

/// `CONNECTION_STORE`: which store a Lambda binary uses: `dynamodb` (the default) or `memory`
/// (only meaningful when one process serves every route, as the local gateway does).
pub const STORE_ENV: &str = "CONNECTION_STORE";

/// Builds the store named by [`STORE_ENV`], once per cold start.
pub fn from_env(
    sdk_config: &aws_config::SdkConfig,
) -> Result<std::sync::Arc<dyn ConnectionStore>, Error> {
    let kind = std::env::var(STORE_ENV).unwrap_or_else(|_| "dynamodb".into());
    match kind.as_str() {
        "dynamodb" => Ok(std::sync::Arc::new(DynamoDbStore::from_env(sdk_config)?)),
        "memory" => Ok(std::sync::Arc::new(InMemoryStore::new())),
        other => Err(Error::Config(format!(
            "{STORE_ENV}={other:?} is not a known store; use \"dynamodb\" or \"memory\""
        ))),
    }
}
