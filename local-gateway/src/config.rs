//! The gateway's settings: the CLI's flags, each with an environment variable and a default.
//! Clap reads the environment once, at start-up; the handlers' settings are built from these
//! flags ([`GatewayConfig::settings`]), with the defaults and parsers of [`ws_bridge::settings`],
//! so a value means the same here as in Lambda.

use clap::{Parser, ValueEnum};
use std::net::IpAddr;
use std::time::Duration;
use ws_bridge::Settings;
use ws_bridge::settings::webhook::{self as webhook, WebhookSettings};
use ws_bridge::settings::{
    self as shared, ChannelPatterns, HistorySettings, MessageRate, PresenceSettings,
};
use ws_bridge::webhooks::{EventFilter, WebhookSecret};

// clap's value parsers for the shared settings: the shared parsers, errors as text.
fn flag(raw: &str) -> Result<bool, String> {
    shared::parse_flag(raw)
}
fn positive(raw: &str) -> Result<usize, String> {
    shared::parse_positive(raw)
}
fn attempts(raw: &str) -> Result<u32, String> {
    shared::parse_attempts(raw)
}
fn max_channels(raw: &str) -> Result<usize, String> {
    shared::parse_max_channels(raw)
}
fn seconds(raw: &str) -> Result<u64, String> {
    shared::parse_seconds(raw)
}
fn channel_patterns(raw: &str) -> Result<ChannelPatterns, String> {
    shared::parse_channel_patterns(raw)
}
fn grace_seconds(raw: &str) -> Result<u64, String> {
    shared::parse_grace_seconds(raw)
}
fn webhook_url(raw: &str) -> Result<String, String> {
    webhook::parse_url(raw)
}
fn webhook_secret(raw: &str) -> Result<WebhookSecret, String> {
    webhook::parse_secret(raw)
}
fn webhook_events(raw: &str) -> Result<EventFilter, String> {
    webhook::parse_events(raw)
}
fn millis(raw: &str) -> Result<u64, String> {
    webhook::parse_millis(raw)
}
fn interval_seconds(raw: &str) -> Result<u64, String> {
    webhook::parse_interval_seconds(raw)
}
fn message_rate(raw: &str) -> Result<RateLimit, String> {
    match raw.trim() {
        "off" => Ok(RateLimit(None)),
        rate => rate
            .parse::<MessageRate>()
            .map(|rate| RateLimit(Some(rate)))
            .map_err(|err| err.to_string()),
    }
}

/// `--message-rate-limit`: a rate, or `off`, so that a flag can lift a limit a template sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit(pub Option<MessageRate>);

/// The inspector's ring: minutes of a small app's traffic in a few MB (at most 32 KB a record).
pub(crate) const DEFAULT_INSPECTOR_EVENTS: usize = 2000;

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
    #[arg(
        help_heading = "Listener",
        long,
        env = "GATEWAY_HOST",
        default_value = "127.0.0.1"
    )]
    pub host: IpAddr,

    /// Port for WebSocket clients, `@connections` and the HTTP routes (0 picks a free one).
    #[arg(
        help_heading = "Listener",
        long,
        env = "GATEWAY_PORT",
        default_value_t = 3001
    )]
    pub port: u16,

    /// Stage name: clients connect to `ws://host:port/{stage}`.
    #[arg(
        help_heading = "Listener",
        long,
        env = "GATEWAY_STAGE",
        default_value = "dev"
    )]
    pub stage: String,

    /// The `apiId` put in events (10 lowercase alphanumerics on AWS).
    #[arg(
        help_heading = "Listener",
        long,
        env = "GATEWAY_API_ID",
        default_value = "wsbridge01"
    )]
    pub api_id: String,

    /// Invoke the functions through a Lambda Invoke API at this endpoint (e.g. `cargo lambda
    /// watch`, http://127.0.0.1:9000) instead of in-process: each runs as its own process.
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_INVOKE_ENDPOINT"
    )]
    pub invoke_endpoint: Option<String>,

    /// A JSON file with the route table (see `route_config`); default: the project's routes.
    #[arg(help_heading = "Routes and functions", long, env = "GATEWAY_ROUTES")]
    pub routes: Option<std::path::PathBuf>,

    /// A SAM (or CloudFormation) template to serve: its WebSocket API's routes, authorizer and
    /// stage, its functions run as Lambda runs them, its DynamoDB tables created on
    /// `--dynamodb-endpoint`. See README "Run your own SAM WebSocket app".
    #[arg(help_heading = "Routes and functions", long, env = "GATEWAY_TEMPLATE")]
    pub template: Option<std::path::PathBuf>,

    /// Template parameters, as `Name=Value` or SAM CLI's `ParameterKey=Name,ParameterValue=Value`.
    #[arg(help_heading = "Routes and functions", long, num_args = 1.., requires = "template")]
    pub parameter_overrides: Vec<String>,

    /// SAM CLI's `--env-vars` JSON: `{"Parameters": {...}}` for every function, or
    /// `{"<FunctionLogicalId>": {...}}` for one.
    #[arg(help_heading = "Routes and functions", long, requires = "template")]
    pub env_vars: Option<std::path::PathBuf>,

    /// With `--template`, run every function as a process, even the project's own (by default
    /// ws-bridge's functions run in-process, the faster way; see README).
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_PROCESSES",
        default_value_t = false,
        requires = "template"
    )]
    pub processes: bool,

    /// Cargo profile the template's rust-cargolambda functions are built with.
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_CARGO_PROFILE",
        default_value = "dev"
    )]
    pub cargo_profile: String,

    /// Python for python3.x functions; if it cannot import awslambdaric and boto3, they are
    /// installed once (pinned) into the per-user cache.
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_PYTHON",
        default_value = "python3"
    )]
    pub python: String,

    /// Node.js for nodejs functions.
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_NODE",
        default_value = "node"
    )]
    pub node: String,

    /// The node_modules with the AWS SDK for JavaScript v3 that Node functions may import
    /// (default: the pinned SDK, installed once with npm into the per-user cache).
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_NODE_MODULES"
    )]
    pub node_modules: Option<std::path::PathBuf>,

    /// Restart a Python or Node function's process when a file under its CodeUri changes.
    #[arg(help_heading = "Routes and functions", long, env = "GATEWAY_HOT_RELOAD", default_value_t = true, action = clap::ArgAction::Set)]
    pub hot_reload: bool,

    /// With `--template`: at most this many processes of one function at once, for functions
    /// without ReservedConcurrentExecutions (default: the CPU count, at least 2); further
    /// invocations wait for a free one.
    #[arg(help_heading = "Routes and functions", long, env = "GATEWAY_MAX_CONCURRENCY", value_parser = positive)]
    pub max_concurrency: Option<usize>,

    /// With `--template`: stop a function's process between invocations (SIGSTOP), as Lambda
    /// freezes it, so that work its handler left running waits for the next invocation; false
    /// keeps processes running (e.g. with a debugger attached).
    #[arg(help_heading = "Routes and functions", long, env = "GATEWAY_FREEZE", default_value_t = true, action = clap::ArgAction::Set)]
    pub freeze: bool,

    /// Connection store for the handlers.
    #[arg(
        help_heading = "Store",
        long,
        env = "GATEWAY_STORE",
        value_enum,
        default_value = "memory"
    )]
    pub store: StoreKind,

    /// DynamoDB endpoint for `--store dynamodb`, e.g. DynamoDB Local at http://127.0.0.1:8000.
    /// Unset: the AWS SDK's own resolution (real DynamoDB in your configured region).
    #[arg(help_heading = "Store", long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,

    /// Connections table for `--store dynamodb` (default: the name in
    /// `infra/connections-table.json`, `ws-bridge-connections`).
    #[arg(help_heading = "Store", long, env = "CONNECTIONS_TABLE")]
    pub connections_table: Option<String>,

    /// Close a connection after this many seconds without data in either direction (AWS: 600).
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_IDLE_TIMEOUT_SECS",
        default_value_t = 600
    )]
    pub idle_timeout_secs: u64,

    /// Close every connection this many seconds after it opened (AWS: 7200).
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_MAX_CONNECTION_SECS",
        default_value_t = 7200
    )]
    pub max_connection_secs: u64,

    /// Close a connection (reported to `$disconnect` as 1006, like a dropped one) when one write
    /// to it makes no progress for this many seconds: the client stopped reading. Never more
    /// than the idle timeout, so a client that stops reading is closed within it.
    #[arg(help_heading = "Connections (API Gateway's rules)", long, env = "GATEWAY_WRITE_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = 30)]
    pub write_timeout_secs: u64,

    /// How long an integration may run before the client gets a timeout (AWS: 29000, the maximum).
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_INTEGRATION_TIMEOUT_MS",
        default_value_t = 29_000
    )]
    pub integration_timeout_ms: u64,

    /// Close a connection that has not sent a complete request head (a handshake's or an HTTP
    /// request's headers) within this many milliseconds, and a keep-alive connection idle that
    /// long between requests.
    #[arg(help_heading = "Listener", long, env = "GATEWAY_HEADER_READ_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// Connections accepted whose first request head is still unread. At the cap the oldest
    /// of them is closed to make room, so half-sent handshakes (slowloris) never keep a new
    /// client out. Default: half the file descriptors the process may open (its soft limit,
    /// raised to the hard limit at start-up), at least 256.
    #[arg(help_heading = "Listener", long, env = "GATEWAY_MAX_PENDING_HANDSHAKES", value_parser = positive)]
    pub max_pending_handshakes: Option<usize>,

    /// Count protocol pings as activity for the idle timeout. AWS does not (by every account in
    /// the reference), so it is off by default (checklist 59).
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_PINGS_ARE_ACTIVITY",
        default_value_t = false
    )]
    pub pings_are_activity: bool,

    /// Require `Authorization: Bearer <token>` on the HTTP routes, as the deployed API does
    /// (the handlers check it). Unset: the routes are open.
    #[arg(
        help_heading = "The functions' settings (given here, they win over the template's)",
        long,
        env = "API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,

    /// Refuse `@connections` requests that are not SigV4-signed for `execute-api` with 403, as
    /// AWS does (checklist 53). Off by default so that curl works locally.
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_REQUIRE_SIGV4",
        default_value_t = false
    )]
    pub require_sigv4: bool,

    /// Messages queued for one client before `@connections` answers 429 LimitExceededException.
    #[arg(
        help_heading = "Connections (API Gateway's rules)",
        long,
        env = "GATEWAY_CLIENT_QUEUE",
        default_value_t = 1024
    )]
    pub client_queue: usize,

    /// Let clients publish to channels they are in (`{"action":"publish",…}`); default false:
    /// only the backend publishes. `--client-publish` alone means true; the variable takes
    /// true/false or 1/0.
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "CLIENT_PUBLISH", value_parser = flag, num_args = 0..=1,
          default_missing_value = "true")]
    pub client_publish: Option<bool>,

    /// How many channels one connection may be in (default 20; at most 98: one DynamoDB
    /// transaction).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "MAX_CHANNELS_PER_CONNECTION", value_parser = max_channels)]
    pub max_channels_per_connection: Option<usize>,

    /// Put the `ws-authorizer` REQUEST authorizer in front of `$connect`, with the identity
    /// source `route.request.querystring.token` (needs `JWT_SECRET` or a JWKS).
    #[arg(
        help_heading = "Routes and functions",
        long,
        env = "GATEWAY_USE_AUTHORIZER",
        default_value_t = false
    )]
    pub use_authorizer: bool,

    /// Open connections one authenticated user may hold; the next handshake gets 429 (default 5).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "MAX_CONNECTIONS_PER_USER", value_parser = positive)]
    pub max_connections_per_user: Option<usize>,

    /// Client messages a connection may send per window, as N/SECONDS (e.g. 20/10); beyond it
    /// an error frame, at twice it the connection is closed. `off`, or unset: no limit
    /// (ws-bridge's template.yaml sets 20/10).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "MESSAGE_RATE_LIMIT", value_parser = message_rate)]
    pub message_rate_limit: Option<RateLimit>,

    /// PostToConnection calls in flight at once during a broadcast (default 64).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_CONCURRENCY", value_parser = positive)]
    pub broadcast_concurrency: Option<usize>,

    /// Connection ids fetched per store page during a broadcast (default 1000).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_PAGE_SIZE", value_parser = positive)]
    pub broadcast_page_size: Option<usize>,

    /// Turn off the inspector: no page at `/`, no `/_inspector/…` API, nothing recorded.
    #[arg(
        help_heading = "Inspector",
        long,
        env = "GATEWAY_NO_INSPECTOR",
        default_value_t = false
    )]
    pub no_inspector: bool,

    /// Serve the inspector even though `--host` is not a loopback address (it is off there by
    /// default: it shows every frame and can send, broadcast and disconnect). Its actions then
    /// need the API token when one is set, as they always do.
    #[arg(
        help_heading = "Inspector",
        long,
        env = "GATEWAY_INSPECTOR",
        default_value_t = false,
        conflicts_with = "no_inspector"
    )]
    pub inspector: bool,

    /// A host name the inspector answers to, besides the loopback names and addresses and
    /// `--host` itself (requests naming any other `Host` are refused: DNS rebinding). Repeat the
    /// flag, or separate names with commas in the variable.
    #[arg(
        help_heading = "Inspector",
        long = "allowed-host",
        env = "GATEWAY_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Apply the inspector's `Host` allow-list to the stage's routes too (the handshake,
    /// `@connections`, the HTTP API): 403 for any other `Host`.
    #[arg(
        help_heading = "Listener",
        long,
        env = "GATEWAY_CHECK_STAGE_HOST",
        default_value_t = false
    )]
    pub check_stage_host: bool,

    /// How many of the latest events (handshakes, frames, invocations, calls, closes) the
    /// inspector keeps; older ones are dropped, and a feed reader that falls behind is told how
    /// many it missed.
    #[arg(help_heading = "Inspector", long, env = "GATEWAY_INSPECTOR_EVENTS", value_parser = positive,
          default_value_t = DEFAULT_INSPECTOR_EVENTS)]
    pub inspector_events: usize,

    /// A request header whose value is a credential, masked wherever the gateway shows requests
    /// (the request log and the inspector), as `Authorization` and the `token` query parameter
    /// always are. Repeat the flag, or list names separated by commas in the variable.
    #[arg(
        help_heading = "Inspector",
        long = "secret-header",
        env = "GATEWAY_SECRET_HEADERS",
        value_delimiter = ','
    )]
    pub secret_headers: Vec<String>,

    /// Attempts per PostToConnection, retried with backoff on 429 and transient errors (default 5).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_MAX_ATTEMPTS", value_parser = attempts)]
    pub broadcast_max_attempts: Option<u32>,

    /// Channels with history (sequence numbers, replay on resume), comma-separated: `*` for
    /// every channel, `prefix*` (e.g. `post:*`), or exact names. Unset: none.
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "HISTORY_CHANNELS", value_parser = channel_patterns)]
    pub history_channels: Option<ChannelPatterns>,

    /// How long a history channel keeps a message, in seconds (default 300).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "HISTORY_TTL_SECONDS", value_parser = seconds)]
    pub history_ttl_seconds: Option<u64>,

    /// How many messages a history channel keeps at most (default 300).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "HISTORY_MAX_MESSAGES", value_parser = positive)]
    pub history_max_messages: Option<usize>,

    /// The DynamoDB history table for `--store dynamodb`, created if missing (default
    /// `ws-bridge-history`).
    #[arg(
        help_heading = "The functions' settings (given here, they win over the template's)",
        long,
        env = "HISTORY_TABLE"
    )]
    pub history_table: Option<String>,

    /// Channels with presence (members, `presence.join`/`presence.leave`), comma-separated
    /// patterns as for --history-channels. Unset: none.
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "PRESENCE_CHANNELS", value_parser = channel_patterns)]
    pub presence_channels: Option<ChannelPatterns>,

    /// How long a user's last connection must have been gone before `presence.leave`, in
    /// seconds, 0 to 900 (default 5).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "PRESENCE_LEAVE_GRACE_SECONDS", value_parser = grace_seconds)]
    pub presence_leave_grace_seconds: Option<u64>,

    /// The token claim (kept with JWT_CLAIMS) a presence member's `info` is taken from, e.g.
    /// `name`. Unset: no info.
    #[arg(
        help_heading = "The functions' settings (given here, they win over the template's)",
        long,
        env = "PRESENCE_INFO_CLAIM"
    )]
    pub presence_info_claim: Option<String>,

    /// The DynamoDB presence table for `--store dynamodb`, created if missing (default
    /// `ws-bridge-presence`).
    #[arg(
        help_heading = "The functions' settings (given here, they win over the template's)",
        long,
        env = "PRESENCE_TABLE"
    )]
    pub presence_table: Option<String>,
    /// Send webhooks (Standard Webhooks, signed) to this URL; unset: no webhooks.
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_URL", value_parser = webhook_url)]
    pub webhook_url: Option<String>,

    /// The signing secret, `whsec_` + base64 (required with --webhook-url).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_SECRET", value_parser = webhook_secret, hide_env_values = true)]
    pub webhook_secret: Option<WebhookSecret>,

    /// Comma-separated event types to send (default: all).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_EVENTS", value_parser = webhook_events)]
    pub webhook_events: Option<EventFilter>,

    /// Attempts per webhook before it is recorded as dead (default 5).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_MAX_ATTEMPTS", value_parser = attempts)]
    pub webhook_max_attempts: Option<u32>,

    /// One webhook attempt's time limit, in milliseconds (default 5000).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_TIMEOUT_MS", value_parser = millis)]
    pub webhook_timeout_ms: Option<u64>,

    /// The first retry's delay in milliseconds, doubling per attempt (capped at 60 s, jittered;
    /// default 1000).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_RETRY_BASE_MS", value_parser = millis)]
    pub webhook_retry_base_ms: Option<u64>,

    /// Period of the `broadcast.stats` webhook in seconds (0: never; default 60).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_STATS_INTERVAL_SECS", value_parser = interval_seconds)]
    pub webhook_stats_interval_secs: Option<u64>,

    /// Webhook events queued before new ones are dropped, counted in /stats (default 10000).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "WEBHOOK_QUEUE_CAPACITY", value_parser = positive)]
    pub webhook_queue_capacity: Option<usize>,

    /// `--aws-quotas` and its numbers.
    #[command(flatten)]
    pub quotas: crate::flag_groups::QuotaFlags,

    /// The asynchronous broadcasts' settings.
    #[command(flatten)]
    pub async_broadcasts: crate::flag_groups::AsyncBroadcastFlags,
}

impl GatewayConfig {
    /// The defaults, as `local-gateway` with no flags would run, but on a free loopback port.
    pub fn on_free_port() -> Self {
        let mut config = Self::parse_from(["local-gateway"]);
        config.port = 0;
        config
    }

    /// How many processes of one template function may run at once, unless its
    /// `ReservedConcurrentExecutions` says: enough for parallel work, few enough to keep a
    /// laptop responsive.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
        })
    }

    /// The handlers' settings: each one given to the gateway (a flag, or its environment
    /// variable) wins; the others come from `template`, the variables the template gives the
    /// project's functions (nothing without a template), then the shared defaults. The same
    /// rule for every setting, so `make run` behaves as the template deployed would.
    pub fn settings(
        &self,
        template: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ws_bridge::Error> {
        let base = Settings::from_lookup(template)?;
        Ok(Settings {
            broadcast_concurrency: self
                .broadcast_concurrency
                .unwrap_or(base.broadcast_concurrency),
            broadcast_page_size: self.broadcast_page_size.unwrap_or(base.broadcast_page_size),
            broadcast_max_attempts: self
                .broadcast_max_attempts
                .unwrap_or(base.broadcast_max_attempts),
            api_token: match &self.api_token {
                Some(token) => Some(token.clone()).filter(|token| !token.is_empty()),
                None => base.api_token,
            },
            max_channels_per_connection: self
                .max_channels_per_connection
                .unwrap_or(base.max_channels_per_connection),
            client_publish: self.client_publish.unwrap_or(base.client_publish),
            max_connections_per_user: self
                .max_connections_per_user
                .unwrap_or(base.max_connections_per_user),
            message_rate: match self.message_rate_limit {
                Some(RateLimit(rate)) => rate,
                None => base.message_rate,
            },
            history: HistorySettings {
                channels: self
                    .history_channels
                    .clone()
                    .unwrap_or(base.history.channels),
                ttl_seconds: self.history_ttl_seconds.unwrap_or(base.history.ttl_seconds),
                max_messages: self
                    .history_max_messages
                    .unwrap_or(base.history.max_messages),
                table: self.history_table.clone().unwrap_or(base.history.table),
            },
            presence: PresenceSettings {
                channels: self
                    .presence_channels
                    .clone()
                    .unwrap_or(base.presence.channels),
                leave_grace_seconds: self
                    .presence_leave_grace_seconds
                    .unwrap_or(base.presence.leave_grace_seconds),
                info_claim: self
                    .presence_info_claim
                    .clone()
                    .filter(|claim| !claim.trim().is_empty())
                    .or(base.presence.info_claim),
                table: self.presence_table.clone().unwrap_or(base.presence.table),
                // The gateway delays leaves in-process, as it dispatches webhooks itself.
                leave_queue_url: None,
            },
        })
    }

    /// The webhook settings, by the rule of [`Self::settings`]; a URL without a secret is
    /// refused.
    pub fn webhook_settings(
        &self,
        template: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WebhookSettings, ws_bridge::Error> {
        let gateway_url = self.webhook_url.is_some();
        let base = WebhookSettings::read(|name| match name {
            // A URL given to the gateway is signed with a secret given to it, never the template's.
            "WEBHOOK_SECRET" if gateway_url => None,
            _ => template(name),
        })?;
        WebhookSettings {
            url: self.webhook_url.clone().or(base.url),
            secret: self.webhook_secret.clone().or(base.secret),
            events: self.webhook_events.clone().unwrap_or(base.events),
            max_attempts: self.webhook_max_attempts.unwrap_or(base.max_attempts),
            timeout_ms: self.webhook_timeout_ms.unwrap_or(base.timeout_ms),
            retry_base_ms: self.webhook_retry_base_ms.unwrap_or(base.retry_base_ms),
            stats_interval_secs: self
                .webhook_stats_interval_secs
                .unwrap_or(base.stats_interval_secs),
            queue_capacity: self.webhook_queue_capacity.unwrap_or(base.queue_capacity),
        }
        .validated()
    }

    /// The handlers' settings given to the gateway, by flag: what functions run as processes
    /// cannot receive (they read the template's variables, as on Lambda).
    pub(crate) fn given_handler_settings(&self) -> Vec<&'static str> {
        let given = [
            (
                "--broadcast-concurrency",
                self.broadcast_concurrency.is_some(),
            ),
            ("--broadcast-page-size", self.broadcast_page_size.is_some()),
            (
                "--broadcast-max-attempts",
                self.broadcast_max_attempts.is_some(),
            ),
            ("--api-token", self.api_token.is_some()),
            (
                "--max-channels-per-connection",
                self.max_channels_per_connection.is_some(),
            ),
            ("--client-publish", self.client_publish.is_some()),
            (
                "--max-connections-per-user",
                self.max_connections_per_user.is_some(),
            ),
            ("--message-rate-limit", self.message_rate_limit.is_some()),
            ("--history-channels", self.history_channels.is_some()),
            ("--history-ttl-seconds", self.history_ttl_seconds.is_some()),
            (
                "--history-max-messages",
                self.history_max_messages.is_some(),
            ),
            ("--history-table", self.history_table.is_some()),
            ("--presence-channels", self.presence_channels.is_some()),
            (
                "--presence-leave-grace-seconds",
                self.presence_leave_grace_seconds.is_some(),
            ),
            ("--presence-info-claim", self.presence_info_claim.is_some()),
            ("--presence-table", self.presence_table.is_some()),
            ("--webhook-url", self.webhook_url.is_some()),
            ("--webhook-secret", self.webhook_secret.is_some()),
            ("--webhook-events", self.webhook_events.is_some()),
            (
                "--webhook-max-attempts",
                self.webhook_max_attempts.is_some(),
            ),
            ("--webhook-timeout-ms", self.webhook_timeout_ms.is_some()),
            (
                "--webhook-retry-base-ms",
                self.webhook_retry_base_ms.is_some(),
            ),
            (
                "--webhook-stats-interval-secs",
                self.webhook_stats_interval_secs.is_some(),
            ),
            (
                "--webhook-queue-capacity",
                self.webhook_queue_capacity.is_some(),
            ),
        ];
        given
            .into_iter()
            .filter(|(_, given)| *given)
            .map(|(flag, _)| flag)
            .chain(self.async_broadcasts.given())
            .collect()
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn max_connection_duration(&self) -> Duration {
        Duration::from_secs(self.max_connection_secs)
    }

    /// How long one write may make no progress: `--write-timeout-secs`, at most the idle
    /// timeout.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs.min(self.idle_timeout_secs.max(1)))
    }

    /// Whether the gateway listens on a loopback address only.
    pub fn is_loopback(&self) -> bool {
        self.host.is_loopback()
    }

    /// The inspector serves and records: unless `--no-inspector`, and beyond loopback only
    /// with `--inspector`.
    pub fn inspector_enabled(&self) -> bool {
        !self.no_inspector && (self.is_loopback() || self.inspector)
    }

    /// Said at start-up when the gateway listens beyond loopback: what anyone who can reach
    /// the address gets.
    pub fn exposure_warnings(&self, api_token_set: bool) -> Vec<String> {
        if self.is_loopback() {
            return Vec::new();
        }
        let host = self.host;
        let mut warnings = vec![format!(
            "listening on {host}, beyond loopback: anyone who can reach it can open WebSockets \
             (the stage's authorizer applies, if any) and call the HTTP routes"
        )];
        warnings.push(if self.require_sigv4 {
            "@connections requires a SigV4 signature for execute-api (the signature itself is \
             not verified: there are no keys here)"
                .to_owned()
        } else {
            "@connections is open: anyone can send to, read and close any connection \
             (--require-sigv4 asks for a signature)"
                .to_owned()
        });
        if !api_token_set {
            warnings.push(
                "no API token (--api-token, or the template's ApiToken): the HTTP routes, \
                 broadcasts included, are open"
                    .to_owned(),
            );
        }
        warnings.push(if self.inspector_enabled() {
            "the inspector is on (--inspector): it shows every frame and invocation to anyone \
             reaching an allowed Host name, and its actions need the API token when one is set"
                .to_owned()
        } else {
            "the inspector is off (--inspector turns it on)".to_owned()
        });
        warnings
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn integration_timeout(&self) -> Duration {
        Duration::from_millis(self.integration_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_template(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_defaults_are_the_shared_settings_defaults() {
        let config = GatewayConfig::parse_from(["local-gateway"]);
        assert_eq!(config.settings(&no_template).unwrap(), Settings::default());
    }

    #[test]
    fn a_setting_given_to_the_gateway_wins_over_the_template_which_wins_over_the_default() {
        let template = |name: &str| match name {
            "HISTORY_CHANNELS" => Some("post:*".to_owned()),
            "API_TOKEN" => Some("from-the-template".to_owned()),
            "MESSAGE_RATE_LIMIT" => Some("20/10".to_owned()),
            "BROADCAST_CONCURRENCY" => Some("8".to_owned()),
            _ => None,
        };
        let config = GatewayConfig::parse_from([
            "local-gateway",
            "--api-token",
            "from-a-flag",
            "--message-rate-limit",
            "off",
        ]);
        let settings = config.settings(&template).unwrap();
        assert_eq!(settings.api_token.as_deref(), Some("from-a-flag"));
        assert_eq!(
            settings.message_rate, None,
            "`off` lifts the template's limit"
        );
        assert!(settings.history.applies_to("post:1"), "the template's");
        assert_eq!(settings.broadcast_concurrency, 8, "the template's");
        assert_eq!(
            settings.broadcast_page_size,
            Settings::default().broadcast_page_size,
            "the default"
        );
        // An empty token given to the gateway means open, whatever the template says.
        let open = GatewayConfig::parse_from(["local-gateway", "--api-token", ""]);
        assert_eq!(open.settings(&template).unwrap().api_token, None);
    }

    #[test]
    fn a_webhook_url_given_to_the_gateway_is_never_signed_with_the_templates_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let template = |name: &str| match name {
            "WEBHOOK_URL" => Some("http://127.0.0.1:9/template".to_owned()),
            "WEBHOOK_SECRET" => Some(secret.to_owned()),
            "WEBHOOK_TIMEOUT_MS" => Some("700".to_owned()),
            _ => None,
        };
        let from_template = GatewayConfig::parse_from(["local-gateway"])
            .webhook_settings(&template)
            .unwrap();
        assert_eq!(
            from_template.url.as_deref(),
            Some("http://127.0.0.1:9/template")
        );
        assert_eq!(from_template.timeout_ms, 700);
        let unsigned = GatewayConfig::parse_from([
            "local-gateway",
            "--webhook-url",
            "http://127.0.0.1:9/flag",
        ]);
        assert!(unsigned.webhook_settings(&template).is_err());
        let signed = GatewayConfig::parse_from([
            "local-gateway",
            "--webhook-url",
            "http://127.0.0.1:9/flag",
            "--webhook-secret",
            secret,
        ])
        .webhook_settings(&template)
        .unwrap();
        assert_eq!(signed.url.as_deref(), Some("http://127.0.0.1:9/flag"));
        assert_eq!(signed.timeout_ms, 700, "the rest still from the template");
    }

    #[test]
    fn client_publish_reads_as_the_lambdas_read_it() {
        // Before one parser served both, `CLIENT_PUBLISH=1` started a Lambda but not the gateway.
        for raw in ["1", "true", "TRUE", "0", "false", " 1 "] {
            let gateway = GatewayConfig::try_parse_from([
                "local-gateway",
                &format!("--client-publish={raw}"),
            ])
            .unwrap_or_else(|err| panic!("{raw:?}: {err}"));
            let lambda =
                Settings::from_lookup(|name| (name == "CLIENT_PUBLISH").then(|| raw.to_owned()))
                    .unwrap();
            assert_eq!(
                gateway.client_publish,
                Some(lambda.client_publish),
                "{raw:?}"
            );
        }
        let bare = GatewayConfig::try_parse_from(["local-gateway", "--client-publish"]).unwrap();
        assert_eq!(bare.client_publish, Some(true));
        assert!(GatewayConfig::try_parse_from(["local-gateway", "--client-publish=yes"]).is_err());
    }

    #[test]
    fn history_flags_read_as_the_lambdas_read_them() {
        let gateway = GatewayConfig::try_parse_from([
            "local-gateway",
            "--history-channels",
            "post:*,news",
            "--history-ttl-seconds",
            "5",
            "--history-max-messages",
            "7",
        ])
        .unwrap();
        let lambda = Settings::from_lookup(|name| match name {
            "HISTORY_CHANNELS" => Some("post:*,news".into()),
            "HISTORY_TTL_SECONDS" => Some("5".into()),
            "HISTORY_MAX_MESSAGES" => Some("7".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            gateway.settings(&no_template).unwrap().history,
            lambda.history
        );
        assert!(
            GatewayConfig::try_parse_from(["local-gateway", "--history-channels", "a b"]).is_err()
        );
        assert!(
            GatewayConfig::try_parse_from(["local-gateway", "--history-ttl-seconds", "0"]).is_err()
        );
    }

    #[test]
    fn webhook_defaults_are_the_shared_defaults_and_a_url_needs_a_secret() {
        let config = GatewayConfig::parse_from(["local-gateway"]);
        assert_eq!(
            config.webhook_settings(&no_template).unwrap(),
            WebhookSettings::from_lookup(|_| None).unwrap()
        );
        let unsigned =
            GatewayConfig::parse_from(["local-gateway", "--webhook-url", "http://127.0.0.1:9/"]);
        assert!(unsigned.webhook_settings(&no_template).is_err());
        assert!(
            GatewayConfig::try_parse_from(["local-gateway", "--webhook-secret", "nope"]).is_err()
        );
        assert!(
            GatewayConfig::try_parse_from(["local-gateway", "--webhook-events", "client.nope"])
                .is_err()
        );
    }

    #[test]
    fn max_channels_is_bounded_by_one_transaction() {
        assert!(
            GatewayConfig::try_parse_from(["local-gateway", "--max-channels-per-connection", "99"])
                .is_err()
        );
        let config =
            GatewayConfig::parse_from(["local-gateway", "--max-channels-per-connection", "98"]);
        assert_eq!(
            config
                .settings(&no_template)
                .unwrap()
                .max_channels_per_connection,
            98
        );
    }

    #[test]
    fn beyond_loopback_the_inspector_is_off_unless_asked_for_and_the_exposure_is_said() {
        let loopback = GatewayConfig::parse_from(["local-gateway"]);
        assert!(loopback.inspector_enabled());
        assert!(loopback.exposure_warnings(false).is_empty());
        let everywhere = GatewayConfig::parse_from(["local-gateway", "--host", "0.0.0.0"]);
        assert!(!everywhere.inspector_enabled());
        let said = everywhere.exposure_warnings(false).join("\n");
        for what in [
            "0.0.0.0",
            "@connections is open",
            "no API token",
            "inspector is off",
        ] {
            assert!(said.contains(what), "{what}: {said}");
        }
        let asked = GatewayConfig::parse_from(["local-gateway", "--host", "::", "--inspector"]);
        assert!(asked.inspector_enabled());
        assert!(
            asked
                .exposure_warnings(true)
                .join("\n")
                .contains("inspector is on")
        );
        let off = GatewayConfig::parse_from(["local-gateway", "--no-inspector"]);
        assert!(!off.inspector_enabled());
    }

    #[test]
    fn the_write_timeout_is_never_longer_than_the_idle_timeout() {
        let config = GatewayConfig::parse_from(["local-gateway", "--idle-timeout-secs", "6"]);
        assert_eq!(config.write_timeout(), Duration::from_secs(6));
        let config = GatewayConfig::parse_from(["local-gateway", "--write-timeout-secs", "2"]);
        assert_eq!(config.write_timeout(), Duration::from_secs(2));
    }
}
