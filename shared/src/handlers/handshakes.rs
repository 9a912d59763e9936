//! Why a browser's handshake failed. A browser never sees the HTTP status of a refused WebSocket
//! handshake (on API Gateway or anywhere), so the client puts a random id on each handshake
//! (`?ws_bridge_attempt=`); when `$connect` refuses it (400, 401, 403, 429), or the
//! `ws-authorizer` does (401), the status is recorded under that id for [`RECORD_SECS`], and
//! `GET /handshakes/{attemptId}` on the HTTP API tells it. Nothing recorded means the refusal was
//! not ours to record (the store was down, the function failed or was throttled, API Gateway
//! refused a handshake without a token before any function ran): the client treats that as
//! transient.
//!
//! The route needs no bearer token: the id is unguessable and the answer is a status. It always
//! answers 200 (`{"status": 401}` or `{"status": null}`), with CORS open, so that asking leaves
//! nothing in the browser's console nor a client error in the gateway's log.

use super::json_response;
use crate::ConnectionStore;
use crate::Error;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

/// The handshake's query parameter carrying the attempt id.
pub const ATTEMPT_PARAM: &str = "ws_bridge_attempt";

/// How long a refusal is kept: the client asks right after its handshake failed.
pub const RECORD_SECS: i64 = 60;

/// An attempt id: 16 to 64 of `A–Z a–z 0–9 _ -` (the client sends 22, base64url of 16 random
/// bytes). Anything else is ignored: never recorded, never looked up.
pub fn valid_attempt_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Records that the handshake `attempt_id` (if the client sent a valid one) was refused with
/// `status`. Best effort: the refusal stands whether or not it could be recorded.
pub(crate) async fn record_refusal(
    store: &dyn ConnectionStore,
    attempt_id: Option<&str>,
    status: u16,
) {
    let Some(attempt_id) = attempt_id.filter(|id| valid_attempt_id(id)) else {
        return;
    };
    let expires_at = crate::time::now_epoch_ms().div_euclid(1000) + RECORD_SECS;
    if let Err(err) = store
        .record_refused_handshake(attempt_id, status, expires_at)
        .await
    {
        tracing::warn!(error = %err, attempt_id, "could not record a refused handshake");
    }
}

/// The answer of `GET /handshakes/{attemptId}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeStatus {
    pub attempt_id: String,
    /// The status `$connect` refused the handshake with; null when none was recorded.
    pub status: Option<u16>,
    /// Set when the record could not be read: the status is unknown, not absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn handle(
    store: &dyn ConnectionStore,
    request: Request,
) -> Result<Response<Body>, Error> {
    let attempt_id = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("attemptId"))
        .unwrap_or_default()
        .to_owned();
    let (status, error) = if valid_attempt_id(&attempt_id) {
        match store.refused_handshake(&attempt_id).await {
            Ok(status) => (status, None),
            Err(err) => {
                // Still a 200: a browser logs every other status as an error in its console.
                tracing::warn!(error = %err, "could not read a refused handshake");
                (None, Some("the store is unavailable".to_owned()))
            }
        }
    } else {
        (None, None)
    };
    let mut response = json_response(
        StatusCode::OK,
        &HandshakeStatus {
            attempt_id,
            status,
            error,
        },
    );
    let headers = response.headers_mut();
    // Pages of any origin ask (a simple GET: no preflight); the answer is about one attempt.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryStore;
    use std::collections::HashMap;

    fn request(attempt_id: &str) -> Request {
        http::Request::builder()
            .uri(format!("https://api.example.com/handshakes/{attempt_id}"))
            .body(Body::Empty)
            .expect("a request")
            .with_path_parameters(HashMap::from([(
                "attemptId".to_string(),
                attempt_id.to_string(),
            )]))
    }

    async fn answer(store: &InMemoryStore, attempt_id: &str) -> serde_json::Value {
        let response = handle(store, request(attempt_id)).await.expect("an answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let Body::Text(text) = response.body() else {
            panic!("a text body");
        };
        serde_json::from_str(text).expect("JSON")
    }

    #[tokio::test]
    async fn a_recorded_refusal_is_told_and_anything_else_is_null_with_a_200() {
        let store = InMemoryStore::new();
        let id = "AAAAAAAAAAAAAAAAAAAAAA";
        record_refusal(&store, Some(id), 401).await;
        assert_eq!(answer(&store, id).await["status"], 401);
        assert_eq!(
            answer(&store, "BBBBBBBBBBBBBBBBBBBBBB").await["status"],
            serde_json::Value::Null
        );
        // Not an attempt id: never looked up, still a 200.
        assert_eq!(
            answer(&store, "short").await["status"],
            serde_json::Value::Null
        );
    }

    #[tokio::test]
    async fn an_invalid_attempt_id_is_not_recorded() {
        let store = InMemoryStore::new();
        let bad = "has a space in it, so it is no id";
        record_refusal(&store, Some(bad), 403).await;
        assert_eq!(store.refused_handshake(bad).await.expect("read"), None);
    }

    #[test]
    fn attempt_ids_are_short_url_safe_strings() {
        assert!(valid_attempt_id("Vb7rKfZ-joECH_A0aZ9_-w"));
        assert!(!valid_attempt_id("too-short"));
        assert!(!valid_attempt_id(&"a".repeat(65)));
        assert!(!valid_attempt_id("with=padding/and+slash="));
    }
}
