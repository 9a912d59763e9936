//! Where shards wait for a worker: an SQS queue on AWS (its redrive policy moves a shard that
//! keeps failing to the DLQ), and locally an in-process queue with worker tasks that redelivers
//! a failed or crashed shard as SQS would, up to the same number of receives.

use super::ShardTask;
use super::worker::ShardWorker;
use crate::Error;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// The seam between the request that starts a broadcast and whatever carries its shards.
#[async_trait]
pub trait ShardQueue: Send + Sync + 'static {
    async fn enqueue(&self, tasks: &[ShardTask]) -> Result<(), Error>;
}

/// Receives before a shard goes to the dead-letter queue: the template's `maxReceiveCount`.
pub const MAX_RECEIVES: u32 = 3;

/// The queue's URL variable for the function that starts broadcasts.
pub const QUEUE_URL_ENV: &str = "BROADCAST_QUEUE_URL";

/// Shards as SQS messages, ten to a `SendMessageBatch`.
#[derive(Clone, Debug)]
pub struct SqsShardQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsShardQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// The queue [`QUEUE_URL_ENV`] names; `None` when unset (then broadcasts stay synchronous).
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Option<Self> {
        let url = std::env::var(QUEUE_URL_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())?;
        Some(Self::new(aws_sdk_sqs::Client::new(sdk_config), url))
    }
}

#[async_trait]
impl ShardQueue for SqsShardQueue {
    async fn enqueue(&self, tasks: &[ShardTask]) -> Result<(), Error> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        for batch in tasks.chunks(10) {
            let mut request = self.client.send_message_batch().queue_url(&self.url);
            for task in batch {
                let body = serde_json::to_string(task)
                    .map_err(|err| Error::Config(format!("shard message: {err}")))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(task.shard.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|err| Error::Config(err.to_string()))?;
                request = request.entries(entry);
            }
            let output = request.send().await.map_err(|err| {
                Error::StoreUnavailable(format!(
                    "SQS SendMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&err)
                ))
            })?;
            if let Some(failed) = output.failed().first() {
                return Err(Error::StoreUnavailable(format!(
                    "SQS SendMessageBatch refused shard {}: {}",
                    failed.id(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(())
    }
}

struct Delivery {
    task: ShardTask,
    receives: u32,
}

/// The local stand-in for the queue and the worker function: `workers` tasks take shards and
/// run [`ShardWorker::run`], the code `broadcast-worker` runs on Lambda. A shard whose run fails
/// or panics is delivered again after `redelivery_delay` (SQS: the visibility timeout), up to
/// [`MAX_RECEIVES`] receives, then dead-lettered (kept, and logged as an error).
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<Delivery>,
    dead: Arc<Mutex<Vec<ShardTask>>>,
}

impl InProcessQueue {
    /// Must run inside a Tokio runtime (it spawns the workers).
    pub fn start(workers: usize, worker: Arc<ShardWorker>, redelivery_delay: Duration) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel::<Delivery>();
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        let dead = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..workers.max(1) {
            let (receiver, worker, sender, dead) = (
                Arc::clone(&receiver),
                Arc::clone(&worker),
                sender.downgrade(),
                Arc::clone(&dead),
            );
            tokio::spawn(async move {
                loop {
                    let Some(delivery) = receiver.lock().await.recv().await else {
                        return;
                    };
                    let run = {
                        let (worker, task) = (Arc::clone(&worker), delivery.task.clone());
                        // Its own task, so that a panic is a failed receive, as a crashed
                        // Lambda invocation is.
                        tokio::spawn(async move { worker.run(&task).await })
                    };
                    let failure = match run.await {
                        Ok(Ok(())) => continue,
                        Ok(Err(err)) => err.to_string(),
                        Err(join) => format!("the worker crashed: {join}"),
                    };
                    let receives = delivery.receives + 1;
                    let task = delivery.task;
                    if receives >= MAX_RECEIVES {
                        tracing::error!(broadcast_id = %task.broadcast_id, shard = task.shard, receives, error = %failure, "shard dead-lettered");
                        dead.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(task);
                        continue;
                    }
                    tracing::warn!(broadcast_id = %task.broadcast_id, shard = task.shard, receives, error = %failure, "shard failed; delivered again");
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(redelivery_delay).await;
                        if let Some(sender) = sender.upgrade() {
                            let _ = sender.send(Delivery { task, receives });
                        }
                    });
                }
            });
        }
        Self { sender, dead }
    }

    /// Shards that failed [`MAX_RECEIVES`] times.
    pub fn dead_letters(&self) -> Vec<ShardTask> {
        self.dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl ShardQueue for InProcessQueue {
    async fn enqueue(&self, tasks: &[ShardTask]) -> Result<(), Error> {
        for task in tasks {
            self.sender
                .send(Delivery {
                    task: task.clone(),
                    receives: 0,
                })
                .map_err(|_| Error::StoreUnavailable("the broadcast queue is closed".into()))?;
        }
        Ok(())
    }
}
