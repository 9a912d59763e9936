//! A function behind the Lambda Invoke API, e.g. `cargo lambda watch` or a runtime-API server.

use super::{FunctionError, Invoked, LambdaFunction};
use async_trait::async_trait;
use std::sync::Arc;

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

    async fn call(&self, payload: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
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

#[async_trait]
impl LambdaFunction for InvokeApi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn invoke(&self, payload: Vec<u8>) -> Invoked {
        // Whether the other service's process was cold is its own affair.
        Invoked::warm(self.call(payload).await)
    }
}
