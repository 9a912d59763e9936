//! Conformance with API Gateway (reference §6, checklist 54–58): a Lambda REQUEST authorizer on
//! `$connect`.

use lambda_runtime::{Diagnostic, LambdaEvent};
use local_gateway::GatewayConfig;
use local_gateway::RouteTable;
use local_gateway::{Authorizer, IdentitySource};
use local_gateway::{InProcess, LambdaFunction};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_bridge_e2e::functions::{recording, recording_routes};
use ws_bridge_e2e::{Client, next_event, refused_status, start_gateway_with};

fn policy(effect: &str) -> Value {
    json!({
        "principalId": "user-42",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": "*" }]
        },
        "context": { "tenant": "acme", "plan": "pro" }
    })
}

/// Every route and the authorizer record into `events`; the authorizer answers `answer`.
fn guarded_routes(
    authorizer: Arc<dyn LambdaFunction>,
    events: mpsc::UnboundedSender<Value>,
) -> RouteTable {
    RouteTable {
        authorizer: Some(Authorizer {
            function: authorizer,
            identity_sources: vec![IdentitySource::QueryString("token".into())],
        }),
        ..recording_routes(json!({ "statusCode": 200 }), events)
    }
}

#[tokio::test]
async fn checklist_55_a_missing_or_empty_identity_source_is_401_and_the_authorizer_never_runs() {
    let (events, mut received) = mpsc::unbounded_channel();
    let authorizer = recording("authorizer", policy("Allow"), events.clone());
    let gateway = start_gateway_with(
        GatewayConfig::on_free_port(),
        guarded_routes(authorizer, events),
    )
    .await;

    assert_eq!(refused_status(&gateway.websocket_url()).await, 401);
    assert_eq!(
        refused_status(&format!("{}?token=", gateway.websocket_url())).await,
        401
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), received.recv())
            .await
            .is_err(),
        "neither the authorizer nor $connect ran"
    );
}

#[tokio::test]
async fn checklist_54_57_an_allowing_authorizer_runs_once_before_connect_and_its_context_reaches_every_event()
 {
    let (events, mut received) = mpsc::unbounded_channel();
    let authorizer = recording("authorizer", policy("Allow"), events.clone());
    let gateway = start_gateway_with(
        GatewayConfig::on_free_port(),
        guarded_routes(authorizer, events),
    )
    .await;

    let mut client = Client::connect(&format!("{}?token=secret", gateway.websocket_url())).await;
    let authorizer_input = next_event(&mut received).await;
    let connect = next_event(&mut received).await;
    client.send_text("first").await;
    client.send_text("second").await;
    let first = next_event(&mut received).await;
    let second = next_event(&mut received).await;
    client.close(None).await;
    let disconnect = next_event(&mut received).await;

    assert_eq!(
        authorizer_input["type"], "REQUEST",
        "the authorizer ran first"
    );
    for event in [&connect, &first, &second, &disconnect] {
        let block = &event["requestContext"]["authorizer"];
        assert_eq!(block["principalId"], "user-42", "{event}");
        assert_eq!(block["tenant"], "acme");
        assert_eq!(block["plan"], "pro");
        assert!(block["integrationLatency"].is_u64());
        assert!(
            event.get("type").is_none(),
            "an event, not another authorizer input: {event}"
        );
    }
    assert_eq!(connect["requestContext"]["eventType"], "CONNECT");
    assert_eq!(disconnect["requestContext"]["eventType"], "DISCONNECT");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), received.recv())
            .await
            .is_err(),
        "no further authorizer runs"
    );
    // The event still parses as the Rust type with the authorizer block.
    serde_json::from_value::<aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest>(connect)
        .expect("parses");
}

#[tokio::test]
async fn checklist_56_deny_is_403_throwing_unauthorized_is_401_and_a_malformed_result_is_500() {
    let unauthorized: Arc<dyn LambdaFunction> =
        InProcess::shared("unauthorized", |_: LambdaEvent<Value>| async {
            Err::<Value, _>(Diagnostic {
                error_type: "Error".into(),
                error_message: "Unauthorized".into(),
            })
        });
    let (events, _received) = mpsc::unbounded_channel();
    for (authorizer, status) in [
        (recording("deny", policy("Deny"), events.clone()), 403),
        (unauthorized, 401),
        (
            recording("malformed", json!({ "statusCode": 401 }), events.clone()),
            500,
        ),
    ] {
        let routes = guarded_routes(authorizer, events.clone());
        let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
        assert_eq!(
            refused_status(&format!("{}?token=t", gateway.websocket_url())).await,
            status
        );
        assert_eq!(gateway.open_connections(), 0);
    }
}

#[tokio::test]
async fn checklist_58_the_authorizer_input_has_the_request_shape() {
    let (events, mut received) = mpsc::unbounded_channel();
    let authorizer = recording("authorizer", policy("Allow"), events.clone());
    let mut routes = guarded_routes(authorizer, events);
    routes.authorizer.as_mut().unwrap().identity_sources =
        vec![IdentitySource::Header("Authorization".into())];
    let gateway = start_gateway_with(GatewayConfig::on_free_port(), routes).await;
    let mut request = gateway.websocket_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Bearer t".parse().unwrap());
    let (_socket, _) = connect_async(request).await.expect("accepted");

    let input = next_event(&mut received).await;

    assert_eq!(input["type"], "REQUEST");
    assert_eq!(
        input["methodArn"],
        format!(
            "arn:aws:execute-api:us-east-1:000000000000:{}/dev/$connect",
            gateway.config().api_id
        )
    );
    assert_eq!(input["headers"]["Authorization"], "Bearer t");
    assert_eq!(input["headers"]["Connection"], "Upgrade");
    assert_eq!(input["headers"]["Upgrade"], "websocket");
    assert_eq!(input["headers"]["content-length"], "0");
    assert_eq!(input["multiValueHeaders"]["Upgrade"], json!(["websocket"]));
    assert_eq!(input["queryStringParameters"], json!({}));
    assert_eq!(input["multiValueQueryStringParameters"], json!({}));
    assert_eq!(input["stageVariables"], json!({}));
    assert_eq!(input["requestContext"]["routeKey"], "$connect");
    assert_eq!(input["requestContext"]["eventType"], "CONNECT");
    assert_eq!(
        input["requestContext"]["connectionId"]
            .as_str()
            .unwrap()
            .len(),
        16
    );
    let connect = next_event(&mut received).await;
    assert_eq!(
        connect["requestContext"]["connectionId"],
        input["requestContext"]["connectionId"]
    );
}
