//! A store that goes down mid-run: the gateway refuses what needs the store with clear errors,
//! keeps serving the rest, and recovers when the store is back.

use ws_bridge_e2e::{Client, OwnDynamoDbLocal, broadcast, dynamodb_config, http, refused_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dynamodb_down_connects_fail_with_5xx_broadcast_is_503_and_all_recovers_after() {
    let mut dynamodb = OwnDynamoDbLocal::start().await;
    let gateway = local_gateway::start(dynamodb_config(&dynamodb.endpoint()))
        .await
        .expect("gateway starts");
    let mut connected = Client::connect(&gateway.websocket_url()).await;

    dynamodb.stop();

    // A new connection cannot be recorded, so it is refused: no half-registered socket. The
    // handler answers 500, and the gateway passes $connect's status through (checklist 2).
    let status = refused_status(&gateway.websocket_url()).await;
    assert_eq!(status, 500, "handshake answered {status}");
    assert_eq!(
        gateway.open_connections(),
        1,
        "only the earlier connection is open"
    );
    // A broadcast reports the outage by name.
    let (status, body) = broadcast(&gateway, r#"{"type":"news"}"#).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("connection store unavailable"),
        "{body}"
    );
    assert_eq!(body["sent"], 0);
    let count = http()
        .get(format!("{}/connections/count", gateway.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(count.status().as_u16(), 503);
    // Routes that do not need the store keep working.
    assert_eq!(
        connected.request(r#"{"action":"ping"}"#).await["type"],
        "pong"
    );

    dynamodb.resume().await;

    let mut fresh = Client::connect(&gateway.websocket_url()).await;
    let (status, report) = broadcast(&gateway, r#"{"type":"back"}"#).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(connected.recv_text().await, r#"{"type":"back"}"#);
    assert_eq!(fresh.recv_text().await, r#"{"type":"back"}"#);
}
