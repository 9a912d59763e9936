//! Delivers the shards of asynchronous broadcasts, one SQS message each, paced to API Gateway's
//! account throttle (see `ws_bridge::broadcasts::worker`).

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use ws_bridge::broadcasts::DynamoDbBroadcasts;
use ws_bridge::broadcasts::worker::ShardWorker;
use ws_bridge::{ApiGatewayPusher, DynamoDbStore, Settings};

// As in http-broadcast: one thread with mimalloc's pools is the cheapest per recipient.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let settings = Settings::from_env()?;
    let worker = ShardWorker::new(
        ws_bridge::store::from_env(&sdk_config)?,
        Arc::new(
            ApiGatewayPusher::from_env_endpoint(&sdk_config)?
                .with_max_attempts(settings.broadcast_max_attempts),
        ),
        Arc::new(DynamoDbBroadcasts::from_env(DynamoDbStore::client(
            &sdk_config,
        ))?),
        settings,
        ws_bridge::webhooks::aws::from_env(&sdk_config)?,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = &worker;
        async move { Ok::<_, Error>(worker.handle_sqs(event.payload).await) }
    }))
    .await
}
