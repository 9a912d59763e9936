//! `POST /connections/{connectionId}`: one message to one connection. A connection that no
//! longer exists (410) answers 404 and its row is removed.

use super::json_response;
use crate::fanout::deliver_to_one;
use crate::protocol::{BroadcastReport, ErrorBody};
use crate::webhooks::{Target, WebhookSink};
use crate::{ConnectionStore, MessagePusher, PushOutcome};
use http::StatusCode;
use lambda_http::{Body, Response};

/// Delivers `data` (already validated) to `connection_id`.
pub async fn deliver(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    webhooks: &dyn WebhookSink,
    connection_id: &str,
    data: &[u8],
) -> Response<Body> {
    let outcome = deliver_to_one(store, pusher, connection_id, data).await;
    tracing::info!(connection_id, outcome = ?outcome, "direct message");
    let mut report = BroadcastReport {
        connection_count: 1,
        ..BroadcastReport::default()
    };
    match &outcome {
        PushOutcome::Delivered => report.sent = 1,
        PushOutcome::Gone => report.gone.push(connection_id.to_owned()),
        PushOutcome::Failed(error) => report.failed.push(crate::protocol::FailedDelivery {
            connection_id: connection_id.to_owned(),
            error: error.clone(),
        }),
    }
    webhooks
        .delivered(Target::Connection(connection_id), &report, data)
        .await;
    match outcome {
        PushOutcome::Delivered => json_response(StatusCode::OK, &report),
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
