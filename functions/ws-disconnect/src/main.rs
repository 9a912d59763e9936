//! `$disconnect`: forgets the connection (noting its close code for webhooks first).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use ws_bridge::handlers::disconnect;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let webhooks = ws_bridge::webhooks::aws::from_env(&sdk_config)?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            disconnect::handle(store.as_ref(), webhooks.as_ref(), event.payload)
        },
    ))
    .await
}
