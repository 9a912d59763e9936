//! Conformance with API Gateway (reference `apigw-websocket.md` §10): route selection and
//! replies, limits and timeouts, and the `@connections` wire format. Test names carry the
//! checklist item numbers.

use local_gateway::GatewayConfig;
use local_gateway::{Route, RouteTable};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use ws_bridge_e2e::functions::{answering, echo, failing, panicking, recording, slow};
use ws_bridge_e2e::raw::{RawClient, masked_frame};
use ws_bridge_e2e::{Client, management_client, next_event, start_gateway, start_gateway_with};

fn error_frame_matches(frame: &str, message: &str) -> bool {
    let prefix = format!(r#"{{"message": "{message}", "connectionId":""#);
    frame.starts_with(&prefix) && frame.contains(r#"", "requestId":""#) && frame.ends_with("\"}")
}

#[tokio::test]
async fn checklist_27_28_29_without_default_unmatched_messages_get_the_forbidden_frame() {
    let routes = RouteTable {
        custom: [("known".to_owned(), Route::two_way(echo("known")))].into(),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for unmatched in [r#"{"action":"unknown"}"#, r#"{"no":"action"}"#, "not json"] {
        client.send_text(unmatched).await;
        let frame = client.recv_text().await;
        assert!(error_frame_matches(&frame, "Forbidden"), "{frame}");
        let parsed: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed["connectionId"].as_str().unwrap().len(), 16);
    }
    // The socket stays open and matching still works.
    assert_eq!(
        client.request(r#"{"action":"known"}"#).await,
        json!({ "action": "known" })
    );
}

#[tokio::test]
async fn checklist_25_26_27_30_selection_is_exact_and_never_picks_connect_or_disconnect() {
    let (events, mut received) = mpsc::unbounded_channel();
    let ok = json!({ "statusCode": 200 });
    let routes = RouteTable {
        default: Some(Route::one_way(recording(
            "default",
            ok.clone(),
            events.clone(),
        ))),
        custom: [
            (
                "sendmessage".to_owned(),
                Route::one_way(recording("send", ok.clone(), events.clone())),
            ),
            (
                "7".to_owned(),
                Route::one_way(recording("seven", ok, events)),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for (message, route_key) in [
        (r#"{"action":"sendmessage"}"#, "sendmessage"),
        (r#"{"action":"SendMessage"}"#, "$default"),
        (r#"{"action":7}"#, "7"),
        (r#"{"action":"$connect"}"#, "$default"),
        (r#"{"action":"$disconnect"}"#, "$default"),
        ("[]", "$default"),
    ] {
        client.send_text(message).await;
        let event = next_event(&mut received).await;
        assert_eq!(event["requestContext"]["routeKey"], route_key, "{message}");
    }
}

#[tokio::test]
async fn checklist_31_32_35_one_way_routes_reply_nothing_two_way_routes_reply_the_body() {
    let routes = RouteTable {
        custom: [
            ("oneway".to_owned(), Route::one_way(echo("oneway"))),
            ("twoway".to_owned(), Route::two_way(echo("twoway"))),
            (
                "refuse".to_owned(),
                Route::one_way(answering("refuse", 500, json!({ "body": "no" }))),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client.send_text(r#"{"action":"oneway"}"#).await;
    client.send_text(r#"{"action":"refuse"}"#).await;
    client.expect_silence(Duration::from_millis(300)).await;

    assert_eq!(
        client.request(r#"{"action":"twoway","n":1}"#).await,
        json!({ "action": "twoway", "n": 1 })
    );
}

#[tokio::test]
async fn checklist_33_a_failing_or_panicking_function_sends_internal_server_error_and_keeps_serving()
 {
    let routes = RouteTable {
        custom: [
            ("panic".to_owned(), Route::two_way(panicking("panic"))),
            ("fail".to_owned(), Route::one_way(failing("fail"))),
            ("echo".to_owned(), Route::two_way(echo("echo"))),
        ]
        .into(),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for action in ["panic", "fail"] {
        client
            .send_text(&format!(r#"{{"action":"{action}"}}"#))
            .await;
        let frame = client.recv_text().await;
        assert!(
            error_frame_matches(&frame, "Internal server error"),
            "{frame}"
        );
    }
    assert_eq!(
        client.request(r#"{"action":"echo"}"#).await["action"],
        "echo"
    );
    // The gateway as a whole still serves new clients.
    let mut other = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(
        other.request(r#"{"action":"echo"}"#).await["action"],
        "echo"
    );
}

#[tokio::test]
async fn checklist_34_an_integration_over_its_timeout_sends_the_timeout_frame() {
    let mut config = GatewayConfig::on_free_port();
    config.integration_timeout_ms = 200;
    let (events, _received) = mpsc::unbounded_channel();
    let routes = RouteTable {
        default: Some(Route::two_way(slow("slow", Duration::from_secs(3), events))),
        ..Default::default()
    };
    let gateway = start_gateway_with(config, routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client.send_text("anything").await;

    let frame = client.recv_text().await;
    assert!(
        error_frame_matches(&frame, "Endpoint request timed out"),
        "{frame}"
    );
    client.send(Message::Ping(vec![1].into())).await;
    assert!(
        matches!(client.next().await, Some(Message::Pong(_))),
        "socket still open"
    );
}

#[tokio::test]
async fn checklist_36_a_binary_frame_closes_the_connection_with_1003() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client.send(Message::binary(vec![1, 2, 3])).await;

    assert_eq!(
        client.expect_close().await.map(|f| u16::from(f.code)),
        Some(1003)
    );
}

#[tokio::test]
async fn checklist_37_a_frame_over_32_kb_closes_with_1009() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client.send_text(&"x".repeat(32 * 1024 + 1)).await;

    assert_eq!(
        client.expect_close().await.map(|f| u16::from(f.code)),
        Some(1009)
    );
}

#[tokio::test]
async fn checklist_37_a_message_over_128_kb_in_small_frames_closes_with_1009() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    // Five 30 KB fragments: each frame is within the limit, the message is not.
    let fragment = "y".repeat(30 * 1024);
    client.send_fragmented(&fragment, 5).await;

    assert_eq!(
        client.expect_close().await.map(|f| u16::from(f.code)),
        Some(1009)
    );
}

#[tokio::test]
async fn checklist_37_a_message_within_the_limits_in_several_frames_is_accepted() {
    let routes = RouteTable {
        default: Some(Route::two_way(echo("echo"))),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    let fragment = "z".repeat(30 * 1024);
    client.send_fragmented(&fragment, 4).await;

    assert_eq!(client.recv_text().await.len(), 4 * 30 * 1024);
}

#[tokio::test]
async fn checklist_38_an_idle_connection_is_closed_with_1001_going_away() {
    let mut config = GatewayConfig::on_free_port();
    config.idle_timeout_secs = 1;
    let (events, mut received) = mpsc::unbounded_channel();
    let ok = json!({ "statusCode": 200 });
    let routes = RouteTable {
        connect: Some(Route::one_way(recording(
            "connect",
            ok.clone(),
            events.clone(),
        ))),
        disconnect: Some(Route::one_way(recording("disconnect", ok, events))),
        ..Default::default()
    };
    let gateway = start_gateway_with(config, routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    next_event(&mut received).await;

    let close = client.expect_close().await.expect("close frame");

    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (1001, "Going away")
    );
    let disconnect = next_event(&mut received).await;
    assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1001);
    assert_eq!(
        disconnect["requestContext"]["disconnectReason"],
        "Going away"
    );
}

#[tokio::test]
async fn checklist_39_59_pushed_messages_reset_the_idle_timer_but_protocol_pings_do_not() {
    let mut config = GatewayConfig::on_free_port();
    config.idle_timeout_secs = 1;
    let gateway = start_gateway_with(config, RouteTable::default()).await;
    let sdk = management_client(&gateway);
    let mut pushed = Client::connect(&gateway.websocket_url()).await;
    let mut pinging = Client::connect(&gateway.websocket_url()).await;
    let pushed_id = forbidden_frame_connection_id(&mut pushed).await;
    let started = tokio::time::Instant::now();

    // A ping every 300 ms: were pings activity, this client would never idle out.
    let pinger = tokio::spawn(async move {
        loop {
            pinging.send(Message::Ping(vec![9].into())).await;
            match pinging.next().await {
                Some(Message::Pong(_)) => tokio::time::sleep(Duration::from_millis(300)).await,
                Some(Message::Close(frame)) => {
                    return (frame.map(|f| u16::from(f.code)), started.elapsed());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sdk.post_to_connection()
            .connection_id(&pushed_id)
            .data(b"keep-alive".to_vec().into())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.recv_text().await, "keep-alive");
    }

    let (code, pinger_lifetime) = pinger.await.unwrap();
    assert_eq!(code, Some(1001));
    assert!(
        pinger_lifetime < Duration::from_millis(1800),
        "pings did not keep it alive: {pinger_lifetime:?}"
    );
    assert!(
        started.elapsed() > Duration::from_millis(2000),
        "the pushed client outlived the idle timeout"
    );
    assert!(
        sdk.get_connection()
            .connection_id(&pushed_id)
            .send()
            .await
            .is_ok(),
        "pushed client alive"
    );
}

/// A client's connection id, read from the Forbidden frame a gateway without `$default`
/// answers with.
async fn forbidden_frame_connection_id(client: &mut Client) -> String {
    client.send_text("who am i").await;
    let frame: Value = serde_json::from_str(&client.recv_text().await).unwrap();
    frame["connectionId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn checklist_40_a_connection_is_closed_at_its_maximum_duration_despite_activity() {
    let mut config = GatewayConfig::on_free_port();
    config.max_connection_secs = 1;
    let routes = RouteTable {
        default: Some(Route::two_way(echo("echo"))),
        ..Default::default()
    };
    let gateway = start_gateway_with(config, routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    let started = tokio::time::Instant::now();
    loop {
        client.send_text("still here").await;
        match client.next().await {
            Some(Message::Text(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Some(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1001));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "closed at the limit, not before"
    );
}

#[tokio::test]
async fn checklist_45_46_47_52_61_connections_paths_ids_and_gone_answers() {
    let gateway = start_gateway().await;
    let http = reqwest::Client::new();
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    let encoded = id.replace('=', "%3D");

    // 45, 46: %40connections and a percent-encoded id reach the connection; 200, empty body.
    let response = http
        .post(format!("{}/%40connections/{encoded}", gateway.http_url()))
        .body("raw bytes, not JSON")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(client.recv_text().await, "raw bytes, not JSON");

    // 47, 52, 61: unknown ids are 410 GoneException with an empty body, for every method.
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let response = http
            .request(
                method.clone(),
                format!("{}/@connections/AAAAAAAAAAAAAAA%3D", gateway.http_url()),
            )
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 410, "{method}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "GoneException",
            "{method}"
        );
        assert!(response.bytes().await.unwrap().is_empty(), "{method}");
    }
}

/// An id whose percent-decoding is not UTF-8 names no connection that can exist: it is gone,
/// answered in API Gateway's shape like every other unknown id, never a plain-text 400.
#[tokio::test]
async fn checklist_47_52_61_an_id_that_does_not_decode_to_utf8_is_410_gone() {
    let gateway = start_gateway().await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        for id in ["%FF%FE", "AAAAAAAAAAAAAA%C3"] {
            let response = reqwest::Client::new()
                .request(
                    method.clone(),
                    format!("{}/@connections/{id}", gateway.http_url()),
                )
                .body("x")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 410, "{method} {id}");
            assert_eq!(
                response.headers()["x-amzn-errortype"],
                "GoneException",
                "{method} {id}"
            );
            assert!(response.bytes().await.unwrap().is_empty(), "{method} {id}");
        }
    }
}

#[tokio::test]
async fn checklist_48_a_post_over_131072_bytes_is_413_payload_too_large() {
    let gateway = start_gateway().await;
    let sdk = management_client(&gateway);
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;

    let error = sdk
        .post_to_connection()
        .connection_id(&id)
        .data(vec![b'a'; 131_073].into())
        .send()
        .await
        .expect_err("too large");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_payload_too_large_exception()),
        "{error:?}"
    );

    // Exactly at the limit is fine.
    sdk.post_to_connection()
        .connection_id(&id)
        .data(vec![b'b'; 131_072].into())
        .send()
        .await
        .expect("at the limit");
    assert_eq!(client.recv_text().await.len(), 131_072);
}

#[tokio::test]
async fn checklist_60_a_post_over_32_kb_goes_out_as_32_kb_frames_that_clients_reassemble() {
    const FRAME: usize = 32 * 1024;
    let gateway = start_gateway().await;
    let sdk = management_client(&gateway);
    let mut raw = RawClient::connect(gateway.addr(), &gateway.config().stage).await;
    raw.send_bytes(&masked_frame(0x81, br#"{"action":"hello"}"#))
        .await;
    let welcome = raw.read_frame().await.expect("welcome");
    let welcome: Value = serde_json::from_slice(&welcome.payload).expect("JSON welcome");
    let id = welcome["data"]["connectionId"].as_str().expect("id");

    // Three-byte characters: 32768 is not a multiple of 3, so frames split inside a character,
    // which RFC 6455 allows (only the whole message must be UTF-8).
    let large = "€".repeat(30_000); // 90,000 bytes
    sdk.post_to_connection()
        .connection_id(id)
        .data(large.clone().into_bytes().into())
        .send()
        .await
        .expect("post");
    let mut frames = Vec::new();
    loop {
        let frame = raw.read_frame().await.expect("a frame");
        let fin = frame.fin;
        frames.push(frame);
        if fin {
            break;
        }
    }
    let shape: Vec<(u8, bool, usize)> = frames
        .iter()
        .map(|frame| (frame.opcode, frame.fin, frame.payload.len()))
        .collect();
    assert_eq!(
        shape,
        [
            (0x1, false, FRAME),
            (0x0, false, FRAME),
            (0x0, true, 90_000 - 2 * FRAME)
        ]
    );
    assert!(std::str::from_utf8(&frames[0].payload).is_err());
    let whole: Vec<u8> = frames.into_iter().flat_map(|frame| frame.payload).collect();
    assert_eq!(whole, large.as_bytes());

    // Exactly 32 KB is still one frame.
    sdk.post_to_connection()
        .connection_id(id)
        .data(vec![b'a'; FRAME].into())
        .send()
        .await
        .expect("post");
    let frame = raw.read_frame().await.expect("a frame");
    assert_eq!(
        (frame.opcode, frame.fin, frame.payload.len()),
        (0x1, true, FRAME)
    );

    // A client library reassembles the message.
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    sdk.post_to_connection()
        .connection_id(&id)
        .data(large.clone().into_bytes().into())
        .send()
        .await
        .expect("post");
    assert_eq!(client.recv_text().await, large);
}

#[tokio::test]
async fn checklist_49_62_get_connection_has_iso_timestamps_and_omits_a_missing_user_agent() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;

    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/@connections/{}",
            gateway.http_url(),
            id.replace('=', "%3D")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(body["identity"], json!({ "sourceIp": "127.0.0.1" }));
    for field in ["connectedAt", "lastActiveAt"] {
        let text = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is a string: {body}"));
        chrono::DateTime::parse_from_rfc3339(text).expect("ISO-8601");
    }
    assert!(body["lastActiveAt"].as_str() >= body["connectedAt"].as_str());
}

#[tokio::test]
async fn checklist_49_last_active_at_moves_with_traffic_in_either_direction() {
    let gateway = start_gateway().await;
    let sdk = management_client(&gateway);
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    let last_active = || async {
        let info = sdk
            .get_connection()
            .connection_id(&id)
            .send()
            .await
            .unwrap();
        info.last_active_at().unwrap().as_nanos()
    };

    let before = last_active().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send_text(r#"{"action":"ping"}"#).await;
    client.recv_text().await;
    let after_inbound = last_active().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    sdk.post_to_connection()
        .connection_id(&id)
        .data(b"out".to_vec().into())
        .send()
        .await
        .unwrap();
    client.recv_text().await;
    let after_outbound = last_active().await;

    assert!(after_inbound > before, "a client message moves it");
    assert!(after_outbound > after_inbound, "a pushed message moves it");
}

#[tokio::test]
async fn checklist_51_connections_without_the_stage_is_403_forbidden() {
    let gateway = start_gateway().await;
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/@connections/AAAAAAAAAAAAAAA%3D",
            gateway.addr()
        ))
        .body("x")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(response.headers()["x-amzn-errortype"], "ForbiddenException");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "message": "Forbidden" })
    );
}

#[tokio::test]
async fn checklist_59_protocol_pings_are_answered_and_never_routed() {
    let (events, mut received) = mpsc::unbounded_channel();
    let routes = RouteTable {
        default: Some(Route::one_way(recording(
            "default",
            json!({ "statusCode": 200 }),
            events,
        ))),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await;

    assert_eq!(
        client.next().await,
        Some(Message::Pong(b"are you there".to_vec().into()))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), received.recv())
            .await
            .is_err(),
        "nothing routed"
    );
}

#[tokio::test]
async fn gateway_survives_a_client_that_vanishes_mid_stream() {
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = client.connection_id().await;
    drop(client);

    ws_bridge_e2e::eventually("the vanished client is gone", || async {
        gateway.store().get(&id).await.unwrap().is_none()
    })
    .await;
    let mut fresh = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(fresh.request(r#"{"action":"ping"}"#).await["type"], "pong");
}

#[tokio::test]
async fn checklist_59_with_the_switch_on_protocol_pings_keep_a_connection_alive() {
    let mut config = GatewayConfig::on_free_port();
    config.idle_timeout_secs = 1;
    config.pings_are_activity = true;
    let gateway = start_gateway_with(config, RouteTable::default()).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.send(Message::Ping(vec![1].into())).await;
        assert!(
            matches!(client.next().await, Some(Message::Pong(_))),
            "still open"
        );
    }
    assert_eq!(gateway.open_connections(), 1);
}

#[tokio::test]
async fn checklist_44_disconnect_output_reaches_nobody_and_posts_to_the_closed_connection_are_gone()
{
    let (events, mut received) = mpsc::unbounded_channel();
    let routes = RouteTable {
        // A $disconnect that tries to answer: there is nobody left to answer to.
        disconnect: Some(Route::two_way(recording(
            "disconnect",
            json!({ "statusCode": 200, "body": "goodbye" }),
            events,
        ))),
        ..Default::default()
    };
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let sdk = management_client(&gateway);
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = forbidden_frame_connection_id(&mut client).await;
    let mut bystander = Client::connect(&gateway.websocket_url()).await;

    client.close(None).await;
    next_event(&mut received).await;

    let late = sdk
        .post_to_connection()
        .connection_id(&id)
        .data(b"late".to_vec().into())
        .send()
        .await
        .expect_err("closed");
    assert!(
        late.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{late:?}"
    );
    bystander.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn checklist_53_with_sigv4_required_unsigned_or_wrongly_scoped_requests_are_403() {
    let mut config = GatewayConfig::on_free_port();
    config.require_sigv4 = true;
    let gateway = start_gateway_with(config, RouteTable::default()).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = forbidden_frame_connection_id(&mut client).await;
    let url = format!(
        "{}/@connections/{}",
        gateway.http_url(),
        id.replace('=', "%3D")
    );
    let http = reqwest::Client::new();

    let unsigned = http.post(&url).body("x").send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    let other_service = http
        .post(&url)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(other_service.status().as_u16(), 403);
    assert!(other_service.headers().contains_key("x-amzn-errortype"));
    client.expect_silence(Duration::from_millis(100)).await;

    // The SDK signs for execute-api: accepted.
    management_client(&gateway)
        .post_to_connection()
        .connection_id(&id)
        .data(b"signed".to_vec().into())
        .send()
        .await
        .expect("signed request accepted");
    assert_eq!(client.recv_text().await, "signed");
}
