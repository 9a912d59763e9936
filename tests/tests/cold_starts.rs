//! Cold starts in the inspector: each invocation record says whether it was the first its
//! process served (a cold start, with the process's initialisation: its start to its first
//! request for an invocation, Lambda's `Init Duration`) or not. Node.js processes of
//! tests/lambda-invoke/template.yaml, invoked through the Lambda Invoke API on the gateway's
//! port; the records read from the inspector's JSON API.

use local_gateway::{GatewayConfig, RunningGateway};
use serde_json::{Value, json};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

async fn start() -> RunningGateway {
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(repo().join("tests/lambda-invoke/template.yaml"));
    config.parameter_overrides = vec!["Runtime=nodejs20.x".into(), "Code=node".into()];
    config.node_modules = Some(repo().join("local-gateway/runtimes/node/node_modules"));
    config.hot_reload = false;
    local_gateway::start(config)
        .await
        .expect("the lambda-invoke template starts")
}

/// Invokes `function` synchronously; its JSON result.
async fn invoke(gateway: &RunningGateway, function: &str, payload: Value) -> Value {
    let url = format!(
        "http://{}/2015-03-31/functions/{function}/invocations",
        gateway.addr()
    );
    let response = reqwest::Client::new()
        .post(url)
        .json(&payload)
        .send()
        .await
        .expect("invoked");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// The inspector's invocation records of `function`, oldest first.
async fn invocations(gateway: &RunningGateway, function: &str) -> Vec<Value> {
    let url = format!("http://{}/_inspector/api/events?after=0", gateway.addr());
    let page: Value = reqwest::get(url)
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    page["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|record| record["type"] == "invocation" && record["function"] == function)
        .cloned()
        .collect()
}

fn cold(record: &Value) -> bool {
    let cold = record["coldStart"].as_bool().expect("coldStart");
    // A cold start has its initialisation measured, a warm invocation none.
    let init = &record["initDurationMs"];
    assert_eq!(init.as_f64().is_some_and(|ms| ms > 0.0), cold, "{record}");
    cold
}

/// The pid of the process that served a `slow` invocation, from its result's preview.
fn pid(record: &Value) -> u64 {
    let result: Value =
        serde_json::from_str(record["resultPreview"]["text"].as_str().expect("a result"))
            .expect("the result is JSON");
    result["pid"].as_u64().expect("pid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_invocation_a_process_serves_is_recorded_cold_and_the_next_warm() {
    let gateway = start().await;
    for _ in 0..2 {
        let sum = invoke(&gateway, "AdderFunction", json!({"a": 2, "b": 3})).await;
        assert_eq!(sum["sum"], 5);
    }
    let records = invocations(&gateway, "AdderFunction").await;
    let seen: Vec<bool> = records.iter().map(cold).collect();
    assert_eq!(seen, [true, false], "{records:?}");

    // Two invocations at once: the second starts a second process, whose first invocation is
    // cold too (the first process's first invocation is the other one). A third, after them,
    // finds a warm process.
    let slow = |seconds: f64| invoke(&gateway, "SlowFunction", json!({"seconds": seconds}));
    let (a, b) = tokio::join!(slow(1.0), slow(1.0));
    assert_ne!(a["pid"], b["pid"], "two processes");
    slow(0.0).await;
    let records = invocations(&gateway, "SlowFunction").await;
    assert_eq!(records.len(), 3, "{records:?}");
    let together = &records[..2];
    let pids: std::collections::BTreeSet<u64> = together.iter().map(pid).collect();
    assert_eq!(pids.len(), 2, "{records:?}");
    assert!(together.iter().all(cold), "{records:?}");
    assert!(!cold(&records[2]), "{records:?}");
    assert!(pids.contains(&pid(&records[2])));
    gateway.shutdown().await;
}
