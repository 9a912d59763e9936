//! The real function binaries, each its own process under a Lambda Runtime API, invoked by the
//! gateway through the Lambda Invoke API (`--invoke-endpoint`), storing in DynamoDB Local.

use local_gateway::GatewayConfig;
use serde_json::json;
use ws_bridge::{ConnectionStore, PresenceStore};
use ws_bridge_e2e::history::{Follower, backend_publishes, client_publishes};
use ws_bridge_e2e::lambda_service::LambdaService;
use ws_bridge_e2e::tokens::{Signer, claims};
use ws_bridge_e2e::{
    Client, broadcast, connection_count, dynamodb_config, dynamodb_endpoint, eventually,
    fresh_dynamodb_store, get_json, post_json, refused_status,
};

const FUNCTIONS: [&str; 7] = [
    "ws-connect",
    "ws-disconnect",
    "ws-default",
    "http-broadcast",
    "http-connections-count",
    "http-stats",
    "http-handshakes",
];

/// What every function process needs: DynamoDB Local, its table, and the gateway's
/// `@connections`.
fn function_env(
    table: &str,
    dynamodb: &str,
    gateway: &local_gateway::RunningGateway,
) -> Vec<(&'static str, String)> {
    vec![
        ("CONNECTION_STORE", "dynamodb".to_owned()),
        ("CONNECTIONS_TABLE", table.to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
            gateway.http_url(),
        ),
    ]
}

async fn gateway_invoking(
    service: &LambdaService,
    routes: Option<&str>,
) -> local_gateway::RunningGateway {
    let mut config = GatewayConfig::on_free_port();
    config.invoke_endpoint = Some(service.invoke_endpoint());
    if let Some(json) = routes {
        let path = std::env::temp_dir().join(format!(
            "ws-bridge-routes-{:016x}.json",
            rand::random::<u64>()
        ));
        std::fs::write(&path, json).unwrap();
        config.routes = Some(path);
    }
    local_gateway::start(config).await.expect("gateway starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_stack_runs_as_separate_processes_with_dynamodb_local_and_real_clients() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    let mut service = LambdaService::start().await;
    let gateway = gateway_invoking(&service, None).await;
    let mut env = function_env(store.table(), &dynamodb, &gateway);
    env.push(("CLIENT_PUBLISH", "true".to_owned()));
    for function in FUNCTIONS {
        service.run(function, &env).await;
    }

    // $connect (ws-connect) stores the row; $default (ws-default) answers through the route response.
    let mut first = Client::connect(&format!("{}?clientId=first", gateway.websocket_url())).await;
    let id = first.connection_id().await;
    let row = store
        .get(&id)
        .await
        .unwrap()
        .expect("row in DynamoDB Local");
    assert_eq!(row.client_id(), Some("first"));
    assert_eq!(first.request(r#"{"action":"ping"}"#).await["type"], "pong");

    // A refused handshake's status: ws-connect records it, the http-handshakes binary tells it.
    let refused = format!(
        "{}?channels=not%20a%20channel&ws_bridge_attempt=binary-attempt-000001",
        gateway.websocket_url()
    );
    assert_eq!(refused_status(refused.as_str()).await, 400);
    let (status, told) = get_json(&gateway, "/handshakes/binary-attempt-000001").await;
    assert_eq!((status, told["status"].clone()), (200, json!(400)));
    let mut second = Client::connect(&format!("{}?channels=news", gateway.websocket_url())).await;
    second.hello().await;

    // POST /broadcast (http-broadcast) lists DynamoDB and pushes through the SDK to @connections.
    let (status, report) = broadcast(&gateway, r#"{"type":"deploy-ready"}"#).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(first.recv_text().await, r#"{"type":"deploy-ready"}"#);
    assert_eq!(second.recv_text().await, r#"{"type":"deploy-ready"}"#);
    assert_eq!(connection_count(&gateway).await, 2); // http-connections-count

    // Channels: subscribe and publish (ws-default pushes through the SDK), a channel broadcast
    // and a direct message (http-broadcast), stats (http-stats); subscriptions in DynamoDB Local.
    let subscribed = first
        .request(r#"{"action":"subscribe","channels":["news"]}"#)
        .await;
    assert_eq!(subscribed["data"]["channels"], json!(["news"]));
    let published = first
        .request(r#"{"action":"publish","channel":"news","data":"from first"}"#)
        .await;
    assert_eq!(published["data"]["sent"], 1, "{published}");
    assert_eq!(
        second.recv_json().await,
        json!({"type": "message", "channel": "news", "data": "from first"})
    );
    let (_, report) = post_json(&gateway, "/broadcast/news", r#"{"n":1}"#).await;
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(first.recv_text().await, r#"{"n":1}"#);
    assert_eq!(second.recv_text().await, r#"{"n":1}"#);
    let (status, _) = post_json(&gateway, &format!("/connections/{id}"), r#"{"n":2}"#).await;
    assert_eq!(status, 200);
    assert_eq!(first.recv_text().await, r#"{"n":2}"#);
    let (_, stats) = get_json(&gateway, "/stats").await;
    assert_eq!(
        stats["channels"],
        json!([{"name": "news", "subscribers": 2}])
    );

    // $disconnect (ws-disconnect) removes the row.
    second.close(None).await;
    eventually(
        "ws-disconnect removed the row and its subscription",
        || async {
            store.count().await.unwrap() == 1 && store.count_subscribers("news").await.unwrap() == 1
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_invoke_api_a_rejected_connect_is_a_rejected_handshake() {
    let dynamodb = dynamodb_endpoint();
    let mut service = LambdaService::start().await;
    let gateway = gateway_invoking(&service, None).await;
    // A table that does not exist: ws-connect cannot record the connection and answers 500.
    let env = [
        ("CONNECTION_STORE", "dynamodb".to_owned()),
        ("CONNECTIONS_TABLE", "no-such-table".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
    ];
    service.run("ws-connect", &env).await;

    assert_eq!(refused_status(&gateway.websocket_url()).await, 500);
    assert_eq!(gateway.open_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_invoke_api_a_failing_function_gives_502_or_the_internal_server_error_frame() {
    let mut service = LambdaService::start().await;
    let routes = r#"{"routes":{"$default":{"function":"ws-default","routeResponse":true}}}"#;
    let gateway = gateway_invoking(&service, Some(routes)).await;
    // An unknown store: the function fails at start-up, as a misconfigured Lambda does.
    let broken = [("CONNECTION_STORE", "bogus".to_owned())];
    service.run("ws-default", &broken).await;
    let mut client = Client::connect(&gateway.websocket_url()).await;

    client.send_text(r#"{"action":"ping"}"#).await;
    let frame = client.recv_text().await;
    assert!(
        frame.starts_with(r#"{"message": "Internal server error", "connectionId":""#),
        "{frame}"
    );

    let guarded = gateway_invoking(&service, None).await;
    service.run("ws-connect", &broken).await;
    assert_eq!(refused_status(&guarded.websocket_url()).await, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_ws_authorizer_binary_connect_records_the_user_and_grants_the_token_names() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    let mut service = LambdaService::start().await;
    // As template.yaml wires AuthMode=authorizer: the authorizer checks the token, $connect
    // (without any JWT_* of its own) takes the identity from the authorizer's context.
    let routes = r#"{
        "routes": {
            "$connect": { "function": "ws-connect" },
            "$disconnect": { "function": "ws-disconnect" },
            "$default": { "function": "ws-default", "routeResponse": true }
        },
        "authorizer": { "function": "ws-authorizer", "identitySource": ["route.request.querystring.token"] }
    }"#;
    let gateway = gateway_invoking(&service, Some(routes)).await;
    let (signer, secret) = Signer::hs256();
    service
        .run(
            "ws-authorizer",
            &[("JWT_SECRET", secret), ("JWT_CLAIMS", "email".to_owned())],
        )
        .await;
    let env = function_env(store.table(), &dynamodb, &gateway);
    for function in [
        "ws-connect",
        "ws-disconnect",
        "ws-default",
        "http-broadcast",
    ] {
        service.run(function, &env).await;
    }
    let url = gateway.websocket_url();

    assert_eq!(refused_status(url.as_str()).await, 401, "no token");
    assert_eq!(
        refused_status(format!("{url}?token=not.a.token").as_str()).await,
        401
    );
    let (stranger, _) = Signer::hs256();
    let forged = stranger.sign(&claims("ada", json!({})));
    assert_eq!(
        refused_status(format!("{url}?token={forged}").as_str()).await,
        401
    );
    assert_eq!(store.count().await.unwrap(), 0);

    let token = signer.sign(&claims(
        "ada",
        json!({"email": "ada@example.com", "channels": ["news"]}),
    ));
    let mut ada = Client::connect(format!("{url}?token={token}").as_str()).await;
    let id = ada.connection_id().await;
    let row = store.get(&id).await.unwrap().expect("row");
    assert_eq!(row.user_id.as_deref(), Some("ada"));
    assert_eq!(
        row.claims,
        [("email".to_string(), "ada@example.com".to_string())].into()
    );
    assert_eq!(row.channel_grants, Some(["news".to_string()].into()));
    let denied = ada
        .request(r#"{"action":"subscribe","channels":["sport"]}"#)
        .await;
    assert_eq!(denied["type"], "error", "{denied}");
    let (_, report) = post_json(&gateway, "/users/ada", r#"{"for":"ada"}"#).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(ada.recv_text().await, r#"{"for":"ada"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_number_channel_history_and_serve_resume() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    // The history table as the functions would find it deployed (created here from infra/).
    let mut config = dynamodb_config(&dynamodb);
    config.history_channels = Some("post:*".parse().unwrap());
    let history = local_gateway::dynamodb_history(&config).await.unwrap();
    let mut service = LambdaService::start().await;
    let gateway = gateway_invoking(&service, None).await;
    let mut env = function_env(store.table(), &dynamodb, &gateway);
    env.extend([
        ("CLIENT_PUBLISH", "true".to_owned()),
        ("HISTORY_CHANNELS", "post:*".to_owned()),
        ("HISTORY_TABLE", history.table().to_owned()),
    ]);
    for function in [
        "ws-connect",
        "ws-disconnect",
        "ws-default",
        "http-broadcast",
    ] {
        service.run(function, &env).await;
    }
    let url = gateway.websocket_url();
    let mut follower = Follower::connect(&url, "post:5").await;

    // http-broadcast numbers the channel's messages; ws-default numbers a client's publish.
    let taken = backend_publishes(
        gateway.http_url(),
        "post:5".into(),
        1..=3,
        Default::default(),
    )
    .await;
    assert_eq!(taken, vec![(1, 1), (2, 2), (3, 3)]);
    follower.receive_through(3).await;
    let dropped = std::mem::replace(&mut follower.client, Client::connect(&url).await);
    drop(dropped);
    backend_publishes(
        gateway.http_url(),
        "post:5".into(),
        4..=5,
        Default::default(),
    )
    .await;
    let by_client = client_publishes(url.clone(), "post:5".into(), 6..=6).await;
    assert_eq!(by_client, vec![(6, 6)]);

    // ws-default replays what was missed before the reply.
    follower.subscribe(true).await;

    assert!(follower.resets.is_empty(), "{:?}", follower.resets);
    assert_eq!(follower.seqs(), (1..=6).collect::<Vec<_>>());
    assert_eq!(follower.replayed, 3);
    assert_eq!(
        follower.history_frames, 1,
        "three small messages in one frame"
    );
    // A channel outside HISTORY_CHANNELS is as before.
    let (_, report) = post_json(&gateway, "/broadcast/news", r#"{"n":1}"#).await;
    assert_eq!(
        report,
        json!({"connectionCount": 0, "sent": 0, "gone": [], "failed": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_presence_leave_binary_announces_a_delayed_leave_from_its_sqs_event_once() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    // The presence table as the functions would find it deployed (created here from infra/).
    let mut config = dynamodb_config(&dynamodb);
    config.presence_channels = Some("room:*".parse().unwrap());
    let presence = local_gateway::dynamodb_presence(&config).await.unwrap();
    let mut service = LambdaService::start().await;
    let gateway = gateway_invoking(&service, None).await;
    let mut env = function_env(store.table(), &dynamodb, &gateway);
    env.extend([
        ("PRESENCE_CHANNELS", "room:*".to_owned()),
        ("PRESENCE_TABLE", presence.table().to_owned()),
        // No SQS here: nothing in this test leaves through ws-default or ws-disconnect, which
        // would send the delayed check to it; the test hands presence-leave its SQS event.
        (
            "PRESENCE_LEAVE_QUEUE_URL",
            "http://127.0.0.1:9/presence-leave".to_owned(),
        ),
    ]);
    for function in ["ws-connect", "ws-default", "presence-leave"] {
        service.run(function, &env).await;
    }
    let subscribe = r#"{"action":"subscribe","channels":["room:1"],"presence":true}"#;
    let mut bob = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(bob.request(subscribe).await["type"], "subscribed");
    let mut ada = Client::connect(&gateway.websocket_url()).await;
    let ada_id = ada.connection_id().await;
    let ada_user = format!("connection:{ada_id}");
    // ws-default joined ada (anonymous: her connection is her user) and announced it.
    let subscribed = ada.request(subscribe).await;
    assert_eq!(
        subscribed["data"]["members"]["room:1"]["members"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{subscribed}"
    );
    let joined = bob.recv_json().await;
    assert_eq!(
        (&joined["type"], &joined["data"]["user"]),
        (&json!("presence.join"), &json!(ada_user))
    );

    // Her last connection leaves, as ws-disconnect does it; the check it would enqueue is the
    // body of the SQS message presence-leave gets after the grace period.
    let token = match presence.leave("room:1", &ada_user, &ada_id).await.unwrap() {
        ws_bridge::presence::Left::Last { token } => token,
        other => panic!("expected the last leave, got {other:?}"),
    };
    let check = json!({"channel": "room:1", "user": ada_user, "token": token});
    let event = |id: &str, body: String| {
        json!({"Records": [
            {
                "messageId": id,
                "receiptHandle": "handle",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:presence-leave",
                "awsRegion": "us-east-1"
            },
            {
                "messageId": "not-a-check",
                "receiptHandle": "handle",
                "body": "not a check",
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:presence-leave",
                "awsRegion": "us-east-1"
            }
        ]})
    };
    let invoke = |event: serde_json::Value| {
        let url = format!(
            "{}/2015-03-31/functions/presence-leave/invocations",
            service.invoke_endpoint()
        );
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&event)
                .send()
                .await
                .expect("invoke");
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.expect("JSON")
        }
    };
    let answer = invoke(event("first", check.to_string())).await;
    // A body that is no check is dropped, not retried: nothing failed.
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let left = bob.recv_json().await;
    assert_eq!(
        left,
        json!({"type": "presence.leave", "channel": "room:1", "data": {"user": ada_user}})
    );
    // SQS delivers at least once: the same check again announces nothing.
    let answer = invoke(event("again", check.to_string())).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    bob.expect_silence(std::time::Duration::from_millis(500))
        .await;
    let members = bob
        .request(r#"{"action":"presence","channel":"room:1"}"#)
        .await;
    assert_eq!(
        members["data"]["members"].as_array().map(Vec::len),
        Some(1),
        "{members}"
    );
    drop(ada);
}

/// The `broadcast-worker` binary under the Runtime API, fed SQS events as Lambda's event source
/// feeds it: each shard delivered (stale rows removed), the report completed and exact, a
/// malformed message dropped, and the same shards delivered again (SQS delivers at least once)
/// sending to nobody twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadcast_worker_binary_delivers_sqs_shards_once() {
    use ws_bridge::broadcasts::{BroadcastJob, BroadcastProgress, ShardScope, ShardTask};
    let dynamodb = dynamodb_endpoint();
    let mut config = dynamodb_config(&dynamodb);
    let broadcasts_table = ws_bridge_e2e::unique_table();
    config.async_broadcasts.broadcasts_table = Some(broadcasts_table.clone());
    let progress = local_gateway::dynamodb_broadcasts(&config, &|_| None)
        .await
        .unwrap();
    let gateway = local_gateway::start(config.clone()).await.expect("starts");
    let store = gateway.store();
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(Client::connect(gateway.websocket_url().as_str()).await);
    }
    for i in 0..2 {
        store
            .put(ws_bridge::store::contract::sample_connection(&format!(
                "stale{i}-AAAAAAAAAA="
            )))
            .await
            .unwrap();
    }
    let mut service = LambdaService::start().await;
    let mut env = function_env(
        config.connections_table.as_deref().unwrap(),
        &dynamodb,
        &gateway,
    );
    env.push(("BROADCASTS_TABLE", broadcasts_table));
    env.push(("BROADCAST_PAGE_SIZE", "3".to_owned()));
    service.run("broadcast-worker", &env).await;
    let job = BroadcastJob {
        id: ws_bridge::broadcasts::new_broadcast_id(),
        channel: None,
        data: r#"{"type":"news"}"#.into(),
        seq: None,
        epoch: None,
        shard_count: 2,
    };
    progress.create(&job).await.unwrap();
    let record = |shard: u32| {
        let task = ShardTask {
            broadcast_id: job.id.clone(),
            shard,
            scope: ShardScope::Segment {
                index: shard,
                total: 2,
            },
        };
        json!({
            "messageId": format!("m-{shard}"),
            "receiptHandle": "r",
            "body": serde_json::to_string(&task).unwrap(),
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:BroadcastQueue",
            "awsRegion": "us-east-1"
        })
    };
    let mut malformed = record(9);
    malformed["body"] = json!("not a shard");
    let event = json!({ "Records": [record(0), record(1), malformed] });
    let invoke = || async {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/2015-03-31/functions/broadcast-worker/invocations",
                service.invoke_endpoint()
            ))
            .json(&event)
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .expect("invocation");
        assert_eq!(response.status(), 200);
        response.json::<serde_json::Value>().await.expect("JSON")
    };

    assert_eq!(invoke().await, json!({ "batchItemFailures": [] }));
    let report = progress.report(&job.id).await.unwrap().unwrap();
    assert_eq!(report.status, "completed");
    assert_eq!(
        (
            report.connection_count,
            report.sent,
            report.gone,
            report.failed
        ),
        (12, 10, 2, 0)
    );
    for client in &mut clients {
        assert_eq!(client.recv_text().await, r#"{"type":"news"}"#);
    }
    assert_eq!(store.get("stale0-AAAAAAAAAA=").await.unwrap(), None);

    // Delivered again: the shards are done; nobody is sent anything.
    assert_eq!(invoke().await, json!({ "batchItemFailures": [] }));
    for client in &mut clients {
        client
            .expect_silence(std::time::Duration::from_millis(20))
            .await;
    }
    assert_eq!(progress.report(&job.id).await.unwrap().unwrap().sent, 10);
}
