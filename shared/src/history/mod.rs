//! Channel history: sequence numbers per channel, the messages kept for a bounded time and
//! count, and the replay a resuming client gets. A seam of its own beside the
//! [`ConnectionStore`](crate::ConnectionStore): the in-memory history keeps a bounded ring per
//! channel, the DynamoDB one a table of `(channel, seq)` items with a TTL and a counter item.
//!
//! Taking a number and storing its message are one atomic step in both, so every number handed
//! out is stored before anyone is sent it, and a failed publish takes none: there are no holes.

mod dynamodb;
mod memory;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;

pub use dynamodb::DynamoDbHistory;
pub use memory::InMemoryHistory;

use crate::Error;
use crate::settings::HistorySettings;
use async_trait::async_trait;
use std::sync::Arc;

pub use crate::protocol::{Entry, Position};

/// Why a resume cannot be served from history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// The numbering restarted (a gateway on the in-memory store restarted, the counter expired).
    EpochChanged,
    /// The client names a seq the server has not handed out.
    AheadOfServer,
    /// A message after the client's position is past `HISTORY_TTL_SECONDS`.
    Expired,
    /// More than `HISTORY_MAX_MESSAGES` were published since the client's position.
    Trimmed,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EpochChanged => "epoch changed",
            Self::AheadOfServer => "ahead of the server",
            Self::Expired => "history expired",
            Self::Trimmed => "history trimmed",
        }
    }
}

/// What a client resuming from a position gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Every message after the position up to `latest`, in order and contiguous (none when the
    /// client missed nothing).
    Missed {
        latest: Position,
        messages: Vec<Entry>,
    },
    /// History does not reach back far enough: the client starts again from `latest`.
    Reset {
        latest: Position,
        reason: ResetReason,
    },
}

impl Replay {
    pub fn latest(&self) -> &Position {
        match self {
            Self::Missed { latest, .. } | Self::Reset { latest, .. } => latest,
        }
    }
}

#[async_trait]
pub trait ChannelHistory: Send + Sync + 'static {
    /// Takes `channel`'s next number and stores `data` under it, as one atomic step. Returns
    /// the message's position. On `Err` no number was taken.
    async fn append(&self, channel: &str, data: &str) -> Result<Position, Error>;

    /// The channel's latest position (`{0, ""}` when nobody has published to it). Creates
    /// nothing.
    async fn latest(&self, channel: &str) -> Result<Position, Error>;

    /// What a client at `since` missed: the counter and the kept messages read in one step.
    async fn replay(&self, channel: &str, since: &Position) -> Result<Replay, Error>;
}

/// What a resume from `since` needs, judged from the counter alone.
pub(crate) enum Needed {
    /// Answered already: a reset, or nothing missed.
    Answer(Replay),
    /// The messages `from..=latest.seq`, all of them.
    Messages { latest: Position, from: u64 },
}

/// The rules of the protocol, in one place for every backend.
pub(crate) fn needed(latest: Position, since: &Position, max_messages: usize) -> Needed {
    let reset = |latest, reason| Needed::Answer(Replay::Reset { latest, reason });
    // An empty epoch matches any: `{"seq":0,"epoch":""}` resumes from seq 1, and a client that
    // subscribed before the channel's first publish was told `""` and has only seen live
    // messages (which carry no epoch) of the numbering that publish began.
    if !since.epoch.is_empty() && since.epoch != latest.epoch {
        return reset(latest, ResetReason::EpochChanged);
    }
    if since.seq > latest.seq {
        return reset(latest, ResetReason::AheadOfServer);
    }
    if since.seq == latest.seq {
        return Needed::Answer(Replay::Missed {
            latest,
            messages: Vec::new(),
        });
    }
    if latest.seq - since.seq > max_messages as u64 {
        return reset(latest, ResetReason::Trimmed);
    }
    Needed::Messages {
        from: since.seq + 1,
        latest,
    }
}

/// The answer once the kept messages of `from..=latest` are read (ascending): all of them, or a
/// reset when one has expired.
pub(crate) fn complete(latest: Position, from: u64, kept: Vec<Entry>) -> Replay {
    let contiguous = kept.len() as u64 == latest.seq + 1 - from
        && kept
            .iter()
            .zip(from..)
            .all(|(entry, expected)| entry.seq == expected);
    if contiguous {
        Replay::Missed {
            latest,
            messages: kept,
        }
    } else {
        Replay::Reset {
            latest,
            reason: ResetReason::Expired,
        }
    }
}

/// A fresh epoch: 8 random base-62 characters.
pub(crate) fn new_epoch() -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bits: u64 = rand::random();
    (0..8)
        .map(|_| {
            let digit = DIGITS[(bits % 62) as usize] as char;
            bits /= 62;
            digit
        })
        .collect()
}

/// The history a Lambda binary uses, once per cold start: none when `HISTORY_CHANNELS` names no
/// channel (nothing is built, nothing called), else the one matching `CONNECTION_STORE`.
pub fn from_env(
    sdk_config: &aws_config::SdkConfig,
    settings: &HistorySettings,
) -> Result<Option<Arc<dyn ChannelHistory>>, Error> {
    if !settings.enabled() {
        return Ok(None);
    }
    let kind = std::env::var(crate::store::STORE_ENV).unwrap_or_else(|_| "dynamodb".into());
    match kind.as_str() {
        "dynamodb" => Ok(Some(Arc::new(DynamoDbHistory::new(
            crate::DynamoDbStore::client(sdk_config),
            settings,
        )))),
        "memory" => Ok(Some(Arc::new(InMemoryHistory::new(settings)))),
        other => Err(Error::Config(format!(
            "{}={other:?} is not a known store; use \"dynamodb\" or \"memory\"",
            crate::store::STORE_ENV
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(seqs: impl IntoIterator<Item = u64>) -> Vec<Entry> {
        seqs.into_iter()
            .map(|seq| Entry {
                seq,
                data: Arc::from("{}"),
            })
            .collect()
    }

    #[test]
    fn the_rules_of_a_resume() {
        let at = |seq| Position::new(seq, "e1");
        let reason = |needed: Needed| match needed {
            Needed::Answer(Replay::Reset { reason, .. }) => Some(reason),
            _ => None,
        };
        assert_eq!(
            reason(needed(at(10), &Position::new(3, "e0"), 300)),
            Some(ResetReason::EpochChanged)
        );
        assert_eq!(
            reason(needed(at(10), &at(11), 300)),
            Some(ResetReason::AheadOfServer)
        );
        assert_eq!(
            reason(needed(at(10), &at(4), 5)),
            Some(ResetReason::Trimmed)
        );
        assert!(matches!(
            needed(at(10), &at(5), 5),
            Needed::Messages { from: 6, .. }
        ));
        assert!(matches!(
            needed(at(10), &Position::new(4, ""), 300),
            Needed::Messages { from: 5, .. }
        ));
        assert!(matches!(
            needed(at(10), &Position::default(), 300),
            Needed::Messages { from: 1, .. }
        ));
        assert!(matches!(
            needed(Position::default(), &Position::default(), 300),
            Needed::Answer(Replay::Missed { .. })
        ));
        assert!(matches!(
            complete(at(10), 6, entries(6..=10)),
            Replay::Missed { .. }
        ));
        assert_eq!(
            complete(at(10), 6, entries(7..=10)),
            Replay::Reset {
                latest: at(10),
                reason: ResetReason::Expired
            }
        );
        assert_eq!(new_epoch().len(), 8);
        assert_ne!(new_epoch(), new_epoch());
    }
}
