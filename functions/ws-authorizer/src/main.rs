//! The REQUEST authorizer on `$connect`: verifies the token and answers an IAM policy with the
//! user as `principalId`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_bridge::auth::TokenVerifier;
use ws_bridge::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use ws_bridge::handlers::authorizer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Where a refusal is recorded for a browser to look up (GET /handshakes/{attemptId}).
    let store = ws_bridge::store::from_env(&sdk_config)?;
    // Keys are loaded once per cold start.
    let verifier = TokenVerifier::from_env().await?.ok_or_else(|| {
        ws_bridge::Error::Config(
            "ws-authorizer needs JWT_SECRET, JWT_JWKS_URL or JWT_JWKS_FILE".into(),
        )
    })?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            authorizer::handle(&verifier, Some(store.as_ref()), event.payload)
        },
    ))
    .await
}
