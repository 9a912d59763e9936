//! A miniature Lambda service on loopback: it runs each function's real binary against a Lambda
//! Runtime API served here, and serves the Lambda Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`, as `cargo lambda watch` does) so the
//! gateway can invoke those processes. A function whose process has exited fails its
//! invocations with `Runtime.ExitError`, as on Lambda.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

type Outcome = Result<Bytes, Bytes>;

struct Invocation {
    request_id: String,
    payload: Bytes,
    reply: oneshot::Sender<Outcome>,
}

/// One function: its queue of invocations and its process.
struct Function {
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    process: Mutex<Option<Child>>,
}

impl Function {
    fn exited(&self) -> bool {
        let mut process = self.process.lock().unwrap();
        match process.as_mut() {
            Some(child) => child
                .try_wait()
                .map(|status| status.is_some())
                .unwrap_or(true),
            None => true,
        }
    }
}

#[derive(Default)]
struct Functions(Mutex<HashMap<String, Arc<Function>>>);

impl Functions {
    fn get(&self, name: &str) -> Option<Arc<Function>> {
        self.0.lock().unwrap().get(name).cloned()
    }
}

pub struct LambdaService {
    invoke_addr: std::net::SocketAddr,
    functions: Arc<Functions>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

/// Where `cargo build --workspace --bins` put the function binaries.
pub fn binary_path(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

impl LambdaService {
    /// Serves the Invoke API on a free loopback port; functions are added with [`Self::run`].
    pub async fn start() -> Self {
        let functions = Arc::new(Functions::default());
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(Arc::clone(&functions));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let invoke_addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            invoke_addr,
            functions,
            servers: vec![server],
        }
    }

    /// The endpoint for the gateway's `--invoke-endpoint`.
    pub fn invoke_endpoint(&self) -> String {
        format!("http://{}", self.invoke_addr)
    }

    /// Runs the binary `name` (from `functions/`) against a Runtime API of its own, with `env`.
    pub async fn run(&mut self, name: &str, env: &[(&str, String)]) {
        self.run_binary(name, &binary_path(name), env).await;
    }

    /// [`Self::run`] with the binary at `path` (`make bench` measures the `fast` build).
    pub async fn run_binary(&mut self, name: &str, path: &std::path::Path, env: &[(&str, String)]) {
        let (queue, next) = mpsc::unbounded_channel();
        let function = Arc::new(Function {
            queue,
            next: tokio::sync::Mutex::new(next),
            pending: Mutex::new(HashMap::new()),
            process: Mutex::new(None),
        });
        let runtime = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&function));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let runtime_api = listener.local_addr().unwrap();
        self.servers.push(tokio::spawn(async move {
            let _ = axum::serve(listener, runtime).await;
        }));
        let mut command = Command::new(path);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        *function.process.lock().unwrap() = Some(command.spawn().expect("function binary starts"));
        self.functions
            .0
            .lock()
            .unwrap()
            .insert(name.to_owned(), function);
    }
}

impl LambdaService {
    /// The process id of the function `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let function = self.functions.get(name)?;
        let process = function.process.lock().unwrap();
        process.as_ref().map(Child::id)
    }
}

impl Drop for LambdaService {
    fn drop(&mut self) {
        for function in self.functions.0.lock().unwrap().values() {
            if let Some(mut child) = function.process.lock().unwrap().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for server in &self.servers {
            server.abort();
        }
    }
}

/// The Invoke API: 200 with the result, or 200 with `X-Amz-Function-Error` and the error.
async fn invoke(
    State(functions): State<Arc<Functions>>,
    Path(name): Path<String>,
    payload: Bytes,
) -> Response {
    let Some(function) = functions.get(&name) else {
        let body = format!(r#"{{"Type":"User","message":"Function not found: {name}"}}"#);
        let mut response = (StatusCode::NOT_FOUND, body).into_response();
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        return response;
    };
    let (reply, outcome) = oneshot::channel();
    let request_id = format!("{:032x}", rand::random::<u128>());
    let _ = function.queue.send(Invocation {
        request_id,
        payload,
        reply,
    });
    let mut outcome = std::pin::pin!(outcome);
    let result = loop {
        tokio::select! {
            result = &mut outcome => break result.ok(),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if function.exited() {
                    break None;
                }
            }
        }
    };
    match result {
        Some(Ok(body)) => (StatusCode::OK, body).into_response(),
        Some(Err(error)) => function_error(error),
        None => function_error(Bytes::from_static(
            br#"{"errorType":"Runtime.ExitError","errorMessage":"the function's process exited"}"#,
        )),
    }
}

fn function_error(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        "X-Amz-Function-Error",
        HeaderValue::from_static("Unhandled"),
    );
    response
}

async fn next_invocation(State(function): State<Arc<Function>>) -> Response {
    let Some(invocation) = function.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    function
        .pending
        .lock()
        .unwrap()
        .insert(invocation.request_id.clone(), invocation.reply);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "Lambda-Runtime-Aws-Request-Id",
        HeaderValue::from_str(&invocation.request_id).unwrap(),
    );
    headers.insert(
        "Lambda-Runtime-Deadline-Ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:local"),
    );
    headers.insert(
        "Lambda-Runtime-Trace-Id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    );
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn invocation_response(
    State(function): State<Arc<Function>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&function, &id, Ok(body))
}

async fn invocation_error(
    State(function): State<Arc<Function>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&function, &id, Err(body))
}

fn settle(function: &Function, id: &str, outcome: Outcome) -> StatusCode {
    match function.pending.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error() -> StatusCode {
    StatusCode::ACCEPTED
}
