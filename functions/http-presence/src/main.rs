//! `GET /channels/{channel}/presence`: a page of a presence channel's members.

use lambda_http::{Error, Request, service_fn};
use ws_bridge::Settings;
use ws_bridge::handlers::presence;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let settings = Settings::from_env()?;
    // None unless PRESENCE_CHANNELS names channels: every channel is then a 404.
    let members = ws_bridge::presence::from_env(&sdk_config, &settings.presence)?;
    lambda_http::run(service_fn(|request: Request| {
        presence::handle_members_route(members.as_deref(), &settings, request)
    }))
    .await
}
