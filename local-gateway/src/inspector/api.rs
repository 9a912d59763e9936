//! The inspector's read-only API: the open connections, the recorded events (a page of them, one
//! in full, or a server-sent-events feed), and the routes and configuration as loaded.

use crate::recorder::redact::MASK;
use crate::routing::{IdentitySource, Route};
use crate::state::GatewayState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use ws_bridge::time::now_epoch_ms;

/// The connection list shows the newest this many (the total is given too).
const MAX_LISTED: usize = 1000;
/// Store look-ups (user, client id, channels) in flight at once for the list.
const LOOKUPS: usize = 16;
/// A page of events, at most.
const MAX_PAGE: usize = 5000;
/// How often a feed looks for new records: readers poll the ring, so writers never signal.
const FEED_TICK: Duration = Duration::from_millis(100);
/// Records per feed message, at most.
const FEED_BATCH: usize = 1000;

/// `GET /_inspector/api/connections`: the open connections, newest first.
pub(super) async fn connections(State(gateway): State<Arc<GatewayState>>) -> Json<Value> {
    let mut live = gateway.registry.snapshot();
    let total = live.len();
    live.sort_by_key(|connection| std::cmp::Reverse(connection.context.connected_at));
    live.truncate(MAX_LISTED);
    let listed: Vec<Value> = stream::iter(live)
        .map(|connection| {
            let gateway = Arc::clone(&gateway);
            async move {
                // What the handlers stored: a store that cannot answer leaves the fields empty.
                let stored = gateway
                    .store
                    .get(connection.id())
                    .await
                    .ok()
                    .flatten();
                let context = &connection.context;
                let principal = context
                    .authorizer
                    .as_ref()
                    .and_then(|block| block.get("principalId"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let stats = &connection.stats;
                json!({
                    "id": connection.id(),
                    "user": stored.as_ref().and_then(|stored| stored.user_id.clone()).or(principal),
                    "clientId": stored.as_ref().and_then(|stored| stored.query.get("clientId").cloned()),
                    "channels": stored.as_ref().map(|stored| stored.channels.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
                    "sourceIp": context.source_ip,
                    "userAgent": context.user_agent,
                    "connectedAt": context.connected_at,
                    "lastActiveAt": connection.last_active_ms(),
                    "framesIn": stats.frames_in.load(std::sync::atomic::Ordering::Relaxed),
                    "framesOut": stats.frames_out.load(std::sync::atomic::Ordering::Relaxed),
                })
            }
        })
        .buffered(LOOKUPS)
        .collect()
        .await;
    Json(json!({ "now": now_epoch_ms(), "total": total, "connections": listed }))
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    /// The first sequence number wanted; default: the oldest kept.
    after: Option<u64>,
    /// Only this connection's events.
    connection: Option<String>,
    limit: Option<usize>,
}

/// `GET /_inspector/api/events`: the kept events from `after` on (summaries), with where to
/// continue (`next`, also where a feed should start) and how many were already dropped.
pub(super) async fn events(
    State(gateway): State<Arc<GatewayState>>,
    Query(query): Query<EventsQuery>,
) -> Json<Value> {
    let recorder = &gateway.inspector;
    let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let read = recorder.read(query.after.unwrap_or(0), recorder.capacity());
    let mut records: Vec<Value> = read
        .records
        .iter()
        .filter(|record| {
            query.connection.is_none()
                || record.connection_id.as_deref() == query.connection.as_deref()
        })
        .map(|record| record.summary())
        .collect();
    // The latest `limit`.
    let excess = records.len().saturating_sub(limit);
    records.drain(..excess);
    Json(json!({
        "records": records,
        "next": read.next,
        "skipped": read.skipped,
        "capacity": recorder.capacity(),
    }))
}

/// `GET /_inspector/api/events/{seq}`: one event in full (an invocation's event and result).
pub(super) async fn event(
    State(gateway): State<Arc<GatewayState>>,
    Path(seq): Path<u64>,
) -> Response {
    match gateway.inspector.get(seq) {
        Some(record) => Json(record.detail()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no longer kept (or never recorded)" })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    /// Where to start (an `events` answer's `next`); default: from now on.
    after: Option<u64>,
}

/// `GET /_inspector/feed`: server-sent events, `records` (a batch of summaries) and `lagged`
/// (`{"skipped": n}`: the reader fell more than the ring behind, and those are gone). The feed
/// reads the ring on a timer, at its own pace; a reader that does not keep up only misses
/// records, it never holds up the gateway.
pub(super) async fn feed(
    State(gateway): State<Arc<GatewayState>>,
    Query(query): Query<FeedQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let cursor = query.after.unwrap_or_else(|| gateway.inspector.head());
    let mut tick = tokio::time::interval(FEED_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let batches = stream::unfold(
        (gateway, cursor, tick),
        |(gateway, mut cursor, mut tick)| async move {
            loop {
                tick.tick().await;
                if gateway.inspector.feeds_stopped() {
                    return None;
                }
                let read = gateway.inspector.read(cursor, FEED_BATCH);
                cursor = read.next;
                let mut events = Vec::new();
                if read.skipped > 0 {
                    events.push(
                        Event::default()
                            .event("lagged")
                            .data(json!({ "skipped": read.skipped, "next": cursor }).to_string()),
                    );
                }
                if !read.records.is_empty() {
                    let records: Vec<Value> =
                        read.records.iter().map(|record| record.summary()).collect();
                    events.push(
                        Event::default()
                            .event("records")
                            .data(json!({ "records": records, "next": cursor }).to_string()),
                    );
                }
                if !events.is_empty() {
                    return Some((events, (gateway, cursor, tick)));
                }
            }
        },
    );
    Sse::new(batches.flat_map(|events| stream::iter(events.into_iter().map(Ok))))
        .keep_alive(KeepAlive::default())
}

/// `GET /_inspector/api/config`: what the gateway understood: its settings (secrets masked),
/// the route table it built (from the route file, or the project's own) and the URLs.
pub(super) async fn config(
    State(gateway): State<Arc<GatewayState>>,
    headers: HeaderMap,
) -> Json<Value> {
    let config = &gateway.config;
    let (settings, webhooks) = (&gateway.settings, &gateway.webhook_settings);
    let routes = &gateway.routes;
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let websocket_route = |key: &str, route: &Route| json!({ "routeKey": key, "function": route.function.name(), "twoWay": route.two_way });
    let mut websocket: Vec<Value> = Vec::new();
    for (key, route) in [
        ("$connect", &routes.connect),
        ("$disconnect", &routes.disconnect),
        ("$default", &routes.default),
    ] {
        if let Some(route) = route {
            websocket.push(websocket_route(key, route));
        }
    }
    let mut custom: Vec<_> = routes.custom.iter().collect();
    custom.sort_by(|a, b| a.0.cmp(b.0));
    websocket.extend(
        custom
            .into_iter()
            .map(|(key, route)| websocket_route(key, route)),
    );
    let http: Vec<Value> = routes
        .http
        .iter()
        .map(|route| {
            json!({
                "method": route.method.as_str(), "path": route.path,
                "function": route.function.name(), "deliversBody": route.delivers_body,
            })
        })
        .collect();
    let authorizer = routes.authorizer.as_ref().map(|authorizer| {
        let sources: Vec<String> = authorizer
            .identity_sources
            .iter()
            .map(|source| match source {
                IdentitySource::Header(name) => format!("route.request.header.{name}"),
                IdentitySource::QueryString(name) => format!("route.request.querystring.{name}"),
            })
            .collect();
        json!({ "function": authorizer.function.name(), "identitySources": sources })
    });
    let secret = |value: &Option<String>| value.as_ref().map(|_| MASK);
    let mut shown = json!({
        "urls": {
            "websocket": format!("ws://{host}/{}", config.stage),
            "http": format!("http://{host}/{}", config.stage),
            "management": format!("http://{host}/{}/@connections/{{connectionId}}", config.stage),
        },
        "routes": {
            "source": match (&config.template, &config.routes, &config.invoke_endpoint) {
                (Some(template), _, _) => template.display().to_string(),
                (None, Some(file), _) => file.display().to_string(),
                (None, None, Some(endpoint)) => format!("the project's routes, invoked at {endpoint}"),
                (None, None, None) => "the project's own routes".to_owned(),
            },
            "selectionExpression": "$request.body.action",
            "websocket": websocket,
            "authorizer": authorizer,
            "http": http,
        },
        // What the functions in the gateway run with: a flag given, else the template's
        // variable, else the default.
        "settings": {
            "stage": config.stage,
            "apiId": config.api_id,
            "store": format!("{:?}", config.store).to_lowercase(),
            "dynamodbEndpoint": config.dynamodb_endpoint,
            "connectionsTable": config.connections_table,
            "invokeEndpoint": config.invoke_endpoint,
            "idleTimeoutSecs": config.idle_timeout_secs,
            "maxConnectionSecs": config.max_connection_secs,
            "integrationTimeoutMs": config.integration_timeout_ms,
            "headerReadTimeoutMs": config.header_read_timeout_ms,
            "maxPendingHandshakes": config.max_pending_handshakes.unwrap_or_else(crate::net::default_max_pending_handshakes),
            "pingsAreActivity": config.pings_are_activity,
            "apiToken": secret(&settings.api_token),
            "requireSigv4": config.require_sigv4,
            "clientQueue": config.client_queue,
            "clientPublish": settings.client_publish,
            "maxChannelsPerConnection": settings.max_channels_per_connection,
            "useAuthorizer": config.use_authorizer,
            "maxConnectionsPerUser": settings.max_connections_per_user,
            "messageRateLimit": settings.message_rate.map(|rate| format!("{}/{}", rate.messages, rate.window_secs)),
            "broadcastConcurrency": settings.broadcast_concurrency,
            "broadcastPageSize": settings.broadcast_page_size,
            "broadcastMaxAttempts": settings.broadcast_max_attempts,
            "history": settings.history.enabled(),
            "historyTtlSeconds": settings.history.ttl_seconds,
            "historyMaxMessages": settings.history.max_messages,
            "historyTable": settings.history.table,
            "webhookUrl": webhooks.url,
            "webhookSecret": webhooks.secret.as_ref().map(|_| MASK),
            "webhookMaxAttempts": webhooks.max_attempts,
            "webhookTimeoutMs": webhooks.timeout_ms,
            "webhookRetryBaseMs": webhooks.retry_base_ms,
            "webhookStatsIntervalSecs": webhooks.stats_interval_secs,
            "webhookQueueCapacity": webhooks.queue_capacity,
            "inspectorEvents": config.inspector_events,
            "secretHeaders": config.secret_headers,
        },
    });
    // (Apart: one more key in the literal passes serde_json's macro recursion limit.)
    shown["settings"]["writeTimeoutSecs"] = json!(config.write_timeout().as_secs());
    shown["settings"]["allowedHosts"] = json!(config.allowed_hosts);
    shown["settings"]["checkStageHost"] = json!(config.check_stage_host);
    Json(shown)
}
