//! The backend's delivery routes, one function:
//!
//! * `POST /broadcast`: to every connection;
//! * `POST /broadcast/{channel}`: to the channel's subscribers;
//! * `POST /users/{userId}`: to every connection of that user;
//! * `POST /connections/{connectionId}`: to one connection (see [`super::direct_message`]).
//!
//! The body, one JSON object of at most [`MAX_MESSAGE_BYTES`], is delivered verbatim. The
//! listing is paginated and pipelined with the sends: the next page is fetched while the current
//! one is still being delivered, and at most `broadcast_concurrency` sends are in flight. A 410 removes *that* connection's row (and
//! its subscriptions). The answer says exactly who did and did not get it.

use super::{bad_request, json_response};
use crate::fanout::{Audience, NotNumbered, deliver, deliver_numbered};
use crate::protocol::{
    BroadcastReport, ErrorBody, MAX_MESSAGE_BYTES, validate_broadcast_body, validate_channel,
};
use crate::webhooks::{Target, WebhookSink};
use crate::{ChannelHistory, ConnectionStore, Error, MessagePusher, Settings};
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

/// `history`: the channel history, `None` when no channel has history (then nothing of it runs).
pub async fn handle(
    store: &dyn ConnectionStore,
    history: Option<&dyn ChannelHistory>,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    webhooks: &dyn WebhookSink,
    request: Request,
) -> Result<Response<Body>, Error> {
    let body: &[u8] = request.body().as_ref();
    // Judged first, before the token, as the local gateway does while reading (it stops there):
    // both layers then answer alike, and the answer reveals nothing.
    if body.len() > MAX_MESSAGE_BYTES {
        tracing::info!(bytes = body.len(), "delivery body too large");
        return Ok(too_large_to_deliver());
    }
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    if let Err(problem) = validate_broadcast_body(body) {
        return Ok(bad_request(problem));
    }
    let parameters = request.path_parameters();
    if let Some(connection_id) = parameters.first("connectionId") {
        return Ok(
            super::direct_message::deliver(store, pusher, webhooks, connection_id, body).await,
        );
    }
    let audience = match (parameters.first("channel"), parameters.first("userId")) {
        (Some(channel), _) => {
            if let Err(problem) = validate_channel(channel) {
                return Ok(bad_request(problem));
            }
            Audience::Channel(channel)
        }
        (None, Some(user)) => Audience::User(user),
        (None, None) => Audience::Everyone,
    };
    let report = match (audience, history) {
        (Audience::Channel(channel), Some(history)) if settings.history.applies_to(channel) => {
            // Validated JSON, so UTF-8.
            let data = std::str::from_utf8(body).unwrap_or_default();
            match deliver_numbered(store, pusher, history, settings, channel, None, data).await {
                Ok(report) => report,
                Err(NotNumbered::TooLarge { bytes }) => {
                    tracing::info!(bytes, %channel, "history envelope too large");
                    return Ok(envelope_too_large(bytes));
                }
                Err(NotNumbered::History(err)) => {
                    tracing::error!(error = %err, %channel, "history append failed; nothing sent");
                    BroadcastReport {
                        error: Some(err.to_string()),
                        ..BroadcastReport::default()
                    }
                }
            }
        }
        // Channels without history: exactly the path they always took.
        _ => deliver(store, pusher, settings, audience, None, body).await,
    };
    webhooks
        .delivered(Target::Audience(audience), &report, body)
        .await;
    let status = if report.error.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    tracing::info!(
        audience = ?audience,
        connections = report.connection_count,
        sent = report.sent,
        gone = report.gone.len(),
        failed = report.failed.len(),
        seq = report.seq,
        throttle_retries = report.throttle_retries,
        throttled_ms = report.throttled_ms,
        error = report.error.as_deref(),
        "broadcast"
    );
    Ok(json_response(status, &report))
}

/// 413 for a body that fits alone but not in the envelope of a history channel.
fn envelope_too_large(bytes: usize) -> Response<Body> {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &ErrorBody {
            error: format!(
                "request body in its history envelope (with room for the sequence number) is \
                 {bytes} bytes, over the {MAX_MESSAGE_BYTES} API Gateway delivers as one \
                 WebSocket message; nothing was sent"
            ),
        },
    )
}

/// 413 for a body over [`MAX_MESSAGE_BYTES`]: API Gateway could deliver it to no one, so nothing
/// is sent. Public so that the local gateway, which stops reading such a body, answers exactly so.
pub fn too_large_to_deliver() -> Response<Body> {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &ErrorBody {
            error: format!(
                "request body is larger than {MAX_MESSAGE_BYTES} bytes, the most API Gateway \
                 delivers as one WebSocket message; nothing was sent"
            ),
        },
    )
}
