//! `$connect`: record the connection, with the channels of `?channels=a,b` and the user an
//! authorizer named. A 2xx accepts the handshake; any other status becomes the handshake's HTTP
//! status, so a connection we failed to record is never opened.

use super::{connection_id, ws_response};
use crate::protocol::parse_channel_list;
use crate::{Connection, ConnectionStore, Error, Settings};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;

pub async fn handle(
    store: &dyn ConnectionStore,
    settings: &Settings,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let mut connection = connection_from_event(&event)?;
    let id = connection.connection_id.clone();
    // A browser cannot read a refused handshake's body: the reason goes to the log.
    match requested_channels(&event, settings) {
        Ok(channels) => connection.channels = channels,
        Err(problem) => {
            tracing::info!(connection_id = %id, %problem, "refusing connection: bad ?channels=");
            return Ok(ws_response(StatusCode::BAD_REQUEST, None));
        }
    }
    match store.put(connection).await {
        Ok(()) => {
            tracing::info!(connection_id = %id, "connected");
            Ok(ws_response(StatusCode::OK, None))
        }
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
        connection
            .query
            .entry(name.to_owned())
            .or_insert_with(|| value.to_owned());
    }
    // A REQUEST authorizer's `principalId` names the user.
    connection.user_id = context
        .authorizer
        .fields
        .get("principalId")
        .and_then(|principal| principal.as_str())
        .filter(|principal| !principal.is_empty())
        .map(str::to_owned);
    Ok(connection)
}

/// Every `channels` query value, comma-separated names, validated and within the bound.
fn requested_channels(
    event: &ApiGatewayWebsocketProxyRequest,
    settings: &Settings,
) -> Result<std::collections::BTreeSet<String>, String> {
    let mut channels = std::collections::BTreeSet::new();
    for list in event
        .query_string_parameters
        .all("channels")
        .unwrap_or_default()
    {
        channels.extend(parse_channel_list(list)?);
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
