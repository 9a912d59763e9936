//! `--require-sigv4`: `@connections` refuses unsigned requests as AWS does (checklist 53).

use crate::aws::aws_error;
use crate::state::GatewayState;
use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;

/// With `--require-sigv4`: the request must carry a SigV4 `Authorization` whose credential scope
/// names the `execute-api` service (checklist 53). The signature's bytes are not verified: the
/// gateway knows no secret keys.
fn refusal_unless_signed_for_execute_api(headers: &http::HeaderMap) -> Option<Response> {
    let Some(authorization) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(aws_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            Some("Missing Authentication Token"),
        ));
    };
    let scope_service = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .and_then(|rest| {
            rest.split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("Credential="))
        })
        .and_then(|credential| credential.split('/').nth(3));
    if scope_service == Some("execute-api") {
        None
    } else {
        Some(aws_error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            Some("The request signature is not for the execute-api service"),
        ))
    }
}

/// Applies [`refusal_unless_signed_for_execute_api`] to the `@connections` routes when configured.
pub(super) async fn require_signature(
    State(gateway): State<Arc<GatewayState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if gateway.config.require_sigv4
        && let Some(refusal) = refusal_unless_signed_for_execute_api(request.headers())
    {
        return refusal;
    }
    next.run(request).await
}

/// Property tests of the `Authorization` header `@connections` callers send with
/// `--require-sigv4`. `cases` keeps `cargo test` quick; `PROPTEST_CASES=N` overrides it (proptest
/// reads it by default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// SigV4-shaped headers with any parts, and any bytes a header may hold.
    fn authorization() -> impl Strategy<Value = Vec<u8>> {
        let service = prop_oneof![Just("execute-api".to_owned()), "[a-z-]{0,12}"];
        let shaped = (service, "[A-Za-z0-9/=, ]{0,20}", any::<bool>()).prop_map(
            |(service, rest, prefixed)| {
                let scheme = if prefixed {
                    "AWS4-HMAC-SHA256 "
                } else {
                    "AWS4 "
                };
                format!("{scheme}Credential=AKID/20260101/eu-west-1/{service}/aws4_request, {rest}")
                    .into_bytes()
            },
        );
        prop_oneof![shaped, any::<Vec<u8>>()]
    }

    fn headers(authorization: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(authorization) {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        headers
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn only_an_execute_api_scope_passes(raw in authorization()) {
            let mut headers = http::HeaderMap::new();
            // Bytes a header cannot carry never reach the middleware: hyper refuses them.
            if let Ok(value) = http::HeaderValue::from_bytes(&raw) {
                headers.insert(http::header::AUTHORIZATION, value);
            }
            let text = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            let execute_api = text.starts_with("AWS4-HMAC-SHA256 ")
                && text.contains("/execute-api/");
            match refusal_unless_signed_for_execute_api(&headers) {
                None => prop_assert!(execute_api, "{text}"),
                Some(refusal) => {
                    prop_assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
                    prop_assert!(refusal.headers().contains_key("x-amzn-ErrorType"));
                }
            }
        }

        #[test]
        fn a_signature_scoped_to_execute_api_passes(
            service in prop_oneof![Just("execute-api".to_owned()), "[a-z-]{0,12}"],
            rest in "[A-Za-z0-9/=, ]{0,20}",
        ) {
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/{service}/aws4_request, {rest}"
            );
            let refused = refusal_unless_signed_for_execute_api(&headers(&authorization)).is_some();
            prop_assert_eq!(refused, service != "execute-api", "{}", authorization);
        }
    }
}
