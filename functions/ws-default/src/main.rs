//! `$default`: answers the client protocol (ping, hello, subscribe, unsubscribe, publish,
//! presence) through the route response; a subscribe with `since` replays channel history first.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use ws_bridge::handlers::default_route;
use ws_bridge::{EventPusher, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    // None unless HISTORY_CHANNELS names channels: then nothing of it is built or called.
    let history = ws_bridge::history::from_env(&sdk_config, &settings.history)?;
    // None unless PRESENCE_CHANNELS names channels; leaves go to PRESENCE_LEAVE_QUEUE_URL.
    let webhooks = ws_bridge::webhooks::aws::from_env(&sdk_config)?;
    let presence =
        ws_bridge::presence::handlers_from_env(&sdk_config, &settings.presence, webhooks)?;
    let pushers = EventPusher::new(sdk_config, settings.broadcast_max_attempts);
    let (store, history, presence, settings, pushers) = (
        store.as_ref(),
        history.as_deref(),
        presence.as_ref(),
        &settings,
        &pushers,
    );
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            // The management endpoint follows the event's domain and stage.
            let pusher = pushers.for_event(&event.payload)?;
            default_route::handle(store, history, presence, &pusher, settings, event.payload).await
        },
    ))
    .await
}
