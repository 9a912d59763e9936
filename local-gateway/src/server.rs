//! Assembles the gateway: one listener serving the WebSocket stage, `@connections` and the HTTP
//! routes, as API Gateway serves them under one stage URL, and the inspector outside the stage.

use crate::aws;
use crate::config::{GatewayConfig, StoreKind};
use crate::error::GatewayError;
use crate::invoke::sdk_client::InProcessHttpClient;
use crate::invoke::{SpreadPusher, invoked_functions, project_functions_with};
use crate::recorder::Recorder;
use crate::redact::Redactor;
use crate::registry::{Disconnect, Registry};
use crate::routing::{Authorizer, IdentitySource, RouteConfig, RouteTable};
use crate::serve::{ServeLimits, serve};
use crate::state::GatewayState;
use crate::{http_api, inspector, management, websocket};
use aws_config::BehaviorVersion;
use aws_sdk_apigatewaymanagement::config::SharedHttpClient;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::Layer;
use tower::util::MapRequestLayer;
use tower_http::trace::TraceLayer;
use ws_bridge::auth::TokenVerifier;
use ws_bridge::store::table::TableDefinition;
use ws_bridge::webhooks::local::LocalWebhooks;
use ws_bridge::webhooks::{NoWebhooks, WebhookSink};
use ws_bridge::{
    ApiGatewayPusher, ChannelHistory, ConnectionStore, DynamoDbHistory, DynamoDbStore,
    InMemoryHistory, InMemoryStore, MessagePusher,
};

/// A gateway serving in the background. Dropping it stops the server.
pub struct RunningGateway {
    addr: SocketAddr,
    state: Arc<GatewayState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    webhooks: Option<Arc<LocalWebhooks>>,
}

impl RunningGateway {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where clients connect: `ws://host:port/{stage}`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.state.config.stage)
    }

    /// The stage's HTTP base: the HTTP routes live below it, and it is the management endpoint
    /// (`AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`).
    pub fn http_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.state.config.stage)
    }

    /// The inspector's page, unless `--no-inspector`.
    pub fn inspector_url(&self) -> Option<String> {
        (!self.state.config.no_inspector).then(|| format!("http://{}/", self.addr))
    }

    /// The store the in-process handlers use.
    pub fn store(&self) -> Arc<dyn ConnectionStore> {
        Arc::clone(&self.state.store)
    }

    /// Sockets currently open.
    pub fn open_connections(&self) -> usize {
        self.state.registry.len()
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.state.config
    }

    /// The webhook delivery totals (delivered, retried, dead, dropped, pending), as `/stats`
    /// shows them; `None` with webhooks off.
    pub fn webhook_counters(&self) -> Option<serde_json::Value> {
        self.webhooks.as_ref().and_then(|w| w.counters())
    }

    /// Removes the stored connections past their expiry now, as the periodic sweep does (the
    /// local model of DynamoDB's TTL), each making an expired `client.disconnected`. Returns how
    /// many; 0 with webhooks off, where nothing sweeps.
    pub async fn expire_connections(&self) -> Result<usize, GatewayError> {
        match &self.webhooks {
            Some(webhooks) => Ok(webhooks.sweep_expired().await?),
            None => Ok(0),
        }
    }

    /// Stops accepting, closes every socket with 1001 `Going away` (running `$disconnect`), and
    /// waits briefly for in-flight requests (and webhooks, at most 5 s).
    pub async fn shutdown(mut self) {
        // Inspector feeds never end by themselves; they would hold the server open.
        self.state.inspector.stop_feeds();
        if let Some(webhooks) = &self.webhooks {
            webhooks.server_status("stopping", &self.http_url());
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        for connection in self.state.registry.drain() {
            connection
                .close(Disconnect {
                    status_code: 1001,
                    reason: "Going away".into(),
                })
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.server).await;
        if let Some(webhooks) = &self.webhooks {
            webhooks.flush(Duration::from_secs(5)).await;
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the gateway with the project's own functions and routes.
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let store: Arc<dyn ConnectionStore> = match config.store {
        StoreKind::Memory => Arc::new(InMemoryStore::new()),
        StoreKind::Dynamodb => Arc::new(dynamodb_store(&config).await?),
    };
    let settings = config.settings();
    // The history matching the store, only when some channel has history.
    let history: Option<Arc<dyn ChannelHistory>> = match config.store {
        _ if !settings.history.enabled() => None,
        StoreKind::Memory => Some(Arc::new(InMemoryHistory::new(&settings.history))),
        StoreKind::Dynamodb => Some(Arc::new(dynamodb_history(&config).await?)),
    };
    let route_config = config
        .routes
        .as_deref()
        .map(RouteConfig::load)
        .transpose()?;
    let invoke_endpoint = config.invoke_endpoint.clone();
    let verifier = TokenVerifier::from_env().await?.map(Arc::new);
    let use_authorizer = config.use_authorizer;
    let webhook_settings = config
        .webhook_settings()
        .map_err(|err| GatewayError::Webhooks(err.to_string()))?;
    let (store, webhooks) = match webhook_settings.deliverer()? {
        Some(deliverer) => {
            let (observed, webhooks) = LocalWebhooks::start(
                store,
                deliverer,
                webhook_settings.events.clone(),
                webhook_settings.stats_interval_secs,
                webhook_settings.queue_capacity,
            );
            (observed, Some(webhooks))
        }
        None => (store, None),
    };
    let sink: Arc<dyn WebhookSink> = match &webhooks {
        Some(webhooks) => Arc::clone(webhooks) as Arc<dyn WebhookSink>,
        None => Arc::new(NoWebhooks),
    };
    if use_authorizer && verifier.is_none() && invoke_endpoint.is_none() {
        return Err(GatewayError::Route {
            route: "$connect".into(),
            reason: "--use-authorizer needs JWT_SECRET, JWT_JWKS_URL or JWT_JWKS_FILE".into(),
        });
    }
    let mut gateway = start_with(config, |endpoint| {
        let pusher = endpoint.functions_pusher(settings.broadcast_max_attempts);
        let functions = match &invoke_endpoint {
            Some(endpoint) => invoked_functions(endpoint),
            None => project_functions_with(
                Arc::clone(&store),
                history,
                pusher,
                settings,
                verifier,
                sink,
            ),
        };
        let mut routes = match route_config {
            Some(route_config) => route_config.into_table(&functions)?,
            None => functions.default_routes(),
        };
        if use_authorizer {
            routes.authorizer = Some(Authorizer {
                function: Arc::clone(&functions.ws_authorizer),
                identity_sources: vec![IdentitySource::QueryString("token".into())],
            });
        }
        Ok((store, routes))
    })
    .await?;
    if let Some(webhooks) = &webhooks {
        webhooks.server_status("starting", &gateway.http_url());
    }
    gateway.webhooks = webhooks;
    Ok(gateway)
}

/// The DynamoDB store for `--store dynamodb`, its table created if missing. Against a local
/// endpoint, fixed credentials and region: DynamoDB Local keeps one database per access key, so
/// every tool that talks to it must use the same one.
pub async fn dynamodb_store(config: &GatewayConfig) -> Result<DynamoDbStore, GatewayError> {
    let sdk_config = dynamodb_sdk_config(config).await;
    let table = match &config.connections_table {
        Some(table) => table.clone(),
        None => TableDefinition::connections()?.default_table_name,
    };
    let store = DynamoDbStore::new(DynamoDbStore::client(&sdk_config), table);
    store.create_table_if_missing().await?;
    Ok(store)
}

/// The DynamoDB history for `--store dynamodb` with `--history-channels`, on
/// `--history-table` (created if missing). It survives a gateway restart.
pub async fn dynamodb_history(config: &GatewayConfig) -> Result<DynamoDbHistory, GatewayError> {
    let sdk_config = dynamodb_sdk_config(config).await;
    let history = DynamoDbHistory::new(
        DynamoDbStore::client(&sdk_config),
        &config.settings().history,
    );
    history.create_table_if_missing().await?;
    Ok(history)
}

async fn dynamodb_sdk_config(config: &GatewayConfig) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = &config.dynamodb_endpoint {
        loader = loader
            .endpoint_url(endpoint)
            .region(ws_bridge::local::region())
            .credentials_provider(ws_bridge::local::credentials());
    }
    loader.load().await
}

/// The gateway's own `@connections`, for the pushers of in-process functions.
pub struct LocalEndpoint {
    /// `http://host:port/{stage}`, known once the port is bound.
    pub url: String,
    /// Sends into the gateway's router without a socket.
    pub http_client: InProcessHttpClient,
}

impl LocalEndpoint {
    /// A pusher that goes through the real SDK into this gateway.
    pub fn pusher(&self) -> ApiGatewayPusher {
        ApiGatewayPusher::local_with_http_client(
            &self.url,
            SharedHttpClient::new(self.http_client.clone()),
        )
    }

    /// The in-process functions' pusher: [`Self::pusher`] with `BROADCAST_MAX_ATTEMPTS`, its
    /// sends spread over every worker thread.
    pub(crate) fn functions_pusher(&self, max_attempts: u32) -> Arc<dyn MessagePusher> {
        Arc::new(SpreadPusher::per_core(|_| {
            Arc::new(self.pusher().with_max_attempts(max_attempts))
        }))
    }
}

/// Starts the gateway with routes of the caller's choosing. `build` gets the gateway's own
/// management endpoint for the functions' pushers.
pub async fn start_with(
    config: GatewayConfig,
    build: impl FnOnce(&LocalEndpoint) -> Result<(Arc<dyn ConnectionStore>, RouteTable), GatewayError>,
) -> Result<RunningGateway, GatewayError> {
    let address = SocketAddr::new(config.host, config.port);
    let listener = bind_listener(address).map_err(|source| GatewayError::Bind {
        address: address.to_string(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        address: address.to_string(),
        source,
    })?;
    let endpoint = LocalEndpoint {
        url: format!("http://{addr}/{}", config.stage),
        http_client: InProcessHttpClient::default(),
    };
    let (store, routes) = build(&endpoint)?;

    let inspector = Recorder::new(
        !config.no_inspector,
        config.inspector_events,
        Redactor::new(&config.secret_headers),
    );
    let state = Arc::new(GatewayState {
        config,
        routes,
        registry: Registry::default(),
        store,
        inspector,
    });
    let actions = inspector::Actions::new(
        endpoint.pusher().client().clone(),
        endpoint.http_client.clone(),
        &state.config,
    );
    let router = router(Arc::clone(&state), Some(actions))?;
    endpoint.http_client.connect(router.clone());
    let app = MapRequestLayer::new(management::normalise_connections_path).layer(router);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let limits = ServeLimits {
        header_read_timeout: state.config.header_read_timeout(),
        max_pending_handshakes: state.config.max_pending_handshakes,
    };
    let server = tokio::spawn(serve(listener, app, limits, async {
        let _ = shutdown_rx.await;
    }));
    Ok(RunningGateway {
        addr,
        state,
        shutdown: Some(shutdown_tx),
        server,
        webhooks: None,
    })
}

/// Connections the kernel may hold complete but not yet accepted. `TcpListener::bind` asks for
/// 128, so a burst of clients (a reconnect storm, a load test) overflowed it and the SYNs beyond
/// were dropped, stalling those connects for seconds of retransmission. The kernel caps this at
/// `net.core.somaxconn` (4096 by default since Linux 5.4).
const LISTEN_BACKLOG: u32 = 4096;

fn bind_listener(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restart can bind while old sockets are in TIME_WAIT.
    // (On Windows the option would let another process steal the port.)
    if cfg!(unix) {
        socket.set_reuseaddr(true)?;
    }
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The stage's surfaces, each with its own routes, merged and layered here: the WebSocket
/// handshake and the HTTP API are traced; `@connections` is not (one call per recipient of a
/// broadcast, where a span each is measurable).
///
/// The inspector (given `actions`, and unless `--no-inspector`) adds its own routes outside the
/// stage and records the HTTP API's and `@connections`' calls.
fn router(
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
    let mut router = traced.merge(management_routes);
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
        routes,
        registry: Registry::default(),
        store: Arc::new(InMemoryStore::new()),
        inspector: Recorder::new(false, 0, Redactor::default()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Connections the kernel completes while the server has not accepted any yet: with
    /// tokio's default backlog of 128, the SYNs beyond it are dropped and those connects hang.
    /// Linux only: other kernels cap the backlog lower (macOS's `somaxconn` is 128).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_listener_queues_a_burst_of_1000_connections_before_any_accept() {
        const BURST: usize = 1000;
        let listener = bind_listener(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..BURST)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_secs(3),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut connected = Vec::new();
        for connect in connects {
            if let Ok(Ok(stream)) = connect.await.unwrap() {
                connected.push(stream);
            }
        }
        assert_eq!(connected.len(), BURST);
        drop(listener);
    }
}
