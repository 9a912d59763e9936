//! One shard of an asynchronous broadcast, delivered: the code `broadcast-worker` runs for each
//! queue message, and the local gateway's in-process workers run too. Page by page: claim, send
//! (paced, see [`crate::throttle`]), complete; see the module above for why nobody gets the
//! message twice.

use super::{BroadcastJob, BroadcastProgress, Claim, PageTally, ShardScope, ShardTask, new_token};
use crate::fanout::deliver_paced;
use crate::throttle::Pacer;
use crate::webhooks::WebhookSink;
use crate::{ConnectionStore, Error, MessagePusher, PushOutcome, Settings};
use futures::StreamExt;
use std::sync::{Arc, Mutex, PoisonError};

/// What a worker needs, built once per process.
pub struct ShardWorker {
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    progress: Arc<dyn BroadcastProgress>,
    settings: Settings,
    webhooks: Arc<dyn WebhookSink>,
    /// The pace the last shard ended at: the next one starts there rather than unpaced, so a
    /// warm worker does not run into the throttle again at every shard.
    learned_rate: Mutex<Option<f64>>,
}

/// One page of a shard's audience.
struct Page {
    ids: Vec<String>,
    next: Option<String>,
    last: bool,
}

/// The reason an unconfirmed recipient is counted failed with.
pub const UNCONFIRMED: &str = "unconfirmed: a worker stopped while sending to this page; not sent again, so that nobody gets the message twice";

impl ShardWorker {
    pub fn new(
        store: Arc<dyn ConnectionStore>,
        pusher: Arc<dyn MessagePusher>,
        progress: Arc<dyn BroadcastProgress>,
        settings: Settings,
        webhooks: Arc<dyn WebhookSink>,
    ) -> Self {
        Self {
            store,
            pusher,
            progress,
            settings,
            webhooks,
            learned_rate: Mutex::new(None),
        }
    }

    /// Delivers `task`'s shard from where its progress stands. `Ok` when the shard is done (by
    /// this run or another); `Err` when the store or the progress failed (the queue delivers
    /// the shard again, and it resumes).
    pub async fn run(&self, task: &ShardTask) -> Result<(), Error> {
        let id = &task.broadcast_id;
        let Some(job) = self.progress.job(id).await? else {
            tracing::warn!(broadcast_id = %id, "shard of an unknown broadcast dropped");
            return Ok(());
        };
        let mut state = self.progress.shard(id, task.shard).await?;
        if state.done {
            return Ok(());
        }
        if let Some(claim) = state.claim.take() {
            // A worker died sending this page: count its recipients once, as unconfirmed.
            let count = claim.ids.len() as u64;
            tracing::warn!(broadcast_id = %id, shard = task.shard, recipients = count, reason = UNCONFIRMED, "resuming a shard after a crash");
            let tally = PageTally {
                connection_count: count,
                failed: count,
                unconfirmed: count,
                ..PageTally::default()
            };
            if !self.complete(&job, task.shard, &claim, &tally).await? || claim.last {
                return Ok(());
            }
            state.cursor = claim.next;
        }
        let pacer = Pacer::seeded(
            *self
                .learned()
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let outcome = self.pages(task, &job, &pacer, state.cursor).await;
        if let Some(rate) = pacer.rate() {
            *self
                .learned()
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(rate);
        }
        outcome
    }

    fn learned(&self) -> &Mutex<Option<f64>> {
        &self.learned_rate
    }

    /// The shard's pages from `cursor` on: claim, send, complete, until its last.
    async fn pages(
        &self,
        task: &ShardTask,
        job: &BroadcastJob,
        pacer: &Pacer,
        mut cursor: Option<String>,
    ) -> Result<(), Error> {
        let id = &task.broadcast_id;
        let mut counted = (0, std::time::Duration::ZERO);
        loop {
            let page = self.page(job, &task.scope, cursor.as_deref()).await?;
            let claim = Claim {
                token: new_token(),
                ids: page.ids,
                next: page.next,
                last: page.last,
            };
            match self
                .progress
                .claim(id, task.shard, cursor.as_deref(), &claim)
                .await
            {
                Ok(()) => {}
                Err(Error::Conflict(reason)) => {
                    // The queue handed this shard to another worker too (SQS delivers at least
                    // once): it has the shard.
                    tracing::info!(broadcast_id = %id, shard = task.shard, %reason, "shard taken by another worker");
                    return Ok(());
                }
                Err(err) => return Err(err),
            }
            let mut tally = self.send(pacer, &claim.ids, job.data.as_bytes()).await;
            // The pacer counts for the whole shard; each page adds what it added.
            let (retries, waited) = (pacer.retries(), pacer.throttled_for());
            tally.throttle_retries = retries - counted.0;
            tally.throttled_ms =
                u64::try_from(waited.saturating_sub(counted.1).as_millis()).unwrap_or(u64::MAX);
            counted = (retries, waited);
            if !self.complete(job, task.shard, &claim, &tally).await? || claim.last {
                return Ok(());
            }
            cursor = claim.next;
        }
    }

    /// A batch of queue messages (one shard each): the shards that failed are named in
    /// `batchItemFailures`, so that SQS delivers only those again (`ReportBatchItemFailures`).
    /// A message that is not a shard is logged and dropped: delivering it again cannot help.
    pub async fn handle_sqs(&self, event: aws_lambda_events::sqs::SqsEvent) -> serde_json::Value {
        let mut failures = Vec::new();
        for message in &event.records {
            let task = message
                .body
                .as_deref()
                .map(serde_json::from_str::<ShardTask>);
            match task {
                Some(Ok(task)) => {
                    if let Err(err) = self.run(&task).await {
                        tracing::error!(broadcast_id = %task.broadcast_id, shard = task.shard, error = %err, "shard failed; SQS delivers it again");
                        failures.push(serde_json::json!({
                            "itemIdentifier": message.message_id.clone().unwrap_or_default()
                        }));
                    }
                }
                _ => {
                    tracing::error!(message_id = ?message.message_id, "queue message is not a shard; dropped");
                }
            }
        }
        serde_json::json!({ "batchItemFailures": failures })
    }

    /// Completes `claim`; `Ok(false)` when another worker owns the shard now. Sends the
    /// completion's webhook when it finished the broadcast.
    async fn complete(
        &self,
        job: &BroadcastJob,
        shard: u32,
        claim: &Claim,
        tally: &PageTally,
    ) -> Result<bool, Error> {
        match self
            .progress
            .complete(&job.id, shard, &claim.token, tally)
            .await
        {
            Ok(finished) => {
                if finished {
                    self.finished(job).await;
                }
                Ok(true)
            }
            Err(Error::Conflict(reason)) => {
                tracing::info!(broadcast_id = %job.id, shard, %reason, "page completed by another worker");
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    async fn finished(&self, job: &BroadcastJob) {
        match self.progress.report(&job.id).await {
            Ok(Some(report)) => {
                tracing::info!(
                    broadcast_id = %job.id,
                    connections = report.connection_count,
                    sent = report.sent,
                    gone = report.gone,
                    failed = report.failed,
                    unconfirmed = report.unconfirmed,
                    throttle_retries = report.throttle_retries,
                    throttled_ms = report.throttled_ms,
                    "broadcast completed"
                );
                self.webhooks.broadcast_completed(&report).await;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(broadcast_id = %job.id, error = %err, "completed, but the report could not be read");
            }
        }
    }

    /// The next page of the shard after `cursor`.
    async fn page(
        &self,
        job: &BroadcastJob,
        scope: &ShardScope,
        cursor: Option<&str>,
    ) -> Result<Page, Error> {
        let limit = self.settings.broadcast_page_size;
        match (scope, &job.channel) {
            (ShardScope::ChannelRange { after, until }, Some(channel)) => {
                let after = cursor.or(after.as_deref());
                let page = self.store.list_subscribers(channel, after, limit).await?;
                let mut ids = page.connection_ids;
                let mut last = page.next_cursor.is_none();
                if let Some(until) = until {
                    let before = ids.len();
                    ids.retain(|id| id.as_str() <= until.as_str());
                    last |= ids.len() < before || ids.last().is_some_and(|id| id == until);
                }
                // An empty page that is not the last (DynamoDB may answer one) moves nothing.
                let next = if last {
                    None
                } else {
                    ids.last().cloned().or(page.next_cursor)
                };
                Ok(Page { ids, next, last })
            }
            (ShardScope::Segment { .. }, None) => {
                let segment = scope.segment().unwrap_or(crate::store::Segment::WHOLE);
                let page = self.store.list_page(segment, cursor, limit).await?;
                // A scan segment may answer an empty page that is not its last.
                let last = page.next_cursor.is_none();
                Ok(Page {
                    next: if last { None } else { page.next_cursor },
                    ids: page.connection_ids,
                    last,
                })
            }
            _ => Err(Error::MalformedEvent(format!(
                "shard scope {scope:?} does not fit broadcast {} (channel {:?})",
                job.id, job.channel
            ))),
        }
    }

    /// Sends to `ids`, at most `broadcast_concurrency` at once, all at `pacer`'s pace; 410s
    /// remove their rows as they come.
    async fn send(&self, pacer: &Pacer, ids: &[String], data: &[u8]) -> PageTally {
        let (store, pusher) = (self.store.as_ref(), self.pusher.as_ref());
        let concurrency = self.settings.broadcast_concurrency.max(1);
        let mut outcomes = outcomes(store, pusher, pacer, ids, data, concurrency);
        let mut tally = PageTally {
            connection_count: ids.len() as u64,
            ..PageTally::default()
        };
        while let Some((id, outcome)) = outcomes.next().await {
            match outcome {
                PushOutcome::Delivered => tally.sent += 1,
                PushOutcome::Gone => tally.gone += 1,
                PushOutcome::Failed(error) => {
                    tracing::warn!(connection_id = %id, %error, "broadcast recipient failed");
                    tally.failed += 1;
                }
            }
        }
        tally
    }
}

/// Each send's outcome as it completes. Boxed: as an opaque type its closure defeats rustc's
/// `Send` inference (rust-lang/rust#64552), as in [`crate::fanout`].
fn outcomes<'a>(
    store: &'a dyn ConnectionStore,
    pusher: &'a dyn MessagePusher,
    pacer: &'a Pacer,
    ids: &'a [String],
    data: &'a [u8],
    concurrency: usize,
) -> futures::stream::BoxStream<'a, (&'a String, PushOutcome)> {
    futures::stream::iter(ids)
        .map(move |id| async move { (id, deliver_paced(store, pusher, pacer, id, data).await) })
        .buffer_unordered(concurrency)
        .boxed()
}
