//! Sending messages to connections through the API Gateway management API (`@connections`).

use crate::Error;
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::config::BehaviorVersion;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::{Client, Config};

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

/// The seam between handlers and whatever carries a message to a connection.
#[async_trait]
pub trait MessagePusher: Send + Sync + 'static {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome;

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
}

impl ApiGatewayPusher {
    /// For Lambda: region and credentials from the loaded SDK config, endpoint given explicitly.
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
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
        let config = Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(crate::local::region())
            .credentials_provider(crate::local::credentials())
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// [`Self::local`], but sending through `http_client` (the local gateway hands requests to
    /// its own router this way, without sockets).
    pub fn local_with_http_client(
        endpoint: &str,
        http_client: aws_sdk_apigatewaymanagement::config::SharedHttpClient,
    ) -> Self {
        let config = Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(crate::local::region())
            .credentials_provider(crate::local::credentials())
            .endpoint_url(endpoint)
            .http_client(http_client)
            .build();
        Self {
            client: Client::from_conf(config),
        }
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
        Self {
            client: Client::from_conf(config),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// For the WebSocket functions: the pusher for the API whose event they are handling, built on
/// the first event (its endpoint is [`ENDPOINT_ENV`] or the event's domain and stage) and reused
/// for the life of the process, as one function serves one API.
#[derive(Debug)]
pub struct EventPusher {
    sdk_config: aws_config::SdkConfig,
    max_attempts: u32,
    pusher: std::sync::OnceLock<ApiGatewayPusher>,
}

impl EventPusher {
    pub fn new(sdk_config: aws_config::SdkConfig, max_attempts: u32) -> Self {
        Self {
            sdk_config,
            max_attempts,
            pusher: std::sync::OnceLock::new(),
        }
    }

    pub fn for_event(
        &self,
        event: &aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
    ) -> &ApiGatewayPusher {
        self.pusher.get_or_init(|| {
            let context = &event.request_context;
            let endpoint = management_endpoint(
                std::env::var(ENDPOINT_ENV).ok(),
                context.domain_name.as_deref().unwrap_or_default(),
                context.stage.as_deref().unwrap_or_default(),
            );
            ApiGatewayPusher::new(&self.sdk_config, &endpoint).with_max_attempts(self.max_attempts)
        })
    }
}

#[async_trait]
impl MessagePusher for ApiGatewayPusher {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        outcome(result.map(|_| ()), |e| e.is_gone_exception())
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

/// `Delivered`, `Gone` for a 410 (real-world code checks either the modelled error or the
/// status; both are accepted, so a 410 is never mistaken for a transient failure), else `Failed`
/// with the SDK's full description.
fn outcome<E>(
    result: Result<(), SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>>,
    is_gone: impl Fn(&E) -> bool,
) -> PushOutcome
where
    E: std::error::Error + 'static,
{
    let Err(err) = result else {
        return PushOutcome::Delivered;
    };
    let gone = err.as_service_error().is_some_and(&is_gone)
        || matches!(&err, SdkError::ServiceError(ctx) if ctx.raw().status().as_u16() == 410);
    if gone {
        PushOutcome::Gone
    } else {
        PushOutcome::Failed(DisplayErrorContext(&err).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
