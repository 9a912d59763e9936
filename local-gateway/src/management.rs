//! `@connections`: PostToConnection, GetConnection and DeleteConnection with API Gateway's
//! statuses and error shapes, so the real SDK classifies every answer (reference §3).

use crate::events::Disconnect;
use crate::responses;
use crate::state::GatewayState;
use axum::body::Body;
use axum::extract::ws::Message;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use ws_bridge::time::iso8601_from_epoch_ms;

/// PostToConnection's `Data` limit (checklist 48).
pub const MAX_POST_BYTES: usize = 131_072;

/// An error answer: the SDKs read the type from `x-amzn-ErrorType`, and the body is empty or
/// JSON, never plain text (checklist 52).
pub fn aws_error(status: StatusCode, error_type: &str, message: Option<&str>) -> Response {
    let mut response = match message {
        Some(text) => responses::message(status, text),
        None => responses::json(status, String::new()),
    };
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    response
}

/// 410 with an empty body, as the real service answers (checklist 47, 61).
fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException", None)
}

/// With `--require-sigv4`: the request must carry a SigV4 `Authorization` whose credential scope
/// names the `execute-api` service (checklist 53). The signature's bytes are not verified: the
/// gateway knows no secret keys.
fn refusal_unless_signed_for_execute_api(headers: &http::HeaderMap) -> Option<Response> {
    let Some(authorization) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(aws_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            Some("Missing Authentication Token"),
        ));
    };
    let scope_service = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .and_then(|rest| {
            rest.split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("Credential="))
        })
        .and_then(|credential| credential.split('/').nth(3));
    if scope_service == Some("execute-api") {
        None
    } else {
        Some(aws_error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            Some("The request signature is not for the execute-api service"),
        ))
    }
}

/// Applies [`refusal_unless_signed_for_execute_api`] to the `@connections` routes when configured.
pub async fn require_signature(
    State(gateway): State<Arc<GatewayState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if gateway.config.require_sigv4
        && let Some(refusal) = refusal_unless_signed_for_execute_api(request.headers())
    {
        return refusal;
    }
    next.run(request).await
}

pub fn forbidden() -> Response {
    aws_error(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        Some("Forbidden"),
    )
}

pub async fn post_to_connection(
    State(gateway): State<Arc<GatewayState>>,
    Path(connection_id): Path<String>,
    request: Request,
) -> Response {
    let data = match axum::body::to_bytes(request.into_body(), MAX_POST_BYTES).await {
        Ok(data) => data,
        Err(_) => {
            return aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                Some(&format!(
                    "Message too long. The maximum message size is {MAX_POST_BYTES} bytes"
                )),
            );
        }
    };
    let Some(connection) = gateway.registry.get(&connection_id) else {
        return gone();
    };
    // Text when it is text (checklist 60); anything else goes out as it came.
    let message = match std::str::from_utf8(&data) {
        Ok(text) => Message::text(text),
        Err(_) => Message::binary(data),
    };
    match connection.send(message) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(crate::registry::QueueError::Closed) => gone(),
        Err(crate::registry::QueueError::Full) => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            Some("The client-side buffer is full"),
        ),
    }
}

pub async fn get_connection(
    State(gateway): State<Arc<GatewayState>>,
    Path(connection_id): Path<String>,
) -> Response {
    let Some(connection) = gateway.registry.get(&connection_id) else {
        return gone();
    };
    let context = &connection.context;
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), Value::String(context.source_ip.clone()));
    // Omitted rather than "" when the handshake had none (checklist 62).
    if let Some(user_agent) = &context.user_agent {
        identity.insert("userAgent".into(), Value::String(user_agent.clone()));
    }
    let body = json!({
        "connectedAt": iso8601_from_epoch_ms(context.connected_at),
        "identity": identity,
        "lastActiveAt": iso8601_from_epoch_ms(connection.last_active_ms()),
    });
    responses::json(StatusCode::OK, body.to_string())
}

pub async fn delete_connection(
    State(gateway): State<Arc<GatewayState>>,
    Path(connection_id): Path<String>,
) -> Response {
    let Some(connection) = gateway.registry.remove(&connection_id) else {
        return gone();
    };
    connection
        .close(Disconnect {
            status_code: 1000,
            reason: "Connection Closed Normally".into(),
        })
        .await;
    StatusCode::NO_CONTENT.into_response()
}

/// Anything else: `@connections` outside the stage is 403 `Forbidden` (checklist 51); other
/// unknown paths are HTTP API's 404.
pub async fn fallback(request: Request<Body>) -> Response {
    let path = request.uri().path();
    if path.contains("/@connections") {
        forbidden()
    } else {
        responses::message(StatusCode::NOT_FOUND, "Not Found")
    }
}

/// The docs' own examples send `%40connections`; SDKs send `@connections`. Both must reach the
/// same route, so the path is normalised before routing (checklist 46).
pub fn normalise_connections_path<B>(mut request: http::Request<B>) -> http::Request<B> {
    let path = request.uri().path();
    let lowered = path.to_ascii_lowercase();
    if let Some(at) = lowered.find("/%40connections") {
        let rewritten = format!(
            "{}/@connections{}",
            &path[..at],
            &path[at + "/%40connections".len()..]
        );
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{rewritten}?{query}"),
            None => rewritten,
        };
        let mut parts = request.uri().clone().into_parts();
        if let Ok(value) = path_and_query.parse() {
            parts.path_and_query = Some(value);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoded_at_sign_is_normalised() {
        let request = http::Request::builder()
            .uri("/dev/%40connections/abc%3D?x=1")
            .body(())
            .unwrap();
        assert_eq!(
            normalise_connections_path(request).uri().to_string(),
            "/dev/@connections/abc%3D?x=1"
        );
        let request = http::Request::builder()
            .uri("/dev/broadcast")
            .body(())
            .unwrap();
        assert_eq!(
            normalise_connections_path(request).uri().to_string(),
            "/dev/broadcast"
        );
    }
}
