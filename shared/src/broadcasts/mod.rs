//! Asynchronous broadcasts, for audiences past one request's reach (API Gateway's HTTP API gives
//! an integration 30 seconds; at the account throttle's 10,000 sends a second that is under
//! 300,000 recipients, and far fewer in practice). `POST /broadcast[/{channel}]` with
//! `Prefer: respond-async`, or above `BROADCAST_ASYNC_THRESHOLD` recipients, answers 202 with a
//! broadcast id; the audience is cut into shards (scan segments for everyone, key ranges of the
//! channel index for a channel), each a message on a queue consumed by `broadcast-worker`; the
//! progress is kept in a [`BroadcastProgress`] store (its own seam beside the connection store:
//! in memory, or a DynamoDB table), read back by `GET /broadcasts/{id}`.
//!
//! **Nobody gets the message twice**, even when a worker dies mid-shard and the queue hands the
//! shard to another: a worker *claims* each page of its shard in the progress store (the ids it
//! is about to send to, conditional on the shard's cursor being where it read it) before
//! sending, and *completes* it after (counters added, cursor moved past the page, claim cleared:
//! one atomic step, conditional on its claim). A retried shard resumes after the last completed
//! page; a page claimed but never completed was being sent when the worker died, and API Gateway
//! has no idempotency key to tell who got it, so its recipients are reported failed as
//! *unconfirmed* (never sent again), and the report stays exact: every recipient counted once,
//! as sent, gone or failed.

mod dynamodb;
mod memory;
pub mod queue;
pub mod requests;
pub mod settings;
pub mod worker;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;
#[cfg(test)]
mod tests;

pub use dynamodb::DynamoDbBroadcasts;
pub use memory::InMemoryBroadcasts;
pub use queue::{InProcessQueue, ShardQueue, SqsShardQueue};
pub use settings::AsyncBroadcastSettings;

use crate::Error;
pub use crate::protocol::AsyncReport;
use crate::store::Segment;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What one broadcast sends, to whom, in how many shards; written once when it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastJob {
    pub id: String,
    /// `None`: every connection; else the channel's subscribers.
    pub channel: Option<String>,
    /// The bytes every recipient gets (on a history channel: the numbered envelope).
    pub data: String,
    pub seq: Option<u64>,
    pub epoch: Option<String>,
    pub shard_count: u32,
}

/// Which part of the audience one shard is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ShardScope {
    /// Segment `index` of `total` of the connection listing (a DynamoDB parallel-scan segment).
    Segment { index: u32, total: u32 },
    /// The channel's subscribers with ids in `(after, until]` (`None`: from the start, to the end).
    ChannelRange {
        after: Option<String>,
        until: Option<String>,
    },
}

impl ShardScope {
    pub(crate) fn segment(&self) -> Option<Segment> {
        match self {
            Self::Segment { index, total } => Some(Segment {
                index: *index,
                total: *total,
            }),
            Self::ChannelRange { .. } => None,
        }
    }
}

/// One queue message: a shard of a broadcast to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardTask {
    pub broadcast_id: String,
    pub shard: u32,
    pub scope: ShardScope,
}

/// A page a worker is sending to: recorded before the first send, cleared when completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Whose claim it is (a fresh random value per claim).
    pub token: String,
    pub ids: Vec<String>,
    /// The shard's cursor once this page is done.
    pub next: Option<String>,
    /// Whether this is the shard's last page.
    pub last: bool,
}

/// Where a shard stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardProgress {
    /// The last id of the last completed page (`None`: nothing completed yet).
    pub cursor: Option<String>,
    /// A page claimed and not completed: its worker is sending, or died sending.
    pub claim: Option<Claim>,
    pub done: bool,
}

/// What one page added to the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageTally {
    pub connection_count: u64,
    pub sent: u64,
    pub gone: u64,
    pub failed: u64,
    /// Of `failed`: recipients of a page whose worker died mid-page.
    pub unconfirmed: u64,
    pub throttle_retries: u64,
    pub throttled_ms: u64,
}

/// The progress of asynchronous broadcasts: the seam between the workers and where the
/// counters live (in memory, or DynamoDB with atomic counters and conditional claims).
#[async_trait]
pub trait BroadcastProgress: Send + Sync + 'static {
    /// Records a new broadcast. [`Error::Conflict`] if its id exists.
    async fn create(&self, job: &BroadcastJob) -> Result<(), Error>;

    async fn job(&self, id: &str) -> Result<Option<BroadcastJob>, Error>;

    /// The shard's progress (the default when nothing has been recorded for it).
    async fn shard(&self, id: &str, shard: u32) -> Result<ShardProgress, Error>;

    /// Claims the page `claim` for `shard`, if the shard's cursor is still `from`, no page is
    /// claimed and the shard is not done; else [`Error::Conflict`] (another worker has it).
    async fn claim(
        &self,
        id: &str,
        shard: u32,
        from: Option<&str>,
        claim: &Claim,
    ) -> Result<(), Error>;

    /// Completes the page claimed with `token`, as one atomic step: `tally` added to the
    /// broadcast's counters, the cursor moved to the claim's `next`, the claim cleared, the shard
    /// marked done (and counted) if it was its last page. [`Error::Conflict`] if `token` is not
    /// the shard's claim. `Ok(true)` exactly once per broadcast: for the completion that finished
    /// its last shard.
    async fn complete(
        &self,
        id: &str,
        shard: u32,
        token: &str,
        tally: &PageTally,
    ) -> Result<bool, Error>;

    async fn report(&self, id: &str) -> Result<Option<AsyncReport>, Error>;
}

/// A fresh broadcast id: 16 random bytes, URL-safe base64 without padding.
pub fn new_broadcast_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh claim token.
pub(crate) fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether `id` looks like one of ours (so a path parameter reaches the store only then).
pub fn valid_broadcast_id(id: &str) -> bool {
    id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
