//! `GET /connections/count`: how many connections are open (or, with `?channel=`, in a channel).

use lambda_http::{Error, Request, service_fn};
use ws_bridge::Settings;
use ws_bridge::handlers::connections_count;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    lambda_http::run(service_fn(|request: Request| {
        connections_count::handle(store.as_ref(), &settings, request)
    }))
    .await
}
