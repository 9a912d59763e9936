//! `POST /connections/{connectionId}`: one message to one connection. A connection that no
//! longer exists (410) answers 404 and its row is removed.

use super::json_response;
use crate::fanout::deliver_to_one;
use crate::protocol::{BroadcastReport, ErrorBody};
use crate::{ConnectionStore, MessagePusher, PushOutcome};
use http::StatusCode;
use lambda_http::{Body, Response};

/// Delivers `data` (already validated) to `connection_id`.
pub async fn deliver(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    connection_id: &str,
    data: &[u8],
) -> Response<Body> {
    let outcome = deliver_to_one(store, pusher, connection_id, data).await;
    tracing::info!(connection_id, outcome = ?outcome, "direct message");
    match outcome {
        PushOutcome::Delivered => json_response(
            StatusCode::OK,
            &BroadcastReport {
                connection_count: 1,
                sent: 1,
                ..BroadcastReport::default()
            },
        ),
        PushOutcome::Gone => json_response(
            StatusCode::NOT_FOUND,
            &ErrorBody {
                error: format!("connection {connection_id} is gone"),
            },
        ),
        PushOutcome::Failed(error) => json_response(
            StatusCode::BAD_GATEWAY,
            &ErrorBody {
                error: format!("could not deliver to connection {connection_id}: {error}"),
            },
        ),
    }
}
