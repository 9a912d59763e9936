//! In-process functions' pushes spread over every worker thread.
//!
//! A broadcast's sends are polled by the handler's one task, so the SDK's per-request work (the
//! bulk of a delivery's CPU) ran on one core however many the runtime had. Here each worker
//! thread gets a lane: a task with an SDK client of its own (so the lanes share no reference
//! counts or caches) that runs the sends handed to it. A connection always goes through the
//! same lane. The caller still awaits every outcome, so `BROADCAST_CONCURRENCY` still bounds
//! what is in flight and messages sent one after another reach a connection in that order.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use ws_bridge::{MessagePusher, PushOutcome, Throttled};

enum Call {
    Push(Vec<u8>),
    TryPush(Vec<u8>),
    Disconnect,
}

struct Job {
    connection_id: String,
    call: Call,
    outcome: oneshot::Sender<Result<PushOutcome, Throttled>>,
}

pub(crate) struct SpreadPusher {
    lanes: Vec<mpsc::UnboundedSender<Job>>,
    hasher: RandomState,
}

impl SpreadPusher {
    /// One lane per worker thread (`lanes`), each with the pusher `make` builds for it. Must
    /// run inside the runtime (it spawns the lanes).
    pub(crate) fn new(lanes: usize, mut make: impl FnMut(usize) -> Arc<dyn MessagePusher>) -> Self {
        let lanes = (0..lanes.max(1))
            .map(|lane| {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run_lane(make(lane), receiver));
                sender
            })
            .collect();
        Self {
            lanes,
            hasher: RandomState::new(),
        }
    }

    /// As many lanes as the machine has cores (the gateway's runtime has a worker per core).
    pub(crate) fn per_core(make: impl FnMut(usize) -> Arc<dyn MessagePusher>) -> Self {
        Self::new(
            std::thread::available_parallelism().map_or(1, usize::from),
            make,
        )
    }

    async fn call(&self, connection_id: &str, call: Call) -> Result<PushOutcome, Throttled> {
        let lane =
            usize::try_from(self.hasher.hash_one(connection_id)).unwrap_or(0) % self.lanes.len();
        let (outcome, answer) = oneshot::channel();
        let job = Job {
            connection_id: connection_id.to_owned(),
            call,
            outcome,
        };
        let shutting_down = || Ok(PushOutcome::Failed("the gateway is shutting down".into()));
        if self.lanes[lane].send(job).is_err() {
            return shutting_down();
        }
        answer.await.unwrap_or_else(|_| shutting_down())
    }
}

/// Runs every job it is handed, as many at once as are handed (the callers bound that).
async fn run_lane(pusher: Arc<dyn MessagePusher>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    let pusher = &*pusher;
                    running.push(async move {
                        let outcome = match &job.call {
                            Call::Push(data) => Ok(pusher.push(&job.connection_id, data).await),
                            Call::TryPush(data) => pusher.try_push(&job.connection_id, data).await,
                            Call::Disconnect => Ok(pusher.disconnect(&job.connection_id).await),
                        };
                        // The caller may have gone (its request was dropped): nothing to tell.
                        let _ = job.outcome.send(outcome);
                    });
                }
                None => break,
            },
            Some(()) = running.next(), if !running.is_empty() => {}
        }
    }
    while running.next().await.is_some() {}
}

#[async_trait]
impl MessagePusher for SpreadPusher {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        // Only `TryPush` answers `Err`.
        self.call(connection_id, Call::Push(data.to_vec()))
            .await
            .unwrap_or_else(|Throttled(reason)| PushOutcome::Failed(reason))
    }

    async fn try_push(&self, connection_id: &str, data: &[u8]) -> Result<PushOutcome, Throttled> {
        self.call(connection_id, Call::TryPush(data.to_vec())).await
    }

    async fn disconnect(&self, connection_id: &str) -> PushOutcome {
        self.call(connection_id, Call::Disconnect)
            .await
            .unwrap_or_else(|Throttled(reason)| PushOutcome::Failed(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers by the id's last character and notes which lane saw which id.
    struct Lane {
        lane: usize,
        seen: Arc<Mutex<Vec<(usize, String)>>>,
    }

    #[async_trait]
    impl MessagePusher for Lane {
        async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
            assert_eq!(data, connection_id.as_bytes());
            self.seen
                .lock()
                .unwrap()
                .push((self.lane, connection_id.to_owned()));
            tokio::task::yield_now().await;
            match connection_id.as_bytes().last() {
                Some(b'7') => PushOutcome::Gone,
                Some(b'3') => PushOutcome::Failed(format!("refused {connection_id}")),
                _ => PushOutcome::Delivered,
            }
        }

        async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
            PushOutcome::Delivered
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_caller_gets_its_own_outcome_and_a_connection_keeps_its_lane() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spread = Arc::new(SpreadPusher::new(2, |lane| {
            Arc::new(Lane {
                lane,
                seen: Arc::clone(&seen),
            }) as Arc<dyn MessagePusher>
        }));
        let ids: Vec<String> = (0..400).map(|n| format!("conn-{}", n % 200)).collect();
        let outcomes = futures::stream::iter(ids.clone())
            .map(|id| {
                let spread = Arc::clone(&spread);
                async move { (spread.push(&id, id.as_bytes()).await, id) }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        assert_eq!(outcomes.len(), 400);
        for (outcome, id) in outcomes {
            let expected = match id.as_bytes().last() {
                Some(b'7') => PushOutcome::Gone,
                Some(b'3') => PushOutcome::Failed(format!("refused {id}")),
                _ => PushOutcome::Delivered,
            };
            assert_eq!(outcome, expected, "{id}");
        }
        let seen = seen.lock().unwrap();
        let mut lane_of = std::collections::HashMap::new();
        for (lane, id) in seen.iter() {
            assert_eq!(*lane_of.entry(id.clone()).or_insert(*lane), *lane, "{id}");
        }
        let lanes: std::collections::HashSet<_> = lane_of.values().collect();
        assert_eq!(lanes.len(), 2, "200 connections use both lanes");
    }
}
