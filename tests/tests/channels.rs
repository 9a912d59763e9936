//! Channels, direct messages, per-user messages, client publishing and stats, end to end: real
//! sockets, the project's handlers in the local gateway, on the in-memory store and on DynamoDB
//! Local.

use futures::StreamExt;
use lambda_runtime::{Diagnostic, LambdaEvent};
use local_gateway::InProcess;
use local_gateway::StoreKind;
use local_gateway::{Authorizer, IdentitySource};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use ws_bridge::{Connection, Settings};
use ws_bridge_e2e::{
    Client, config_on, fresh_store, get_json, on_every_store, post_json, refused_status,
    start_gateway_on,
};

const QUIET: Duration = Duration::from_millis(300);

async fn subscribe(client: &mut Client, channels: &[&str]) -> Value {
    client
        .request(&json!({"action": "subscribe", "channels": channels}).to_string())
        .await
}

async fn subscriber_count(gateway: &local_gateway::RunningGateway, channel: &str) -> u64 {
    let (status, body) = get_json(gateway, &format!("/connections/count?channel={channel}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channel"], channel);
    body["count"].as_u64().expect("count is a number")
}

async fn subscribers_of_post_42_get_its_broadcast_and_others_do_not(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut reader = Client::connect(&gateway.websocket_url()).await;
    let mut commenter = Client::connect(&gateway.websocket_url()).await;
    let mut elsewhere = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(
        subscribe(&mut reader, &["post:42"]).await,
        json!({"type": "subscribed", "data": {"channels": ["post:42"]}})
    );
    assert_eq!(
        subscribe(&mut commenter, &["post:42", "news"]).await,
        json!({"type": "subscribed", "data": {"channels": ["news", "post:42"]}})
    );
    subscribe(&mut elsewhere, &["post:43"]).await;

    let (status, report) = post_json(&gateway, "/broadcast/post:42", r#"{"comment":"hi"}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"connectionCount": 2, "sent": 2, "gone": [], "failed": []})
    );
    assert_eq!(reader.recv_text().await, r#"{"comment":"hi"}"#);
    assert_eq!(commenter.recv_text().await, r#"{"comment":"hi"}"#);
    elsewhere.expect_silence(QUIET).await;
}

async fn unsubscribe_stops_delivery(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    subscribe(&mut client, &["news", "sport"]).await;

    let reply = client
        .request(r#"{"action":"unsubscribe","channels":["news","never-joined"]}"#)
        .await;

    assert_eq!(
        reply,
        json!({"type": "unsubscribed", "data": {"channels": ["sport"]}})
    );
    let (_, report) = post_json(&gateway, "/broadcast/news", r#"{"n":1}"#).await;
    assert_eq!(report["connectionCount"], 0);
    client.expect_silence(QUIET).await;
    let (_, report) = post_json(&gateway, "/broadcast/sport", r#"{"n":2}"#).await;
    assert_eq!(report["sent"], 1);
    assert_eq!(client.recv_text().await, r#"{"n":2}"#);
}

async fn channels_given_at_connect_time_are_subscribed_before_the_first_message(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let url = format!("{}?channels=news,post:42", gateway.websocket_url());
    let mut client = Client::connect(&url).await;

    assert_eq!(subscriber_count(&gateway, "news").await, 1);
    assert_eq!(subscriber_count(&gateway, "post:42").await, 1);
    let (_, report) = post_json(&gateway, "/broadcast/post:42", r#"{"n":1}"#).await;
    assert_eq!(report["sent"], 1);
    assert_eq!(client.recv_text().await, r#"{"n":1}"#);
}

async fn a_bad_channel_at_connect_time_refuses_the_handshake_with_400_and_stores_nothing(
    store: StoreKind,
) {
    let gateway = start_gateway_on(store).await;
    let url = gateway.websocket_url();

    assert_eq!(
        refused_status(&format!("{url}?channels=news,bad%20name")).await,
        400
    );
    assert_eq!(refused_status(&format!("{url}?channels=a*")).await, 400);
    let too_many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    assert_eq!(
        refused_status(&format!("{url}?channels={}", too_many.join(","))).await,
        400
    );

    let (_, count) = get_json(&gateway, "/connections/count").await;
    assert_eq!(count["count"], 0);
    assert_eq!(subscriber_count(&gateway, "news").await, 0);
}

async fn disconnect_removes_the_connections_subscriptions(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let staying = Client::connect(&format!("{}?channels=room", gateway.websocket_url())).await;
    let leaving = Client::connect(&format!("{}?channels=room,side", gateway.websocket_url())).await;
    assert_eq!(subscriber_count(&gateway, "room").await, 2);

    leaving.close(None).await;

    ws_bridge_e2e::eventually("room drops to one subscriber and side to none", || async {
        subscriber_count(&gateway, "room").await == 1
            && subscriber_count(&gateway, "side").await == 0
    })
    .await;
    let (_, stats) = get_json(&gateway, "/stats").await;
    assert_eq!(
        stats,
        json!({
            "connections": 1,
            "channels": [{"name": "room", "subscribers": 1}],
            "channelCount": 1,
            "truncated": false
        })
    );
    drop(staying);
}

async fn a_channel_with_2500_subscribers_is_delivered_completely(store: StoreKind) {
    const SUBSCRIBERS: usize = 2_500;
    let gateway = start_gateway_on(store).await;
    let crowded = format!("{}?channels=crowded", gateway.websocket_url());
    let mut clients: Vec<Client> = futures::stream::iter(0..SUBSCRIBERS)
        .map(|_| Client::connect(&crowded))
        .buffer_unordered(64)
        .collect()
        .await;
    let mut outsider = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(
        subscriber_count(&gateway, "crowded").await,
        SUBSCRIBERS as u64
    );

    let (status, report) = post_json(&gateway, "/broadcast/crowded", r#"{"big":true}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectionCount"], SUBSCRIBERS);
    assert_eq!(report["sent"], SUBSCRIBERS);
    assert_eq!(report["failed"], json!([]));
    let received: Vec<String> = futures::stream::iter(clients.iter_mut())
        .map(|client| client.recv_text())
        .buffer_unordered(256)
        .collect()
        .await;
    assert_eq!(received.len(), SUBSCRIBERS);
    assert!(received.iter().all(|text| text == r#"{"big":true}"#));
    outsider.expect_silence(QUIET).await;
}

async fn a_channel_nobody_is_in_answers_a_zero_count_and_a_bad_name_is_400(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    let (status, report) = post_json(&gateway, "/broadcast/empty-room", r#"{"n":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        report,
        json!({"connectionCount": 0, "sent": 0, "gone": [], "failed": []})
    );
    let (status, body) = post_json(&gateway, "/broadcast/bad%20name", r#"{"n":1}"#).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("' '"), "{body}");
    let (status, body) = post_json(&gateway, "/broadcast/news", "not json").await;
    assert_eq!(status, 400, "{body}");
    client.expect_silence(QUIET).await;
}

async fn a_direct_message_reaches_a_live_connection_and_a_vanished_one_is_404_and_removed(
    store: StoreKind,
) {
    let gateway = start_gateway_on(store).await;
    let mut target = Client::connect(&gateway.websocket_url()).await;
    let mut bystander = Client::connect(&gateway.websocket_url()).await;
    let target_id = target.connection_id().await;

    let (status, report) = post_json(
        &gateway,
        &format!("/connections/{target_id}"),
        r#"{"to":"you"}"#,
    )
    .await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"connectionCount": 1, "sent": 1, "gone": [], "failed": []})
    );
    assert_eq!(target.recv_text().await, r#"{"to":"you"}"#);
    bystander.expect_silence(QUIET).await;

    // A row whose socket is gone (its $disconnect never ran), still subscribed to a channel.
    let mut stale = Connection::new("StaleConnXYZab=", 1_700_000_000_000, "203.0.113.7");
    stale.channels = BTreeSet::from(["room".to_string()]);
    gateway.store().put(stale).await.unwrap();

    let (status, body) = post_json(
        &gateway,
        "/connections/StaleConnXYZab%3D",
        r#"{"to":"ghost"}"#,
    )
    .await;

    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("gone"), "{body}");
    assert_eq!(gateway.store().get("StaleConnXYZab=").await.unwrap(), None);
    assert_eq!(subscriber_count(&gateway, "room").await, 0);
}

async fn a_message_to_a_user_reaches_every_connection_of_that_user_only(kind: StoreKind) {
    // A REQUEST authorizer names the user (`principalId`), as it would on AWS.
    let authorizer = InProcess::shared("authorizer", |event: LambdaEvent<Value>| async move {
        let user = event.payload["queryStringParameters"]["user"].clone();
        Ok::<_, Diagnostic>(json!({
            "principalId": user,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]
            }
        }))
    });
    let store = fresh_store(kind).await;
    let gateway = local_gateway::start_with(config_on(kind), move |endpoint| {
        let functions = local_gateway::project_functions(
            Arc::clone(&store),
            Arc::new(endpoint.pusher()),
            Settings::default(),
            None,
        );
        let mut routes = functions.default_routes();
        routes.authorizer = Some(Authorizer {
            function: authorizer,
            identity_sources: vec![IdentitySource::QueryString("user".into())],
        });
        Ok((store, routes))
    })
    .await
    .expect("gateway starts");
    let url = gateway.websocket_url();
    let mut ada_laptop = Client::connect(&format!("{url}?user=ada")).await;
    let mut ada_phone = Client::connect(&format!("{url}?user=ada")).await;
    let mut bob = Client::connect(&format!("{url}?user=bob")).await;

    let (status, report) = post_json(&gateway, "/users/ada", r#"{"for":"ada"}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectionCount"], 2);
    assert_eq!(report["sent"], 2);
    assert_eq!(ada_laptop.recv_text().await, r#"{"for":"ada"}"#);
    assert_eq!(ada_phone.recv_text().await, r#"{"for":"ada"}"#);
    bob.expect_silence(QUIET).await;
    let (_, report) = post_json(&gateway, "/users/nobody", r#"{"n":1}"#).await;
    assert_eq!(report["connectionCount"], 0);
}

async fn client_publish_reaches_the_other_subscribers_when_enabled(store: StoreKind) {
    let mut config = config_on(store);
    config.client_publish = Some(true);
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let mut author =
        Client::connect(&format!("{}?channels=post:42", gateway.websocket_url())).await;
    let mut reader =
        Client::connect(&format!("{}?channels=post:42", gateway.websocket_url())).await;
    let mut outsider = Client::connect(&format!("{}?channels=news", gateway.websocket_url())).await;

    let reply = author
        .request(r#"{"action":"publish","channel":"post:42","data":{"text":"first!"}}"#)
        .await;

    assert_eq!(
        reply,
        json!({"type": "published", "data": {"channel": "post:42", "connectionCount": 1, "sent": 1}})
    );
    assert_eq!(
        reader.recv_json().await,
        json!({"type": "message", "channel": "post:42", "data": {"text": "first!"}})
    );
    author.expect_silence(QUIET).await;
    outsider.expect_silence(Duration::ZERO).await;

    // Not subscribed: refused with an error frame, nobody receives anything, the socket lives.
    let refused = outsider
        .request(r#"{"action":"publish","channel":"post:42","data":"sneaky"}"#)
        .await;
    assert_eq!(refused["type"], "error");
    assert!(
        refused["data"]["error"]
            .as_str()
            .unwrap()
            .contains("not subscribed to \"post:42\""),
        "{refused}"
    );
    reader.expect_silence(QUIET).await;
    assert_eq!(
        outsider.request(r#"{"action":"ping"}"#).await["type"],
        "pong"
    );
}

async fn client_publish_is_refused_by_default(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let mut author = Client::connect(&format!("{}?channels=room", gateway.websocket_url())).await;
    let mut reader = Client::connect(&format!("{}?channels=room", gateway.websocket_url())).await;

    let refused = author
        .request(r#"{"action":"publish","channel":"room","data":1}"#)
        .await;

    assert_eq!(refused["type"], "error");
    assert!(
        refused["data"]["error"]
            .as_str()
            .unwrap()
            .contains("publishing is disabled"),
        "{refused}"
    );
    reader.expect_silence(QUIET).await;
}

async fn bad_channel_names_and_too_many_channels_get_an_error_frame_and_the_socket_stays_alive(
    store: StoreKind,
) {
    let mut config = config_on(store);
    config.max_channels_per_connection = Some(3);
    let gateway = local_gateway::start(config).await.expect("gateway starts");
    let mut client = Client::connect(&gateway.websocket_url()).await;

    for (request, expected) in [
        (
            r#"{"action":"subscribe","channels":["ok","not ok"]}"#,
            "contains ' '",
        ),
        (
            r#"{"action":"subscribe","channels":["a/b"]}"#,
            "contains '/'",
        ),
        (r#"{"action":"subscribe","channels":[]}"#, "is empty"),
        (
            r#"{"action":"subscribe","channels":"news"}"#,
            "must be an array",
        ),
        (
            r#"{"action":"subscribe","channels":["c1","c2","c3","c4"]}"#,
            "at most 3 channels",
        ),
    ] {
        let reply = client.request(request).await;
        assert_eq!(reply["type"], "error", "{request}");
        let error = reply["data"]["error"].as_str().unwrap();
        assert!(error.contains(expected), "{request}: {error}");
    }
    let long = "x".repeat(129);
    let reply = subscribe(&mut client, &[&long]).await;
    assert!(
        reply["data"]["error"]
            .as_str()
            .unwrap()
            .contains("limit is 128")
    );

    assert_eq!(
        subscriber_count(&gateway, "ok").await,
        0,
        "nothing half-applied"
    );
    assert_eq!(
        subscribe(&mut client, &["c1", "c2", "c3"]).await["data"]["channels"],
        json!(["c1", "c2", "c3"])
    );
    assert_eq!(client.request(r#"{"action":"ping"}"#).await["type"], "pong");
}

async fn stats_list_the_busiest_channels_capped_by_limit(store: StoreKind) {
    let gateway = start_gateway_on(store).await;
    let url = gateway.websocket_url();
    let _clients = [
        Client::connect(&format!("{url}?channels=big,mid,small")).await,
        Client::connect(&format!("{url}?channels=big,mid")).await,
        Client::connect(&format!("{url}?channels=big")).await,
        Client::connect(&url).await,
    ];

    let (status, stats) = get_json(&gateway, "/stats?limit=2").await;

    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({
            "connections": 4,
            "channels": [{"name": "big", "subscribers": 3}, {"name": "mid", "subscribers": 2}],
            "channelCount": 3,
            "truncated": true
        })
    );
    let (status, body) = get_json(&gateway, "/stats?limit=0").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get_json(&gateway, "/connections/count?channel=bad%20name").await;
    assert_eq!(status, 400, "{body}");
}

on_every_store!(
    subscribers_of_post_42_get_its_broadcast_and_others_do_not,
    unsubscribe_stops_delivery,
    channels_given_at_connect_time_are_subscribed_before_the_first_message,
    a_bad_channel_at_connect_time_refuses_the_handshake_with_400_and_stores_nothing,
    disconnect_removes_the_connections_subscriptions,
    a_channel_with_2500_subscribers_is_delivered_completely,
    a_channel_nobody_is_in_answers_a_zero_count_and_a_bad_name_is_400,
    a_direct_message_reaches_a_live_connection_and_a_vanished_one_is_404_and_removed,
    a_message_to_a_user_reaches_every_connection_of_that_user_only,
    client_publish_reaches_the_other_subscribers_when_enabled,
    client_publish_is_refused_by_default,
    bad_channel_names_and_too_many_channels_get_an_error_frame_and_the_socket_stays_alive,
    stats_list_the_busiest_channels_capped_by_limit,
);
