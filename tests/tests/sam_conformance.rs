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
    // One process per function: the tests tell a restart by its pid.
    config.max_concurrency = Some(1);
    local_gateway::start(config)
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

    // A push through @connections at https://{domainName}/{stage}, as the handler built it.
    client.send_text(r#"{"service":{"do":"push"}}"#).await;
    let pushed = client.recv_json().await;
    assert_eq!(pushed["pushed"], runtime, "{pushed}");

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

/// A function past its `Timeout` is ended as Lambda ends it, and one whose process dies is
/// restarted: the client gets the error frame, and the next message a fresh process.
async fn timeouts_and_crashes_restart_the_process(gateway: &RunningGateway) {
    let mut client = Client::connect(url(gateway, "token=allow")).await;
    let first = client
        .request(r#"{"service":{"do":"slow"},"quick":true}"#)
        .await;
    let pid = first["pid"].as_u64().expect("pid");
    let timed_out = client.request(r#"{"service":{"do":"slow"}}"#).await;
    assert_eq!(timed_out["message"], "Internal server error", "{timed_out}");
    let after_timeout = client
        .request(r#"{"service":{"do":"slow"},"quick":true}"#)
        .await;
    let restarted = after_timeout["pid"].as_u64().expect("pid");
    assert_ne!(restarted, pid, "the timed-out process was ended");
    let crashed = client.request(r#"{"service":{"do":"crash"}}"#).await;
    assert_eq!(crashed["message"], "Internal server error", "{crashed}");
    let after_crash = client
        .request(r#"{"service":{"do":"slow"},"quick":true}"#)
        .await;
    assert_ne!(after_crash["pid"].as_u64().expect("pid"), restarted);
    // An integration timeout (TimeoutInMillis 300) shorter than the function's: API Gateway's
    // timeout frame, before the function's own Timeout.
    let hurried = client.request(r#"{"service":{"do":"hurry"}}"#).await;
    assert_eq!(
        hurried["message"], "Endpoint request timed out",
        "{hurried}"
    );
    // The function ran on past the gateway's patience; its own Timeout still ended it.
    let after_hurry = client
        .request(r#"{"service":{"do":"slow"},"quick":true}"#)
        .await;
    let crashed_pid = after_crash["pid"].as_u64().expect("pid");
    assert_ne!(after_hurry["pid"].as_u64().expect("pid"), crashed_pid);
    client.close(None).await;
}

/// Hot reload: a change to a handler's file restarts its process with the new code.
async fn a_code_change_is_picked_up(runtime: &str, code: &str, file: &str, from: &str, to: &str) {
    let copy = std::env::temp_dir().join(format!("sam-conformance-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(copy.join(code)).unwrap();
    std::fs::copy(
        repo().join("tests/conformance/template.yaml"),
        copy.join("template.yaml"),
    )
    .unwrap();
    let handler = copy.join(code).join(file);
    std::fs::copy(
        repo().join("tests/conformance").join(code).join(file),
        &handler,
    )
    .unwrap();
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(copy.join("template.yaml"));
    config.parameter_overrides = vec![format!("Runtime={runtime}"), format!("Code={code}")];
    config.python = repo()
        .join(".venv/bin/python")
        .to_string_lossy()
        .into_owned();
    config.node_modules = Some(repo().join("local-gateway/runtimes/node/node_modules"));
    config.max_concurrency = Some(1);
    let gateway = local_gateway::start(config).await.expect("starts");
    let mut client = Client::connect(url(&gateway, "token=allow")).await;
    let before = client.request(r#"{"service":{"do":"echo"}}"#).await;
    assert_eq!(before["routeKey"], "echo");
    let text = std::fs::read_to_string(&handler).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&handler, text.replace(from, to)).unwrap();
    // The file event restarts the process; the restarted process answers the next message.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = client.request(r#"{"service":{"do":"echo"}}"#).await;
        if reply["routeKey"] == "reloaded" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new code never answered: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close(None).await;
    gateway.shutdown().await;
    let _ = std::fs::remove_dir_all(copy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_functions_restart_on_timeout_crash_and_code_change() {
    let gateway = start("nodejs20.x", "node").await;
    timeouts_and_crashes_restart_the_process(&gateway).await;
    gateway.shutdown().await;
    a_code_change_is_picked_up(
        "nodejs20.x",
        "node",
        "handlers.mjs",
        "body: JSON.stringify({ routeKey,",
        "body: JSON.stringify({ routeKey: \"reloaded\",",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_functions_restart_on_timeout_crash_and_code_change() {
    let gateway = start("python3.12", "python").await;
    timeouts_and_crashes_restart_the_process(&gateway).await;
    gateway.shutdown().await;
    a_code_change_is_picked_up(
        "python3.12",
        "python",
        "handlers.py",
        "\"routeKey\": request[\"routeKey\"],",
        "\"routeKey\": \"reloaded\",",
    )
    .await;
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
