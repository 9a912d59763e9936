//! How the gateway's HTTP API reads a function's result (payload 2.0), through a real gateway
//! and a real HTTP client: a result without `statusCode` is the body itself, and an unusable
//! result is API Gateway's 500, never an empty 200.

use local_gateway::{GatewayConfig, HttpRoute, RouteTable};
use serde_json::{Value, json};
use ws_bridge_e2e::functions::recording;
use ws_bridge_e2e::{http, start_gateway_with};

/// A gateway whose `GET /result` function answers `result`.
async fn gateway_answering(result: Value) -> local_gateway::RunningGateway {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let routes = RouteTable {
        http: vec![HttpRoute {
            method: http::Method::GET,
            path: "/result".into(),
            function: recording("result", result, events),
            delivers_body: false,
        }],
        ..Default::default()
    };
    start_gateway_with(GatewayConfig::on_free_port(), routes).await
}

async fn get(gateway: &local_gateway::RunningGateway) -> (u16, Option<String>, String) {
    let response = http()
        .get(format!("{}/result", gateway.http_url()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn a_result_without_status_code_is_answered_as_json_with_200() {
    let gateway = gateway_answering(json!({ "count": 3 })).await;
    let (status, content_type, body) = get(&gateway).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "count": 3 })
    );
}

#[tokio::test]
async fn a_proxy_result_gives_its_status_headers_and_decoded_body() {
    let gateway = gateway_answering(json!({
        "statusCode": 201,
        "headers": { "content-type": "text/plain" },
        "body": "aGVsbG8=",
        "isBase64Encoded": true,
    }))
    .await;
    assert_eq!(
        get(&gateway).await,
        (201, Some("text/plain".into()), "hello".into())
    );
}

#[tokio::test]
async fn a_body_that_claims_base64_and_is_not_is_a_500() {
    let gateway = gateway_answering(json!({
        "statusCode": 200,
        "body": "not base64!",
        "isBase64Encoded": true,
    }))
    .await;
    let (status, _, body) = get(&gateway).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "message": "Internal Server Error" })
    );
}
