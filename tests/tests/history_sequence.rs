//! Sequence numbers: concurrent publishers on one channel give every subscriber one
//! contiguous sequence without duplicates; the envelope and report carry the number; a publish
//! that fails takes none; and channels without history are byte for byte as before.

use futures::future::join_all;
use local_gateway::StoreKind;
use serde_json::{Value, json};
use std::time::Duration;
use ws_bridge::protocol::MAX_MESSAGE_BYTES;
use ws_bridge_e2e::history::{
    Follower, backend_publishes, client_publishes, post_to_channel, request_amid_messages,
    with_history,
};
use ws_bridge_e2e::{Client, OwnDynamoDbLocal, config_on, dynamodb_config, http, on_every_store};

const QUIET: Duration = Duration::from_millis(300);

async fn concurrent_publishers_give_every_subscriber_one_contiguous_sequence(store: StoreKind) {
    let gateway = local_gateway::start(with_history(config_on(store)))
        .await
        .expect("gateway starts");
    let url = gateway.websocket_url();
    let mut followers = Vec::new();
    for _ in 0..3 {
        followers.push(Follower::connect(&url, "busy").await);
    }
    let publishers = vec![
        tokio::spawn(backend_publishes(
            gateway.http_url(),
            "busy".into(),
            1..=30,
            Duration::ZERO,
        )),
        tokio::spawn(backend_publishes(
            gateway.http_url(),
            "busy".into(),
            31..=60,
            Duration::ZERO,
        )),
        tokio::spawn(client_publishes(url.clone(), "busy".into(), 61..=80)),
        tokio::spawn(client_publishes(url.clone(), "busy".into(), 81..=100)),
    ];
    let mut taken: Vec<(u64, u64)> = Vec::new();
    for publisher in join_all(publishers).await {
        taken.extend(publisher.unwrap());
    }
    taken.sort();
    assert_eq!(
        taken.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>(),
        "each publish took its own number, none skipped"
    );
    for follower in &mut followers {
        follower.receive_through(100).await;
        assert_eq!(follower.seqs(), (1..=100).collect::<Vec<_>>());
        assert_eq!(follower.duplicates_dropped, 0, "no seq arrived twice");
        for ((seq, data), (_, n)) in follower.delivered.iter().zip(&taken) {
            assert_eq!(data, &json!({"n": n}), "seq {seq}");
        }
    }
}

async fn the_envelope_wraps_the_body_verbatim_and_the_report_carries_the_number(store: StoreKind) {
    let gateway = local_gateway::start(with_history(config_on(store)))
        .await
        .expect("gateway starts");
    let mut reader = Client::connect(&gateway.websocket_url()).await;
    let reply = reader
        .request(r#"{"action":"subscribe","channels":["post:42"]}"#)
        .await;
    assert_eq!(
        reply,
        json!({"type": "subscribed", "data": {"channels": ["post:42"], "positions": {"post:42": {"seq": 0, "epoch": ""}}}})
    );
    let body = "{ \"type\" : \"comment\",\n  \"n\": 1.50 }";
    let (status, report) = post_to_channel(&gateway.http_url(), "post:42", body).await;
    assert_eq!(status, 200, "{report}");
    let epoch = report["epoch"].as_str().expect("epoch").to_owned();
    assert!(!epoch.is_empty());
    assert_eq!(
        report,
        json!({"connectionCount": 1, "sent": 1, "gone": [], "failed": [], "seq": 1, "epoch": epoch})
    );
    assert_eq!(
        reader.recv_text().await,
        format!(r#"{{"type":"message","channel":"post:42","seq":1,"data":{body}}}"#)
    );
    // A client's publish: the others get the same envelope, the publisher the number.
    let mut publisher = Client::connect(&gateway.websocket_url()).await;
    publisher
        .request(r#"{"action":"subscribe","channels":["post:42"]}"#)
        .await;
    let published = publisher
        .request(r#"{"action":"publish","channel":"post:42","data":{"text":"hi"}}"#)
        .await;
    assert_eq!(
        published,
        json!({"type": "published", "data": {"channel": "post:42", "connectionCount": 1, "sent": 1, "seq": 2, "epoch": epoch}})
    );
    assert_eq!(
        reader.recv_text().await,
        r#"{"type":"message","channel":"post:42","seq":2,"data":{"text":"hi"}}"#
    );
}

async fn a_body_whose_envelope_would_not_fit_is_413_and_takes_no_number(store: StoreKind) {
    let gateway = local_gateway::start(with_history(config_on(store)))
        .await
        .expect("gateway starts");
    let mut reader = Follower::connect(&gateway.websocket_url(), "post:7").await;
    // Fits alone, not inside the envelope.
    let body = format!(r#"{{"p":"{}"}}"#, "x".repeat(MAX_MESSAGE_BYTES - 20));
    let (status, answer) = post_to_channel(&gateway.http_url(), "post:7", &body).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("envelope"),
        "{answer}"
    );
    reader.client.expect_silence(QUIET).await;
    let (status, report) = post_to_channel(&gateway.http_url(), "post:7", r#"{"n":1}"#).await;
    assert_eq!((status, &report["seq"]), (200, &json!(1)), "{report}");
    reader.receive_through(1).await;
}

async fn channels_without_history_are_byte_for_byte_as_before(store: StoreKind) {
    // History on for `post:*` only: `news` must not notice; nor anything with history off.
    let mut some = with_history(config_on(store));
    some.history_channels = Some("post:*".parse().unwrap());
    let mut none = config_on(store);
    none.client_publish = Some(true);
    for config in [some, none] {
        let gateway = local_gateway::start(config).await.expect("gateway starts");
        let mut reader = Client::connect(&gateway.websocket_url()).await;
        let mut writer = Client::connect(&gateway.websocket_url()).await;
        reader
            .send_text(r#"{"action":"subscribe","channels":["news"],"since":{"news":{"seq":3,"epoch":"x"}}}"#)
            .await;
        assert_eq!(
            reader.recv_text().await,
            r#"{"type":"subscribed","data":{"channels":["news"]}}"#
        );
        writer
            .send_text(r#"{"action":"subscribe","channels":["news"]}"#)
            .await;
        assert_eq!(
            writer.recv_text().await,
            r#"{"type":"subscribed","data":{"channels":["news"]}}"#
        );
        let body = "{ \"type\" : \"hello\" }";
        let response = http()
            .post(format!("{}/broadcast/news", gateway.http_url()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"connectionCount":2,"sent":2,"gone":[],"failed":[]}"#
        );
        assert_eq!(reader.recv_text().await, body);
        assert_eq!(writer.recv_text().await, body);
        writer
            .send_text(r#"{"action":"publish","channel":"news","data":{"text":"hi"}}"#)
            .await;
        assert_eq!(
            writer.recv_text().await,
            r#"{"type":"published","data":{"channel":"news","connectionCount":1,"sent":1}}"#
        );
        assert_eq!(
            reader.recv_text().await,
            r#"{"type":"message","channel":"news","data":{"text":"hi"}}"#
        );
        reader.expect_silence(QUIET).await;
    }
}

on_every_store!(
    concurrent_publishers_give_every_subscriber_one_contiguous_sequence,
    the_envelope_wraps_the_body_verbatim_and_the_report_carries_the_number,
    a_body_whose_envelope_would_not_fit_is_413_and_takes_no_number,
    channels_without_history_are_byte_for_byte_as_before,
);

/// DynamoDB Local stopped: the publish is refused (503, error frame), takes no number and sends
/// nothing; once it is back the next publish gets the next number and subscribers see a
/// contiguous sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_takes_no_number_and_the_next_ones_stay_contiguous() {
    let mut dynamodb = OwnDynamoDbLocal::start().await;
    let gateway = local_gateway::start(with_history(dynamodb_config(&dynamodb.endpoint())))
        .await
        .expect("gateway starts");
    let url = gateway.websocket_url();
    let mut follower = Follower::connect(&url, "post:9").await;
    let mut publisher = Client::connect(&url).await;
    publisher
        .request(r#"{"action":"subscribe","channels":["post:9"]}"#)
        .await;
    backend_publishes(gateway.http_url(), "post:9".into(), 1..=3, Duration::ZERO).await;
    follower.receive_through(3).await;

    dynamodb.stop();
    let (status, report) = post_to_channel(&gateway.http_url(), "post:9", r#"{"n":99}"#).await;
    assert_eq!(status, 503, "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("channel history unavailable"),
        "{report}"
    );
    assert_eq!(
        (report.get("seq"), &report["sent"]),
        (None, &json!(0)),
        "{report}"
    );
    let refused = request_amid_messages(
        &mut publisher,
        r#"{"action":"publish","channel":"post:9","data":{"n":98}}"#,
    )
    .await;
    // Refused at its first store call (the sender's row), before any number could be taken.
    assert_eq!(refused["type"], "error", "{refused}");
    follower.client.expect_silence(QUIET).await;

    dynamodb.resume().await;
    let taken = backend_publishes(gateway.http_url(), "post:9".into(), 4..=6, Duration::ZERO).await;
    assert_eq!(
        taken,
        vec![(4, 4), (5, 5), (6, 6)],
        "no number was lost to the failures"
    );
    follower.receive_through(6).await;
    assert_eq!(follower.seqs(), (1..=6).collect::<Vec<_>>());
    let data: Vec<Value> = follower
        .delivered
        .iter()
        .map(|(_, data)| data.clone())
        .collect();
    assert!(!data.contains(&json!({"n": 99})) && !data.contains(&json!({"n": 98})));
}
