//! The delayed presence leave: fed by the presence leave queue (SQS, each message delayed by
//! `PRESENCE_LEAVE_GRACE_SECONDS`), announces `presence.leave` for users still gone.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::aws_lambda_events::sqs::SqsEvent;
use ws_bridge::handlers::presence;
use ws_bridge::{ApiGatewayPusher, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    let members = ws_bridge::presence::from_env(&sdk_config, &settings.presence)?
        .ok_or("presence-leave needs PRESENCE_CHANNELS")?;
    let pusher = ApiGatewayPusher::from_env_endpoint(&sdk_config)?
        .with_max_attempts(settings.broadcast_max_attempts);
    let webhooks = ws_bridge::webhooks::aws::from_env(&sdk_config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        presence::handle_leave_queue(
            members.as_ref(),
            store.as_ref(),
            &pusher,
            &settings,
            webhooks.as_ref(),
            event.payload,
        )
    }))
    .await
}
