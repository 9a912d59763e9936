//! Presence in the handlers: joining and leaving presence channels on subscribe, unsubscribe
//! and `$disconnect`, announcing `presence.join` / `presence.leave`, the delayed leave check
//! (run by the `presence-leave` function on AWS, by a timer in the local gateway), and the member
//! lists of the `presence` action, the `subscribed` reply and `GET /channels/{channel}/presence`.

use crate::fanout::{Audience, deliver};
use crate::presence::{
    LeaveCheck, LeaveScheduler, Left, MAX_MEMBERS_PAGE, MemberPage, Presence, PresenceStore,
};
use crate::protocol::{LeftMember, ServerMessage};
use crate::settings::PresenceSettings;
use crate::store::Connection;
use crate::webhooks::{EventType, WebhookSink};
use crate::{ConnectionStore, Error, MessagePusher, Settings};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Who `connection` is as a member: its user (`connection:<id>` when anonymous), and the
/// `info` taken from the claim `PRESENCE_INFO_CLAIM` names. The server decides, never the client.
pub fn member_of(connection: &Connection, settings: &PresenceSettings) -> (String, Option<Value>) {
    let user = connection
        .user_id
        .clone()
        .unwrap_or_else(|| format!("connection:{}", connection.connection_id));
    let info = settings.info_claim.as_ref().and_then(|claim| {
        connection
            .claims
            .get(claim)
            .map(|value| json!({ claim.as_str(): value }))
    });
    (user, info)
}

/// `connection` has just subscribed to `channels`: it joins those with presence, and each
/// user's first connection is announced to the channel's other subscribers. A presence store
/// failure is logged and leaves the subscription in place (the member list lacks the user).
pub async fn join(
    presence: &Presence,
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    connection: &Connection,
    channels: &BTreeSet<String>,
) {
    let (user, info) = member_of(connection, &settings.presence);
    let id = connection.connection_id.as_str();
    for channel in channels.iter().filter(|c| settings.presence.applies_to(c)) {
        match presence.store.join(channel, &user, id, info.as_ref()).await {
            Ok(Some(member)) => {
                tracing::info!(connection_id = %id, %channel, %user, "presence join");
                let data = serde_json::to_value(&member).unwrap_or_default();
                let frame = ServerMessage::PresenceJoin {
                    channel: channel.clone(),
                    data: member,
                }
                .to_json();
                deliver(
                    store,
                    pusher,
                    settings,
                    Audience::Channel(channel),
                    Some(id),
                    frame.as_bytes(),
                )
                .await;
                presence
                    .webhooks
                    .presence(EventType::PresenceJoin, channel, &data)
                    .await;
            }
            Ok(None) => {
                tracing::debug!(connection_id = %id, %channel, %user, "another connection of a member")
            }
            Err(err) => {
                tracing::error!(connection_id = %id, %channel, error = %err, "presence join failed")
            }
        }
    }
}

/// `connection` has left `channels` (unsubscribe, `$disconnect`): for each presence channel
/// where that was the user's last connection, the leave check is scheduled after the grace
/// period.
pub async fn leave(
    presence: &Presence,
    settings: &PresenceSettings,
    connection: &Connection,
    channels: &BTreeSet<String>,
) {
    let (user, _) = member_of(connection, settings);
    let id = connection.connection_id.as_str();
    let grace = Duration::from_secs(settings.leave_grace_seconds);
    for channel in channels.iter().filter(|c| settings.applies_to(c)) {
        match presence.store.leave(channel, &user, id).await {
            Ok(Left::Last { token }) => {
                tracing::debug!(connection_id = %id, %channel, %user, grace_s = grace.as_secs(), "last connection left; leave pending");
                let check = LeaveCheck {
                    channel: channel.clone(),
                    user: user.clone(),
                    token,
                };
                if let Err(err) = presence.leaves.schedule(check, grace).await {
                    // The member stays listed (with no connection) until the item's TTL.
                    tracing::error!(connection_id = %id, %channel, %user, error = %err, "could not schedule the presence leave check");
                }
            }
            Ok(Left::Remaining | Left::NotMember) => {}
            Err(err) => {
                tracing::error!(connection_id = %id, %channel, error = %err, "presence leave failed")
            }
        }
    }
}

/// The delayed check: if `check.user` is still gone with the same pending leave, removes them
/// and announces `presence.leave` to the channel. `Ok(true)` when it did. Safe to run twice.
pub async fn confirm_leave(
    presence: &dyn PresenceStore,
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    webhooks: &dyn WebhookSink,
    check: &LeaveCheck,
) -> Result<bool, Error> {
    if !presence
        .confirm_leave(&check.channel, &check.user, &check.token)
        .await?
    {
        tracing::debug!(channel = %check.channel, user = %check.user, "came back or already left: no leave");
        return Ok(false);
    }
    tracing::info!(channel = %check.channel, user = %check.user, "presence leave");
    let left = LeftMember {
        user: check.user.clone(),
    };
    let data = serde_json::to_value(&left).unwrap_or_default();
    let frame = ServerMessage::PresenceLeave {
        channel: check.channel.clone(),
        data: left,
    }
    .to_json();
    deliver(
        store,
        pusher,
        settings,
        Audience::Channel(&check.channel),
        None,
        frame.as_bytes(),
    )
    .await;
    webhooks
        .presence(EventType::PresenceLeave, &check.channel, &data)
        .await;
    Ok(true)
}

/// The first page of members of each presence channel of `channels`, for a `subscribed` reply.
pub async fn member_lists(
    presence: &dyn PresenceStore,
    settings: &PresenceSettings,
    channels: &BTreeSet<String>,
) -> Result<BTreeMap<String, MemberPage>, Error> {
    let mut lists = BTreeMap::new();
    for channel in channels.iter().filter(|c| settings.applies_to(c)) {
        lists.insert(
            channel.clone(),
            presence.members(channel, None, MAX_MEMBERS_PAGE).await?,
        );
    }
    Ok(lists)
}

/// In the local gateway: a task that sleeps through the grace period, then runs the check with
/// the gateway's own store and pusher. Pending checks die with the process (as the in-memory
/// store's members do).
pub struct InProcessLeaves {
    presence: Arc<dyn PresenceStore>,
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    settings: Settings,
    webhooks: Arc<dyn WebhookSink>,
}

impl InProcessLeaves {
    pub fn new(
        presence: Arc<dyn PresenceStore>,
        store: Arc<dyn ConnectionStore>,
        pusher: Arc<dyn MessagePusher>,
        settings: Settings,
        webhooks: Arc<dyn WebhookSink>,
    ) -> Self {
        Self {
            presence,
            store,
            pusher,
            settings,
            webhooks,
        }
    }
}

#[async_trait]
impl LeaveScheduler for InProcessLeaves {
    async fn schedule(&self, check: LeaveCheck, delay: Duration) -> Result<(), Error> {
        let (presence, store, pusher, settings, webhooks) = (
            Arc::clone(&self.presence),
            Arc::clone(&self.store),
            Arc::clone(&self.pusher),
            self.settings.clone(),
            Arc::clone(&self.webhooks),
        );
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let confirmed = confirm_leave(
                presence.as_ref(),
                store.as_ref(),
                pusher.as_ref(),
                &settings,
                webhooks.as_ref(),
                &check,
            )
            .await;
            if let Err(err) = confirmed {
                tracing::error!(channel = %check.channel, user = %check.user, error = %err, "presence leave check failed");
            }
        });
        Ok(())
    }
}

/// The `presence-leave` function: each SQS message (delayed by the grace period) is a
/// [`LeaveCheck`], run through [`confirm_leave`]. A check that fails is reported in
/// `batchItemFailures`, so SQS delivers it again (the check is idempotent); a body that is not
/// a check could never succeed, so it is logged and dropped rather than retried.
pub async fn handle_leave_queue(
    presence: &dyn PresenceStore,
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    webhooks: &dyn WebhookSink,
    event: aws_lambda_events::sqs::SqsEvent,
) -> Result<aws_lambda_events::sqs::SqsBatchResponse, Error> {
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let check: LeaveCheck = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(check)) => check,
            Some(Err(err)) => {
                tracing::error!(%message_id, error = %err, "not a presence leave check; dropped");
                continue;
            }
            None => {
                tracing::error!(%message_id, "presence leave message without a body; dropped");
                continue;
            }
        };
        if let Err(err) = confirm_leave(presence, store, pusher, settings, webhooks, &check).await {
            tracing::warn!(%message_id, channel = %check.channel, user = %check.user, error = %err, "presence leave check failed; SQS retries it");
            response.add_failure(message_id);
        }
    }
    Ok(response)
}

/// Members per page of `GET /channels/{channel}/presence` unless `?limit=` says otherwise.
pub const DEFAULT_MEMBERS_LIMIT: usize = 100;

/// `GET /channels/{channel}/presence[?limit=N&after=<user>]`: a page of the channel's members
/// in user order (`limit` 1 to 1000, default 100), with `next` to pass as `after` while there
/// may be more. 404 for a channel without presence; `presence` is `None` when none has it.
pub async fn handle_members_route(
    presence: Option<&dyn PresenceStore>,
    settings: &Settings,
    request: lambda_http::Request,
) -> Result<lambda_http::Response<lambda_http::Body>, Error> {
    use lambda_http::RequestExt;
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    let channel = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("channel"))
        .unwrap_or_default()
        .to_owned();
    if let Err(problem) = crate::protocol::validate_channel(&channel) {
        return Ok(super::bad_request(problem));
    }
    let query = request.query_string_parameters();
    let limit = match query.first("limit") {
        None => DEFAULT_MEMBERS_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(limit) if (1..=MAX_MEMBERS_PAGE).contains(&limit) => limit,
            _ => {
                return Ok(super::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_MEMBERS_PAGE}, got {raw:?}"
                )));
            }
        },
    };
    let after = query.first("after").map(str::to_owned);
    let Some(presence) = presence.filter(|_| settings.presence.applies_to(&channel)) else {
        return Ok(super::json_response(
            http::StatusCode::NOT_FOUND,
            &crate::protocol::ErrorBody {
                error: format!("{channel:?} is not a presence channel (PRESENCE_CHANNELS)"),
            },
        ));
    };
    Ok(
        match presence.members(&channel, after.as_deref(), limit).await {
            Ok(page) => super::json_response(
                http::StatusCode::OK,
                &json!({"channel": channel, "members": page.members, "next": page.next}),
            ),
            Err(err) => super::store_unavailable("presence", &err),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryPresence;
    use lambda_http::{Body, RequestExt};
    use std::collections::HashMap;

    fn settings() -> Settings {
        Settings::from_lookup(|name| match name {
            "PRESENCE_CHANNELS" => Some("room:*".into()),
            "PRESENCE_INFO_CLAIM" => Some("name".into()),
            _ => None,
        })
        .expect("settings")
    }

    #[test]
    fn a_member_is_the_user_with_info_from_the_claim_or_the_connection_when_anonymous() {
        let settings = settings();
        let mut connection = Connection::new("Vb7rKfZ-joECH_A=", 0, "127.0.0.1");
        assert_eq!(
            member_of(&connection, &settings.presence),
            ("connection:Vb7rKfZ-joECH_A=".to_owned(), None)
        );
        connection.user_id = Some("ada".into());
        assert_eq!(member_of(&connection, &settings.presence).0, "ada");
        connection.claims.insert("name".into(), "Ada".into());
        connection
            .claims
            .insert("email".into(), "ada@example.com".into());
        assert_eq!(
            member_of(&connection, &settings.presence),
            ("ada".to_owned(), Some(json!({"name": "Ada"})))
        );
        assert_eq!(
            member_of(&connection, &Settings::default().presence).1,
            None,
            "no claim configured: no info"
        );
    }

    fn request(channel: &str, query: &[(&str, &str)]) -> lambda_http::Request {
        http::Request::builder()
            // The path parameter is what the handler reads (a bad name would not be a URI).
            .uri("https://api.example.com/channels/x/presence")
            .body(Body::Empty)
            .expect("a request")
            .with_path_parameters(HashMap::from([(
                "channel".to_string(),
                channel.to_string(),
            )]))
            .with_query_string_parameters(
                query
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            )
    }

    async fn answer(
        presence: Option<&dyn PresenceStore>,
        request: lambda_http::Request,
    ) -> (u16, Value) {
        let response = handle_members_route(presence, &settings(), request)
            .await
            .expect("an answer");
        let Body::Text(text) = response.body() else {
            panic!("a text body");
        };
        (
            response.status().as_u16(),
            serde_json::from_str(text).expect("JSON"),
        )
    }

    #[tokio::test]
    async fn the_members_route_pages_and_refuses_what_it_cannot_answer() {
        let store = InMemoryPresence::new();
        for user in ["cy", "ada", "bo"] {
            store
                .join("room:1", user, &format!("{user}-tab"), None)
                .await
                .expect("join");
        }
        let presence: Option<&dyn PresenceStore> = Some(&store);
        let (status, page) = answer(presence, request("room:1", &[("limit", "2")])).await;
        assert_eq!(status, 200, "{page}");
        let users: Vec<&str> = page["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| m["user"].as_str().expect("user"))
            .collect();
        assert_eq!(users, ["ada", "bo"]);
        assert_eq!(page["next"], "bo");
        let (_, rest) = answer(
            presence,
            request("room:1", &[("limit", "2"), ("after", "bo")]),
        )
        .await;
        assert_eq!(rest["members"][0]["user"], "cy");
        assert_eq!(rest["next"], Value::Null);
        for limit in ["0", "1001", "many"] {
            let (status, body) = answer(presence, request("room:1", &[("limit", limit)])).await;
            assert_eq!(status, 400, "{limit}: {body}");
        }
        assert_eq!(answer(presence, request("bad name", &[])).await.0, 400);
        assert_eq!(answer(presence, request("news", &[])).await.0, 404);
        assert_eq!(answer(None, request("room:1", &[])).await.0, 404);
    }
}
