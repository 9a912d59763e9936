//! `$default`: the client protocol (ping, hello, subscribe, unsubscribe, publish, presence). A two-way
//! route: the reply is this function's `body`, which API Gateway sends back to the sender
//! through the route response. Every refusal is an `error` frame and the socket stays open,
//! except for a connection that keeps sending at twice its rate limit: that one is closed.

use super::presence as handlers_presence;
use super::{connection_id, ws_response};
use crate::auth::may_join;
use crate::fanout::{Audience, NotNumbered, deliver, deliver_numbered};
use crate::history::{Position, Replay};
use crate::presence::{MAX_MEMBERS_PAGE, Presence};
use crate::protocol::{
    ChannelList, ClientRequest, MAX_MESSAGE_BYTES, Published, ServerMessage, Subscribed, Welcome,
    history_frames,
};
use crate::settings::MessageRate;
use crate::{ChannelHistory, ConnectionStore, Error, MessagePusher, PushOutcome, Settings, time};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `history`: the channel history, `None` when no channel has history (then nothing of it runs);
/// `presence` likewise for presence channels.
pub async fn handle(
    store: &dyn ConnectionStore,
    history: Option<&dyn ChannelHistory>,
    presence: Option<&Presence>,
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
        Ok(ClientRequest::Subscribe {
            channels,
            since,
            presence: with_members,
        }) => {
            let history = history.map(|history| Resume {
                history,
                pusher,
                since,
            });
            let presence = presence.map(|presence| Joining {
                presence,
                pusher,
                with_members,
            });
            subscribe(store, history, presence, settings, id, channels).await
        }
        Ok(ClientRequest::Unsubscribe { channels }) => {
            unsubscribe(store, presence, settings, id, channels).await
        }
        Ok(ClientRequest::Publish {
            channel,
            data,
            ephemeral,
        }) => {
            let history = history.filter(|_| !ephemeral);
            publish(
                store, history, pusher, settings, id, channel, data, ephemeral,
            )
            .await
        }
        Ok(ClientRequest::Presence { channel, after }) => {
            members(store, presence, settings, id, channel, after).await
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

/// What a subscribe needs for channels with history.
struct Resume<'a> {
    history: &'a dyn ChannelHistory,
    pusher: &'a dyn MessagePusher,
    since: BTreeMap<String, Position>,
}

/// What a subscribe needs for presence channels.
struct Joining<'a> {
    presence: &'a Presence,
    pusher: &'a dyn MessagePusher,
    /// `"presence": true`: the reply lists the members.
    with_members: bool,
}

async fn subscribe(
    store: &dyn ConnectionStore,
    resume: Option<Resume<'_>>,
    joining: Option<Joining<'_>>,
    settings: &Settings,
    id: &str,
    channels: BTreeSet<String>,
) -> ServerMessage {
    // The token's grants travel with the stored connection, as the event does not carry them.
    let connection = match store.get(id).await {
        Ok(Some(connection)) => {
            if let Some(denied) = channels.iter().find(|c| !may_join(&connection, c)) {
                return ServerMessage::error(format!("you may not join {denied:?}"));
            }
            connection
        }
        Ok(None) => return store_failed("subscribe", id, &Error::NotFound(id.to_owned())),
        Err(err) => return store_failed("subscribe", id, &err),
    };
    match store
        .subscribe(id, &channels, settings.max_channels_per_connection)
        .await
    {
        Ok(all) => {
            tracing::info!(connection_id = %id, channels = ?all, "subscribed");
            // The subscription is in place: what is published from now on reaches the client
            // live, and everything before is in the history read next.
            let positions = match resume {
                Some(resume) => match resume.replay(settings, id, &channels).await {
                    Ok(positions) => positions,
                    Err(refusal) => return refusal,
                },
                None => BTreeMap::new(),
            };
            // Subscribed first, so that the join's announcement and the member list include
            // this connection.
            let mut members = BTreeMap::new();
            if let Some(joining) = joining {
                let presence = joining.presence;
                handlers_presence::join(
                    presence,
                    store,
                    joining.pusher,
                    settings,
                    &connection,
                    &channels,
                )
                .await;
                if joining.with_members {
                    match handlers_presence::member_lists(
                        presence.store.as_ref(),
                        &settings.presence,
                        &channels,
                    )
                    .await
                    {
                        Ok(lists) => members = lists,
                        Err(err) => {
                            tracing::error!(connection_id = %id, error = %err, "presence read failed");
                            return ServerMessage::error(format!(
                                "subscribed, but the members could not be read ({err}); ask with \"presence\""
                            ));
                        }
                    }
                }
            }
            ServerMessage::Subscribed {
                data: Subscribed {
                    channels: all,
                    positions,
                    members,
                },
            }
        }
        Err(Error::LimitExceeded(reason)) => ServerMessage::error(reason),
        Err(err) => store_failed("subscribe", id, &err),
    }
}

/// A history channel's read for a subscribe.
enum Read {
    /// Not named in `since`: only its latest position.
    Fresh(Position),
    /// Named in `since`: what the client missed.
    Resumed(Replay),
}

impl Resume<'_> {
    /// For each requested channel with history: its latest position, and for those named in
    /// `since`, the frames of what the client missed (or a `reset`), sent before the reply. A
    /// failure answers an error frame instead of the reply: the client must not take positions
    /// whose history it did not get (a subscribe with `since` is idempotent, so it retries).
    async fn replay(
        &self,
        settings: &Settings,
        id: &str,
        requested: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Position>, ServerMessage> {
        let with_history: Vec<&String> = requested
            .iter()
            .filter(|channel| settings.history.applies_to(channel))
            .collect();
        // Read concurrently, sent in order.
        let reads = with_history.iter().map(|channel| async move {
            match self.since.get(*channel) {
                Some(since) => self.history.replay(channel, since).await.map(Read::Resumed),
                None => self.history.latest(channel).await.map(Read::Fresh),
            }
        });
        let reads = futures::future::join_all(reads).await;
        let mut positions = BTreeMap::new();
        for (channel, read) in with_history.into_iter().zip(reads) {
            let replay = match read {
                Ok(Read::Fresh(latest)) => {
                    positions.insert(channel.clone(), latest);
                    continue;
                }
                Ok(Read::Resumed(replay)) => replay,
                Err(err) => {
                    tracing::error!(connection_id = %id, %channel, error = %err, "history read failed");
                    return Err(ServerMessage::error(format!(
                        "subscribed, but the history of {channel:?} could not be read ({err}); \
                         subscribe again with \"since\" to resume"
                    )));
                }
            };
            let frames = match &replay {
                Replay::Missed { messages, .. } => {
                    history_frames(channel, messages, MAX_MESSAGE_BYTES)
                }
                Replay::Reset { latest, reason } => {
                    tracing::info!(connection_id = %id, %channel, reason = reason.as_str(), "resume reset");
                    vec![
                        ServerMessage::Reset {
                            channel: channel.clone(),
                            seq: latest.seq,
                            epoch: latest.epoch.clone(),
                            reason: reason.as_str().to_owned(),
                        }
                        .to_json(),
                    ]
                }
            };
            for frame in &frames {
                let outcome = self.pusher.push(id, frame.as_bytes()).await;
                if outcome != PushOutcome::Delivered {
                    tracing::warn!(connection_id = %id, %channel, ?outcome, "could not send history");
                    return Err(ServerMessage::error(format!(
                        "subscribed, but the history of {channel:?} could not be sent \
                         ({outcome:?}); subscribe again with \"since\" to resume"
                    )));
                }
            }
            if let Replay::Missed { messages, .. } = &replay {
                tracing::debug!(connection_id = %id, %channel, messages = messages.len(), frames = frames.len(), "replayed");
            }
            positions.insert(channel.clone(), replay.latest().clone());
        }
        Ok(positions)
    }
}

async fn unsubscribe(
    store: &dyn ConnectionStore,
    presence: Option<&Presence>,
    settings: &Settings,
    id: &str,
    channels: BTreeSet<String>,
) -> ServerMessage {
    // Who is leaving, read before the channels are gone (only when presence channels exist).
    let leaving = match presence {
        Some(presence) if channels.iter().any(|c| settings.presence.applies_to(c)) => {
            match store.get(id).await {
                Ok(connection) => connection.map(|connection| (presence, connection)),
                Err(err) => return store_failed("unsubscribe", id, &err),
            }
        }
        _ => None,
    };
    match store.unsubscribe(id, &channels).await {
        Ok(remaining) => {
            if let Some((presence, connection)) = leaving {
                handlers_presence::leave(presence, &settings.presence, &connection, &channels)
                    .await;
            }
            ServerMessage::Unsubscribed {
                data: ChannelList {
                    channels: remaining,
                },
            }
        }
        Err(err) => store_failed("unsubscribe", id, &err),
    }
}

/// The `presence` action: a page of the members of a presence channel the sender is in.
async fn members(
    store: &dyn ConnectionStore,
    presence: Option<&Presence>,
    settings: &Settings,
    id: &str,
    channel: String,
    after: Option<String>,
) -> ServerMessage {
    let Some(presence) = presence.filter(|_| settings.presence.applies_to(&channel)) else {
        return ServerMessage::error(format!(
            "{channel:?} is not a presence channel (PRESENCE_CHANNELS)"
        ));
    };
    match store.get(id).await {
        Ok(Some(connection)) if connection.channels.contains(&channel) => {}
        Ok(_) => {
            return ServerMessage::error(format!(
                "you are not subscribed to {channel:?}; subscribe before asking for its members"
            ));
        }
        Err(err) => return store_failed("presence", id, &err),
    }
    match presence
        .store
        .members(&channel, after.as_deref(), MAX_MEMBERS_PAGE)
        .await
    {
        Ok(page) => ServerMessage::Presence {
            channel,
            data: page,
        },
        Err(err) => {
            tracing::error!(connection_id = %id, %channel, error = %err, "presence read failed");
            ServerMessage::error("presence store unavailable; try again")
        }
    }
}

/// Client publishing: off unless configured, and only to a channel the sender is in. The
/// message reaches the channel's other subscribers as `{"type":"message","channel",…,"data"}`.
/// An ephemeral one (`history` is `None` for it) is never numbered or stored and carries
/// `"ephemeral":true`.
#[allow(clippy::too_many_arguments)]
async fn publish(
    store: &dyn ConnectionStore,
    history: Option<&dyn ChannelHistory>,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    id: &str,
    channel: String,
    data: Value,
    ephemeral: bool,
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
    let report = match history {
        Some(history) if settings.history.applies_to(&channel) => {
            let data = data.to_string();
            match deliver_numbered(store, pusher, history, settings, &channel, Some(id), &data)
                .await
            {
                Ok(report) => report,
                Err(NotNumbered::TooLarge { bytes }) => {
                    return ServerMessage::error(format!(
                        "message in its envelope (with room for the sequence number) is {bytes} \
                         bytes, over the {MAX_MESSAGE_BYTES} a WebSocket message may have; \
                         nothing was sent"
                    ));
                }
                Err(NotNumbered::History(err)) => {
                    tracing::error!(connection_id = %id, %channel, error = %err, "history append failed");
                    return ServerMessage::error(format!(
                        "publish to {channel:?} failed, nothing was sent: {err}"
                    ));
                }
            }
        }
        // Channels without history: exactly the path they always took.
        _ => {
            let message = ServerMessage::Message {
                channel: channel.clone(),
                data,
                ephemeral,
            }
            .to_json();
            deliver(
                store,
                pusher,
                settings,
                Audience::Channel(&channel),
                Some(id),
                message.as_bytes(),
            )
            .await
        }
    };
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
                seq: report.seq,
                epoch: report.epoch,
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
