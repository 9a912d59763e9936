//! What every request handler of the gateway shares, and how it invokes functions.

use crate::config::GatewayConfig;
use crate::events::{self, ConnectionContext, Disconnect};
use crate::functions::{FunctionError, LambdaFunction};
use crate::ids::new_id;
use crate::registry::{LiveConnection, Registry};
use crate::routes::RouteTable;
use axum::extract::ws::Message;
use serde_json::Value;
use std::sync::Arc;
use ws_bridge::ConnectionStore;
use ws_bridge::time::now_epoch_ms;

pub struct GatewayState {
    pub config: GatewayConfig,
    pub routes: RouteTable,
    pub registry: Registry,
    pub store: Arc<dyn ConnectionStore>,
}

/// Why an integration produced no usable result.
#[derive(Debug)]
pub enum InvocationFailure {
    Function(FunctionError),
    TimedOut,
}

/// The parts of a Lambda proxy result API Gateway reads on WebSocket routes.
#[derive(Debug, Default)]
pub struct IntegrationResponse {
    pub status_code: Option<u16>,
    pub headers: serde_json::Map<String, Value>,
    pub body: Option<String>,
}

impl IntegrationResponse {
    fn parse(bytes: &[u8]) -> Self {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(bytes) else {
            return Self::default();
        };
        Self {
            status_code: object
                .get("statusCode")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok()),
            headers: match object.remove("headers") {
                Some(Value::Object(headers)) => headers,
                _ => Default::default(),
            },
            body: match object.remove("body") {
                Some(Value::String(body)) => Some(body),
                _ => None,
            },
        }
    }

    /// A header the function returned, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }
}

impl GatewayState {
    /// Invokes `function` with `event`, bounded by the integration timeout.
    pub async fn invoke(
        &self,
        function: &Arc<dyn LambdaFunction>,
        event: &Value,
    ) -> Result<Vec<u8>, InvocationFailure> {
        let payload = serde_json::to_vec(event).unwrap_or_default();
        match tokio::time::timeout(self.config.integration_timeout(), function.invoke(payload))
            .await
        {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(err)) => {
                tracing::warn!(function = function.name(), error = %err, "function failed");
                Err(InvocationFailure::Function(err))
            }
            Err(_) => {
                tracing::warn!(function = function.name(), "integration timed out");
                Err(InvocationFailure::TimedOut)
            }
        }
    }

    /// Invokes a WebSocket route's function and reads its proxy result.
    pub async fn invoke_ws(
        &self,
        function: &Arc<dyn LambdaFunction>,
        event: &Value,
    ) -> Result<IntegrationResponse, InvocationFailure> {
        self.invoke(function, event)
            .await
            .map(|bytes| IntegrationResponse::parse(&bytes))
    }

    /// Routes a client's text message and runs its integration on a task of its own, so a slow
    /// function never stops the connection from reading (API Gateway does not serialise either).
    pub fn dispatch_message(self: &Arc<Self>, connection: &Arc<LiveConnection>, text: String) {
        let Some((route_key, route)) = self.routes.select(&text) else {
            let frame = error_frame("Forbidden", connection.id(), &new_id());
            let _ = connection.send(Message::text(frame));
            return;
        };
        let route = route.clone();
        let (event, request_id) =
            events::message_event(&connection.context, &route_key, &text, now_epoch_ms());
        let gateway = Arc::clone(self);
        let connection = Arc::clone(connection);
        tokio::spawn(async move {
            let reply = match gateway.invoke_ws(&route.function, &event).await {
                // A one-way route sends nothing back, whatever the function returned (31, 35).
                Ok(response) if route.two_way => response.body,
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
    pub fn spawn_disconnect(self: &Arc<Self>, context: ConnectionContext, how: Disconnect) {
        let Some(route) = self.routes.disconnect.clone() else {
            return;
        };
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let event = events::disconnect_event(&context, &how, now_epoch_ms());
            let _ = gateway.invoke(&route.function, &event).await;
        });
    }
}

/// The frames API Gateway itself sends, byte for byte (reference §2.3): note the one space after
/// `"message":` and none elsewhere.
pub fn error_frame(message: &str, connection_id: &str, request_id: &str) -> String {
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

    #[test]
    fn integration_responses_parse_leniently() {
        let parsed = IntegrationResponse::parse(
            br#"{"statusCode":401,"headers":{"sec-websocket-protocol":"chat"},"body":"x"}"#,
        );
        assert_eq!(parsed.status_code, Some(401));
        assert_eq!(parsed.header("Sec-WebSocket-Protocol"), Some("chat"));
        assert_eq!(parsed.body.as_deref(), Some("x"));
        assert_eq!(IntegrationResponse::parse(b"null").status_code, None);
    }
}
