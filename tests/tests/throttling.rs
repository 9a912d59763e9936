//! A slow reader's full queue makes `@connections` answer 429 `LimitExceededException`; the
//! pusher backs off and retries, so the message is delayed, not lost. A reader that never
//! catches up is named under `failed` in the broadcast report, never dropped silently.

use local_gateway::GatewayConfig;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use ws_bridge::{ApiGatewayPusher, InMemoryStore, MessagePusher, PushOutcome, Settings};
use ws_bridge_e2e::{Client, broadcast};

/// Pushes large messages at a client that reads nothing until its queue stays full: the kernel
/// grows a socket's buffers as data arrives, so one 429 is not yet "full for good". Returns how
/// many messages were accepted.
async fn fill_queue(gateway: &local_gateway::RunningGateway, id: &str) -> usize {
    const FULL_FOR: Duration = Duration::from_secs(1);
    let impatient = ApiGatewayPusher::local(&gateway.http_url()).with_max_attempts(1);
    let chunk = json!({ "fill": "x".repeat(100_000) }).to_string();
    let mut accepted = 0;
    let mut full_since: Option<tokio::time::Instant> = None;
    for _ in 0..5_000 {
        match impatient.push(id, chunk.as_bytes()).await {
            PushOutcome::Delivered => {
                accepted += 1;
                full_since = None;
            }
            PushOutcome::Failed(error) => {
                assert!(error.contains("LimitExceededException"), "{error}");
                let since = *full_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= FULL_FOR {
                    return accepted;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            PushOutcome::Gone => panic!("the slow client vanished"),
        }
    }
    panic!("the queue never stayed full");
}

fn small_queue() -> GatewayConfig {
    let mut config = ws_bridge_e2e::run_config();
    config.client_queue = 1;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_429_and_a_patient_pusher_delivers_once_the_reader_catches_up() {
    let gateway = local_gateway::start(small_queue()).await.expect("starts");
    let mut slow = Client::connect(gateway.websocket_url().as_str()).await;
    let id = slow.connection_id().await;
    let accepted = fill_queue(&gateway, &id).await;

    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut received = 0;
        loop {
            received += 1;
            if slow.recv_text().await == r#"{"final":true}"# {
                return received;
            }
        }
    });
    // The queue is still full when this starts: only retrying gets it through.
    let patient = ApiGatewayPusher::local(&gateway.http_url()).with_max_attempts(10);
    assert_eq!(
        patient.push(&id, br#"{"final":true}"#).await,
        PushOutcome::Delivered
    );
    assert_eq!(
        reader.await.unwrap(),
        accepted + 1,
        "every accepted message arrived, in order, and the last one too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_catches_up_is_reported_failed_by_name_and_the_others_get_it() {
    let store: Arc<dyn ws_bridge::ConnectionStore> = Arc::new(InMemoryStore::new());
    let settings = Settings {
        broadcast_max_attempts: 2,
        ..Settings::default()
    };
    let gateway = local_gateway::start_with(small_queue(), move |endpoint| {
        let pusher = Arc::new(endpoint.pusher().with_max_attempts(2));
        let functions =
            local_gateway::project_functions(Arc::clone(&store), pusher, settings, None);
        Ok((store, functions.default_routes()))
    })
    .await
    .expect("starts");
    let mut slow = Client::connect(gateway.websocket_url().as_str()).await;
    let slow_id = slow.connection_id().await;
    let mut fast = Client::connect(gateway.websocket_url().as_str()).await;
    fill_queue(&gateway, &slow_id).await;

    let (status, report) = broadcast(&gateway, r#"{"type":"news"}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectionCount"], 2);
    assert_eq!(report["sent"], 1);
    assert_eq!(report["failed"][0]["connectionId"], slow_id.as_str());
    let error = report["failed"][0]["error"].as_str().unwrap();
    assert!(error.contains("LimitExceededException"), "{error}");
    assert_eq!(fast.recv_text().await, r#"{"type":"news"}"#);
    drop(slow);
}

/// The report names a throttled recipient's reason as `ErrorType: message`, from the error's
/// code and message, not a dump of the SDK's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_recipients_reason_is_the_error_type_and_message() {
    let mut config = small_queue();
    config.broadcast_max_attempts = Some(1);
    let gateway = local_gateway::start(config).await.expect("starts");
    let mut slow = Client::connect(gateway.websocket_url().as_str()).await;
    let slow_id = slow.connection_id().await;
    fill_queue(&gateway, &slow_id).await;

    let (status, report) = broadcast(&gateway, r#"{"type":"news"}"#).await;

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["failed"][0]["connectionId"], slow_id.as_str());
    assert_eq!(
        report["failed"][0]["error"], "LimitExceededException: The client-side buffer is full",
        "{report}"
    );
    drop(slow);
}
