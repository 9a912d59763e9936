//! `GET /stats`: the number of connections and the busiest channels. `?limit=` (default 100, at
//! most 1000) caps the channel list; `truncated` says whether it was cut. On DynamoDB this scans
//! the subscriptions table, so it is an operator's tool, not something to poll per request.

use super::{bad_request, json_response};
use crate::protocol::{ChannelStat, StatsBody};
use crate::webhooks::WebhookSink;
use crate::{ConnectionStore, Error, Settings};
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub async fn handle(
    store: &dyn ConnectionStore,
    settings: &Settings,
    webhooks: &dyn WebhookSink,
    request: Request,
) -> Result<Response<Body>, Error> {
    if let Some(refusal) = super::bearer::refusal(settings, &request) {
        return Ok(refusal);
    }
    let limit = match request
        .query_string_parameters_ref()
        .and_then(|query| query.first("limit"))
    {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Ok(bad_request(format!(
                    "limit must be a number from 1 to {MAX_LIMIT}, got {raw:?}"
                )));
            }
        },
    };
    let (connections, counts) = match futures::try_join!(store.count(), store.channel_counts(limit))
    {
        Ok(found) => found,
        Err(err) => return Ok(super::store_unavailable("stats", &err)),
    };
    let channels: Vec<ChannelStat> = counts
        .channels
        .into_iter()
        .map(|(name, subscribers)| ChannelStat { name, subscribers })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &StatsBody {
            connections,
            truncated: (channels.len() as u64) < counts.total_channels,
            channels,
            channel_count: counts.total_channels,
            webhooks: webhooks.counters(),
        },
    ))
}
