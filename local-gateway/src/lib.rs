//! A local emulator of Amazon API Gateway WebSocket APIs.
//!
//! It serves one stage on one port: WebSocket clients at `ws://host:port/{stage}`, the
//! management API at `/{stage}/@connections/{id}`, and HTTP API routes below the stage. Routes
//! invoke Lambda functions through the [`functions::LambdaFunction`] seam with AWS-shaped JSON
//! events ([`events`]); by default these are ws-bridge's own handlers, run in-process.
//! The behaviour follows the conformance checklist of the reference; each rule's code names it.

pub mod authorizer;
pub mod config;
pub mod error;
pub mod events;
pub mod functions;
pub mod http_api;
pub mod ids;
pub mod in_process_http;
pub mod management;
pub mod project;
pub mod registry;
pub mod responses;
pub mod route_config;
pub mod routes;
pub mod server;
pub mod state;
pub mod websocket;

pub use config::{GatewayConfig, StoreKind};
pub use error::GatewayError;
pub use server::{RunningGateway, start, start_with};
