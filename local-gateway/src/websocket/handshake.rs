//! The handshake: `GET /{stage}` with an upgrade runs the authorizer and `$connect`, then
//! answers 101 (and hands the socket to [`super::connection`]) or the function's status.

use super::authorize;
use super::connection::{
    CLOSE_ABNORMAL, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, SOCKET_BUFFER_BYTES, disconnect,
    end_connection, run_connection,
};
use super::events::{self, Handshake};
use super::upgrade::{NotAnUpgrade, WebSocketRequest};
use crate::aws::new_id;
use crate::invoke::InvocationFailure;
use crate::invoke::proxy_result::IntegrationResponse;
use crate::registry::{ConnectionContext, LiveConnection};
use crate::state::GatewayState;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, Version, header};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// `GET /{stage}` with an upgrade: runs `$connect`, then answers 101 or the function's status.
pub(super) async fn upgrade(
    State(gateway): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    upgrade: Result<WebSocketRequest, NotAnUpgrade>,
) -> Response {
    // Checked before anything is invoked: a malformed handshake never reaches the authorizer
    // or `$connect`.
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(NotAnUpgrade::Version) => {
            return unsupported_version(&headers);
        }
        Err(rejection) => return rejection.into_response(),
    };
    if version <= Version::HTTP_11 && !has_valid_key(&headers) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if let Some(throttled) = gateway.quotas.refuse_new_connection() {
        return throttled;
    }
    let now = Utc::now();
    let mut context = ConnectionContext {
        connection_id: new_id(),
        connected_at: now.timestamp_millis(),
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

    let admitted = admit(&gateway, &mut context, &handshake, now).await;
    gateway.inspector.handshake(
        &context,
        &uri,
        admitted
            .as_ref()
            .map_or_else(|refusal| refusal.status().as_u16(), |_| 101),
    );
    let subprotocol = match admitted {
        Ok(subprotocol) => subprotocol,
        Err(refusal) => return refusal,
    };

    // Registered before the 101 goes out: from here on the connection exists for @connections.
    let (outbound_tx, outbound_rx) = mpsc::channel(gateway.config.client_queue);
    let connection = Arc::new(LiveConnection::new(context, outbound_tx));
    gateway.registry.insert(Arc::clone(&connection));

    let on_failure = {
        let gateway = Arc::clone(&gateway);
        let connection = Arc::clone(&connection);
        move |err: hyper::Error| {
            tracing::debug!(connection_id = connection.id(), error = %err, "upgrade failed after $connect");
            end_connection(&gateway, &connection, disconnect(CLOSE_ABNORMAL));
        }
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_MESSAGE_BYTES));
    upgrade.accept(
        config,
        subprotocol,
        move |socket| run_connection(gateway, connection, outbound_rx, socket),
        on_failure,
    )
}

/// The authorizer, then `$connect`: `Ok` with the subprotocol to answer, or the refusal.
async fn admit(
    gateway: &GatewayState,
    context: &mut ConnectionContext,
    handshake: &Handshake,
    now: chrono::DateTime<Utc>,
) -> Result<Option<HeaderValue>, Response> {
    if let Some(authorizer) = &gateway.routes.authorizer {
        match authorize::authorize(gateway, authorizer, context, handshake, now).await {
            Ok(block) => context.authorizer = Some(block),
            Err(status) => return Err(status.into_response()),
        }
    }

    if let Some(route) = &gateway.routes.connect {
        let event = events::connect_event(context, handshake, now);
        match gateway.invoke(&route.function, &event).await {
            Ok(result) => {
                let response = IntegrationResponse::parse(&result);
                // A malformed proxy result is an integration failure, as on AWS.
                let Some(status) = response
                    .status_code
                    .and_then(|code| StatusCode::from_u16(code).ok())
                else {
                    return Err(StatusCode::BAD_GATEWAY.into_response());
                };
                if !status.is_success() {
                    return Err(status.into_response());
                }
                return Ok(response
                    .header("Sec-WebSocket-Protocol")
                    .and_then(|value| HeaderValue::from_str(value).ok()));
            }
            Err(InvocationFailure::Function(_)) => {
                return Err(StatusCode::BAD_GATEWAY.into_response());
            }
            Err(InvocationFailure::TimedOut) => {
                return Err(StatusCode::GATEWAY_TIMEOUT.into_response());
            }
        }
    }
    Ok(None)
}

/// RFC 6455 §4.2.1: exactly one `Sec-WebSocket-Key`, the base64 of 16 bytes; anything else is a
/// malformed handshake (400). What AWS answers is not in the reference; this is the RFC's answer.
fn has_valid_key(headers: &HeaderMap) -> bool {
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) => STANDARD
            .decode(key.as_bytes())
            .is_ok_and(|nonce| nonce.len() == 16),
        _ => false,
    }
}

/// RFC 6455 §4.2.2 and §4.4: a version other than 13 is 426 Upgrade Required naming the version
/// this server speaks; a missing version is a malformed request (400), which names it too.
fn unsupported_version(headers: &HeaderMap) -> Response {
    let status = if headers.contains_key(header::SEC_WEBSOCKET_VERSION) {
        StatusCode::UPGRADE_REQUIRED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = status.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    // A 426 names the protocol to upgrade to (RFC 9110 §15.5.22).
    if status == StatusCode::UPGRADE_REQUIRED {
        response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}
