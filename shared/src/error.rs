use thiserror::Error;

/// Every failure of the shared crate. Handlers map these to HTTP statuses at the edge
/// (see [`crate::handlers`]); nothing here panics on bad input.
#[derive(Debug, Error)]
pub enum Error {
    /// The connection store could not be reached or refused the operation.
    #[error("connection store unavailable: {0}")]
    StoreUnavailable(String),
    /// The channel history could not be read or written.
    #[error("channel history unavailable: {0}")]
    HistoryUnavailable(String),
    /// The operation's precondition does not hold (e.g. the connection id is already stored).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The connection the operation names is not stored.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation would exceed a configured bound (e.g. channels per connection).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A token is missing, malformed, expired or not ours. The message never contains it.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A token cannot be checked right now: the identity provider's keys (its JWKS) cannot be
    /// fetched. The server's failure, not the token's: `$connect` answers 500, the authorizer
    /// fails with an error other than `Unauthorized`.
    #[error("identity provider unavailable: {0}")]
    IdentityProviderUnavailable(String),
    /// A setting is missing or malformed; raised at start-up, never per request.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A webhook failed every attempt (the dispatch function reports it so that its event source
    /// retries, then dead-letters it).
    #[error("webhook undelivered: {0}")]
    WebhookUndelivered(String),
    /// The event handed to a handler lacks something API Gateway always sends.
    #[error("malformed event: {0}")]
    MalformedEvent(String),
}

impl Error {
    /// A stable name for logs and for Lambda's `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StoreUnavailable(_) => "StoreUnavailable",
            Self::HistoryUnavailable(_) => "HistoryUnavailable",
            Self::Conflict(_) => "Conflict",
            Self::NotFound(_) => "NotFound",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::Unauthorized(_) => "Unauthorized",
            Self::IdentityProviderUnavailable(_) => "IdentityProviderUnavailable",
            Self::Config(_) => "Config",
            Self::WebhookUndelivered(_) => "WebhookUndelivered",
            Self::MalformedEvent(_) => "MalformedEvent",
        }
    }
}

/// Lets a handler's `Err` reach Lambda (and the local gateway) as a function error whose
/// `errorType` names what went wrong.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        // A Lambda authorizer refuses with exactly the message "Unauthorized" (API Gateway then
        // answers 401); the reason has been logged, and is no one else's business.
        let error_message = match &error {
            Error::Unauthorized(_) => "Unauthorized".to_owned(),
            other => other.to_string(),
        };
        Self {
            error_type: error.kind().to_owned(),
            error_message,
        }
    }
}
