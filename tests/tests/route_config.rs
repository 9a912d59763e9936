//! The route table from a `--routes` file: custom route keys, which function each invokes, and
//! whether a route has a route response.

use local_gateway::{GatewayConfig, GatewayError};
use std::time::Duration;
use ws_bridge_e2e::Client;

fn routes_file(json: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ws-bridge-routes-{:016x}.json",
        rand::random::<u64>()
    ));
    std::fs::write(&path, json).unwrap();
    path
}

#[tokio::test]
async fn a_routes_file_chooses_route_keys_functions_and_route_responses() {
    let mut config = GatewayConfig::on_free_port();
    config.routes = Some(routes_file(
        r#"{
          "routes": {
            "$connect": { "function": "ws-connect" },
            "$disconnect": { "function": "ws-disconnect" },
            "$default": { "function": "ws-default" },
            "ping": { "function": "ws-default", "routeResponse": true }
          }
        }"#,
    ));
    let gateway = local_gateway::start(config).await.expect("starts");
    let mut client = Client::connect(&gateway.websocket_url()).await;

    // `ping` is its own two-way route; `$default` is one-way here, so `hello` gets no reply.
    assert_eq!(client.request(r#"{"action":"ping"}"#).await["type"], "pong");
    client.send_text(r#"{"action":"hello"}"#).await;
    client.expect_silence(Duration::from_millis(300)).await;
    // The HTTP routes are still served, and $connect stored the connection.
    assert_eq!(ws_bridge_e2e::connection_count(&gateway).await, 1);
}

#[tokio::test]
async fn a_routes_file_with_mistakes_is_refused_with_the_reason() {
    for (json, expected) in [
        (
            r#"{"routes":{"$default":{"function":"nope"}}}"#,
            "no function \"nope\"",
        ),
        (
            r#"{"routes":{"$custom":{"function":"ws-default"}}}"#,
            "reserved",
        ),
        (
            r#"{"routeSelectionExpression":"$request.header.type","routes":{}}"#,
            "only $request.body.",
        ),
        (
            r#"{"routes":{"x":{"function":"ws-default","routeReponse":true}}}"#,
            "unknown field",
        ),
        ("not json", "cannot read the route configuration"),
    ] {
        let mut config = GatewayConfig::on_free_port();
        config.routes = Some(routes_file(json));
        let err: GatewayError = local_gateway::start(config).await.err().expect("refused");
        assert!(err.to_string().contains(expected), "{json}: {err}");
    }
}
