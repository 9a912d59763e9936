//! Where the functions and the route table come from: the project's own routes, a `--routes`
//! file, the project's functions behind a Lambda Invoke API, or a SAM template. Each yields a
//! route table over the same [`Backends`]; what one cannot honour is refused here, by name.

use super::LocalEndpoint;
use super::backends::Backends;
use super::template::{PreparedTemplate, TemplateSource};
use crate::config::{GatewayConfig, StoreKind};
use crate::error::GatewayError;
use crate::project::{
    Optional, ProjectFunctions, RouteConfig, invoked_functions, project_functions_with,
};
use crate::routing::{Authorizer, IdentitySource, RouteTable};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) enum Source {
    /// The project's functions in this process, on the project's routes or a `--routes` file's.
    Project(ProjectRoutes),
    /// The project's functions behind a Lambda Invoke API (`--invoke-endpoint`), each its own
    /// process reading its own environment.
    Invoked {
        endpoint: String,
        routes: ProjectRoutes,
    },
    /// A SAM template's routes and functions.
    Template(Box<TemplateSource>),
}

/// The project's route table, or a `--routes` file's, with `--use-authorizer`.
pub(super) struct ProjectRoutes {
    file: Option<(String, RouteConfig)>,
    use_authorizer: bool,
}

/// A source ready to give its route table.
pub(super) enum Prepared {
    Project(ProjectRoutes),
    Invoked {
        endpoint: String,
        routes: ProjectRoutes,
    },
    Template(Box<PreparedTemplate>),
}

impl Source {
    pub fn from_config(config: &GatewayConfig) -> Result<Self, GatewayError> {
        let unsupported = |flag: &str, reason: String| GatewayError::Unsupported {
            flag: flag.to_owned(),
            reason,
        };
        let source = match &config.template {
            Some(path) => {
                let template = path.display();
                if config.routes.is_some() {
                    return Err(unsupported(
                        "--routes",
                        format!(
                            "{template} declares the routes: change them there, or leave out --template to use a route file"
                        ),
                    ));
                }
                if config.invoke_endpoint.is_some() {
                    return Err(unsupported(
                        "--invoke-endpoint",
                        "with --template the gateway runs the template's functions itself (--processes runs ws-bridge's as processes too)".into(),
                    ));
                }
                if config.use_authorizer {
                    return Err(unsupported(
                        "--use-authorizer",
                        format!(
                            "{template} decides whether $connect has an authorizer: with ws-bridge's template.yaml, pass --parameter-overrides AuthMode=authorizer JwtSecret=<secret> (with make run: GATEWAY_ARGS=\"--parameter-overrides AuthMode=authorizer JwtSecret=<secret>\")"
                        ),
                    ));
                }
                Self::Template(Box::new(TemplateSource::load(config)?))
            }
            None => {
                let routes = ProjectRoutes {
                    file: match &config.routes {
                        Some(path) => Some((path.display().to_string(), RouteConfig::load(path)?)),
                        None => None,
                    },
                    use_authorizer: config.use_authorizer,
                };
                match &config.invoke_endpoint {
                    Some(endpoint) => Self::Invoked {
                        endpoint: endpoint.clone(),
                        routes,
                    },
                    None => Self::Project(routes),
                }
            }
        };
        // Processes send their delayed leave checks to SQS, which the gateway does not emulate;
        // in-process functions leave through the gateway's own timers.
        if let Self::Template(template) = &source
            && !template.runs_project_functions()
            && template.has_presence()
        {
            return Err(unsupported(
                "PresenceChannels",
                "ws-default and ws-disconnect running as processes would send their delayed presence leaves to SQS, which the gateway does not emulate: presence runs with the functions in-process (leave out --processes)".into(),
            ));
        }
        if !source.runs_project_functions()
            && let Some(flag) = config.given_handler_settings().first()
        {
            let why = match &source {
                Self::Invoked { .. } => "with --invoke-endpoint",
                _ if config.processes => "with --processes",
                _ => "in this template",
            };
            return Err(unsupported(
                flag,
                format!(
                    "no function runs inside the gateway {why}: functions that run as processes read their own environment, as on Lambda; set it in the template (a parameter, its Environment, or --env-vars), or unset the flag's variable"
                ),
            ));
        }
        Ok(source)
    }

    /// Whether any of ws-bridge's own functions run inside the gateway, on its backends.
    pub fn runs_project_functions(&self) -> bool {
        match self {
            Self::Project(_) => true,
            Self::Invoked { .. } => false,
            Self::Template(template) => template.runs_project_functions(),
        }
    }

    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::Template(template) => template.stage(),
            _ => None,
        }
    }

    pub fn not_emulated(&self) -> &[String] {
        match self {
            Self::Template(template) => template.not_emulated(),
            _ => &[],
        }
    }

    /// The variables the source gives the project's in-process functions: a template's; none
    /// otherwise (the flags and the defaults apply).
    pub fn project_environment(&self) -> BTreeMap<String, String> {
        match self {
            Self::Template(template) => template.project_environment(),
            _ => BTreeMap::new(),
        }
    }

    pub async fn prepare(self, config: &GatewayConfig) -> Result<Prepared, GatewayError> {
        Ok(match self {
            Self::Project(routes) => Prepared::Project(routes),
            Self::Invoked { endpoint, routes } => Prepared::Invoked { endpoint, routes },
            Self::Template(template) => {
                Prepared::Template(Box::new(template.prepare(config).await?))
            }
        })
    }
}

impl Prepared {
    /// The route table, its in-process functions built over `backends`.
    pub fn routes(
        self,
        endpoint: &LocalEndpoint,
        backends: &Backends,
    ) -> Result<RouteTable, GatewayError> {
        let project = || {
            let pusher = endpoint.functions_pusher(backends.settings.broadcast_max_attempts);
            // The in-process queue and workers, started once the routes are built.
            let jobs = backends
                .async_broadcasts
                .as_ref()
                .map(|(progress, settings)| {
                    crate::broadcasts::start(
                        Arc::clone(progress),
                        settings.clone(),
                        Arc::clone(&backends.store),
                        Arc::clone(&pusher),
                        backends.settings.clone(),
                        backends.webhook_sink(),
                    )
                });
            project_functions_with(
                Arc::clone(&backends.store),
                pusher,
                backends.settings.clone(),
                backends.verifier.clone(),
                Optional {
                    history: backends.history.clone(),
                    presence: backends.presence.clone(),
                    webhooks: backends.webhook_sink(),
                    jobs,
                },
            )
        };
        match self {
            Self::Project(routes) => {
                if routes.use_authorizer && backends.verifier.is_none() {
                    return Err(GatewayError::Unsupported {
                        flag: "--use-authorizer".into(),
                        reason: "the authorizer checks tokens: set JWT_SECRET, JWT_JWKS_URL or JWT_JWKS_FILE".into(),
                    });
                }
                routes.table(&project())
            }
            Self::Invoked { endpoint, routes } => routes.table(&invoked_functions(&endpoint)),
            Self::Template(template) => {
                let functions = template.runs_project_functions().then(project);
                template.routes(endpoint, functions.as_ref())
            }
        }
    }

    /// The private folder the template's runtimes use, to be kept while their processes run
    /// and removed when the gateway stops (none for the other sources).
    pub fn take_runtime_dir(&mut self) -> Option<tempfile::TempDir> {
        match self {
            Self::Template(template) => template.take_runtime_dir(),
            Self::Project(_) | Self::Invoked { .. } => None,
        }
    }

    /// What is on, for the banner: where the routes come from, the store, and the settings
    /// that change what clients and backends see.
    pub fn summary(
        &self,
        config: &GatewayConfig,
        backends: &Backends,
    ) -> Vec<(&'static str, String)> {
        let mut lines = Vec::new();
        lines.push((
            "Routes",
            match self {
                Self::Project(ProjectRoutes { file: None, .. }) => {
                    "the project's own, functions in-process".to_owned()
                }
                Self::Project(ProjectRoutes {
                    file: Some((path, _)),
                    ..
                }) => format!("{path}, functions in-process"),
                Self::Invoked { endpoint, .. } => format!("the project's, invoked at {endpoint}"),
                Self::Template(template) => template.describe(),
            },
        ));
        lines.push((
            "Store",
            match config.store {
                StoreKind::Memory => "in memory (gone when the gateway stops)".to_owned(),
                StoreKind::Dynamodb => format!(
                    "DynamoDB{}",
                    config
                        .dynamodb_endpoint
                        .as_deref()
                        .map(|endpoint| format!(" at {endpoint}"))
                        .unwrap_or_default()
                ),
            },
        ));
        if !self.runs_project_functions() {
            return lines;
        }
        let settings = &backends.settings;
        lines.push((
            "HTTP API",
            match settings.api_token {
                Some(_) => "needs Authorization: Bearer <API_TOKEN>".to_owned(),
                None => "open (no API_TOKEN)".to_owned(),
            },
        ));
        lines.push((
            "Tokens",
            match &backends.verifier {
                Some(_) => "JWTs checked (JWT_*)".to_owned(),
                None => "none: connections are anonymous".to_owned(),
            },
        ));
        lines.push((
            "History",
            match backends.history {
                Some(_) => format!(
                    "numbered and kept {} s, at most {} a channel (HISTORY_*)",
                    settings.history.ttl_seconds, settings.history.max_messages
                ),
                None => "off (HISTORY_CHANNELS)".to_owned(),
            },
        ));
        lines.push((
            "Presence",
            match backends.presence {
                Some(_) => format!(
                    "members tracked, leaves after {} s (PRESENCE_*)",
                    settings.presence.leave_grace_seconds
                ),
                None => "off (PRESENCE_CHANNELS)".to_owned(),
            },
        ));
        lines.push((
            "Webhooks",
            match &backends.webhook_settings.url {
                Some(url) => format!("signed, to {url}"),
                None => "off (WEBHOOK_URL)".to_owned(),
            },
        ));
        lines
    }

    fn runs_project_functions(&self) -> bool {
        match self {
            Self::Project(_) => true,
            Self::Invoked { .. } => false,
            Self::Template(template) => template.runs_project_functions(),
        }
    }
}

impl ProjectRoutes {
    fn table(self, functions: &ProjectFunctions) -> Result<RouteTable, GatewayError> {
        let mut routes = match self.file {
            Some((_, file)) => file.into_table(functions)?,
            None => functions.default_routes(),
        };
        if self.use_authorizer {
            routes.authorizer = Some(Authorizer {
                function: Arc::clone(&functions.ws_authorizer),
                identity_sources: vec![IdentitySource::QueryString("token".into())],
            });
        }
        Ok(routes)
    }
}
