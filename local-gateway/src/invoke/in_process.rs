//! A handler run inside the gateway, through JSON in and out.

use super::{FunctionError, Invoked, LambdaFunction};
use async_trait::async_trait;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

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

    async fn call(&self, payload: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        // lambda_runtime names this failure `Runtime.UnmarshalError`; keep that name.
        let event: E = serde_json::from_slice(&payload)
            .map_err(|err| FunctionError::new("Runtime.UnmarshalError", err.to_string()))?;
        let mut context = Context::default();
        context.request_id = crate::aws::new_id();
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

    async fn invoke(&self, payload: Vec<u8>) -> Invoked {
        // Built once with the gateway: an in-process handler has no cold start.
        Invoked::warm(self.call(payload).await)
    }
}
