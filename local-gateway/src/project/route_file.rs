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

use super::ProjectFunctions;
use crate::error::GatewayError;
use crate::routing::{Authorizer, IdentitySource, Route, RouteTable, SelectionExpression};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The selection expression when the file names none.
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
        Self::parse(&text).map_err(invalid)
    }

    /// The file's text as a configuration; the reason it is not one otherwise.
    fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|err| err.to_string())
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
        let selection: SelectionExpression = self
            .route_selection_expression
            .parse()
            .map_err(|reason| invalid("routeSelectionExpression", reason))?;
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
            selection,
            ..Default::default()
        };
        for (key, spec) in self.routes {
            let function = lookup(&key, &spec.function)?;
            let route = Route {
                function,
                two_way: spec.route_response,
            };
            table
                .insert(&key, route)
                .map_err(|reason| invalid(&key, reason))?;
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

/// Property tests: no `--routes` file, however wrong, panics the gateway; every refusal says why.
/// `cases` keeps `cargo test` quick; `PROPTEST_CASES=N` overrides it (proptest reads it by
/// default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const NAMES: [&str; 9] = [
        "ws-connect",
        "ws-disconnect",
        "ws-default",
        "ws-authorizer",
        "http-broadcast",
        "http-connections-count",
        "http-stats",
        "http-handshakes",
        "http-presence",
    ];

    fn functions() -> ProjectFunctions {
        let function = |name: &str| {
            crate::invoke::InProcess::shared(name, |_: lambda_runtime::LambdaEvent<Value>| async {
                Ok::<_, ws_bridge::Error>(Value::Null)
            })
        };
        ProjectFunctions {
            ws_connect: function(NAMES[0]),
            ws_disconnect: function(NAMES[1]),
            ws_default: function(NAMES[2]),
            ws_authorizer: function(NAMES[3]),
            http_broadcast: function(NAMES[4]),
            http_connections_count: function(NAMES[5]),
            http_stats: function(NAMES[6]),
            http_handshakes: function(NAMES[7]),
            http_presence: function(NAMES[8]),
        }
    }

    /// Mostly the right shape with wrong parts, or any JSON at all.
    fn config() -> impl Strategy<Value = Value> {
        // Weighted to the valid choices, so that many cases get past parsing.
        let name = prop_oneof![
            4 => prop::sample::select(NAMES.to_vec()).prop_map(Value::from),
            1 => any::<String>().prop_map(Value::from),
            1 => crate::routing::props::json(),
        ];
        let key = prop_oneof![
            3 => prop::sample::select(vec!["$connect", "$disconnect", "$default", "$other", "ping"])
                .prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        let response = prop_oneof![3 => any::<bool>().prop_map(Value::from), 1 => crate::routing::props::json()];
        let route = (name.clone(), prop::option::of(response)).prop_map(|(function, response)| {
            let mut route = json!({ "function": function });
            if let Some(response) = response {
                route["routeResponse"] = response;
            }
            route
        });
        let source = prop_oneof![
            3 => "route\\.request\\.(header|querystring)\\.[A-Za-z]{0,6}",
            1 => any::<String>(),
        ];
        let authorizer = (name, prop::collection::vec(source, 0..3)).prop_map(
            |(function, sources)| json!({ "function": function, "identitySource": sources }),
        );
        let shaped = (
            prop::collection::btree_map(key, route, 0..5),
            prop::option::of(authorizer),
            prop::option::of(prop_oneof![
                Just(Value::from("$request.body.action")),
                crate::routing::props::json(),
            ]),
        )
            .prop_map(|(routes, authorizer, expression)| {
                let mut config = json!({ "routes": routes });
                if let Some(authorizer) = authorizer {
                    config["authorizer"] = authorizer;
                }
                if let Some(expression) = expression {
                    config["routeSelectionExpression"] = expression;
                }
                config
            });
        prop_oneof![shaped, crate::routing::props::json()]
    }

    fn check(text: &str) -> Result<(), TestCaseError> {
        let config = match RouteConfig::parse(text) {
            Ok(config) => config,
            Err(reason) => {
                prop_assert!(!reason.is_empty());
                return Ok(());
            }
        };
        match config.into_table(&functions()) {
            Ok(table) => {
                prop_assert!(table.custom.keys().all(|key| !key.starts_with('$')));
                let named = |source: &IdentitySource| match source {
                    IdentitySource::Header(name) | IdentitySource::QueryString(name) => {
                        !name.is_empty()
                    }
                };
                prop_assert!(
                    table
                        .authorizer
                        .iter()
                        .flat_map(|a| &a.identity_sources)
                        .all(named)
                );
            }
            Err(GatewayError::Route { route: _, reason }) => prop_assert!(!reason.is_empty()),
            Err(other) => prop_assert!(false, "not a route error: {other}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_json_routes_file_loads_or_says_why(config in config()) {
            check(&config.to_string())?;
        }

        #[test]
        fn any_text_routes_file_loads_or_says_why(text in any::<String>()) {
            check(&text)?;
        }
    }
}
