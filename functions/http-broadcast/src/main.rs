//! The delivery routes: `POST /broadcast`, `/broadcast/{channel}`, `/users/{userId}` and
//! `/connections/{connectionId}`, through the management API; numbers and keeps the messages
//! of channels with history; large broadcasts asynchronously (`GET /broadcasts/{broadcastId}`).

use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;
use ws_bridge::broadcasts::requests::{self, AsyncBroadcasts};
use ws_bridge::broadcasts::{AsyncBroadcastSettings, DynamoDbBroadcasts, SqsShardQueue};
use ws_bridge::{ApiGatewayPusher, DynamoDbStore, Settings};

// Every PostToConnection allocates its request, signature and response, and up to 1,769 MB Lambda
// gives a function at most one vCPU: one thread with mimalloc's pools measured 48-50 µs of CPU per
// recipient, against 90 µs with two worker threads and mimalloc and 78-94 µs with one thread and
// glibc's malloc (README Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ws_bridge::store::from_env(&sdk_config)?;
    let settings = Settings::from_env()?;
    // None unless HISTORY_CHANNELS names channels: then nothing of it is built or called.
    let history = ws_bridge::history::from_env(&sdk_config, &settings.history)?;
    let pusher = ApiGatewayPusher::from_env_endpoint(&sdk_config)?
        .with_max_attempts(settings.broadcast_max_attempts);
    // `message.broadcast` goes to the webhook queue (one SendMessage) when WEBHOOK_QUEUE_URL is set.
    let webhooks = ws_bridge::webhooks::aws::from_env(&sdk_config)?;
    // Asynchronous broadcasts when BROADCAST_QUEUE_URL names the shards' queue.
    let jobs = match SqsShardQueue::from_env(&sdk_config) {
        Some(queue) => Some(AsyncBroadcasts {
            progress: Arc::new(DynamoDbBroadcasts::from_env(DynamoDbStore::client(
                &sdk_config,
            ))?),
            queue: Arc::new(queue),
            settings: AsyncBroadcastSettings::from_env()?,
        }),
        None => None,
    };
    lambda_http::run(service_fn(|request: Request| {
        requests::handle(
            store.as_ref(),
            history.as_deref(),
            &pusher,
            &settings,
            webhooks.as_ref(),
            jobs.as_ref(),
            request,
        )
    }))
    .await
}
