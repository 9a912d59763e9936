//! Groups of flags flattened into [`crate::GatewayConfig`], each in its own struct so that
//! the modules that act on them need not reach back into the whole configuration: API
//! Gateway's account quotas (`--aws-quotas`), and the asynchronous broadcasts' settings.

use crate::error::GatewayError;
use ws_bridge::broadcasts::AsyncBroadcastSettings;
use ws_bridge::broadcasts::settings::{ASYNC_THRESHOLD_ENV, SHARD_SIZE_ENV, WORKERS_ENV};

/// The quota flags, each number with AWS's default (API Gateway quotas page; reference §4.1).
#[derive(Clone, Debug, clap::Args)]
pub struct QuotaFlags {
    /// Throttle as API Gateway's account quotas do: `@connections` calls beyond the rate get 429
    /// `LimitExceededException`, handshakes beyond the new-connection rate get 429. Off by
    /// default (no quotas).
    #[arg(
        help_heading = "AWS quotas (with --aws-quotas)",
        long,
        env = "GATEWAY_AWS_QUOTAS",
        default_value_t = false
    )]
    pub aws_quotas: bool,

    /// `@connections` requests per second, the account throttle's steady rate (AWS: 10000; some
    /// regions 2500).
    #[arg(help_heading = "AWS quotas (with --aws-quotas)", long, env = "GATEWAY_MANAGEMENT_API_RATE",
          value_parser = clap::value_parser!(u32).range(1..), default_value_t = 10_000, requires = "aws_quotas")]
    pub management_api_rate: u32,

    /// `@connections` requests the account throttle lets through at once after a quiet spell,
    /// its bucket's size (AWS: 5000).
    #[arg(help_heading = "AWS quotas (with --aws-quotas)", long, env = "GATEWAY_MANAGEMENT_API_BURST",
          value_parser = clap::value_parser!(u32).range(1..), default_value_t = 5_000, requires = "aws_quotas")]
    pub management_api_burst: u32,

    /// New WebSocket connections per second, account-wide (AWS: 500). Its burst is one second's
    /// worth (AWS does not publish one).
    #[arg(help_heading = "AWS quotas (with --aws-quotas)", long, env = "GATEWAY_NEW_CONNECTION_RATE",
          value_parser = clap::value_parser!(u32).range(1..), default_value_t = 500, requires = "aws_quotas")]
    pub new_connection_rate: u32,
}

fn whole(raw: &str) -> Result<u64, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("must be a whole number, got {raw:?}"))
}
fn positive(raw: &str) -> Result<usize, String> {
    ws_bridge::settings::parse_positive(raw)
}

#[derive(Clone, Debug, clap::Args)]
pub struct AsyncBroadcastFlags {
    /// Broadcasts to more recipients than this answer 202 and run in shards, as if asked with
    /// `Prefer: respond-async` (default 0: only when asked).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_ASYNC_THRESHOLD", value_parser = whole)]
    pub broadcast_async_threshold: Option<u64>,

    /// Recipients per shard of an asynchronous broadcast (default 10000).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_SHARD_SIZE", value_parser = positive)]
    pub broadcast_shard_size: Option<usize>,

    /// Shards worked on at once by the in-process workers (on AWS: the queue's maximum
    /// concurrency in the template; default 4).
    #[arg(help_heading = "The functions' settings (given here, they win over the template's)", long, env = "BROADCAST_WORKERS", value_parser = positive)]
    pub broadcast_workers: Option<usize>,

    /// The DynamoDB table of the broadcasts' progress for `--store dynamodb`, created if missing
    /// (default `ws-bridge-broadcasts`).
    #[arg(
        help_heading = "The functions' settings (given here, they win over the template's)",
        long,
        env = "BROADCASTS_TABLE"
    )]
    pub broadcasts_table: Option<String>,
}

impl AsyncBroadcastFlags {
    /// Flag given > the template's variable > the default, as every setting.
    pub(crate) fn settings(
        &self,
        template: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AsyncBroadcastSettings, GatewayError> {
        let base = AsyncBroadcastSettings::from_lookup(|name| match name {
            ASYNC_THRESHOLD_ENV | SHARD_SIZE_ENV | WORKERS_ENV => template(name),
            _ => None,
        })
        .map_err(GatewayError::Settings)?;
        Ok(AsyncBroadcastSettings {
            threshold: self.broadcast_async_threshold.unwrap_or(base.threshold),
            shard_size: self
                .broadcast_shard_size
                .map_or(base.shard_size, |size| size as u64),
            workers: self.broadcast_workers.unwrap_or(base.workers),
        })
    }

    /// Given by flag: what functions run as processes cannot receive.
    pub(crate) fn given(&self) -> Vec<&'static str> {
        [
            (
                "--broadcast-async-threshold",
                self.broadcast_async_threshold.is_some(),
            ),
            (
                "--broadcast-shard-size",
                self.broadcast_shard_size.is_some(),
            ),
            ("--broadcast-workers", self.broadcast_workers.is_some()),
            ("--broadcasts-table", self.broadcasts_table.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| flag)
        .collect()
    }
}
