//! When history no longer reaches back to a client's position it gets an explicit `reset`
//! (with the reason) and then live messages; on DynamoDB a gateway restart loses nothing, on
//! the in-memory store it is an `epoch changed` reset.

use local_gateway::{GatewayConfig, RunningGateway, StoreKind};
use serde_json::json;
use std::time::Duration;
use ws_bridge_e2e::history::{Follower, backend_publishes, with_history};
use ws_bridge_e2e::{Client, config_on, on_every_store};

const CHANNEL: &str = "post:3";

async fn start(config: GatewayConfig) -> RunningGateway {
    local_gateway::start(config).await.expect("gateway starts")
}

async fn publish(
    gateway: &RunningGateway,
    numbers: std::ops::RangeInclusive<u64>,
) -> Vec<(u64, u64)> {
    backend_publishes(gateway.http_url(), CHANNEL.into(), numbers, Duration::ZERO).await
}

/// Drops the follower's socket (a TCP drop) for a fresh connection not in the channel.
async fn cut(follower: &mut Follower, gateway: &RunningGateway) {
    let dropped = std::mem::replace(
        &mut follower.client,
        Client::connect(&gateway.websocket_url()).await,
    );
    drop(dropped);
}

fn assert_one_reset(follower: &Follower, seq: u64, reason: &str) {
    assert_eq!(follower.resets.len(), 1, "{:?}", follower.resets);
    let reset = &follower.resets[0];
    assert_eq!(reset["type"], "reset");
    assert_eq!(reset["channel"], CHANNEL);
    assert_eq!(reset["seq"], seq, "{reset}");
    assert_eq!(reset["reason"], reason, "{reset}");
    assert!(!reset["epoch"].as_str().unwrap().is_empty(), "{reset}");
}

async fn away_longer_than_the_ttl_gets_reset_history_expired_then_live(store: StoreKind) {
    let mut config = with_history(config_on(store));
    config.history_ttl_seconds = Some(1);
    let gateway = start(config).await;
    let mut follower = Follower::connect(&gateway.websocket_url(), CHANNEL).await;
    publish(&gateway, 1..=3).await;
    follower.receive_through(3).await;
    cut(&mut follower, &gateway).await;
    publish(&gateway, 4..=5).await;
    // Past the TTL (whole seconds on DynamoDB, rounded up).
    tokio::time::sleep(Duration::from_millis(2200)).await;

    let reply = follower.subscribe(true).await;

    assert_one_reset(&follower, 5, "history expired");
    assert_eq!(reply["data"]["positions"][CHANNEL]["seq"], 5, "{reply}");
    publish(&gateway, 6..=6).await;
    follower.receive_through(6).await;
    assert_eq!(follower.seqs(), vec![1, 2, 3, 6]);
}

async fn more_than_max_messages_away_gets_reset_history_trimmed_then_live(store: StoreKind) {
    let mut config = with_history(config_on(store));
    config.history_max_messages = Some(5);
    let gateway = start(config).await;
    let mut follower = Follower::connect(&gateway.websocket_url(), CHANNEL).await;
    publish(&gateway, 1..=3).await;
    follower.receive_through(3).await;
    cut(&mut follower, &gateway).await;
    publish(&gateway, 4..=13).await;

    follower.subscribe(true).await;

    assert_one_reset(&follower, 13, "history trimmed");
    publish(&gateway, 14..=14).await;
    follower.receive_through(14).await;
    assert_eq!(follower.seqs(), vec![1, 2, 3, 14]);
    assert_eq!(follower.delivered[3].1, json!({"n": 14}));
}

async fn within_max_messages_away_gets_them_all(store: StoreKind) {
    let mut config = with_history(config_on(store));
    config.history_max_messages = Some(5);
    let gateway = start(config).await;
    let mut follower = Follower::connect(&gateway.websocket_url(), CHANNEL).await;
    publish(&gateway, 1..=3).await;
    follower.receive_through(3).await;
    cut(&mut follower, &gateway).await;
    publish(&gateway, 4..=8).await;

    follower.subscribe(true).await;

    assert!(follower.resets.is_empty(), "{:?}", follower.resets);
    assert_eq!(follower.seqs(), (1..=8).collect::<Vec<_>>());
}

on_every_store!(
    away_longer_than_the_ttl_gets_reset_history_expired_then_live,
    more_than_max_messages_away_gets_reset_history_trimmed_then_live,
    within_max_messages_away_gets_them_all,
);

/// On DynamoDB, history is in the table: a gateway stopped and started again on the same
/// tables during a client's absence still serves everything it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_a_gateway_restart_during_the_gap_loses_nothing() {
    let config = with_history(config_on(StoreKind::Dynamodb));
    let first = start(config.clone()).await;
    let mut follower = Follower::connect(&first.websocket_url(), CHANNEL).await;
    publish(&first, 1..=5).await;
    follower.receive_through(5).await;
    cut(&mut follower, &first).await;
    publish(&first, 6..=10).await;
    first.shutdown().await;

    let second = start(config).await;
    publish(&second, 11..=15).await;
    follower.reconnect(&second.websocket_url()).await;
    publish(&second, 16..=16).await;
    follower.receive_through(16).await;

    assert!(follower.resets.is_empty(), "{:?}", follower.resets);
    assert_eq!(follower.seqs(), (1..=16).collect::<Vec<_>>());
    for (seq, data) in &follower.delivered {
        assert_eq!(data, &json!({"n": seq}));
    }
}

/// On the in-memory store history dies with the process: after a restart the numbering is a new
/// one, and a client resuming from the old one is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_gateway_restart_gives_reset_epoch_changed() {
    let config = with_history(config_on(StoreKind::Memory));
    let first = start(config.clone()).await;
    publish(&first, 1..=1).await;
    // Subscribed after the first publish: the reply tells the epoch.
    let mut follower = Follower::connect(&first.websocket_url(), CHANNEL).await;
    let old_epoch = follower.epoch.clone();
    assert!(!old_epoch.is_empty());
    publish(&first, 2..=3).await;
    follower.receive_through(3).await;
    first.shutdown().await;

    let second = start(config).await;
    publish(&second, 1..=2).await;
    follower.reconnect(&second.websocket_url()).await;

    assert_one_reset(&follower, 2, "epoch changed");
    assert_ne!(follower.epoch, old_epoch);
    // Live again, in the new numbering: 2 and 3 of the old one, then 3 and 4 of the new.
    publish(&second, 3..=4).await;
    follower.receive_through(4).await;
    assert_eq!(follower.seqs(), vec![2, 3, 3, 4]);
    assert_eq!(follower.delivered.last().unwrap(), &(4, json!({"n": 4})));
}
