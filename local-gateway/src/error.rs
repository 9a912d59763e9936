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
    Store(ws_bridge::Error),
    /// A setting's value, or settings that do not go together (history, webhooks, JWT, limits).
    #[error("invalid setting: {0}")]
    Settings(ws_bridge::Error),
    /// A flag (or its variable) that the chosen source of routes cannot honour, and what to do.
    #[error("{flag}: {reason}")]
    Unsupported { flag: String, reason: String },
    #[error("cannot read the route configuration {path}: {reason}")]
    RouteConfig { path: String, reason: String },
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
