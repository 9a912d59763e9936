//! The HTTP API routes (`POST /broadcast`, `GET /connections/count`, …): each request becomes an
//! API Gateway HTTP API (payload 2.0) event, and the function's result becomes the response.

use crate::ids::new_id;
use crate::responses;
use crate::routes::HttpRoute;
use crate::state::{GatewayState, InvocationFailure};
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use ws_bridge::time::now_epoch_ms;

/// HTTP API's payload limit.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub async fn invoke_route(
    gateway: Arc<GatewayState>,
    route: HttpRoute,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return responses::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let event = v2_event(&gateway, &route, peer, &parts, &body);
    match gateway.invoke(&route.function, &event).await {
        Ok(result) => proxy_result_response(&result),
        Err(InvocationFailure::Function(_)) => {
            responses::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(InvocationFailure::TimedOut) => {
            responses::message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}

fn v2_event(
    gateway: &GatewayState,
    route: &HttpRoute,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Value {
    let now = now_epoch_ms();
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
            "time": crate::events::clf_time(now),
            "timeEpoch": now,
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
        for (name, value) in crate::events::parse_query(query) {
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

/// Turns a payload-2.0 proxy result into the HTTP response API Gateway would send.
fn proxy_result_response(result: &[u8]) -> Response {
    let Ok(Value::Object(result)) = serde_json::from_slice::<Value>(result) else {
        return responses::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let status = result
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let text = result.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if result
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        BASE64.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = (status, Body::from(body)).into_response();
    let headers = response.headers_mut();
    if let Some(Value::Object(returned)) = result.get("headers") {
        for (name, value) in returned {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = result.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
    }
    response
}
