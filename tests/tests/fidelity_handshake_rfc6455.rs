//! Malformed handshakes (RFC 6455 §4.2.1, §4.2.2) are refused before the authorizer or `$connect`
//! runs: a `Sec-WebSocket-Key` that is not the base64 of exactly 16 bytes is 400, an unsupported
//! `Sec-WebSocket-Version` is 426 with `Sec-WebSocket-Version: 13`. The reference (§1.4, §6)
//! records nothing AWS-specific for these; the handshakes are written by hand over raw TCP.

use local_gateway::{Authorizer, GatewayConfig, RouteTable};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use ws_bridge_e2e::functions::{recording, recording_routes};
use ws_bridge_e2e::raw::{KEY, RawClient};
use ws_bridge_e2e::start_gateway_with;

/// Routes whose authorizer and functions all record into one channel; the authorizer allows.
fn recorded() -> (RouteTable, mpsc::UnboundedReceiver<Value>) {
    let (events, received) = mpsc::unbounded_channel();
    let mut routes = recording_routes(json!({ "statusCode": 200 }), events.clone());
    let allow = json!({
        "principalId": "user",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*" }]
        }
    });
    routes.authorizer = Some(Authorizer {
        function: recording("authorizer", allow, events),
        identity_sources: vec![],
    });
    (routes, received)
}

async fn assert_nothing_invoked(events: &mut mpsc::UnboundedReceiver<Value>, what: &str) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(event) = events.try_recv() {
        panic!("{what}: a function was invoked: {event}");
    }
}

#[tokio::test]
async fn a_key_that_is_not_the_base64_of_16_bytes_is_400_and_invokes_nothing() {
    let (routes, mut events) = recorded();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let stage = gateway.config().stage.clone();
    let twenty_bytes = "AAECAwQFBgcICQoLDA0ODxAREhM=";
    let fifteen_bytes = "AAECAwQFBgcICQoLDA0O";
    for key in [
        "abc",
        "",
        "not base64 at all!!!!!==",
        twenty_bytes,
        fifteen_bytes,
    ] {
        let (_client, response) =
            RawClient::handshake(gateway.addr(), &stage, Some(key), Some("13")).await;
        assert_eq!(response.status, 400, "key {key:?}: {}", response.head);
        assert_nothing_invoked(&mut events, key).await;
    }
    assert_eq!(gateway.open_connections(), 0);

    // The valid key still opens, after the authorizer and $connect.
    let _client = RawClient::connect(gateway.addr(), &stage).await;
    assert_eq!(events.recv().await.expect("authorizer")["type"], "REQUEST");
}

#[tokio::test]
async fn an_unsupported_version_is_426_with_the_supported_version_and_invokes_nothing() {
    let (routes, mut events) = recorded();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let stage = gateway.config().stage.clone();
    for version in ["8", "14", "abc"] {
        let (_client, response) =
            RawClient::handshake(gateway.addr(), &stage, Some(KEY), Some(version)).await;
        assert_eq!(response.status, 426, "version {version}: {}", response.head);
        assert_eq!(
            response.header("Sec-WebSocket-Version"),
            Some("13"),
            "{}",
            response.head
        );
        assert_eq!(response.header("Upgrade"), Some("websocket"));
        assert_nothing_invoked(&mut events, version).await;
    }
    // Without the header the request is simply malformed (§4.2.1): 400, still with the version.
    let (_client, response) = RawClient::handshake(gateway.addr(), &stage, Some(KEY), None).await;
    assert_eq!(response.status, 400, "{}", response.head);
    assert_eq!(response.header("Sec-WebSocket-Version"), Some("13"));
    assert_nothing_invoked(&mut events, "no version").await;
    assert_eq!(gateway.open_connections(), 0);
}
