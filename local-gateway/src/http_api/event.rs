//! The payload-2.0 event of an HTTP API request.

use crate::aws::{clf_time, new_id, parse_query};
use crate::routing::HttpRoute;
use crate::state::GatewayState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use http::header;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

pub(super) fn v2_event(
    gateway: &GatewayState,
    route: &HttpRoute,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Value {
    let now = Utc::now();
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|cookie| Value::String(cookie.trim().to_owned())),
            );
            continue;
        }
        insert_joined(&mut headers, name.as_str().to_owned(), value);
    }
    let domain_name = parts
        .headers
        .get(header::HOST)
        .map(|host| String::from_utf8_lossy(host.as_bytes()).into_owned())
        .unwrap_or_else(|| peer.to_string());
    let request_id = new_id();
    let route_key = route.route_key();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": gateway.config.api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": gateway.config.stage,
            "time": clf_time(now),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    let after_stage = parts
        .uri
        .path()
        .strip_prefix(&format!("/{}", gateway.config.stage))
        .unwrap_or(parts.uri.path());
    let parameters: Map<String, Value> = route
        .path_parameters(after_stage)
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    if !parameters.is_empty() {
        event["pathParameters"] = Value::Object(parameters);
    }
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        let mut parameters = Map::new();
        for (name, value) in parse_query(query) {
            insert_joined(&mut parameters, name, value);
        }
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = Value::String(text.to_owned()),
            Err(_) => {
                event["body"] = Value::String(BASE64.encode(body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// Payload 2.0 joins the values of a repeated header or query parameter with commas.
fn insert_joined(map: &mut Map<String, Value>, name: String, value: String) {
    match map.get_mut(&name) {
        Some(Value::String(existing)) => {
            existing.push(',');
            existing.push_str(&value);
        }
        _ => {
            map.insert(name, Value::String(value));
        }
    }
}
