//! `$connect`: checks the token (when `JWT_*` is configured), then records the connection and
//! its `?channels=`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::Settings;
use ws_bridge::auth::TokenVerifier;
use ws_bridge::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use ws_bridge::handlers::connect;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    // Keys are loaded once per cold start.
    let verifier = TokenVerifier::from_env().await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            connect::handle(store.as_ref(), &settings, verifier.as_ref(), event.payload)
        },
    ))
    .await
}
