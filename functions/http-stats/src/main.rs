//! `GET /stats`: connections and the busiest channels.

use lambda_http::{Error, Request, service_fn};
use ws_bridge::Settings;
use ws_bridge::handlers::stats;
use ws_bridge::webhooks::NoWebhooks;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    lambda_http::run(service_fn(|request: Request| {
        stats::handle(store.as_ref(), &settings, &NoWebhooks, request)
    }))
    .await
}
