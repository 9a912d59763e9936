//! The backend's HTTP API (`POST /broadcast`, `GET /connections/count`, …): each request becomes
//! an API Gateway HTTP API (payload 2.0) event, and the function's result becomes the response.

mod event;

use crate::aws;
use crate::error::GatewayError;
use crate::invoke::InvocationFailure;
use crate::invoke::proxy_result::HttpProxyResult;
use crate::routing::HttpRoute;
use crate::state::GatewayState;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderName, HeaderValue, StatusCode, header};
use std::net::SocketAddr;
use std::sync::Arc;
use ws_bridge::handlers::broadcast::too_large_to_deliver;
use ws_bridge::protocol::MAX_MESSAGE_BYTES;

/// HTTP API's payload limit (10 MB): over it, API Gateway answers 413 itself and invokes nothing.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What reading a request body came to.
#[derive(Debug, PartialEq, Eq)]
enum ReadBody {
    Whole(Bytes),
    /// Over what the route can use: read to the end, so that the client hears the answer, but
    /// not kept.
    OverRouteLimit,
    /// Over HTTP API's payload limit.
    OverPayloadLimit,
    /// The client stopped sending mid-body.
    Broken,
}

/// Reads `body`, keeping at most `keep` bytes of it and refusing past [`MAX_BODY_BYTES`]; a
/// declared `Content-Length` over that is refused before anything is read.
async fn read_body(headers: &http::HeaderMap, body: Body, keep: usize) -> ReadBody {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return ReadBody::OverPayloadLimit;
    }
    let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(keep).min(keep));
    let mut kept = BytesMut::with_capacity(capacity);
    let mut total = 0usize;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return ReadBody::Broken;
        };
        total = total.saturating_add(chunk.len());
        if total > MAX_BODY_BYTES {
            return ReadBody::OverPayloadLimit;
        }
        if total <= keep {
            kept.extend_from_slice(&chunk);
        } else if kept.capacity() > 0 {
            kept = BytesMut::new();
        }
    }
    if total > keep {
        ReadBody::OverRouteLimit
    } else {
        ReadBody::Whole(kept.freeze())
    }
}

/// One axum route per HTTP route of the table, under the stage.
pub(crate) fn routes(
    stage: &str,
    table: &[HttpRoute],
) -> Result<Router<Arc<GatewayState>>, GatewayError> {
    let mut router = Router::new();
    for route in table.iter().cloned() {
        let path = format!("/{stage}{}", route.path);
        let filter =
            MethodFilter::try_from(route.method.clone()).map_err(|err| GatewayError::Route {
                route: route.route_key(),
                reason: err.to_string(),
            })?;
        let handler = move |State(gateway): State<Arc<GatewayState>>,
                            ConnectInfo(peer): ConnectInfo<SocketAddr>,
                            request: Request| {
            invoke_route(gateway, route.clone(), peer, request)
        };
        router = router.route(&path, on(filter, handler));
    }
    Ok(router)
}

async fn invoke_route(
    gateway: Arc<GatewayState>,
    route: HttpRoute,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // A delivery route can use no more than one WebSocket message; the handler enforces that in
    // Lambda too, but here the gateway need not hold what it would only throw away.
    let keep = if route.delivers_body {
        MAX_MESSAGE_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let body = match read_body(&parts.headers, body, keep).await {
        ReadBody::Whole(body) => body,
        ReadBody::OverRouteLimit => return lambda_response(too_large_to_deliver()),
        ReadBody::OverPayloadLimit => {
            return aws::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        ReadBody::Broken => return aws::message(StatusCode::BAD_REQUEST, "Bad Request"),
    };
    let event = event::v2_event(&gateway, &route, peer, &parts, &body);
    match gateway.invoke(&route.function, &event).await {
        Ok(result) => match HttpProxyResult::parse(&result) {
            Ok(result) => into_response(result),
            Err(problem) => {
                tracing::warn!(function = route.function.name(), %problem, "malformed function result");
                aws::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        },
        Err(InvocationFailure::Function(_)) => {
            aws::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(InvocationFailure::TimedOut) => {
            aws::message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}

/// A handler's own response, as the function would have answered it.
fn lambda_response(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body.as_ref().to_vec()))
}

/// The HTTP response API Gateway sends for a function's result.
fn into_response(result: HttpProxyResult) -> Response {
    let mut response = (result.status, Body::from(result.body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in result.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    for cookie in result.cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: usize, size: usize) -> Body {
        let chunks =
            (0..chunks).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size])));
        Body::from_stream(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_body_within_the_routes_limit_is_kept_whole() {
        let read = read_body(&http::HeaderMap::new(), chunked(4, 1000), 4000).await;
        assert_eq!(read, ReadBody::Whole(Bytes::from(vec![b'x'; 4000])));
    }

    #[tokio::test]
    async fn a_body_over_the_routes_limit_is_read_through_but_not_kept() {
        let read = read_body(&http::HeaderMap::new(), chunked(5, 1000), 4000).await;
        assert_eq!(read, ReadBody::OverRouteLimit);
    }

    #[tokio::test]
    async fn a_body_over_the_payload_limit_is_refused_before_or_while_reading() {
        let read = read_body(&http::HeaderMap::new(), chunked(11, 1024 * 1024), 4000).await;
        assert_eq!(read, ReadBody::OverPayloadLimit);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(MAX_BODY_BYTES + 1),
        );
        let read = read_body(&headers, chunked(0, 0), MAX_BODY_BYTES).await;
        assert_eq!(read, ReadBody::OverPayloadLimit);
    }
}
