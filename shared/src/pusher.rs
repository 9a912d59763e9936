//! Sending messages to connections through the API Gateway management API (`@connections`).

use crate::Error;
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::config::BehaviorVersion;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::{Client, Config};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The SDK's own variable for this service's endpoint; when set it wins over the event's host.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Delivered,
    /// 410 `GoneException`: the connection no longer exists, and its row should be removed.
    Gone,
    /// Anything else (throttling, a network error, …), described for the delivery report.
    Failed(String),
}

/// A 429 answered to [`MessagePusher::try_push`] and not retried: the caller paces and tries
/// again (see [`crate::throttle`]). The answer's `ErrorType: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled(pub String);

/// The seam between handlers and whatever carries a message to a connection.
#[async_trait]
pub trait MessagePusher: Send + Sync + 'static {
    /// Sends, retrying 429s and transient failures as configured.
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome;

    /// Sends, but hands a 429 back at once instead of retrying it, so that a broadcast can slow
    /// all its sends together. A pusher that knows no throttle just pushes.
    async fn try_push(&self, connection_id: &str, data: &[u8]) -> Result<PushOutcome, Throttled> {
        Ok(self.push(connection_id, data).await)
    }

    /// Closes the connection (`DeleteConnection`); `Delivered` when it was closed.
    async fn disconnect(&self, connection_id: &str) -> PushOutcome;
}

/// The management endpoint for a WebSocket API: [`ENDPOINT_ENV`] when set, else the
/// `https://{domainName}/{stage}` that the event names.
pub fn management_endpoint(env_override: Option<String>, domain_name: &str, stage: &str) -> String {
    env_override
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| format!("https://{domain_name}/{stage}"))
}

/// [`MessagePusher`] over the real `aws-sdk-apigatewaymanagement` client, bound to one endpoint.
#[derive(Clone, Debug)]
pub struct ApiGatewayPusher {
    client: Client,
    /// The same client whose retries leave 429s to the caller ([`MessagePusher::try_push`]).
    paced: Client,
    endpoint: String,
}

impl ApiGatewayPusher {
    /// For Lambda: region and credentials from the loaded SDK config, endpoint given explicitly.
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = crate::sigv4::install(
            aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config).endpoint_url(endpoint),
        )
        .build();
        Self::from_config(config, endpoint.to_owned())
    }

    /// For Lambda functions that have no event to take a host from (the HTTP routes): the
    /// endpoint must come from [`ENDPOINT_ENV`].
    pub fn from_env_endpoint(sdk_config: &aws_config::SdkConfig) -> Result<Self, Error> {
        let endpoint = std::env::var(ENDPOINT_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{ENDPOINT_ENV} must be set to the WebSocket API's management endpoint, \
                     e.g. https://{{api-id}}.execute-api.{{region}}.amazonaws.com/{{stage}}"
                ))
            })?;
        Ok(Self::new(sdk_config, &endpoint))
    }

    /// For the local gateway: its own `@connections` endpoint. The gateway does not check
    /// signatures, so fixed placeholder credentials keep the SDK from searching for real ones.
    pub fn local(endpoint: &str) -> Self {
        let config = crate::sigv4::install(
            Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(crate::local::region())
                .credentials_provider(crate::local::credentials())
                .endpoint_url(endpoint),
        )
        .build();
        Self::from_config(config, endpoint.to_owned())
    }

    /// [`Self::local`], but sending through `http_client` (the local gateway hands requests to
    /// its own router this way, without sockets).
    pub fn local_with_http_client(
        endpoint: &str,
        http_client: aws_sdk_apigatewaymanagement::config::SharedHttpClient,
    ) -> Self {
        let config = crate::sigv4::install(
            Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(crate::local::region())
                .credentials_provider(crate::local::credentials())
                .endpoint_url(endpoint)
                .http_client(http_client)
                // A request handed to a router in the same process cannot stall; the checks'
                // throughput bookkeeping is work on every send of a broadcast.
                .stalled_stream_protection(
                    aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig::disabled(),
                ),
        )
        .build();
        Self::from_config(config, endpoint.to_owned())
    }

    /// Retries throttled (429 `LimitExceededException`) and transient failures up to
    /// `max_attempts` in all, with jittered exponential backoff from 100 ms up to 2 s, so a
    /// slow reader's full queue delays its message instead of dropping it.
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        let retries = aws_sdk_apigatewaymanagement::config::retry::RetryConfig::standard()
            .with_max_attempts(max_attempts.max(1))
            .with_initial_backoff(std::time::Duration::from_millis(100))
            .with_max_backoff(std::time::Duration::from_secs(2));
        let config = self
            .client
            .config()
            .to_builder()
            .retry_config(retries)
            .build();
        Self::from_config(config, self.endpoint)
    }

    fn from_config(config: Config, endpoint: String) -> Self {
        let paced = config
            .to_builder()
            .retry_classifier(ThrottleIsPacedByTheCaller)
            .build();
        Self {
            client: Client::from_conf(config),
            paced: Client::from_conf(paced),
            endpoint,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The management endpoint this pusher sends to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// For the WebSocket functions: the pusher for the API whose event they are handling, at
/// [`ENDPOINT_ENV`] when set, else at the event's domain and stage. One function may serve
/// several stages or custom domain names, so the endpoint follows each event; a client per
/// endpoint is built once and reused, as building one is costly.
#[derive(Debug)]
pub struct EventPusher {
    sdk_config: aws_config::SdkConfig,
    max_attempts: u32,
    endpoint_override: Option<String>,
    pushers: Mutex<HashMap<String, ApiGatewayPusher>>,
}

impl EventPusher {
    /// Reads [`ENDPOINT_ENV`] once, at start-up.
    pub fn new(sdk_config: aws_config::SdkConfig, max_attempts: u32) -> Self {
        Self {
            sdk_config,
            max_attempts,
            endpoint_override: std::env::var(ENDPOINT_ENV)
                .ok()
                .filter(|url| !url.trim().is_empty()),
            pushers: Mutex::new(HashMap::new()),
        }
    }

    /// The pusher for `event`'s API. [`Error::MalformedEvent`] when the endpoint would come
    /// from the event and it names no domain or stage.
    pub fn for_event(
        &self,
        event: &aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
    ) -> Result<ApiGatewayPusher, Error> {
        let endpoint = match &self.endpoint_override {
            Some(url) => url.clone(),
            None => {
                let context = &event.request_context;
                let domain_name = named(context.domain_name.as_deref(), "domainName")?;
                let stage = named(context.stage.as_deref(), "stage")?;
                management_endpoint(None, domain_name, stage)
            }
        };
        let mut pushers = self.pushers.lock().unwrap_or_else(PoisonError::into_inner);
        let pusher = pushers.entry(endpoint).or_insert_with_key(|endpoint| {
            ApiGatewayPusher::new(&self.sdk_config, endpoint).with_max_attempts(self.max_attempts)
        });
        Ok(pusher.clone())
    }
}

#[async_trait]
impl MessagePusher for ApiGatewayPusher {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        // Sent from the caller's task: a task per send spread a broadcast over every worker but
        // cost more in cross-thread wake-ups than it gained on two cores (A/B in the README's
        // Performance section), so it was taken out again.
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        outcome(result.map(|_| ()), |e| e.is_gone_exception())
    }

    async fn try_push(&self, connection_id: &str, data: &[u8]) -> Result<PushOutcome, Throttled> {
        let result = self
            .paced
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        match result {
            Err(err @ SdkError::ServiceError(_)) if is_throttled(&err) => {
                Err(Throttled(reason(&err)))
            }
            result => Ok(outcome(result.map(|_| ()), |e| e.is_gone_exception())),
        }
    }

    async fn disconnect(&self, connection_id: &str) -> PushOutcome {
        let result = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        outcome(result.map(|_| ()), |e| e.is_gone_exception())
    }
}

/// A 429 from `@connections`: the account throttle or a client's full buffer (both
/// `LimitExceededException` in the service model).
fn is_throttled<E>(
    err: &SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>,
) -> bool {
    matches!(err, SdkError::ServiceError(ctx) if ctx.raw().status().as_u16() == 429)
}

/// Forbids the SDK's own retry of a 429, whatever the other classifiers say (any
/// `RetryForbidden` wins): a broadcast paces all its sends on it instead. Transient failures
/// are still retried.
#[derive(Debug)]
struct ThrottleIsPacedByTheCaller;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry
    for ThrottleIsPacedByTheCaller
{
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.response() {
            Some(response) if response.status().as_u16() == 429 => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "429 is paced by the broadcast"
    }
}

/// `value` when the event has it and it is not empty, else why there is no endpoint.
fn named<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, Error> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::MalformedEvent(format!(
            "requestContext.{field} is missing, so there is no management endpoint to send to \
             (or set {ENDPOINT_ENV})"
        ))
    })
}

/// `Delivered`, `Gone` for a 410 (real-world code checks either the modelled error or the
/// status; both are accepted, so a 410 is never mistaken for a transient failure), else `Failed`
/// with a [`reason`].
fn outcome<E>(
    result: Result<(), SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>>,
    is_gone: impl Fn(&E) -> bool,
) -> PushOutcome
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let Err(err) = result else {
        return PushOutcome::Delivered;
    };
    let gone = err.as_service_error().is_some_and(&is_gone)
        || matches!(&err, SdkError::ServiceError(ctx) if ctx.raw().status().as_u16() == 410);
    if gone {
        PushOutcome::Gone
    } else {
        PushOutcome::Failed(reason(&err))
    }
}

/// The longest reason a delivery report carries, in characters.
const MAX_REASON_CHARS: usize = 200;

/// What a backend developer reads in the report: `ErrorType: message` from the service's answer
/// (e.g. `LimitExceededException: The client-side buffer is full`), else the HTTP status and the
/// error's chain of `Display`s (a timeout, a refused connection). Never `Debug`: the SDK's dumps
/// the whole response. Cut at [`MAX_REASON_CHARS`].
fn reason<E>(err: &SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let full = match (err.code(), err.message()) {
        (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
        (Some(code), _) => code.to_owned(),
        // An answer without an error type (a proxy's 502, say): its status says the most.
        (None, _) => match err {
            SdkError::ServiceError(context) => {
                format!(
                    "HTTP {}: {}",
                    context.raw().status().as_u16(),
                    display_chain(err)
                )
            }
            _ => display_chain(err),
        },
    };
    truncated(full, MAX_REASON_CHARS)
}

/// `error: cause: cause…`, each by its `Display`, skipping a cause its wrapper already quoted.
fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
fn truncated(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some(_) => {
            let cut: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{cut}…")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_endpoint_is_reported_by_its_display_chain() {
        // Port 9 (discard) on loopback: nothing listens there, so the connection is refused.
        let pusher = ApiGatewayPusher::local("http://127.0.0.1:9/dev").with_max_attempts(1);
        let PushOutcome::Failed(reason) = pusher.push("Vb7rKfZ-joECH_A=", b"{}").await else {
            panic!("a refused connection is a failure");
        };
        assert!(reason.starts_with("dispatch failure"), "{reason}");
        assert!(reason.chars().count() <= MAX_REASON_CHARS, "{reason}");
        assert!(!reason.contains('{'), "no Debug output: {reason}");
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("short".into(), 10), "short");
        assert_eq!(truncated("exactly10!".into(), 10), "exactly10!");
        let cut = truncated("é".repeat(300), MAX_REASON_CHARS);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(display_chain(&Outer(refused)), "dispatch failure: refused");
    }

    #[test]
    fn endpoint_prefers_the_sdk_variable() {
        assert_eq!(
            management_endpoint(
                Some("http://127.0.0.1:3001/dev".into()),
                "x.example.com",
                "prod"
            ),
            "http://127.0.0.1:3001/dev"
        );
    }

    #[test]
    fn endpoint_falls_back_to_the_events_domain_and_stage() {
        assert_eq!(
            management_endpoint(
                None,
                "k3x9q2m7ab.execute-api.eu-west-1.amazonaws.com",
                "prod"
            ),
            "https://k3x9q2m7ab.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            management_endpoint(Some("  ".into()), "d.example.com", "dev"),
            "https://d.example.com/dev"
        );
    }

    fn event(
        domain_name: Option<&str>,
        stage: &str,
    ) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
        let mut event = serde_json::json!({
            "requestContext": {
                "stage": stage,
                "routeKey": "$default",
                "eventType": "MESSAGE",
                "connectionId": "Vb7rKfZ-joECH_A=",
                "connectedAt": 1_721_812_502_117_i64,
                "requestTimeEpoch": 1_721_812_502_117_i64,
                "apiId": "k3x9q2m7ab",
                "identity": {"sourceIp": "198.51.100.23"}
            },
            "isBase64Encoded": false
        });
        if let Some(domain_name) = domain_name {
            event["requestContext"]["domainName"] = serde_json::json!(domain_name);
        }
        serde_json::from_value(event).expect("a WebSocket event")
    }

    fn sdk_config() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(crate::local::region())
            .build()
    }

    /// An [`EventPusher`] as `new` makes it, whatever the test process's environment says.
    fn event_pusher(endpoint_override: Option<&str>) -> EventPusher {
        EventPusher {
            endpoint_override: endpoint_override.map(str::to_owned),
            ..EventPusher::new(sdk_config(), 1)
        }
    }

    #[test]
    fn the_event_pusher_follows_each_events_domain_and_stage() {
        let pushers = event_pusher(None);
        let first = pushers
            .for_event(&event(Some("a.example.com"), "dev"))
            .unwrap();
        assert_eq!(first.endpoint(), "https://a.example.com/dev");
        let second = pushers
            .for_event(&event(Some("b.example.com"), "prod"))
            .unwrap();
        assert_eq!(second.endpoint(), "https://b.example.com/prod");
        let again = pushers
            .for_event(&event(Some("a.example.com"), "dev"))
            .unwrap();
        assert_eq!(again.endpoint(), "https://a.example.com/dev");
        assert_eq!(
            pushers.pushers.lock().unwrap().len(),
            2,
            "one client per endpoint"
        );
    }

    #[test]
    fn an_event_without_a_domain_name_has_no_endpoint() {
        let refused = event_pusher(None)
            .for_event(&event(None, "dev"))
            .unwrap_err();
        assert!(matches!(refused, Error::MalformedEvent(_)), "{refused}");
        let refused = event_pusher(None)
            .for_event(&event(Some("a.example.com"), ""))
            .unwrap_err();
        assert!(matches!(refused, Error::MalformedEvent(_)), "{refused}");
    }

    #[test]
    fn the_sdk_variable_wins_over_the_events_domain() {
        let pushers = event_pusher(Some("http://127.0.0.1:3001/dev"));
        for domain_name in [Some("a.example.com"), None] {
            let pusher = pushers.for_event(&event(domain_name, "dev")).unwrap();
            assert_eq!(pusher.endpoint(), "http://127.0.0.1:3001/dev");
        }
    }
}
