//! `$connect`: record the connection. A 2xx accepts the handshake; any other status becomes the
//! handshake's HTTP status, so a connection we failed to record is never opened.

use super::{connection_id, ws_response};
use crate::{Connection, ConnectionStore, Error};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;

pub async fn handle(
    store: &dyn ConnectionStore,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let connection = connection_from_event(&event)?;
    let id = connection.connection_id.clone();
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
    Ok(connection)
}
