//! The WebSocket side: the handshake waits for `$connect`, then one task per connection reads
//! frames, writes what `@connections` and route responses queue, and enforces the limits.

use crate::authorizer;
use crate::events::{self, ConnectionContext, Disconnect, Handshake};
use crate::ids::new_id;
use crate::registry::{LiveConnection, Outbound};
use crate::state::{GatewayState, InvocationFailure};
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use ws_bridge::time::now_epoch_ms;

/// API Gateway's frame limit (32 KB) and message limit (128 KB): beyond them, close 1009.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Small buffers: tungstenite's 128 KiB default read buffer would cost that much per idle
/// connection; 4 KiB keeps an idle connection near 9 KiB.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

const CLOSE_NO_STATUS: (u16, &str) = (1005, "Client-side close frame status not set");
const CLOSE_GOING_AWAY: (u16, &str) = (1001, "Going away");
const CLOSE_ABNORMAL: (u16, &str) = (1006, "Connection closed abnormally");
const CLOSE_UNSUPPORTED: (u16, &str) = (1003, "Binary frames are not supported");
const CLOSE_TOO_BIG: (u16, &str) = (1009, "Message too big");

fn disconnect((status_code, reason): (u16, &str)) -> Disconnect {
    Disconnect {
        status_code,
        reason: reason.to_owned(),
    }
}

/// `GET /{stage}` with an upgrade: runs `$connect`, then answers 101 or the function's status.
pub async fn upgrade(
    State(gateway): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let now = now_epoch_ms();
    let mut context = ConnectionContext {
        connection_id: new_id(),
        connected_at: now,
        source_ip: peer.ip().to_string(),
        user_agent: header_text(&headers, header::USER_AGENT),
        domain_name: header_text(&headers, header::HOST).unwrap_or_else(|| peer.to_string()),
        stage: gateway.config.stage.clone(),
        api_id: gateway.config.api_id.clone(),
        authorizer: None,
    };
    let handshake = Handshake {
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        query: uri.query().map(str::to_owned),
    };

    if let Some(authorizer) = &gateway.routes.authorizer {
        match authorizer::authorize(&gateway, authorizer, &context, &handshake, now).await {
            Ok(block) => context.authorizer = Some(block),
            Err(status) => return status.into_response(),
        }
    }

    let mut subprotocol = None;
    if let Some(route) = &gateway.routes.connect {
        let event = events::connect_event(&context, &handshake, now);
        match gateway.invoke_ws(&route.function, &event).await {
            Ok(response) => {
                // A malformed proxy result is an integration failure, as on AWS.
                let Some(status) = response
                    .status_code
                    .and_then(|code| StatusCode::from_u16(code).ok())
                else {
                    return StatusCode::BAD_GATEWAY.into_response();
                };
                if !status.is_success() {
                    return status.into_response();
                }
                subprotocol = response
                    .header("Sec-WebSocket-Protocol")
                    .and_then(|value| HeaderValue::from_str(value).ok());
            }
            Err(InvocationFailure::Function(_)) => return StatusCode::BAD_GATEWAY.into_response(),
            Err(InvocationFailure::TimedOut) => return StatusCode::GATEWAY_TIMEOUT.into_response(),
        }
    }

    // Registered before the 101 goes out: from here on the connection exists for @connections.
    let (outbound_tx, outbound_rx) = mpsc::channel(gateway.config.client_queue);
    let connection = Arc::new(LiveConnection::new(context, outbound_tx));
    gateway.registry.insert(Arc::clone(&connection));

    let on_failure = {
        let gateway = Arc::clone(&gateway);
        let connection = Arc::clone(&connection);
        move |err: axum::Error| {
            tracing::debug!(connection_id = connection.id(), error = %err, "upgrade failed after $connect");
            end_connection(&gateway, &connection, disconnect(CLOSE_ABNORMAL));
        }
    };
    let mut response = upgrade
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_failed_upgrade(on_failure)
        .on_upgrade(move |socket| run_connection(gateway, connection, outbound_rx, socket));
    if let Some(protocol) = subprotocol {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Removes the connection (so `@connections` answers 410 from now on) and runs `$disconnect`.
fn end_connection(gateway: &Arc<GatewayState>, connection: &Arc<LiveConnection>, how: Disconnect) {
    gateway.registry.remove_if_current(connection);
    tracing::debug!(connection_id = connection.id(), code = how.status_code, reason = %how.reason, "connection closed");
    gateway.spawn_disconnect(connection.context.clone(), how);
}

async fn run_connection(
    gateway: Arc<GatewayState>,
    connection: Arc<LiveConnection>,
    mut outbound: mpsc::Receiver<Outbound>,
    mut socket: WebSocket,
) {
    let idle_timeout = gateway.config.idle_timeout();
    let closes_at = Instant::now() + gateway.config.max_connection_duration();
    let how = loop {
        let idle_deadline = Instant::now() + idle_remaining(&connection, idle_timeout);
        tokio::select! {
            command = outbound.recv() => match command {
                Some(Outbound::Send(message)) => {
                    if socket.send(message).await.is_err() {
                        break disconnect(CLOSE_ABNORMAL);
                    }
                }
                Some(Outbound::Close(how)) => {
                    send_close(&mut socket, how.status_code, &how.reason).await;
                    break how;
                }
                // Cannot happen while this task holds the connection (and so a sender); close
                // cleanly rather than spin if it ever does.
                None => {
                    send_close(&mut socket, CLOSE_GOING_AWAY.0, CLOSE_GOING_AWAY.1).await;
                    break disconnect(CLOSE_GOING_AWAY);
                }
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    connection.touch();
                    gateway.dispatch_message(&connection, text.as_str().to_owned());
                }
                Some(Ok(Message::Binary(_))) => {
                    send_close(&mut socket, CLOSE_UNSUPPORTED.0, CLOSE_UNSUPPORTED.1).await;
                    break disconnect(CLOSE_UNSUPPORTED);
                }
                // tungstenite queues the pong itself; flush it now. Control frames are never
                // routed and, unless configured, do not count as activity (checklist 59).
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    if gateway.config.pings_are_activity {
                        connection.touch();
                    }
                    let _ = socket.flush().await;
                }
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite has queued the echoing close frame; flushing completes the
                    // closing handshake.
                    let _ = socket.flush().await;
                    break match frame {
                        Some(CloseFrame { code, reason }) => Disconnect { status_code: code, reason: reason.as_str().to_owned() },
                        None => disconnect(CLOSE_NO_STATUS),
                    };
                }
                Some(Err(err)) if is_capacity_error(&err) => {
                    send_close(&mut socket, CLOSE_TOO_BIG.0, CLOSE_TOO_BIG.1).await;
                    break disconnect(CLOSE_TOO_BIG);
                }
                Some(Err(_)) | None => break disconnect(CLOSE_ABNORMAL),
            },
            _ = tokio::time::sleep_until(idle_deadline.min(closes_at)) => {
                if Instant::now() >= closes_at || idle_remaining(&connection, idle_timeout).is_zero() {
                    send_close(&mut socket, CLOSE_GOING_AWAY.0, CLOSE_GOING_AWAY.1).await;
                    break disconnect(CLOSE_GOING_AWAY);
                }
            }
        }
    };
    end_connection(&gateway, &connection, how);
}

fn idle_remaining(connection: &LiveConnection, idle_timeout: Duration) -> Duration {
    let idle_for = u64::try_from(now_epoch_ms() - connection.last_active_ms()).unwrap_or(0);
    idle_timeout.saturating_sub(Duration::from_millis(idle_for))
}

async fn send_close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // The peer may already be gone; there is nobody left to tell.
    let _ = socket.send(Message::Close(Some(frame))).await;
}

fn is_capacity_error(err: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(current) = source {
        if let Some(tungstenite) = current.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(
                tungstenite,
                tokio_tungstenite::tungstenite::Error::Capacity(_)
            );
        }
        source = current.source();
    }
    false
}
