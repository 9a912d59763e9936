//! `$disconnect`: forget the connection. Idempotent, and its answer reaches no one.

use super::{connection_id, ws_response};
use crate::webhooks::WebhookSink;
use crate::{ConnectionStore, Error};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;

pub async fn handle(
    store: &dyn ConnectionStore,
    webhooks: &dyn WebhookSink,
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
    match store.delete(id).await {
        Ok(_) => {
            tracing::info!(connection_id = %id, code, reason, "disconnected");
            Ok(ws_response(StatusCode::OK, None))
        }
        Err(err) => {
            // The row expires through its TTL; a failing store must not make this a retry loop.
            tracing::error!(connection_id = %id, error = %err, "could not remove connection");
            Ok(ws_response(StatusCode::INTERNAL_SERVER_ERROR, None))
        }
    }
}
