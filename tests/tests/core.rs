//! The working core, end to end: real sockets, real clients, the project's handlers run by the
//! local gateway, on the in-memory store and on DynamoDB Local.

use aws_sdk_apigatewaymanagement::primitives::Blob;
use local_gateway::StoreKind;
use serde_json::{Value, json};
use std::time::Duration;
use ws_bridge::Connection;
use ws_bridge_e2e::{
    Client, broadcast, connection_count, eventually, management_client, on_every_store,
    start_gateway_on,
};

async fn three_clients_receive_one_broadcast_and_the_report_counts_three(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&gateway.websocket_url()).await);
    }

    let (status, report) = broadcast(&gateway, r#"{"type":"hello","n":1}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"connectionCount": 3, "sent": 3, "gone": [], "failed": []})
    );
    for client in &mut clients {
        // Delivered verbatim: the very bytes the backend posted.
        assert_eq!(client.recv_text().await, r#"{"type":"hello","n":1}"#);
    }
}

async fn count_goes_from_three_to_two_after_one_client_closes(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&gateway.websocket_url()).await);
    }
    assert_eq!(connection_count(&gateway).await, 3);

    clients.pop().unwrap().close(None).await;

    eventually("count drops to 2", || async {
        connection_count(&gateway).await == 2
    })
    .await;
}

async fn a_row_whose_socket_vanished_is_removed_by_the_410_path_and_reported_gone(
    store: StoreKind,
) {
    let gateway = start_gateway_on(store).await;
    let mut live = Client::connect(&gateway.websocket_url()).await;
    let live_id = live.connection_id().await;
    // A row whose $disconnect never ran: its socket is long gone.
    let stale = Connection::new("StaleConnXYZab=", 1_700_000_000_000, "203.0.113.7");
    gateway.store().put(stale).await.unwrap();

    let (status, report) = broadcast(&gateway, r#"{"type":"update"}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectionCount"], 2);
    assert_eq!(report["sent"], 1);
    assert_eq!(report["gone"], json!(["StaleConnXYZab="]));
    assert_eq!(report["failed"], json!([]));
    assert_eq!(live.recv_text().await, r#"{"type":"update"}"#);
    assert!(
        gateway
            .store()
            .get("StaleConnXYZab=")
            .await
            .unwrap()
            .is_none(),
        "stale row removed"
    );
    assert!(
        gateway.store().get(&live_id).await.unwrap().is_some(),
        "live row kept"
    );
}

async fn a_malformed_broadcast_is_a_400_and_nobody_receives_anything(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for bad in ["{\"type\":", "[1,2,3]", "", "\"just a string\""] {
        let (status, body) = broadcast(&gateway, bad).await;
        assert_eq!(status, 400, "body {bad:?} answered {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }

    client.expect_silence(Duration::from_millis(300)).await;
}

async fn ping_is_answered_with_pong_and_an_iso_timestamp(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    let pong = client.request(r#"{"action":"ping"}"#).await;

    assert_eq!(pong["type"], "pong", "{pong}");
    let timestamp = pong["timestamp"].as_str().expect("timestamp");
    chrono::DateTime::parse_from_rfc3339(timestamp).expect("ISO-8601 timestamp");
}

async fn hello_is_answered_with_welcome_the_16_character_id_and_the_client_id(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut named =
        Client::connect(&format!("{}?clientId=dashboard-7", gateway.websocket_url())).await;
    let mut anonymous = Client::connect(&gateway.websocket_url()).await;

    let welcome = named.hello().await;
    let id = welcome["data"]["connectionId"].as_str().unwrap();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.ends_with('='));
    assert!(
        id[..15]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id}"
    );
    assert_eq!(welcome["data"]["clientId"], "dashboard-7");

    let other = anonymous.hello().await;
    assert_eq!(other["data"]["clientId"], Value::Null);
    assert_ne!(
        other["data"]["connectionId"],
        welcome["data"]["connectionId"]
    );
}

async fn bad_client_messages_get_an_error_frame_and_the_socket_stays_open(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    let not_json = client.request("this is not json").await;
    assert_eq!(not_json["type"], "error");
    assert!(
        not_json["data"]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{not_json}"
    );

    let unknown = client.request(r#"{"action":"dance"}"#).await;
    assert_eq!(unknown["type"], "error");
    assert!(
        unknown["data"]["error"].as_str().unwrap().contains("dance"),
        "{unknown}"
    );

    let no_action = client.request(r#"{"hello":"there"}"#).await;
    assert_eq!(no_action["type"], "error", "{no_action}");

    assert_eq!(
        client.request(r#"{"action":"ping"}"#).await["type"],
        "pong",
        "still serving"
    );
}

async fn the_sdk_gets_posts_to_and_deletes_a_connection_then_sees_gone(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let sdk = management_client(&gateway);
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;

    let info = sdk
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("GetConnection");
    assert!(
        info.connected_at().is_some(),
        "connectedAt parsed as a timestamp"
    );
    assert!(
        info.last_active_at().is_some(),
        "lastActiveAt parsed as a timestamp"
    );
    assert_eq!(
        info.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );

    sdk.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"direct":true}"#))
        .send()
        .await
        .expect("PostToConnection");
    assert_eq!(client.recv_text().await, r#"{"direct":true}"#);

    sdk.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("DeleteConnection");
    let close = client.expect_close().await;
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(1000));

    let after = sdk
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("late"))
        .send()
        .await
        .expect_err("posting to a deleted connection fails");
    assert!(
        after
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "GoneException expected, got {after:?}"
    );
    eventually("$disconnect removes the row", || async {
        gateway.store().get(&id).await.unwrap().is_none()
    })
    .await;
}

async fn two_hundred_clients_receive_ten_sequential_broadcasts_complete_and_in_order(
    store: StoreKind,
) {
    let gateway = start_gateway_on(store).await;
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(Client::connect(&gateway.websocket_url()).await);
    }

    for seq in 0..10 {
        let (status, report) = broadcast(&gateway, &format!(r#"{{"seq":{seq}}}"#)).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["sent"], 200, "{report}");
    }

    let readers = clients.into_iter().map(|mut client| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..10 {
                seen.push(client.recv_json().await["seq"].as_u64().unwrap());
            }
            seen
        })
    });
    for reader in futures::future::join_all(readers).await {
        assert_eq!(reader.unwrap(), (0..10).collect::<Vec<u64>>());
    }
}

/// Each send is a task of its own on the multi-thread runtime, so a broadcast's frames are
/// produced on every worker. Four senders broadcast at once, each its own numbered sequence one
/// after another: every client gets every message, and each sender's in the order it sent them.
async fn concurrent_senders_each_reach_every_client_in_their_own_order(store: StoreKind) {
    const SENDERS: u64 = 4;
    const MESSAGES: u64 = 15;
    let mut config = ws_bridge_e2e::config_on(store);
    // Fewer sends in flight than clients, so each broadcast is delivered over several batches.
    config.broadcast_concurrency = Some(8);
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let mut clients = Vec::new();
    for _ in 0..60 {
        clients.push(Client::connect(&gateway.websocket_url()).await);
    }

    let gateway = std::sync::Arc::new(gateway);
    let senders = (0..SENDERS).map(|sender| {
        let gateway = std::sync::Arc::clone(&gateway);
        tokio::spawn(async move {
            for seq in 0..MESSAGES {
                let body = format!(r#"{{"sender":{sender},"seq":{seq}}}"#);
                let (status, report) = broadcast(&gateway, &body).await;
                assert_eq!(status, 200, "{report}");
                assert_eq!(report["sent"], 60, "{report}");
            }
        })
    });
    for sender in futures::future::join_all(senders).await {
        sender.unwrap();
    }

    let readers = clients.into_iter().map(|mut client| {
        tokio::spawn(async move {
            let mut seen = vec![Vec::new(); SENDERS as usize];
            for _ in 0..SENDERS * MESSAGES {
                let message = client.recv_json().await;
                let sender = message["sender"].as_u64().unwrap() as usize;
                seen[sender].push(message["seq"].as_u64().unwrap());
            }
            seen
        })
    });
    for reader in futures::future::join_all(readers).await {
        for sequence in reader.unwrap() {
            assert_eq!(sequence, (0..MESSAGES).collect::<Vec<u64>>());
        }
    }
}

on_every_store!(
    three_clients_receive_one_broadcast_and_the_report_counts_three,
    count_goes_from_three_to_two_after_one_client_closes,
    a_row_whose_socket_vanished_is_removed_by_the_410_path_and_reported_gone,
    a_malformed_broadcast_is_a_400_and_nobody_receives_anything,
    ping_is_answered_with_pong_and_an_iso_timestamp,
    hello_is_answered_with_welcome_the_16_character_id_and_the_client_id,
    bad_client_messages_get_an_error_frame_and_the_socket_stays_open,
    the_sdk_gets_posts_to_and_deletes_a_connection_then_sees_gone,
    two_hundred_clients_receive_ten_sequential_broadcasts_complete_and_in_order,
    concurrent_senders_each_reach_every_client_in_their_own_order,
);
