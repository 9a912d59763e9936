//! What API Gateway formats the same way on every surface: its ids, request times, query
//! strings, and its own JSON answers (`{"message":…}`, `x-amzn-ErrorType`).

use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};
use rand::RngCore;
use serde_json::json;

/// The stand-ins for what a deployed stack would have: its region and account.
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ACCOUNT_ID: &str = "123456789012";

/// A connection, request or message id: 11 random bytes in URL-safe base64, which is 15
/// characters of `[A-Za-z0-9_-]` and one `=`, like `Vb7rKfZ-joECH_A=`.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 11];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE.encode(bytes)
}

/// An X-Ray trace header value as API Gateway adds it to `$connect`: `Root=1-{epoch hex}-{24 hex}`.
pub(crate) fn new_trace_id(epoch_secs: i64) -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{epoch_secs:08x}-{hex}")
}

/// `body` (JSON text, possibly empty) with a JSON content type.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// API Gateway's own error shape: `{"message":"…"}`.
pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "message": text }).to_string())
}

/// An error answer: the SDKs read the type from `x-amzn-ErrorType`, and the body is empty or
/// JSON, never plain text (checklist 52).
pub(crate) fn aws_error(status: StatusCode, error_type: &str, text: Option<&str>) -> Response {
    let mut response = match text {
        Some(text) => message(status, text),
        None => json(status, String::new()),
    };
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    response
}

/// `24/Jul/2024:09:15:02 +0000` (checklist 19). It takes an instant, not epoch milliseconds,
/// so there is no out-of-range value to paper over.
pub(crate) fn clf_time(at: DateTime<Utc>) -> String {
    at.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// Decodes `a=1&b=x%20y&flag` into pairs (`+` is a space, as browsers encode forms).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shape() {
        for _ in 0..1000 {
            let id = new_id();
            assert_eq!(id.len(), 16, "{id}");
            assert!(id.ends_with('='), "{id}");
            assert!(
                id[..15]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{id}"
            );
        }
    }

    #[test]
    fn trace_ids_have_xray_shape() {
        let trace = new_trace_id(0x66a0c1d2);
        assert!(trace.starts_with("Root=1-66a0c1d2-"), "{trace}");
        assert_eq!(trace.len(), "Root=1-66a0c1d2-".len() + 24);
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query("clientId=abc&room=a%20b&x=1+2&flag&x=3"),
            vec![
                ("clientId".into(), "abc".into()),
                ("room".into(), "a b".into()),
                ("x".into(), "1 2".into()),
                ("flag".into(), "".into()),
                ("x".into(), "3".into()),
            ]
        );
    }

    #[test]
    fn clf_time_matches_aws() {
        let at = DateTime::from_timestamp_millis(1_721_812_502_117).unwrap();
        assert_eq!(clf_time(at), "24/Jul/2024:09:15:02 +0000");
    }
}

/// Property tests of the handshake's query string. `cases` keeps `cargo test` quick;
/// `PROPTEST_CASES=N` overrides it (proptest reads it by default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_query_parses_to_one_pair_per_non_empty_part(
            query in prop_oneof![any::<String>(), "[a-z=&%+0-9A-F]{0,24}"],
        ) {
            let parts = query.split('&').filter(|part| !part.is_empty()).count();
            prop_assert_eq!(parse_query(&query).len(), parts);
        }

        #[test]
        fn encoded_pairs_round_trip(
            pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..5),
            plus_for_space in any::<bool>(),
        ) {
            let encode = |text: &str| {
                let encoded = utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
                // Browsers encode a form's spaces as `+`.
                if plus_for_space { encoded.replace("%20", "+") } else { encoded }
            };
            let query = pairs
                .iter()
                .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
                .collect::<Vec<_>>()
                .join("&");
            prop_assert_eq!(parse_query(&query), pairs);
        }
    }
}
