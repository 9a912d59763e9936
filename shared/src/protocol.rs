//! The JSON our clients and backends exchange with us (documented in the README).

use serde::Serialize;
use serde_json::Value;

/// A request a client sends as a text frame, routed to `$default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// `{"action":"ping"}`: an application-level keep-alive (API Gateway ignores protocol pings
    /// for its idle timer).
    Ping,
    /// `{"action":"hello"}`: asks for the connection's id, which API Gateway cannot push during
    /// `$connect`.
    Hello,
}

pub const KNOWN_ACTIONS: &[&str] = &["ping", "hello"];

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
                other => Err(format!(
                    "unknown action {other:?}; known actions: {}",
                    KNOWN_ACTIONS.join(", ")
                )),
            },
            Some(other) => Err(format!("\"action\" must be a string, got {other}")),
        }
    }
}

/// Everything we send to a client, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Pong { timestamp: String },
    Welcome { data: Welcome },
    Error { data: ErrorData },
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
        // Only strings and options of strings: serialisation cannot fail.
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
    /// Set when the listing broke off: the counts then cover only the connections listed so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CountBody {
    pub count: u64,
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
            unknown.contains("\"dance\"") && unknown.contains("ping, hello"),
            "{unknown}"
        );
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
    fn broadcast_bodies_must_be_json_objects() {
        assert!(validate_broadcast_body(br#"{"type":"hello"}"#).is_ok());
        assert!(validate_broadcast_body(b"").is_err());
        assert!(validate_broadcast_body(b"[1,2]").is_err());
        assert!(validate_broadcast_body(b"{\"a\":").is_err());
    }
}
