//! How each runtime's process starts: a Rust binary built with cargo (`provided.*`), Python
//! through `awslambdaric`, Node.js through our own bootstrap of the Runtime API. The shims a
//! runtime needs (the Node bootstrap and module hook, Python's `sitecustomize`) are part of
//! this binary and written to a directory of its own at start-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The Node.js runtime: the Runtime API loop, and a module hook that resolves the AWS SDK from
/// the gateway's `node_modules` for handlers that do not ship it (as Lambda's runtime does).
const NODE_BOOTSTRAP: &str = include_str!("../../runtimes/node/bootstrap.mjs");
const NODE_HOOKS: &str = include_str!("../../runtimes/node/hooks.mjs");
const NODE_REDIRECT: &str = include_str!("../../runtimes/node/redirect.cjs");
/// Python: loaded before the handler (as `sitecustomize`), sends boto3's calls to this API's
/// execute-api endpoint to the local gateway.
const PYTHON_SITECUSTOMIZE: &str = include_str!("../../runtimes/python/sitecustomize.py");

/// Where the runtimes' programs are, from the gateway's flags.
#[derive(Clone, Debug)]
pub struct RuntimeTools {
    pub python: String,
    pub node: String,
    /// awslambdaric and boto3, when `python` lacks them (see [`super::runtime_deps`]).
    pub python_packages: Option<PathBuf>,
    /// The `node_modules` with the AWS SDK for JavaScript v3.
    pub node_modules: PathBuf,
    /// Where the shims are written.
    pub shim_dir: PathBuf,
}

impl RuntimeTools {
    /// Writes the shims into `shim_dir`.
    pub fn install_shims(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.shim_dir.join("python"))?;
        std::fs::create_dir_all(self.shim_dir.join("node"))?;
        std::fs::write(self.shim_dir.join("node/bootstrap.mjs"), NODE_BOOTSTRAP)?;
        std::fs::write(self.shim_dir.join("node/hooks.mjs"), NODE_HOOKS)?;
        std::fs::write(self.shim_dir.join("node/redirect.cjs"), NODE_REDIRECT)?;
        std::fs::write(
            self.shim_dir.join("python/sitecustomize.py"),
            PYTHON_SITECUSTOMIZE,
        )?;
        Ok(())
    }
}

/// A process to start: the program, its arguments, and variables of its runtime.
pub(crate) struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// How a function of `runtime` starts.
pub(crate) fn command(
    runtime: &str,
    handler: Option<&str>,
    code_dir: &Path,
    binary: Option<&Path>,
    tools: &RuntimeTools,
) -> Result<Launch, String> {
    let handler = handler.unwrap_or("bootstrap").to_owned();
    if runtime.starts_with("provided") {
        let program = binary
            .map(Path::to_path_buf)
            .unwrap_or_else(|| code_dir.join("bootstrap"));
        return Ok(Launch {
            program,
            args: Vec::new(),
            env: Vec::new(),
        });
    }
    if runtime.starts_with("python") {
        let python_path =
            std::env::join_paths([code_dir.to_path_buf(), tools.shim_dir.join("python")])
                .map_err(|err| err.to_string())?;
        let mut env = vec![
            (
                "PYTHONPATH".into(),
                python_path.to_string_lossy().into_owned(),
            ),
            ("PYTHONUNBUFFERED".into(), "1".into()),
        ];
        // Appended to sys.path by sitecustomize: after the interpreter's own packages, as
        // Lambda's runtime packages come after the function's.
        if let Some(packages) = &tools.python_packages {
            env.push((
                "LOCAL_GATEWAY_PYTHON_PACKAGES".into(),
                packages.to_string_lossy().into_owned(),
            ));
        }
        return Ok(Launch {
            program: PathBuf::from(&tools.python),
            args: vec!["-m".into(), "awslambdaric".into(), handler],
            env,
        });
    }
    if runtime.starts_with("nodejs") {
        let node_dir = tools.shim_dir.join("node");
        return Ok(Launch {
            program: PathBuf::from(&tools.node),
            args: vec![
                "--require".into(),
                node_dir.join("redirect.cjs").to_string_lossy().into_owned(),
                node_dir
                    .join("bootstrap.mjs")
                    .to_string_lossy()
                    .into_owned(),
            ],
            env: vec![
                (
                    "LOCAL_GATEWAY_NODE_MODULES".into(),
                    tools.node_modules.to_string_lossy().into_owned(),
                ),
                (
                    "NODE_PATH".into(),
                    tools.node_modules.to_string_lossy().into_owned(),
                ),
            ],
        });
    }
    Err(format!("runtime {runtime} has no local command"))
}

/// Builds `binaries` (by name; `None` for the package's only binary) of the crate or
/// workspace in `dir` with cargo, and returns each one's executable.
pub(crate) async fn cargo_build(
    dir: &Path,
    binaries: &[Option<String>],
    profile: &str,
) -> Result<BTreeMap<Option<String>, PathBuf>, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(dir)
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--profile",
            profile,
        ])
        .stderr(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped());
    for binary in binaries {
        match binary {
            Some(name) => command.args(["--bin", name]),
            None => command.arg("--bins"),
        };
    }
    let output = command
        .output()
        .await
        .map_err(|err| format!("cannot run cargo in {}: {err}", dir.display()))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build in {} failed ({})",
            dir.display(),
            output.status
        ));
    }
    let mut built: BTreeMap<String, PathBuf> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && let Some(executable) = message["executable"].as_str()
            && let Some(name) = message["target"]["name"].as_str()
        {
            built.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    let mut found = BTreeMap::new();
    for binary in binaries {
        let path = match binary {
            Some(name) => built.get(name).cloned(),
            None if built.len() == 1 => built.values().next().cloned(),
            None => None,
        };
        let path = path.ok_or_else(|| match binary {
            Some(name) => format!("cargo built no binary {name} in {}", dir.display()),
            None => format!(
                "{} has {} binaries; name one with Metadata.BuildProperties.Binary",
                dir.display(),
                built.len()
            ),
        })?;
        found.insert(binary.clone(), path);
    }
    Ok(found)
}
