//! The WebSocket stage: the handshake waits for the authorizer and `$connect`; then one task per
//! connection reads frames, writes what `@connections` and route responses queue, and enforces
//! API Gateway's limits and close codes; each text message is dispatched to its route.

mod authorize;
mod connection;
mod dispatch;
mod events;
mod handshake;
mod upgrade;

use crate::state::GatewayState;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// `GET /{stage}`: the handshake.
pub(crate) fn routes(stage: &str) -> Router<Arc<GatewayState>> {
    Router::new().route(&format!("/{stage}"), get(handshake::upgrade))
}
