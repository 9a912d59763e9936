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
use http::{HeaderName, HeaderValue, StatusCode, header};
use std::net::SocketAddr;
use std::sync::Arc;

/// HTTP API's payload limit.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

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
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return aws::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
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
