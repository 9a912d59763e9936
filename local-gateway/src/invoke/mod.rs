//! How the gateway runs a Lambda function. The [`LambdaFunction`] seam takes and returns JSON
//! bytes, as the Lambda Invoke API does, and says whether the invocation was a cold start
//! ([`Invoked`]); [`timed`] bounds an invocation by the integration
//! timeout; [`proxy_result`] reads what a function returned as API Gateway reads it.
//!
//! * [`InProcess`]: a handler inside the gateway, still through JSON, so an event shape the
//!   handler cannot read fails here as it would on AWS;
//! * [`InvokeApi`]: a function behind the Lambda Invoke API, each its own process.
//!
//! ws-bridge's own functions are in `project`.

mod code_watch;
mod in_process;
mod invoke_api;
mod process;
pub(crate) mod proxy_result;
mod runtime_api;
pub(crate) mod runtime_deps;
pub(crate) mod runtimes;
pub(crate) mod sdk_client;
mod spread_pusher;

pub use in_process::InProcess;
pub use invoke_api::InvokeApi;
pub(crate) use process::uuid_like as request_id;
pub use process::{ProcessFunction, ProcessSpec};
pub(crate) use spread_pusher::SpreadPusher;

use async_trait::async_trait;
use lambda_runtime::Diagnostic;
use std::sync::Arc;
use std::time::Duration;
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

/// What an invocation gave back: the function's JSON result or error, and, when it was the first
/// invocation its process served (a cold start), how long that process took to initialise: from
/// its start to its first request for an invocation, Lambda's `Init Duration`.
#[derive(Debug)]
pub struct Invoked {
    pub result: Result<Vec<u8>, FunctionError>,
    pub init_duration: Option<Duration>,
}

impl Invoked {
    /// An invocation served by a process already warm, or by no process of the gateway's (an
    /// in-process handler, a function behind another Invoke API).
    pub fn warm(result: Result<Vec<u8>, FunctionError>) -> Self {
        Self {
            result,
            init_duration: None,
        }
    }
}

#[async_trait]
pub trait LambdaFunction: Send + Sync + 'static {
    /// The function's name, for logs.
    fn name(&self) -> &str;

    /// Invokes the function with a JSON event: its JSON result, and whether it was a cold start.
    async fn invoke(&self, payload: Vec<u8>) -> Invoked;

    /// For a process of this function with `pid`: whether its code may be running now
    /// (initialising, or serving an invocation); `None` when no process of it has that pid.
    fn serving(&self, _pid: u32) -> Option<bool> {
        None
    }
}

/// The header the runtimes' redirects (Python's `sitecustomize`, Node's `redirect.cjs`) add to
/// the calls a function's process makes to the gateway: the process's pid.
pub(crate) const CALLER_PID: &str = "x-local-gateway-pid";

/// Warns when a call to the gateway (`call`: `@connections`, `Invoke`) comes from a process that
/// is not serving an invocation: work its handler left running after returning (a promise
/// nobody awaited, a timer), which on AWS is frozen with the environment when the handler
/// returns, and runs at the next invocation, if there is one, or never.
pub(crate) fn warn_if_frozen(
    functions: &std::collections::BTreeMap<String, Arc<dyn LambdaFunction>>,
    headers: &http::HeaderMap,
    call: &str,
) {
    let Some(pid) = headers
        .get(CALLER_PID)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u32>().ok())
    else {
        return;
    };
    let caller = functions
        .values()
        .find_map(|function| Some((function.name(), function.serving(pid)?)));
    if let Some((function, false)) = caller {
        tracing::warn!(
            function,
            pid,
            "{function} called {call} after its handler returned: on AWS the execution environment is frozen then, and this call would wait for the next invocation or never happen; await it before the handler returns"
        );
    }
}

/// The error type [`WithTimeout`] reports, read back by [`timed`] as a timeout.
const INTEGRATION_TIMEOUT: &str = "Gateway.IntegrationTimeout";

/// A route's own integration timeout (`TimeoutInMillis`), below the gateway's: past it the
/// client gets API Gateway's timeout answer, as with the gateway-wide one.
pub struct WithTimeout {
    function: Arc<dyn LambdaFunction>,
    timeout: Duration,
}

impl WithTimeout {
    pub fn shared(function: Arc<dyn LambdaFunction>, timeout: Duration) -> Arc<dyn LambdaFunction> {
        Arc::new(Self { function, timeout })
    }
}

#[async_trait]
impl LambdaFunction for WithTimeout {
    fn name(&self) -> &str {
        self.function.name()
    }

    async fn invoke(&self, payload: Vec<u8>) -> Invoked {
        tokio::time::timeout(self.timeout, self.function.invoke(payload))
            .await
            .unwrap_or_else(|_| {
                Invoked::warm(Err(FunctionError::new(
                    INTEGRATION_TIMEOUT,
                    format!("no answer within {} ms", self.timeout.as_millis()),
                )))
            })
    }
}

/// Why an integration produced no usable result.
#[derive(Debug)]
pub(crate) enum InvocationFailure {
    Function(FunctionError),
    TimedOut,
}

/// Invokes `function` with `event`, bounded by `timeout` (the integration timeout): the
/// outcome, and the process's initialisation when it was a cold start ([`Invoked`]).
pub(crate) async fn timed(
    function: &Arc<dyn LambdaFunction>,
    event: &serde_json::Value,
    timeout: Duration,
) -> (Result<Vec<u8>, InvocationFailure>, Option<Duration>) {
    let payload = match serde_json::to_vec(event) {
        Ok(payload) => payload,
        // A `Value` always serialises; were it ever not to, it is the integration that failed.
        Err(err) => {
            let error = FunctionError::new("Runtime.MarshalError", err.to_string());
            return (Err(InvocationFailure::Function(error)), None);
        }
    };
    let Ok(invoked) = tokio::time::timeout(timeout, function.invoke(payload)).await else {
        tracing::warn!(function = function.name(), "integration timed out");
        return (Err(InvocationFailure::TimedOut), None);
    };
    let outcome = match invoked.result {
        Ok(result) => Ok(result),
        Err(err) if err.error_type == INTEGRATION_TIMEOUT => {
            tracing::warn!(function = function.name(), "integration timed out");
            Err(InvocationFailure::TimedOut)
        }
        Err(err) => {
            tracing::warn!(function = function.name(), error = %err, "function failed");
            Err(InvocationFailure::Function(err))
        }
    };
    (outcome, invoked.init_duration)
}
