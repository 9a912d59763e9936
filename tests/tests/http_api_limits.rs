//! The delivery routes refuse what API Gateway could never deliver: a body over 131072 bytes
//! (PostToConnection's limit, checklist 48) answers 413 with the HTTP API's `{"error": …}` before
//! anything is sent, and the gateway reads no more of it than it can use. Over HTTP API's own
//! 10 MB payload limit, the gateway answers as API Gateway does, without invoking anything.

use serde_json::Value;
use std::time::Duration;
use ws_bridge_e2e::{Client, http, start_gateway};

/// A JSON object of exactly `len` bytes.
fn object_of(len: usize) -> String {
    let overhead = r#"{"pad":""}"#.len();
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - overhead))
}

async fn post(url: String, body: String) -> (u16, Option<String>, Vec<u8>) {
    let response = http().post(url).body(body).send().await.expect("answered");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn a_body_over_131072_bytes_is_413_on_every_delivery_route_and_nothing_is_sent() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    client
        .request(r#"{"action":"subscribe","channels":["news"]}"#)
        .await;
    let base = gateway.http_url();

    for (path, size) in [
        ("/broadcast".to_owned(), 131_073),
        ("/broadcast/news".to_owned(), 131_073),
        ("/users/anonymous".to_owned(), 131_073),
        (format!("/connections/{id}"), 131_073),
        ("/broadcast".to_owned(), 10 * 1024 * 1024),
    ] {
        let (status, content_type, body) = post(format!("{base}{path}"), object_of(size)).await;
        assert_eq!(status, 413, "{path} with {size} bytes");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        let error = body["error"].as_str().expect("an error string");
        assert!(error.contains("131072"), "{path}: {error}");
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }
    client.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_body_of_exactly_131072_bytes_is_delivered() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    client.hello().await;
    let body = object_of(131_072);

    let (status, _, report) = post(format!("{}/broadcast", gateway.http_url()), body.clone()).await;

    let report: Value = serde_json::from_slice(&report).expect("JSON");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(client.recv_text().await, body);
}

#[tokio::test]
async fn a_body_over_the_http_apis_10_mb_limit_is_api_gateways_own_413() {
    let gateway = start_gateway().await;

    let (status, content_type, body) = post(
        format!("{}/broadcast", gateway.http_url()),
        object_of(10 * 1024 * 1024 + 1),
    )
    .await;

    assert_eq!(status, 413);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"message": "Request Entity Too Large"})
    );
}

#[tokio::test]
async fn the_size_is_judged_before_the_token() {
    let mut config = ws_bridge_e2e::run_config();
    config.api_token = Some("s3cret".into());
    let gateway = local_gateway::start(config).await.expect("starts");

    let (status, _, body) = post(
        format!("{}/broadcast", gateway.http_url()),
        object_of(131_073),
    )
    .await;

    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
}
