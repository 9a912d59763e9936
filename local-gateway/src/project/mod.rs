//! ws-bridge's own functions (the handlers the Lambda binaries in `functions/` run, in this
//! process or behind a Lambda Invoke API), the routes `template.yaml` gives them, and the
//! `--routes` file that arranges them otherwise.

mod functions;
mod route_file;
mod routes;

pub(crate) use functions::{Optional, delivers_body, project_functions_with, runs_inside};
pub use functions::{ProjectFunctions, invoked_functions, project_functions};
pub(crate) use route_file::RouteConfig;
