//! Webhooks from the local gateway to a real receiver on loopback, on both stores: every event
//! type, signed; retries keep the webhook-id; a dead receiver is counted, a hanging one is in
//! nobody's way; an expired connection is reported as such.

use local_gateway::{GatewayConfig, RunningGateway, StoreKind};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use ws_bridge::store::Connection;
use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
use ws_bridge_e2e::{
    Client, broadcast, config_on, eventually, get_json, on_every_store, post_json,
};

const ARRIVES: Duration = Duration::from_secs(15);

/// The gateway on `store`, sending webhooks to `receiver` with short retries.
fn webhook_config(store: StoreKind, receiver: &Receiver) -> GatewayConfig {
    let mut config = config_on(store);
    config.webhook_url = Some(receiver.url());
    config.webhook_secret = Some(SECRET.parse().unwrap());
    config.webhook_retry_base_ms = Some(20);
    config.webhook_max_attempts = Some(3);
    config.webhook_timeout_ms = Some(2_000);
    config.webhook_stats_interval_secs = Some(0);
    config
}

async fn start(config: GatewayConfig) -> RunningGateway {
    local_gateway::start(config).await.expect("gateway starts")
}

async fn webhook_counters(gateway: &RunningGateway) -> Value {
    let (status, stats) = get_json(gateway, "/stats").await;
    assert_eq!(status, 200);
    stats["webhooks"].clone()
}

async fn every_event_type_arrives_signed(store: StoreKind) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut config = webhook_config(store, &receiver);
    config.webhook_stats_interval_secs = Some(1);
    let gateway = start(config).await;
    receiver
        .event("server.status", ARRIVES, |e| {
            e["data"]["status"] == "starting"
        })
        .await;

    let mut client = Client::connect(format!(
        "{}?clientId=tab-1&channels=news",
        gateway.websocket_url()
    ))
    .await;
    let id = client.connection_id().await;
    let connected = receiver
        .event("client.connected", ARRIVES, |e| {
            e["data"]["connectionId"] == id
        })
        .await;
    assert_eq!(connected["data"]["clientId"], "tab-1");
    assert_eq!(connected["data"]["channels"], json!(["news"]));
    assert_eq!(connected["data"]["userId"], Value::Null);
    let occupied = receiver
        .event("channel.occupied", ARRIVES, |e| {
            e["data"]["channel"] == "news"
        })
        .await;
    assert_eq!(occupied["data"]["subscribers"], 1);

    let (status, report) = post_json(&gateway, "/broadcast/news", r#"{"type":"hello"}"#).await;
    assert_eq!((status, report["sent"].as_u64()), (200, Some(1)));
    let broadcast_event = receiver.event("message.broadcast", ARRIVES, |_| true).await;
    assert_eq!(
        broadcast_event["data"]["audience"],
        json!({"type": "channel", "channel": "news"})
    );
    assert_eq!(broadcast_event["data"]["message"], json!({"type": "hello"}));
    assert_eq!(broadcast_event["data"]["sent"], 1);
    assert_eq!(broadcast_event["data"]["connectionCount"], 1);
    assert_eq!(client.recv_json().await, json!({"type": "hello"}));

    let stats = receiver.event("broadcast.stats", ARRIVES, |_| true).await;
    assert!(stats["data"]["connections"].as_u64().is_some(), "{stats}");
    assert!(
        stats["data"]["messagesDelivered"].as_u64().is_some(),
        "{stats}"
    );

    client
        .close(Some(CloseFrame {
            code: 4000.into(),
            reason: "bye".into(),
        }))
        .await;
    let disconnected = receiver
        .event("client.disconnected", ARRIVES, |e| {
            e["data"]["connectionId"] == id
        })
        .await;
    assert_eq!(disconnected["data"]["closeCode"], 4000);
    assert_eq!(disconnected["data"]["closeReason"], "bye");
    assert_eq!(disconnected["data"]["expired"], false);
    assert_eq!(disconnected["data"]["clientId"], "tab-1");
    assert!(disconnected["data"]["durationMs"].as_i64().unwrap() >= 0);
    receiver
        .event("channel.vacated", ARRIVES, |e| {
            e["data"]["channel"] == "news"
        })
        .await;

    gateway.shutdown().await;
    receiver
        .event("server.status", ARRIVES, |e| {
            e["data"]["status"] == "stopping"
        })
        .await;

    // Every request is signed, with unique ids, ISO timestamps, and fails verification when
    // tampered with or checked with another secret.
    let requests = receiver.requests();
    let mut ids = std::collections::HashSet::new();
    for request in &requests {
        assert!(request.verifies_with(SECRET, &request.body), "{request:?}");
        let event = request.json();
        assert_eq!(event["id"], request.id.as_str());
        assert!(
            ids.insert(request.id.clone()),
            "ids are unique: {}",
            request.id
        );
        let timestamp = event["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
            "{timestamp}"
        );
        let mut tampered = request.body.to_vec();
        tampered[1] ^= 1;
        assert!(!request.verifies_with(SECRET, &tampered));
        assert!(!request.verifies_with(
            "whsec_b3RoZXItdGhpcnR5LXR3by1ieXRlcy1vZi1zZWNyZXQh",
            &request.body
        ));
    }
    let types: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types.len(), 7, "{types:?}");
}

async fn a_receiver_failing_twice_gets_the_event_again_with_the_same_id(store: StoreKind) {
    let receiver = Receiver::start(Behaviour::FailFirst(2)).await;
    let mut config = webhook_config(store, &receiver);
    config.webhook_events = Some("message.broadcast".parse().unwrap());
    let gateway = start(config).await;
    let (status, _) = broadcast(&gateway, r#"{"n":1}"#).await;
    assert_eq!(status, 200);
    receiver.event("message.broadcast", ARRIVES, |_| true).await;
    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        3,
        "two failures and the delivery: {requests:?}"
    );
    assert!(requests.iter().all(|r| r.id == requests[0].id));
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    let counters = webhook_counters(&gateway).await;
    assert_eq!(counters["delivered"], 1, "{counters}");
    assert_eq!(counters["retried"], 2, "{counters}");
    assert_eq!(counters["dead"], 0, "{counters}");
}

async fn a_receiver_down_for_good_makes_dead_events_and_nothing_else(store: StoreKind) {
    let receiver = Receiver::start(Behaviour::AlwaysFail).await;
    let mut config = webhook_config(store, &receiver);
    config.webhook_events = Some("message.broadcast,client.connected".parse().unwrap());
    let gateway = start(config).await;
    let mut client = Client::connect(gateway.websocket_url()).await;
    let (status, report) = broadcast(&gateway, r#"{"n":2}"#).await;
    assert_eq!((status, report["sent"].as_u64()), (200, Some(1)));
    assert_eq!(client.recv_json().await, json!({"n": 2}));
    eventually("both events dead", || async {
        webhook_counters(&gateway).await["dead"] == 2
    })
    .await;
    let counters = webhook_counters(&gateway).await;
    assert_eq!(counters["delivered"], 0, "{counters}");
    assert_eq!(counters["retried"], 4, "two retries each: {counters}");
    assert_eq!(receiver.requests().len(), 6, "3 attempts each");
    // Still serving: the client answers, a new one connects.
    assert_eq!(client.request(r#"{"action":"ping"}"#).await["type"], "pong");
    Client::connect(gateway.websocket_url()).await;
}

async fn a_connection_removed_by_expiry_is_reported_as_expired(store: StoreKind) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut config = webhook_config(store, &receiver);
    config.webhook_events = Some("client.disconnected".parse().unwrap());
    let gateway = start(config).await;
    // A row whose connection vanished without $disconnect three hours ago: past its expiry.
    let three_hours_ago = ws_bridge::time::now_epoch_ms() - 3 * 3600 * 1000;
    let mut leaked = Connection::new("Leaked-Conn-Id0=", three_hours_ago, "198.51.100.7");
    leaked.user_id = Some("alice".into());
    gateway.store().put(leaked).await.unwrap();
    let live = Client::connect(gateway.websocket_url()).await;
    assert_eq!(gateway.expire_connections().await.unwrap(), 1);
    let event = receiver
        .event("client.disconnected", ARRIVES, |_| true)
        .await;
    assert_eq!(event["data"]["connectionId"], "Leaked-Conn-Id0=");
    assert_eq!(event["data"]["expired"], true);
    assert_eq!(event["data"]["closeCode"], Value::Null);
    assert_eq!(event["data"]["userId"], "alice");
    assert!(
        gateway
            .store()
            .get("Leaked-Conn-Id0=")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        gateway.store().count().await.unwrap(),
        1,
        "the live one stays"
    );
    drop(live);
}

on_every_store!(
    every_event_type_arrives_signed,
    a_receiver_failing_twice_gets_the_event_again_with_the_same_id,
    a_receiver_down_for_good_makes_dead_events_and_nothing_else,
    a_connection_removed_by_expiry_is_reported_as_expired,
);

/// A receiver that never answers: 200 handshakes and a broadcast to 1,000 connections all
/// complete, and the queue, full, drops events with a count rather than blocking anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_holds_up_no_handshake_and_no_broadcast() {
    let receiver = Receiver::start(Behaviour::Hang).await;
    let mut config = webhook_config(StoreKind::Memory, &receiver);
    config.webhook_timeout_ms = Some(60_000);
    config.webhook_queue_capacity = Some(100);
    let gateway = start(config).await;
    let url = gateway.websocket_url();
    let mut clients = Vec::new();
    for batch in 0..5 {
        let handshakes: Vec<_> = (0..200)
            .map(|i| {
                let url = format!("{url}?clientId=c{batch}-{i}");
                tokio::spawn(async move { Client::connect(url).await })
            })
            .collect();
        for handshake in handshakes {
            clients.push(handshake.await.expect("handshake task"));
        }
    }
    assert_eq!(clients.len(), 1000);
    let (status, report) = tokio::time::timeout(
        Duration::from_secs(60),
        broadcast(&gateway, r#"{"to":"all"}"#),
    )
    .await
    .expect("the broadcast completes while the receiver hangs");
    assert_eq!(status, 200);
    assert_eq!(report["sent"], 1000, "{report}");
    for client in &mut clients {
        assert_eq!(client.recv_json().await, json!({"to": "all"}));
    }
    let counters = webhook_counters(&gateway).await;
    assert!(counters["dropped"].as_u64().unwrap() > 0, "{counters}");
    assert_eq!(counters["delivered"], 0, "{counters}");
    assert!(!receiver.requests().is_empty(), "the receiver was reached");
}
