//! Start-up: one path for every source of routes. A [`Source`] (the project's own routes, a
//! `--routes` file, a Lambda Invoke API, or a SAM template) yields the functions and the route
//! table; the backends they run on ([`Backends`]: store, history, webhooks, token verifier,
//! settings) are built once, here, for all of them; then one listener serves the stage.

mod backends;
mod router;
mod source;
mod template;

pub use backends::{dynamodb_broadcasts, dynamodb_history, dynamodb_presence, dynamodb_store};
#[cfg(test)]
pub(crate) use router::in_memory_app;
pub use template::read_template;

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::invoke::SpreadPusher;
use crate::invoke::sdk_client::InProcessHttpClient;
use crate::net::{AllowedHosts, ServeLimits, bind_listener, default_max_pending_handshakes, serve};
use crate::recorder::Recorder;
use crate::recorder::redact::Redactor;
use crate::registry::{Disconnect, Registry};
use crate::routing::RouteTable;
use crate::state::GatewayState;
use crate::webhooks::LocalWebhooks;
use crate::{inspector, management};
use aws_sdk_apigatewaymanagement::config::SharedHttpClient;
use backends::Backends;
use source::Source;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::Layer;
use tower::util::MapRequestLayer;
use ws_bridge::settings::webhook::WebhookSettings;
use ws_bridge::webhooks::WebhookSink;
use ws_bridge::{ApiGatewayPusher, ConnectionStore, MessagePusher, Settings};

/// A gateway serving in the background. Dropping it stops the server.
pub struct RunningGateway {
    addr: SocketAddr,
    state: Arc<GatewayState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    webhooks: Option<Arc<LocalWebhooks>>,
    summary: Vec<(&'static str, String)>,
    /// The template's runtimes' private folder: removed with the gateway.
    runtime_dir: Option<tempfile::TempDir>,
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

    /// The inspector's page, unless `--no-inspector` (or, beyond loopback, without `--inspector`).
    pub fn inspector_url(&self) -> Option<String> {
        self.state
            .config
            .inspector_enabled()
            .then(|| format!("http://{}/", self.addr))
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

    /// The settings the project's functions run with (flags, then the template, then defaults).
    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    /// What is on, one line each (`store`, `routes`, `history`, `webhooks`, `HTTP API auth`,
    /// `tokens`), for the start-up banner.
    pub fn summary(&self) -> &[(&'static str, String)] {
        &self.summary
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
            Some(webhooks) => webhooks.sweep_expired().await.map_err(GatewayError::Store),
            None => Ok(0),
        }
    }

    /// Stops accepting, closes every socket with 1001 `Going away` (running `$disconnect`), and
    /// waits for the sockets and in-flight requests for at most [`SHUTDOWN_GRACE`], then for
    /// webhooks for at most [`WEBHOOK_FLUSH`]: whatever the clients do, it returns within their
    /// sum.
    pub async fn shutdown(mut self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        // Inspector feeds never end by themselves; they would hold the server open.
        self.state.inspector.stop_feeds();
        if let Some(webhooks) = &self.webhooks {
            webhooks.server_status("stopping", &self.http_url());
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // All at once and ahead of their queues: a stalled client's full queue holds no one up.
        let connections = self.state.registry.drain();
        for connection in &connections {
            connection.close_now(Disconnect {
                status_code: 1001,
                reason: "Going away".into(),
            });
        }
        let ended = futures::future::join_all(connections.iter().map(|c| c.ended()));
        let _ = tokio::time::timeout_at(deadline, ended).await;
        // Their `$disconnect`s run after the sockets are gone; cut short, they would leave rows.
        let _ = tokio::time::timeout_at(deadline, self.state.disconnects.idle()).await;
        let _ = tokio::time::timeout_at(deadline, &mut self.server).await;
        if let Some(webhooks) = &self.webhooks {
            webhooks.flush(WEBHOOK_FLUSH).await;
        }
    }
}

/// How long shutdown waits for the sockets to close and requests in flight to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long shutdown then waits for pending webhooks (with `--webhook-url`).
pub const WEBHOOK_FLUSH: Duration = Duration::from_secs(5);

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the gateway as its flags say: the source of the routes (`--template`, `--routes`,
/// `--invoke-endpoint`, else the project's own), with the backends built once for any of them.
/// What the chosen source cannot honour stops start-up with a message naming it.
pub async fn start(mut config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let source = Source::from_config(&config)?;
    if let Some(stage) = source.stage() {
        config.stage = stage.to_owned();
    }
    for line in source.not_emulated() {
        tracing::debug!("accepted, not emulated: {line}");
    }
    let environment = source.project_environment();
    let template = |name: &str| environment.get(name).cloned();
    let backends = Backends::build(&config, &template, source.runs_project_functions()).await?;
    let mut prepared = source.prepare(&config).await?;
    let runtime_dir = prepared.take_runtime_dir();
    let mut summary = prepared.summary(&config, &backends);
    let webhooks = backends.webhooks.clone();
    let mut gateway = serve_gateway(
        config,
        backends.settings.clone(),
        backends.webhook_settings.clone(),
        |endpoint| {
            let routes = prepared.routes(endpoint, &backends)?;
            Ok((Arc::clone(&backends.store), routes))
        },
    )
    .await?;
    if let Some(webhooks) = &webhooks {
        webhooks.server_status("starting", &gateway.http_url());
    }
    gateway.webhooks = webhooks;
    gateway.runtime_dir = runtime_dir;
    summary.insert(0, ("WebSocket", gateway.websocket_url()));
    gateway.summary = summary;
    Ok(gateway)
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

/// Starts the gateway with a store and routes of the caller's choosing, for tests that need a
/// shape no source gives (functions that panic or hang, recording functions). `build` gets the
/// gateway's own management endpoint for the functions' pushers. The settings shown are the
/// flags' alone.
pub async fn start_with(
    config: GatewayConfig,
    build: impl FnOnce(&LocalEndpoint) -> Result<(Arc<dyn ConnectionStore>, RouteTable), GatewayError>,
) -> Result<RunningGateway, GatewayError> {
    let none = |_: &str| None;
    let settings = config.settings(&none).map_err(GatewayError::Settings)?;
    let webhook_settings = config
        .webhook_settings(&none)
        .map_err(GatewayError::Settings)?;
    serve_gateway(config, settings, webhook_settings, build).await
}

async fn serve_gateway(
    config: GatewayConfig,
    settings: Settings,
    webhook_settings: WebhookSettings,
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
        config.inspector_enabled(),
        config.inspector_events,
        Redactor::new(&config.secret_headers),
    );
    let quotas = crate::quotas::Quotas::new(&config.quotas);
    let state = Arc::new(GatewayState {
        config,
        settings,
        webhook_settings,
        routes,
        registry: Registry::default(),
        store,
        inspector,
        quotas,
        disconnects: Default::default(),
    });
    let actions =
        inspector::Actions::new(endpoint.http_client.clone(), &state.config, &state.settings);
    let router = router::router(Arc::clone(&state), Some(actions))?;
    endpoint.http_client.connect(router.clone());
    let app = MapRequestLayer::new(management::normalise_connections_path).layer(router);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let limits = ServeLimits {
        header_read_timeout: state.config.header_read_timeout(),
        max_pending_handshakes: state
            .config
            .max_pending_handshakes
            .unwrap_or_else(default_max_pending_handshakes),
        hosts: state
            .config
            .check_stage_host
            .then(|| AllowedHosts::new(state.config.host, &state.config.allowed_hosts)),
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
        summary: Vec::new(),
        runtime_dir: None,
    })
}
