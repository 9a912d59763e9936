//! `GET /connections/count`: how many connections the store holds, or with `?channel=x` how many
//! are subscribed to that channel.

use super::{bad_request, json_response};
use crate::protocol::{CountBody, validate_channel};
use crate::{ConnectionStore, Error, Settings};
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

pub async fn handle(
    store: &dyn ConnectionStore,
    settings: &Settings,
    request: Request,
) -> Result<Response<Body>, Error> {
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    let channel = request
        .query_string_parameters_ref()
        .and_then(|query| query.first("channel"))
        .map(str::to_owned);
    if let Some(channel) = &channel
        && let Err(problem) = validate_channel(channel)
    {
        return Ok(bad_request(problem));
    }
    let counted = match &channel {
        Some(channel) => store.count_subscribers(channel).await,
        None => store.count().await,
    };
    Ok(match counted {
        Ok(count) => json_response(StatusCode::OK, &CountBody { count, channel }),
        Err(err) => super::store_unavailable("count", &err),
    })
}
