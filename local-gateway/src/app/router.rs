//! The stage's surfaces merged into one router, as API Gateway serves them under one stage URL,
//! with the inspector outside the stage.

use super::GatewayError;
use crate::aws;
use crate::state::GatewayState;
use crate::{http_api, inspector, lambda_api, management, websocket};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
#[cfg(test)]
use {
    crate::config::GatewayConfig, crate::recorder::Recorder, crate::recorder::redact::Redactor,
    crate::registry::Registry, crate::routing::RouteTable, tower::Layer,
    tower::util::MapRequestLayer, ws_bridge::InMemoryStore,
};

/// The stage's surfaces, each with its own routes, merged and layered here: the WebSocket
/// handshake and the HTTP API are traced; `@connections` is not (one call per recipient of a
/// broadcast, where a span each is measurable). The Lambda Invoke API sits beside the stage,
/// as the Lambda endpoint is another host on AWS.
///
/// The inspector (given `actions`, and unless `--no-inspector`) adds its own routes outside the
/// stage and records the HTTP API's and `@connections`' calls.
pub(super) fn router(
    state: Arc<GatewayState>,
    actions: Option<inspector::Actions>,
) -> Result<Router, GatewayError> {
    let stage = state.config.stage.clone();
    let mut http_routes = http_api::routes(&stage, &state.routes.http)?;
    let mut management_routes = management::routes(&stage, &state);
    let inspecting = actions.filter(|_| state.inspector.enabled());
    // (axum refuses a route layer on a router without routes.)
    if inspecting.is_some() && !state.routes.http.is_empty() {
        http_routes = http_routes.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            inspector::record_http_call,
        ));
    }
    if inspecting.is_some() {
        management_routes = management_routes.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            inspector::record_management_call,
        ));
    }
    let redactor = state.inspector.redactor().clone();
    let traced = websocket::routes(&stage)
        .merge(http_routes)
        // The query is masked (`?token=` is a credential), as the inspector masks it.
        .layer(
            TraceLayer::new_for_http().make_span_with(move |request: &Request| {
                tracing::debug_span!("request", method = %request.method(), target = %redactor.uri(request.uri()))
            }),
        );
    let mut router = traced.merge(management_routes).merge(lambda_api::routes());
    if let Some(actions) = inspecting {
        router = router.merge(inspector::routes(actions));
    }
    Ok(router.fallback(fallback).with_state(state))
}

/// The app `start_with` serves, without a listener or functions: for tests that drive requests
/// through the real routes in memory.
#[cfg(test)]
pub(crate) fn in_memory_app(
    routes: RouteTable,
) -> Result<
    impl tower::Service<
        Request<Body>,
        Response = Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone,
    GatewayError,
> {
    use clap::Parser;
    let state = Arc::new(GatewayState {
        config: GatewayConfig::parse_from(["local-gateway"]),
        settings: Default::default(),
        webhook_settings: Default::default(),
        routes,
        registry: Registry::default(),
        store: Arc::new(InMemoryStore::new()),
        inspector: Recorder::new(false, 0, Redactor::default()),
        quotas: Default::default(),
        disconnects: Default::default(),
    });
    let router = router(state, None)?;
    Ok(MapRequestLayer::new(management::normalise_connections_path).layer(router))
}

/// Anything else: `@connections` outside the stage is 403 `Forbidden` (checklist 51); other
/// unknown paths are HTTP API's 404.
async fn fallback(request: Request<Body>) -> Response {
    if request.uri().path().contains("/@connections") {
        management::forbidden()
    } else {
        aws::message(StatusCode::NOT_FOUND, "Not Found")
    }
}
