//! `$disconnect`: forgets the connection (noting its close code for webhooks first) and leaves
//! its presence channels (a delayed check on the presence leave queue announces the leave).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::Settings;
use ws_bridge::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use ws_bridge::handlers::disconnect;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let webhooks = ws_bridge::webhooks::aws::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    // None unless PRESENCE_CHANNELS names channels; leaves go to PRESENCE_LEAVE_QUEUE_URL.
    let presence =
        ws_bridge::presence::handlers_from_env(&sdk_config, &settings.presence, webhooks.clone())?;
    let presence = presence.as_ref().map(|presence| (presence, &settings));
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            disconnect::handle(store.as_ref(), webhooks.as_ref(), presence, event.payload)
        },
    ))
    .await
}
