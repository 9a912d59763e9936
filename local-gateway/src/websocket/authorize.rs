//! Running the REQUEST authorizer during a handshake (reference §6): it runs once per
//! connection, before `$connect`, and its verdict is the handshake's.

use super::events::{self, Handshake};
use crate::aws::parse_query;
use crate::invoke::InvocationFailure;
use crate::registry::ConnectionContext;
use crate::routing::{Authorizer, IdentitySource};
use crate::state::GatewayState;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Map, Value, json};

/// Whether the handshake carries a non-empty value for `source` (checklist 55).
fn is_present(source: &IdentitySource, handshake: &Handshake) -> bool {
    match source {
        IdentitySource::Header(name) => handshake
            .headers
            .iter()
            .any(|(header, value)| header.eq_ignore_ascii_case(name) && !value.is_empty()),
        IdentitySource::QueryString(name) => handshake
            .query
            .as_deref()
            .map(parse_query)
            .unwrap_or_default()
            .iter()
            .any(|(key, value)| key == name && !value.is_empty()),
    }
}

/// Runs the authorizer for a handshake. `Ok` carries the `requestContext.authorizer` block for
/// every event of the connection; `Err` is the handshake's status.
pub(crate) async fn authorize(
    gateway: &GatewayState,
    authorizer: &Authorizer,
    context: &ConnectionContext,
    handshake: &Handshake,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, StatusCode> {
    // A missing or empty identity source is refused without invoking anything (checklist 55).
    if !authorizer
        .identity_sources
        .iter()
        .all(|source| is_present(source, handshake))
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let input = input_event(context, handshake, now);
    let started = std::time::Instant::now();
    let result = match gateway.invoke(&authorizer.function, &input).await {
        Ok(result) => result,
        // A function that throws "Unauthorized" means 401; any other failure is API Gateway's 500.
        Err(InvocationFailure::Function(err)) if err.error_message == "Unauthorized" => {
            return Err(StatusCode::UNAUTHORIZED);
        }
        Err(_) => return Err(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    verdict(&result, latency)
}

/// Reads the policy: an explicit Deny wins (403), an Allow admits, anything malformed is 500
/// (checklist 56). The block keeps `principalId`, the latency and every `context` key (57).
fn verdict(result: &[u8], latency_ms: u64) -> Result<Map<String, Value>, StatusCode> {
    let Ok(Value::Object(result)) = serde_json::from_slice::<Value>(result) else {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let principal = result
        .get("principalId")
        .cloned()
        .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    let statements = result
        .get("policyDocument")
        .and_then(|policy| policy.get("Statement"))
        .and_then(Value::as_array)
        .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    let effects: Vec<&str> = statements
        .iter()
        .filter_map(|statement| statement.get("Effect").and_then(Value::as_str))
        .collect();
    if effects
        .iter()
        .any(|effect| effect.eq_ignore_ascii_case("deny"))
    {
        return Err(StatusCode::FORBIDDEN);
    }
    if !effects
        .iter()
        .any(|effect| effect.eq_ignore_ascii_case("allow"))
    {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let mut block = Map::new();
    block.insert("principalId".into(), principal);
    block.insert("integrationLatency".into(), latency_ms.into());
    if let Some(Value::Object(context)) = result.get("context") {
        for (key, value) in context {
            block.insert(key.clone(), value.clone());
        }
    }
    Ok(block)
}

/// The authorizer's input (checklist 58): `type: REQUEST`, a `methodArn` for `$connect`, the
/// handshake headers *including* `Connection`, `Upgrade` and `content-length`, `{}` for absent
/// query strings and stage variables, and the `$connect` event's `requestContext`.
pub(crate) fn input_event(
    context: &ConnectionContext,
    handshake: &Handshake,
    now: DateTime<Utc>,
) -> Value {
    let connect = events::connect_event(context, handshake, now);
    let mut headers: Vec<(String, String)> = handshake
        .headers
        .iter()
        .map(|(name, value)| (events::canonical_header_name(name), value.clone()))
        .collect();
    headers.push(("content-length".into(), "0".into()));
    let (single, multi) = (
        events::single_value_map(&headers),
        events::multi_value_map(&headers),
    );
    let empty = || Value::Object(Map::new());
    json!({
        "type": "REQUEST",
        "methodArn": format!(
            "arn:aws:execute-api:us-east-1:000000000000:{}/{}/$connect",
            context.api_id, context.stage
        ),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": connect.get("queryStringParameters").cloned().unwrap_or_else(empty),
        "multiValueQueryStringParameters": connect.get("multiValueQueryStringParameters").cloned().unwrap_or_else(empty),
        "stageVariables": empty(),
        "requestContext": connect["requestContext"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_malformed_is_500() {
        let allow = br#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow"}]},"context":{"tenant":"acme"}}"#;
        let block = verdict(allow, 7).unwrap();
        assert_eq!(block["principalId"], "u");
        assert_eq!(block["tenant"], "acme");
        assert_eq!(block["integrationLatency"], 7);
        let deny = br#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow"},{"Effect":"Deny"}]}}"#;
        assert_eq!(verdict(deny, 1), Err(StatusCode::FORBIDDEN));
        assert_eq!(
            verdict(br#"{"statusCode":401}"#, 1),
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }
}
