//! `@connections`: PostToConnection, GetConnection and DeleteConnection with API Gateway's
//! statuses and error shapes, so the real SDK classifies every answer (reference §3).

mod sigv4;

use crate::aws::{self, aws_error};
use crate::invoke::warn_if_frozen;
use crate::registry::{Disconnect, QueueError};
use crate::state::GatewayState;
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use std::sync::Arc;
// PostToConnection's `Data` limit (checklist 48), the one the delivery handlers enforce too.
use ws_bridge::protocol::MAX_MESSAGE_BYTES;
use ws_bridge::time::iso8601_from_epoch_ms;

/// `POST|GET|DELETE /{stage}/@connections/{connection_id}`, with the SigV4 check when configured.
/// Kept outside the trace layer by the caller: a broadcast makes one call per connection, and a
/// span for each is measurable overhead on that hot path. For the same reason the check's
/// middleware is only layered on when `--require-sigv4` asks for it.
pub(crate) fn routes(stage: &str, gateway: &Arc<GatewayState>) -> Router<Arc<GatewayState>> {
    let methods = post(post_to_connection)
        .get(get_connection)
        .delete(delete_connection);
    let methods = if gateway.config.require_sigv4 {
        methods.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(gateway),
            sigv4::require_signature,
        ))
    } else {
        methods
    };
    // Outermost: a throttled call is refused before anything else is looked at.
    let methods = if gateway.quotas.limits_management_api() {
        methods.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(gateway),
            management_api_quota,
        ))
    } else {
        methods
    };
    Router::new().route(&format!("/{stage}/@connections/{{connection_id}}"), methods)
}

/// Route layer of `@connections` with `--aws-quotas`: one token of the account throttle per
/// call, else 429 as API Gateway answers it.
async fn management_api_quota(
    State(gateway): State<Arc<GatewayState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if gateway.quotas.admit_management_call() {
        next.run(request).await
    } else {
        crate::quotas::throttled()
    }
}

/// 410 with an empty body, as the real service answers (checklist 47, 61).
fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException", None)
}

pub(crate) fn forbidden() -> Response {
    aws_error(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        Some("Forbidden"),
    )
}

/// The `{connection_id}` path segment, percent-decoded (checklist 46). One that does not decode
/// to UTF-8 names no connection that can exist, so it is gone like any unknown id (checklist 47,
/// 61), in API Gateway's shape rather than axum's plain-text 400 (checklist 52).
struct ConnectionId(String);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionId {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Self(id)),
            Err(rejection) => {
                tracing::debug!(path = parts.uri.path(), %rejection, "undecodable connection id");
                Err(gone())
            }
        }
    }
}

async fn post_to_connection(
    State(gateway): State<Arc<GatewayState>>,
    ConnectionId(connection_id): ConnectionId,
    request: Request,
) -> Response {
    warn_if_frozen(
        &gateway.routes.functions,
        request.headers(),
        "PostToConnection",
    );
    let data = match axum::body::to_bytes(request.into_body(), MAX_MESSAGE_BYTES).await {
        Ok(data) => data,
        Err(err) if is_over_the_limit(&err) => {
            return aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                Some(&format!(
                    "Message too long. The maximum message size is {MAX_MESSAGE_BYTES} bytes"
                )),
            );
        }
        // The body broke off (the caller went away, a malformed chunk): not a size problem.
        Err(err) => {
            tracing::debug!(error = %err, "cannot read a PostToConnection body");
            return aws_error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                Some(&format!("Could not read the request body: {err}")),
            );
        }
    };
    let Some(connection) = gateway.registry.get(&connection_id) else {
        return gone();
    };
    // Text when it is text (checklist 60); anything else goes out as it came. The body's bytes
    // become the frame's without a copy.
    let message = match Utf8Bytes::try_from(data.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(data),
    };
    match connection.send(message) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(QueueError::Closed) => gone(),
        Err(QueueError::Full) => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            Some("The client-side buffer is full"),
        ),
    }
}

/// Whether reading a body failed because it passed the size limit (and not because it broke
/// off).
fn is_over_the_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

async fn get_connection(
    State(gateway): State<Arc<GatewayState>>,
    ConnectionId(connection_id): ConnectionId,
    headers: HeaderMap,
) -> Response {
    warn_if_frozen(&gateway.routes.functions, &headers, "GetConnection");
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
    aws::json(StatusCode::OK, body.to_string())
}

async fn delete_connection(
    State(gateway): State<Arc<GatewayState>>,
    ConnectionId(connection_id): ConnectionId,
    headers: HeaderMap,
) -> Response {
    warn_if_frozen(&gateway.routes.functions, &headers, "DeleteConnection");
    let Some(connection) = gateway.registry.remove(&connection_id) else {
        return gone();
    };
    connection.close(Disconnect {
        status_code: 1000,
        reason: "Connection Closed Normally".into(),
    });
    StatusCode::NO_CONTENT.into_response()
}

/// The docs' own examples send `%40connections`; SDKs send `@connections`. Both must reach the
/// same route, so the path is normalised before routing (checklist 46). Every occurrence is
/// rewritten, not just the first, so normalising twice changes nothing.
pub(crate) fn normalise_connections_path<B>(mut request: http::Request<B>) -> http::Request<B> {
    const ENCODED: &str = "/%40connections";
    let path = request.uri().path();
    // ASCII lowering keeps byte offsets, so the matches index `path` too.
    let lowered = path.to_ascii_lowercase();
    if lowered.contains(ENCODED) {
        let mut rewritten = String::with_capacity(path.len());
        let mut rest = 0;
        for (at, _) in lowered.match_indices(ENCODED) {
            rewritten.push_str(&path[rest..at]);
            rewritten.push_str("/@connections");
            rest = at + ENCODED.len();
        }
        rewritten.push_str(&path[rest..]);
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

    /// Found by `normalising_a_connections_path_is_idempotent`: only the first `%40connections`
    /// was rewritten, so a second pass changed the path again.
    #[test]
    fn every_encoded_connections_segment_is_normalised() {
        let request = http::Request::builder()
            .uri("//%40CONNecTIONs/%40CONnEcTIonS")
            .body(())
            .unwrap();
        assert_eq!(
            normalise_connections_path(request).uri().to_string(),
            "//@connections/@connections"
        );
    }
}

/// Property tests of the `@connections` paths clients send. `cases` keeps `cargo test` quick;
/// `PROPTEST_CASES=N` overrides it (proptest reads it by default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use tower::ServiceExt;

    /// Paths built from the pieces that matter here, in any order and case.
    fn path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just("dev".to_owned()),
            "(?i:/%40connections)",
            Just("/@connections".to_owned()),
            "%[0-9A-Fa-f]{2}",
            "[A-Za-z0-9._~=-]{1,6}",
        ];
        (
            prop::collection::vec(piece, 0..8),
            prop::option::of("[a-z0-9=&%]{0,8}"),
        )
            .prop_map(|(pieces, query)| {
                let path = format!("/{}", pieces.concat());
                match query {
                    Some(query) => format!("{path}?{query}"),
                    None => path,
                }
            })
    }

    /// A connection id as a client may encode it: plain characters and any byte percent-encoded,
    /// so invalid UTF-8 too.
    fn encoded_id() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[A-Za-z0-9_=-]".prop_map(|c| c),
                any::<u8>().prop_map(|byte| format!("%{byte:02X}")),
            ],
            0..24,
        )
        .prop_map(|pieces| pieces.concat())
    }

    fn request(path: &str) -> Option<http::Request<()>> {
        http::Request::builder().uri(path).body(()).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn normalising_a_connections_path_is_idempotent(path in path()) {
            let Some(request) = request(&path) else {
                return Ok(());
            };
            let once = normalise_connections_path(request).uri().clone();
            let twice = normalise_connections_path(request_with(&once)).uri().clone();
            prop_assert_eq!(&once, &twice);
            prop_assert!(!once.path().to_ascii_lowercase().contains("/%40connections"));
            // The query is never touched.
            let query = path.split_once('?').map(|(_, query)| query);
            prop_assert_eq!(once.query(), query);
        }
    }

    fn request_with(uri: &http::Uri) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.uri_mut() = uri.clone();
        request
    }

    proptest! {
        // Each case is a request through the router: fewer cases than the pure functions.
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn connection_ids_get_only_aws_shaped_answers(
            method in prop_oneof![Just(http::Method::GET), Just(http::Method::POST), Just(http::Method::DELETE)],
            at in prop_oneof![Just("@"), Just("%40")],
            id in encoded_id(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            let app = crate::app::in_memory_app(crate::routing::RouteTable::default())
                .expect("the router");
            let uri = format!("/dev/{at}connections/{id}");
            let request = http::Request::builder()
                .method(method)
                .uri(&uri)
                .body(axum::body::Body::from("{}"))
                .expect("a request");
            let response = runtime.block_on(app.oneshot(request)).expect("infallible");
            let status = response.status().as_u16();
            prop_assert!([200, 204, 403, 410, 413, 414].contains(&status), "{uri}: {status}");
            if status >= 400 {
                prop_assert!(response.headers().contains_key("x-amzn-ErrorType"), "{uri}: {status}");
            }
        }
    }
}
