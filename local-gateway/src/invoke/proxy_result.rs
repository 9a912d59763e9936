//! What a function returned, read as API Gateway reads a Lambda proxy result.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::StatusCode;
use serde_json::Value;

/// The parts of a Lambda proxy result API Gateway reads on WebSocket routes.
#[derive(Debug, Default)]
pub(crate) struct IntegrationResponse {
    pub status_code: Option<u16>,
    pub headers: serde_json::Map<String, Value>,
    pub body: Option<String>,
}

impl IntegrationResponse {
    pub fn parse(bytes: &[u8]) -> Self {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(bytes) else {
            return Self::default();
        };
        Self {
            status_code: object
                .get("statusCode")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok()),
            headers: match object.remove("headers") {
                Some(Value::Object(headers)) => headers,
                _ => Default::default(),
            },
            body: match object.remove("body") {
                Some(Value::String(body)) => Some(body),
                _ => None,
            },
        }
    }

    /// A header the function returned, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }
}

/// An HTTP API (payload 2.0) function result, read as API Gateway reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HttpProxyResult {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl HttpProxyResult {
    /// An object with `statusCode` is a proxy result. Any other valid JSON is the body itself:
    /// payload 2.0 then assumes 200, `application/json` and no base64. `Err` says why the result
    /// is unusable (API Gateway's 500): not JSON, a bad status, or a body that claims base64 and
    /// is not.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|err| format!("the result is not JSON: {err}"))?;
        let Some(result) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
            return Ok(Self {
                status: StatusCode::OK,
                headers: vec![("content-type".into(), "application/json".into())],
                cookies: Vec::new(),
                body: bytes.to_vec(),
            });
        };
        let status = result
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| format!("invalid statusCode {}", result["statusCode"]))?;
        let text = result.get("body").and_then(Value::as_str).unwrap_or("");
        let body = if result
            .get("isBase64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            BASE64.decode(text).map_err(|err| {
                format!("isBase64Encoded is true but the body is not base64: {err}")
            })?
        } else {
            text.as_bytes().to_vec()
        };
        let headers = match result.get("headers") {
            Some(Value::Object(headers)) => headers
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        let cookies = match result.get("cookies") {
            Some(Value::Array(cookies)) => cookies
                .iter()
                .filter_map(|cookie| cookie.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            status,
            headers,
            cookies,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_responses_parse_leniently() {
        let parsed = IntegrationResponse::parse(
            br#"{"statusCode":401,"headers":{"sec-websocket-protocol":"chat"},"body":"x"}"#,
        );
        assert_eq!(parsed.status_code, Some(401));
        assert_eq!(parsed.header("Sec-WebSocket-Protocol"), Some("chat"));
        assert_eq!(parsed.body.as_deref(), Some("x"));
        assert_eq!(IntegrationResponse::parse(b"null").status_code, None);
    }

    #[test]
    fn an_http_result_without_status_code_is_the_body_itself() {
        let result = HttpProxyResult::parse(br#"{"count":3}"#).unwrap();
        assert_eq!(result.status, StatusCode::OK);
        assert_eq!(result.body, br#"{"count":3}"#);
        assert_eq!(
            result.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        let result = HttpProxyResult::parse(b"[1,2]").unwrap();
        assert_eq!(
            (result.status, result.body),
            (StatusCode::OK, b"[1,2]".to_vec())
        );
    }

    #[test]
    fn an_http_proxy_result_is_read_field_by_field() {
        let result = HttpProxyResult::parse(
            br#"{"statusCode":201,"headers":{"x-a":"1"},"cookies":["a=b"],"body":"aGk=","isBase64Encoded":true}"#,
        )
        .unwrap();
        assert_eq!(result.status, StatusCode::CREATED);
        assert_eq!(result.body, b"hi");
        assert_eq!(result.headers, vec![("x-a".to_string(), "1".to_string())]);
        assert_eq!(result.cookies, vec!["a=b".to_string()]);
    }

    #[test]
    fn unusable_http_results_are_errors_not_empty_bodies() {
        let bad_base64 = HttpProxyResult::parse(
            br#"{"statusCode":200,"body":"not base64!","isBase64Encoded":true}"#,
        );
        assert!(bad_base64.unwrap_err().contains("not base64"));
        assert!(HttpProxyResult::parse(b"not json").is_err());
        assert!(HttpProxyResult::parse(br#"{"statusCode":"ok"}"#).is_err());
    }
}
