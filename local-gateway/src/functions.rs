//! How the gateway runs a Lambda function: the [`LambdaFunction`] seam takes and returns JSON
//! bytes, as the Lambda Invoke API does. [`InProcess`] runs a handler inside the gateway, but
//! still through JSON, so an event shape the handler cannot read fails here as it would on AWS.

use async_trait::async_trait;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// A failed invocation, as Lambda reports it (`errorType`, `errorMessage`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {error_message}")]
pub struct FunctionError {
    pub error_type: String,
    pub error_message: String,
}

impl FunctionError {
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }
}

impl From<Diagnostic> for FunctionError {
    fn from(diagnostic: Diagnostic) -> Self {
        Self::new(diagnostic.error_type, diagnostic.error_message)
    }
}

#[async_trait]
pub trait LambdaFunction: Send + Sync + 'static {
    /// The function's name, for logs.
    fn name(&self) -> &str;

    /// Invokes the function with a JSON event and returns its JSON result.
    async fn invoke(&self, payload: Vec<u8>) -> Result<Vec<u8>, FunctionError>;
}

/// A handler run in this process: `handler` gets the event deserialised from the payload, as
/// `lambda_runtime` would hand it, on a task of its own so that a panic is caught and reported
/// as a function error instead of taking the gateway down.
pub struct InProcess<E, F> {
    name: String,
    handler: F,
    _event: PhantomData<fn(E)>,
}

impl<E, F, Fut, R, Err> InProcess<E, F>
where
    E: DeserializeOwned + Send + 'static,
    F: Fn(LambdaEvent<E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Err>> + Send + 'static,
    R: Serialize + Send + 'static,
    Err: Into<Diagnostic> + Send + 'static,
{
    pub fn shared(name: impl Into<String>, handler: F) -> Arc<dyn LambdaFunction> {
        Arc::new(Self {
            name: name.into(),
            handler,
            _event: PhantomData,
        })
    }
}

#[async_trait]
impl<E, F, Fut, R, Err> LambdaFunction for InProcess<E, F>
where
    E: DeserializeOwned + Send + 'static,
    F: Fn(LambdaEvent<E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Err>> + Send + 'static,
    R: Serialize + Send + 'static,
    Err: Into<Diagnostic> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn invoke(&self, payload: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        // lambda_runtime names this failure `Runtime.UnmarshalError`; keep that name.
        let event: E = serde_json::from_slice(&payload)
            .map_err(|err| FunctionError::new("Runtime.UnmarshalError", err.to_string()))?;
        let mut context = Context::default();
        context.request_id = crate::ids::new_id();
        let future = (self.handler)(LambdaEvent::new(event, context));
        match tokio::spawn(future).await {
            Ok(Ok(response)) => serde_json::to_vec(&response)
                .map_err(|err| FunctionError::new("Runtime.MarshalError", err.to_string())),
            Ok(Err(err)) => Err(FunctionError::from(err.into())),
            Err(join_error) if join_error.is_panic() => {
                let panic = join_error.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "handler panicked".into());
                tracing::error!(function = %self.name, %message, "handler panicked");
                Err(FunctionError::new("Runtime.Panic", message))
            }
            Err(join_error) => Err(FunctionError::new(
                "Runtime.Cancelled",
                join_error.to_string(),
            )),
        }
    }
}

/// A function behind the Lambda Invoke API (`POST {endpoint}/2015-03-31/functions/{name}/invocations`),
/// e.g. served by `cargo lambda watch`: each function runs as its own process.
pub struct InvokeApi {
    name: String,
    url: String,
    client: reqwest::Client,
}

impl InvokeApi {
    pub fn shared(endpoint: &str, name: &str, client: reqwest::Client) -> Arc<dyn LambdaFunction> {
        let url = format!(
            "{}/2015-03-31/functions/{name}/invocations",
            endpoint.trim_end_matches('/')
        );
        Arc::new(Self {
            name: name.to_owned(),
            url,
            client,
        })
    }
}

#[async_trait]
impl LambdaFunction for InvokeApi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn invoke(&self, payload: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        let response = self
            .client
            .post(&self.url)
            .body(payload)
            .send()
            .await
            .map_err(|err| {
                FunctionError::new("ServiceException", format!("{}: {err}", self.url))
            })?;
        let status = response.status();
        let function_failed = response.headers().contains_key("x-amz-function-error");
        let body = response
            .bytes()
            .await
            .map_err(|err| FunctionError::new("ServiceException", err.to_string()))?;
        if !status.is_success() {
            return Err(FunctionError::new(
                "ServiceException",
                format!(
                    "the Invoke API answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            ));
        }
        if function_failed {
            // The body is the function's error: {"errorType": …, "errorMessage": …}.
            let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |key: &str| {
                error
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(FunctionError::new(text("errorType"), text("errorMessage")));
        }
        Ok(body.to_vec())
    }
}
