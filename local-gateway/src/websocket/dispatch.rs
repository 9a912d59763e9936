//! A client's text message: route selection, the integration on a task of its own, and what
//! goes back (the route response, or API Gateway's own error frames); and `$disconnect`.

use super::events;
use crate::aws::new_id;
use crate::invoke::InvocationFailure;
use crate::invoke::proxy_result::IntegrationResponse;
use crate::registry::{ConnectionContext, Disconnect, LiveConnection};
use crate::state::GatewayState;
use axum::extract::ws::Message;
use chrono::Utc;
use std::sync::Arc;

/// Routes a client's text message and runs its integration on a task of its own, so a slow
/// function never stops the connection from reading (API Gateway does not serialise either).
pub(crate) fn dispatch_message(
    gateway: &Arc<GatewayState>,
    connection: &Arc<LiveConnection>,
    text: String,
) {
    let selected = gateway.routes.select(&text);
    gateway.inspector.frame_in(
        connection,
        &text,
        selected.as_ref().map(|(route_key, _)| route_key.as_str()),
    );
    let Some((route_key, route)) = selected else {
        let frame = error_frame("Forbidden", connection.id(), &new_id());
        let _ = connection.send(Message::text(frame));
        return;
    };
    let route = route.clone();
    let (event, request_id) =
        events::message_event(&connection.context, &route_key, &text, Utc::now());
    let gateway = Arc::clone(gateway);
    let connection = Arc::clone(connection);
    tokio::spawn(async move {
        let result = gateway.invoke(&route.function, &event).await;
        let reply = match result {
            // A one-way route sends nothing back, whatever the function returned (31, 35).
            Ok(result) if route.two_way => IntegrationResponse::parse(&result).body,
            Ok(_) => None,
            Err(InvocationFailure::Function(_)) => Some(error_frame(
                "Internal server error",
                connection.id(),
                &request_id,
            )),
            Err(InvocationFailure::TimedOut) => Some(error_frame(
                "Endpoint request timed out",
                connection.id(),
                &request_id,
            )),
        };
        if let Some(reply) = reply
            && let Err(err) = connection.send(Message::text(reply))
        {
            tracing::debug!(connection_id = connection.id(), ?err, "reply dropped");
        }
    });
}

/// Runs `$disconnect` in the background; its result reaches no one (checklist 44).
pub(crate) fn spawn_disconnect(
    gateway: &Arc<GatewayState>,
    context: ConnectionContext,
    how: Disconnect,
) {
    let Some(route) = gateway.routes.disconnect.clone() else {
        return;
    };
    let running = gateway.disconnects.enter();
    let gateway = Arc::clone(gateway);
    tokio::spawn(async move {
        let event = events::disconnect_event(&context, &how, Utc::now());
        let _ = gateway.invoke(&route.function, &event).await;
        drop(running);
    });
}

/// The frames API Gateway itself sends, byte for byte (reference §2.3): note the one space after
/// `"message":` and none elsewhere.
pub(crate) fn error_frame(message: &str, connection_id: &str, request_id: &str) -> String {
    format!(
        r#"{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frames_match_aws_bytes() {
        assert_eq!(
            error_frame("Forbidden", "XDmENcnwIE0CFEQ=", "XDmGEE2RoE0FRdQ="),
            r#"{"message": "Forbidden", "connectionId":"XDmENcnwIE0CFEQ=", "requestId":"XDmGEE2RoE0FRdQ="}"#
        );
    }
}
