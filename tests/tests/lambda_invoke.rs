//! The Lambda Invoke API on the gateway's port: functions of tests/lambda-invoke/template.yaml
//! (Node.js and Python processes, with the real SDKs) invoke each other asynchronously from
//! `$connect` (the serverless-patterns greeting), synchronously by name and ARN, through
//! Lambda's public endpoint, and get function errors and `ResourceNotFoundException` as on AWS.
//! The HTTP shapes are checked with a plain HTTP client, and the retries of an asynchronous
//! invocation on in-process functions.

use lambda_runtime::{Diagnostic, LambdaEvent};
use local_gateway::{GatewayConfig, InProcess, RouteTable, RunningGateway};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use ws_bridge_e2e::{Client, eventually, start_gateway_with};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

async fn start(runtime: &str, code: &str) -> RunningGateway {
    start_with_freeze(runtime, code, true).await
}

async fn start_with_freeze(runtime: &str, code: &str, freeze: bool) -> RunningGateway {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "run `make .venv/.installed` first");
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(repo().join("tests/lambda-invoke/template.yaml"));
    config.parameter_overrides = vec![format!("Runtime={runtime}"), format!("Code={code}")];
    config.python = python.to_string_lossy().into_owned();
    config.node_modules = Some(repo().join("local-gateway/runtimes/node/node_modules"));
    config.hot_reload = false;
    config.freeze = freeze;
    local_gateway::start(config)
        .await
        .expect("the lambda-invoke template starts")
}

fn invocations_url(gateway: &RunningGateway, function: &str) -> String {
    format!(
        "http://{}/2015-03-31/functions/{function}/invocations",
        gateway.addr()
    )
}

/// What a function gets from another, through the SDK of its runtime.
async fn functions_invoke_functions(gateway: &RunningGateway, runtime: &str) {
    // $connect invoked the greeter with InvocationType Event; the greeter pushed to the new
    // connection through @connections.
    let mut client = Client::connect(gateway.websocket_url()).await;
    assert_eq!(
        client.recv_json().await,
        json!({"greeting": "welcome", "runtime": runtime})
    );

    let chained = client.request(r#"{"do":"chain"}"#).await;
    assert_eq!(
        chained,
        json!({"result": {"sum": 5, "by": "AdderFunction"}}),
        "by ARN"
    );
    let redirected = client.request(r#"{"do":"public-endpoint"}"#).await;
    assert_eq!(
        redirected,
        json!({"result": {"sum": 2, "by": "AdderFunction"}}),
        "https://lambda.us-east-1.amazonaws.com"
    );

    let failed = client.request(r#"{"do":"fail"}"#).await;
    assert_eq!(failed["functionError"], "Unhandled", "{failed}");
    assert_eq!(
        failed["payload"]["errorMessage"], "adding failed on purpose",
        "{failed}"
    );
    let error_type = if runtime == "python" {
        "ValueError"
    } else {
        "TypeError"
    };
    assert_eq!(failed["payload"]["errorType"], error_type, "{failed}");

    let missing = client.request(r#"{"do":"missing"}"#).await;
    assert_eq!(missing["error"], "ResourceNotFoundException", "{missing}");
    assert!(
        missing["message"].as_str().is_some_and(|m| m.contains(
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
        )),
        "{missing}"
    );
    client.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_functions_invoke_functions_with_boto3() {
    let gateway = start("python3.12", "python").await;
    functions_invoke_functions(&gateway, "python").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_functions_invoke_functions_with_the_sdk_v3() {
    let gateway = start("nodejs20.x", "node").await;
    functions_invoke_functions(&gateway, "node").await;

    // require('aws-sdk') fails as on Lambda's Node.js 18+ runtimes, which lack the SDK v2.
    let response = reqwest::Client::new()
        .post(invocations_url(&gateway, "SdkV2Function"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amz-function-error"], "Unhandled");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["errorType"], "Runtime.ImportModuleError", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("Cannot find module 'aws-sdk'")),
        "{error}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoke_api_answers_as_lambda_does() {
    let gateway = start("python3.12", "python").await;
    let http = reqwest::Client::new();
    let invoke = |function: &str, invocation_type: Option<&str>, body: &str| {
        let mut request = http
            .post(invocations_url(&gateway, function))
            .body(body.to_owned());
        if let Some(invocation_type) = invocation_type {
            request = request.header("X-Amz-Invocation-Type", invocation_type);
        }
        request.send()
    };

    // RequestResponse by logical id, partial ARN, and ARN (URL-encoded, as the SDKs send it).
    for name in [
        "AdderFunction",
        "123456789012:function:AdderFunction",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AAdderFunction",
        "AdderFunction:%24LATEST",
    ] {
        let response = invoke(name, Some("RequestResponse"), r#"{"a":20,"b":22}"#)
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.headers()["x-amz-executed-version"], "$LATEST");
        assert!(!response.headers().contains_key("x-amz-function-error"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"sum": 42, "by": "AdderFunction"}), "{name}");
    }

    // A function error: 200, X-Amz-Function-Error, the error as the payload.
    let response = invoke("FailingFunction", None, "{}").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amz-function-error"], "Unhandled");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorType"], "ValueError", "{body}");

    // A template's FunctionName names the function as well as its logical id; DryRun is 204.
    for name in ["local-greeter", "GreeterFunction"] {
        let response = invoke(name, Some("DryRun"), "{}").await.unwrap();
        assert_eq!(response.status(), 204, "{name}");
    }
    // Event: 202 at once, with no payload.
    let response = invoke("AdderFunction", Some("Event"), r#"{"a":1,"b":2}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert!(response.bytes().await.unwrap().is_empty());

    // Unknown functions and versions: 404 ResourceNotFoundException, Lambda's body.
    for (name, arn) in [
        ("nope", "function:nope"),
        ("AdderFunction:live", "function:AdderFunction:live"),
    ] {
        let response = invoke(name, Some("DryRun"), "{}").await.unwrap();
        assert_eq!(response.status(), 404, "{name}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ResourceNotFoundException"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"Type": "User", "message": format!("Function not found: arn:aws:lambda:us-east-1:123456789012:{arn}")})
        );
    }
    // A payload that is not JSON, and an unknown invocation type: 400, nothing invoked.
    let response = invoke("AdderFunction", None, "not json").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidRequestContentException"
    );
    let response = invoke("AdderFunction", Some("Later"), "{}").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidParameterValueException"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_async_invocation_that_fails_is_retried_twice_and_one_that_succeeds_runs_once() {
    let failing_calls = Arc::new(AtomicUsize::new(0));
    let succeeding_calls = Arc::new(AtomicUsize::new(0));
    let counting = |name: &str, calls: &Arc<AtomicUsize>, fail: bool| {
        let calls = Arc::clone(calls);
        InProcess::shared(name, move |_event: LambdaEvent<Value>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if fail {
                    Err(Diagnostic {
                        error_type: "Boom".into(),
                        error_message: "it failed".into(),
                    })
                } else {
                    Ok(json!({}))
                }
            }
        })
    };
    let routes = RouteTable {
        functions: [
            (
                "Failing".to_owned(),
                counting("Failing", &failing_calls, true),
            ),
            (
                "Succeeding".to_owned(),
                counting("Succeeding", &succeeding_calls, false),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let http = reqwest::Client::new();
    for name in ["Failing", "Succeeding"] {
        let response = http
            .post(invocations_url(&gateway, name))
            .header("X-Amz-Invocation-Type", "Event")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // Lambda's rule: the first attempt and two retries (here 1 s, then 2 s, apart).
    eventually("three attempts of the failing function", || {
        let calls = Arc::clone(&failing_calls);
        async move { calls.load(Ordering::SeqCst) == 3 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(failing_calls.load(Ordering::SeqCst), 3, "no fourth attempt");
    assert_eq!(succeeding_calls.load(Ordering::SeqCst), 1);
}

/// Lambda runs concurrent invocations of a function side by side, up to its concurrency
/// (`ReservedConcurrentExecutions: 3` here): four invocations of three seconds each run in three
/// processes, at most three at any moment, the fourth after a free one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_run_side_by_side_up_to_the_reserved_concurrency() {
    let gateway = start("python3.12", "python").await;
    let http = reqwest::Client::new();
    let url = invocations_url(&gateway, "SlowFunction");
    let runs = futures::future::join_all((0..4).map(|_| {
        let request = http.post(&url).body(r#"{"seconds": 3}"#).send();
        async move {
            let response = request.await.expect("invoked");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON")
        }
    }))
    .await;
    let pids: std::collections::BTreeSet<u64> = runs
        .iter()
        .map(|run| run["pid"].as_u64().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 3, "three processes: {runs:?}");
    // The most invocations running at one moment: each start, counted against every interval.
    let most_at_once = runs
        .iter()
        .map(|at| {
            let moment = at["start"].as_f64().unwrap();
            runs.iter()
                .filter(|run| {
                    run["start"].as_f64().unwrap() <= moment
                        && moment < run["end"].as_f64().unwrap()
                })
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most_at_once, 3, "{runs:?}");
    // From the first start to the last end (the functions' own clocks, so a slow cold start
    // on a busy machine does not count): serially at least 12 s, side by side two rounds, 6 s
    // (the later of them after the other processes' cold starts).
    let first_start = runs
        .iter()
        .map(|run| run["start"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let last_end = runs
        .iter()
        .map(|run| run["end"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(last_end - first_start < 10.0, "{runs:?}");
    gateway.shutdown().await;
}

/// The runtimes' shims are in a folder private to the run (created as `mkdtemp` creates one:
/// an unpredictable name, mode 0700), removed when the gateway stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtimes_folder_is_private_and_removed_when_the_gateway_stops() {
    use std::os::unix::fs::PermissionsExt;
    let gateway = start("python3.12", "python").await;
    let mut client = Client::connect(gateway.websocket_url()).await;
    client.recv_json().await; // the greeting
    let reply = client.request(r#"{"do":"runtime-dir"}"#).await;
    let dir = PathBuf::from(reply["runtimeDir"].as_str().expect("a folder"));
    let metadata = std::fs::metadata(&dir).expect("the folder exists while the gateway runs");
    assert_eq!(
        metadata.permissions().mode() & 0o777,
        0o700,
        "{}",
        dir.display()
    );
    assert!(dir.join("python/sitecustomize.py").is_file());
    assert!(dir.join("node/bootstrap.mjs").is_file());
    client.close(None).await;
    gateway.shutdown().await;
    assert!(!dir.exists(), "{} is removed", dir.display());
}

/// Between invocations a function's process does not run, as Lambda freezes it: a push its
/// handler left for later (a timer, not awaited) reaches the client only once the next
/// invocation thaws the process.
async fn work_left_running_waits_for_the_next_invocation(runtime: &str, code: &str) {
    let gateway = start(runtime, code).await;
    let mut client = Client::connect(gateway.websocket_url()).await;
    client.recv_json().await; // the greeting
    let returned = client.request(r#"{"do":"fire-and-forget"}"#).await;
    assert_eq!(returned, json!({"returned": true}));
    // The timer was due 300 ms after the handler returned; the process is frozen.
    client.expect_silence(Duration::from_millis(1500)).await;
    client.send_text(r#"{"do":"chain"}"#).await;
    let mut got = vec![client.recv_json().await, client.recv_json().await];
    got.sort_by_key(|message| message.get("late").is_none());
    assert_eq!(got[0], json!({"late": code}), "{got:?}");
    assert_eq!(got[1]["result"]["sum"], 5, "{got:?}");
    client.close(None).await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_process_is_frozen_between_invocations() {
    work_left_running_waits_for_the_next_invocation("nodejs20.x", "node").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_process_is_frozen_between_invocations() {
    work_left_running_waits_for_the_next_invocation("python3.12", "python").await;
}

/// The gateway's log, for the tests of its warnings.
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// With `--freeze false` the process runs on, so the push arrives on its own; a call from a
/// process that is not serving an invocation is logged as a warning naming the function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfrozen_work_after_the_handler_returned_is_logged_with_the_function() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");
    let gateway = start_with_freeze("nodejs20.x", "node", false).await;
    let mut client = Client::connect(gateway.websocket_url()).await;
    client.recv_json().await; // the greeting
    let returned = client.request(r#"{"do":"fire-and-forget"}"#).await;
    assert_eq!(returned, json!({"returned": true}));
    assert_eq!(client.recv_json().await, json!({"late": "node"}));
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("DefaultFunction called PostToConnection after its handler returned"),
        "{text}"
    );
    client.close(None).await;
    gateway.shutdown().await;
}
