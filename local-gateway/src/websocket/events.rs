//! The Lambda proxy events API Gateway sends, built field by field to the shapes in the
//! reference (`apigw-websocket.md` §1): keys that AWS omits are omitted, never `null`.

use crate::aws::{clf_time, new_id, new_trace_id, parse_query};
use crate::registry::{ConnectionContext, Disconnect};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The handshake as the client sent it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Handshake {
    /// Header names and values in the order received; repeated names appear repeatedly.
    pub headers: Vec<(String, String)>,
    /// The raw query string, without `?`; `None` or empty when the URL had none.
    pub query: Option<String>,
}

/// `$connect` (checklist 9, 10, 21).
pub(crate) fn connect_event(
    ctx: &ConnectionContext,
    handshake: &Handshake,
    now: DateTime<Utc>,
) -> Value {
    let mut headers: Vec<(String, String)> = handshake
        .headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("upgrade")
        })
        .map(|(name, value)| (canonical_header_name(name), value.clone()))
        .collect();
    headers.push(("X-Amzn-Trace-Id".into(), new_trace_id(now.timestamp())));
    headers.push(("X-Forwarded-For".into(), ctx.source_ip.clone()));
    headers.push(("X-Forwarded-Port".into(), "443".into()));
    headers.push(("X-Forwarded-Proto".into(), "https".into()));

    let mut event = Map::new();
    event.insert("headers".into(), single_value_map(&headers));
    event.insert("multiValueHeaders".into(), multi_value_map(&headers));
    if let Some(query) = handshake.query.as_deref().filter(|q| !q.is_empty()) {
        let pairs = parse_query(query);
        event.insert("queryStringParameters".into(), single_value_map(&pairs));
        event.insert(
            "multiValueQueryStringParameters".into(),
            multi_value_map(&pairs),
        );
    }
    event.insert(
        "requestContext".into(),
        request_context(ctx, "$connect", "CONNECT", now, None),
    );
    event.insert("isBase64Encoded".into(), Value::Bool(false));
    Value::Object(event)
}

/// A message route (checklist 11, 14, 22): only `requestContext`, `body`, `isBase64Encoded`.
pub(crate) fn message_event(
    ctx: &ConnectionContext,
    route_key: &str,
    body: &str,
    now: DateTime<Utc>,
) -> (Value, String) {
    let request_context = request_context(ctx, route_key, "MESSAGE", now, Some(Extra::Message));
    let request_id = request_context["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let event = json!({
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": false,
    });
    (event, request_id)
}

/// `$disconnect` (checklist 12, 15): a fixed, odd set of headers, whatever the client sent.
pub(crate) fn disconnect_event(
    ctx: &ConnectionContext,
    how: &Disconnect,
    now: DateTime<Utc>,
) -> Value {
    let headers = vec![
        ("Host".to_owned(), ctx.domain_name.clone()),
        ("x-api-key".to_owned(), String::new()),
        ("X-Forwarded-For".to_owned(), String::new()),
        ("x-restapi".to_owned(), String::new()),
    ];
    json!({
        "headers": single_value_map(&headers),
        "multiValueHeaders": multi_value_map(&headers),
        "requestContext": request_context(ctx, "$disconnect", "DISCONNECT", now, Some(Extra::Disconnect(how))),
        "isBase64Encoded": false,
    })
}

enum Extra<'a> {
    Message,
    Disconnect(&'a Disconnect),
}

fn request_context(
    ctx: &ConnectionContext,
    route_key: &str,
    event_type: &str,
    now: DateTime<Utc>,
    extra: Option<Extra<'_>>,
) -> Value {
    // requestId equals extendedRequestId and is new for every event (checklist 16).
    let request_id = new_id();
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), Value::String(ctx.source_ip.clone()));
    if let Some(user_agent) = &ctx.user_agent {
        identity.insert("userAgent".into(), Value::String(user_agent.clone()));
    }
    let mut context = Map::new();
    context.insert("routeKey".into(), route_key.into());
    context.insert("eventType".into(), event_type.into());
    context.insert("extendedRequestId".into(), request_id.clone().into());
    context.insert("requestTime".into(), clf_time(now).into());
    context.insert("messageDirection".into(), "IN".into());
    context.insert("stage".into(), ctx.stage.clone().into());
    context.insert("connectedAt".into(), ctx.connected_at.into());
    context.insert("requestTimeEpoch".into(), now.timestamp_millis().into());
    context.insert("identity".into(), Value::Object(identity));
    context.insert("requestId".into(), request_id.into());
    context.insert("domainName".into(), ctx.domain_name.clone().into());
    context.insert("connectionId".into(), ctx.connection_id.clone().into());
    context.insert("apiId".into(), ctx.api_id.clone().into());
    if let Some(authorizer) = &ctx.authorizer {
        context.insert("authorizer".into(), Value::Object(authorizer.clone()));
    }
    match extra {
        Some(Extra::Message) => {
            context.insert("messageId".into(), new_id().into());
        }
        Some(Extra::Disconnect(how)) => {
            context.insert("disconnectStatusCode".into(), how.status_code.into());
            context.insert("disconnectReason".into(), how.reason.clone().into());
        }
        None => {}
    }
    Value::Object(context)
}

/// The last value of each name, as API Gateway folds repeated names in the single-value map.
pub(crate) fn single_value_map(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        map.insert(name.clone(), Value::String(value.clone()));
    }
    Value::Object(map)
}

pub(crate) fn multi_value_map(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        if let Value::Array(values) = map
            .entry(name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            values.push(Value::String(value.clone()));
        }
    }
    Value::Object(map)
}

/// HTTP/1 servers see header names lowercased; AWS passes the client's casing through. Browsers
/// and common clients send the canonical forms, so restore those.
pub(crate) fn canonical_header_name(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "X-Amzn-Trace-Id",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
        "DNT",
        "ETag",
    ];
    if let Some(known) = KNOWN.iter().find(|known| known.eq_ignore_ascii_case(name)) {
        return (*known).to_owned();
    }
    name.split('-')
        .map(|segment| {
            let mut chars = segment.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_get_their_canonical_casing() {
        assert_eq!(
            canonical_header_name("sec-websocket-key"),
            "Sec-WebSocket-Key"
        );
        assert_eq!(canonical_header_name("user-agent"), "User-Agent");
        assert_eq!(canonical_header_name("host"), "Host");
        assert_eq!(canonical_header_name("x-custom-thing"), "X-Custom-Thing");
    }
}

/// Property test: a client's frame reaches the function byte for byte, in an event the Lambda
/// types read. `cases` keeps `cargo test` quick; `PROPTEST_CASES=N` overrides it (proptest reads
/// it by default).
#[cfg(test)]
mod props {
    use super::*;
    use crate::routing::props::{body, table};
    use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
    use proptest::prelude::*;

    fn context() -> ConnectionContext {
        ConnectionContext {
            connection_id: "Vb7rKfZ-joECH_A=".into(),
            connected_at: 1_700_000_000_000,
            source_ip: "127.0.0.1".into(),
            user_agent: Some("proptest".into()),
            domain_name: "localhost".into(),
            stage: "dev".into(),
            api_id: "local".into(),
            authorizer: None,
        }
    }

    /// Headers as hyper hands them over: lower-case names, any bytes a header value may hold,
    /// decoded as the handshake decodes them.
    fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop_oneof![
            Just("connection".to_owned()),
            Just("upgrade".to_owned()),
            Just("sec-websocket-key".to_owned()),
            "[a-z0-9!#$%&'*+.^_`|~-]{1,12}",
        ];
        // Exactly the bytes `HeaderValue` accepts (tab, visible ASCII, obs-text), generated
        // rather than filtered, so that long runs do not give up on rejects.
        let byte = prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff];
        let value = prop::collection::vec(byte, 0..24)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        prop::collection::vec((name, value), 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn connect_events_read_as_the_lambda_types_read_them(
            headers in headers(),
            query in prop::option::of(prop_oneof![any::<String>(), "[a-z=&%+0-9A-F]{0,24}"]),
        ) {
            let handshake = Handshake { headers: headers.clone(), query: query.clone() };
            let event = connect_event(&context(), &handshake, Utc::now());
            let wire = serde_json::to_vec(&event).expect("an event serializes");
            let request: ApiGatewayWebsocketProxyRequest =
                serde_json::from_slice(&wire).map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert!(request.headers.get("connection").is_none());
            prop_assert!(request.headers.get("upgrade").is_none());
            for (name, _) in &headers {
                prop_assert!(name == "connection" || name == "upgrade" || request.headers.contains_key(name.as_str()));
            }
            // Each parameter's last value, as API Gateway folds repeated names.
            let pairs = query.as_deref().map(parse_query).unwrap_or_default();
            for (name, _) in &pairs {
                let last = pairs.iter().rev().find(|(other, _)| other == name).map(|(_, value)| value.as_str());
                prop_assert_eq!(request.query_string_parameters.first(name), last);
            }
        }

        #[test]
        fn canonical_header_names_differ_only_in_case(name in "[a-zA-Z0-9-]{0,24}") {
            prop_assert!(canonical_header_name(&name).eq_ignore_ascii_case(&name));
        }

        #[test]
        fn message_events_carry_the_body_byte_for_byte(table in table(), body in body()) {
            let Some((route_key, _)) = table.build().select(&body) else {
                return Ok(());
            };
            let (event, request_id) = message_event(&context(), &route_key, &body, Utc::now());
            prop_assert_eq!(event["body"].as_str(), Some(body.as_str()));
            // As the function receives it: serialized, then read by the Lambda event types.
            let wire = serde_json::to_vec(&event).expect("an event serializes");
            let request: ApiGatewayWebsocketProxyRequest =
                serde_json::from_slice(&wire).map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!(request.body.as_deref(), Some(body.as_str()));
            prop_assert_eq!(request.request_context.route_key.as_deref(), Some(route_key.as_str()));
            prop_assert_eq!(request.request_context.request_id.as_deref(), Some(request_id.as_str()));
        }
    }
}
