//! `$default`: answers the client protocol (ping, hello) through the route response.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use ws_bridge::handlers::default_route;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            default_route::handle(store.as_ref(), event.payload)
        },
    ))
    .await
}
