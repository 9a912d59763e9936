//! What the page can do, each through the gateway's real surfaces so that it is exactly what a
//! backend would do: a message goes out as PostToConnection and a disconnect as
//! DeleteConnection (both through the AWS SDK, into the gateway's own `@connections`), and a
//! broadcast is a call to the HTTP API's broadcast route (with the API token when one is set).

use crate::config::GatewayConfig;
use crate::invoke::sdk_client::InProcessHttpClient;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use ws_bridge::Settings;

#[derive(Clone)]
pub(crate) struct Actions {
    /// The management API client, sending into this gateway's router.
    management: Client,
    /// The gateway's router, for the HTTP API.
    router: InProcessHttpClient,
    stage: String,
    api_token: Option<String>,
}

impl Actions {
    pub(crate) fn new(
        management: Client,
        router: InProcessHttpClient,
        config: &GatewayConfig,
        settings: &Settings,
    ) -> Self {
        Self {
            management,
            router,
            stage: config.stage.clone(),
            api_token: settings.api_token.clone(),
        }
    }
}

/// Lets through the page's own requests only: JSON (which a cross-site form cannot send without
/// a preflight this server never grants), and from this origin when the browser names one.
pub(super) async fn same_origin_json(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let same_origin = match headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    {
        None => true,
        Some(origin) => host.is_some_and(|host| origin == format!("http://{host}")),
    };
    if is_json && same_origin {
        next.run(request).await
    } else {
        answer(
            StatusCode::FORBIDDEN,
            json!({ "message": "inspector actions take JSON from the inspector's own page" }),
        )
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The status `@connections` answered and its error code, from the SDK's view of the call.
fn sdk_status<T, E>(
    result: &Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (u16, Option<String>)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => (200, None),
        Err(err) => {
            let text = match err.code() {
                Some(code) => code.to_owned(),
                None => DisplayErrorContext(err).to_string(),
            };
            (
                err.raw_response().map_or(502, |raw| raw.status().as_u16()),
                Some(text),
            )
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Send {
    data: String,
}

/// `POST /_inspector/api/connections/{id}/messages` `{"data": "…"}`: PostToConnection.
pub(super) async fn send(
    Extension(actions): Extension<Arc<Actions>>,
    Path(connection_id): Path<String>,
    Json(send): Json<Send>,
) -> Response {
    let result = actions
        .management
        .post_to_connection()
        .connection_id(connection_id)
        .data(Blob::new(send.data.into_bytes()))
        .send()
        .await;
    let (status, error) = sdk_status(&result);
    answer(
        StatusCode::OK,
        json!({ "call": "PostToConnection", "status": status, "error": error }),
    )
}

/// `DELETE /_inspector/api/connections/{id}`: DeleteConnection.
pub(super) async fn disconnect(
    Extension(actions): Extension<Arc<Actions>>,
    Path(connection_id): Path<String>,
) -> Response {
    let result = actions
        .management
        .delete_connection()
        .connection_id(connection_id)
        .send()
        .await;
    let (status, error) = sdk_status(&result);
    // DeleteConnection's 204 reads as success in the SDK.
    let status = if error.is_none() { 204 } else { status };
    answer(
        StatusCode::OK,
        json!({ "call": "DeleteConnection", "status": status, "error": error }),
    )
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
    let mut request = http::Request::post(&path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(broadcast.data));
    if let (Ok(request), Some(token)) = (&mut request, &actions.api_token)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let Ok(mut request) = request else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "message": "cannot build the request" }),
        );
    };
    // The HTTP API's events name the caller's address: the page's.
    request.extensions_mut().insert(ConnectInfo(peer));
    let Some(response) = actions.router.call(request).await else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "message": "the gateway is starting" }),
        );
    };
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let report = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    answer(
        StatusCode::OK,
        json!({ "call": format!("POST {path}"), "status": status, "report": report }),
    )
}
