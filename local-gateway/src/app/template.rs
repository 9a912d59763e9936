//! `--template`: a SAM (or CloudFormation) template as the source of the routes
//! ([`crate::template`]), its functions run as Lambda runs them ([`ProcessFunction`]), or, for
//! ws-bridge's own functions, in-process (the default: measured faster, see README) on the
//! gateway's backends, with the variables the template gives them.

use super::LocalEndpoint;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::invoke::runtime_deps;
use crate::invoke::runtimes::{self, RuntimeTools};
use crate::invoke::{LambdaFunction, ProcessFunction, ProcessSpec, WithTimeout};
use crate::project::{self, ProjectFunctions};
use crate::routing::{Authorizer, HttpRoute, IdentitySource, Route, RouteTable};
use crate::template::{FunctionSpec, SamApp, TemplateError, TemplateOptions, tables};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::{ACCOUNT_ID, REGION};

/// The stand-in for the deployed stack's name.
const STACK_NAME: &str = "local";

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
        .map(|raw| crate::template::parse_parameter_override(raw))
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

/// A template read, and which of its functions run inside the gateway.
pub(crate) struct TemplateSource {
    app: SamApp,
    path: PathBuf,
    /// Logical id -> crate name of the project's functions that run in-process.
    inside: BTreeMap<String, &'static str>,
}

/// A template whose functions are ready to run: Rust ones built, runtimes' shims written, tables
/// created.
pub(crate) struct PreparedTemplate {
    source: TemplateSource,
    binaries: BTreeMap<String, PathBuf>,
    tools: RuntimeTools,
    dynamodb_endpoint: Option<String>,
    api_host: String,
    hot_reload: bool,
    /// Where the runtimes' shims are: private to this run (mode 0700, a name nobody can
    /// predict or claim first), removed when dropped.
    runtime_dir: Option<tempfile::TempDir>,
    /// Processes per function without `ReservedConcurrentExecutions`.
    max_concurrency: usize,
    freeze: bool,
}

impl TemplateSource {
    pub fn load(config: &GatewayConfig) -> Result<Self, GatewayError> {
        let (app, path) = load(config)?;
        let inside = app
            .functions
            .values()
            .filter(|_| !config.processes)
            .filter_map(|f| {
                let binary = f.cargo.as_ref()?.as_deref()?;
                Some((f.logical_id.clone(), project::runs_inside(binary)?))
            })
            .collect();
        Ok(Self { app, path, inside })
    }

    fn refuse(&self, resource: &str, property: &str, reason: String) -> GatewayError {
        GatewayError::Template {
            path: self.path.display().to_string(),
            resource: resource.to_owned(),
            property: property.to_owned(),
            reason,
        }
    }

    /// The template's stage name, when it declares one.
    pub fn stage(&self) -> Option<&str> {
        self.app.stage.as_deref()
    }

    /// What the template declares that the gateway accepts without emulating (IAM, logging).
    pub fn not_emulated(&self) -> &[String] {
        &self.app.not_emulated
    }

    /// Whether any of ws-bridge's own functions run inside the gateway.
    pub fn runs_project_functions(&self) -> bool {
        !self.inside.is_empty()
    }

    /// Whether the template gives a function presence channels (`PRESENCE_CHANNELS`).
    pub fn has_presence(&self) -> bool {
        self.app.functions.values().any(|function| {
            function
                .environment
                .get("PRESENCE_CHANNELS")
                .is_some_and(|channels| !channels.trim().is_empty())
        })
    }

    /// The variables the template gives the functions that run inside the gateway (after
    /// `--parameter-overrides` and `--env-vars`), merged by name: what their settings are read
    /// from, as each Lambda reads its own environment. Where two of them give one name
    /// different values, the first by logical id is kept and the difference logged.
    pub fn project_environment(&self) -> BTreeMap<String, String> {
        let mut merged: BTreeMap<String, (String, &str)> = BTreeMap::new();
        for id in self.inside.keys() {
            let Some(function) = self.app.functions.get(id) else {
                continue;
            };
            for (name, value) in &function.environment {
                if value.trim().is_empty() {
                    continue;
                }
                match merged.get(name) {
                    None => {
                        merged.insert(name.clone(), (value.clone(), id));
                    }
                    Some((kept, from)) if kept != value => tracing::warn!(
                        "{name}: {from} and {id} are given different values in the template; the gateway's in-process functions share {from}'s"
                    ),
                    Some(_) => {}
                }
            }
        }
        merged
            .into_iter()
            .map(|(name, (value, _))| (name, value))
            .collect()
    }

    /// Creates the template's tables (with `--dynamodb-endpoint`), builds its Rust functions
    /// and writes the runtimes' shims: everything its processes need before the first call.
    pub async fn prepare(self, config: &GatewayConfig) -> Result<PreparedTemplate, GatewayError> {
        let processes: Vec<&FunctionSpec> = self
            .app
            .functions
            .values()
            .filter(|f| !self.inside.contains_key(&f.logical_id))
            .collect();
        // The template's tables are its processes' (the in-process functions use the
        // gateway's store).
        match (&config.dynamodb_endpoint, self.app.tables.first()) {
            (Some(_), Some(_)) if !processes.is_empty() => {
                let sdk_config = super::backends::dynamodb_sdk_config(config).await;
                let client = aws_sdk_dynamodb::Client::new(&sdk_config);
                tables::create_missing(&client, &self.app.tables)
                    .await
                    .map_err(|(table, reason)| self.refuse(&table, "", reason))?;
            }
            (None, Some(table)) if !processes.is_empty() => {
                return Err(self.refuse(
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
                .map_err(|reason| self.refuse(&functions[0].0, "Metadata.BuildMethod", reason))?;
            for (id, binary) in functions {
                if let Some(path) = built.get(&binary) {
                    binaries.insert(id, path.clone());
                }
            }
        }
        let mut tools = RuntimeTools {
            python: from_here(&config.python),
            node: from_here(&config.node),
            python_packages: None,
            node_modules: config
                .node_modules
                .as_deref()
                .map(|path| PathBuf::from(from_here(&path.to_string_lossy())))
                .unwrap_or_default(),
            shim_dir: PathBuf::new(),
        };
        // What the runtimes need besides this binary: found, or installed once into the
        // per-user cache, before the first function starts.
        if let Some(function) = processes.iter().find(|f| f.runtime.starts_with("python")) {
            let python = runtime_deps::python(&tools.python)
                .await
                .map_err(|reason| {
                    self.refuse(&function.logical_id, "Properties.Runtime", reason)
                })?;
            tools.python_packages = python.packages;
            warn_version_mismatch(&processes, "python", &python.version, &tools.python);
        }
        if let Some(function) = processes.iter().find(|f| f.runtime.starts_with("nodejs")) {
            let version = tokio::process::Command::new(&tools.node)
                .arg("--version")
                .output()
                .await
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
            let Some(version) = version else {
                return Err(self.refuse(
                    &function.logical_id,
                    "Properties.Runtime",
                    format!(
                        "Node.js functions need Node.js ({} was not found): install Node.js 18 or later, or pass --node",
                        tools.node
                    ),
                ));
            };
            // `v20.11.1`: Lambda's runtimes are named by the major version.
            let major = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .unwrap_or_default();
            warn_version_mismatch(&processes, "nodejs", &format!("{major}.x"), &tools.node);
            if config.node_modules.is_none() {
                tools.node_modules = runtime_deps::node_modules().await.map_err(|reason| {
                    self.refuse(&function.logical_id, "Properties.Runtime", reason)
                })?;
            }
        }
        let mut runtime_dir = None;
        if !processes.is_empty() {
            let cannot = |err: std::io::Error| {
                self.refuse(
                    "runtimes",
                    "",
                    format!("cannot write the runtime shims: {err}"),
                )
            };
            // tempfile leaves a folder's mode to the umask; 0700 is asked for explicitly.
            let dir = tempfile::Builder::new()
                .prefix("local-gateway-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(cannot)?;
            tools.shim_dir = dir.path().to_path_buf();
            tools.install_shims().map_err(cannot)?;
            runtime_dir = Some(dir);
        }
        Ok(PreparedTemplate {
            api_host: format!("{}.execute-api.{REGION}.amazonaws.com", config.api_id),
            dynamodb_endpoint: config.dynamodb_endpoint.clone(),
            hot_reload: config.hot_reload,
            runtime_dir,
            max_concurrency: config.max_concurrency(),
            freeze: config.freeze,
            source: self,
            binaries,
            tools,
        })
    }
}

impl PreparedTemplate {
    /// For the banner: the template, and how its functions run.
    pub fn describe(&self) -> String {
        let inside = self.source.inside.len();
        let processes = self.source.app.functions.len() - inside;
        let mut line = format!(
            "{} ({inside} functions in-process, {processes} as processes)",
            self.source.path.display()
        );
        let not_emulated = self.source.app.not_emulated.len();
        if not_emulated > 0 {
            line.push_str(&format!(
                "; {not_emulated} properties accepted, not emulated (RUST_LOG=local_gateway=debug lists them)"
            ));
        }
        line
    }

    /// Whether any of ws-bridge's own functions run inside the gateway.
    pub fn runs_project_functions(&self) -> bool {
        self.source.runs_project_functions()
    }

    /// The runtimes' private folder, for the gateway to keep.
    pub fn take_runtime_dir(&mut self) -> Option<tempfile::TempDir> {
        self.runtime_dir.take()
    }

    /// The route table: the template's routes, authorizer and HTTP routes, each reaching the
    /// project's function in-process (from `project`) or the function's own process, started
    /// here.
    pub fn routes(
        &self,
        endpoint: &LocalEndpoint,
        project: Option<&ProjectFunctions>,
    ) -> Result<RouteTable, GatewayError> {
        let app = &self.source.app;
        let (tools, api_host) = (&self.tools, self.api_host.as_str());
        let origin = endpoint
            .url
            .rsplit_once('/')
            .map(|(origin, _)| origin.to_owned())
            .unwrap_or_else(|| endpoint.url.clone());
        let mut functions: BTreeMap<String, Arc<dyn LambdaFunction>> = BTreeMap::new();
        for (id, spec) in &app.functions {
            if let Some(binary) = self.source.inside.get(id) {
                // `webhook-dispatch` is no route's function: the gateway runs it as its webhooks.
                if let Some(function) = project.and_then(|project| project.by_name(binary)) {
                    functions.insert(id.clone(), function);
                }
                continue;
            }
            let binary = self.binaries.get(id).map(PathBuf::as_path);
            let launch = runtimes::command(
                &spec.runtime,
                spec.handler.as_deref(),
                &spec.code_uri,
                binary,
                tools,
            )
            .map_err(|reason| GatewayError::Function {
                function: id.clone(),
                reason,
            })?;
            let mut env = lambda_environment(
                spec,
                tools,
                &endpoint.url,
                &origin,
                api_host,
                self.dynamodb_endpoint.as_deref(),
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
                watch: if self.hot_reload && interpreted {
                    vec![spec.code_uri.clone()]
                } else {
                    Vec::new()
                },
                freeze: self.freeze,
            };
            let max = spec
                .reserved_concurrency
                .map_or(self.max_concurrency, |reserved| {
                    usize::try_from(reserved).unwrap_or(usize::MAX)
                });
            let function =
                ProcessFunction::start(process, max).map_err(|err| GatewayError::Function {
                    function: id.clone(),
                    reason: err.to_string(),
                })?;
            functions.insert(id.clone(), function);
        }
        let function = |id: &str| {
            functions
                .get(id)
                .map(Arc::clone)
                .ok_or_else(|| GatewayError::Function {
                    function: id.to_owned(),
                    reason: "runs inside the gateway but is no route's function".into(),
                })
        };
        let mut table = RouteTable {
            selection: app.selection.clone(),
            ..RouteTable::default()
        };
        // The Invoke API finds a function by its logical id or its `FunctionName`.
        for (id, function) in &functions {
            table.functions.insert(id.clone(), Arc::clone(function));
            if let Some(spec) = app.functions.get(id) {
                table
                    .functions
                    .entry(spec.name.clone())
                    .or_insert_with(|| Arc::clone(function));
            }
        }
        for (key, spec) in &app.routes {
            let mut target = function(&spec.function)?;
            if let Some(ms) = spec.timeout_ms {
                target = WithTimeout::shared(target, Duration::from_millis(ms));
            }
            let route = Route {
                function: target,
                two_way: spec.two_way,
            };
            table
                .insert(key, route)
                .map_err(|reason| GatewayError::Route {
                    route: key.clone(),
                    reason,
                })?;
        }
        if let Some(authorizer) = &app.authorizer {
            let identity_sources = authorizer
                .identity_sources
                .iter()
                .filter_map(|source| IdentitySource::parse(source).ok())
                .collect();
            table.authorizer = Some(Authorizer {
                function: function(&authorizer.function)?,
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
                .is_some_and(project::delivers_body);
            table.http.push(HttpRoute {
                method,
                path: route.path.clone(),
                function: function(&route.function)?,
                delivers_body,
            });
        }
        Ok(table)
    }
}

/// Says once per runtime when the template asks for another version than this machine's
/// (`python3.13` on Python 3.11, `nodejs22.x` on Node.js 20): the code runs, but on a runtime
/// that may lack what the deployed one has, or have what it lacks.
fn warn_version_mismatch(
    functions: &[&FunctionSpec],
    family: &str,
    local_version: &str,
    program: &str,
) {
    for line in version_mismatches(functions, family, local_version, program) {
        tracing::warn!("{line}");
    }
}

fn version_mismatches(
    functions: &[&FunctionSpec],
    family: &str,
    local_version: &str,
    program: &str,
) -> Vec<String> {
    let asked: std::collections::BTreeSet<&str> = functions
        .iter()
        .filter_map(|function| function.runtime.strip_prefix(family))
        .collect();
    asked
        .into_iter()
        .filter(|version| *version != local_version)
        .map(|version| {
            let uses: Vec<&str> = functions
                .iter()
                .filter(|function| function.runtime.strip_prefix(family) == Some(version))
                .map(|function| function.logical_id.as_str())
                .collect();
            format!(
                "the template asks for {family}{version} ({}), but {program} is {family}{local_version}: the functions run on this machine's version",
                uses.join(", ")
            )
        })
        .collect()
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
        // Functions that invoke functions reach the gateway's Lambda Invoke API.
        ("AWS_ENDPOINT_URL_LAMBDA", origin.into()),
        ("LOCAL_GATEWAY_ENDPOINT", origin.into()),
        ("LOCAL_GATEWAY_API_HOST", api_host.into()),
        (
            "LOCAL_GATEWAY_LAMBDA_HOST",
            format!("lambda.{REGION}.amazonaws.com"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(endpoint) = dynamodb_endpoint {
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(id: &str, runtime: &str) -> FunctionSpec {
        FunctionSpec {
            logical_id: id.into(),
            name: id.into(),
            runtime: runtime.into(),
            handler: None,
            code_uri: PathBuf::new(),
            environment: BTreeMap::new(),
            timeout_secs: 3,
            memory_mb: 128,
            reserved_concurrency: None,
            cargo: None,
        }
    }

    #[test]
    fn a_runtime_version_other_than_the_machines_is_said_once_with_both_versions() {
        let (a, b, c) = (
            function("A", "python3.13"),
            function("B", "python3.13"),
            function("C", "python3.11"),
        );
        let node = function("N", "nodejs22.x");
        let functions = [&a, &b, &c, &node];
        assert_eq!(
            version_mismatches(&functions, "python", "3.11", "python3"),
            [
                "the template asks for python3.13 (A, B), but python3 is python3.11: the functions run on this machine's version"
            ]
        );
        assert_eq!(
            version_mismatches(&functions, "nodejs", "20.x", "node"),
            [
                "the template asks for nodejs22.x (N), but node is nodejs20.x: the functions run on this machine's version"
            ]
        );
        assert!(version_mismatches(&functions, "nodejs", "22.x", "node").is_empty());
    }
}
