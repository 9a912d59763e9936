//! Signs and delivers webhooks: fed by the connections and subscriptions tables' DynamoDB
//! Streams, the SQS webhook queue and an EventBridge schedule (see `ws_bridge::webhooks::dispatch`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::settings::webhook::WebhookSettings;
use ws_bridge::webhooks::dispatch::Dispatch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = WebhookSettings::from_env()?;
    let deliverer = settings
        .deliverer()?
        .ok_or("webhook-dispatch needs WEBHOOK_URL and WEBHOOK_SECRET")?;
    let dispatch = Dispatch {
        deliverer,
        store,
        filter: settings.events.clone(),
        stats_interval_secs: settings.stats_interval_secs,
        counters: Default::default(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        dispatch.handle(event.payload)
    }))
    .await
}
