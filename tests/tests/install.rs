//! `cargo install --path local-gateway` gives a gateway that serves anyone's SAM app from the
//! app's own folder, with this checkout out of sight: everything it needs at run time is in the
//! binary or installed on first use into a per-user cache.
//!
//! The install reuses this build (`--debug`, the repository's target folder), so it costs a
//! link. The checkout is hidden from the installed gateway by mounting an empty folder over it
//! in a user and mount namespace of its own (`unshare`); where unprivileged namespaces are not
//! allowed, it stays visible and the check that no compile-time path is in the binary is what
//! shows independence. The per-user cache starts empty, so the Python packages and the Node SDK
//! are installed from the registries as a first-time user gets them.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use ws_bridge_e2e::Client;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .expect("the repository")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Whether this machine lets an unprivileged process mount over the checkout in a namespace.
fn can_hide_the_checkout() -> bool {
    std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A gateway started from the installed binary, in `app`, with `cache` as its per-user cache.
struct Installed {
    child: Child,
    websocket: String,
    stderr: tokio::task::JoinHandle<String>,
}

async fn start(binary: &Path, app: &Path, cache: &Path, hide: bool, runtime: &str) -> Installed {
    let code = if runtime.starts_with("python") {
        "python"
    } else {
        "node"
    };
    let gateway_args = [
        "--template".to_owned(),
        "template.yaml".to_owned(),
        "--port".to_owned(),
        "0".to_owned(),
        "--hot-reload".to_owned(),
        "false".to_owned(),
        "--parameter-overrides".to_owned(),
        format!("Runtime={runtime}"),
        format!("Code={code}"),
    ];
    let mut command = if hide {
        let mut command = Command::new("unshare");
        command
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(r#"mount -t tmpfs tmpfs "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(repo())
            .arg(binary)
            .args(&gateway_args);
        command
    } else {
        let mut command = Command::new(binary);
        command.args(&gateway_args);
        command
    };
    command
        .current_dir(app)
        .env("XDG_CACHE_HOME", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The pip downloads themselves may come from the user's pip cache: what is tested is the
    // gateway's install, not the network's speed.
    if let Some(home) = std::env::var_os("HOME") {
        command.env("PIP_CACHE_DIR", PathBuf::from(home).join(".cache/pip"));
    }
    let mut child = command.spawn().expect("the installed gateway starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            eprintln!("gateway: {line}");
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // A first start installs the runtimes' packages: minutes at worst on a slow registry.
    let websocket = tokio::time::timeout(Duration::from_secs(300), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(url) = line.trim().strip_prefix("WebSocket") {
                return url.trim().to_owned();
            }
        }
        panic!("the gateway stopped before serving");
    })
    .await
    .expect("the gateway serves within 5 minutes");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    Installed {
        child,
        websocket,
        stderr,
    }
}

impl Installed {
    /// Stops it as a user does (SIGTERM, the same path as Ctrl-C) and returns its stderr.
    async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        let _ = self.child.kill().await;
        self.stderr.await.unwrap_or_default()
    }
}

async fn serves(gateway: &Installed, runtime: &str) {
    let mut client = Client::connect(gateway.websocket.as_str()).await;
    assert_eq!(
        client.recv_json().await,
        json!({"greeting": "welcome", "runtime": runtime})
    );
    let chained: Value = client.request(r#"{"do":"chain"}"#).await;
    assert_eq!(chained["result"]["sum"], 5, "{chained}");
    client.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_gateway_serves_a_node_and_a_python_app_without_the_checkout() {
    let scratch = std::env::temp_dir().join(format!(
        "local-gateway-install-{:016x}",
        rand::random::<u64>()
    ));
    let root = scratch.join("root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installed = std::process::Command::new(cargo)
        .args(["install", "--debug", "--locked", "--quiet", "--path"])
        .arg(repo().join("local-gateway"))
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", repo().join("target"))
        .status()
        .expect("cargo runs");
    assert!(installed.success(), "cargo install failed");
    let binary = root.join("bin/local-gateway");

    // Nothing in the binary points into the checkout's runtime files.
    let bytes = std::fs::read(&binary).unwrap();
    for baked in [
        format!("{}/local-gateway/runtimes", repo().display()),
        "runtimes/node/node_modules".to_owned(),
    ] {
        assert!(
            !bytes
                .windows(baked.len())
                .any(|window| window == baked.as_bytes()),
            "the binary names {baked}"
        );
    }

    let app = scratch.join("my-app");
    copy_dir(&repo().join("tests/lambda-invoke"), &app);
    let cache = scratch.join("cache");
    let hide = can_hide_the_checkout();
    if !hide {
        eprintln!("note: no unprivileged mount namespaces here; the checkout stays visible");
    }

    // A python3 with awslambdaric and boto3 of its own is used as it is; one without gets them
    // installed into the cache.
    let python_has_them = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric, boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    for (runtime, name, installs) in [
        ("python3.12", "python", !python_has_them),
        ("nodejs20.x", "node", true),
    ] {
        let gateway = start(&binary, &app, &cache, hide, runtime).await;
        serves(&gateway, name).await;
        let stderr = gateway.stop().await;
        assert_eq!(stderr.contains("installing"), installs, "{stderr}");
    }
    // One folder per version of the gateway, then one per pinned list.
    let versions: Vec<PathBuf> = std::fs::read_dir(cache.join("local-gateway"))
        .expect("the cache")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let cached: Vec<String> = std::fs::read_dir(&versions[0])
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        cached.iter().any(|name| name.starts_with("node-"))
            && (python_has_them || cached.iter().any(|name| name.starts_with("python"))),
        "{cached:?}"
    );

    // The second start finds what the first installed.
    let gateway = start(&binary, &app, &cache, hide, "python3.12").await;
    serves(&gateway, "python").await;
    let stderr = gateway.stop().await;
    assert!(!stderr.contains("installing"), "{stderr}");
    let _ = std::fs::remove_dir_all(&scratch);
}
