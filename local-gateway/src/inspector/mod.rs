//! The inspector: a page at `/` (outside the stage, so nothing of API Gateway's surface moves)
//! that shows the gateway's connections, frames and invocations live, and its JSON and
//! server-sent-events API under `/_inspector/`. What it shows comes from the recorder in
//! [`GatewayState::inspector`]; what the page does (send, broadcast, disconnect) goes through
//! the gateway's real surfaces, as a backend's calls would.

mod actions;
mod api;

pub(crate) use actions::Actions;

use crate::net::AllowedHosts;
use crate::state::GatewayState;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;
use std::time::Instant;

/// The page and its assets, shipped inside the binary: plain HTML, CSS and JS, no build step.
const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

/// HTTP API reports larger than this are recorded without their body.
const MAX_REPORT_BYTES: u64 = 64 * 1024;

/// `/` and `/_inspector/…`, each answering only requests that name an allowed `Host`.
pub(crate) fn routes(actions: Actions) -> Router<Arc<GatewayState>> {
    let hosts = actions.hosts.clone();
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/_inspector/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/_inspector/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/_inspector/api/connections", get(api::connections))
        .route("/_inspector/api/events", get(api::events))
        .route("/_inspector/api/events/{seq}", get(api::event))
        .route("/_inspector/api/config", get(api::config))
        .route("/_inspector/feed", get(api::feed))
        .merge(
            Router::new()
                .route(
                    "/_inspector/api/connections/{connection_id}/messages",
                    post(actions::send),
                )
                .route(
                    "/_inspector/api/connections/{connection_id}",
                    axum::routing::delete(actions::disconnect),
                )
                .route("/_inspector/api/broadcast", post(actions::broadcast))
                .route_layer(axum::middleware::from_fn(actions::guard))
                .layer(axum::Extension(Arc::new(actions))),
        )
        .route_layer(axum::middleware::from_fn(json_errors))
        .route_layer(axum::middleware::from_fn_with_state(hosts, allowed_host))
}

/// axum's own refusals (a malformed path, query or JSON body) are plain text: said again in the
/// inspector's shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain_text {
        return response;
    }
    match axum::body::to_bytes(response.into_body(), MAX_REPORT_BYTES as usize).await {
        Ok(text) => error(status, String::from_utf8_lossy(&text).trim()),
        Err(_) => error(status, status.canonical_reason().unwrap_or("error")),
    }
}

/// Nothing for a request naming another host: the page, its data and its actions would all be
/// readable by a site that rebinds its name to this machine.
async fn allowed_host(State(hosts): State<AllowedHosts>, request: Request, next: Next) -> Response {
    let host = AllowedHosts::request_host(&request);
    if hosts.allows(host) {
        return next.run(request).await;
    }
    tracing::warn!(
        host = host.unwrap_or(""),
        path = request.uri().path(),
        "inspector: refused a request naming another host (--allowed-host adds one)"
    );
    error(
        StatusCode::FORBIDDEN,
        "the inspector answers requests for this machine's own names only (--allowed-host adds one)",
    )
}

/// The inspector's error shape, on every route: `{"error": "…"}`.
pub(crate) fn error(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Records each `@connections` call: method, connection, status, and the size sent.
pub(crate) async fn record_management_call(
    State(gateway): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let connection_id = request
        .uri()
        .path()
        .rsplit_once("/@connections/")
        .map(|(_, id)| {
            percent_encoding::percent_decode_str(id)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let size = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let response = next.run(request).await;
    gateway
        .inspector
        .management(&method, connection_id, response.status().as_u16(), size);
    response
}

/// Records each HTTP API call with its answer (a broadcast's report, a count), read back into
/// the response unchanged.
pub(crate) async fn record_http_call(
    State(gateway): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let small = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|size| size <= MAX_REPORT_BYTES);
    if !small {
        gateway
            .inspector
            .http(&method, &uri, status, started.elapsed(), None);
        return response;
    }
    let (parts, body) = response.into_parts();
    // An exact, small size: the body is already in memory, and reading it cannot fail; if it
    // ever does, the call is recorded without a body and the caller told, not given "".
    match axum::body::to_bytes(body, MAX_REPORT_BYTES as usize).await {
        Ok(body) => {
            gateway
                .inspector
                .http(&method, &uri, status, started.elapsed(), Some(&body));
            Response::from_parts(parts, axum::body::Body::from(body))
        }
        Err(err) => {
            tracing::warn!(%uri, error = %err, "cannot read an HTTP route's answer");
            gateway
                .inspector
                .http(&method, &uri, 500, started.elapsed(), None);
            crate::aws::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}
