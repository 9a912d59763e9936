//! An asynchronous broadcast end to end on the in-memory backends, through the in-process queue
//! and its workers: exact reports, a worker crashing mid-shard, stale rows removed per shard,
//! a history channel's message numbered once. (The same on DynamoDB Local, and through the
//! gateway, in `tests/tests/async_broadcasts.rs`.)

use super::requests::{AsyncBroadcasts, handle};
use super::worker::ShardWorker;
use super::*;
use crate::store::contract::sample_connection;
use crate::webhooks::NoWebhooks;
use crate::{
    ConnectionStore, InMemoryHistory, InMemoryStore, MessagePusher, PushOutcome, Settings,
};
use lambda_http::RequestExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts what each connection was sent; `gone-*` are 410; the `crash_at`-th send panics, once
/// (a worker dying mid-page: its other sends of that moment may or may not have gone out).
struct CountingPusher {
    received: Mutex<HashMap<String, Vec<String>>>,
    sends: AtomicUsize,
    crash_at: Option<usize>,
}

#[async_trait::async_trait]
impl MessagePusher for CountingPusher {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(Some(n) != self.crash_at, "the worker crashes mid-page");
        tokio::task::yield_now().await;
        if connection_id.starts_with("gone-") {
            return PushOutcome::Gone;
        }
        self.received
            .lock()
            .unwrap()
            .entry(connection_id.to_owned())
            .or_default()
            .push(String::from_utf8_lossy(data).into_owned());
        PushOutcome::Delivered
    }

    async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
        PushOutcome::Delivered
    }
}

struct Setup {
    store: Arc<InMemoryStore>,
    pusher: Arc<CountingPusher>,
    jobs: AsyncBroadcasts,
    queue: Arc<InProcessQueue>,
    settings: Settings,
    history: Arc<InMemoryHistory>,
}

async fn setup(live: usize, gone: usize, crash_at: Option<usize>) -> Setup {
    let store = Arc::new(InMemoryStore::new());
    let channel: std::collections::BTreeSet<String> = ["room".to_string()].into();
    let ids = (0..live)
        .map(|i| format!("live-{i:05}"))
        .chain((0..gone).map(|i| format!("gone-{i:03}")));
    for id in ids {
        store.put(sample_connection(&id)).await.unwrap();
        store.subscribe(&id, &channel, 5).await.unwrap();
    }
    let settings = Settings {
        broadcast_page_size: 20,
        broadcast_concurrency: 4,
        history: crate::settings::HistorySettings {
            channels: "room".parse().unwrap(),
            ..Default::default()
        },
        ..Settings::default()
    };
    let pusher = Arc::new(CountingPusher {
        received: Mutex::new(HashMap::new()),
        sends: AtomicUsize::new(0),
        crash_at,
    });
    let progress: Arc<dyn BroadcastProgress> = Arc::new(InMemoryBroadcasts::new());
    let worker = Arc::new(ShardWorker::new(
        Arc::clone(&store) as Arc<dyn ConnectionStore>,
        Arc::clone(&pusher) as Arc<dyn MessagePusher>,
        Arc::clone(&progress),
        settings.clone(),
        Arc::new(NoWebhooks),
    ));
    let queue = Arc::new(InProcessQueue::start(2, worker, Duration::from_millis(20)));
    let history = Arc::new(InMemoryHistory::new(&settings.history));
    Setup {
        store,
        pusher,
        jobs: AsyncBroadcasts {
            progress,
            queue: Arc::clone(&queue) as Arc<dyn ShardQueue>,
            settings: AsyncBroadcastSettings {
                threshold: 0,
                shard_size: 100,
                workers: 2,
            },
        },
        queue,
        settings,
        history,
    }
}

impl Setup {
    async fn post(
        &self,
        path: &str,
        channel: Option<&str>,
    ) -> (u16, serde_json::Value, Option<String>) {
        let mut request = lambda_http::Request::new(lambda_http::Body::from(r#"{"n":1}"#));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = path.parse().unwrap();
        request
            .headers_mut()
            .insert("prefer", http::HeaderValue::from_static("respond-async"));
        let request = match channel {
            Some(channel) => request.with_path_parameters(HashMap::from([(
                "channel".to_string(),
                channel.to_string(),
            )])),
            None => request,
        };
        let response = handle(
            self.store.as_ref(),
            Some(self.history.as_ref() as &dyn crate::ChannelHistory),
            self.pusher.as_ref(),
            &self.settings,
            &NoWebhooks,
            Some(&self.jobs),
            request,
        )
        .await
        .unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status().as_u16(), body, location)
    }

    async fn finished(&self, id: &str) -> AsyncReport {
        for _ in 0..500 {
            let report = self.jobs.progress.report(id).await.unwrap().unwrap();
            if report.status == "completed" {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("broadcast {id} did not complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_in_shards_each_once_and_stale_rows_removed() {
    let setup = setup(250, 5, None).await;
    let (status, accepted, location) = setup.post("/broadcast", None).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["broadcastId"].as_str().unwrap().to_owned();
    assert_eq!(location, Some(format!("/broadcasts/{id}")));
    assert_eq!(accepted["shardCount"], 3, "255 recipients at 100 a shard");

    let report = setup.finished(&id).await;

    assert_eq!(
        (
            report.connection_count,
            report.sent,
            report.gone,
            report.failed
        ),
        (255, 250, 5, 0)
    );
    {
        let received = setup.pusher.received.lock().unwrap();
        assert_eq!(received.len(), 250);
        assert!(
            received
                .values()
                .all(|messages| messages == &[r#"{"n":1}"#])
        );
    }
    for i in 0..5 {
        assert_eq!(
            setup.store.get(&format!("gone-{i:03}")).await.unwrap(),
            None
        );
    }
    assert!(setup.queue.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crashing_mid_shard_is_retried_and_nobody_gets_the_message_twice() {
    let setup = setup(300, 0, Some(57)).await;
    let (status, accepted, _) = setup.post("/broadcast", None).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["broadcastId"].as_str().unwrap().to_owned();

    let report = setup.finished(&id).await;

    // Exact: everyone counted once, as sent or (the crashed page's) unconfirmed.
    assert_eq!(report.connection_count, 300);
    assert_eq!(report.sent + report.gone + report.failed, 300);
    assert_eq!(report.failed, report.unconfirmed);
    assert!(
        (1..=20).contains(&report.unconfirmed),
        "one page at most: {}",
        report.unconfirmed
    );
    let received = setup.pusher.received.lock().unwrap();
    assert!(
        received.values().all(|messages| messages.len() == 1),
        "nobody twice"
    );
    // Everyone not on the crashed page got it; of that page, those sent before the crash did.
    assert!(received.len() as u64 >= report.sent);
    assert!(received.len() as u64 <= report.sent + report.unconfirmed);
    assert!(setup.queue.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_channel_is_numbered_once_before_its_shards_go_out() {
    let setup = setup(230, 0, None).await;
    let (status, accepted, _) = setup.post("/broadcast/room", Some("room")).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["seq"], 1);
    assert_eq!(accepted["shardCount"], 3, "230 subscribers at 100 a shard");
    let id = accepted["broadcastId"].as_str().unwrap().to_owned();

    let report = setup.finished(&id).await;

    assert_eq!(
        (report.connection_count, report.sent, report.seq),
        (230, 230, Some(1))
    );
    let received = setup.pusher.received.lock().unwrap();
    let envelope = crate::protocol::message_envelope("room", 1, r#"{"n":1}"#);
    assert!(
        received
            .values()
            .all(|messages| messages == std::slice::from_ref(&envelope))
    );
    assert_eq!(received.len(), 230);
}
