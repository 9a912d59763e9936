//! History in this process: per channel, a counter and a ring of at most
//! `HISTORY_MAX_MESSAGES` messages, each kept until `HISTORY_TTL_SECONDS` after it was
//! published. Gone when the process stops: a restarted gateway has new epochs.

use super::{ChannelHistory, Entry, Needed, Position, Replay, complete, needed, new_epoch};
use crate::Error;
use crate::settings::HistorySettings;
use crate::time::now_epoch_ms;
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
pub struct InMemoryHistory {
    ttl_ms: i64,
    max_messages: usize,
    channels: Mutex<HashMap<String, Ring>>,
}

#[derive(Debug)]
struct Ring {
    latest: u64,
    epoch: String,
    /// `(seq, expires at in epoch ms, data)`, ascending by seq: contiguous, the newest last.
    kept: VecDeque<(u64, i64, Arc<str>)>,
}

impl Ring {
    /// Drops what expired or no longer fits. Published in order under the lock, messages expire
    /// in seq order too, so the expired ones are at the front.
    fn trim(&mut self, now_ms: i64, max_messages: usize) {
        while self
            .kept
            .front()
            .is_some_and(|(_, expires_at, _)| *expires_at <= now_ms)
            || self.kept.len() > max_messages
        {
            self.kept.pop_front();
        }
    }
}

impl InMemoryHistory {
    pub fn new(settings: &HistorySettings) -> Self {
        Self {
            ttl_ms: i64::try_from(settings.ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_messages: settings.max_messages.max(1),
            channels: Mutex::default(),
        }
    }

    // Nothing calls out while holding the lock, so a poisoned one is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Ring>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ChannelHistory for InMemoryHistory {
    async fn append(&self, channel: &str, data: &str) -> Result<Position, Error> {
        let now = now_epoch_ms();
        let mut channels = self.lock();
        let ring = channels.entry(channel.to_owned()).or_insert_with(|| Ring {
            latest: 0,
            epoch: new_epoch(),
            kept: VecDeque::new(),
        });
        ring.latest += 1;
        ring.kept.push_back((
            ring.latest,
            now.saturating_add(self.ttl_ms),
            Arc::from(data),
        ));
        ring.trim(now, self.max_messages);
        Ok(Position::new(ring.latest, ring.epoch.clone()))
    }

    async fn latest(&self, channel: &str) -> Result<Position, Error> {
        Ok(self
            .lock()
            .get(channel)
            .map(|ring| Position::new(ring.latest, ring.epoch.clone()))
            .unwrap_or_default())
    }

    async fn replay(&self, channel: &str, since: &Position) -> Result<Replay, Error> {
        let now = now_epoch_ms();
        let mut channels = self.lock();
        let latest = channels
            .get(channel)
            .map(|ring| Position::new(ring.latest, ring.epoch.clone()))
            .unwrap_or_default();
        Ok(match needed(latest, since, self.max_messages) {
            Needed::Answer(replay) => replay,
            Needed::Messages { latest, from } => {
                let kept = channels
                    .get_mut(channel)
                    .map(|ring| {
                        ring.trim(now, self.max_messages);
                        ring.kept
                            .iter()
                            .filter(|(seq, _, _)| *seq >= from)
                            .map(|(seq, _, data)| Entry {
                                seq: *seq,
                                data: Arc::clone(data),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                complete(latest, from, kept)
            }
        })
    }
}

/// The history contract, one test per check: `history::memory::in_memory::<check>`.
#[cfg(test)]
mod in_memory {
    crate::history_contract_tests!(
        |settings| async move { super::InMemoryHistory::new(&settings) }
    );
}
