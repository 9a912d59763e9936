//! Webhooks in the local gateway: the same events, signing, retries and dead-lettering as on
//! AWS, fed by the store itself (the local counterpart of the DynamoDB streams, whichever store
//! the gateway runs on) and by the handlers' [`WebhookSink`] calls.
//!
//! Nothing waits for a receiver: every fact is put on a bounded queue with `try_send`, and a
//! full queue drops the event with a log line and the `dropped` counter. One worker turns
//! changes into events (the channel counts it reads are its own, off the handlers' path) and
//! delivers at most [`MAX_IN_FLIGHT`] at once, each retried as configured, then counted `dead`.

use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use ws_bridge::protocol::BroadcastReport;
use ws_bridge::store::{ChannelCounts, Connection, ConnectionPage, Segment};
use ws_bridge::time::now_epoch_ms;
use ws_bridge::webhooks::changes::{StoreChange, event_for};
use ws_bridge::webhooks::delivery::{Counters, Deliverer};
use ws_bridge::webhooks::event::{Closing, EventType, Target, WebhookEvent, new_event_id};
use ws_bridge::webhooks::{EventFilter, WebhookSink};
use ws_bridge::{ConnectionStore, Error};

/// Deliveries in flight at once: a slow receiver holds at most this many, then the queue fills.
pub const MAX_IN_FLIGHT: usize = 32;
/// How often rows past their `expiresAt` are swept (the local model of DynamoDB's TTL).
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

// Boxed: a change (a whole connection row) is several times an event's size.
enum Job {
    Event(WebhookEvent),
    Change(Box<StoreChange>),
}

/// The gateway's webhooks: the queue's sending side, the counters, and what `$disconnect` said.
pub(crate) struct LocalWebhooks {
    filter: EventFilter,
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    /// Enqueued and not yet delivered, dead or filtered out.
    pending: Arc<AtomicUsize>,
    /// Close code and reason from `$disconnect`, until the store removes the row.
    closes: Mutex<HashMap<String, (Option<i64>, String)>>,
    /// Messages delivered (`sent`) since the last `broadcast.stats`.
    sent_since_stats: AtomicU64,
    inner: Arc<dyn ConnectionStore>,
}

impl LocalWebhooks {
    /// Starts webhooks over `store`: returns the store the handlers should use (reporting its
    /// changes) and the sink. Starts the worker, and the periodic `broadcast.stats` (every
    /// `stats_interval_secs`, 0: never) and expiry sweep; they end when both are dropped.
    pub fn start(
        store: Arc<dyn ConnectionStore>,
        deliverer: Deliverer,
        events: EventFilter,
        stats_interval_secs: u64,
        queue_capacity: usize,
    ) -> (Arc<dyn ConnectionStore>, Arc<LocalWebhooks>) {
        let (queue, jobs) = mpsc::channel(queue_capacity.max(1));
        let webhooks = Arc::new(LocalWebhooks {
            filter: events,
            queue,
            counters: Arc::default(),
            pending: Arc::default(),
            closes: Mutex::default(),
            sent_since_stats: AtomicU64::new(0),
            inner: Arc::clone(&store),
        });
        tokio::spawn(work(
            jobs,
            deliverer,
            Arc::clone(&store),
            Arc::clone(&webhooks.counters),
            Arc::clone(&webhooks.pending),
            webhooks.filter.clone(),
        ));
        tokio::spawn(tick(Arc::downgrade(&webhooks), stats_interval_secs));
        let observed = Arc::new(ObservedStore {
            inner: store,
            webhooks: Arc::downgrade(&webhooks),
        });
        (observed, webhooks)
    }

    /// `server.status`: the gateway starting or stopping. AWS has no counterpart: a stage is
    /// never started or stopped as a process is.
    pub fn server_status(&self, status: &str, url: &str) {
        if self.filter.allows(EventType::ServerStatus) {
            self.enqueue(Job::Event(WebhookEvent::server_status(status, url)));
        }
    }

    /// Waits until everything enqueued is delivered or dead, at most `limit`.
    pub async fn flush(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while self.pending.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// Removes every row past its `expiresAt`, each making an expired `client.disconnected`:
    /// what DynamoDB's TTL does on AWS. Returns how many were removed.
    pub async fn sweep_expired(&self) -> Result<usize, Error> {
        let now_secs = now_epoch_ms().div_euclid(1000);
        let mut expired = Vec::new();
        for segment in Segment::all(self.inner.listing_segments()) {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .inner
                    .list_page(segment, cursor.as_deref(), 1000)
                    .await?;
                for id in page.connection_ids {
                    if let Some(row) = self.inner.get(&id).await?
                        && row.expires_at <= now_secs
                    {
                        expired.push(row);
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        let mut removed = 0;
        for row in expired {
            if self.inner.delete(&row.connection_id).await? {
                removed += 1;
                tracing::info!(connection_id = %row.connection_id, "connection expired without $disconnect");
                let closing = Closing {
                    expired: true,
                    ..Closing::default()
                };
                self.removed(row, closing);
            }
        }
        Ok(removed)
    }

    fn enqueue(&self, job: Job) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(err) = self.queue.try_send(job) {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let why = match err {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "worker stopped",
            };
            // Logged at 1, 2, 4, 8, … drops: a loss is always visible, a flood of them is not
            // a flood of log lines on the handlers' path.
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, why, "webhook events dropped (total so far)");
            }
        }
    }

    fn change(&self, change: StoreChange) {
        if change.may_produce(|t| self.filter.allows(t)) {
            self.enqueue(Job::Change(Box::new(change)));
        }
    }

    fn added(&self, connection: Connection) {
        for channel in &connection.channels {
            self.subscription(channel, true);
        }
        self.change(StoreChange::ConnectionAdded {
            id: new_event_id(),
            connection,
        });
    }

    fn removed(&self, connection: Connection, closing: Closing) {
        for channel in &connection.channels {
            self.subscription(channel, false);
        }
        self.change(StoreChange::ConnectionRemoved {
            id: new_event_id(),
            connection,
            closing,
            at_ms: now_epoch_ms(),
        });
    }

    fn subscription(&self, channel: &str, added: bool) {
        self.change(StoreChange::Subscription {
            id: new_event_id(),
            channel: channel.to_owned(),
            added,
        });
    }

    fn take_close(&self, connection_id: &str) -> Closing {
        let noted = self
            .closes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(connection_id);
        match noted {
            Some((code, reason)) => Closing {
                code,
                reason: Some(reason),
                expired: false,
            },
            None => Closing::default(),
        }
    }
}

#[async_trait]
impl WebhookSink for LocalWebhooks {
    async fn closing(&self, connection_id: &str, code: Option<i64>, reason: &str) {
        self.closes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(connection_id.to_owned(), (code, reason.to_owned()));
    }

    async fn delivered(&self, target: Target<'_>, report: &BroadcastReport, message: &[u8]) {
        self.sent_since_stats
            .fetch_add(report.sent as u64, Ordering::Relaxed);
        if self.filter.allows(EventType::MessageBroadcast) {
            let event = WebhookEvent::message_broadcast(&target, report, message);
            self.enqueue(Job::Event(event));
        }
    }

    async fn presence(&self, event_type: EventType, channel: &str, member: &serde_json::Value) {
        if self.filter.allows(event_type) {
            self.enqueue(Job::Event(WebhookEvent::presence(
                event_type, channel, member,
            )));
        }
    }

    async fn broadcast_completed(&self, report: &ws_bridge::broadcasts::AsyncReport) {
        if self.filter.allows(EventType::BroadcastCompleted) {
            self.enqueue(Job::Event(WebhookEvent::broadcast_completed(report)));
        }
    }

    fn counters(&self) -> Option<serde_json::Value> {
        let mut counters = self.counters.snapshot();
        counters["pending"] = self.pending.load(Ordering::Relaxed).into();
        Some(counters)
    }
}

/// The worker: changes into events, then at most [`MAX_IN_FLIGHT`] deliveries at once.
async fn work(
    mut jobs: mpsc::Receiver<Job>,
    deliverer: Deliverer,
    store: Arc<dyn ConnectionStore>,
    counters: Arc<Counters>,
    pending: Arc<AtomicUsize>,
    filter: EventFilter,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let occupied = Mutex::new(HashSet::new());
    while let Some(job) = jobs.recv().await {
        let event = match job {
            Job::Event(event) => Some(event),
            Job::Change(change) => {
                match event_for(*change, store.as_ref(), Some(&occupied)).await {
                    Ok(event) => event,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot derive a webhook event from a store change");
                        None
                    }
                }
            }
        };
        let Some(event) = event.filter(|e| filter.allows(e.event_type)) else {
            pending.fetch_sub(1, Ordering::AcqRel);
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (deliverer, counters, pending) = (
            deliverer.clone(),
            Arc::clone(&counters),
            Arc::clone(&pending),
        );
        tokio::spawn(async move {
            deliverer.deliver(&event, &counters).await;
            pending.fetch_sub(1, Ordering::AcqRel);
            drop(slot);
        });
    }
}

/// `broadcast.stats` every `stats_interval_secs` (0: never) and the expiry sweep, until the
/// webhooks are dropped.
async fn tick(webhooks: std::sync::Weak<LocalWebhooks>, stats_interval_secs: u64) {
    let stats_every = (stats_interval_secs > 0).then(|| Duration::from_secs(stats_interval_secs));
    let mut stats = stats_every
        .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    let mut sweep = tokio::time::interval_at(
        tokio::time::Instant::now() + EXPIRY_SWEEP_INTERVAL,
        EXPIRY_SWEEP_INTERVAL,
    );
    loop {
        let stats_due = async {
            match stats.as_mut() {
                Some(stats) => stats.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stats_due => {
                let Some(webhooks) = webhooks.upgrade() else { return };
                webhooks.emit_stats(stats_interval_secs).await;
            }
            _ = sweep.tick() => {
                let Some(webhooks) = webhooks.upgrade() else { return };
                if let Err(err) = webhooks.sweep_expired().await {
                    tracing::warn!(error = %err, "expiry sweep failed");
                }
            }
        }
    }
}

impl LocalWebhooks {
    async fn emit_stats(&self, interval_secs: u64) {
        if !self.filter.allows(EventType::BroadcastStats) {
            return;
        }
        let totals = futures::try_join!(self.inner.count(), self.inner.channel_counts(1));
        match totals {
            Ok((connections, ChannelCounts { total_channels, .. })) => {
                let delivered = self.sent_since_stats.swap(0, Ordering::Relaxed);
                self.enqueue(Job::Event(WebhookEvent::broadcast_stats(
                    connections,
                    total_channels,
                    Some(delivered),
                    interval_secs,
                )));
            }
            Err(err) => tracing::warn!(error = %err, "broadcast.stats skipped: store unavailable"),
        }
    }
}

/// The store as the handlers see it with webhooks on: every call goes to the real store, and
/// each change that succeeded is reported, as a DynamoDB stream reports it on AWS.
struct ObservedStore {
    inner: Arc<dyn ConnectionStore>,
    webhooks: std::sync::Weak<LocalWebhooks>,
}

impl ObservedStore {
    fn report(&self, report: impl FnOnce(&LocalWebhooks)) {
        if let Some(webhooks) = self.webhooks.upgrade() {
            report(&webhooks);
        }
    }
}

#[async_trait]
impl ConnectionStore for ObservedStore {
    async fn put(&self, connection: Connection) -> Result<(), Error> {
        self.inner.put(connection.clone()).await?;
        self.report(|w| w.added(connection));
        Ok(())
    }

    async fn put_limited(&self, connection: Connection, max_per_user: usize) -> Result<(), Error> {
        self.inner
            .put_limited(connection.clone(), max_per_user)
            .await?;
        self.report(|w| w.added(connection));
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error> {
        self.inner.get(connection_id).await
    }

    async fn delete(&self, connection_id: &str) -> Result<bool, Error> {
        // The old image, as the stream's REMOVE record has it: one read, on this path only.
        let row = self.inner.get(connection_id).await.ok().flatten();
        let removed = self.inner.delete(connection_id).await;
        let closing = self.webhooks.upgrade().map(|w| w.take_close(connection_id));
        if let (Ok(true), Some(row), Some(closing)) = (&removed, row, closing) {
            self.report(|w| w.removed(row, closing));
        }
        removed
    }

    fn listing_segments(&self) -> u32 {
        self.inner.listing_segments()
    }

    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        self.inner.list_page(segment, cursor, limit).await
    }

    async fn count(&self) -> Result<u64, Error> {
        self.inner.count().await
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
        max_channels: usize,
    ) -> Result<BTreeSet<String>, Error> {
        let now = self
            .inner
            .subscribe(connection_id, channels, max_channels)
            .await?;
        self.report(|w| {
            for channel in channels {
                w.subscription(channel, true);
            }
        });
        Ok(now)
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Error> {
        let now = self.inner.unsubscribe(connection_id, channels).await?;
        self.report(|w| {
            for channel in channels {
                w.subscription(channel, false);
            }
        });
        Ok(now)
    }

    async fn list_subscribers(
        &self,
        channel: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        self.inner.list_subscribers(channel, cursor, limit).await
    }

    async fn count_subscribers(&self, channel: &str) -> Result<u64, Error> {
        self.inner.count_subscribers(channel).await
    }

    async fn channel_counts(&self, limit: usize) -> Result<ChannelCounts, Error> {
        self.inner.channel_counts(limit).await
    }

    async fn connections_of_user(&self, user_id: &str) -> Result<Vec<String>, Error> {
        self.inner.connections_of_user(user_id).await
    }

    async fn record_message(&self, connection_id: &str, window: i64) -> Result<u64, Error> {
        self.inner.record_message(connection_id, window).await
    }

    async fn record_refused_handshake(
        &self,
        attempt_id: &str,
        status: u16,
        expires_at: i64,
    ) -> Result<(), Error> {
        self.inner
            .record_refused_handshake(attempt_id, status, expires_at)
            .await
    }

    async fn refused_handshake(&self, attempt_id: &str) -> Result<Option<u16>, Error> {
        self.inner.refused_handshake(attempt_id).await
    }
}
