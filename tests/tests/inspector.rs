//! The inspector's API against a real gateway: the event ring stays bounded however much
//! traffic passes, a feed reader that falls behind is told what it missed, credentials never
//! reach it, and `--no-inspector` leaves nothing behind. (The page itself is tested in Chromium:
//! local-gateway/inspector-test.)

use futures::{SinkExt, StreamExt};
use local_gateway::{GatewayConfig, RouteTable};
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_bridge_e2e::{Client, WAIT, http, start_gateway, start_gateway_with};

const FRAMES: usize = 100_000;
const RING: usize = 1000;

async fn inspector_json(gateway: &local_gateway::RunningGateway, path: &str) -> (u16, Value) {
    let response = http()
        .get(format!("http://{}{path}", gateway.addr()))
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_event_ring_stays_bounded_under_100000_frames_and_a_slow_feed_reader_is_told_it_lagged()
{
    let mut config = GatewayConfig::on_free_port();
    config.inspector_events = RING;
    // No routes: every frame is answered with API Gateway's `Forbidden` frame, so each one is
    // recorded twice (in and out) without a function in the way.
    let gateway = start_gateway_with(config, RouteTable::default()).await;

    // A feed reader that reads nothing until the end: the socket's buffers fill, then the feed
    // stops being polled while the ring moves on.
    let feed = http()
        .get(format!("http://{}/_inspector/feed?after=0", gateway.addr()))
        .send()
        .await
        .expect("feed");
    assert_eq!(feed.status(), 200);

    let (socket, _) = connect_async(gateway.websocket_url())
        .await
        .expect("connect");
    let (mut sink, mut stream) = socket.split();
    let replies = tokio::spawn(async move {
        let mut count = 0usize;
        while count < FRAMES {
            match tokio::time::timeout(WAIT, stream.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => count += 1,
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        count
    });
    for n in 0..FRAMES {
        sink.send(Message::text(format!("frame {n}")))
            .await
            .expect("send");
    }
    let replied = replies.await.expect("reader");
    assert!(replied > 0);

    let (status, page) = inspector_json(&gateway, "/_inspector/api/events?after=0").await;
    assert_eq!(status, 200);
    let records = page["records"].as_array().expect("records");
    let next = page["next"].as_u64().expect("next");
    assert_eq!(page["capacity"], RING);
    assert_eq!(records.len(), RING, "the ring holds exactly its capacity");
    assert!(next >= FRAMES as u64, "every frame in was recorded: {next}");
    assert_eq!(page["skipped"].as_u64(), Some(next - RING as u64));
    assert_eq!(records[0]["seq"].as_u64(), Some(next - RING as u64));

    // The slow reader now reads: what was buffered, then a `lagged` marker.
    let mut feed = feed;
    let mut seen = String::new();
    let lagged = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(chunk)) = feed.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(at) = seen.find("event: lagged\ndata: ") {
                let line = seen[at + 20..]
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if seen[at..].contains('\n') && !line.is_empty() {
                    return serde_json::from_str::<Value>(&line).ok();
                }
            }
            // Only the tail can still hold a partial marker.
            if seen.len() > 1 << 20 {
                seen.drain(..seen.len() - 4096);
            }
        }
        None
    })
    .await
    .expect("the feed goes on")
    .expect("a lagged marker");
    assert!(lagged["skipped"].as_u64().unwrap_or(0) > 0, "{lagged}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn credentials_never_reach_the_inspector() {
    let mut config = ws_bridge_e2e::run_config();
    config.secret_headers = vec!["X-Api-Key".into()];
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let mut request = format!("{}?clientId=c1&token=SECRET-QUERY", gateway.websocket_url())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        "Bearer SECRET-HEADER".parse().expect("value"),
    );
    request
        .headers_mut()
        .insert("x-api-key", "SECRET-KEY".parse().expect("value"));
    let mut client = Client::connect(request).await;
    client
        .send_text(r#"{"action":"subscribe","channels":["news"]}"#)
        .await;
    let _ = client.recv_text().await;

    let (_, page) = inspector_json(&gateway, "/_inspector/api/events").await;
    let records = page["records"].as_array().expect("records").clone();
    assert!(records.iter().any(|record| record["type"] == "handshake"));
    let mut everything = page.to_string();
    for record in &records {
        let seq = record["seq"].as_u64().expect("seq");
        let (status, detail) =
            inspector_json(&gateway, &format!("/_inspector/api/events/{seq}")).await;
        assert_eq!(status, 200);
        everything.push_str(&detail.to_string());
    }
    let (_, connections) = inspector_json(&gateway, "/_inspector/api/connections").await;
    everything.push_str(&connections.to_string());
    assert!(
        everything.contains("token=***"),
        "the handshake shows a masked token"
    );
    assert!(everything.contains("clientId=c1"));
    for secret in ["SECRET-QUERY", "SECRET-HEADER", "SECRET-KEY"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_connection_list_shows_user_client_channels_and_counts() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(format!("{}?clientId=tab-1", gateway.websocket_url())).await;
    client
        .send_text(r#"{"action":"subscribe","channels":["news"]}"#)
        .await;
    let _ = client.recv_text().await;
    let (status, list) = inspector_json(&gateway, "/_inspector/api/connections").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    let listed = &list["connections"][0];
    assert_eq!(listed["clientId"], "tab-1");
    assert_eq!(listed["channels"], serde_json::json!(["news"]));
    assert_eq!(listed["framesIn"], 1);
    assert!(listed["framesOut"].as_u64().unwrap_or(0) >= 1, "{listed}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn no_inspector_serves_and_records_nothing() {
    let mut config = GatewayConfig::on_free_port();
    config.no_inspector = true;
    let gateway = start_gateway_with(config, RouteTable::default()).await;
    for path in ["/", "/_inspector/api/events", "/_inspector/feed"] {
        let (status, _) = inspector_json(&gateway, path).await;
        assert_eq!(status, 404, "{path}");
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn inspector_actions_take_json_from_the_same_origin_only() {
    let gateway = start_gateway().await;
    let url = format!("http://{}/_inspector/api/broadcast", gateway.addr());
    let body = r#"{"data":"{\"type\":\"x\"}"}"#;
    // A cross-site form post (no preflight) and a cross-origin JSON request are both refused.
    let form = http()
        .post(&url)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(form.status(), 415);
    let cross = http()
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(cross.status(), 403);
    let own = http()
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", format!("http://{}", gateway.addr()))
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(own.status(), 200);
    let answer: Value = own.json().await.expect("JSON");
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["report"]["connectionCount"], 0, "{answer}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_inspector_shadows_nothing_of_the_stage() {
    let gateway = start_gateway().await;
    let (status, body) = inspector_json(&gateway, "/dev/no-such-route").await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
    let (status, body) = inspector_json(&gateway, "/@connections/abc").await;
    assert_eq!((status, body["message"].as_str()), (403, Some("Forbidden")));
    let (status, _) = inspector_json(&gateway, "/_inspector/no-such-thing").await;
    assert_eq!(status, 404);
    let page = http()
        .get(format!("http://{}/", gateway.addr()))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("ws-bridge gateway inspector")
    );
    gateway.shutdown().await;
}
