//! `--template`: the gateway configured by a SAM template ([`crate::routing::template`]) and
//! its functions run as Lambda runs them ([`crate::invoke::ProcessFunction`]), or, for
//! ws-bridge's own functions, in-process (the default: measured faster, see README).

use crate::config::{GatewayConfig, StoreKind};
use crate::error::GatewayError;
use crate::invoke::runtimes::{self, RuntimeTools};
use crate::invoke::{LambdaFunction, ProcessFunction, ProcessSpec, WithTimeout, project_functions};
use crate::routing::template::{FunctionSpec, SamApp, TemplateError, TemplateOptions, tables};
use crate::routing::{Authorizer, HttpRoute, IdentitySource, Route, RouteTable};
use crate::server::{RunningGateway, dynamodb_store, start_with};
use aws_config::BehaviorVersion;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ws_bridge::auth::TokenVerifier;
use ws_bridge::{ConnectionStore, InMemoryStore};

/// The stand-ins for what a deployed stack would have.
const REGION: &str = "us-east-1";
const ACCOUNT_ID: &str = "123456789012";
const STACK_NAME: &str = "local";

/// ws-bridge's own functions, by binary name: these can run inside the gateway.
const PROJECT_BINARIES: [&str; 8] = [
    "ws-connect",
    "ws-disconnect",
    "ws-default",
    "ws-authorizer",
    "http-broadcast",
    "http-connections-count",
    "http-stats",
    "http-handshakes",
];

/// Reads the template of `config.template` into a route table (no functions started): for
/// `--list-routes` and checks.
pub fn read_template(config: &GatewayConfig) -> Result<serde_json::Value, GatewayError> {
    let (app, _) = load(config)?;
    let mut summary = app.route_summary();
    summary["http"] = app
        .http_routes
        .iter()
        .map(|r| serde_json::json!({"method": r.method, "path": r.path, "function": r.function}))
        .collect();
    summary["notEmulated"] = app.not_emulated.clone().into();
    Ok(summary)
}

fn load(config: &GatewayConfig) -> Result<(SamApp, PathBuf), GatewayError> {
    let path = config.template.clone().unwrap_or_default();
    let refuse = |error: TemplateError| GatewayError::Template {
        path: path.display().to_string(),
        resource: error.resource,
        property: error.property,
        reason: error.reason,
    };
    let parameter_overrides = config
        .parameter_overrides
        .iter()
        .map(|raw| crate::routing::template::parse_parameter_override(raw))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| refuse(TemplateError::new("--parameter-overrides", "", reason)))?;
    let env_vars = match &config.env_vars {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|err| {
                refuse(TemplateError::new(
                    "--env-vars",
                    file.display().to_string(),
                    err.to_string(),
                ))
            })?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
                refuse(TemplateError::new(
                    "--env-vars",
                    file.display().to_string(),
                    err.to_string(),
                ))
            })?;
            if !value.is_object() {
                return Err(refuse(TemplateError::new(
                    "--env-vars",
                    file.display().to_string(),
                    "must be a JSON object",
                )));
            }
            Some(value)
        }
    };
    let options = TemplateOptions {
        parameter_overrides,
        env_vars,
        api_id: config.api_id.clone(),
        region: REGION.into(),
        account_id: ACCOUNT_ID.into(),
        stack_name: STACK_NAME.into(),
    };
    let app = SamApp::load(&path, &options).map_err(refuse)?;
    Ok((app, path))
}

fn in_process(config: &GatewayConfig, function: &FunctionSpec) -> Option<&'static str> {
    if config.processes {
        return None;
    }
    let binary = function.cargo.as_ref()?.as_deref()?;
    PROJECT_BINARIES
        .iter()
        .copied()
        .find(|name| *name == binary)
}

/// Starts the gateway from `config.template`.
pub async fn start_from_template(
    mut config: GatewayConfig,
) -> Result<RunningGateway, GatewayError> {
    let (app, path) = load(&config)?;
    let refuse = |resource: &str, property: &str, reason: String| GatewayError::Template {
        path: path.display().to_string(),
        resource: resource.to_owned(),
        property: property.to_owned(),
        reason,
    };
    for line in &app.not_emulated {
        tracing::warn!("accepted, not emulated: {line}");
    }
    if let Some(stage) = &app.stage {
        config.stage = stage.clone();
    }
    // Functions by logical id that run inside the gateway, with their binary's name.
    let inside: BTreeMap<String, &'static str> = app
        .functions
        .values()
        .filter_map(|f| Some((f.logical_id.clone(), in_process(&config, f)?)))
        .collect();
    let processes: Vec<FunctionSpec> = app
        .functions
        .values()
        .filter(|f| !inside.contains_key(&f.logical_id))
        .cloned()
        .collect();
    match (&config.dynamodb_endpoint, app.tables.first()) {
        (Some(endpoint), Some(_)) => {
            let sdk_config = aws_config::defaults(BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(ws_bridge::local::region())
                .credentials_provider(ws_bridge::local::credentials())
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&sdk_config);
            tables::create_missing(&client, &app.tables)
                .await
                .map_err(|(table, reason)| refuse(&table, "", reason))?;
        }
        (None, Some(table)) if !processes.is_empty() => {
            return Err(refuse(
                &table.logical_id,
                "",
                "the template's tables need --dynamodb-endpoint (e.g. DynamoDB Local) to be created for its functions".into(),
            ));
        }
        _ => {}
    }
    // Rust functions, built with cargo per CodeUri.
    let mut binaries: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut by_dir: BTreeMap<PathBuf, Vec<(String, Option<String>)>> = BTreeMap::new();
    for function in &processes {
        if let Some(binary) = &function.cargo {
            by_dir
                .entry(function.code_uri.clone())
                .or_default()
                .push((function.logical_id.clone(), binary.clone()));
        }
    }
    for (dir, functions) in by_dir {
        let wanted: Vec<Option<String>> = functions.iter().map(|(_, b)| b.clone()).collect();
        let built = runtimes::cargo_build(&dir, &wanted, &config.cargo_profile)
            .await
            .map_err(|reason| refuse(&functions[0].0, "Metadata.BuildMethod", reason))?;
        for (id, binary) in functions {
            if let Some(path) = built.get(&binary) {
                binaries.insert(id, path.clone());
            }
        }
    }
    let tools = RuntimeTools {
        python: from_here(&config.python),
        node: from_here(&config.node),
        node_modules: config
            .node_modules
            .as_deref()
            .map(|path| PathBuf::from(from_here(&path.to_string_lossy())))
            .unwrap_or_else(|| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/runtimes/node/node_modules"
                ))
            }),
        shim_dir: std::env::temp_dir()
            .join(format!("local-gateway-runtimes-{}", std::process::id())),
    };
    if let Some(function) = processes.iter().find(|f| f.runtime.starts_with("python")) {
        // Said once here rather than as every invocation's Runtime.InvalidEntrypoint.
        let checked = tokio::process::Command::new(&tools.python)
            .args(["-c", "import awslambdaric"])
            .output()
            .await;
        if !checked.is_ok_and(|output| output.status.success()) {
            return Err(refuse(
                &function.logical_id,
                "Properties.Runtime",
                format!(
                    "{} cannot import awslambdaric: run `make .venv/.installed` and pass --python .venv/bin/python",
                    tools.python
                ),
            ));
        }
    }
    if !processes.is_empty() {
        tools.install_shims().map_err(|err| {
            refuse(
                "runtimes",
                "",
                format!("cannot write the runtime shims: {err}"),
            )
        })?;
    }
    let needs_project = !inside.is_empty();
    let store: Arc<dyn ConnectionStore> = match config.store {
        StoreKind::Memory => Arc::new(InMemoryStore::new()),
        StoreKind::Dynamodb => Arc::new(dynamodb_store(&config).await?),
    };
    let verifier = if needs_project {
        TokenVerifier::from_env().await?.map(Arc::new)
    } else {
        None
    };
    let settings = config.settings();
    let dynamodb_endpoint = config.dynamodb_endpoint.clone();
    let api_host = format!("{}.execute-api.{REGION}.amazonaws.com", config.api_id);
    let hot_reload = config.hot_reload;
    start_with(config, move |endpoint| {
        let project = needs_project.then(|| {
            project_functions(
                Arc::clone(&store),
                endpoint.functions_pusher(settings.broadcast_max_attempts),
                settings,
                verifier,
            )
        });
        let origin = endpoint
            .url
            .rsplit_once('/')
            .map(|(origin, _)| origin.to_owned())
            .unwrap_or_else(|| endpoint.url.clone());
        let mut functions: BTreeMap<String, Arc<dyn LambdaFunction>> = BTreeMap::new();
        for (id, spec) in &app.functions {
            let own = inside
                .get(id)
                .and_then(|binary| project.as_ref()?.by_name(binary));
            let function = match own {
                Some(function) => function,
                None => {
                    let binary = binaries.get(id).map(PathBuf::as_path);
                    let launch = runtimes::command(
                        &spec.runtime,
                        spec.handler.as_deref(),
                        &spec.code_uri,
                        binary,
                        &tools,
                    )
                    .map_err(|reason| GatewayError::Function {
                        function: id.clone(),
                        reason,
                    })?;
                    let mut env = lambda_environment(
                        spec,
                        &tools,
                        &endpoint.url,
                        &origin,
                        &api_host,
                        dynamodb_endpoint.as_deref(),
                    );
                    env.extend(launch.env);
                    for (name, value) in &spec.environment {
                        let value = value
                            .replace(&format!("https://{api_host}"), &origin)
                            .replace(
                                &format!("wss://{api_host}"),
                                &origin.replacen("http://", "ws://", 1),
                            );
                        env.push((name.clone(), value));
                    }
                    let interpreted = !spec.runtime.starts_with("provided");
                    let process = ProcessSpec {
                        name: spec.name.clone(),
                        program: launch.program,
                        args: launch.args,
                        cwd: spec.code_uri.clone(),
                        env,
                        timeout: Duration::from_secs(spec.timeout_secs),
                        function_arn: format!(
                            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
                            spec.name
                        ),
                        watch: if hot_reload && interpreted {
                            vec![spec.code_uri.clone()]
                        } else {
                            Vec::new()
                        },
                    };
                    ProcessFunction::start(process).map_err(|err| GatewayError::Function {
                        function: id.clone(),
                        reason: err.to_string(),
                    })?
                }
            };
            functions.insert(id.clone(), function);
        }
        let function = |id: &str| Arc::clone(&functions[id]);
        let mut table = RouteTable {
            selection: app.selection.clone(),
            ..RouteTable::default()
        };
        for (key, spec) in &app.routes {
            let mut target = function(&spec.function);
            if let Some(ms) = spec.timeout_ms {
                target = WithTimeout::shared(target, Duration::from_millis(ms));
            }
            let route = Route {
                function: target,
                two_way: spec.two_way,
            };
            match key.as_str() {
                "$connect" => table.connect = Some(route),
                "$disconnect" => table.disconnect = Some(route),
                "$default" => table.default = Some(route),
                _ => {
                    table.custom.insert(key.clone(), route);
                }
            }
        }
        if let Some(authorizer) = &app.authorizer {
            let identity_sources = authorizer
                .identity_sources
                .iter()
                .filter_map(|source| IdentitySource::parse(source).ok())
                .collect();
            table.authorizer = Some(Authorizer {
                function: function(&authorizer.function),
                identity_sources,
            });
        }
        for route in &app.http_routes {
            let method =
                route
                    .method
                    .parse::<http::Method>()
                    .map_err(|err| GatewayError::Route {
                        route: route.path.clone(),
                        reason: err.to_string(),
                    })?;
            let delivers_body = app.functions[&route.function]
                .cargo
                .as_ref()
                .and_then(Option::as_deref)
                == Some("http-broadcast");
            table.http.push(HttpRoute {
                method,
                path: route.path.clone(),
                function: function(&route.function),
                delivers_body,
            });
        }
        Ok((store, table))
    })
    .await
}

/// A program given as a relative path (`.venv/bin/python`) means from where the gateway was
/// started, not from each function's `CodeUri` (its working directory).
fn from_here(program: &str) -> String {
    let path = std::path::Path::new(program);
    if path.is_relative()
        && path.components().count() > 1
        && let Ok(here) = std::env::current_dir()
    {
        return here.join(path).to_string_lossy().into_owned();
    }
    program.to_owned()
}

/// The variables Lambda sets for every function, and ours for the management endpoint.
fn lambda_environment(
    spec: &FunctionSpec,
    tools: &RuntimeTools,
    management_url: &str,
    origin: &str,
    api_host: &str,
    dynamodb_endpoint: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]local".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
        (
            "_HANDLER",
            spec.handler.clone().unwrap_or_else(|| "bootstrap".into()),
        ),
        (
            "LAMBDA_TASK_ROOT",
            spec.code_uri.to_string_lossy().into_owned(),
        ),
        (
            "LAMBDA_RUNTIME_DIR",
            tools.shim_dir.to_string_lossy().into_owned(),
        ),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        // DynamoDB Local keeps one database per access key: the gateway's own.
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
            management_url.into(),
        ),
        ("LOCAL_GATEWAY_ENDPOINT", origin.into()),
        ("LOCAL_GATEWAY_API_HOST", api_host.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(endpoint) = dynamodb_endpoint {
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.into()));
    }
    env
}
