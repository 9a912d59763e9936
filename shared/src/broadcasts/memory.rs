//! Broadcast progress in memory, for the local gateway's in-memory store: one map guarded by a
//! lock, so each claim and completion is atomic as the DynamoDB one is by its conditions.

use super::{AsyncReport, BroadcastJob, BroadcastProgress, Claim, PageTally, ShardProgress};
use crate::Error;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct InMemoryBroadcasts {
    broadcasts: Mutex<HashMap<String, Progress>>,
}

#[derive(Debug)]
struct Progress {
    job: BroadcastJob,
    shards: HashMap<u32, ShardProgress>,
    totals: PageTally,
    shards_done: u32,
}

impl InMemoryBroadcasts {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Progress>> {
        self.broadcasts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn unknown(id: &str) -> Error {
    Error::NotFound(format!("broadcast {id} is not stored"))
}

#[async_trait]
impl BroadcastProgress for InMemoryBroadcasts {
    async fn create(&self, job: &BroadcastJob) -> Result<(), Error> {
        let mut broadcasts = self.lock();
        if broadcasts.contains_key(&job.id) {
            return Err(Error::Conflict(format!("broadcast {} exists", job.id)));
        }
        broadcasts.insert(
            job.id.clone(),
            Progress {
                job: job.clone(),
                shards: HashMap::new(),
                totals: PageTally::default(),
                shards_done: 0,
            },
        );
        Ok(())
    }

    async fn job(&self, id: &str) -> Result<Option<BroadcastJob>, Error> {
        Ok(self.lock().get(id).map(|progress| progress.job.clone()))
    }

    async fn shard(&self, id: &str, shard: u32) -> Result<ShardProgress, Error> {
        let broadcasts = self.lock();
        let progress = broadcasts.get(id).ok_or_else(|| unknown(id))?;
        Ok(progress.shards.get(&shard).cloned().unwrap_or_default())
    }

    async fn claim(
        &self,
        id: &str,
        shard: u32,
        from: Option<&str>,
        claim: &Claim,
    ) -> Result<(), Error> {
        let mut broadcasts = self.lock();
        let progress = broadcasts.get_mut(id).ok_or_else(|| unknown(id))?;
        let state = progress.shards.entry(shard).or_default();
        if state.done || state.claim.is_some() || state.cursor.as_deref() != from {
            return Err(Error::Conflict(format!(
                "shard {shard} of broadcast {id} moved on"
            )));
        }
        state.claim = Some(claim.clone());
        Ok(())
    }

    async fn complete(
        &self,
        id: &str,
        shard: u32,
        token: &str,
        tally: &PageTally,
    ) -> Result<bool, Error> {
        let mut broadcasts = self.lock();
        let progress = broadcasts.get_mut(id).ok_or_else(|| unknown(id))?;
        let state = progress.shards.entry(shard).or_default();
        let Some(claim) = state.claim.take_if(|claim| claim.token == token) else {
            return Err(Error::Conflict(format!(
                "shard {shard} of broadcast {id} is not claimed by this worker"
            )));
        };
        state.cursor = claim.next;
        state.done = claim.last;
        let totals = &mut progress.totals;
        totals.connection_count += tally.connection_count;
        totals.sent += tally.sent;
        totals.gone += tally.gone;
        totals.failed += tally.failed;
        totals.unconfirmed += tally.unconfirmed;
        totals.throttle_retries += tally.throttle_retries;
        totals.throttled_ms += tally.throttled_ms;
        if claim.last {
            progress.shards_done += 1;
            return Ok(progress.shards_done == progress.job.shard_count);
        }
        Ok(false)
    }

    async fn report(&self, id: &str) -> Result<Option<AsyncReport>, Error> {
        Ok(self
            .lock()
            .get(id)
            .map(|progress| report(&progress.job, &progress.totals, progress.shards_done)))
    }
}

/// The report of `job` with `totals` after `shards_done` shards.
pub(crate) fn report(job: &BroadcastJob, totals: &PageTally, shards_done: u32) -> AsyncReport {
    AsyncReport {
        broadcast_id: job.id.clone(),
        status: if shards_done >= job.shard_count {
            "completed"
        } else {
            "running"
        },
        channel: job.channel.clone(),
        shard_count: job.shard_count,
        shards_done,
        connection_count: totals.connection_count,
        sent: totals.sent,
        gone: totals.gone,
        failed: totals.failed,
        unconfirmed: totals.unconfirmed,
        throttle_retries: totals.throttle_retries,
        throttled_ms: totals.throttled_ms,
        seq: job.seq,
        epoch: job.epoch.clone(),
    }
}

#[cfg(test)]
mod tests {
    crate::broadcast_progress_contract_tests!(|| async { super::InMemoryBroadcasts::new() });
}
