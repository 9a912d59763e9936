//! Resume: a subscriber cut off while its channel is published to reconnects, resubscribes with
//! `since` and has every message exactly once, in order; on both stores. The test plays the
//! client's part as the spec words it (`ws_bridge_e2e::history::Follower`).

use local_gateway::StoreKind;
use serde_json::json;
use std::time::Duration;
use ws_bridge_e2e::history::{Follower, backend_publishes, client_publishes, with_history};
use ws_bridge_e2e::{config_on, management_client, on_every_store};

const CHANNEL: &str = "post:1";
/// The steady pace of the publisher.
const PACE: Duration = Duration::from_millis(10);
/// How long the subscriber stays away: messages are published meanwhile.
const AWAY: Duration = Duration::from_millis(300);

async fn gateway_with_history(store: StoreKind) -> local_gateway::RunningGateway {
    local_gateway::start(with_history(config_on(store)))
        .await
        .expect("gateway starts")
}

fn assert_all_once_in_order(follower: &Follower, count: u64) {
    assert_eq!(follower.seqs(), (1..=count).collect::<Vec<_>>());
    for (seq, data) in &follower.delivered {
        assert_eq!(data, &json!({"n": seq}), "seq {seq} holds its own message");
    }
    assert!(follower.resets.is_empty(), "{:?}", follower.resets);
}

async fn cut_by_delete_connection_then_resumed_has_all_100_once_in_order(store: StoreKind) {
    let gateway = gateway_with_history(store).await;
    let url = gateway.websocket_url();
    let mut follower = Follower::connect(&url, CHANNEL).await;
    let id = follower.client.connection_id().await;
    let publisher = tokio::spawn(backend_publishes(
        gateway.http_url(),
        CHANNEL.into(),
        1..=100,
        PACE,
    ));

    follower.receive_through(20).await;
    management_client(&gateway)
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("DeleteConnection");
    follower.read_until_closed().await;
    let cut_at = follower.seq;
    tokio::time::sleep(AWAY).await;
    follower.reconnect(&url).await;
    follower.receive_through(100).await;

    let taken = publisher.await.unwrap();
    assert_eq!(taken, (1..=100).map(|n| (n, n)).collect::<Vec<_>>());
    assert_all_once_in_order(&follower, 100);
    assert!(
        follower.replayed > 0 && cut_at < 100,
        "messages published while away came from history (cut at {cut_at})"
    );
    assert!(
        follower.history_frames < follower.replayed,
        "{} messages replayed in {} frames",
        follower.replayed,
        follower.history_frames
    );
}

async fn cut_by_a_tcp_drop_then_resumed_has_all_100_once_in_order(store: StoreKind) {
    let gateway = gateway_with_history(store).await;
    let url = gateway.websocket_url();
    let mut follower = Follower::connect(&url, CHANNEL).await;
    let publisher = tokio::spawn(backend_publishes(
        gateway.http_url(),
        CHANNEL.into(),
        1..=100,
        PACE,
    ));

    follower.receive_through(20).await;
    // The socket is dropped without a close frame (the gateway sees 1006); a new connection
    // takes its place, away from the channel until it resubscribes.
    let dropped = std::mem::replace(
        &mut follower.client,
        ws_bridge_e2e::Client::connect(&url).await,
    );
    drop(dropped);
    tokio::time::sleep(AWAY).await;
    follower.subscribe(true).await;
    follower.receive_through(100).await;

    publisher.await.unwrap();
    assert_all_once_in_order(&follower, 100);
    assert!(
        follower.replayed > 0,
        "messages published while away came from history"
    );
}

async fn with_publishers_racing_the_resubscribe_still_exactly_once_in_order(store: StoreKind) {
    let gateway = gateway_with_history(store).await;
    let url = gateway.websocket_url();
    let mut follower = Follower::connect(&url, CHANNEL).await;
    // Flat out, from the backend and from a client at once, while the subscriber comes back.
    let backend = tokio::spawn(backend_publishes(
        gateway.http_url(),
        CHANNEL.into(),
        1..=60,
        Duration::ZERO,
    ));
    let client = tokio::spawn(client_publishes(url.clone(), CHANNEL.into(), 61..=100));

    follower.receive_through(10).await;
    let dropped = std::mem::replace(
        &mut follower.client,
        ws_bridge_e2e::Client::connect(&url).await,
    );
    drop(dropped);
    follower.subscribe(true).await;
    follower.receive_through(100).await;

    let mut taken = backend.await.unwrap();
    taken.extend(client.await.unwrap());
    taken.sort();
    assert_eq!(
        taken.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>(),
        "every publish took its own number"
    );
    assert_eq!(follower.seqs(), (1..=100).collect::<Vec<_>>());
    for ((seq, data), (taken_seq, n)) in follower.delivered.iter().zip(&taken) {
        assert_eq!(seq, taken_seq);
        assert_eq!(
            data,
            &json!({"n": n}),
            "seq {seq} holds the message that took it"
        );
    }
    assert!(follower.resets.is_empty(), "{:?}", follower.resets);
}

on_every_store!(
    cut_by_delete_connection_then_resumed_has_all_100_once_in_order,
    cut_by_a_tcp_drop_then_resumed_has_all_100_once_in_order,
    with_publishers_racing_the_resubscribe_still_exactly_once_in_order,
);
