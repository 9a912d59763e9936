//! `--require-sigv4`: `@connections` refuses unsigned requests as AWS does (checklist 53).

use crate::aws::aws_error;
use crate::state::GatewayState;
use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;

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
pub(super) async fn require_signature(
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
