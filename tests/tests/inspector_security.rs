//! The inspector over real HTTP against the attacks it must resist: DNS rebinding (a request
//! naming another host), cross-origin and origin-less actions, actions without the API token,
//! and a gateway listening beyond loopback.

use local_gateway::RunningGateway;
use reqwest::Method;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use ws_bridge_e2e::{Client, api_token, run_config};

/// Every inspector route: the page, its assets, the read API, the feed, and the actions.
fn inspector_routes(connection_id: &str) -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, String)> = [
        "/",
        "/_inspector/app.js",
        "/_inspector/app.css",
        "/_inspector/api/connections",
        "/_inspector/api/events",
        "/_inspector/api/events/0",
        "/_inspector/api/config",
        "/_inspector/feed",
    ]
    .into_iter()
    .map(|path| (Method::GET, path.to_owned()))
    .collect();
    routes.push((Method::POST, "/_inspector/api/broadcast".to_owned()));
    routes.push((
        Method::POST,
        format!("/_inspector/api/connections/{connection_id}/messages"),
    ));
    routes.push((
        Method::DELETE,
        format!("/_inspector/api/connections/{connection_id}"),
    ));
    routes
}

/// A plain client: no default token, each test says what it sends.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// An inspector request to `addr` with the headers given; returns the status and the body.
async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut request = plain()
        .request(method, format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(r#"{"data":"{\"type\":\"note\",\"text\":\"rebound\"}"}"#);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    // The feed would stream forever if it were served; a refusal is a short body.
    let body = tokio::time::timeout(Duration::from_secs(2), response.text())
        .await
        .map(|text| text.unwrap_or_default())
        .unwrap_or_else(|_| "<streaming>".to_owned());
    (status, body)
}

fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {}", api_token()))
}

/// The client got nothing within a short while (the broadcast was not delivered).
async fn got_nothing(client: &mut Client) {
    client.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_request_naming_another_host_gets_nothing_from_any_inspector_route() {
    let gateway = ws_bridge_e2e::start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    let port = gateway.addr().port();
    // What a rebinding page sends: its own name, same-origin with itself, and even the token.
    let rebound = [
        ("host", format!("evil.example:{port}")),
        ("origin", format!("http://evil.example:{port}")),
        bearer(),
    ];
    for (method, path) in inspector_routes(&id) {
        let (status, body) = call(gateway.addr(), method.clone(), &path, &rebound).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON refusal");
        assert!(body["error"].is_string(), "{method} {path}: {body}");
        assert!(body.get("connections").is_none() && body.get("records").is_none());
    }
    got_nothing(&mut client).await;
    // Still connected: the DELETE did nothing.
    assert_eq!(gateway.open_connections(), 1);

    // The same requests naming this machine are served.
    let own = [
        ("host", format!("localhost:{port}")),
        ("origin", format!("http://localhost:{port}")),
        bearer(),
    ];
    let (status, body) = call(
        gateway.addr(),
        Method::GET,
        "/_inspector/api/connections",
        &own,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        gateway.addr(),
        Method::POST,
        "/_inspector/api/broadcast",
        &own,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(client.recv_text().await.contains("rebound"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn actions_need_this_origin_or_the_non_browser_header_and_the_api_token() {
    let gateway = ws_bridge_e2e::start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    client.connection_id().await;
    let addr = gateway.addr();
    let broadcast = "/_inspector/api/broadcast";
    let refusals = [
        // Another site's page, posting JSON to the gateway.
        vec![("origin", "http://evil.example".to_owned()), bearer()],
        // The right host, another port: another origin.
        vec![("origin", "http://127.0.0.1:1".to_owned()), bearer()],
        vec![("origin", "null".to_owned()), bearer()],
        // No Origin and nothing to say it is not a browser.
        vec![bearer()],
    ];
    for headers in refusals {
        let (status, body) = call(addr, Method::POST, broadcast, &headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    // The page's own origin, or a script's header, but no token: 401.
    for headers in [
        vec![("origin", format!("http://{addr}"))],
        vec![("x-ws-bridge-inspector", "1".to_owned())],
        vec![
            ("x-ws-bridge-inspector", "1".to_owned()),
            ("authorization", "Bearer wrong".to_owned()),
        ],
    ] {
        let (status, body) = call(addr, Method::POST, broadcast, &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    }
    got_nothing(&mut client).await;
    // With both, it is delivered, and the answer is the call's own.
    let (status, body) = call(
        addr,
        Method::POST,
        broadcast,
        &[("x-ws-bridge-inspector", "1".to_owned()), bearer()],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], 200, "{body}");
    assert!(client.recv_text().await.contains("rebound"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn actions_answer_the_status_of_what_they_did() {
    let gateway = ws_bridge_e2e::start_gateway().await;
    let headers = [("x-ws-bridge-inspector", "1".to_owned()), bearer()];
    let (status, body) = call(
        gateway.addr(),
        Method::POST,
        "/_inspector/api/connections/AAAAAAAAAAAAAAA=/messages",
        &headers,
    )
    .await;
    assert_eq!(status, 410, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"], "GoneException", "{body}");
    assert_eq!(body["call"], "PostToConnection", "{body}");
    let (status, body) = call(
        gateway.addr(),
        Method::DELETE,
        "/_inspector/api/connections/AAAAAAAAAAAAAAA=",
        &headers,
    )
    .await;
    assert_eq!(status, 410, "{body}");
    // A malformed action body is said in the inspector's shape.
    let response = plain()
        .post(format!(
            "http://{}/_inspector/api/broadcast",
            gateway.addr()
        ))
        .header("content-type", "application/json")
        .header("x-ws-bridge-inspector", "1")
        .header("authorization", format!("Bearer {}", api_token()))
        .body("{not json")
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON error");
    assert!(body["error"].is_string(), "{body}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn with_require_sigv4_the_inspector_cannot_send_or_disconnect_unsigned() {
    let mut config = run_config();
    config.require_sigv4 = true;
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    let headers = [("x-ws-bridge-inspector", "1".to_owned()), bearer()];
    let send = format!("/_inspector/api/connections/{id}/messages");
    let (status, body) = call(gateway.addr(), Method::POST, &send, &headers).await;
    assert_eq!(status, 403, "{body}");
    let close = format!("/_inspector/api/connections/{id}");
    let (status, body) = call(gateway.addr(), Method::DELETE, &close, &headers).await;
    assert_eq!(status, 403, "{body}");
    got_nothing(&mut client).await;
    assert_eq!(gateway.open_connections(), 1);
    gateway.shutdown().await;
}

/// The gateway on every address, reached through 127.0.0.1.
async fn on_every_address(inspector: bool) -> (RunningGateway, SocketAddr) {
    let mut config = run_config();
    config.host = "0.0.0.0".parse().unwrap();
    config.inspector = inspector;
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], gateway.addr().port()));
    (gateway, addr)
}

#[tokio::test]
async fn on_every_address_the_inspector_is_off_unless_enabled() {
    let (gateway, addr) = on_every_address(false).await;
    assert_eq!(gateway.inspector_url(), None);
    for (method, path) in inspector_routes("AAAAAAAAAAAAAAA=") {
        let (status, body) = call(addr, method.clone(), &path, &[bearer()]).await;
        assert!(
            status == 404 || status == 405,
            "{method} {path}: {status} {body}"
        );
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn on_every_address_with_an_api_token_the_inspector_delivers_nothing_without_it() {
    let (gateway, addr) = on_every_address(true).await;
    let url = format!("ws://{addr}/{}", gateway.config().stage);
    let mut client = Client::connect(&url).await;
    let id = client.connection_id().await;
    let origin = [("origin", format!("http://{addr}"))];
    for (method, path) in inspector_routes(&id)
        .into_iter()
        .filter(|(m, _)| m != Method::GET)
    {
        let (status, body) = call(addr, method.clone(), &path, &origin).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    got_nothing(&mut client).await;
    assert_eq!(gateway.open_connections(), 1);
    let with_token = [origin[0].clone(), bearer()];
    let (status, body) = call(addr, Method::POST, "/_inspector/api/broadcast", &with_token).await;
    assert_eq!(status, 200, "{body}");
    assert!(client.recv_text().await.contains("rebound"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_stage_host_check_is_opt_in_and_refuses_other_hosts() {
    let mut config = run_config();
    config.check_stage_host = true;
    config.allowed_hosts = vec!["gateway.test".to_owned()];
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let port = gateway.addr().port();
    let stats = format!("/{}/stats", gateway.config().stage);
    let (status, body) = call(
        gateway.addr(),
        Method::GET,
        &stats,
        &[("host", format!("evil.example:{port}")), bearer()],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, r#"{"message":"Forbidden"}"#);
    for host in [format!("gateway.test:{port}"), format!("127.0.0.1:{port}")] {
        let (status, body) = call(
            gateway.addr(),
            Method::GET,
            &stats,
            &[("host", host), bearer()],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // The handshake too.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            gateway.websocket_url(),
        )
        .expect("a request");
    request
        .headers_mut()
        .insert("host", format!("evil.example:{port}").parse().unwrap());
    assert_eq!(ws_bridge_e2e::refused_status(request).await, 403);
    let _client = Client::connect(&gateway.websocket_url()).await;
    gateway.shutdown().await;
}
