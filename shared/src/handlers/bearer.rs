//! The backend API's protection: a shared secret sent as `Authorization: Bearer <token>`,
//! compared in constant time so its bytes cannot be learnt from response timings.

use super::json_response;
use crate::Settings;
use crate::auth::bearer_token;
use crate::protocol::ErrorBody;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use subtle::ConstantTimeEq;

/// The 401 to answer instead of serving `request`, or `None` when it may be served.
pub fn refusal(settings: &Settings, request: &Request) -> Option<Response<Body>> {
    let expected = settings.api_token.as_deref()?;
    let presented = bearer_token(request.headers()).unwrap_or("");
    // ct_eq on slices of different lengths is false without comparing contents; the length of
    // a random token is no secret.
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return None;
    }
    tracing::warn!("refused a request without the right bearer token");
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        &ErrorBody {
            error: "missing or invalid bearer token".into(),
        },
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: &str) -> Request {
        http::Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(Body::Empty)
            .expect("a request")
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let settings = Settings {
            api_token: Some("s3cret".into()),
            ..Settings::default()
        };
        for accepted in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret"] {
            assert!(
                refusal(&settings, &request(accepted)).is_none(),
                "{accepted}"
            );
        }
        for refused in ["Bearer wrong", "Basic s3cret", "Bearers3cret", "s3cret"] {
            assert!(refusal(&settings, &request(refused)).is_some(), "{refused}");
        }
    }
}
