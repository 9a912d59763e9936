//! The JSON answers API Gateway itself gives, in one place.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// `body` (JSON text, possibly empty) with a JSON content type.
pub fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// API Gateway's own error shape: `{"message":"…"}`.
pub fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "message": text }).to_string())
}
