//! A body a delivery route cannot use costs the gateway no memory: a 10 MB `POST /broadcast` is
//! refused with 413 while the process's peak resident memory barely moves. Alone in its binary,
//! so that no other test's allocations blur the measurement.

use std::time::Duration;
use ws_bridge_e2e::{Client, http, start_gateway};

/// `VmHWM`, the peak resident set size, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Starts a new peak from the current resident set (Linux's `clear_refs` value 5).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs is writable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_delivery_body_is_refused_without_being_held() {
    const TEN_MIB: usize = 10 * 1024 * 1024;
    let gateway = start_gateway().await;
    let mut client = Client::connect(&gateway.websocket_url()).await;
    client.hello().await;
    // The client's copy exists before the measurement starts; reqwest sends `Bytes` as they are.
    let mut body = String::with_capacity(TEN_MIB);
    body.push_str(r#"{"pad":""#);
    body.push_str(&"x".repeat(TEN_MIB - r#"{"pad":""}"#.len()));
    body.push_str(r#""}"#);
    let body = reqwest::Body::from(body.into_bytes());

    reset_peak_rss();
    let before = peak_rss_kib();
    let response = http()
        .post(format!("{}/broadcast", gateway.http_url()))
        .body(body)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    let grown_kib = peak_rss_kib().saturating_sub(before);

    assert_eq!(status, 413);
    // Read through and dropped: about 2 MiB. Held whole, as before: over 60 MiB (the body, its
    // event, the handler's request).
    assert!(
        grown_kib < 8 * 1024,
        "the peak resident set grew by {grown_kib} KiB for a body the gateway cannot use"
    );
    client.expect_silence(Duration::from_millis(200)).await;
}
