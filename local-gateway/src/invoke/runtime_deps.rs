//! What the Node.js and Python runtimes need besides the files in this binary, as Lambda's
//! runtimes include it: the AWS SDK for JavaScript v3, and awslambdaric with boto3. Their
//! pinned lists (package.json with its lock, requirements.txt) are part of the binary; the
//! packages are installed once, on first use, into a per-user cache
//! (`$XDG_CACHE_HOME/local-gateway/<version>/…`, else `~/.cache/…`), so an installed
//! `local-gateway` needs nothing from the checkout it was built from.

use std::path::{Path, PathBuf};
use tokio::process::Command;

const NODE_PACKAGE_JSON: &str = include_str!("../../runtimes/node/package.json");
const NODE_PACKAGE_LOCK: &str = include_str!("../../runtimes/node/package-lock.json");
const PYTHON_REQUIREMENTS: &str = include_str!("../../runtimes/python/requirements.txt");

/// Marks a finished installation: a folder without it is one that was interrupted.
const INSTALLED: &str = ".installed";

/// The Python that runs Python functions, as found at start-up.
#[derive(Clone, Debug)]
pub(crate) struct PythonRuntime {
    /// `3.11`: the interpreter's own version.
    pub version: String,
    /// Where awslambdaric and boto3 were installed, when the interpreter lacks them.
    pub packages: Option<PathBuf>,
}

/// This version's folder of the per-user cache.
fn cache_dir() -> Result<PathBuf, String> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set: no folder for the runtimes' packages")?;
    Ok(base.join("local-gateway").join(env!("CARGO_PKG_VERSION")))
}

/// A short digest of `text` (FNV-1a), so that a changed pin list installs afresh.
fn digest(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
}

/// The `node_modules` with the pinned SDK, installed with `npm ci` on first use.
pub(crate) async fn node_modules() -> Result<PathBuf, String> {
    let dir = cache_dir()?.join(format!("node-{}", digest(NODE_PACKAGE_LOCK)));
    if !dir.join(INSTALLED).is_file() {
        install(&dir, "the AWS SDK for JavaScript v3 for Node.js functions", |staging| {
            Box::pin(async move {
                std::fs::write(staging.join("package.json"), NODE_PACKAGE_JSON)
                    .map_err(|err| err.to_string())?;
                std::fs::write(staging.join("package-lock.json"), NODE_PACKAGE_LOCK)
                    .map_err(|err| err.to_string())?;
                run(
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&staging),
                    "npm",
                    "Node.js functions need npm (it comes with Node.js) to install the AWS SDK for JavaScript v3 once: install Node.js 18 or later, or pass --node-modules with a node_modules that has the SDK",
                )
                .await
            })
        })
        .await?;
    }
    Ok(dir.join("node_modules"))
}

/// The Python at `python`: its version, and awslambdaric with boto3 installed for it into the
/// cache unless it imports them itself.
pub(crate) async fn python(python: &str) -> Result<PythonRuntime, String> {
    let missing = format!(
        "Python functions need Python 3 ({python} was not found): install Python 3.9 or later, or pass --python"
    );
    let output = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .await
        .map_err(|_| missing.clone())?;
    if !output.status.success() {
        return Err(missing);
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let has_them = Command::new(python)
        .args(["-c", "import awslambdaric, boto3"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if has_them {
        return Ok(PythonRuntime {
            version,
            packages: None,
        });
    }
    let dir = cache_dir()?.join(format!("python{version}-{}", digest(PYTHON_REQUIREMENTS)));
    if !dir.join(INSTALLED).is_file() {
        let python = python.to_owned();
        install(
            &dir,
            "awslambdaric and boto3 for Python functions",
            |staging| Box::pin(async move { pip_install(&python, &staging).await }),
        )
        .await?;
    }
    Ok(PythonRuntime {
        version,
        packages: Some(dir.join("site")),
    })
}

/// `pip install --target site -r requirements.txt`, with the interpreter's pip, else with the
/// pip of a virtual environment made for the purpose (a Python without pip, as Debian's).
async fn pip_install(python: &str, staging: &Path) -> Result<(), String> {
    let requirements = staging.join("requirements.txt");
    std::fs::write(&requirements, PYTHON_REQUIREMENTS).map_err(|err| err.to_string())?;
    let site = staging.join("site");
    let pip_args = |command: &mut Command| {
        command
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-warn-script-location", "--target"])
            .arg(&site)
            .arg("-r")
            .arg(&requirements);
    };
    let has_pip = Command::new(python)
        .args(["-m", "pip", "--version"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    let pip_python = if has_pip {
        PathBuf::from(python)
    } else {
        let venv = staging.join("venv");
        run(
            Command::new(python).args(["-m", "venv"]).arg(&venv),
            python,
            &format!(
                "{python} has neither pip nor venv to install awslambdaric and boto3 with: install one (e.g. apt-get install python3-pip), or pass --python with a Python that imports awslambdaric"
            ),
        )
        .await?;
        venv.join("bin/python")
    };
    let mut command = Command::new(&pip_python);
    pip_args(&mut command);
    run(&mut command, "pip", "pip did not run").await
}

/// Installs into a fresh folder beside `dir`, then renames it to `dir`: an interrupted install
/// leaves no half folder behind, and of two gateways installing at once the first one's wins.
async fn install<F>(dir: &Path, what: &str, fill: F) -> Result<(), String>
where
    F: FnOnce(
        PathBuf,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>,
{
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)
        .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".installing-")
        .tempdir_in(parent)
        .map_err(|err| format!("cannot create a folder in {}: {err}", parent.display()))?;
    eprintln!(
        "local-gateway: installing {what} (pinned) into {}, once for this version...",
        dir.display()
    );
    let started = std::time::Instant::now();
    fill(staging.path().to_path_buf())
        .await
        .map_err(|err| format!("installing {what} failed: {err}"))?;
    std::fs::write(staging.path().join(INSTALLED), "")
        .map_err(|err| format!("cannot write in {}: {err}", staging.path().display()))?;
    let staged = staging.keep();
    if let Err(err) = std::fs::rename(&staged, dir) {
        // Another gateway finished first: its copy serves; this one goes.
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.join(INSTALLED).is_file() {
            return Err(format!("cannot move {} into place: {err}", dir.display()));
        }
    }
    eprintln!(
        "local-gateway: installed {what} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `command`; `missing` is the error when `program` cannot be started at all.
async fn run(command: &mut Command, program: &str, missing: &str) -> Result<(), String> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => missing.to_owned(),
            _ => format!("cannot run {program}: {err}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{program} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_name_their_folder() {
        assert_eq!(digest("a"), digest("a"));
        assert_ne!(digest(NODE_PACKAGE_LOCK), digest(PYTHON_REQUIREMENTS));
        assert_eq!(digest("x").len(), 8);
    }
}
