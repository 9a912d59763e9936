use thiserror::Error;

/// What can stop the gateway from starting. Once it runs, nothing a client sends stops it.
#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot set up the connection store: {0}")]
    Store(#[from] ws_bridge::Error),
    #[error("cannot read the route configuration {path}: {reason}")]
    RouteConfig { path: String, reason: String },
    #[error("invalid webhook configuration: {0}")]
    Webhooks(String),
    #[error("invalid route {route}: {reason}")]
    Route { route: String, reason: String },
    /// `--template`: what in the template the gateway cannot honour, and why.
    #[error("template {path}: {resource}{}: {reason}", if property.is_empty() { String::new() } else { format!(" {property}") })]
    Template {
        path: String,
        resource: String,
        property: String,
        reason: String,
    },
    #[error("cannot start function {function}: {reason}")]
    Function { function: String, reason: String },
}
