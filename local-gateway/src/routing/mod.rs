//! Which function each request reaches: the route table, route selection with
//! `$request.body.action` (reference §2.4), the authorizer's configuration.

mod authorizer;

pub use authorizer::{Authorizer, IdentitySource};

use crate::invoke::LambdaFunction;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A WebSocket route: which function it invokes, and whether it has a route response (two-way:
/// the function's `body` is sent back to the sender).
#[derive(Clone)]
pub struct Route {
    pub function: Arc<dyn LambdaFunction>,
    pub two_way: bool,
}

impl Route {
    pub fn one_way(function: Arc<dyn LambdaFunction>) -> Self {
        Self {
            function,
            two_way: false,
        }
    }

    pub fn two_way(function: Arc<dyn LambdaFunction>) -> Self {
        Self {
            function,
            two_way: true,
        }
    }
}

/// An HTTP API route such as `POST /broadcast`, mounted under the stage.
#[derive(Clone)]
pub struct HttpRoute {
    pub method: http::Method,
    /// Path after the stage, starting with `/`.
    pub path: String,
    pub function: Arc<dyn LambdaFunction>,
    /// The body is delivered as one WebSocket message (the delivery routes): the gateway keeps
    /// at most `ws_bridge::protocol::MAX_MESSAGE_BYTES` of it, and answers a larger one with the
    /// delivery handler's own 413 instead of invoking it with a body it would only refuse.
    pub delivers_body: bool,
}

impl HttpRoute {
    /// The HTTP API route key, e.g. `POST /broadcast/{channel}`.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The values of the path's `{name}` segments in `path` (the request's path after the
    /// stage), percent-decoded as API Gateway hands them to the function.
    pub fn path_parameters(&self, path: &str) -> Vec<(String, String)> {
        self.path
            .split('/')
            .zip(path.split('/'))
            .filter_map(|(template, actual)| {
                let name = template.strip_prefix('{')?.strip_suffix('}')?;
                let value = percent_encoding::percent_decode_str(actual)
                    .decode_utf8_lossy()
                    .into_owned();
                Some((name.to_owned(), value))
            })
            .collect()
    }
}

/// Every route of the emulated APIs. A missing `$connect` accepts every handshake; a missing
/// `$default` answers unmatched messages with the `Forbidden` frame.
#[derive(Clone, Default)]
pub struct RouteTable {
    pub connect: Option<Route>,
    pub disconnect: Option<Route>,
    pub default: Option<Route>,
    /// Custom route keys selected by the message's `action`. Keys starting with `$` are reserved
    /// by API Gateway, so messages can never select `$connect` or `$disconnect` (checklist 30).
    pub custom: HashMap<String, Route>,
    pub http: Vec<HttpRoute>,
    /// A REQUEST authorizer that runs before `$connect`.
    pub authorizer: Option<Authorizer>,
    /// Where a message's route key is read (default `$request.body.action`).
    pub selection: SelectionExpression,
    /// What the Lambda Invoke API on the gateway's port reaches, by each name it accepts for a
    /// function (a template's `FunctionName` and logical id).
    pub functions: BTreeMap<String, Arc<dyn LambdaFunction>>,
}

/// The route selection expression: `$request.body.<path>`, e.g. `$request.body.action` or
/// `$request.body.service.do` (a nested field). API Gateway also accepts `${request.body.…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionExpression {
    path: Vec<String>,
}

impl Default for SelectionExpression {
    fn default() -> Self {
        Self {
            path: vec!["action".to_owned()],
        }
    }
}

impl std::str::FromStr for SelectionExpression {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let inner = raw
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .map(|inner| format!("${inner}"));
        let expression = inner.as_deref().unwrap_or(raw);
        let path: Vec<String> = expression
            .strip_prefix("$request.body.")
            .ok_or_else(|| {
                format!("{raw:?}: only $request.body.<field>[.<field>…] selection expressions are emulated")
            })?
            .split('.')
            .map(str::to_owned)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("{raw:?}: a field name is empty"));
        }
        Ok(Self { path })
    }
}

impl std::fmt::Display for SelectionExpression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "$request.body.{}", self.path.join("."))
    }
}

impl SelectionExpression {
    /// The route key `body` selects: `None` for text that is not a JSON object or lacks the
    /// field; strings as they are; other values stringified as API Gateway does.
    pub(crate) fn key(&self, body: &str) -> Option<String> {
        let value: Value = serde_json::from_str(body).ok()?;
        let mut current = &value;
        for field in &self.path {
            current = current.as_object()?.get(field)?;
        }
        Some(stringify(current))
    }
}

impl RouteTable {
    /// Puts `route` under `key`: `$connect`, `$disconnect` and `$default` in their slots, any
    /// other key as a custom route. Refuses other `$` keys, which API Gateway reserves.
    pub fn insert(&mut self, key: &str, route: Route) -> Result<(), String> {
        match key {
            "$connect" => self.connect = Some(route),
            "$disconnect" => self.disconnect = Some(route),
            "$default" => self.default = Some(route),
            reserved if reserved.starts_with('$') => {
                return Err("route keys starting with $ are reserved".into());
            }
            _ => {
                self.custom.insert(key.to_owned(), route);
            }
        }
        Ok(())
    }

    /// The route a text message goes to, with its route key (checklist 25–28). A `$` key is
    /// never selected by a message, even when a table built in code lists it as custom.
    pub fn select(&self, body: &str) -> Option<(String, &Route)> {
        if let Some(key) = self.selection.key(body).filter(|key| !key.starts_with('$'))
            && let Some(route) = self.custom.get(&key)
        {
            return Some((key, route));
        }
        self.default
            .as_ref()
            .map(|route| ("$default".to_owned(), route))
    }
}

/// Evaluates `$request.body.action`: `None` for text that is not a JSON object or has no
/// `action`; strings as they are; other values stringified as API Gateway does.
#[cfg(test)]
pub(crate) fn selection_key(body: &str) -> Option<String> {
    SelectionExpression::default().key(body)
}

fn stringify(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(stringify).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_selection_expressions_read_nested_fields() {
        let expression: SelectionExpression = "$request.body.service.do".parse().unwrap();
        assert_eq!(expression.to_string(), "$request.body.service.do");
        assert_eq!(
            expression.key(r#"{"service":{"do":"sum"}}"#).as_deref(),
            Some("sum")
        );
        assert_eq!(expression.key(r#"{"service":"do"}"#), None);
        assert_eq!(expression.key(r#"{"action":"sum"}"#), None);
        let braced: SelectionExpression = "${request.body.action}".parse().unwrap();
        assert_eq!(braced, SelectionExpression::default());
        assert!("$request.header.x".parse::<SelectionExpression>().is_err());
        assert!("$request.body.".parse::<SelectionExpression>().is_err());
        assert!("$request.body.a..b".parse::<SelectionExpression>().is_err());
    }

    /// Found by `select_picks_a_custom_route_or_default_never_a_reserved_one`: a table built in
    /// code with a custom `$connect` route let `{"action":"$connect"}` select it.
    #[test]
    fn a_message_never_selects_a_reserved_key() {
        let noop = || {
            Route::one_way(crate::invoke::InProcess::shared(
                "noop",
                |_: lambda_runtime::LambdaEvent<Value>| async {
                    Ok::<_, ws_bridge::Error>(Value::Null)
                },
            ))
        };
        let table = RouteTable {
            custom: [("$connect".to_owned(), noop())].into(),
            ..RouteTable::default()
        };
        assert!(table.select(r#"{"action":"$connect"}"#).is_none());
        let table = RouteTable {
            default: Some(noop()),
            ..table
        };
        let selected = table.select(r#"{"action":"$connect"}"#).map(|(key, _)| key);
        assert_eq!(selected.as_deref(), Some("$default"));
    }

    #[test]
    fn path_parameters_are_taken_from_the_matching_segments() {
        let route = HttpRoute {
            method: http::Method::POST,
            path: "/connections/{connectionId}".into(),
            function: crate::invoke::InProcess::shared(
                "noop",
                |_: lambda_runtime::LambdaEvent<Value>| async {
                    Ok::<_, ws_bridge::Error>(Value::Null)
                },
            ),
            delivers_body: false,
        };
        assert_eq!(
            route.path_parameters("/connections/Vb7rKfZ-joECH_A%3D"),
            vec![("connectionId".to_string(), "Vb7rKfZ-joECH_A=".to_string())]
        );
        assert!(
            HttpRoute {
                path: "/broadcast".into(),
                ..route
            }
            .path_parameters("/broadcast")
            .is_empty()
        );
    }

    #[test]
    fn selection_key_follows_api_gateway() {
        assert_eq!(
            selection_key(r#"{"action":"sendmessage"}"#).as_deref(),
            Some("sendmessage")
        );
        assert_eq!(selection_key(r#"{"action":7}"#).as_deref(), Some("7"));
        assert_eq!(selection_key(r#"{"action":true}"#).as_deref(), Some("true"));
        assert_eq!(
            selection_key(r#"{"action":["a","b"]}"#).as_deref(),
            Some("[a, b]")
        );
        assert_eq!(selection_key(r#"{"other":1}"#), None);
        assert_eq!(selection_key("not json"), None);
        assert_eq!(selection_key(r#"["action"]"#), None);
    }
}

/// Property tests of route selection on whatever text a client sends. `cases` keeps
/// `cargo test` quick; `PROPTEST_CASES=N` overrides it (proptest reads it by default).
#[cfg(test)]
pub(crate) mod props {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value, nested a few levels, with `action` a likely key.
    pub(crate) fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            route_key().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![Just("action".to_owned()), any::<String>()];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Route keys a table or a message might name, the reserved ones included.
    fn route_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("$connect".to_owned()),
            Just("$disconnect".to_owned()),
            Just("$default".to_owned()),
            Just("ping".to_owned()),
            "[$a-z]{1,6}",
        ]
    }

    /// Frame text: arbitrary strings, JSON values, and objects that name an action.
    pub(crate) fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            json().prop_map(|value| value.to_string()),
            (route_key(), json()).prop_map(|(action, rest)| {
                let mut fields = match rest {
                    Value::Object(fields) => fields,
                    _ => serde_json::Map::new(),
                };
                fields.insert("action".into(), Value::String(action));
                Value::Object(fields).to_string()
            }),
        ]
    }

    fn route() -> Route {
        Route::one_way(crate::invoke::InProcess::shared(
            "noop",
            |_: lambda_runtime::LambdaEvent<Value>| async {
                Ok::<_, ws_bridge::Error>(Value::Null)
            },
        ))
    }

    /// A route table as data (proptest shows it when a case fails): its custom keys are
    /// arbitrary, `$`-prefixed ones too, since `start_with` takes any `RouteTable`, not only the
    /// ones a routes file (which refuses them) builds.
    #[derive(Clone, Debug)]
    pub(crate) struct TableSpec {
        custom: Vec<String>,
        default: bool,
        ends: bool,
    }

    impl TableSpec {
        pub(crate) fn build(&self) -> RouteTable {
            RouteTable {
                connect: self.ends.then(route),
                disconnect: self.ends.then(route),
                default: self.default.then(route),
                custom: self
                    .custom
                    .iter()
                    .map(|key| (key.clone(), route()))
                    .collect(),
                ..RouteTable::default()
            }
        }
    }

    pub(crate) fn table() -> impl Strategy<Value = TableSpec> {
        (
            prop::collection::vec(route_key(), 0..6),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(custom, default, ends)| TableSpec {
                custom,
                default,
                ends,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn selection_key_follows_the_documented_rules(body in body()) {
            let key = selection_key(&body);
            match serde_json::from_str::<Value>(&body) {
                Ok(Value::Object(fields)) => match fields.get("action") {
                    Some(Value::String(action)) => prop_assert_eq!(key.as_ref(), Some(action)),
                    Some(_) => prop_assert!(key.is_some()),
                    None => prop_assert_eq!(key, None),
                },
                _ => prop_assert_eq!(key, None),
            }
        }

        #[test]
        fn select_picks_a_custom_route_or_default_never_a_reserved_one(
            table in table(),
            body in body(),
        ) {
            let table = table.build();
            match table.select(&body) {
                Some((key, _)) if key == "$default" => prop_assert!(table.default.is_some()),
                Some((key, _)) => {
                    prop_assert!(!key.starts_with('$'), "{key}");
                    prop_assert!(table.custom.contains_key(&key));
                    prop_assert_eq!(selection_key(&body), Some(key));
                }
                None => prop_assert!(table.default.is_none()),
            }
        }
    }
}
