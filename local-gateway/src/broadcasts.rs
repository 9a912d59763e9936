//! Asynchronous broadcasts in the gateway: their flags, the progress store on the chosen store
//! (memory or a DynamoDB table), and the in-process queue whose workers run the very code
//! `broadcast-worker` runs on Lambda (`ws_bridge::broadcasts::worker`).

use crate::config::{GatewayConfig, StoreKind};
use crate::error::GatewayError;
use std::sync::Arc;
use std::time::Duration;
use ws_bridge::broadcasts::requests::AsyncBroadcasts;
use ws_bridge::broadcasts::settings::{ASYNC_THRESHOLD_ENV, SHARD_SIZE_ENV, WORKERS_ENV};
use ws_bridge::broadcasts::worker::ShardWorker;
use ws_bridge::broadcasts::{
    AsyncBroadcastSettings, BroadcastProgress, DynamoDbBroadcasts, InMemoryBroadcasts,
    InProcessQueue,
};
use ws_bridge::store::table::TableDefinition;
use ws_bridge::webhooks::WebhookSink;
use ws_bridge::{ConnectionStore, MessagePusher, Settings};

/// How long a failed shard waits before it is delivered again (SQS: the visibility timeout).
const REDELIVERY_DELAY: Duration = Duration::from_secs(1);

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
    /// `Prefer: respond-async` (0: only when asked; default 20000).
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

/// The progress store matching `--store`.
pub(crate) async fn progress(
    config: &GatewayConfig,
    template: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn BroadcastProgress>, GatewayError> {
    Ok(match config.store {
        StoreKind::Memory => Arc::new(InMemoryBroadcasts::new()),
        StoreKind::Dynamodb => Arc::new(dynamodb_broadcasts(config, template).await?),
    })
}

/// The DynamoDB progress store, its table created if missing.
pub async fn dynamodb_broadcasts(
    config: &GatewayConfig,
    template: &dyn Fn(&str) -> Option<String>,
) -> Result<DynamoDbBroadcasts, GatewayError> {
    let table = match config
        .async_broadcasts
        .broadcasts_table
        .clone()
        .or_else(|| template("BROADCASTS_TABLE"))
    {
        Some(table) => table,
        None => {
            TableDefinition::broadcasts()
                .map_err(GatewayError::Store)?
                .default_table_name
        }
    };
    let sdk_config = crate::app::dynamodb_sdk_config(config).await;
    let progress = DynamoDbBroadcasts::new(ws_bridge::DynamoDbStore::client(&sdk_config), table);
    progress
        .create_table_if_missing()
        .await
        .map_err(GatewayError::Store)?;
    Ok(progress)
}

/// The in-process queue and its workers over the functions' own backends: what the HTTP route
/// starts asynchronous broadcasts with.
pub(crate) fn start(
    progress: Arc<dyn BroadcastProgress>,
    settings: AsyncBroadcastSettings,
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    handler_settings: Settings,
    webhooks: Arc<dyn WebhookSink>,
) -> Arc<AsyncBroadcasts> {
    let worker = Arc::new(ShardWorker::new(
        store,
        pusher,
        Arc::clone(&progress),
        handler_settings,
        webhooks,
    ));
    let queue = InProcessQueue::start(settings.workers, worker, REDELIVERY_DELAY);
    Arc::new(AsyncBroadcasts {
        progress,
        queue: Arc::new(queue),
        settings,
    })
}
