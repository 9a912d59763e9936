//! The route table from a JSON file (`--routes`), as an API's routes are configured on AWS:
//! which route keys exist, which function each invokes, and which have a route response.
//!
//! ```json
//! {
//!   "routes": {
//!     "$connect":    { "function": "ws-connect" },
//!     "$disconnect": { "function": "ws-disconnect" },
//!     "$default":    { "function": "ws-default", "routeResponse": true },
//!     "ping":        { "function": "ws-default", "routeResponse": true }
//!   },
//!   "authorizer": { "function": "ws-authorizer", "identitySource": ["route.request.querystring.token"] }
//! }
//! ```

use super::{Authorizer, IdentitySource, Route, RouteTable};
use crate::error::GatewayError;
use crate::invoke::ProjectFunctions;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The only selection expression the project uses; others are refused rather than ignored.
const SELECTION_EXPRESSION: &str = "$request.body.action";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteConfig {
    #[serde(default = "default_selection_expression")]
    pub route_selection_expression: String,
    pub routes: BTreeMap<String, RouteSpec>,
    #[serde(default)]
    pub authorizer: Option<AuthorizerSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteSpec {
    pub function: String,
    /// Whether the function's `body` is sent back to the sender (a two-way route).
    #[serde(default)]
    pub route_response: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AuthorizerSpec {
    pub function: String,
    pub identity_source: Vec<String>,
}

fn default_selection_expression() -> String {
    SELECTION_EXPRESSION.to_owned()
}

impl RouteConfig {
    pub(crate) fn load(path: &Path) -> Result<Self, GatewayError> {
        let invalid = |reason: String| GatewayError::RouteConfig {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|err| invalid(err.to_string()))?;
        serde_json::from_str(&text).map_err(|err| invalid(err.to_string()))
    }

    /// The route table, with the project's HTTP routes; every function must be one of `functions`.
    pub(crate) fn into_table(
        self,
        functions: &ProjectFunctions,
    ) -> Result<RouteTable, GatewayError> {
        let invalid = |route: &str, reason: String| GatewayError::Route {
            route: route.to_owned(),
            reason,
        };
        if self.route_selection_expression != SELECTION_EXPRESSION {
            return Err(invalid(
                "routeSelectionExpression",
                format!(
                    "only {SELECTION_EXPRESSION} is supported, got {:?}",
                    self.route_selection_expression
                ),
            ));
        }
        let lookup = |route: &str, name: &str| {
            functions.by_name(name).ok_or_else(|| {
                invalid(
                    route,
                    format!(
                        "no function {name:?}; known: {}",
                        functions.names().join(", ")
                    ),
                )
            })
        };
        let mut table = RouteTable {
            http: functions.http_routes(),
            ..Default::default()
        };
        for (key, spec) in self.routes {
            let function = lookup(&key, &spec.function)?;
            let route = Route {
                function,
                two_way: spec.route_response,
            };
            match key.as_str() {
                "$connect" => table.connect = Some(route),
                "$disconnect" => table.disconnect = Some(route),
                "$default" => table.default = Some(route),
                reserved if reserved.starts_with('$') => {
                    return Err(invalid(
                        reserved,
                        "route keys starting with $ are reserved".into(),
                    ));
                }
                _ => {
                    table.custom.insert(key, route);
                }
            }
        }
        if let Some(spec) = self.authorizer {
            let identity_sources = spec
                .identity_source
                .iter()
                .map(|source| IdentitySource::parse(source))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| invalid("authorizer", reason))?;
            table.authorizer = Some(Authorizer {
                function: lookup("authorizer", &spec.function)?,
                identity_sources,
            });
        }
        Ok(table)
    }
}
