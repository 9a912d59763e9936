//! ws-bridge's own functions (the handlers the Lambda binaries in `functions/` run, in this
//! process or behind a Lambda Invoke API) and the routes `template.yaml` gives them.

mod functions;
mod routes;

pub use functions::{ProjectFunctions, invoked_functions, project_functions};
pub(crate) use functions::{delivers_body, project_functions_with, runs_inside};
