//! `$default`: the client protocol (ping, hello, subscribe, unsubscribe, publish). A two-way
//! route: the reply is this function's `body`, which API Gateway sends back to the sender
//! through the route response. Every refusal is an `error` frame and the socket stays open,
//! except for a connection that keeps sending at twice its rate limit: that one is closed.

use super::{connection_id, ws_response};
use crate::auth::may_join;
use crate::fanout::{Audience, deliver};
use crate::protocol::{ChannelList, ClientRequest, Published, ServerMessage, Welcome};
use crate::settings::MessageRate;
use crate::{ConnectionStore, Error, MessagePusher, PushOutcome, Settings, time};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

pub async fn handle(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let id = connection_id(&event)?;
    if let Some(rate) = settings.message_rate
        && let Some(refusal) = over_rate(store, pusher, rate, id).await
    {
        return Ok(ws_response(StatusCode::OK, Some(refusal.to_json())));
    }
    let body = event.body.as_deref().unwrap_or("");
    let reply = match ClientRequest::parse(body) {
        Ok(ClientRequest::Ping) => ServerMessage::Pong {
            timestamp: time::now_iso8601(),
        },
        Ok(ClientRequest::Hello) => welcome(store, id).await,
        Ok(ClientRequest::Subscribe { channels }) => subscribe(store, settings, id, channels).await,
        Ok(ClientRequest::Unsubscribe { channels }) => unsubscribe(store, id, channels).await,
        Ok(ClientRequest::Publish { channel, data }) => {
            publish(store, pusher, settings, id, channel, data).await
        }
        Err(problem) => {
            tracing::debug!(connection_id = %id, %problem, "rejected client message");
            ServerMessage::error(problem)
        }
    };
    Ok(ws_response(StatusCode::OK, Some(reply.to_json())))
}

/// Counts the message against the connection's rate; `Some` refusal when it is over. At twice
/// the rate in one window the connection is closed through `DeleteConnection`.
async fn over_rate(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    rate: MessageRate,
    id: &str,
) -> Option<ServerMessage> {
    let window = time::now_epoch_ms().div_euclid(1000) / rate.window_secs as i64;
    let sent = match store.record_message(id, window).await {
        Ok(sent) => sent,
        Err(Error::NotFound(_)) => {
            return Some(ServerMessage::error("this connection is not registered"));
        }
        Err(err) => {
            // Failing open: a store outage must not silence every client.
            tracing::warn!(connection_id = %id, error = %err, "could not count message; allowing it");
            return None;
        }
    };
    if sent <= rate.messages {
        return None;
    }
    let limit = format!(
        "rate limit exceeded: at most {} messages per {} s",
        rate.messages, rate.window_secs
    );
    if sent > 2 * rate.messages {
        tracing::warn!(connection_id = %id, sent, "closing a connection far over its rate limit");
        if let outcome @ PushOutcome::Failed(_) = pusher.disconnect(id).await {
            tracing::error!(connection_id = %id, ?outcome, "could not close connection");
        }
        return Some(ServerMessage::error(format!(
            "{limit}; closing the connection"
        )));
    }
    tracing::info!(connection_id = %id, sent, "message over rate limit refused");
    Some(ServerMessage::error(limit))
}

async fn welcome(store: &dyn ConnectionStore, id: &str) -> ServerMessage {
    match store.get(id).await {
        Ok(connection) => ServerMessage::Welcome {
            data: Welcome {
                connection_id: id.to_owned(),
                client_id: connection.and_then(|c| c.client_id().map(str::to_owned)),
            },
        },
        Err(err) => store_failed("hello", id, &err),
    }
}

async fn subscribe(
    store: &dyn ConnectionStore,
    settings: &Settings,
    id: &str,
    channels: BTreeSet<String>,
) -> ServerMessage {
    // The token's grants travel with the stored connection, as the event does not carry them.
    match store.get(id).await {
        Ok(Some(connection)) => {
            if let Some(denied) = channels.iter().find(|c| !may_join(&connection, c)) {
                return ServerMessage::error(format!("you may not join {denied:?}"));
            }
        }
        Ok(None) => return store_failed("subscribe", id, &Error::NotFound(id.to_owned())),
        Err(err) => return store_failed("subscribe", id, &err),
    }
    match store
        .subscribe(id, &channels, settings.max_channels_per_connection)
        .await
    {
        Ok(channels) => {
            tracing::info!(connection_id = %id, ?channels, "subscribed");
            ServerMessage::Subscribed {
                data: ChannelList { channels },
            }
        }
        Err(Error::LimitExceeded(reason)) => ServerMessage::error(reason),
        Err(err) => store_failed("subscribe", id, &err),
    }
}

async fn unsubscribe(
    store: &dyn ConnectionStore,
    id: &str,
    channels: BTreeSet<String>,
) -> ServerMessage {
    match store.unsubscribe(id, &channels).await {
        Ok(channels) => ServerMessage::Unsubscribed {
            data: ChannelList { channels },
        },
        Err(err) => store_failed("unsubscribe", id, &err),
    }
}

/// Client publishing: off unless configured, and only to a channel the sender is in. The
/// message reaches the channel's other subscribers as `{"type":"message","channel",…,"data"}`.
async fn publish(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    id: &str,
    channel: String,
    data: Value,
) -> ServerMessage {
    if !settings.client_publish {
        return ServerMessage::error(
            "publishing is disabled on this deployment; the backend publishes with POST /broadcast/{channel}",
        );
    }
    match store.get(id).await {
        Ok(Some(connection)) if connection.channels.contains(&channel) => {}
        Ok(_) => {
            return ServerMessage::error(format!(
                "you are not subscribed to {channel:?}; subscribe before publishing to it"
            ));
        }
        Err(err) => return store_failed("publish", id, &err),
    }
    let message = ServerMessage::Message {
        channel: channel.clone(),
        data,
    }
    .to_json();
    let report = deliver(
        store,
        pusher,
        settings,
        Audience::Channel(&channel),
        Some(id),
        message.as_bytes(),
    )
    .await;
    tracing::info!(connection_id = %id, %channel, recipients = report.connection_count, sent = report.sent, "client published");
    match report.error {
        Some(error) => ServerMessage::error(format!(
            "publish to {channel:?} stopped after {} of its subscribers: {error}",
            report.sent
        )),
        None => ServerMessage::Published {
            data: Published {
                channel,
                connection_count: report.connection_count,
                sent: report.sent,
            },
        },
    }
}

fn store_failed(operation: &str, id: &str, err: &Error) -> ServerMessage {
    tracing::error!(connection_id = %id, error = %err, operation, "store call failed");
    match err {
        // The connection's row vanished (a late 410 cleanup, or TTL): nothing the client can fix
        // by retrying, so say so plainly.
        Error::NotFound(_) => ServerMessage::error("this connection is not registered"),
        _ => ServerMessage::error("connection store unavailable; try again"),
    }
}
