//! `GET /connections/count`: how many connections the store holds.

use super::json_response;
use crate::protocol::{CountBody, ErrorBody};
use crate::{ConnectionStore, Error, Settings};
use http::StatusCode;
use lambda_http::{Body, Request, Response};

pub async fn handle(
    store: &dyn ConnectionStore,
    settings: &Settings,
    request: Request,
) -> Result<Response<Body>, Error> {
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    Ok(match store.count().await {
        Ok(count) => json_response(StatusCode::OK, &CountBody { count }),
        Err(err) => {
            tracing::error!(error = %err, "count failed");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &ErrorBody {
                    error: err.to_string(),
                },
            )
        }
    })
}
