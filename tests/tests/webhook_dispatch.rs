//! The `webhook-dispatch` binary under a Lambda Runtime API, with DynamoDB Local: fed DynamoDB
//! Streams events (a connect, a TTL expiry, a subscription) and SQS events in the shapes AWS
//! sends (they must parse as `aws_lambda_events`' own types), it signs and delivers; what it
//! cannot deliver it names in `batchItemFailures`, and the event source's retry is delivered
//! with the same `webhook-id`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::time::Duration;
use ws_bridge::ConnectionStore;
use ws_bridge::aws_lambda_events::dynamodb::Event as StreamEvent;
use ws_bridge::aws_lambda_events::sqs::SqsEvent;
use ws_bridge::store::Connection;
use ws_bridge::webhooks::WebhookSink;
use ws_bridge::webhooks::aws::AwsWebhooks;
use ws_bridge_e2e::lambda_service::LambdaService;
use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
use ws_bridge_e2e::{dynamodb_endpoint, fresh_dynamodb_store};

async fn invoke(service: &LambdaService, event: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/webhook-dispatch/invocations",
            service.invoke_endpoint()
        ))
        .json(event)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("invocation");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON result")
}

fn stream_record(event_id: &str, name: &str, dynamodb: Value, identity: Option<Value>) -> Value {
    let mut record = json!({
        "eventID": event_id,
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/ws-bridge-connections/stream/2026-11-30T00:00:00.000",
        "dynamodb": dynamodb
    });
    if let Some(identity) = identity {
        record["userIdentity"] = identity;
    }
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatch_function_delivers_stream_and_queue_events_and_reports_failures() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    // The subscriber the subscription record is about, so the channel's count is 1.
    let mut subscriber = Connection::new(
        "Sub-Conn-Id00=",
        ws_bridge::time::now_epoch_ms(),
        "127.0.0.1",
    );
    subscriber.channels.insert("news".into());
    store.put(subscriber).await.unwrap();

    let receiver = Receiver::start(Behaviour::FailFirst(2)).await;
    let mut service = LambdaService::start().await;
    let env = vec![
        ("CONNECTION_STORE", "dynamodb".to_owned()),
        ("CONNECTIONS_TABLE", store.table().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.clone()),
        ("WEBHOOK_URL", receiver.url()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("WEBHOOK_MAX_ATTEMPTS", "2".to_owned()),
        ("WEBHOOK_RETRY_BASE_MS", "10".to_owned()),
    ];
    service.run("webhook-dispatch", &env).await;

    let stream = json!({"Records": [
        stream_record("1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a01", "INSERT", json!({
            "ApproximateCreationDateTime": 1_764_460_800.0,
            "Keys": {"connectionId": {"S": "New-Conn-Id00="}},
            "NewImage": {
                "connectionId": {"S": "New-Conn-Id00="},
                "connectedAt": {"N": "1764460800123"},
                "sourceIp": {"S": "198.51.100.23"},
                "expiresAt": {"N": "1764468600"},
                "userId": {"S": "bob"},
                "query": {"M": {"clientId": {"S": "phone"}}},
                "channels": {"SS": ["news"]}
            },
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 180,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }), None),
        stream_record("1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a02", "MODIFY", json!({
            "ApproximateCreationDateTime": 1_764_460_801.0,
            "Keys": {"connectionId": {"S": "New-Conn-Id00="}},
            "SequenceNumber": "100000000000000000002",
            "SizeBytes": 40,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }), None),
        stream_record("1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a03", "REMOVE", json!({
            "ApproximateCreationDateTime": 1_764_468_700.0,
            "Keys": {"connectionId": {"S": "Old-Conn-Id00="}},
            "OldImage": {
                "connectionId": {"S": "Old-Conn-Id00="},
                "connectedAt": {"N": "1764460000000"},
                "sourceIp": {"S": "198.51.100.24"},
                "expiresAt": {"N": "1764467800"}
            },
            "SequenceNumber": "100000000000000000003",
            "SizeBytes": 120,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }), Some(json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}))),
        stream_record("1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a04", "INSERT", json!({
            "ApproximateCreationDateTime": 1_764_460_800.0,
            "Keys": {"channel": {"S": "news"}, "connectionId": {"S": "Sub-Conn-Id00="}},
            "SequenceNumber": "100000000000000000004",
            "SizeBytes": 40,
            "StreamViewType": "KEYS_ONLY"
        }), None),
    ]});
    serde_json::from_value::<StreamEvent>(stream.clone()).expect("the shape AWS sends");

    // First delivery: the receiver fails the first two attempts of each event, the function
    // makes two: every record that makes an event is named for the event source to retry.
    let first = invoke(&service, &stream).await;
    let failed: Vec<&str> = first["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    let mut failed_sorted = failed.clone();
    failed_sorted.sort_unstable();
    assert_eq!(
        failed_sorted,
        [
            "100000000000000000001",
            "100000000000000000003",
            "100000000000000000004"
        ],
        "{first}"
    );
    // The event source's retry: delivered, with the ids of the first attempts.
    let second = invoke(&service, &stream).await;
    assert_eq!(second, json!({"batchItemFailures": []}));

    let events = receiver.events();
    assert_eq!(events.len(), 3, "{events:?}");
    let connected = events
        .iter()
        .find(|e| e["type"] == "client.connected")
        .unwrap();
    assert_eq!(connected["id"], "evt_1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a01");
    assert_eq!(connected["data"]["userId"], "bob");
    assert_eq!(connected["data"]["clientId"], "phone");
    assert_eq!(connected["data"]["channels"], json!(["news"]));
    let expired = events
        .iter()
        .find(|e| e["type"] == "client.disconnected")
        .unwrap();
    assert_eq!(expired["data"]["connectionId"], "Old-Conn-Id00=");
    assert_eq!(expired["data"]["expired"], true);
    assert_eq!(expired["data"]["durationMs"], 8_700_000);
    let occupied = events
        .iter()
        .find(|e| e["type"] == "channel.occupied")
        .unwrap();
    assert_eq!(occupied["data"]["channel"], "news");
    for request in receiver.requests() {
        assert!(request.verifies_with(SECRET, &request.body));
    }
    for id in [
        "evt_1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a01",
        "evt_1f6f1b0d7bd1c3d1f8f0ea6e1e7a9a03",
    ] {
        let attempts: Vec<_> = receiver
            .requests()
            .into_iter()
            .filter(|r| r.id == id)
            .collect();
        assert_eq!(
            attempts.len(),
            3,
            "one webhook-id across both invocations: {id}"
        );
    }

    // The queue: an event the broadcast function enqueued, as its SQS message body.
    let queued = json!({
        "type": "message.broadcast",
        "timestamp": "2026-11-30T06:00:00.000Z",
        "id": "evt_0123456789abcdef0123456789abcdef",
        "data": {"audience": {"type": "everyone"}, "connectionCount": 2, "sent": 2,
                 "gone": 0, "failed": 0, "messageBytes": 7, "messageTruncated": false,
                 "message": {"a": 1}}
    });
    let sqs = json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": queued.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764482400000",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1764482400001"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ws-bridge-webhooks",
        "awsRegion": "us-east-1"
    }]});
    serde_json::from_value::<SqsEvent>(sqs.clone()).expect("the shape AWS sends");
    let first = invoke(&service, &sqs).await;
    assert_eq!(
        first,
        json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
    );
    let second = invoke(&service, &sqs).await;
    assert_eq!(second, json!({"batchItemFailures": []}));
    let delivered = receiver
        .event("message.broadcast", Duration::from_secs(5), |_| true)
        .await;
    assert_eq!(
        delivered, queued,
        "delivered as enqueued, its id the webhook-id"
    );
    let attempts = receiver
        .requests()
        .into_iter()
        .filter(|r| r.id == "evt_0123456789abcdef0123456789abcdef")
        .count();
    assert_eq!(attempts, 3);
}

/// A DynamoDB item as DynamoDB Streams writes it in a record's image.
fn stream_image(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    fn value(attribute: &AttributeValue) -> Value {
        match attribute {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::Ss(set) => json!({"SS": set}),
            AttributeValue::M(map) => json!({"M": stream_image(map)}),
            AttributeValue::L(list) => json!({"L": list.iter().map(value).collect::<Vec<_>>()}),
            AttributeValue::Bool(b) => json!({"BOOL": b}),
            other => panic!("unexpected attribute {other:?}"),
        }
    }
    Value::Object(item.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

/// `$disconnect` on AWS writes its close code and reason onto the row (in DynamoDB Local here)
/// before deleting it; the REMOVE record's old image of that row makes a `client.disconnected`
/// with them, not marked expired (an ordinary delete's record has no `userIdentity`). A row
/// already gone is never recreated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_close_code_travels_on_the_row_to_the_dispatch_function() {
    let dynamodb = dynamodb_endpoint();
    let store = fresh_dynamodb_store(&dynamodb).await;
    let mut connection = Connection::new(
        "Closing-Conn0=",
        ws_bridge::time::now_epoch_ms(),
        "127.0.0.1",
    );
    connection.user_id = Some("carol".into());
    connection.query.insert("clientId".into(), "laptop".into());
    store.put(connection).await.unwrap();

    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&dynamodb)
        .region(ws_bridge::local::region())
        .credentials_provider(ws_bridge::local::credentials())
        .load()
        .await;
    let sink = AwsWebhooks::new(
        &sdk_config,
        Default::default(),
        store.table().to_owned(),
        "http://127.0.0.1:9/unused-queue".to_owned(),
    );
    sink.closing("Closing-Conn0=", Some(4001), "done").await;
    sink.closing("Never-Stored0=", Some(1000), "gone").await;
    let client = ws_bridge::DynamoDbStore::client(&sdk_config);
    let row = client
        .get_item()
        .table_name(store.table())
        .key("connectionId", AttributeValue::S("Closing-Conn0=".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the row is still there");
    assert_eq!(
        row.get("closeCode"),
        Some(&AttributeValue::N("4001".into()))
    );
    assert_eq!(
        row.get("closeReason"),
        Some(&AttributeValue::S("done".into()))
    );
    let absent = client
        .get_item()
        .table_name(store.table())
        .key("connectionId", AttributeValue::S("Never-Stored0=".into()))
        .send()
        .await
        .unwrap();
    assert!(absent.item.is_none(), "no row is recreated");
    // The store still reads the row it wrote.
    assert!(store.get("Closing-Conn0=").await.unwrap().is_some());

    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut service = LambdaService::start().await;
    service
        .run(
            "webhook-dispatch",
            &[
                ("CONNECTION_STORE", "dynamodb".to_owned()),
                ("CONNECTIONS_TABLE", store.table().to_owned()),
                ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.clone()),
                ("WEBHOOK_URL", receiver.url()),
                ("WEBHOOK_SECRET", SECRET.to_owned()),
            ],
        )
        .await;
    let removed = json!({"Records": [stream_record("9e1f0c2d3b4a59687766554433221100", "REMOVE", json!({
        "ApproximateCreationDateTime": 1_764_482_400.0,
        "Keys": {"connectionId": {"S": "Closing-Conn0="}},
        "OldImage": stream_image(&row),
        "SequenceNumber": "200000000000000000001",
        "SizeBytes": 200,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }), None)]});
    serde_json::from_value::<StreamEvent>(removed.clone()).expect("the shape AWS sends");
    assert_eq!(
        invoke(&service, &removed).await,
        json!({"batchItemFailures": []})
    );
    let event = receiver
        .event("client.disconnected", Duration::from_secs(5), |_| true)
        .await;
    assert_eq!(event["data"]["closeCode"], 4001);
    assert_eq!(event["data"]["closeReason"], "done");
    assert_eq!(event["data"]["expired"], false);
    assert_eq!(event["data"]["userId"], "carol");
    assert_eq!(event["data"]["clientId"], "laptop");

    // The EventBridge schedule: broadcast.stats with the table's totals (on AWS no process
    // counts deliveries, so messagesDelivered is null).
    let scheduled = json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ws-bridge-stats"],
        "detail": {}
    });
    assert_eq!(invoke(&service, &scheduled).await, json!({}));
    let stats = receiver
        .event("broadcast.stats", Duration::from_secs(5), |_| true)
        .await;
    assert_eq!(stats["data"]["connections"], 1, "{stats}");
    assert_eq!(stats["data"]["channels"], 0, "{stats}");
    assert_eq!(stats["data"]["messagesDelivered"], Value::Null);
}
