//! With an API token configured, the backend routes require it; nothing is sent without it.

use std::time::Duration;
use ws_bridge_e2e::{Client, http};

const TOKEN: &str = "9f1c2d3e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978";

#[tokio::test]
async fn backend_routes_require_the_bearer_token_when_one_is_configured() {
    let mut config = ws_bridge_e2e::run_config();
    config.api_token = Some(TOKEN.into());
    let gateway = local_gateway::start(config).await.expect("starts");
    let mut client = Client::connect(&format!("{}?channels=news", gateway.websocket_url())).await;
    let broadcast_url = format!("{}/broadcast", gateway.http_url());
    let count_url = format!("{}/connections/count", gateway.http_url());

    for authorization in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Bearer {TOKEN}x")[..]),
        Some(TOKEN),
    ] {
        let mut request = http().post(&broadcast_url).body(r#"{"type":"secret"}"#);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("bearer token"),
            "{body}"
        );
    }
    assert_eq!(
        http()
            .get(&count_url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let id = client.connection_id().await;
    for path in [
        "/broadcast/news".to_owned(),
        "/users/ada".to_owned(),
        format!("/connections/{id}"),
    ] {
        let response = http()
            .post(format!("{}{path}", gateway.http_url()))
            .body(r#"{"type":"secret"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "POST {path}");
    }
    for path in ["/stats", "/connections/count?channel=news"] {
        let response = http()
            .get(format!("{}{path}", gateway.http_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "GET {path}");
    }
    client.expect_silence(Duration::from_millis(200)).await;

    let sent = http()
        .post(&broadcast_url)
        .bearer_auth(TOKEN)
        .body(r#"{"type":"news"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 200);
    assert_eq!(client.recv_text().await, r#"{"type":"news"}"#);
    let count = http()
        .get(&count_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(count.status().as_u16(), 200);
}
