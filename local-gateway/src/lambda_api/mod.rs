//! The Lambda Invoke API on the gateway's port, as `sam local start-lambda` serves it: a
//! function that invokes another (`boto3.client("lambda").invoke(...)`, the SDK for JavaScript's
//! `InvokeCommand`) reaches the template's function here, through `AWS_ENDPOINT_URL_LAMBDA` or
//! the runtimes' redirect of `https://lambda.{region}.amazonaws.com`.
//!
//! `POST /2015-03-31/functions/{name}/invocations`, `{name}` a function's name, ARN or partial
//! ARN (a template's `FunctionName` or logical id), with `X-Amz-Invocation-Type`:
//! * `RequestResponse` (the default): 200 with the result, or 200 with `X-Amz-Function-Error:
//!   Unhandled` and the error as the body;
//! * `Event`: 202 at once; the invocation runs in the background, retried twice on a function
//!   error as Lambda retries asynchronous invocations (after [`RETRY_DELAYS`], shorter than
//!   Lambda's one and two minutes so that a retry shows up while you watch);
//! * `DryRun`: 204 when the function exists.
//!
//! Errors carry `x-amzn-ErrorType` and Lambda's `{"Type", "message"}` body.

use crate::aws::{ACCOUNT_ID, REGION};
use crate::invoke::{FunctionError, InvocationFailure, LambdaFunction, request_id, warn_if_frozen};
use crate::state::GatewayState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lambda's limit on a synchronous invocation's request payload (6 MB).
const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The waits before the two retries of a failed asynchronous invocation.
pub(crate) const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

pub(crate) fn routes() -> Router<Arc<GatewayState>> {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        // Past Lambda's limit the answer is its own 413, not axum's.
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES + 1))
}

/// How the caller asked for the function to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

async fn invoke(
    State(gateway): State<Arc<GatewayState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    warn_if_frozen(&gateway.routes.functions, &headers, "Invoke");
    let invocation_type = match headers
        .get("x-amz-invocation-type")
        .map(|value| value.to_str().unwrap_or_default())
    {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!(
                    "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                ),
            );
        }
    };
    let qualifier = query
        .as_deref()
        .map(crate::aws::parse_query)
        .unwrap_or_default()
        .into_iter()
        .find_map(|(key, value)| (key == "Qualifier").then_some(value));
    let (function_name, arn_qualifier) = parse_function_name(&name);
    let qualifier = qualifier.or(arn_qualifier);
    let function = gateway.routes.functions.get(function_name);
    let function = match (function, qualifier.as_deref()) {
        (Some(function), None | Some("$LATEST")) => Arc::clone(function),
        _ => {
            let mut arn = function_arn(function_name);
            if let Some(qualifier) = &qualifier {
                arn = format!("{arn}:{qualifier}");
            }
            tracing::warn!(function = %name, "Invoke API: no such function in the template");
            return lambda_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Function not found: {arn}"),
            );
        }
    };
    if body.len() > MAX_PAYLOAD_BYTES {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!(
                "Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            ),
        );
    }
    // An empty payload reaches the function as `{}`, as the SDKs' default payload does.
    let payload = if body.is_empty() {
        b"{}".to_vec()
    } else {
        body.to_vec()
    };
    let event: Value = match serde_json::from_slice(&payload) {
        Ok(event) => event,
        Err(err) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("Could not parse request body into json: {err}"),
            );
        }
    };
    match invocation_type {
        InvocationType::DryRun => StatusCode::NO_CONTENT.into_response(),
        InvocationType::Event => {
            tokio::spawn(run_async(gateway, function, event, payload));
            with_request_id(StatusCode::ACCEPTED.into_response())
        }
        InvocationType::RequestResponse => {
            match run_once(&gateway, &function, &event, payload).await {
                Ok(result) => {
                    let mut response = (StatusCode::OK, result).into_response();
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    executed_latest(with_request_id(response))
                }
                Err(error) => function_error(&error),
            }
        }
    }
}

/// One invocation, shown in the inspector as a route's is.
async fn run_once(
    gateway: &GatewayState,
    function: &Arc<dyn LambdaFunction>,
    event: &Value,
    payload: Vec<u8>,
) -> Result<Vec<u8>, FunctionError> {
    let started = Instant::now();
    let invoked = function.invoke(payload).await;
    let shown = invoked.result.clone().map_err(InvocationFailure::Function);
    gateway.inspector.invocation(
        function.name(),
        event,
        &shown,
        started.elapsed(),
        invoked.init_duration,
    );
    invoked.result
}

/// An asynchronous invocation: run, and on a function error retried twice, as Lambda does.
async fn run_async(
    gateway: Arc<GatewayState>,
    function: Arc<dyn LambdaFunction>,
    event: Value,
    payload: Vec<u8>,
) {
    let attempts = RETRY_DELAYS.len() + 1;
    for attempt in 1..=attempts {
        match run_once(&gateway, &function, &event, payload.clone()).await {
            Ok(_) => return,
            Err(error) if attempt < attempts => {
                tracing::warn!(
                    function = function.name(),
                    %error,
                    attempt,
                    "asynchronous invocation failed; Lambda retries it"
                );
                tokio::time::sleep(RETRY_DELAYS[attempt - 1]).await;
            }
            Err(error) => tracing::error!(
                function = function.name(),
                %error,
                attempts,
                "asynchronous invocation failed on every attempt; on AWS it would go to the function's on-failure destination or dead-letter queue (not emulated)"
            ),
        }
    }
}

/// `{name}` as Lambda reads it: `my-function`, `my-function:qualifier`,
/// `123456789012:function:my-function[:qualifier]` or the full ARN.
fn parse_function_name(raw: &str) -> (&str, Option<String>) {
    let rest = match raw.split_once(":function:") {
        Some((_, rest)) => rest,
        None => raw,
    };
    match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier.to_owned())),
        None => (rest, None),
    }
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")
}

/// A function's error as Lambda answers a synchronous invocation: 200, `X-Amz-Function-Error:
/// Unhandled`, and the error as the payload.
fn function_error(error: &FunctionError) -> Response {
    let body = json!({ "errorMessage": error.error_message, "errorType": error.error_type });
    let mut response = crate::aws::json(StatusCode::OK, body.to_string());
    response.headers_mut().insert(
        "x-amz-function-error",
        HeaderValue::from_static("Unhandled"),
    );
    executed_latest(with_request_id(response))
}

/// An error of the Invoke API itself: `x-amzn-ErrorType` and Lambda's `{"Type", "message"}`.
fn lambda_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({ "Type": "User", "message": message });
    let mut response = crate::aws::json(status, body.to_string());
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    with_request_id(response)
}

fn with_request_id(mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&request_id()) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

fn executed_latest(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_partial_arns_name_the_same_function() {
        for (raw, name, qualifier) in [
            ("greeter", "greeter", None),
            ("greeter:$LATEST", "greeter", Some("$LATEST")),
            ("123456789012:function:greeter", "greeter", None),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:greeter",
                "greeter",
                None,
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:greeter:live",
                "greeter",
                Some("live"),
            ),
        ] {
            assert_eq!(
                parse_function_name(raw),
                (name, qualifier.map(str::to_owned)),
                "{raw}"
            );
        }
    }
}
