//! `GET /handshakes/{attemptId}`: the status `$connect` refused a browser's handshake with.

use lambda_http::{Error, Request, service_fn};
use ws_bridge::handlers::handshakes;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    lambda_http::run(service_fn(|request: Request| {
        handshakes::handle(store.as_ref(), request)
    }))
    .await
}
