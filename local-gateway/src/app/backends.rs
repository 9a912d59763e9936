//! What the project's functions run on, built once whatever the source of the routes: the
//! connection store, the channel history, the webhooks, the token verifier, and the settings
//! they were built from.

use crate::config::{GatewayConfig, StoreKind};
use crate::error::GatewayError;
use crate::webhooks::LocalWebhooks;
use aws_config::BehaviorVersion;
use std::sync::Arc;
use ws_bridge::Settings;
use ws_bridge::auth::{TokenVerifier, VerifierConfig};
use ws_bridge::broadcasts::{BroadcastProgress, DynamoDbBroadcasts, InMemoryBroadcasts};
use ws_bridge::settings::webhook::WebhookSettings;
use ws_bridge::store::table::TableDefinition;
use ws_bridge::webhooks::{NoWebhooks, WebhookSink};
use ws_bridge::{
    ChannelHistory, ConnectionStore, DynamoDbHistory, DynamoDbPresence, DynamoDbStore,
    InMemoryHistory, InMemoryPresence, InMemoryStore, PresenceStore,
};

/// Where a setting the gateway was not given comes from: the variables the template gives the
/// project's functions (none without a template).
pub(crate) type TemplateLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) struct Backends {
    /// The store the handlers use: with webhooks on, one that reports its changes.
    pub store: Arc<dyn ConnectionStore>,
    /// Only when some channel has history.
    pub history: Option<Arc<dyn ChannelHistory>>,
    /// Only when some channel has presence.
    pub presence: Option<Arc<dyn PresenceStore>>,
    pub webhooks: Option<Arc<LocalWebhooks>>,
    pub verifier: Option<Arc<TokenVerifier>>,
    pub settings: Settings,
    pub webhook_settings: WebhookSettings,
    /// Where asynchronous broadcasts keep their progress, and their settings.
    pub async_broadcasts: Option<(
        Arc<dyn ws_bridge::broadcasts::BroadcastProgress>,
        ws_bridge::broadcasts::AsyncBroadcastSettings,
    )>,
}

impl Backends {
    /// Builds what `config` and `template` ask for. With `project_functions` false (every
    /// function runs outside the gateway) only the store is built: history, webhooks and
    /// tokens are the functions' own business then.
    pub async fn build(
        config: &GatewayConfig,
        template: TemplateLookup<'_>,
        project_functions: bool,
    ) -> Result<Self, GatewayError> {
        let settings = config.settings(template).map_err(GatewayError::Settings)?;
        let webhook_settings = config
            .webhook_settings(template)
            .map_err(GatewayError::Settings)?;
        let store: Arc<dyn ConnectionStore> = match config.store {
            StoreKind::Memory => Arc::new(InMemoryStore::new()),
            StoreKind::Dynamodb => Arc::new(dynamodb_store(config).await?),
        };
        if !project_functions {
            return Ok(Self {
                store,
                history: None,
                presence: None,
                webhooks: None,
                verifier: None,
                settings,
                webhook_settings,
                async_broadcasts: None,
            });
        }
        let history: Option<Arc<dyn ChannelHistory>> = match config.store {
            _ if !settings.history.enabled() => None,
            StoreKind::Memory => Some(Arc::new(InMemoryHistory::new(&settings.history))),
            StoreKind::Dynamodb => Some(Arc::new(dynamodb_history_with(config, &settings).await?)),
        };
        let presence: Option<Arc<dyn PresenceStore>> = match config.store {
            _ if !settings.presence.enabled() => None,
            StoreKind::Memory => Some(Arc::new(InMemoryPresence::new())),
            StoreKind::Dynamodb => Some(Arc::new(dynamodb_presence_with(config, &settings).await?)),
        };
        // JWT_* have no flags: the gateway's environment, then the template's.
        let verifier_config = VerifierConfig::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .or_else(|| template(name))
        })
        .map_err(GatewayError::Settings)?;
        let verifier = match verifier_config {
            Some(verifier_config) => Some(Arc::new(
                TokenVerifier::new(verifier_config)
                    .await
                    .map_err(GatewayError::Settings)?,
            )),
            None => None,
        };
        let (store, webhooks) = match webhook_settings
            .deliverer()
            .map_err(GatewayError::Settings)?
        {
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
        let async_broadcasts = Some((
            broadcast_progress(config, template).await?,
            config.async_broadcasts.settings(template)?,
        ));
        Ok(Self {
            store,
            history,
            presence,
            webhooks,
            verifier,
            settings,
            webhook_settings,
            async_broadcasts,
        })
    }

    /// Where the handlers report webhook events.
    pub fn webhook_sink(&self) -> Arc<dyn WebhookSink> {
        match &self.webhooks {
            Some(webhooks) => Arc::clone(webhooks) as Arc<dyn WebhookSink>,
            None => Arc::new(NoWebhooks),
        }
    }
}

/// The DynamoDB store for `--store dynamodb`, its table created if missing. Against a local
/// endpoint, fixed credentials and region: DynamoDB Local keeps one database per access key, so
/// every tool that talks to it must use the same one.
pub async fn dynamodb_store(config: &GatewayConfig) -> Result<DynamoDbStore, GatewayError> {
    let sdk_config = dynamodb_sdk_config(config).await;
    let table = match &config.connections_table {
        Some(table) => table.clone(),
        None => {
            TableDefinition::connections()
                .map_err(GatewayError::Store)?
                .default_table_name
        }
    };
    let store = DynamoDbStore::new(DynamoDbStore::client(&sdk_config), table);
    store
        .create_table_if_missing()
        .await
        .map_err(GatewayError::Store)?;
    Ok(store)
}

/// The DynamoDB history for `--store dynamodb` with `--history-*`, on its table (created if
/// missing). It survives a gateway restart.
pub async fn dynamodb_history(config: &GatewayConfig) -> Result<DynamoDbHistory, GatewayError> {
    let settings = config.settings(&|_| None).map_err(GatewayError::Settings)?;
    dynamodb_history_with(config, &settings).await
}

async fn dynamodb_history_with(
    config: &GatewayConfig,
    settings: &Settings,
) -> Result<DynamoDbHistory, GatewayError> {
    let sdk_config = dynamodb_sdk_config(config).await;
    let history = DynamoDbHistory::new(DynamoDbStore::client(&sdk_config), &settings.history);
    history
        .create_table_if_missing()
        .await
        .map_err(GatewayError::Store)?;
    Ok(history)
}

/// The DynamoDB presence store for `--store dynamodb` with `--presence-*`, on its table
/// (created if missing).
pub async fn dynamodb_presence(config: &GatewayConfig) -> Result<DynamoDbPresence, GatewayError> {
    let settings = config.settings(&|_| None).map_err(GatewayError::Settings)?;
    dynamodb_presence_with(config, &settings).await
}

async fn dynamodb_presence_with(
    config: &GatewayConfig,
    settings: &Settings,
) -> Result<DynamoDbPresence, GatewayError> {
    let sdk_config = dynamodb_sdk_config(config).await;
    let presence = DynamoDbPresence::new(DynamoDbStore::client(&sdk_config), &settings.presence);
    presence
        .create_table_if_missing()
        .await
        .map_err(GatewayError::Store)?;
    Ok(presence)
}

/// The SDK configuration for DynamoDB: `--dynamodb-endpoint` (DynamoDB Local) with the fixed
/// local credentials, else the SDK's own resolution.
pub(crate) async fn dynamodb_sdk_config(config: &GatewayConfig) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = &config.dynamodb_endpoint {
        loader = loader
            .endpoint_url(endpoint)
            .region(ws_bridge::local::region())
            .credentials_provider(ws_bridge::local::credentials());
    }
    loader.load().await
}

/// The progress store matching `--store`.
pub(crate) async fn broadcast_progress(
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
    let sdk_config = dynamodb_sdk_config(config).await;
    let progress = DynamoDbBroadcasts::new(ws_bridge::DynamoDbStore::client(&sdk_config), table);
    progress
        .create_table_if_missing()
        .await
        .map_err(GatewayError::Store)?;
    Ok(progress)
}
