//! Conformance with API Gateway (reference `apigw-websocket.md` §10): the handshake and the
//! shapes of the events functions receive. Test names carry the checklist item numbers.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use local_gateway::GatewayConfig;
use local_gateway::{Route, RouteTable};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use ws_bridge_e2e::functions::{answering, failing, panicking, slow};
use ws_bridge_e2e::{
    Client, WAIT, management_client, next_event, refused_status, start_gateway_with,
};

fn is_aws_id(value: &Value) -> bool {
    value.as_str().is_some_and(|id| {
        id.len() == 16
            && id.ends_with('=')
            && id[..15]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn is_clf_time(value: &Value) -> bool {
    // dd/MMM/yyyy:HH:mm:ss +0000
    value.as_str().is_some_and(|t| {
        chrono::NaiveDateTime::parse_from_str(t, "%d/%b/%Y:%H:%M:%S +0000").is_ok() && t.len() == 26
    })
}

/// Every route records its events into one channel; `$connect` and the routes answer 200.
fn recording_routes() -> (RouteTable, mpsc::UnboundedReceiver<Value>) {
    let (events, received) = mpsc::unbounded_channel();
    let table = ws_bridge_e2e::functions::recording_routes(json!({ "statusCode": 200 }), events);
    (table, received)
}

fn only_connect(function: std::sync::Arc<dyn local_gateway::LambdaFunction>) -> RouteTable {
    RouteTable {
        connect: Some(Route::one_way(function)),
        ..Default::default()
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn checklist_01_02_connect_status_becomes_the_handshake_status_and_nothing_opens() {
    let gateway = start_gateway_with(
        GatewayConfig::on_free_port(),
        only_connect(answering("deny", 401, json!({}))),
    )
    .await;
    assert_eq!(refused_status(&gateway.websocket_url()).await, 401);
    assert_eq!(gateway.open_connections(), 0);

    let gateway = start_gateway_with(
        GatewayConfig::on_free_port(),
        only_connect(answering("allow", 201, json!({}))),
    )
    .await;
    let _client = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(gateway.open_connections(), 1);
}

#[tokio::test]
async fn checklist_03_a_connect_function_that_fails_or_panics_gives_502() {
    for function in [failing("connect"), panicking("connect")] {
        let gateway =
            start_gateway_with(GatewayConfig::on_free_port(), only_connect(function)).await;
        assert_eq!(refused_status(&gateway.websocket_url()).await, 502);
        assert_eq!(gateway.open_connections(), 0);
    }
}

#[tokio::test]
async fn checklist_05_without_a_connect_route_every_handshake_is_accepted() {
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), RouteTable::default()).await;
    let _client = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(gateway.open_connections(), 1);
}

#[tokio::test]
async fn checklist_04_06_post_to_a_connection_whose_connect_has_not_returned_is_gone() {
    let (events, mut received) = mpsc::unbounded_channel();
    let routes = only_connect(slow("connect", Duration::from_millis(700), events));
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let sdk = management_client(&gateway);
    let url = gateway.websocket_url();
    let handshake = tokio::spawn(async move { Client::connect(&url).await });

    let connect_event = next_event(&mut received).await;
    let id = connect_event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let early = sdk
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("early"))
        .send()
        .await;
    assert!(
        early
            .expect_err("no connection yet")
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception())
    );
    assert!(!handshake.is_finished(), "no 101 before $connect returned");

    let mut client = handshake.await.unwrap();
    sdk.post_to_connection()
        .connection_id(&id)
        .data(Blob::new("now"))
        .send()
        .await
        .expect("open now");
    assert_eq!(client.recv_text().await, "now");
}

#[tokio::test]
async fn checklist_07_the_body_returned_by_connect_is_never_delivered() {
    let routes = only_connect(answering("connect", 200, json!({ "body": "secret" })));
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    client.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn checklist_08_a_subprotocol_returned_by_connect_is_on_the_101() {
    let routes = only_connect(answering(
        "connect",
        200,
        json!({ "headers": { "Sec-WebSocket-Protocol": "chat.v1" } }),
    ));
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut request = gateway.websocket_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat.v1".parse().unwrap());

    let (_socket, response) = tokio::time::timeout(WAIT, connect_async(request))
        .await
        .unwrap()
        .expect("accepted");

    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v1"
    );
}

#[tokio::test]
async fn checklist_09_10_13_17_18_19_20_21_23_24_the_connect_event_has_aws_shape() {
    let (routes, mut events) = recording_routes();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut request = format!("{}?room=lobby&tag=a&tag=b", gateway.websocket_url())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("User-Agent", "Mozilla/5.0 test".parse().unwrap());
    request
        .headers_mut()
        .insert("Origin", "https://app.example.com".parse().unwrap());
    let (_socket, _) = connect_async(request).await.expect("accepted");

    let event = next_event(&mut events).await;

    // 9: the client's headers plus AWS's own, never Connection or Upgrade.
    assert_eq!(
        keys(&event),
        [
            "headers",
            "isBase64Encoded",
            "multiValueHeaders",
            "multiValueQueryStringParameters",
            "queryStringParameters",
            "requestContext"
        ]
    );
    let headers = &event["headers"];
    let host = format!("127.0.0.1:{}", gateway.addr().port());
    assert_eq!(headers["Host"], host.as_str());
    assert_eq!(headers["Origin"], "https://app.example.com");
    assert_eq!(headers["User-Agent"], "Mozilla/5.0 test");
    assert_eq!(headers["Sec-WebSocket-Version"], "13");
    assert!(headers["Sec-WebSocket-Key"].is_string());
    assert!(
        headers["X-Amzn-Trace-Id"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    assert_eq!(headers["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(headers["X-Forwarded-Port"], "443");
    assert_eq!(headers["X-Forwarded-Proto"], "https");
    for name in keys(headers) {
        assert!(
            !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("upgrade"),
            "{name}"
        );
        assert_eq!(
            event["multiValueHeaders"][&name],
            json!([headers[&name]]),
            "{name} mirrored"
        );
    }
    // 10: query maps, because the URL had a query string.
    assert_eq!(
        event["queryStringParameters"],
        json!({ "room": "lobby", "tag": "b" })
    );
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({ "room": ["lobby"], "tag": ["a", "b"] })
    );

    let context = &event["requestContext"];
    assert_eq!(
        keys(context),
        [
            "apiId",
            "connectedAt",
            "connectionId",
            "domainName",
            "eventType",
            "extendedRequestId",
            "identity",
            "messageDirection",
            "requestId",
            "requestTime",
            "requestTimeEpoch",
            "routeKey",
            "stage"
        ]
    );
    assert_eq!(context["routeKey"], "$connect");
    assert_eq!(context["eventType"], "CONNECT"); // 13
    assert!(is_aws_id(&context["connectionId"]) && is_aws_id(&context["requestId"])); // 17
    assert_eq!(context["requestId"], context["extendedRequestId"]); // 16
    assert!(context["connectedAt"].is_i64()); // 18
    assert!(
        context["requestTimeEpoch"].as_i64().unwrap() >= context["connectedAt"].as_i64().unwrap()
    ); // 19
    assert!(
        is_clf_time(&context["requestTime"]),
        "{}",
        context["requestTime"]
    );
    assert_eq!(context["messageDirection"], "IN"); // 20
    assert_eq!(
        context["identity"],
        json!({ "sourceIp": "127.0.0.1", "userAgent": "Mozilla/5.0 test" })
    ); // 21
    assert_eq!(context["domainName"], host.as_str()); // 24
    assert_eq!(context["stage"], "dev");
    assert_eq!(event["isBase64Encoded"], false);

    // 23: it parses as the Rust event type, and lambda_http sees a WebSocket event.
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(event.clone())
        .expect("aws_lambda_events parses it");
    let classified: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
    assert!(matches!(
        classified,
        lambda_http::request::LambdaRequest::WebSocket(_)
    ));
}

#[tokio::test]
async fn checklist_10_21_without_query_or_user_agent_those_keys_are_absent() {
    let (routes, mut events) = recording_routes();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let _client = Client::connect(&gateway.websocket_url()).await;

    let event = next_event(&mut events).await;

    assert!(event.get("queryStringParameters").is_none());
    assert!(event.get("multiValueQueryStringParameters").is_none());
    assert_eq!(
        event["requestContext"]["identity"],
        json!({ "sourceIp": "127.0.0.1" })
    );
    assert!(event["headers"].get("User-Agent").is_none());
}

#[tokio::test]
async fn checklist_11_14_16_18_22_25_message_events_have_aws_shape() {
    let (routes, mut events) = recording_routes();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let connect = next_event(&mut events).await;

    client
        .send_text(r#"{"action":"sendmessage","text":"hello"}"#)
        .await;
    let first = next_event(&mut events).await;
    client.send_text("plain text, not JSON").await;
    let second = next_event(&mut events).await;

    assert_eq!(keys(&first), ["body", "isBase64Encoded", "requestContext"]); // 11
    assert_eq!(first["body"], r#"{"action":"sendmessage","text":"hello"}"#); // 22
    assert_eq!(second["body"], "plain text, not JSON");
    assert_eq!(first["isBase64Encoded"], false);
    let (a, b) = (&first["requestContext"], &second["requestContext"]);
    assert_eq!(a["routeKey"], "sendmessage"); // 25
    assert_eq!(b["routeKey"], "$default"); // 26
    assert_eq!(a["eventType"], "MESSAGE");
    assert!(is_aws_id(&a["messageId"]) && is_aws_id(&b["messageId"])); // 14, 17
    assert_ne!(a["requestId"], b["requestId"]); // 16
    assert_eq!(a["requestId"], a["extendedRequestId"]);
    assert_eq!(a["connectedAt"], connect["requestContext"]["connectedAt"]); // 18
    assert_eq!(a["connectionId"], connect["requestContext"]["connectionId"]);
    assert!(a.get("disconnectStatusCode").is_none() && a.get("disconnectReason").is_none()); // 15
    assert!(connect["requestContext"].get("messageId").is_none()); // 14
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(first).expect("parses");
}

#[tokio::test]
async fn checklist_12_15_41_a_close_without_status_reports_1005_with_the_fixed_headers() {
    let (routes, mut events) = recording_routes();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let client = Client::connect(&format!("{}?room=x", gateway.websocket_url())).await;
    let connect = next_event(&mut events).await;

    client.close(None).await;
    let event = next_event(&mut events).await;

    let host = format!("127.0.0.1:{}", gateway.addr().port());
    assert_eq!(
        event["headers"],
        json!({ "Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": "" })
    ); // 12
    assert_eq!(
        event["multiValueHeaders"],
        json!({ "Host": [host], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""] })
    );
    assert!(event.get("queryStringParameters").is_none());
    let context = &event["requestContext"];
    assert_eq!(context["eventType"], "DISCONNECT");
    assert_eq!(context["routeKey"], "$disconnect");
    assert_eq!(context["disconnectStatusCode"], 1005); // 15, 41
    assert_eq!(
        context["disconnectReason"],
        "Client-side close frame status not set"
    );
    assert!(context.get("messageId").is_none());
    assert_eq!(
        context["connectedAt"],
        connect["requestContext"]["connectedAt"]
    );
    serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(event).expect("parses");
}

#[tokio::test]
async fn checklist_42_a_client_close_code_and_reason_reach_disconnect() {
    for (code, reason) in [(4001u16, "bye now"), (1001, "")] {
        let (routes, mut events) = recording_routes();
        let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
        let client = Client::connect(&gateway.websocket_url()).await;
        next_event(&mut events).await;

        client
            .close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            }))
            .await;
        let event = next_event(&mut events).await;

        assert_eq!(event["requestContext"]["disconnectStatusCode"], code);
        assert_eq!(event["requestContext"]["disconnectReason"], reason);
    }
}

#[tokio::test]
async fn checklist_43_50_delete_connection_closes_the_client_and_reports_1000() {
    let (routes, mut events) = recording_routes();
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    let id = next_event(&mut events).await["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = reqwest::Client::new()
        .delete(format!(
            "{}/@connections/{}",
            gateway.http_url(),
            id.replace('=', "%3D")
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 204);
    let close = client
        .expect_close()
        .await
        .expect("close frame with a status");
    assert_eq!(u16::from(close.code), 1000);
    let event = next_event(&mut events).await;
    assert_eq!(event["requestContext"]["disconnectStatusCode"], 1000);
    assert_eq!(
        event["requestContext"]["disconnectReason"],
        "Connection Closed Normally"
    );
}
