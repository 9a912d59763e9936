//! `$disconnect`: forget the connection, and leave its presence channels (the leave is announced
//! after the grace period). Idempotent, and its answer reaches no one.

use super::{connection_id, ws_response};
use crate::presence::Presence;
use crate::webhooks::WebhookSink;
use crate::{ConnectionStore, Error, Settings};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;

/// `presence`: `None` when no channel has presence; then the row is only deleted.
pub async fn handle(
    store: &dyn ConnectionStore,
    webhooks: &dyn WebhookSink,
    presence: Option<(&Presence, &Settings)>,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let id = connection_id(&event)?;
    let code = event.request_context.disconnect_status_code;
    let reason = event
        .request_context
        .disconnect_reason
        .as_deref()
        .unwrap_or("");
    webhooks.closing(id, code, reason).await;
    // Its channels and user, read before the row goes.
    let leaving = match presence {
        Some((presence, settings)) => match store.get(id).await {
            Ok(connection) => connection.map(|connection| (presence, settings, connection)),
            Err(err) => {
                tracing::error!(connection_id = %id, error = %err, "could not read the connection's presence channels");
                None
            }
        },
        None => None,
    };
    match store.delete(id).await {
        Ok(_) => {
            tracing::info!(connection_id = %id, code, reason, "disconnected");
            if let Some((presence, settings, connection)) = leaving {
                super::presence::leave(
                    presence,
                    &settings.presence,
                    &connection,
                    &connection.channels,
                )
                .await;
            }
            Ok(ws_response(StatusCode::OK, None))
        }
        Err(err) => {
            // The row expires through its TTL; a failing store must not make this a retry loop.
            tracing::error!(connection_id = %id, error = %err, "could not remove connection");
            Ok(ws_response(StatusCode::INTERNAL_SERVER_ERROR, None))
        }
    }
}
