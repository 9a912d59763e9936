//! The resources of a template, type by type: which properties the gateway honours, which it
//! accepts without emulating (listed at start-up), and the rest refused with a reason.

use super::intrinsics::{Context, ResourceNames, scalar_text};
use super::{SamApp, TemplateError, TemplateOptions};
use crate::routing::{IdentitySource, SelectionExpression};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A WebSocket route: the function (logical id) it invokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteSpec {
    pub function: String,
    /// It has a route response: the function's `body` goes back to the sender.
    pub two_way: bool,
    /// The integration's `TimeoutInMillis` (SAM: `IntegrationTimeout`).
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthorizerSpec {
    pub function: String,
    /// `route.request.header.X` / `route.request.querystring.x`, checked.
    pub identity_sources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpRouteSpec {
    pub method: String,
    pub path: String,
    pub function: String,
}

/// A function and how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FunctionSpec {
    pub logical_id: String,
    /// `FunctionName`, else the logical id: what `AWS_LAMBDA_FUNCTION_NAME` says.
    pub name: String,
    pub runtime: String,
    pub handler: Option<String>,
    /// Absolute.
    pub code_uri: PathBuf,
    /// The template's variables, then `--env-vars` (global `Parameters`, then the function's).
    pub environment: BTreeMap<String, String>,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    /// `ReservedConcurrentExecutions`: at most this many processes at once.
    pub reserved_concurrency: Option<u64>,
    /// `Metadata.BuildMethod: rust-cargolambda`: built with cargo; the binary's name if
    /// `BuildProperties.Binary` names it.
    pub cargo: Option<Option<String>>,
}

/// A DynamoDB table, as an `AWS::DynamoDB::Table`'s resolved properties (a `SimpleTable` is
/// rewritten to that shape).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TableSpec {
    pub logical_id: String,
    pub name: String,
    pub properties: Map<String, Value>,
}

const RUNTIMES: [&str; 12] = [
    "provided.al2023",
    "provided.al2",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "python3.14",
];

/// What `Ref` and `Fn::GetAtt` give for a resource, read before properties are resolved.
pub(super) fn names(
    id: &str,
    resource: &Value,
    context: &Context,
    options: &TemplateOptions,
) -> ResourceNames {
    let kind = resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let literal = |property: &str| {
        resource
            .get("Properties")
            .and_then(|p| p.get(property))
            .and_then(|v| context.value(v).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let arn = |service: &str, path: String| {
        format!(
            "arn:aws:{service}:{}:{}:{path}",
            options.region, options.account_id
        )
    };
    let (reference, attributes): (String, Vec<(&str, String)>) = match kind.as_str() {
        "AWS::Serverless::Function" => {
            let name = literal("FunctionName").unwrap_or_else(|| id.to_owned());
            let function_arn = arn("lambda", format!("function:{name}"));
            (name, vec![("Arn", function_arn)])
        }
        "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
            let name = literal("TableName").unwrap_or_else(|| id.to_owned());
            let table_arn = arn("dynamodb", format!("table/{name}"));
            let stream = format!("{table_arn}/stream/local");
            (name, vec![("Arn", table_arn), ("StreamArn", stream)])
        }
        "AWS::SQS::Queue" => {
            let name =
                literal("QueueName").unwrap_or_else(|| format!("{}-{id}", options.stack_name));
            let url = format!(
                "https://sqs.{}.amazonaws.com/{}/{name}",
                options.region, options.account_id
            );
            let queue_arn = arn("sqs", name.clone());
            (
                url.clone(),
                vec![("Arn", queue_arn), ("QueueName", name), ("QueueUrl", url)],
            )
        }
        "AWS::IAM::Role" => {
            let name =
                literal("RoleName").unwrap_or_else(|| format!("{}-{id}", options.stack_name));
            let role_arn = format!("arn:aws:iam::{}:role/{name}", options.account_id);
            (
                name,
                vec![("Arn", role_arn), ("RoleId", format!("AROALOCAL{id}"))],
            )
        }
        "AWS::ApiGatewayV2::Api" | "AWS::Serverless::WebSocketApi" | "AWS::Serverless::HttpApi" => {
            let endpoint = format!(
                "wss://{}.execute-api.{}.amazonaws.com",
                options.api_id, options.region
            );
            (
                options.api_id.clone(),
                vec![("ApiId", options.api_id.clone()), ("ApiEndpoint", endpoint)],
            )
        }
        _ => (id.to_owned(), Vec::new()),
    };
    ResourceNames {
        kind,
        reference,
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    }
}

/// Properties accepted without being emulated, by property, with the resources that set them.
#[derive(Default)]
struct NotEmulated(BTreeMap<String, BTreeSet<String>>);

impl NotEmulated {
    fn note(&mut self, what: String, id: &str) {
        self.0.entry(what).or_default().insert(id.to_owned());
    }
}

/// Checks a resource's properties: `honoured` are used, `accepted` are noted as not emulated
/// with `why`, anything else is refused.
fn check(
    id: &str,
    kind: &str,
    properties: &Map<String, Value>,
    honoured: &[&str],
    accepted: &[(&str, &str)],
    notes: &mut NotEmulated,
) -> Result<(), TemplateError> {
    for key in properties.keys() {
        if honoured.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, why)) = accepted.iter().find(|(name, _)| name == key) {
            notes.note(format!("{kind} {key}: {why}"), id);
            continue;
        }
        return Err(TemplateError::new(
            id,
            format!("Properties.{key}"),
            format!("{kind} {key} is not supported by the local gateway"),
        ));
    }
    Ok(())
}

fn text(id: &str, property: &str, value: Option<&Value>) -> Result<String, TemplateError> {
    let value = value.ok_or_else(|| TemplateError::new(id, property, "is required"))?;
    scalar_text(value).map_err(|reason| TemplateError::new(id, property, reason))
}

fn optional_text(
    id: &str,
    property: &str,
    value: Option<&Value>,
) -> Result<Option<String>, TemplateError> {
    value
        .map(|value| text(id, property, Some(value)))
        .transpose()
}

fn number(id: &str, property: &str, value: Option<&Value>) -> Result<Option<u64>, TemplateError> {
    optional_text(id, property, value)?
        .map(|raw| {
            raw.parse::<u64>().map_err(|_| {
                TemplateError::new(id, property, format!("{raw:?} is not a whole number"))
            })
        })
        .transpose()
}

const IAM: &str = "IAM is not emulated: every function may call everything";

/// Reads every resource into `app`.
pub(super) fn read(
    resources: &Map<String, Value>,
    globals: &Map<String, Value>,
    context: &Context,
    options: &TemplateOptions,
    app: &mut SamApp,
) -> Result<(), TemplateError> {
    let mut notes = NotEmulated::default();
    let function_globals = match globals.get("Function") {
        None => Map::new(),
        Some(Value::Object(function)) => function.clone(),
        Some(_) => {
            return Err(TemplateError::new(
                "Globals",
                "Function",
                "must be a mapping",
            ));
        }
    };
    if let Some(section) = globals.keys().find(|key| *key != "Function") {
        return Err(TemplateError::new(
            "Globals",
            section,
            "only Globals.Function is supported by the local gateway",
        ));
    }
    // The raw API Gateway pieces, linked once all are read.
    let mut apis = Vec::new();
    let mut routes = Vec::new();
    let mut integrations = BTreeMap::new();
    let mut route_responses = Vec::new();
    let mut authorizers = BTreeMap::new();
    let mut stages = Vec::new();
    let mut sam_apis = Vec::new();
    for (id, resource) in resources {
        let Value::Object(resource) = resource else {
            return Err(TemplateError::new(id, "", "a resource must be a mapping"));
        };
        for key in resource.keys() {
            if !matches!(
                key.as_str(),
                "Type"
                    | "Properties"
                    | "Metadata"
                    | "Condition"
                    | "DependsOn"
                    | "DeletionPolicy"
                    | "UpdateReplacePolicy"
                    | "UpdatePolicy"
                    | "CreationPolicy"
            ) {
                return Err(TemplateError::new(id, key, "not a resource attribute"));
            }
        }
        if let Some(condition) = resource.get("Condition") {
            let name = text(id, "Condition", Some(condition))?;
            if !context
                .condition(&name)
                .map_err(|reason| TemplateError::new(id, "Condition", reason))?
            {
                continue;
            }
        }
        let kind = text(id, "Type", resource.get("Type"))?;
        let raw = match resource.get("Properties") {
            None => Map::new(),
            Some(Value::Object(properties)) => properties.clone(),
            Some(_) => return Err(TemplateError::new(id, "Properties", "must be a mapping")),
        };
        let raw = if kind == "AWS::Serverless::Function" {
            merge_globals(&function_globals, raw)
        } else {
            raw
        };
        let properties = match context.resolve(&Value::Object(raw)) {
            Ok(Some(Value::Object(properties))) => properties,
            Ok(_) => Map::new(),
            Err(reason) => return Err(TemplateError::new(id, "Properties", reason)),
        };
        match kind.as_str() {
            "AWS::Serverless::Function" => {
                let function = function(
                    id,
                    &properties,
                    resource.get("Metadata"),
                    options,
                    app,
                    &mut notes,
                )?;
                app.functions.insert(id.clone(), function);
            }
            "AWS::ApiGatewayV2::Api" => {
                check(
                    id,
                    &kind,
                    &properties,
                    &[
                        "Name",
                        "Description",
                        "Tags",
                        "ProtocolType",
                        "RouteSelectionExpression",
                        "DisableExecuteApiEndpoint",
                        "Version",
                    ],
                    &[
                        ("ApiKeySelectionExpression", "API keys are not emulated"),
                        ("DisableSchemaValidation", "models are not emulated"),
                        ("IpAddressType", "the gateway listens where --host says"),
                    ],
                    &mut notes,
                )?;
                let protocol = text(
                    id,
                    "Properties.ProtocolType",
                    properties.get("ProtocolType"),
                )?;
                if protocol != "WEBSOCKET" {
                    return Err(TemplateError::new(
                        id,
                        "Properties.ProtocolType",
                        format!(
                            "{protocol}: only WEBSOCKET APIs are emulated from raw ApiGatewayV2 resources (HTTP routes come from AWS::Serverless::Function HttpApi events)"
                        ),
                    ));
                }
                apis.push((id.clone(), properties));
            }
            "AWS::ApiGatewayV2::Route" => routes.push((id.clone(), properties)),
            "AWS::ApiGatewayV2::Integration" => {
                integrations.insert(id.clone(), properties);
            }
            "AWS::ApiGatewayV2::RouteResponse" => route_responses.push((id.clone(), properties)),
            "AWS::ApiGatewayV2::Authorizer" => {
                authorizers.insert(id.clone(), properties);
            }
            "AWS::ApiGatewayV2::Stage" => stages.push((id.clone(), properties)),
            "AWS::ApiGatewayV2::Deployment" => {
                check(
                    id,
                    &kind,
                    &properties,
                    &["ApiId", "Description", "StageName"],
                    &[],
                    &mut notes,
                )?;
            }
            "AWS::Serverless::WebSocketApi" => sam_apis.push((id.clone(), properties)),
            "AWS::Serverless::HttpApi" => {
                check(
                    id,
                    &kind,
                    &properties,
                    &["Description", "Tags", "Name"],
                    &[
                        ("AccessLogSettings", "access logs are not emulated"),
                        ("DefaultRouteSettings", "throttling is not emulated"),
                        ("RouteSettings", "throttling is not emulated"),
                    ],
                    &mut notes,
                )?;
            }
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
                let table = table(id, &kind, properties, context, &mut notes)?;
                app.tables.push(table);
            }
            "AWS::Lambda::Permission"
            | "AWS::IAM::Role"
            | "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy" => {
                notes.note(format!("{kind}: {IAM}"), id);
            }
            "AWS::Logs::LogGroup" => {
                notes.note(format!("{kind}: logs go to the gateway's output"), id);
            }
            "AWS::SQS::Queue" => {
                notes.note(
                    format!("{kind}: queues are not emulated (the gateway sends ws-bridge's webhooks and queues broadcast shards in-process itself)"),
                    id,
                );
            }
            other => {
                return Err(TemplateError::new(
                    id,
                    "Type",
                    format!("{other} is not emulated by the local gateway"),
                ));
            }
        }
    }
    let function_ids: BTreeMap<String, String> = app
        .functions
        .values()
        .map(|f| (f.name.clone(), f.logical_id.clone()))
        .collect();
    let lookup = |id: &str, property: &str, uri: &str| -> Result<String, TemplateError> {
        function_by_arn(uri, &function_ids).ok_or_else(|| {
            TemplateError::new(
                id,
                property,
                format!(
                    "{uri:?} is not the ARN (or invocation URI) of a function of this template"
                ),
            )
        })
    };
    match (apis.len() + sam_apis.len(), sam_apis.pop()) {
        (0, _) => {
            return Err(TemplateError::new(
                "Resources",
                "",
                "no WebSocket API: declare an AWS::ApiGatewayV2::Api (ProtocolType WEBSOCKET) or an AWS::Serverless::WebSocketApi",
            ));
        }
        (1, Some((id, properties))) => {
            if let Some((resource, _)) = routes.iter().chain(&route_responses).chain(&stages).next()
            {
                return Err(TemplateError::new(
                    resource,
                    "Type",
                    "raw ApiGatewayV2 routes, responses and stages next to an AWS::Serverless::WebSocketApi are not supported",
                ));
            }
            sam_websocket_api(&id, &properties, &lookup, app, &mut notes)?;
        }
        (1, None) => {
            let (id, properties) = &apis[0];
            app.selection = selection(id, properties.get("RouteSelectionExpression"))?;
            raw_routes(
                &routes,
                &integrations,
                &route_responses,
                &authorizers,
                &lookup,
                app,
                &mut notes,
            )?;
            for (stage_id, properties) in &stages {
                check(
                    stage_id,
                    "AWS::ApiGatewayV2::Stage",
                    properties,
                    &[
                        "ApiId",
                        "StageName",
                        "DeploymentId",
                        "AutoDeploy",
                        "Description",
                        "Tags",
                    ],
                    &[
                        ("AccessLogSettings", "access logs are not emulated"),
                        (
                            "DefaultRouteSettings",
                            "throttling and execution logs are not emulated",
                        ),
                        (
                            "RouteSettings",
                            "throttling and execution logs are not emulated",
                        ),
                    ],
                    &mut notes,
                )?;
                if app.stage.is_some() {
                    return Err(TemplateError::new(
                        stage_id,
                        "",
                        "the gateway serves one stage; the template declares several",
                    ));
                }
                app.stage = Some(text(
                    stage_id,
                    "Properties.StageName",
                    properties.get("StageName"),
                )?);
            }
        }
        _ => {
            return Err(TemplateError::new(
                "Resources",
                "",
                "the gateway serves one WebSocket API; the template declares several",
            ));
        }
    }
    for (id, function) in &app.functions.clone() {
        let events = match resources[id]
            .get("Properties")
            .and_then(|p| p.get("Events"))
        {
            Some(events) => context
                .resolve(events)
                .map_err(|reason| TemplateError::new(id, "Properties.Events", reason))?,
            None => None,
        };
        if let Some(events) = events {
            // ws-bridge's webhook dispatcher, presence leave checks and broadcast worker run
            // inside the gateway, which feeds them itself: their stream, queue and schedule
            // events have nothing left to do.
            let fed_inside = match function.cargo.as_ref().and_then(Option::as_deref) {
                Some("webhook-dispatch") => {
                    Some("webhook-dispatch: the gateway sends the webhooks itself")
                }
                Some("presence-leave") => {
                    Some("presence-leave: the gateway delays the leave checks itself")
                }
                Some("broadcast-worker") => {
                    Some("broadcast-worker: the gateway queues the shards itself")
                }
                _ => None,
            };
            http_events(id, &events, fed_inside, app, &mut notes)?;
        }
    }
    app.not_emulated = notes
        .0
        .into_iter()
        .map(|(what, ids)| {
            format!(
                "{what} ({})",
                ids.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    Ok(())
}

/// `Globals.Function` under a function's own properties: mappings merged (so `Environment`
/// variables add up), anything else the function's own value.
fn merge_globals(globals: &Map<String, Value>, own: Map<String, Value>) -> Map<String, Value> {
    let mut merged = globals.clone();
    for (key, value) in own {
        match (merged.get_mut(&key), value) {
            (Some(Value::Object(base)), Value::Object(over)) => {
                let combined = merge_globals(base, over);
                *base = combined;
            }
            (_, value) => {
                merged.insert(key, value);
            }
        }
    }
    merged
}

/// The function a Lambda ARN or an API Gateway invocation URI names
/// (`arn:aws:apigateway:…:lambda:path/2015-03-31/functions/<function ARN>/invocations`).
fn function_by_arn(uri: &str, functions: &BTreeMap<String, String>) -> Option<String> {
    let after = uri.rsplit_once(":function:")?.1;
    let name = after.split('/').next()?.split(':').next()?;
    functions.get(name).cloned()
}

fn selection(id: &str, value: Option<&Value>) -> Result<SelectionExpression, TemplateError> {
    let property = "Properties.RouteSelectionExpression";
    let raw = match value {
        Some(value) => text(id, property, Some(value))?,
        None => {
            return Err(TemplateError::new(
                id,
                property,
                "is required for a WEBSOCKET API",
            ));
        }
    };
    raw.parse()
        .map_err(|reason| TemplateError::new(id, property, reason))
}

#[allow(clippy::too_many_arguments)]
fn raw_routes(
    routes: &[(String, Map<String, Value>)],
    integrations: &BTreeMap<String, Map<String, Value>>,
    route_responses: &[(String, Map<String, Value>)],
    authorizers: &BTreeMap<String, Map<String, Value>>,
    lookup: &dyn Fn(&str, &str, &str) -> Result<String, TemplateError>,
    app: &mut SamApp,
    notes: &mut NotEmulated,
) -> Result<(), TemplateError> {
    let mut responses = BTreeSet::new();
    for (id, properties) in route_responses {
        check(
            id,
            "AWS::ApiGatewayV2::RouteResponse",
            properties,
            &["ApiId", "RouteId", "RouteResponseKey"],
            &[],
            notes,
        )?;
        let key = text(
            id,
            "Properties.RouteResponseKey",
            properties.get("RouteResponseKey"),
        )?;
        if key != "$default" {
            return Err(TemplateError::new(
                id,
                "Properties.RouteResponseKey",
                format!("{key:?}: only $default route responses are emulated (proxy integrations)"),
            ));
        }
        responses.insert(text(id, "Properties.RouteId", properties.get("RouteId"))?);
    }
    for (id, properties) in routes {
        check(
            id,
            "AWS::ApiGatewayV2::Route",
            properties,
            &[
                "ApiId",
                "RouteKey",
                "Target",
                "AuthorizationType",
                "AuthorizerId",
                "RouteResponseSelectionExpression",
                "OperationName",
                "ApiKeyRequired",
            ],
            &[],
            notes,
        )?;
        if properties
            .get("ApiKeyRequired")
            .is_some_and(|v| scalar_text(v).as_deref() == Ok("true"))
        {
            return Err(TemplateError::new(
                id,
                "Properties.ApiKeyRequired",
                "API keys are not emulated",
            ));
        }
        let key = text(id, "Properties.RouteKey", properties.get("RouteKey"))?;
        let target = text(id, "Properties.Target", properties.get("Target"))?;
        let integration_id = target.strip_prefix("integrations/").ok_or_else(|| {
            TemplateError::new(
                id,
                "Properties.Target",
                format!("{target:?}: expected integrations/<IntegrationId>"),
            )
        })?;
        let integration = integrations.get(integration_id).ok_or_else(|| {
            TemplateError::new(
                id,
                "Properties.Target",
                format!("no AWS::ApiGatewayV2::Integration {integration_id} in the template"),
            )
        })?;
        let (function, timeout_ms) =
            integration_function(integration_id, integration, lookup, notes)?;
        let expression = optional_text(
            id,
            "Properties.RouteResponseSelectionExpression",
            properties.get("RouteResponseSelectionExpression"),
        )?;
        if let Some(expression) = &expression
            && expression != "$default"
        {
            return Err(TemplateError::new(
                id,
                "Properties.RouteResponseSelectionExpression",
                format!("{expression:?}: only $default is emulated"),
            ));
        }
        let has_response = responses.contains(id);
        if expression.is_some() != has_response {
            notes.note(
                "a route needs both RouteResponseSelectionExpression $default and a $default RouteResponse to be two-way; this one is one-way".into(),
                id,
            );
        }
        let authorization = optional_text(
            id,
            "Properties.AuthorizationType",
            properties.get("AuthorizationType"),
        )?;
        match authorization.as_deref() {
            None | Some("NONE") => {}
            Some("CUSTOM") if key == "$connect" => {
                let authorizer_id = text(
                    id,
                    "Properties.AuthorizerId",
                    properties.get("AuthorizerId"),
                )?;
                let authorizer = authorizers.get(&authorizer_id).ok_or_else(|| {
                    TemplateError::new(
                        id,
                        "Properties.AuthorizerId",
                        format!("no AWS::ApiGatewayV2::Authorizer {authorizer_id} in the template"),
                    )
                })?;
                app.authorizer = Some(raw_authorizer(&authorizer_id, authorizer, lookup, notes)?);
            }
            Some("CUSTOM") => {
                return Err(TemplateError::new(
                    id,
                    "Properties.AuthorizationType",
                    "API Gateway authorizes WebSocket APIs on $connect only",
                ));
            }
            Some(other) => {
                return Err(TemplateError::new(
                    id,
                    "Properties.AuthorizationType",
                    format!("{other}: only NONE and CUSTOM (a REQUEST authorizer) are emulated"),
                ));
            }
        }
        insert_route(
            app,
            id,
            key,
            RouteSpec {
                function,
                two_way: expression.is_some() && has_response,
                timeout_ms,
            },
        )?;
    }
    Ok(())
}

fn insert_route(
    app: &mut SamApp,
    id: &str,
    key: String,
    route: RouteSpec,
) -> Result<(), TemplateError> {
    if key.is_empty() {
        return Err(TemplateError::new(id, "RouteKey", "is empty"));
    }
    if key.starts_with('$') && !matches!(key.as_str(), "$connect" | "$disconnect" | "$default") {
        return Err(TemplateError::new(
            id,
            "RouteKey",
            format!("{key:?}: keys starting with $ are reserved"),
        ));
    }
    if app.routes.insert(key.clone(), route).is_some() {
        return Err(TemplateError::new(
            id,
            "RouteKey",
            format!("{key:?} is declared twice"),
        ));
    }
    Ok(())
}

fn integration_function(
    id: &str,
    properties: &Map<String, Value>,
    lookup: &dyn Fn(&str, &str, &str) -> Result<String, TemplateError>,
    notes: &mut NotEmulated,
) -> Result<(String, Option<u64>), TemplateError> {
    check(
        id,
        "AWS::ApiGatewayV2::Integration",
        properties,
        &[
            "ApiId",
            "IntegrationType",
            "IntegrationUri",
            "IntegrationMethod",
            "TimeoutInMillis",
            "Description",
            "PayloadFormatVersion",
        ],
        &[("CredentialsArn", IAM)],
        notes,
    )?;
    let kind = text(
        id,
        "Properties.IntegrationType",
        properties.get("IntegrationType"),
    )?;
    if kind != "AWS_PROXY" {
        return Err(TemplateError::new(
            id,
            "Properties.IntegrationType",
            format!("{kind}: only AWS_PROXY (Lambda proxy) integrations are emulated"),
        ));
    }
    let uri = text(
        id,
        "Properties.IntegrationUri",
        properties.get("IntegrationUri"),
    )?;
    let function = lookup(id, "Properties.IntegrationUri", &uri)?;
    Ok((
        function,
        timeout(
            id,
            "Properties.TimeoutInMillis",
            properties.get("TimeoutInMillis"),
        )?,
    ))
}

/// An integration timeout: API Gateway takes 50 to 29000 ms.
fn timeout(id: &str, property: &str, value: Option<&Value>) -> Result<Option<u64>, TemplateError> {
    let timeout = number(id, property, value)?;
    if let Some(ms) = timeout
        && !(50..=29_000).contains(&ms)
    {
        return Err(TemplateError::new(
            id,
            property,
            format!("{ms}: API Gateway takes 50 to 29000 ms"),
        ));
    }
    Ok(timeout)
}

fn identity_sources(
    id: &str,
    property: &str,
    value: Option<&Value>,
) -> Result<Vec<String>, TemplateError> {
    let sources = match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| text(id, property, Some(item)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(single) => text(id, property, Some(single))?
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
    };
    for source in &sources {
        IdentitySource::parse(source).map_err(|reason| TemplateError::new(id, property, reason))?;
    }
    Ok(sources)
}

fn raw_authorizer(
    id: &str,
    properties: &Map<String, Value>,
    lookup: &dyn Fn(&str, &str, &str) -> Result<String, TemplateError>,
    notes: &mut NotEmulated,
) -> Result<AuthorizerSpec, TemplateError> {
    check(
        id,
        "AWS::ApiGatewayV2::Authorizer",
        properties,
        &[
            "ApiId",
            "AuthorizerType",
            "AuthorizerUri",
            "IdentitySource",
            "Name",
        ],
        &[("AuthorizerCredentialsArn", IAM)],
        notes,
    )?;
    let kind = text(
        id,
        "Properties.AuthorizerType",
        properties.get("AuthorizerType"),
    )?;
    if kind != "REQUEST" {
        return Err(TemplateError::new(
            id,
            "Properties.AuthorizerType",
            format!("{kind}: WebSocket APIs take REQUEST authorizers"),
        ));
    }
    let uri = text(
        id,
        "Properties.AuthorizerUri",
        properties.get("AuthorizerUri"),
    )?;
    Ok(AuthorizerSpec {
        function: lookup(id, "Properties.AuthorizerUri", &uri)?,
        identity_sources: identity_sources(
            id,
            "Properties.IdentitySource",
            properties.get("IdentitySource"),
        )?,
    })
}

/// `AWS::Serverless::WebSocketApi`: routes by key with `FunctionArn`, `Auth` on `$connect`,
/// `StageName` (default `default`), as SAM's documentation describes them.
fn sam_websocket_api(
    id: &str,
    properties: &Map<String, Value>,
    lookup: &dyn Fn(&str, &str, &str) -> Result<String, TemplateError>,
    app: &mut SamApp,
    notes: &mut NotEmulated,
) -> Result<(), TemplateError> {
    let kind = "AWS::Serverless::WebSocketApi";
    check(
        id,
        kind,
        properties,
        &[
            "Name",
            "Description",
            "Tags",
            "PropagateTags",
            "Routes",
            "RouteSelectionExpression",
            "StageName",
            "Auth",
            "DisableExecuteApiEndpoint",
            "ApiKeySelectionExpression",
        ],
        &[
            ("AccessLogSettings", "access logs are not emulated"),
            (
                "DefaultRouteSettings",
                "throttling and execution logs are not emulated",
            ),
            (
                "RouteSettings",
                "throttling and execution logs are not emulated",
            ),
            ("DisableSchemaValidation", "models are not emulated"),
            ("IpAddressType", "the gateway listens where --host says"),
            ("Domain", "custom domains are not emulated"),
        ],
        notes,
    )?;
    // Required, as SAM's translator requires it (it has no default).
    app.selection = selection(id, properties.get("RouteSelectionExpression"))?;
    app.stage = Some(
        optional_text(id, "Properties.StageName", properties.get("StageName"))?
            .unwrap_or_else(|| "default".into()),
    );
    let Some(Value::Object(routes)) = properties.get("Routes") else {
        return Err(TemplateError::new(
            id,
            "Properties.Routes",
            "is required: a mapping of route keys to {FunctionArn: …}",
        ));
    };
    for (key, route) in routes {
        let property = format!("Properties.Routes.{key}");
        let Value::Object(route) = route else {
            return Err(TemplateError::new(id, property, "must be a mapping"));
        };
        for name in route.keys() {
            match name.as_str() {
                "FunctionArn"
                | "IntegrationTimeout"
                | "RouteResponseSelectionExpression"
                | "OperationName"
                | "ApiKeyRequired" => {}
                other => {
                    return Err(TemplateError::new(
                        id,
                        format!("{property}.{other}"),
                        "is not supported by the local gateway",
                    ));
                }
            }
        }
        if route
            .get("ApiKeyRequired")
            .is_some_and(|v| scalar_text(v).as_deref() == Ok("true"))
        {
            return Err(TemplateError::new(
                id,
                format!("{property}.ApiKeyRequired"),
                "API keys are not emulated",
            ));
        }
        let arn = text(
            id,
            &format!("{property}.FunctionArn"),
            route.get("FunctionArn"),
        )?;
        let function = lookup(id, &format!("{property}.FunctionArn"), &arn)?;
        // SAM's translator (1.115.0) sets the expression on the route but creates no route
        // response, and without one API Gateway sends nothing back: one-way, as deployed.
        match optional_text(
            id,
            &format!("{property}.RouteResponseSelectionExpression"),
            route.get("RouteResponseSelectionExpression"),
        )? {
            None => {}
            Some(expression) if expression == "$default" => notes.note(
                format!(
                    "{kind} RouteResponseSelectionExpression: SAM creates no route response for it, so the route is one-way, as deployed"
                ),
                id,
            ),
            Some(other) => {
                return Err(TemplateError::new(
                    id,
                    format!("{property}.RouteResponseSelectionExpression"),
                    format!("{other:?}: only $default is emulated"),
                ));
            }
        }
        let two_way = false;
        let timeout_ms = timeout(
            id,
            &format!("{property}.IntegrationTimeout"),
            route.get("IntegrationTimeout"),
        )?;
        insert_route(
            app,
            id,
            key.clone(),
            RouteSpec {
                function,
                two_way,
                timeout_ms,
            },
        )?;
    }
    if let Some(auth) = properties.get("Auth") {
        let Value::Object(auth) = auth else {
            return Err(TemplateError::new(
                id,
                "Properties.Auth",
                "must be a mapping",
            ));
        };
        for name in auth.keys() {
            match name.as_str() {
                "AuthType" | "AuthArn" | "IdentitySource" | "Name" => {}
                "InvokeRole" => notes.note(format!("{kind} Auth.InvokeRole: {IAM}"), id),
                other => {
                    return Err(TemplateError::new(
                        id,
                        format!("Properties.Auth.{other}"),
                        "is not supported by the local gateway",
                    ));
                }
            }
        }
        match text(id, "Properties.Auth.AuthType", auth.get("AuthType"))?.as_str() {
            "NONE" => {}
            "CUSTOM" => {
                let arn = text(id, "Properties.Auth.AuthArn", auth.get("AuthArn"))?;
                app.authorizer = Some(AuthorizerSpec {
                    function: lookup(id, "Properties.Auth.AuthArn", &arn)?,
                    identity_sources: identity_sources(
                        id,
                        "Properties.Auth.IdentitySource",
                        auth.get("IdentitySource"),
                    )?,
                });
            }
            other => {
                return Err(TemplateError::new(
                    id,
                    "Properties.Auth.AuthType",
                    format!("{other}: only NONE and CUSTOM (a REQUEST authorizer) are emulated"),
                ));
            }
        }
    }
    Ok(())
}

fn function(
    id: &str,
    properties: &Map<String, Value>,
    metadata: Option<&Value>,
    options: &TemplateOptions,
    app: &SamApp,
    notes: &mut NotEmulated,
) -> Result<FunctionSpec, TemplateError> {
    check(
        id,
        "AWS::Serverless::Function",
        properties,
        &[
            "Runtime",
            "Handler",
            "CodeUri",
            "Environment",
            "Timeout",
            "MemorySize",
            "FunctionName",
            "Events",
            "Description",
            "Tags",
            "Architectures",
            "PackageType",
            "ReservedConcurrentExecutions",
        ],
        &[
            ("Policies", IAM),
            ("Role", IAM),
            ("PermissionsBoundary", IAM),
            ("AssumeRolePolicyDocument", IAM),
            ("RolePath", IAM),
            ("Tracing", "X-Ray is not emulated"),
            (
                "LoggingConfig",
                "logs are the process's output, prefixed with the function's name",
            ),
            ("AutoPublishAlias", "versions and aliases are not emulated"),
            (
                "AutoPublishCodeSha256",
                "versions and aliases are not emulated",
            ),
            ("DeploymentPreference", "deployments are not emulated"),
            (
                "ProvisionedConcurrencyConfig",
                "one process starts with the gateway, the others on demand",
            ),
            ("VpcConfig", "functions run on this machine's network"),
            ("EphemeralStorage", "functions use this machine's disk"),
            ("KmsKeyArn", "encryption of variables is not emulated"),
            (
                "DeadLetterQueue",
                "dead-letter queues of asynchronous invocations are not emulated",
            ),
            (
                "EventInvokeConfig",
                "asynchronous invocations keep Lambda's default: two retries, no destinations",
            ),
            ("RuntimeManagementConfig", "the runtime is this machine's"),
            ("SnapStart", "snapshots are not emulated"),
            ("PropagateTags", "tags have no local effect"),
        ],
        notes,
    )?;
    let runtime = text(id, "Properties.Runtime", properties.get("Runtime"))?;
    if !RUNTIMES.contains(&runtime.as_str()) {
        return Err(TemplateError::new(
            id,
            "Properties.Runtime",
            format!("{runtime}: supported runtimes are {}", RUNTIMES.join(", ")),
        ));
    }
    if let Some(kind) = optional_text(id, "Properties.PackageType", properties.get("PackageType"))?
        && kind != "Zip"
    {
        return Err(TemplateError::new(
            id,
            "Properties.PackageType",
            format!("{kind}: container images are not emulated"),
        ));
    }
    let handler = optional_text(id, "Properties.Handler", properties.get("Handler"))?;
    if handler.is_none() && !runtime.starts_with("provided") {
        return Err(TemplateError::new(
            id,
            "Properties.Handler",
            format!("is required for {runtime}"),
        ));
    }
    let code_uri = match properties.get("CodeUri") {
        Some(Value::String(path)) => app.base_dir.join(path),
        Some(_) => {
            return Err(TemplateError::new(
                id,
                "Properties.CodeUri",
                "only a local path is supported (not an S3 location)",
            ));
        }
        None => {
            return Err(TemplateError::new(
                id,
                "Properties.CodeUri",
                "is required (InlineCode and images are not supported)",
            ));
        }
    };
    if !code_uri.is_dir() {
        return Err(TemplateError::new(
            id,
            "Properties.CodeUri",
            format!("{} is not a directory", code_uri.display()),
        ));
    }
    let code_uri = std::fs::canonicalize(&code_uri).unwrap_or(code_uri);
    let mut environment = BTreeMap::new();
    if let Some(env) = properties.get("Environment") {
        let variables = match env {
            Value::Object(env) if env.keys().all(|k| k == "Variables") => env.get("Variables"),
            _ => {
                return Err(TemplateError::new(
                    id,
                    "Properties.Environment",
                    "only Environment.Variables is supported",
                ));
            }
        };
        if let Some(Value::Object(variables)) = variables {
            for (name, value) in variables {
                environment.insert(
                    name.clone(),
                    text(
                        id,
                        &format!("Properties.Environment.Variables.{name}"),
                        Some(value),
                    )?,
                );
            }
        }
    }
    let name = optional_text(
        id,
        "Properties.FunctionName",
        properties.get("FunctionName"),
    )?
    .unwrap_or_else(|| id.to_owned());
    if let Some(Value::Object(overrides)) = &options.env_vars {
        for scope in ["Parameters", id, name.as_str()] {
            if let Some(Value::Object(variables)) = overrides.get(scope) {
                for (variable, value) in variables {
                    let value = scalar_text(value).map_err(|reason| {
                        TemplateError::new(format!("--env-vars {scope}"), variable, reason)
                    })?;
                    environment.insert(variable.clone(), value);
                }
            }
        }
    }
    let timeout_secs = number(id, "Properties.Timeout", properties.get("Timeout"))?.unwrap_or(3);
    if !(1..=900).contains(&timeout_secs) {
        return Err(TemplateError::new(
            id,
            "Properties.Timeout",
            "Lambda takes 1 to 900 seconds",
        ));
    }
    let memory_mb =
        number(id, "Properties.MemorySize", properties.get("MemorySize"))?.unwrap_or(128);
    let reserved_concurrency = number(
        id,
        "Properties.ReservedConcurrentExecutions",
        properties.get("ReservedConcurrentExecutions"),
    )?;
    let cargo = match metadata.and_then(|m| m.get("BuildMethod")) {
        None => None,
        Some(method) => match scalar_text(method).as_deref() {
            Ok("rust-cargolambda") if runtime.starts_with("provided") => Some(
                metadata
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|p| p.get("Binary"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            Ok(other) => {
                return Err(TemplateError::new(
                    id,
                    "Metadata.BuildMethod",
                    format!(
                        "{other} with {runtime}: only rust-cargolambda (with a provided runtime) is built locally; other code runs from CodeUri as it is"
                    ),
                ));
            }
            Err(reason) => return Err(TemplateError::new(id, "Metadata.BuildMethod", reason)),
        },
    };
    if runtime.starts_with("provided") && cargo.is_none() && !code_uri.join("bootstrap").is_file() {
        return Err(TemplateError::new(
            id,
            "Properties.CodeUri",
            format!(
                "{runtime} without Metadata.BuildMethod rust-cargolambda needs an executable {}/bootstrap",
                code_uri.display()
            ),
        ));
    }
    Ok(FunctionSpec {
        logical_id: id.to_owned(),
        name,
        runtime,
        handler,
        code_uri,
        environment,
        timeout_secs,
        memory_mb,
        reserved_concurrency,
        cargo,
    })
}

/// `Events` of type `HttpApi`: routes of the backend's HTTP API, under the stage.
fn http_events(
    id: &str,
    events: &Value,
    fed_inside: Option<&str>,
    app: &mut SamApp,
    notes: &mut NotEmulated,
) -> Result<(), TemplateError> {
    let Value::Object(events) = events else {
        return Err(TemplateError::new(
            id,
            "Properties.Events",
            "must be a mapping",
        ));
    };
    for (name, event) in events {
        let property = format!("Properties.Events.{name}");
        let kind = text(id, &format!("{property}.Type"), event.get("Type"))?;
        if let Some(how) = fed_inside
            && matches!(kind.as_str(), "DynamoDB" | "SQS" | "Schedule")
        {
            notes.note(format!("{kind} events of {how}"), id);
            continue;
        }
        if kind != "HttpApi" {
            return Err(TemplateError::new(
                id,
                format!("{property}.Type"),
                format!("{kind} events are not emulated (only HttpApi)"),
            ));
        }
        let properties = match event.get("Properties") {
            Some(Value::Object(properties)) => properties.clone(),
            _ => {
                return Err(TemplateError::new(
                    id,
                    format!("{property}.Properties"),
                    "needs Path and Method",
                ));
            }
        };
        for key in properties.keys() {
            if !matches!(
                key.as_str(),
                "ApiId" | "Path" | "Method" | "PayloadFormatVersion" | "TimeoutInMillis"
            ) {
                return Err(TemplateError::new(
                    id,
                    format!("{property}.Properties.{key}"),
                    "is not supported by the local gateway",
                ));
            }
        }
        if let Some(version) = properties.get("PayloadFormatVersion")
            && scalar_text(version).as_deref() != Ok("2.0")
        {
            return Err(TemplateError::new(
                id,
                format!("{property}.Properties.PayloadFormatVersion"),
                "only 2.0 is emulated",
            ));
        }
        let path = text(
            id,
            &format!("{property}.Properties.Path"),
            properties.get("Path"),
        )?;
        if path.contains("+}") || !path.starts_with('/') {
            return Err(TemplateError::new(
                id,
                format!("{property}.Properties.Path"),
                format!("{path:?}: a path starting with / and without greedy {{name+}} segments"),
            ));
        }
        let method = text(
            id,
            &format!("{property}.Properties.Method"),
            properties.get("Method"),
        )?
        .to_uppercase();
        if method == "ANY" || method.parse::<http::Method>().is_err() {
            return Err(TemplateError::new(
                id,
                format!("{property}.Properties.Method"),
                format!("{method}: one HTTP method"),
            ));
        }
        app.http_routes.push(HttpRouteSpec {
            method,
            path,
            function: id.to_owned(),
        });
    }
    Ok(())
}

fn table(
    id: &str,
    kind: &str,
    mut properties: Map<String, Value>,
    context: &Context,
    notes: &mut NotEmulated,
) -> Result<TableSpec, TemplateError> {
    if kind == "AWS::Serverless::SimpleTable" {
        check(
            id,
            kind,
            &properties,
            &["PrimaryKey", "TableName", "ProvisionedThroughput", "Tags"],
            &[("SSESpecification", "encryption is not emulated")],
            notes,
        )?;
        let key = properties
            .get("PrimaryKey")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"Name": "id", "Type": "String"}));
        let name = text(id, "Properties.PrimaryKey.Name", key.get("Name"))?;
        let attribute_type = match text(id, "Properties.PrimaryKey.Type", key.get("Type"))?.as_str()
        {
            "String" => "S",
            "Number" => "N",
            "Binary" => "B",
            other => {
                return Err(TemplateError::new(
                    id,
                    "Properties.PrimaryKey.Type",
                    format!("{other}: String, Number or Binary"),
                ));
            }
        };
        let mut table = serde_json::json!({
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": attribute_type}],
            "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        });
        if let Some(throughput) = properties.remove("ProvisionedThroughput") {
            table["BillingMode"] = "PROVISIONED".into();
            table["ProvisionedThroughput"] = throughput;
        }
        properties = match table {
            Value::Object(table) => table,
            _ => Map::new(),
        };
    } else {
        check(
            id,
            kind,
            &properties,
            &[
                "TableName",
                "AttributeDefinitions",
                "KeySchema",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "BillingMode",
                "ProvisionedThroughput",
                "TimeToLiveSpecification",
                "Tags",
                "TableClass",
                "DeletionProtectionEnabled",
            ],
            &[
                ("StreamSpecification", "streams are not consumed locally"),
                ("SSESpecification", "encryption is not emulated"),
                (
                    "PointInTimeRecoverySpecification",
                    "backups are not emulated",
                ),
                ("ContributorInsightsSpecification", "not emulated"),
                ("ResourcePolicy", IAM),
                ("WarmThroughput", "DynamoDB Local has no throughput limits"),
                (
                    "OnDemandThroughput",
                    "DynamoDB Local has no throughput limits",
                ),
            ],
            notes,
        )?;
        for required in ["AttributeDefinitions", "KeySchema"] {
            if !properties.get(required).is_some_and(Value::is_array) {
                return Err(TemplateError::new(
                    id,
                    format!("Properties.{required}"),
                    "is required (a list)",
                ));
            }
        }
    }
    let name = context
        .resources
        .get(id)
        .map(|names| names.reference.clone())
        .unwrap_or_else(|| id.to_owned());
    Ok(TableSpec {
        logical_id: id.to_owned(),
        name,
        properties,
    })
}
