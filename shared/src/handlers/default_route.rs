//! `$default`: the client protocol. A two-way route: the reply is this function's `body`, which
//! API Gateway sends back to the sender through the route response.

use super::{connection_id, ws_response};
use crate::protocol::{ClientRequest, ServerMessage, Welcome};
use crate::{ConnectionStore, Error, time};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::StatusCode;

pub async fn handle(
    store: &dyn ConnectionStore,
    event: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, Error> {
    let id = connection_id(&event)?;
    let body = event.body.as_deref().unwrap_or("");
    let reply = match ClientRequest::parse(body) {
        Ok(ClientRequest::Ping) => ServerMessage::Pong {
            timestamp: time::now_iso8601(),
        },
        Ok(ClientRequest::Hello) => welcome(store, id).await,
        Err(problem) => {
            tracing::debug!(connection_id = %id, %problem, "rejected client message");
            ServerMessage::error(problem)
        }
    };
    Ok(ws_response(StatusCode::OK, Some(reply.to_json())))
}

async fn welcome(store: &dyn ConnectionStore, id: &str) -> ServerMessage {
    match store.get(id).await {
        Ok(connection) => ServerMessage::Welcome {
            data: Welcome {
                connection_id: id.to_owned(),
                client_id: connection.and_then(|c| c.client_id().map(str::to_owned)),
            },
        },
        Err(err) => {
            tracing::error!(connection_id = %id, error = %err, "hello: store lookup failed");
            ServerMessage::error("connection store unavailable; try again")
        }
    }
}
