//! `local-gateway --template`: SAM applications nobody adapted for the gateway, run as they are.
//! Node.js (SDK v3, ES modules and a CommonJS callback handler) and Python (boto3 through
//! awslambdaric) chat apps of the shape of AWS's sample, and ws-bridge's own template with
//! every function a process, each against DynamoDB Local, with real WebSocket clients.

use aws_sdk_dynamodb::types::AttributeValue;
use local_gateway::{GatewayConfig, RunningGateway};
use serde_json::Value;
use std::path::PathBuf;
use ws_bridge_e2e::{Client, dynamodb_endpoint, eventually, unique_table};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The Python of `make .venv/.installed` (awslambdaric and boto3 pinned); a test that needs it
/// fails, never skips, without it.
fn venv_python() -> String {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make .venv/.installed`",
        python.display()
    );
    python.to_string_lossy().into_owned()
}

fn node_modules() -> PathBuf {
    let modules = repo().join("local-gateway/runtimes/node/node_modules");
    assert!(
        modules
            .join("@aws-sdk/client-apigatewaymanagementapi")
            .exists(),
        "{} is missing: run `make local-gateway/runtimes/node/node_modules/.installed`",
        modules.display()
    );
    modules
}

async fn start(template: &str, table: &str, extra: &[String]) -> RunningGateway {
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(repo().join(template));
    config.parameter_overrides = [format!("TableName={table}")]
        .into_iter()
        .chain(extra.iter().cloned())
        .collect();
    config.dynamodb_endpoint = Some(dynamodb_endpoint());
    config.python = venv_python();
    config.node_modules = Some(node_modules());
    config.hot_reload = false;
    local_gateway::start(config)
        .await
        .expect("the template's gateway starts")
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(dynamodb_endpoint())
        .region(ws_bridge::local::region())
        .credentials_provider(ws_bridge::local::credentials())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

async fn rows(db: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
    let scanned = db.scan().table_name(table).send().await.expect("scan");
    let mut ids: Vec<String> = scanned
        .items()
        .iter()
        .filter_map(|item| item.get("connectionId")?.as_s().ok().cloned())
        .collect();
    ids.sort();
    ids
}

/// The chat of either language: two clients, a message reaching both, the two-way route, a
/// throwing handler, a stale row cleaned on 410, and `$disconnect` removing a closed client's row.
async fn chat_behaves_as_on_aws(template: &str) {
    let table = unique_table();
    let gateway = start(template, &table, &[]).await;
    let db = dynamodb().await;
    let mut alice = Client::connect(gateway.websocket_url()).await;
    let mut bob = Client::connect(gateway.websocket_url()).await;

    let me = alice.request(r#"{"action":"whoami"}"#).await;
    assert_eq!(me["routeKey"], "whoami", "{me}");
    assert_eq!(me["functionName"], "WhoAmIFunction", "{me}");
    assert!(
        me["remainingMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 10_000),
        "{me}"
    );
    let alice_id = me["connectionId"].as_str().expect("id").to_owned();
    eventually("both rows written by $connect", || async {
        rows(&db, &table).await.len() == 2
    })
    .await;

    // A row whose connection is gone: PostToConnection answers 410 and the handler removes it.
    db.put_item()
        .table_name(&table)
        .item(
            "connectionId",
            AttributeValue::S("Z29uZS1jb25uZWN0aW9u".into()),
        )
        .send()
        .await
        .expect("put");
    alice
        .send_text(r#"{"action":"sendmessage","data":"hello"}"#)
        .await;
    for client in [&mut alice, &mut bob] {
        let message = client.recv_json().await;
        assert_eq!(message["data"], "hello", "{message}");
        assert_eq!(message["from"], alice_id.as_str(), "{message}");
    }
    eventually("the stale row removed after its 410", || async {
        rows(&db, &table).await.len() == 2
    })
    .await;

    // A handler that throws: the sender gets API Gateway's error frame, nobody else anything.
    let error = bob
        .request(r#"{"action":"sendmessage","data":"boom"}"#)
        .await;
    assert_eq!(error["message"], "Internal server error", "{error}");

    bob.close(None).await;
    eventually("$disconnect removed the closed client's row", || async {
        rows(&db, &table).await == vec![alice_id.clone()]
    })
    .await;
    let mut bob = Client::connect(gateway.websocket_url()).await;
    alice
        .send_text(r#"{"action":"sendmessage","data":"again"}"#)
        .await;
    assert_eq!(bob.recv_json().await["data"], "again");
    assert_eq!(alice.recv_json().await["data"], "again");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_chat_with_sdk_v3_runs_unchanged() {
    chat_behaves_as_on_aws("examples/sam-chat-node/template.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_chat_with_boto3_runs_unchanged() {
    chat_behaves_as_on_aws("examples/sam-chat-python/template.yaml").await;
}

/// ws-bridge's own template, every function its own process (built with cargo, as
/// rust-cargolambda says), its tables created from the template on DynamoDB Local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_template_runs_with_every_function_a_process() {
    let token = "t".repeat(32);
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(repo().join("template.yaml"));
    config.parameter_overrides = vec![format!("ApiToken={token}"), "StageName=local".into()];
    config.processes = true;
    config.dynamodb_endpoint = Some(dynamodb_endpoint());
    let gateway = local_gateway::start(config).await.expect("starts");
    assert!(gateway.websocket_url().ends_with("/local"));
    let mut client = Client::connect(gateway.websocket_url()).await;
    let pong = client.request(r#"{"action":"ping"}"#).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    let http = reqwest::Client::new();
    let count: Value = http
        .get(format!("{}/connections/count", gateway.http_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("count")
        .json()
        .await
        .expect("json");
    assert!(count["count"].as_u64().is_some_and(|n| n >= 1), "{count}");
    let refused = http
        .get(format!("{}/connections/count", gateway.http_url()))
        .send()
        .await
        .expect("count");
    assert_eq!(refused.status(), 401);
    let sent = http
        .post(format!("{}/broadcast", gateway.http_url()))
        .bearer_auth(&token)
        .body(r#"{"type":"news"}"#)
        .send()
        .await
        .expect("broadcast");
    assert!(sent.status().is_success(), "{}", sent.status());
    assert_eq!(client.recv_json().await["type"], "news");
    gateway.shutdown().await;
}
