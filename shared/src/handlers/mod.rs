//! The Lambda handlers, as plain async functions: each Lambda binary and the local gateway call
//! these very functions. Failures become statuses here, at the edge; a handler only returns `Err`
//! for an event API Gateway could never have sent.

pub mod authorizer;
pub mod bearer;
pub mod broadcast;
pub mod connect;
pub mod connections_count;
pub mod default_route;
pub mod direct_message;
pub mod disconnect;
pub mod handshakes;
pub mod presence;
pub mod stats;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body as EventBody;
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::Error;

/// A WebSocket-route answer: `status` and, for two-way routes, the `body` sent back.
pub(crate) fn ws_response(status: StatusCode, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status.as_u16());
    response.body = body.map(EventBody::Text);
    response
}

/// An HTTP-route answer with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Our bodies are plain structs of strings and numbers: serialisation cannot fail.
    let json = serde_json::to_string(body).unwrap_or_default();
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// 400 with what was wrong with the request; nothing was done.
pub(crate) fn bad_request(problem: String) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        &crate::protocol::ErrorBody { error: problem },
    )
}

/// 503 with the store's error, for an HTTP route whose store call failed.
pub(crate) fn store_unavailable(operation: &str, err: &Error) -> Response<Body> {
    tracing::error!(error = %err, operation, "store call failed");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &crate::protocol::ErrorBody {
            error: err.to_string(),
        },
    )
}

/// The connection id API Gateway puts in every WebSocket event.
pub(crate) fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Result<&str, Error> {
    event
        .request_context
        .connection_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::MalformedEvent("requestContext.connectionId is missing".into()))
}
