//! Asynchronous broadcasts in the gateway: the in-process queue whose workers run the very code
//! `broadcast-worker` runs on Lambda (`ws_bridge::broadcasts::worker`). Their flags are in
//! `flag_groups`, their progress store is built with the other backends (`app::backends`).

use std::sync::Arc;
use std::time::Duration;
use ws_bridge::broadcasts::requests::AsyncBroadcasts;
use ws_bridge::broadcasts::worker::ShardWorker;
use ws_bridge::broadcasts::{AsyncBroadcastSettings, BroadcastProgress, InProcessQueue};
use ws_bridge::webhooks::WebhookSink;
use ws_bridge::{ConnectionStore, MessagePusher, Settings};

/// How long a failed shard waits before it is delivered again (SQS: the visibility timeout).
const REDELIVERY_DELAY: Duration = Duration::from_secs(1);

/// The in-process queue and its workers over the functions' own backends: what the HTTP route
/// starts asynchronous broadcasts with.
pub(crate) fn start(
    progress: Arc<dyn BroadcastProgress>,
    settings: AsyncBroadcastSettings,
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    handler_settings: Settings,
    webhooks: Arc<dyn WebhookSink>,
) -> Arc<AsyncBroadcasts> {
    let worker = Arc::new(ShardWorker::new(
        store,
        pusher,
        Arc::clone(&progress),
        handler_settings,
        webhooks,
    ));
    let queue = InProcessQueue::start(settings.workers, worker, REDELIVERY_DELAY);
    Arc::new(AsyncBroadcasts {
        progress,
        queue: Arc::new(queue),
        settings,
    })
}
