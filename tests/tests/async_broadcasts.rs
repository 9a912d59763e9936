//! Asynchronous broadcasts through the gateway as `make run` starts it (the template, functions
//! in-process, the in-process queue and workers), on both stores: 202 with `Location`, the
//! report read back until complete and exact, everyone served once, stale rows removed per
//! shard; a worker crashing mid-shard on DynamoDB Local; the progress contract on DynamoDB Local.

use futures::StreamExt;
use local_gateway::StoreKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ws_bridge::broadcasts::requests::{AsyncBroadcasts, handle};
use ws_bridge::broadcasts::worker::ShardWorker;
use ws_bridge::broadcasts::{
    AsyncBroadcastSettings, BroadcastProgress, InProcessQueue, ShardQueue,
};
use ws_bridge::store::contract::sample_connection;
use ws_bridge::webhooks::NoWebhooks;
use ws_bridge::{ConnectionStore, MessagePusher, PushOutcome, Settings};
use ws_bridge_e2e::{Client, config_on, dynamodb_config, dynamodb_endpoint, get_json, http};

ws_bridge_e2e::on_every_store!(
    asked_for_it_answers_202_and_the_report_ends_exact,
    over_the_threshold_goes_async_without_being_asked,
);

/// POSTs `body` to `path` with `Prefer: respond-async` when `prefer`; the status, the answer
/// and `Location`.
async fn post(
    gateway: &local_gateway::RunningGateway,
    path: &str,
    prefer: bool,
) -> (u16, Value, Option<String>) {
    let mut request = http()
        .post(format!("{}{path}", gateway.http_url()))
        .header("content-type", "application/json")
        .body(r#"{"type":"news"}"#);
    if prefer {
        request = request.header("Prefer", "respond-async");
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, response.json().await.expect("JSON"), location)
}

/// Polls the report where `Location` says it is, resolved as a client resolves it: against the
/// URL the broadcast was posted to.
async fn completed(gateway: &local_gateway::RunningGateway, location: &str) -> Value {
    let posted = reqwest::Url::parse(&format!("{}/broadcast", gateway.http_url())).expect("URL");
    let url = posted.join(location).expect("Location resolves");
    for _ in 0..600 {
        let response = http().get(url.clone()).send().await.expect("GET");
        let status = response.status().as_u16();
        let report: Value = response.json().await.expect("JSON");
        assert_eq!(status, 200, "{url}: {report}");
        if report["status"] == "completed" {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{location} did not complete");
}

async fn asked_for_it_answers_202_and_the_report_ends_exact(store: StoreKind) {
    let mut config = config_on(store);
    config.async_broadcasts.broadcast_shard_size = Some(40);
    config.async_broadcasts.broadcast_workers = Some(2);
    let gateway = local_gateway::start(config).await.expect("starts");
    let url = gateway.websocket_url();
    let mut clients: Vec<Client> = futures::stream::iter(0..100)
        .map(|_| Client::connect(url.clone()))
        .buffer_unordered(16)
        .collect()
        .await;
    // Rows of connections that no longer exist: API Gateway answers 410 for them.
    let rows = gateway.store();
    for i in 0..5 {
        rows.put(sample_connection(&format!("stale{i:02}-AAAAAAAA=")))
            .await
            .unwrap();
    }

    let (status, accepted, location) = post(&gateway, "/broadcast", true).await;

    assert_eq!(status, 202, "{accepted}");
    let id = accepted["broadcastId"].as_str().unwrap();
    let location = location.expect("Location");
    // Under the stage's name, as the caller addressed the API (`$default` would have none).
    let stage = &gateway.config().stage;
    assert_eq!(location, format!("/{stage}/broadcasts/{id}"));
    assert_eq!(accepted["shardCount"], 3, "105 recipients, 40 a shard");
    let report = completed(&gateway, &location).await;
    assert_eq!(report["connectionCount"], 105, "{report}");
    assert_eq!(report["sent"], 100, "{report}");
    assert_eq!(report["gone"], 5, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    for client in &mut clients {
        assert_eq!(client.recv_text().await, r#"{"type":"news"}"#);
        client.expect_silence(Duration::from_millis(5)).await;
    }
    for i in 0..5 {
        let id = format!("stale{i:02}-AAAAAAAA=");
        assert_eq!(rows.get(&id).await.unwrap(), None, "{id} removed");
    }
    let (status, _) = get_json(&gateway, "/broadcasts/AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(status, 404);
}

async fn over_the_threshold_goes_async_without_being_asked(store: StoreKind) {
    let mut config = config_on(store);
    config.async_broadcasts.broadcast_async_threshold = Some(5);
    let gateway = local_gateway::start(config).await.expect("starts");
    let url = gateway.websocket_url();
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(Client::connect(url.as_str()).await);
    }
    let (status, accepted, location) = post(&gateway, "/broadcast", false).await;
    assert_eq!(status, 202, "{accepted}");
    let report = completed(&gateway, &location.unwrap()).await;
    assert_eq!(report["sent"], 6, "{report}");
    clients.truncate(4);
    // Four: under the threshold, the synchronous report.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, report, _) = post(&gateway, "/broadcast", false).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 4, "{report}");
}

mod progress_on_dynamodb_local {
    async fn fresh() -> ws_bridge::broadcasts::DynamoDbBroadcasts {
        let mut config = ws_bridge_e2e::dynamodb_config(&ws_bridge_e2e::dynamodb_endpoint());
        config.async_broadcasts.broadcasts_table = Some(ws_bridge_e2e::unique_table());
        local_gateway::dynamodb_broadcasts(&config, &|_| None)
            .await
            .expect("table created")
    }

    ws_bridge::broadcast_progress_contract_tests!(fresh);
}

/// Counts what each connection was sent; the `crash_at`-th send panics, once.
struct CountingPusher {
    received: Mutex<HashMap<String, usize>>,
    sends: AtomicUsize,
    crash_at: usize,
}

#[async_trait::async_trait]
impl MessagePusher for CountingPusher {
    async fn push(&self, connection_id: &str, _data: &[u8]) -> PushOutcome {
        let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
        assert_ne!(n, self.crash_at, "the worker crashes mid-page");
        tokio::task::yield_now().await;
        *self
            .received
            .lock()
            .unwrap()
            .entry(connection_id.to_owned())
            .or_default() += 1;
        PushOutcome::Delivered
    }

    async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
        PushOutcome::Delivered
    }
}

/// On DynamoDB Local (scan segments, conditional claims, the completion transaction): a worker
/// dies mid-page; the queue delivers its shard again; the report counts everyone once and
/// nobody was sent the message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crashing_mid_shard_on_dynamodb_sends_to_nobody_twice() {
    let mut config = dynamodb_config(&dynamodb_endpoint());
    config.async_broadcasts.broadcasts_table = Some(ws_bridge_e2e::unique_table());
    let store: Arc<dyn ConnectionStore> =
        Arc::new(local_gateway::dynamodb_store(&config).await.unwrap());
    for i in 0..120 {
        store
            .put(sample_connection(&format!("conn-{i:04}")))
            .await
            .unwrap();
    }
    let progress: Arc<dyn BroadcastProgress> = Arc::new(
        local_gateway::dynamodb_broadcasts(&config, &|_| None)
            .await
            .unwrap(),
    );
    let pusher = Arc::new(CountingPusher {
        received: Mutex::new(HashMap::new()),
        sends: AtomicUsize::new(0),
        crash_at: 33,
    });
    let settings = Settings {
        broadcast_page_size: 10,
        broadcast_concurrency: 4,
        ..Settings::default()
    };
    let worker = Arc::new(ShardWorker::new(
        Arc::clone(&store),
        Arc::clone(&pusher) as Arc<dyn MessagePusher>,
        Arc::clone(&progress),
        settings.clone(),
        Arc::new(NoWebhooks),
    ));
    let queue = Arc::new(InProcessQueue::start(2, worker, Duration::from_millis(50)));
    let jobs = AsyncBroadcasts {
        progress: Arc::clone(&progress),
        queue: Arc::clone(&queue) as Arc<dyn ShardQueue>,
        settings: AsyncBroadcastSettings {
            threshold: 0,
            shard_size: 50,
            workers: 2,
        },
    };
    let mut request = lambda_http::Request::new(lambda_http::Body::from(r#"{"n":1}"#));
    *request.method_mut() = http::Method::POST;
    request
        .headers_mut()
        .insert("prefer", http::HeaderValue::from_static("respond-async"));
    let response = handle(
        store.as_ref(),
        None,
        pusher.as_ref(),
        &settings,
        &NoWebhooks,
        Some(&jobs),
        request,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let id = accepted["broadcastId"].as_str().unwrap();
    assert_eq!(accepted["shardCount"], 3);

    let mut report = None;
    for _ in 0..400 {
        let now = progress.report(id).await.unwrap().unwrap();
        if now.status == "completed" {
            report = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let report = report.expect("completes");
    assert_eq!(report.connection_count, 120);
    assert_eq!(report.sent + report.gone + report.failed, 120);
    assert_eq!(report.failed, report.unconfirmed);
    assert!((1..=10).contains(&report.unconfirmed), "{report:?}");
    let received = pusher.received.lock().unwrap().clone();
    assert!(received.values().all(|count| *count == 1), "nobody twice");
    assert!(received.len() as u64 >= report.sent);
    assert!(queue.dead_letters().is_empty());
}

/// The last shard's completion sends `broadcast.completed` with the final report, signed and
/// delivered as every webhook is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_broadcast_sends_its_report_as_a_webhook() {
    use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut config = config_on(StoreKind::Memory);
    config.webhook_url = Some(receiver.url());
    config.webhook_secret = Some(SECRET.parse().unwrap());
    config.webhook_events = Some("broadcast.completed".parse().unwrap());
    let gateway = local_gateway::start(config).await.expect("starts");
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(gateway.websocket_url().as_str()).await);
    }
    let (status, accepted, location) = post(&gateway, "/broadcast", true).await;
    assert_eq!(status, 202, "{accepted}");
    let report = completed(&gateway, &location.unwrap()).await;
    let mut events = Vec::new();
    for _ in 0..200 {
        events = receiver.events();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "broadcast.completed");
    assert_eq!(events[0]["data"], report);
}
