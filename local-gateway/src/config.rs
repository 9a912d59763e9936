//! The gateway's settings: the CLI's flags, each with an environment variable and a default.

use clap::{Parser, ValueEnum};
use std::net::IpAddr;
use std::time::Duration;

/// Which connection store the in-process handlers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Embedded, in this process: nothing to install, gone when the gateway stops.
    Memory,
    /// A DynamoDB table (DynamoDB Local with `--dynamodb-endpoint`), created if missing.
    Dynamodb,
}

/// A local emulator of an API Gateway WebSocket API, running ws-bridge's Lambda handlers.
#[derive(Clone, Debug, Parser)]
#[command(name = "local-gateway", version, about)]
pub struct GatewayConfig {
    /// Address to listen on. Keep the loopback default unless others must reach you.
    #[arg(long, env = "GATEWAY_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port for WebSocket clients, `@connections` and the HTTP routes (0 picks a free one).
    #[arg(long, env = "GATEWAY_PORT", default_value_t = 3001)]
    pub port: u16,

    /// Stage name: clients connect to `ws://host:port/{stage}`.
    #[arg(long, env = "GATEWAY_STAGE", default_value = "dev")]
    pub stage: String,

    /// The `apiId` put in events (10 lowercase alphanumerics on AWS).
    #[arg(long, env = "GATEWAY_API_ID", default_value = "wsbridge01")]
    pub api_id: String,

    /// Invoke the functions through a Lambda Invoke API at this endpoint (e.g. `cargo lambda
    /// watch`, http://127.0.0.1:9000) instead of in-process: each runs as its own process.
    #[arg(long, env = "GATEWAY_INVOKE_ENDPOINT")]
    pub invoke_endpoint: Option<String>,

    /// A JSON file with the route table (see `route_config`); default: the project's routes.
    #[arg(long, env = "GATEWAY_ROUTES")]
    pub routes: Option<std::path::PathBuf>,

    /// Connection store for the handlers.
    #[arg(long, env = "GATEWAY_STORE", value_enum, default_value = "memory")]
    pub store: StoreKind,

    /// DynamoDB endpoint for `--store dynamodb`, e.g. DynamoDB Local at http://127.0.0.1:8000.
    /// Unset: the AWS SDK's own resolution (real DynamoDB in your configured region).
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,

    /// Connections table for `--store dynamodb`.
    #[arg(
        long,
        env = "CONNECTIONS_TABLE",
        default_value = "ws-bridge-connections"
    )]
    pub connections_table: String,

    /// Close a connection after this many seconds without data in either direction (AWS: 600).
    #[arg(long, env = "GATEWAY_IDLE_TIMEOUT_SECS", default_value_t = 600)]
    pub idle_timeout_secs: u64,

    /// Close every connection this many seconds after it opened (AWS: 7200).
    #[arg(long, env = "GATEWAY_MAX_CONNECTION_SECS", default_value_t = 7200)]
    pub max_connection_secs: u64,

    /// How long an integration may run before the client gets a timeout (AWS: 29000, the maximum).
    #[arg(long, env = "GATEWAY_INTEGRATION_TIMEOUT_MS", default_value_t = 29_000)]
    pub integration_timeout_ms: u64,

    /// Count protocol pings as activity for the idle timeout. AWS does not (by every account in
    /// the reference), so it is off by default (checklist 59).
    #[arg(long, env = "GATEWAY_PINGS_ARE_ACTIVITY", default_value_t = false)]
    pub pings_are_activity: bool,

    /// Require `Authorization: Bearer <token>` on the HTTP routes, as the deployed API does
    /// (the handlers check it). Unset: the routes are open.
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// Refuse `@connections` requests that are not SigV4-signed for `execute-api` with 403, as
    /// AWS does (checklist 53). Off by default so that curl works locally.
    #[arg(long, env = "GATEWAY_REQUIRE_SIGV4", default_value_t = false)]
    pub require_sigv4: bool,

    /// Messages queued for one client before `@connections` answers 429 LimitExceededException.
    #[arg(long, env = "GATEWAY_CLIENT_QUEUE", default_value_t = 1024)]
    pub client_queue: usize,

    /// Let clients publish to channels they are in (`{"action":"publish",…}`); off by default,
    /// so only the backend publishes.
    #[arg(long, env = "CLIENT_PUBLISH", default_value_t = false)]
    pub client_publish: bool,

    /// How many channels one connection may be in (1 to 98).
    #[arg(long, env = "MAX_CHANNELS_PER_CONNECTION", default_value_t = 20,
          value_parser = clap::value_parser!(u16).range(1..=98))]
    pub max_channels_per_connection: u16,

    /// Put the `ws-authorizer` REQUEST authorizer in front of `$connect`, with the identity
    /// source `route.request.querystring.token` (needs `JWT_SECRET` or a JWKS).
    #[arg(long, env = "GATEWAY_USE_AUTHORIZER", default_value_t = false)]
    pub use_authorizer: bool,

    /// Open connections one authenticated user may hold; the next handshake gets 429.
    #[arg(long, env = "MAX_CONNECTIONS_PER_USER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_user: u32,

    /// Client messages a connection may send per window, as N/SECONDS (e.g. 20/10); beyond it
    /// an error frame, at twice it the connection is closed. Unset: no limit.
    #[arg(long, env = "MESSAGE_RATE_LIMIT")]
    pub message_rate_limit: Option<ws_bridge::settings::MessageRate>,
}

impl GatewayConfig {
    /// The defaults, as `local-gateway` with no flags would run, but on a free loopback port.
    pub fn on_free_port() -> Self {
        let mut config = Self::parse_from(["local-gateway"]);
        config.port = 0;
        config
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn max_connection_duration(&self) -> Duration {
        Duration::from_secs(self.max_connection_secs)
    }

    pub fn integration_timeout(&self) -> Duration {
        Duration::from_millis(self.integration_timeout_ms)
    }
}
