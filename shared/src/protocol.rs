//! The JSON our clients and backends exchange with us (documented in the README).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The largest message API Gateway delivers to a WebSocket client: PostToConnection's `Data`
/// limit, 128 KB (reference checklist 48). A delivery body over it could reach no one.
pub const MAX_MESSAGE_BYTES: usize = 131_072;

/// Longest channel name.
pub const MAX_CHANNEL_NAME_LEN: usize = 128;

/// Checks a channel name: 1 to 128 of `A–Z a–z 0–9 _ - : . @ | =`. `*` is kept for permission
/// patterns (`prefix:*`) and `,` separates names in `?channels=`, so neither is allowed.
pub fn validate_channel(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("channel name is empty".into());
    }
    if name.len() > MAX_CHANNEL_NAME_LEN {
        return Err(format!(
            "channel name is {} bytes long; the limit is {MAX_CHANNEL_NAME_LEN}",
            name.len()
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-:.@|=".contains(*c)))
    {
        Some(bad) => Err(format!(
            "channel name {name:?} contains {bad:?}; allowed are letters, digits and _ - : . @ | ="
        )),
        None => Ok(()),
    }
}

/// Parses `?channels=a,b` (empty pieces ignored).
pub fn parse_channel_list(list: &str) -> Result<BTreeSet<String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| validate_channel(name).map(|()| name.to_owned()))
        .collect()
}

/// A place in a channel's numbering: the last `seq` seen (0: none) in the numbering `epoch`.
/// A new epoch means the numbers restarted and old positions mean nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: u64,
    pub epoch: String,
}

impl Position {
    pub fn new(seq: u64, epoch: impl Into<String>) -> Self {
        Self {
            seq,
            epoch: epoch.into(),
        }
    }
}

/// One kept message: its number and its body (JSON text, as published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub data: Arc<str>,
}

/// Who a delivery goes to (the fan-out's audience; webhooks report it too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience<'a> {
    Everyone,
    Channel(&'a str),
    User(&'a str),
}

/// A request a client sends as a text frame, routed to `$default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// `{"action":"ping"}`: an application-level keep-alive (API Gateway ignores protocol pings
    /// for its idle timer).
    Ping,
    /// `{"action":"hello"}`: asks for the connection's id, which API Gateway cannot push during
    /// `$connect`.
    Hello,
    /// `{"action":"subscribe","channels":["post:42","news"]}`, optionally with
    /// `"since":{"post:42":{"seq":57,"epoch":"k3Jf9a"}}`: the last position seen per channel,
    /// to resume from.
    Subscribe {
        channels: BTreeSet<String>,
        since: BTreeMap<String, Position>,
        /// `"presence": true`: the `subscribed` reply lists the members of its presence channels.
        presence: bool,
    },
    /// `{"action":"unsubscribe","channels":["news"]}`
    Unsubscribe { channels: BTreeSet<String> },
    /// `{"action":"publish","channel":"post:42","data":…}`: to the channel's other subscribers,
    /// when the deployment allows clients to publish. `"ephemeral": true` (typing indicators):
    /// never numbered, stored or sent to webhooks.
    Publish {
        channel: String,
        data: Value,
        ephemeral: bool,
    },
    /// `{"action":"presence","channel":"room:1"}`, optionally with `"after":"<user>"`: the
    /// members of a presence channel the connection is in, a page at a time.
    Presence {
        channel: String,
        after: Option<String>,
    },
}

pub const KNOWN_ACTIONS: &[&str] = &[
    "ping",
    "hello",
    "subscribe",
    "unsubscribe",
    "publish",
    "presence",
];

impl ClientRequest {
    /// Parses a frame's text, explaining precisely what is wrong when it is not a request we know.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|err| format!("message is not valid JSON: {err}"))?;
        let Value::Object(fields) = value else {
            return Err("message must be a JSON object with an \"action\" field".into());
        };
        match fields.get("action") {
            None => Err("message has no \"action\" field".into()),
            Some(Value::String(action)) => match action.as_str() {
                "ping" => Ok(Self::Ping),
                "hello" => Ok(Self::Hello),
                "subscribe" => {
                    let channels = channels_field(&fields)?;
                    let since = since_field(&fields, &channels)?;
                    let presence = flag_field(&fields, "subscribe", "presence")?;
                    Ok(Self::Subscribe {
                        channels,
                        since,
                        presence,
                    })
                }
                "unsubscribe" => Ok(Self::Unsubscribe {
                    channels: channels_field(&fields)?,
                }),
                "publish" => {
                    let channel = match fields.get("channel") {
                        Some(Value::String(channel)) => channel.clone(),
                        _ => return Err("publish needs \"channel\": a channel name".into()),
                    };
                    validate_channel(&channel)?;
                    let data = fields
                        .get("data")
                        .cloned()
                        .ok_or("publish needs \"data\": the JSON value to send")?;
                    let ephemeral = flag_field(&fields, "publish", "ephemeral")?;
                    Ok(Self::Publish {
                        channel,
                        data,
                        ephemeral,
                    })
                }
                "presence" => {
                    let channel = match fields.get("channel") {
                        Some(Value::String(channel)) => channel.clone(),
                        _ => return Err("presence needs \"channel\": a channel name".into()),
                    };
                    validate_channel(&channel)?;
                    let after = match fields.get("after") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(after)) => Some(after.clone()),
                        Some(other) => {
                            return Err(format!(
                                "\"after\" must be the user a previous page ended with, got {other}"
                            ));
                        }
                    };
                    Ok(Self::Presence { channel, after })
                }
                other => Err(format!(
                    "unknown action {other:?}; known actions: {}",
                    KNOWN_ACTIONS.join(", ")
                )),
            },
            Some(other) => Err(format!("\"action\" must be a string, got {other}")),
        }
    }
}

/// An optional boolean field of `action` (absent: `false`).
fn flag_field(
    fields: &serde_json::Map<String, Value>,
    action: &str,
    name: &str,
) -> Result<bool, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(format!(
            "{action}'s \"{name}\" must be true or false, got {other}"
        )),
    }
}

/// The `"channels"` field of subscribe and unsubscribe: a non-empty array of valid names.
fn channels_field(fields: &serde_json::Map<String, Value>) -> Result<BTreeSet<String>, String> {
    let Some(Value::Array(names)) = fields.get("channels") else {
        return Err("\"channels\" must be an array of channel names".into());
    };
    if names.is_empty() {
        return Err("\"channels\" is empty; name at least one channel".into());
    }
    names
        .iter()
        .map(|name| match name {
            Value::String(name) => validate_channel(name).map(|()| name.clone()),
            other => Err(format!("channel names are strings, got {other}")),
        })
        .collect()
}

/// The `"since"` field of subscribe: absent, or an object naming some of `channels`, each with
/// `{"seq": <non-negative integer>, "epoch": <string>}`.
fn since_field(
    fields: &serde_json::Map<String, Value>,
    channels: &BTreeSet<String>,
) -> Result<BTreeMap<String, Position>, String> {
    let since = match fields.get("since") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(since)) => since,
        Some(other) => {
            return Err(format!(
                "\"since\" must be an object of channel positions, got {other}"
            ));
        }
    };
    since
        .iter()
        .map(|(channel, position)| {
            if !channels.contains(channel) {
                return Err(format!(
                    "\"since\" names {channel:?}, which is not in \"channels\""
                ));
            }
            let seq = position.get("seq").and_then(Value::as_u64);
            let epoch = position.get("epoch").and_then(Value::as_str);
            match (seq, epoch) {
                (Some(seq), Some(epoch)) => Ok((channel.clone(), Position::new(seq, epoch))),
                _ => Err(format!(
                    "\"since\" of {channel:?} must be {{\"seq\": <non-negative integer>, \"epoch\": <string>}}, got {position}"
                )),
            }
        })
        .collect()
}

/// Everything we send to a client, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Pong {
        timestamp: String,
    },
    Welcome {
        data: Welcome,
    },
    /// The connection's channels after a subscribe (with the positions of history channels).
    Subscribed {
        data: Subscribed,
    },
    /// History does not reach back to the client's `since`: it starts again from `seq`.
    Reset {
        channel: String,
        seq: u64,
        epoch: String,
        reason: String,
    },
    /// The connection's channels after an unsubscribe.
    Unsubscribed {
        data: ChannelList,
    },
    /// What became of a client's publish.
    Published {
        data: Published,
    },
    /// A message another client published to a channel this connection is in.
    Message {
        channel: String,
        data: Value,
        /// Set on an ephemeral message (never numbered nor stored).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        ephemeral: bool,
    },
    /// The members of a presence channel, answering the `presence` action.
    Presence {
        channel: String,
        data: MemberPage,
    },
    /// A user's first connection joined a presence channel this connection is in.
    #[serde(rename = "presence.join")]
    PresenceJoin {
        channel: String,
        data: Member,
    },
    /// A user's last connection has been gone from the channel for the grace period.
    #[serde(rename = "presence.leave")]
    PresenceLeave {
        channel: String,
        data: LeftMember,
    },
    Error {
        data: ErrorData,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelList {
    pub channels: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscribed {
    pub channels: BTreeSet<String>,
    /// The latest position of every requested channel with history; omitted when none has.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub positions: BTreeMap<String, Position>,
    /// With `"presence": true`: the members of every requested presence channel.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, MemberPage>,
}

/// One member of a presence channel, as clients and backends see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The token's `sub` or the authorizer's `principalId`; `connection:<id>` for an anonymous
    /// connection.
    pub user: String,
    /// The user's connections in the channel (0 while the last one is in its grace period).
    pub connections: usize,
    /// Epoch milliseconds of the user's first join.
    pub joined_at: i64,
    /// Taken from the token claim `PRESENCE_INFO_CLAIM` names, e.g. `{"name":"Ada"}`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub info: Option<Value>,
}

/// One page of a channel's members, ordered by user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemberPage {
    pub members: Vec<Member>,
    /// The user to continue after, when there may be more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Who left a presence channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftMember {
    pub user: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub channel: String,
    /// The other subscribers it was addressed to, and how many of them received it.
    pub connection_count: usize,
    pub sent: usize,
    /// On a channel with history: the message's number and its epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    pub connection_id: String,
    /// `null` when the client connected without `?clientId=`.
    pub client_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorData {
    pub error: String,
}

impl ServerMessage {
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error {
            data: ErrorData {
                error: message.into(),
            },
        }
    }

    pub fn to_json(&self) -> String {
        // Strings, numbers and JSON values with string keys: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Checks a broadcast body: it must be one JSON object. It is then delivered byte for byte.
pub fn validate_broadcast_body(body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        return Err("request body is empty; expected a JSON object".into());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err("request body must be a JSON object".into()),
        Err(err) => Err(format!("request body is not valid JSON: {err}")),
    }
}

/// A JSON string literal for a channel name (names need no escaping, but be exact anyway).
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// The live envelope of a message on a history channel, with `data` (JSON text, already
/// validated) spliced in verbatim, not re-serialised:
/// `{"type":"message","channel":"post:42","seq":58,"data":…}`.
pub fn message_envelope(channel: &str, seq: u64, data: &str) -> String {
    let head = format!(
        r#"{{"type":"message","channel":{},"seq":{seq},"data":"#,
        json_string(channel)
    );
    let mut envelope = String::with_capacity(head.len() + data.len() + 1);
    envelope.push_str(&head);
    envelope.push_str(data);
    envelope.push('}');
    envelope
}

/// The frames that replay `entries` (in order) on `channel`: `history` frames of as many
/// messages as fit in `max_bytes`, `{"type":"history","channel":…,"messages":[{"seq":…,
/// "data":…},…]}`. A message too large to share a frame, or to fit a history frame on its own,
/// goes as its live envelope instead (which always fits: publishing checks it), so every
/// message is replayed, in order.
pub fn history_frames(channel: &str, entries: &[Entry], max_bytes: usize) -> Vec<String> {
    let head = format!(
        r#"{{"type":"history","channel":{},"messages":["#,
        json_string(channel)
    );
    const TAIL: &str = "]}";
    let mut frames = Vec::new();
    let mut current = String::new();
    let close = |current: &mut String, frames: &mut Vec<String>| {
        if !current.is_empty() {
            current.push_str(TAIL);
            frames.push(std::mem::take(current));
        }
    };
    for entry in entries {
        let item = format!(r#"{{"seq":{},"data":{}}}"#, entry.seq, entry.data);
        if head.len() + item.len() + TAIL.len() > max_bytes {
            close(&mut current, &mut frames);
            frames.push(message_envelope(channel, entry.seq, &entry.data));
            continue;
        }
        // One more item needs a comma too.
        if !current.is_empty() && current.len() + 1 + item.len() + TAIL.len() > max_bytes {
            close(&mut current, &mut frames);
        }
        if current.is_empty() {
            current.push_str(&head);
        } else {
            current.push(',');
        }
        current.push_str(&item);
    }
    close(&mut current, &mut frames);
    frames
}

/// What a backend learns from `POST /broadcast`: exactly who did and did not get the message.
/// Every listed connection not named in `gone` or `failed` received it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastReport {
    /// Connections the message was addressed to.
    pub connection_count: usize,
    /// How many of them received it.
    pub sent: usize,
    /// Connections that no longer existed (410); their rows have been removed.
    pub gone: Vec<String>,
    /// Connections the message could not be delivered to, with the reason.
    pub failed: Vec<FailedDelivery>,
    /// On a channel with history: the message's number and its epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Set when the listing broke off: the counts then cover only the connections listed so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 429s met (API Gateway's account throttle, or a client's full buffer), each retried at the
    /// broadcast's slower pace but the last of a recipient that stayed throttled; absent when
    /// none.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttle_retries: u64,
    /// Wall-clock milliseconds during which sends were held back to the throttle's pace: what
    /// throttling cost; absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_ms: u64,
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// `GET /broadcasts/{id}`: an asynchronous broadcast's report so far, or the final one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncReport {
    pub broadcast_id: String,
    /// `running`, or `completed` once every shard is done.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub shard_count: u32,
    pub shards_done: u32,
    pub connection_count: u64,
    pub sent: u64,
    /// Connections that no longer existed (410); their rows were removed.
    pub gone: u64,
    pub failed: u64,
    /// Of `failed`: recipients of a page a worker was sending when it died; not sent again, so
    /// that nobody gets the message twice; some of them may have received it.
    pub unconfirmed: u64,
    pub throttle_retries: u64,
    pub throttled_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedDelivery {
    pub connection_id: String,
    pub error: String,
}

/// The body of every HTTP error we answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountBody {
    pub count: u64,
    /// Set when the count is of one channel's subscribers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `GET /stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsBody {
    pub connections: u64,
    /// The channels with the most subscribers, at most `limit` of them.
    pub channels: Vec<ChannelStat>,
    /// How many channels have subscribers at all.
    pub channel_count: u64,
    /// Whether `channels` was cut to `limit`.
    pub truncated: bool,
    /// The local gateway's webhook delivery totals (delivered, retried, dead, dropped, pending);
    /// absent in Lambda and with webhooks off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelStat {
    pub name: String,
    pub subscribers: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_actions_parse() {
        assert_eq!(
            ClientRequest::parse(r#"{"action":"ping"}"#),
            Ok(ClientRequest::Ping)
        );
        assert_eq!(
            ClientRequest::parse(r#"{"action":"hello","x":1}"#),
            Ok(ClientRequest::Hello)
        );
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(
            ClientRequest::parse("not json")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            ClientRequest::parse("[1]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            ClientRequest::parse("{}")
                .unwrap_err()
                .contains("no \"action\"")
        );
        assert!(
            ClientRequest::parse(r#"{"action":7}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        let unknown = ClientRequest::parse(r#"{"action":"dance"}"#).unwrap_err();
        assert!(
            unknown.contains("\"dance\"") && unknown.contains("ping, hello, subscribe"),
            "{unknown}"
        );
    }

    #[test]
    fn channel_requests_parse() {
        assert_eq!(
            ClientRequest::parse(r#"{"action":"subscribe","channels":["post:42","news"]}"#),
            Ok(ClientRequest::Subscribe {
                channels: ["news".to_string(), "post:42".to_string()].into(),
                since: BTreeMap::new(),
                presence: false,
            })
        );
        assert_eq!(
            ClientRequest::parse(r#"{"action":"publish","channel":"news","data":{"n":1}}"#),
            Ok(ClientRequest::Publish {
                channel: "news".into(),
                data: serde_json::json!({"n": 1}),
                ephemeral: false,
            })
        );
        assert_eq!(
            ClientRequest::parse(
                r#"{"action":"publish","channel":"room","data":{"typing":true},"ephemeral":true}"#
            ),
            Ok(ClientRequest::Publish {
                channel: "room".into(),
                data: serde_json::json!({"typing": true}),
                ephemeral: true,
            })
        );
        assert_eq!(
            ClientRequest::parse(r#"{"action":"subscribe","channels":["room"],"presence":true}"#),
            Ok(ClientRequest::Subscribe {
                channels: ["room".to_string()].into(),
                since: BTreeMap::new(),
                presence: true,
            })
        );
        assert_eq!(
            ClientRequest::parse(r#"{"action":"presence","channel":"room","after":"ada"}"#),
            Ok(ClientRequest::Presence {
                channel: "room".into(),
                after: Some("ada".into()),
            })
        );
        for (bad, problem) in [
            (r#"{"action":"presence"}"#, "presence needs \"channel\""),
            (
                r#"{"action":"presence","channel":"room","after":3}"#,
                "\"after\" must be",
            ),
            (
                r#"{"action":"publish","channel":"room","data":1,"ephemeral":"yes"}"#,
                "\"ephemeral\" must be true or false",
            ),
            (
                r#"{"action":"subscribe","channels":["room"],"presence":1}"#,
                "\"presence\" must be true or false",
            ),
        ] {
            let err = ClientRequest::parse(bad).unwrap_err();
            assert!(err.contains(problem), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_channel_requests_are_explained() {
        let cases = [
            (r#"{"action":"subscribe"}"#, "must be an array"),
            (r#"{"action":"subscribe","channels":[]}"#, "is empty"),
            (r#"{"action":"subscribe","channels":[7]}"#, "are strings"),
            (
                r#"{"action":"subscribe","channels":["a b"]}"#,
                "contains ' '",
            ),
            (
                r#"{"action":"unsubscribe","channels":["x*"]}"#,
                "contains '*'",
            ),
            (r#"{"action":"publish","data":1}"#, "needs \"channel\""),
            (r#"{"action":"publish","channel":"news"}"#, "needs \"data\""),
        ];
        for (request, expected) in cases {
            let problem = ClientRequest::parse(request).unwrap_err();
            assert!(problem.contains(expected), "{request}: {problem}");
        }
    }

    #[test]
    fn channel_names_are_validated() {
        assert!(validate_channel("post:42").is_ok());
        assert!(validate_channel("user:auth0|5f1c=").is_ok());
        assert!(validate_channel("").is_err());
        assert!(validate_channel(&"a".repeat(128)).is_ok());
        assert!(validate_channel(&"a".repeat(129)).is_err());
        for bad in ["a,b", "a*", "é", "a/b", "a b"] {
            assert!(validate_channel(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_channel_list("news, post:42,,").unwrap(),
            ["news".to_string(), "post:42".to_string()].into()
        );
        assert!(parse_channel_list("news,bad name").is_err());
    }

    #[test]
    fn server_messages_have_the_documented_shapes() {
        let pong = ServerMessage::Pong {
            timestamp: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            pong.to_json(),
            r#"{"type":"pong","timestamp":"2026-01-01T00:00:00.000Z"}"#
        );
        let welcome = ServerMessage::Welcome {
            data: Welcome {
                connection_id: "Vb7rKfZ-joECH_A=".into(),
                client_id: None,
            },
        };
        assert_eq!(
            welcome.to_json(),
            r#"{"type":"welcome","data":{"connectionId":"Vb7rKfZ-joECH_A=","clientId":null}}"#
        );
        assert_eq!(
            ServerMessage::error("bad").to_json(),
            r#"{"type":"error","data":{"error":"bad"}}"#
        );
    }

    #[test]
    fn subscribe_since_parses_and_bad_positions_are_explained() {
        assert_eq!(
            ClientRequest::parse(
                r#"{"action":"subscribe","channels":["post:42","news"],"since":{"post:42":{"seq":57,"epoch":"k3Jf9a"}}}"#
            ),
            Ok(ClientRequest::Subscribe {
                channels: ["news".to_string(), "post:42".to_string()].into(),
                since: [("post:42".to_string(), Position::new(57, "k3Jf9a"))].into(),
                presence: false,
            })
        );
        let cases = [
            (r#""since":[]"#, "must be an object"),
            (
                r#""since":{"other":{"seq":1,"epoch":""}}"#,
                "not in \"channels\"",
            ),
            (
                r#""since":{"news":{"seq":-1,"epoch":""}}"#,
                "non-negative integer",
            ),
            (r#""since":{"news":{"seq":1}}"#, "non-negative integer"),
        ];
        for (since, expected) in cases {
            let request = format!(r#"{{"action":"subscribe","channels":["news"],{since}}}"#);
            let problem = ClientRequest::parse(&request).unwrap_err();
            assert!(problem.contains(expected), "{request}: {problem}");
        }
    }

    #[test]
    fn envelopes_splice_the_body_verbatim() {
        let body = "{ \"a\" : 1.50 }";
        let envelope = message_envelope("post:42", 58, body);
        assert_eq!(
            envelope,
            r#"{"type":"message","channel":"post:42","seq":58,"data":{ "a" : 1.50 }}"#
        );
        assert!(serde_json::from_str::<Value>(&envelope).is_ok());
    }

    #[test]
    fn history_frames_pack_messages_within_the_limit_in_order() {
        let entry = |seq: u64, size: usize| Entry {
            seq,
            data: format!(r#"{{"p":"{}"}}"#, "x".repeat(size)).into(),
        };
        let entries: Vec<Entry> = (1..=50).map(|seq| entry(seq, 10_000)).collect();
        let frames = history_frames("news", &entries, MAX_MESSAGE_BYTES);
        assert!(frames.len() < entries.len() / 5, "{} frames", frames.len());
        let mut seqs = Vec::new();
        for frame in &frames {
            assert!(frame.len() <= MAX_MESSAGE_BYTES);
            let value: Value = serde_json::from_str(frame).unwrap();
            assert_eq!(value["type"], "history");
            for message in value["messages"].as_array().unwrap() {
                seqs.push(message["seq"].as_u64().unwrap());
            }
        }
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        // A message that fits only as an envelope is sent as one, in its place.
        let envelope_sized = MAX_MESSAGE_BYTES - message_envelope("news", 2, "{\"p\":\"\"}").len();
        let entries = [entry(1, 5), entry(2, envelope_sized), entry(3, 5)];
        let frames = history_frames("news", &entries, MAX_MESSAGE_BYTES);
        let types: Vec<Value> = frames
            .iter()
            .map(|frame| serde_json::from_str::<Value>(frame).unwrap()["type"].clone())
            .collect();
        assert_eq!(types, ["history", "message", "history"]);
        assert_eq!(frames[1].len(), MAX_MESSAGE_BYTES);
        assert!(history_frames("news", &[], MAX_MESSAGE_BYTES).is_empty());
    }

    #[test]
    fn broadcast_bodies_must_be_json_objects() {
        assert!(validate_broadcast_body(br#"{"type":"hello"}"#).is_ok());
        assert!(validate_broadcast_body(b"").is_err());
        assert!(validate_broadcast_body(b"[1,2]").is_err());
        assert!(validate_broadcast_body(b"{\"a\":").is_err());
    }
}

/// Property tests of what clients and backends send us. `cases` keeps `cargo test` quick;
/// `PROPTEST_CASES=N` overrides it (proptest reads it by default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value, nested a few levels, with keys a client request might use.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z:._-]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                Just("action".to_owned()),
                Just("channels".to_owned()),
                Just("channel".to_owned()),
                Just("data".to_owned()),
                any::<String>(),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    fn channel() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_:.@|=-]{1,128}"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn client_requests_parse_without_panicking(
            text in prop_oneof![any::<String>(), json().prop_map(|value| value.to_string())],
        ) {
            if let Ok(ClientRequest::Subscribe { channels, .. } | ClientRequest::Unsubscribe { channels }) =
                ClientRequest::parse(&text)
            {
                prop_assert!(!channels.is_empty());
                prop_assert!(channels.iter().all(|name| validate_channel(name).is_ok()));
            }
        }

        #[test]
        fn channel_lists_parse_to_valid_names_and_round_trip(
            list in any::<String>(),
            names in prop::collection::btree_set(channel(), 0..6),
        ) {
            if let Ok(parsed) = parse_channel_list(&list) {
                prop_assert!(parsed.iter().all(|name| validate_channel(name).is_ok()));
            }
            let joined = names.iter().cloned().collect::<Vec<_>>().join(",");
            prop_assert_eq!(parse_channel_list(&joined), Ok(names.clone()));
            // Spaces around names and empty pieces are ignored.
            let spaced = format!(",{},", names.iter().cloned().collect::<Vec<_>>().join(" , "));
            prop_assert_eq!(parse_channel_list(&spaced), Ok(names));
        }

        #[test]
        fn validate_channel_accepts_exactly_the_documented_names(name in any::<String>()) {
            let documented = (1..=MAX_CHANNEL_NAME_LEN).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-:.@|=".contains(c));
            prop_assert_eq!(validate_channel(&name).is_ok(), documented);
        }

        #[test]
        fn broadcast_bodies_are_json_objects(
            body in prop_oneof![
                any::<Vec<u8>>(),
                json().prop_map(|value| value.to_string().into_bytes()),
            ],
        ) {
            let object = matches!(serde_json::from_slice::<Value>(&body), Ok(Value::Object(_)));
            prop_assert_eq!(validate_broadcast_body(&body).is_ok(), object);
        }
    }
}
