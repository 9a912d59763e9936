//! Clients that never finish their request head (slowloris): each is closed after the header
//! read timeout, and no more than `max_pending_handshakes` of them are held at once (the oldest
//! closed to make room), so they can neither stay open forever, nor pile up without bound, nor
//! keep a new client out.

use local_gateway::GatewayConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_bridge_e2e::raw::RawClient;
use ws_bridge_e2e::{Client, WAIT};

/// A connection that sends half a handshake and then nothing.
async fn half_handshake(gateway: &local_gateway::RunningGateway) -> TcpStream {
    let mut stream = TcpStream::connect(gateway.addr()).await.expect("connect");
    let partial = format!(
        "GET /{} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n",
        gateway.config().stage,
        gateway.addr()
    );
    stream.write_all(partial.as_bytes()).await.expect("send");
    stream
}

/// Whether the server ended the connection (EOF, reset, or an error answer then EOF).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_half_sent_handshakes_are_closed_after_the_header_read_timeout() {
    let mut config = GatewayConfig::on_free_port();
    config.header_read_timeout_ms = 500;
    let gateway =
        ws_bridge_e2e::start_gateway_with(config, local_gateway::RouteTable::default()).await;
    let mut streams = Vec::new();
    for _ in 0..2000 {
        streams.push(half_handshake(&gateway).await);
    }
    let closes = streams.iter_mut().map(closed_by_server);
    let closed = futures::future::join_all(closes).await;
    assert_eq!(closed.iter().filter(|closed| **closed).count(), 2000);

    // And the gateway still serves.
    let _client = Client::connect(&gateway.websocket_url()).await;
    assert_eq!(gateway.open_connections(), 1);
}

#[tokio::test]
async fn at_the_cap_the_oldest_pending_handshake_makes_room_for_a_newcomer() {
    let mut config = GatewayConfig::on_free_port();
    config.max_pending_handshakes = Some(10);
    let gateway =
        ws_bridge_e2e::start_gateway_with(config, local_gateway::RouteTable::default()).await;
    let mut pending = Vec::new();
    for _ in 0..10 {
        pending.push(half_handshake(&gateway).await);
        // Accepted in order, so that "oldest" is the first one here.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The eleventh is served at once, while the ten are still pending...
    let addr = gateway.addr();
    let stage = gateway.config().stage.clone();
    tokio::time::timeout(Duration::from_secs(1), RawClient::connect(addr, &stage))
        .await
        .expect("the eleventh handshake is served at once");
    // ...and the oldest of them was closed to make room; the others still wait.
    assert!(closed_by_server(&mut pending[0]).await);
    let mut buffer = [0u8; 16];
    let still_waiting =
        tokio::time::timeout(Duration::from_millis(200), pending[9].read(&mut buffer)).await;
    assert!(
        still_waiting.is_err(),
        "the newest pending handshake was closed too"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_handshake_that_never_finishes() {
    let gateway =
        ws_bridge_e2e::start_gateway_with(GatewayConfig::on_free_port(), Default::default()).await;
    let mut stream = half_handshake(&gateway).await;
    // Accepted and partly read by now, not still in the backlog.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = tokio::time::Instant::now();
    gateway.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(closed_by_server(&mut stream).await);
}
