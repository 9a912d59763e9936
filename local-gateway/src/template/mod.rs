//! `--template`: a SAM (or plain CloudFormation) template read as the gateway's configuration:
//! the WebSocket API's routes, authorizer, stage and timeouts, the functions behind them and how
//! to run each, the HTTP API routes of `HttpApi` events, and the DynamoDB tables to create.
//!
//! Whatever the gateway cannot honour is refused with the resource, the property and why
//! ([`TemplateError`]); what it accepts without emulating (IAM, logging, tracing) is listed in
//! [`SamApp::not_emulated`], which the gateway prints at start-up.

mod intrinsics;
mod resources;
pub(crate) mod tables;
mod yaml;

pub(crate) use resources::{AuthorizerSpec, FunctionSpec, HttpRouteSpec, RouteSpec, TableSpec};

use crate::routing::SelectionExpression;
use intrinsics::Context;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a template cannot be served: where in it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    /// A resource's logical id, or a top-level section (`Parameters`, `Globals`…).
    pub resource: String,
    /// The property (a path such as `Properties.Routes.$connect.FunctionArn`), or "".
    pub property: String,
    pub reason: String,
}

impl TemplateError {
    pub(crate) fn new(
        resource: impl Into<String>,
        property: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            resource: resource.into(),
            property: property.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.property.is_empty() {
            write!(f, "{}: {}", self.resource, self.reason)
        } else {
            write!(f, "{} {}: {}", self.resource, self.property, self.reason)
        }
    }
}

/// How the template is read: `--parameter-overrides`, `--env-vars`, and the values the local
/// stack stands in for (API id, region, account).
#[derive(Clone, Debug, Default)]
pub(crate) struct TemplateOptions {
    pub parameter_overrides: Vec<(String, String)>,
    /// SAM CLI's `--env-vars` JSON: `{"Parameters": {…}, "<FunctionLogicalId>": {…}}`.
    pub env_vars: Option<Value>,
    pub api_id: String,
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
}

/// What a template declares that the gateway serves.
#[derive(Clone, Debug, Default)]
pub(crate) struct SamApp {
    /// The directory the template is in: `CodeUri`s are relative to it.
    pub base_dir: PathBuf,
    pub stage: Option<String>,
    pub selection: SelectionExpression,
    /// By route key: `$connect`, `$disconnect`, `$default` and custom keys.
    pub routes: BTreeMap<String, RouteSpec>,
    pub authorizer: Option<AuthorizerSpec>,
    pub http_routes: Vec<HttpRouteSpec>,
    /// By logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
    pub tables: Vec<TableSpec>,
    /// Properties accepted but not emulated (IAM, logging…), one line each.
    pub not_emulated: Vec<String>,
}

impl SamApp {
    pub(crate) fn load(path: &Path, options: &TemplateOptions) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| TemplateError::new(path.display().to_string(), "", err.to_string()))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = std::fs::canonicalize(&base_dir).unwrap_or(base_dir);
        Self::parse(&text, base_dir, options)
    }

    pub(crate) fn parse(
        text: &str,
        base_dir: PathBuf,
        options: &TemplateOptions,
    ) -> Result<Self, TemplateError> {
        let template =
            yaml::parse(text).map_err(|reason| TemplateError::new("template", "", reason))?;
        let Value::Object(template) = template else {
            return Err(TemplateError::new(
                "template",
                "",
                "not a mapping of sections",
            ));
        };
        for key in template.keys() {
            if !matches!(
                key.as_str(),
                "AWSTemplateFormatVersion"
                    | "Transform"
                    | "Description"
                    | "Metadata"
                    | "Parameters"
                    | "Mappings"
                    | "Conditions"
                    | "Rules"
                    | "Globals"
                    | "Resources"
                    | "Outputs"
            ) {
                return Err(TemplateError::new(key, "", "not a template section"));
            }
        }
        match template.get("Transform") {
            None => {}
            Some(Value::String(transform)) if transform == "AWS::Serverless-2016-10-31" => {}
            Some(other) => {
                return Err(TemplateError::new(
                    "Transform",
                    "",
                    format!("only AWS::Serverless-2016-10-31 is supported, got {other}"),
                ));
            }
        }
        let empty = Map::new();
        let section = |name: &str| -> Result<&Map<String, Value>, TemplateError> {
            match template.get(name) {
                None => Ok(&empty),
                Some(Value::Object(section)) => Ok(section),
                Some(_) => Err(TemplateError::new(name, "", "must be a mapping")),
            }
        };
        let parameters = parameters(section("Parameters")?, options)?;
        let pseudo = [
            ("AWS::Region", options.region.clone()),
            ("AWS::AccountId", options.account_id.clone()),
            ("AWS::StackName", options.stack_name.clone()),
            (
                "AWS::StackId",
                format!(
                    "arn:aws:cloudformation:{}:{}:stack/{}/local",
                    options.region, options.account_id, options.stack_name
                ),
            ),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::URLSuffix", "amazonaws.com".to_owned()),
        ]
        .into();
        let mut context = Context::new(
            parameters,
            pseudo,
            section("Conditions")?,
            section("Mappings")?,
        );
        let resources = section("Resources")?;
        if resources.is_empty() {
            return Err(TemplateError::new(
                "Resources",
                "",
                "the template declares no resources",
            ));
        }
        // What each resource's Ref and attributes stand for, before any property is resolved
        // (properties refer to each other's names).
        let mut names = BTreeMap::new();
        for (id, resource) in resources {
            names.insert(
                id.clone(),
                resources::names(id, resource, &context, options),
            );
        }
        context.resources = names;
        let mut app = SamApp {
            base_dir,
            ..SamApp::default()
        };
        let globals = section("Globals")?;
        resources::read(resources, globals, &context, options, &mut app)?;
        if !section("Rules")?.is_empty() {
            app.not_emulated
                .push("Rules: not evaluated (their assertions are not checked)".into());
        }
        Ok(app)
    }

    /// The route table as data, for comparisons and `--list-routes`: route keys with their
    /// function's logical id, two-way flag and timeout; the authorizer; the selection expression.
    pub(crate) fn route_summary(&self) -> Value {
        let routes: Map<String, Value> = self
            .routes
            .iter()
            .map(|(key, route)| {
                (
                    key.clone(),
                    serde_json::json!({
                        "function": route.function,
                        "twoWay": route.two_way,
                        "timeoutMs": route.timeout_ms,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "stage": self.stage,
            "routeSelectionExpression": self.selection.to_string(),
            "routes": routes,
            "authorizer": self.authorizer.as_ref().map(|a| serde_json::json!({
                "function": a.function,
                "identitySource": a.identity_sources,
            })),
        })
    }
}

/// Parameter values: overrides, else defaults; checked against `AllowedValues` and lengths.
fn parameters(
    declared: &Map<String, Value>,
    options: &TemplateOptions,
) -> Result<BTreeMap<String, Value>, TemplateError> {
    for (name, _) in &options.parameter_overrides {
        if !declared.contains_key(name) {
            return Err(TemplateError::new(
                "Parameters",
                name,
                "--parameter-overrides names a parameter the template does not declare",
            ));
        }
    }
    let mut values = BTreeMap::new();
    for (name, declaration) in declared {
        let invalid = |reason: String| TemplateError::new("Parameters", name, reason);
        let kind = declaration
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("has no Type".into()))?;
        let text = options
            .parameter_overrides
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| {
                declaration
                    .get("Default")
                    .and_then(|d| intrinsics::scalar_text(d).ok())
            })
            .ok_or_else(|| {
                invalid("has no Default: give it with --parameter-overrides Name=Value".into())
            })?;
        if let Some(Value::Array(allowed)) = declaration.get("AllowedValues")
            && !allowed
                .iter()
                .any(|a| intrinsics::scalar_text(a).ok().as_deref() == Some(&text))
        {
            return Err(invalid(format!("{text:?} is not one of its AllowedValues")));
        }
        let length = text.chars().count() as u64;
        if let Some(min) = declaration.get("MinLength").and_then(Value::as_u64)
            && length < min
        {
            return Err(invalid(format!(
                "its value is shorter than MinLength {min}"
            )));
        }
        if let Some(max) = declaration.get("MaxLength").and_then(Value::as_u64)
            && length > max
        {
            return Err(invalid(format!("its value is longer than MaxLength {max}")));
        }
        let value = match kind {
            "String" | "Number" => Value::String(text),
            "CommaDelimitedList" | "List<Number>" => {
                Value::Array(text.split(',').map(|s| Value::from(s.trim())).collect())
            }
            other => {
                return Err(invalid(format!(
                    "Type {other} is not supported locally (String, Number, CommaDelimitedList, List<Number>)"
                )));
            }
        };
        if kind == "Number"
            && let Value::String(text) = &value
            && text.parse::<f64>().is_err()
        {
            return Err(invalid(format!("{text:?} is not a Number")));
        }
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// `Name=Value`, or SAM CLI's `ParameterKey=Name,ParameterValue=Value`.
pub(crate) fn parse_parameter_override(raw: &str) -> Result<(String, String), String> {
    if let Some(rest) = raw.strip_prefix("ParameterKey=") {
        let (name, value) = rest
            .split_once(",ParameterValue=")
            .ok_or_else(|| format!("{raw:?}: expected ParameterKey=Name,ParameterValue=Value"))?;
        return Ok((name.to_owned(), value.to_owned()));
    }
    match raw.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{raw:?}: expected Name=Value")),
    }
}

#[cfg(test)]
mod tests;
