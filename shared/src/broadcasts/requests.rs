//! The HTTP side of asynchronous broadcasts: `POST /broadcast[/{channel}]` answered 202 when
//! asked (`Prefer: respond-async`, RFC 7240) or when the audience is over the threshold, and
//! `GET /broadcasts/{broadcastId}`. Everything else goes to the synchronous handler unchanged.

use super::{
    AsyncBroadcastSettings, BroadcastJob, BroadcastProgress, ShardQueue, ShardScope, ShardTask,
    new_broadcast_id, valid_broadcast_id,
};
use crate::handlers::{bad_request, bearer, broadcast, json_response, store_unavailable};
use crate::protocol::{
    ErrorBody, MAX_MESSAGE_BYTES, message_envelope, validate_broadcast_body, validate_channel,
};
use crate::webhooks::WebhookSink;
use crate::{ChannelHistory, ConnectionStore, Error, MessagePusher, Settings};
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::sync::Arc;

/// The most shards one broadcast is cut into (a million recipients at the default shard size
/// are 100).
pub const MAX_SHARDS: u64 = 1_000;

/// What starts asynchronous broadcasts: where progress is kept and where shards go.
pub struct AsyncBroadcasts {
    pub progress: Arc<dyn BroadcastProgress>,
    pub queue: Arc<dyn ShardQueue>,
    pub settings: AsyncBroadcastSettings,
}

/// The 202's body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    broadcast_id: String,
    status: &'static str,
    shard_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
}

/// The delivery routes and `GET /broadcasts/{broadcastId}`. Without `jobs` (no queue
/// configured) every broadcast is synchronous, and the report route answers 404.
pub async fn handle(
    store: &dyn ConnectionStore,
    history: Option<&dyn ChannelHistory>,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    webhooks: &dyn WebhookSink,
    jobs: Option<&AsyncBroadcasts>,
    request: Request,
) -> Result<Response<Body>, Error> {
    if request.method() == Method::GET {
        return Ok(report(jobs, settings, &request).await);
    }
    let Some(jobs) = jobs else {
        return broadcast::handle(store, history, pusher, settings, webhooks, request).await;
    };
    let parameters = request.path_parameters();
    // Users and single connections are a handful of sends: always synchronous.
    if parameters.first("connectionId").is_some() || parameters.first("userId").is_some() {
        return broadcast::handle(store, history, pusher, settings, webhooks, request).await;
    }
    let channel = parameters.first("channel").map(str::to_owned);
    let body: &[u8] = request.body().as_ref();
    // The synchronous handler answers every refusal (size, token, body, channel) the same way.
    if body.len() > MAX_MESSAGE_BYTES
        || bearer::refusal(settings, &request).is_some()
        || validate_broadcast_body(body).is_err()
        || channel
            .as_deref()
            .is_some_and(|c| validate_channel(c).is_err())
    {
        return broadcast::handle(store, history, pusher, settings, webhooks, request).await;
    }
    let asked = prefers_async(request.headers());
    if !asked && !over_threshold(store, channel.as_deref(), jobs.settings.threshold).await {
        return broadcast::handle(store, history, pusher, settings, webhooks, request).await;
    }
    // Validated JSON, so UTF-8.
    let data = std::str::from_utf8(body).unwrap_or_default();
    let reports = reports_path(&request);
    Ok(start(store, history, settings, jobs, channel, data, &reports).await)
}

/// Where `GET /broadcasts/{id}` is, as the caller addressed this API: under the stage's name
/// unless it is `$default`, whose paths have none (`/dev/broadcast` → `/dev/broadcasts/…`).
fn reports_path(request: &Request) -> String {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if !stage.is_empty() && stage != "$default" => format!("/{stage}/broadcasts"),
        _ => "/broadcasts".to_owned(),
    }
}

/// Whether `Prefer` asks for `respond-async` (RFC 7240 §4.1; tokens are case-insensitive, the
/// header may repeat and list several preferences).
pub fn prefers_async(headers: &http::HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|preference| {
            preference
                .split([';', '='])
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|token| token == "respond-async")
}

/// Whether the audience is larger than `threshold` (`0`: never judged so). A count that fails
/// leaves the broadcast synchronous, where the failure is reported as it always was.
async fn over_threshold(
    store: &dyn ConnectionStore,
    channel: Option<&str>,
    threshold: u64,
) -> bool {
    if threshold == 0 {
        return false;
    }
    let count = match channel {
        Some(channel) => store.count_subscribers(channel).await,
        None => store.count().await,
    };
    count.is_ok_and(|count| count > threshold)
}

/// Numbers the message (on a history channel), cuts the audience into shards, records the job
/// and queues the shards: 202 with the id and `Location`.
async fn start(
    store: &dyn ConnectionStore,
    history: Option<&dyn ChannelHistory>,
    settings: &Settings,
    jobs: &AsyncBroadcasts,
    channel: Option<String>,
    data: &str,
    reports: &str,
) -> Response<Body> {
    let id = new_broadcast_id();
    let scopes = match &channel {
        Some(channel) => channel_ranges(store, channel, settings, jobs.settings.shard_size).await,
        None => segments(store, &jobs.settings).await,
    };
    let scopes = match scopes {
        Ok(scopes) => scopes,
        Err(err) => return store_unavailable("list the broadcast's audience", &err),
    };
    // The number is taken once, before any shard goes out: every shard sends the same envelope.
    let (data, seq, epoch) = match (&channel, history) {
        (Some(channel), Some(history)) if settings.history.applies_to(channel) => {
            let bytes = message_envelope(channel, u64::MAX, data).len();
            if bytes > MAX_MESSAGE_BYTES {
                return json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &ErrorBody {
                        error: format!(
                            "request body in its history envelope is {bytes} bytes, over the \
                             {MAX_MESSAGE_BYTES} API Gateway delivers as one WebSocket message; \
                             nothing was sent"
                        ),
                    },
                );
            }
            match history.append(channel, data).await {
                Ok(position) => (
                    message_envelope(channel, position.seq, data),
                    Some(position.seq),
                    Some(position.epoch),
                ),
                Err(err) => return store_unavailable("number the message", &err),
            }
        }
        _ => (data.to_owned(), None, None),
    };
    let job = BroadcastJob {
        id: id.clone(),
        channel,
        data,
        seq,
        epoch,
        shard_count: u32::try_from(scopes.len()).unwrap_or(u32::MAX),
    };
    if let Err(err) = jobs.progress.create(&job).await {
        return store_unavailable("record the broadcast", &err);
    }
    let tasks: Vec<ShardTask> = scopes
        .into_iter()
        .zip(0..)
        .map(|(scope, shard)| ShardTask {
            broadcast_id: id.clone(),
            shard,
            scope,
        })
        .collect();
    if let Err(err) = jobs.queue.enqueue(&tasks).await {
        return store_unavailable("queue the broadcast's shards", &err);
    }
    tracing::info!(broadcast_id = %id, channel = job.channel.as_deref(), shards = job.shard_count, seq = job.seq, "asynchronous broadcast started");
    let mut response = json_response(
        StatusCode::ACCEPTED,
        &Accepted {
            broadcast_id: id.clone(),
            status: "running",
            shard_count: job.shard_count,
            seq: job.seq,
            epoch: job.epoch,
        },
    );
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("{reports}/{id}")) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    response
}

/// Everyone: as many scan segments as `shard_size` recipients need, and at least one per worker
/// (so that every worker helps even a smaller audience reach the throttle's rate), at most
/// [`MAX_SHARDS`].
async fn segments(
    store: &dyn ConnectionStore,
    settings: &AsyncBroadcastSettings,
) -> Result<Vec<ShardScope>, Error> {
    let count = store.count().await?;
    let workers = u64::try_from(settings.workers).unwrap_or(1).min(count);
    let total = count
        .div_ceil(settings.shard_size.max(1))
        .max(workers)
        .clamp(1, MAX_SHARDS);
    let total = u32::try_from(total).unwrap_or(1);
    Ok((0..total)
        .map(|index| ShardScope::Segment { index, total })
        .collect())
}

/// A channel: its subscribers listed in id order, cut every `shard_size` ids into key ranges.
async fn channel_ranges(
    store: &dyn ConnectionStore,
    channel: &str,
    settings: &Settings,
    shard_size: u64,
) -> Result<Vec<ShardScope>, Error> {
    let shard_size = usize::try_from(shard_size.max(1)).unwrap_or(usize::MAX);
    let mut ranges = Vec::new();
    let (mut after, mut in_range, mut cursor) = (None::<String>, 0usize, None::<String>);
    loop {
        let page = store
            .list_subscribers(channel, cursor.as_deref(), settings.broadcast_page_size)
            .await?;
        for id in page.connection_ids {
            in_range += 1;
            if in_range == shard_size {
                ranges.push(ShardScope::ChannelRange {
                    after: after.clone(),
                    until: Some(id.clone()),
                });
                after = Some(id);
                in_range = 0;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // The rest, open-ended: subscribers who join meanwhile past the last cut are included.
    if in_range > 0 || ranges.is_empty() || ranges.len() as u64 >= MAX_SHARDS {
        ranges.push(ShardScope::ChannelRange { after, until: None });
    } else if let Some(ShardScope::ChannelRange { until, .. }) = ranges.last_mut() {
        *until = None;
    }
    Ok(ranges)
}

/// `GET /broadcasts/{broadcastId}`: the report so far, or the final one.
async fn report(
    jobs: Option<&AsyncBroadcasts>,
    settings: &Settings,
    request: &Request,
) -> Response<Body> {
    if let Some(refusal) = bearer::refusal(settings, request) {
        return refusal;
    }
    let id = request
        .path_parameters()
        .first("broadcastId")
        .map(str::to_owned)
        .unwrap_or_default();
    if !valid_broadcast_id(&id) {
        return bad_request(format!("{id:?} is not a broadcast id"));
    }
    let found = match jobs {
        Some(jobs) => jobs.progress.report(&id).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(report)) => json_response(StatusCode::OK, &report),
        Ok(None) => json_response(
            StatusCode::NOT_FOUND,
            &ErrorBody {
                error: format!("no broadcast {id}"),
            },
        ),
        Err(err) => store_unavailable("read the broadcast's progress", &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respond_async_is_found_among_other_preferences_in_any_case() {
        let mut headers = http::HeaderMap::new();
        assert!(!prefers_async(&headers));
        headers.append("prefer", HeaderValue::from_static("return=minimal"));
        assert!(!prefers_async(&headers));
        headers.append("prefer", HeaderValue::from_static("wait=5, Respond-Async"));
        assert!(prefers_async(&headers));
        let mut other = http::HeaderMap::new();
        other.insert("prefer", HeaderValue::from_static("respond-asynchronously"));
        assert!(!prefers_async(&other));
    }
}
