//! A local emulator of Amazon API Gateway WebSocket APIs.
//!
//! It serves one stage on one port, laid out as API Gateway's own parts:
//!
//! * `websocket`: the WebSocket stage at `ws://host:port/{stage}`: handshakes, the connection
//!   tasks, limits and close codes, frames dispatched to routes;
//! * `management`: `@connections` at `/{stage}/@connections/{id}`;
//! * `http_api`: the backend's HTTP routes below the stage, as payload-2.0 events;
//! * `routing`: the route table, route selection, the `--routes` file, the authorizer;
//! * `inspector`: a page at `/` (outside the stage) showing connections, frames and
//!   invocations live, fed by `recorder`, with `redact` masking credentials;
//! * `invoke`: how a route's function runs ([`LambdaFunction`]: in-process, or behind the
//!   Lambda Invoke API), the timed invocation, and the reading of its result.
//!
//! `server` assembles them. The behaviour follows the conformance checklist of the reference;
//! each rule's code names it.

mod aws;
mod config;
mod error;
mod http_api;
mod inspector;
mod invoke;
mod management;
mod recorder;
mod redact;
mod registry;
mod routing;
mod sam;
mod serve;
mod server;
mod state;
mod websocket;

pub use config::{GatewayConfig, StoreKind};
pub use error::GatewayError;
pub use invoke::{
    FunctionError, InProcess, LambdaFunction, ProjectFunctions, invoked_functions,
    project_functions,
};
pub use routing::{Authorizer, HttpRoute, IdentitySource, Route, RouteTable, SelectionExpression};
pub use sam::{read_template, start_from_template};
pub use server::{
    LocalEndpoint, RunningGateway, dynamodb_history, dynamodb_store, start, start_with,
};
