//! A local emulator of Amazon API Gateway WebSocket APIs.
//!
//! It serves one stage on one port, laid out as API Gateway's own parts:
//!
//! * `app`: start-up: the source of the routes (the project's, a `--routes` file, a Lambda
//!   Invoke API, a SAM `template`) and the backends the functions run on, built once;
//! * `config`: the flags;
//! * `websocket`: the WebSocket stage at `ws://host:port/{stage}`: handshakes, the connection
//!   tasks, limits and close codes, frames dispatched to routes;
//! * `management`: `@connections` at `/{stage}/@connections/{id}`;
//! * `lambda_api`: the Lambda Invoke API at `/2015-03-31/functions/{name}/invocations`, for
//!   functions that invoke functions;
//! * `http_api`: the backend's HTTP routes below the stage, as payload-2.0 events;
//! * `routing`: the route table, route selection, the authorizer's configuration;
//! * `template`: a SAM template read: its routes, functions and tables;
//! * `project`: ws-bridge's own functions, their routes and the `--routes` file;
//! * `inspector`: a page at `/` (outside the stage) showing connections, frames and
//!   invocations live, read from the `recorder` (which masks credentials);
//! * `invoke`: how a route's function runs ([`LambdaFunction`]: in-process, a process under a
//!   Lambda Runtime API, or behind the Lambda Invoke API), the timed invocation, and the
//!   reading of its result;
//! * `webhooks`: webhooks as the deployed stack sends them, fed by the store's changes;
//! * `net`: the listener, with its bounds on slow handshakes.
//!
//! The behaviour follows the conformance checklist of the reference; each rule's code names it.

mod app;
mod aws;
mod broadcasts;
mod config;
mod error;
mod flag_groups;
mod http_api;
mod inspector;
mod invoke;
mod lambda_api;
mod management;
mod net;
mod project;
mod quotas;
mod recorder;
mod registry;
mod routing;
mod state;
mod template;
mod webhooks;
mod websocket;

pub use app::dynamodb_broadcasts;
pub use app::{
    LocalEndpoint, RunningGateway, SHUTDOWN_GRACE, WEBHOOK_FLUSH, dynamodb_history,
    dynamodb_presence, dynamodb_store, read_template, start, start_with,
};
pub use config::{GatewayConfig, RateLimit, StoreKind};
pub use error::GatewayError;
pub use flag_groups::{AsyncBroadcastFlags, QuotaFlags};
pub use invoke::{FunctionError, InProcess, LambdaFunction};
pub use net::raise_file_limit;
pub use project::{ProjectFunctions, invoked_functions, project_functions};
pub use quotas::TokenBucket;
pub use routing::{Authorizer, HttpRoute, IdentitySource, Route, RouteTable, SelectionExpression};
