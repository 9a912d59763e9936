//! `--aws-quotas`: the local gateway throttles as API Gateway's account quotas do, and the real
//! SDK classifies its answers as it classifies the service's (reference §3.2, §4.1).

use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use local_gateway::GatewayConfig;
use ws_bridge::ApiGatewayPusher;
use ws_bridge_e2e::Client;

/// `make run`'s configuration with the quotas on and the given numbers.
fn with_quotas(rate: u32, burst: u32, new_connections: u32) -> GatewayConfig {
    let mut config = ws_bridge_e2e::run_config();
    config.quotas.aws_quotas = true;
    config.quotas.management_api_rate = rate;
    config.quotas.management_api_burst = burst;
    config.quotas.new_connection_rate = new_connections;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_calls_beyond_the_burst_get_429_limit_exceeded_as_the_sdk_models_it() {
    // A slow refill (1/s) so that the burst is what the test measures.
    let gateway = local_gateway::start(with_quotas(1, 20, 500))
        .await
        .expect("starts");
    let mut client = Client::connect(gateway.websocket_url().as_str()).await;
    let id = client.connection_id().await;
    // One attempt per call: the SDK's own retries would hide the answers.
    let pusher = ApiGatewayPusher::local(&gateway.http_url()).with_max_attempts(1);

    let mut accepted = 0;
    let mut throttled = 0;
    for _ in 0..40 {
        match pusher
            .client()
            .post_to_connection()
            .connection_id(&id)
            .data(Blob::new(r#"{"n":1}"#))
            .send()
            .await
        {
            Ok(_) => accepted += 1,
            Err(err) => {
                let raw = err.raw_response().expect("an HTTP answer");
                assert_eq!(raw.status().as_u16(), 429);
                assert_eq!(
                    raw.headers().get("x-amzn-ErrorType"),
                    Some("LimitExceededException")
                );
                assert_eq!(err.code(), Some("LimitExceededException"));
                let service = err.into_service_error();
                assert!(service.is_limit_exceeded_exception(), "{service:?}");
                throttled += 1;
            }
        }
    }
    // The burst, plus at most what a second's refill added while the loop ran.
    assert!((20..=22).contains(&accepted), "accepted {accepted}");
    assert_eq!(accepted + throttled, 40);
    // GetConnection and DeleteConnection draw on the same bucket.
    let err = pusher
        .client()
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect_err("the bucket is empty");
    assert!(err.into_service_error().is_limit_exceeded_exception());
    for _ in 0..accepted {
        assert!(client.recv_text().await.contains(r#""n":1"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_beyond_the_new_connection_rate_get_429_before_connect_runs() {
    let gateway = local_gateway::start(with_quotas(10_000, 5_000, 3))
        .await
        .expect("starts");
    let url = gateway.websocket_url();
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..6 {
        match Client::try_connect(url.as_str()).await {
            Ok(client) => open.push(client),
            Err(status) => refused.push(status),
        }
    }
    assert!((3..=4).contains(&open.len()), "admitted {}", open.len());
    assert!(refused.iter().all(|status| *status == 429), "{refused:?}");
    // Refused before `$connect`: only the admitted connections exist.
    assert_eq!(
        ws_bridge_e2e::connection_count(&gateway).await,
        open.len() as u64
    );
    // A second later the bucket has refilled.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    Client::try_connect(url.as_str())
        .await
        .expect("admitted after the refill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_nothing_is_throttled() {
    let gateway = local_gateway::start(ws_bridge_e2e::run_config())
        .await
        .expect("starts");
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Client::connect(gateway.websocket_url().as_str()).await);
    }
    let (status, report) = ws_bridge_e2e::broadcast(&gateway, r#"{"x":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(report["sent"], 20, "{report}");
}

/// The pusher lives with the throttle: a broadcast to 2,000 real connections under a 500/s
/// management quota slows down as a whole, delivers to everyone, reports nobody failed, and
/// says what the throttle cost. It cannot beat the bucket: the time is at least what the
/// tokens beyond the burst take to refill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_broadcast_reaches_everyone_and_takes_at_least_the_throttles_time() {
    use futures::StreamExt;
    const CONNECTIONS: usize = 2_000;
    const RATE: u32 = 500;
    const BURST: u32 = 100;
    let limit = local_gateway::raise_file_limit().unwrap_or(1024) as usize;
    assert!(
        limit > 2 * CONNECTIONS + 500,
        "open-files limit {limit} too low"
    );
    // The handshakes are not what this test throttles.
    let gateway = local_gateway::start(with_quotas(RATE, BURST, 100_000))
        .await
        .expect("starts");
    let url = gateway.websocket_url();
    let mut clients: Vec<Client> = futures::stream::iter(0..CONNECTIONS)
        .map(|_| Client::connect(url.clone()))
        .buffer_unordered(64)
        .collect()
        .await;

    let started = std::time::Instant::now();
    let (status, report) = ws_bridge_e2e::broadcast(&gateway, r#"{"type":"news"}"#).await;
    let elapsed = started.elapsed();

    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectionCount"], CONNECTIONS, "{report}");
    assert_eq!(report["sent"], CONNECTIONS, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["gone"], serde_json::json!([]), "{report}");
    assert!(
        report["throttleRetries"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(report["throttledMs"].as_u64().unwrap_or(0) > 0, "{report}");
    let bound =
        std::time::Duration::from_secs_f64(f64::from(CONNECTIONS as u32 - BURST) / f64::from(RATE));
    assert!(
        elapsed >= bound,
        "{elapsed:?} < {bound:?}: the quota was not applied"
    );
    for client in &mut clients {
        assert_eq!(client.recv_text().await, r#"{"type":"news"}"#);
    }
    println!(
        "throttled broadcast: {CONNECTIONS} at {RATE}/s (burst {BURST}) in {:.2} s, bound {:.2} s, \
         {} retries, throttled {} ms",
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        report["throttleRetries"],
        report["throttledMs"]
    );
}
