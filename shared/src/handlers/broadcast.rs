//! The backend's delivery routes, one function:
//!
//! * `POST /broadcast`: to every connection;
//! * `POST /broadcast/{channel}`: to the channel's subscribers;
//! * `POST /users/{userId}`: to every connection of that user;
//! * `POST /connections/{connectionId}`: to one connection (see [`super::direct_message`]).
//!
//! The body, one JSON object, is delivered verbatim. The listing is paginated and pipelined with
//! the sends: the next page is fetched while the current one is still being delivered, and at
//! most `broadcast_concurrency` sends are in flight. A 410 removes *that* connection's row (and
//! its subscriptions). The answer says exactly who did and did not get it.

use super::{bad_request, json_response};
use crate::fanout::{Audience, deliver};
use crate::protocol::{validate_broadcast_body, validate_channel};
use crate::{ConnectionStore, Error, MessagePusher, Settings};
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

pub async fn handle(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    request: Request,
) -> Result<Response<Body>, Error> {
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    let body: &[u8] = request.body().as_ref();
    if let Err(problem) = validate_broadcast_body(body) {
        return Ok(bad_request(problem));
    }
    let parameters = request.path_parameters();
    if let Some(connection_id) = parameters.first("connectionId") {
        return Ok(super::direct_message::deliver(store, pusher, connection_id, body).await);
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
    let report = deliver(store, pusher, settings, audience, None, body).await;
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
        error = report.error.as_deref(),
        "broadcast"
    );
    Ok(json_response(status, &report))
}
