//! `$connect`: authenticate (when configured), then record the connection with the channels of
//! `?channels=a,b`. A 2xx accepts the handshake; any other status becomes the handshake's HTTP
//! status, so a connection we refused or failed to record is never opened:
//!
//! * 401: authentication is on and the token is missing or invalid;
//! * 403: a `?channels=` entry the token does not allow;
//! * 400: a malformed `?channels=`, or one naming a presence channel (joined with the subscribe
//!   action, whose reply lists the members);
//! * 429: the user already holds `MAX_CONNECTIONS_PER_USER` connections;
//! * 500: the store failed, or the token cannot be checked because the identity provider's keys
//!   (JWKS) cannot be fetched: an outage is ours, not the client's.
//!
//! The 4xx refusals are also recorded for a minute under the handshake's `?ws_bridge_attempt=`,
//! for a browser to read (see [`super::handshakes`]).
//!
//! The identity comes from the token (checked here) or, behind the `ws-authorizer` REQUEST
//! authorizer, from the authorizer's `principalId` and context. A browser cannot read a refused
//! handshake's body, so reasons go to the log, never with the token itself.

use super::{connection_id, handshakes, ws_response};
use crate::auth::{Identity, TokenVerifier, may_join, token_from_event};
use crate::protocol::parse_channel_list;
use crate::{Connection, ConnectionStore, Error, Settings};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;
use std::collections::BTreeSet;

pub async fn handle(
    store: &dyn ConnectionStore,
    settings: &Settings,
    verifier: Option<&TokenVerifier>,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let attempt_id = event
        .query_string_parameters
        .first(handshakes::ATTEMPT_PARAM)
        .map(str::to_owned);
    let response = answer(store, settings, verifier, event).await?;
    // A refusal the client can act on is recorded for a browser to look up (a 500 is not: it is
    // transient whatever caused it, and the store may be what failed).
    if matches!(response.status_code, 400 | 401 | 403 | 429)
        && let Ok(status) = u16::try_from(response.status_code)
    {
        handshakes::record_refusal(store, attempt_id.as_deref(), status).await;
    }
    Ok(response)
}

async fn answer(
    store: &dyn ConnectionStore,
    settings: &Settings,
    verifier: Option<&TokenVerifier>,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let mut connection = connection_from_event(&event)?;
    let id = connection.connection_id.clone();
    let refuse = |status: StatusCode, reason: &str| {
        tracing::info!(connection_id = %id, status = status.as_u16(), reason, "refusing connection");
        Ok(ws_response(status, None))
    };
    let identity = match verifier {
        Some(verifier) => {
            let Some(token) = token_from_event(&event.query_string_parameters, &event.headers)
            else {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "no token (?token= or Authorization: Bearer)",
                );
            };
            match verifier.verify(&token).await {
                Ok(identity) => Some(identity),
                Err(err @ Error::Unauthorized(_)) => {
                    return refuse(StatusCode::UNAUTHORIZED, &err.to_string());
                }
                Err(err) => {
                    tracing::error!(connection_id = %id, error = %err, "cannot verify the token; refusing the connection");
                    return Ok(ws_response(StatusCode::INTERNAL_SERVER_ERROR, None));
                }
            }
        }
        None => identity_from_authorizer(&event),
    };
    if let Some(identity) = identity {
        connection.user_id = Some(identity.user_id);
        connection.claims = identity.claims;
        connection.channel_grants = identity.channel_grants;
    }
    match requested_channels(&event, settings) {
        Ok(channels) => connection.channels = channels,
        Err(problem) => return refuse(StatusCode::BAD_REQUEST, &problem),
    }
    if let Some(denied) = connection
        .channels
        .iter()
        .find(|c| !may_join(&connection, c))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("the token does not allow channel {denied:?}"),
        );
    }
    let user = connection.user_id.clone();
    let stored = match user {
        Some(_) => {
            store
                .put_limited(connection, settings.max_connections_per_user)
                .await
        }
        None => store.put(connection).await,
    };
    match stored {
        Ok(()) => {
            tracing::info!(connection_id = %id, user = user.as_deref(), "connected");
            Ok(ws_response(StatusCode::OK, None))
        }
        Err(Error::LimitExceeded(reason)) => refuse(StatusCode::TOO_MANY_REQUESTS, &reason),
        Err(err) => {
            tracing::error!(connection_id = %id, error = %err, "could not record connection; refusing it");
            Ok(ws_response(StatusCode::INTERNAL_SERVER_ERROR, None))
        }
    }
}

fn connection_from_event(event: &ApiGatewayWebsocketProxyRequest) -> Result<Connection, Error> {
    let context = &event.request_context;
    let source_ip = context.identity.source_ip.clone().unwrap_or_default();
    let mut connection = Connection::new(connection_id(event)?, context.connected_at, source_ip);
    connection.user_agent = context.identity.user_agent.clone();
    for (name, value) in event.query_string_parameters.iter() {
        // The token is a credential: it is checked, never stored. The attempt id names one
        // handshake, not the connection.
        if name == "token" || name == handshakes::ATTEMPT_PARAM {
            continue;
        }
        connection
            .query
            .entry(name.to_owned())
            .or_insert_with(|| value.to_owned());
    }
    Ok(connection)
}

/// What a REQUEST authorizer said (see [`crate::auth::context`]).
fn identity_from_authorizer(event: &ApiGatewayWebsocketProxyRequest) -> Option<Identity> {
    crate::auth::context::decode(&event.request_context.authorizer.fields)
}

/// Every `channels` query value, comma-separated names, validated and within the bound.
fn requested_channels(
    event: &ApiGatewayWebsocketProxyRequest,
    settings: &Settings,
) -> Result<BTreeSet<String>, String> {
    let mut channels = BTreeSet::new();
    for list in event
        .query_string_parameters
        .all("channels")
        .unwrap_or_default()
    {
        channels.extend(parse_channel_list(list)?);
    }
    // A presence join announces the user and answers the member list: the subscribe action does
    // both, a handshake can do neither.
    if let Some(presence) = channels.iter().find(|c| settings.presence.applies_to(c)) {
        return Err(format!(
            "{presence:?} is a presence channel (PRESENCE_CHANNELS): subscribe to it with \
             {{\"action\":\"subscribe\"}} after connecting, not with ?channels="
        ));
    }
    let max = settings.max_channels_per_connection;
    if channels.len() > max {
        return Err(format!(
            "{} channels requested; a connection may be in at most {max}",
            channels.len()
        ));
    }
    Ok(channels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryStore;
    use serde_json::json;

    #[tokio::test]
    async fn a_jwks_outage_is_a_500_not_a_401() {
        let verifier = crate::auth::token::tests::verifier_with_jwks_down().await;
        let event = connect_event(json!({"token": crate::auth::token::tests::RS256_TOKEN}));
        let store = InMemoryStore::new();
        let response = handle(&store, &Settings::default(), Some(&verifier), event)
            .await
            .expect("an answer");
        assert_eq!(response.status_code, 500);
        assert_eq!(store.count().await.expect("a count"), 0);
    }

    fn connect_event(query: serde_json::Value) -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_value(json!({
            "queryStringParameters": query,
            "requestContext": {
                "routeKey": "$connect",
                "eventType": "CONNECT",
                "connectionId": "Vb7rKfZ-joECH_A=",
                "connectedAt": 1_721_812_502_117_i64,
                "requestTimeEpoch": 1_721_812_502_117_i64,
                "apiId": "k3x9q2m7ab",
                "identity": {"sourceIp": "198.51.100.23"}
            },
            "isBase64Encoded": false
        }))
        .expect("a $connect event")
    }

    #[tokio::test]
    async fn a_refusal_is_recorded_under_the_attempt_id_and_an_accepted_handshake_is_not() {
        let store = InMemoryStore::new();
        let settings = Settings::default();
        let refused = connect_event(json!({
            "ws_bridge_attempt": "refused-attempt-0001",
            "channels": "not a channel!"
        }));
        let response = handle(&store, &settings, None, refused)
            .await
            .expect("an answer");
        assert_eq!(response.status_code, 400);
        assert_eq!(
            store
                .refused_handshake("refused-attempt-0001")
                .await
                .expect("read"),
            Some(400)
        );

        let accepted = connect_event(json!({"ws_bridge_attempt": "accepted-attempt-01"}));
        let response = handle(&store, &settings, None, accepted)
            .await
            .expect("an answer");
        assert_eq!(response.status_code, 200);
        assert_eq!(
            store
                .refused_handshake("accepted-attempt-01")
                .await
                .expect("read"),
            None
        );
        // The attempt id names the handshake, not the connection: it is not kept on its row.
        let row = store.get("Vb7rKfZ-joECH_A=").await.expect("read");
        assert!(row.expect("stored").query.is_empty());
    }

    #[tokio::test]
    async fn a_presence_channel_in_the_handshake_is_refused_with_what_to_do() {
        let store = InMemoryStore::new();
        let settings = Settings::from_lookup(|name| {
            (name == "PRESENCE_CHANNELS").then(|| "room:*".to_owned())
        })
        .expect("settings");
        let presence = connect_event(json!({"channels": "news,room:1"}));
        let response = handle(&store, &settings, None, presence)
            .await
            .expect("an answer");
        assert_eq!(response.status_code, 400);
        assert_eq!(store.count().await.expect("count"), 0);
        let problem = requested_channels(&connect_event(json!({"channels": "room:1"})), &settings)
            .expect_err("refused");
        assert!(problem.contains("subscribe"), "{problem}");
        let plain = connect_event(json!({"channels": "news"}));
        let response = handle(&store, &settings, None, plain)
            .await
            .expect("an answer");
        assert_eq!(response.status_code, 200);
    }
}
