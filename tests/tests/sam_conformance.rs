//! The conformance suite in other languages: tests/conformance/template.yaml with its handlers
//! in Node.js and in Python, run by `local-gateway --template` as Lambda runs them, driven by
//! tokio-tungstenite clients. Each behaviour is checked for both runtimes.

use local_gateway::{GatewayConfig, RunningGateway};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use ws_bridge_e2e::{Client, refused_status};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

async fn start(runtime: &str, code: &str) -> RunningGateway {
    let python = repo().join(".venv/bin/python");
    let node_modules = repo().join("local-gateway/runtimes/node/node_modules");
    assert!(python.exists(), "run `make .venv/.installed` first");
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(repo().join("tests/conformance/template.yaml"));
    config.parameter_overrides = vec![format!("Runtime={runtime}"), format!("Code={code}")];
    config.python = python.to_string_lossy().into_owned();
    config.node_modules = Some(node_modules);
    config.hot_reload = false;
    local_gateway::start_from_template(config)
        .await
        .expect("the conformance template starts")
}

fn url(gateway: &RunningGateway, query: &str) -> String {
    format!("{}?{query}", gateway.websocket_url())
}

async fn handshakes_follow_the_authorizer_and_connect(gateway: &RunningGateway) {
    // The identity source is missing: 401 without invoking the authorizer.
    assert_eq!(refused_status(gateway.websocket_url()).await, 401);
    assert_eq!(refused_status(url(gateway, "token=deny")).await, 403);
    assert_eq!(
        refused_status(url(gateway, "token=unauthorized")).await,
        401
    );
    assert_eq!(refused_status(url(gateway, "token=throw")).await, 500);
    // $connect's status is the handshake's; a throwing $connect is 502.
    assert_eq!(
        refused_status(url(gateway, "token=allow&status=403")).await,
        403
    );
    assert_eq!(
        refused_status(url(gateway, "token=allow&status=429")).await,
        429
    );
    assert_eq!(
        refused_status(url(gateway, "token=allow&throw=1")).await,
        502
    );
}

async fn messages_route_on_a_nested_field(gateway: &RunningGateway, runtime: &str) {
    let mut client = Client::connect(url(gateway, "token=allow")).await;
    // $connect saw the authorizer's principal and context.
    let connected = client.request(r#"{"service":{"do":"connected"}}"#).await;
    assert_eq!(connected["routeKey"], "$connect", "{connected}");
    assert_eq!(
        connected["authorizer"]["principalId"], "alice",
        "{connected}"
    );
    assert_eq!(connected["authorizer"]["user"], "alice", "{connected}");
    assert_eq!(connected["authorizer"]["runtime"], runtime, "{connected}");

    // Two-way: the body comes back, with the authorizer's context in the event.
    let echo = client.request(r#"{"service":{"do":"echo"},"n":1}"#).await;
    assert_eq!(echo["routeKey"], "echo", "{echo}");
    assert_eq!(echo["body"], json!({"service": {"do": "echo"}, "n": 1}));
    assert_eq!(echo["authorizer"]["principalId"], "alice", "{echo}");
    assert_eq!(echo["authorizer"]["user"], "alice", "{echo}");

    // One-way: the same function's body is not sent back.
    client.send_text(r#"{"service":{"do":"oneway"}}"#).await;
    client.expect_silence(Duration::from_millis(700)).await;

    // A throwing handler: API Gateway's error frame; the connection stays open.
    let failed = client.request(r#"{"service":{"do":"fail"}}"#).await;
    assert_eq!(failed["message"], "Internal server error", "{failed}");

    // The selection expression reads service.do only: `action` selects nothing, and without a
    // $default route that is the Forbidden frame.
    let forbidden = client.request(r#"{"action":"echo"}"#).await;
    assert_eq!(forbidden["message"], "Forbidden", "{forbidden}");
    let forbidden = client.request(r#"{"service":"echo"}"#).await;
    assert_eq!(forbidden["message"], "Forbidden", "{forbidden}");

    let again: Value = client.request(r#"{"service":{"do":"echo"}}"#).await;
    assert_eq!(again["routeKey"], "echo");
    client.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handlers_conform() {
    let gateway = start("nodejs20.x", "node").await;
    handshakes_follow_the_authorizer_and_connect(&gateway).await;
    messages_route_on_a_nested_field(&gateway, "node").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_handlers_conform() {
    let gateway = start("python3.12", "python").await;
    handshakes_follow_the_authorizer_and_connect(&gateway).await;
    messages_route_on_a_nested_field(&gateway, "python").await;
    gateway.shutdown().await;
}
