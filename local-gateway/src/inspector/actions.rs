//! What the page can do, each through the gateway's real surfaces and held to their rules, so
//! that it is exactly what any other caller could do: a message goes out as PostToConnection and
//! a disconnect as DeleteConnection (requests to the gateway's own `@connections`), and a
//! broadcast is a call to the HTTP API's broadcast route. The caller's `Authorization` goes
//! with each: the HTTP API checks the API token and `--require-sigv4` the signature, as for
//! anyone. Each action answers the status of the call it made.

use super::error;
use crate::config::GatewayConfig;
use crate::invoke::sdk_client::InProcessHttpClient;
use crate::net::AllowedHosts;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use ws_bridge::Settings;

/// Sent by a caller that is not a browser (curl, a script) in place of `Origin`: a browser
/// sends `Origin` on every POST and DELETE, and cannot add this header to a cross-origin
/// request without a preflight the gateway never grants.
pub(crate) const NON_BROWSER_HEADER: &str = "x-ws-bridge-inspector";

#[derive(Clone)]
pub(crate) struct Actions {
    /// The gateway's router, for `@connections` and the HTTP API.
    router: InProcessHttpClient,
    stage: String,
    /// The API token every action needs when one is set (`GatewayState::settings`).
    settings: Settings,
    /// The `Host` names every inspector route answers to.
    pub(super) hosts: AllowedHosts,
}

impl Actions {
    pub(crate) fn new(
        router: InProcessHttpClient,
        config: &GatewayConfig,
        settings: &Settings,
    ) -> Self {
        Self {
            router,
            stage: config.stage.clone(),
            settings: settings.clone(),
            hosts: AllowedHosts::new(config.host, &config.allowed_hosts),
        }
    }

    /// Forwards a request built by an action into the gateway, with the caller's credentials
    /// and address; `None` while the gateway is starting.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body,
        caller: &HeaderMap,
        peer: SocketAddr,
    ) -> Option<Response> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(body)
            .ok()?;
        if let Some(authorization) = caller.get(header::AUTHORIZATION) {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization.clone());
        }
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        // The events and the recorder name the caller's address: the page's.
        request.extensions_mut().insert(ConnectInfo(peer));
        self.router.call(request).await
    }
}

/// Lets through the page's own requests only, and callers holding the API token when one is
/// set: JSON (which a cross-site form cannot send without a preflight this server never
/// grants); an `Origin` naming exactly the host the request was sent to (which the `Host`
/// allow-list has already checked), or no `Origin` and [`NON_BROWSER_HEADER`].
pub(super) async fn guard(
    Extension(actions): Extension<Arc<Actions>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "inspector actions take application/json",
        );
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let from_here = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => host.is_some_and(|host| origin == format!("http://{host}")),
        Some(Err(_)) => false,
        None => headers.contains_key(NON_BROWSER_HEADER),
    };
    if !from_here {
        return error(
            StatusCode::FORBIDDEN,
            "inspector actions are taken from the inspector's own page (an Origin naming this \
             host), or without Origin with the x-ws-bridge-inspector header",
        );
    }
    if !holds_api_token(&actions.settings, headers) {
        let mut refusal = error(
            StatusCode::UNAUTHORIZED,
            "this gateway has an API token: inspector actions need Authorization: Bearer <token>",
        );
        refusal.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return refusal;
    }
    next.run(request).await
}

/// The HTTP routes' own rule (`ws_bridge::handlers::bearer`), constant-time: true when no token
/// is set.
fn holds_api_token(settings: &Settings, headers: &HeaderMap) -> bool {
    let mut probe = lambda_http::Request::default();
    *probe.headers_mut() = headers.clone();
    ws_bridge::handlers::bearer::refusal(settings, &probe).is_none()
}

/// The action's answer: the call's own status on failure, 200 on success; the body names the
/// call and its status, with `error` (the `x-amzn-ErrorType`, or the body's message) on failure.
async fn answer(call: String, response: Option<Response>) -> Response {
    let Some(response) = response else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the gateway is starting");
    };
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = match axum::body::to_bytes(response.into_body(), 1024 * 1024).await {
        Ok(body) => body,
        Err(err) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("{call}: cannot read its answer: {err}"),
            );
        }
    };
    let report = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    if status.is_success() {
        let mut answer = json!({ "call": call, "status": status.as_u16() });
        if !report.is_null() {
            answer["report"] = report;
        }
        return (StatusCode::OK, Json(answer)).into_response();
    }
    let reason = error_type
        .or_else(|| {
            ["error", "message"]
                .iter()
                .find_map(|key| report.get(key).and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_else(|| status.to_string());
    let answer =
        json!({ "error": reason, "call": call, "status": status.as_u16(), "report": report });
    (status, Json(answer)).into_response()
}

fn connection_path(stage: &str, connection_id: &str) -> String {
    let id =
        percent_encoding::utf8_percent_encode(connection_id, percent_encoding::NON_ALPHANUMERIC);
    format!("/{stage}/@connections/{id}")
}

#[derive(Deserialize)]
pub(super) struct Send {
    data: String,
}

/// `POST /_inspector/api/connections/{id}/messages` `{"data": "…"}`: PostToConnection.
pub(super) async fn send(
    Extension(actions): Extension<Arc<Actions>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
    Json(send): Json<Send>,
) -> Response {
    let path = connection_path(&actions.stage, &connection_id);
    let response = actions
        .call(Method::POST, &path, Body::from(send.data), &headers, peer)
        .await;
    answer("PostToConnection".into(), response).await
}

/// `DELETE /_inspector/api/connections/{id}`: DeleteConnection.
pub(super) async fn disconnect(
    Extension(actions): Extension<Arc<Actions>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = connection_path(&actions.stage, &connection_id);
    let response = actions
        .call(Method::DELETE, &path, Body::empty(), &headers, peer)
        .await;
    answer("DeleteConnection".into(), response).await
}

#[derive(Deserialize)]
pub(super) struct Broadcast {
    /// A channel's subscribers only; everyone when absent or empty.
    channel: Option<String>,
    data: String,
}

/// `POST /_inspector/api/broadcast` `{"channel"?: "…", "data": "…"}`: `POST /{stage}/broadcast`
/// or `/{stage}/broadcast/{channel}`, answered with that route's status and report.
pub(super) async fn broadcast(
    Extension(actions): Extension<Arc<Actions>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(broadcast): Json<Broadcast>,
) -> Response {
    let mut path = format!("/{}/broadcast", actions.stage);
    if let Some(channel) = broadcast
        .channel
        .as_deref()
        .filter(|channel| !channel.is_empty())
    {
        path.push('/');
        path.extend(percent_encoding::utf8_percent_encode(
            channel,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    let response = actions
        .call(
            Method::POST,
            &path,
            Body::from(broadcast.data),
            &headers,
            peer,
        )
        .await;
    answer(format!("POST {path}"), response).await
}
