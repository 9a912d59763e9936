//! The Lambda Runtime API (`2018-06-01`), served by the gateway to each process of a function,
//! as Lambda serves it inside each sandbox: the runtime asks for the next invocation (from the
//! function's queue, shared by its processes), then posts its response or error; an
//! initialisation failure is posted to `init/error`.

use super::FunctionError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

/// Where an invocation's outcome goes.
pub(crate) type Responder = oneshot::Sender<Result<Vec<u8>, FunctionError>>;

/// One invocation waiting for, or held by, the runtime.
pub(crate) struct Invocation {
    pub request_id: String,
    pub payload: Vec<u8>,
    /// The function's `Timeout`: its deadline counts from when the runtime takes the
    /// invocation, as Lambda's excludes the cold start.
    pub timeout: std::time::Duration,
    /// Told when a process takes it.
    pub started: oneshot::Sender<Taken>,
    pub respond: Responder,
}

/// What an invocation's caller learns when a process takes it.
pub(crate) struct Taken {
    /// The switch that ends that process (past the function's `Timeout`).
    pub kill: Arc<Notify>,
    /// The process's initialisation (its start to its first `next`), when this is the first
    /// invocation it serves: a cold start.
    pub init_duration: Option<Duration>,
}

/// What the processes of one function share: the queue of invocations, and how many are
/// queued and held (what decides whether another process starts).
pub(crate) struct FunctionQueue {
    pub function_arn: String,
    pub queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    /// Invocations queued and not yet taken by a process (counted up before they are queued).
    pub waiting: AtomicUsize,
    /// Invocations a process holds.
    pub held: AtomicUsize,
}

impl FunctionQueue {
    pub fn new(function_arn: String, queue: mpsc::Receiver<Invocation>) -> Self {
        Self {
            function_arn,
            queue: tokio::sync::Mutex::new(queue),
            waiting: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
        }
    }

    /// Invocations queued or running.
    pub fn demand(&self) -> usize {
        self.waiting.load(Ordering::SeqCst) + self.held.load(Ordering::SeqCst)
    }

    /// Answers every queued invocation with `error`. Skipped while a process waits for the
    /// next one: it holds the queue, and then nothing is queued.
    pub fn fail_queued(&self, error: &FunctionError) {
        let Ok(mut queue) = self.queue.try_lock() else {
            return;
        };
        while let Ok(invocation) = queue.try_recv() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let _ = invocation.respond.send(Err(error.clone()));
        }
    }
}

/// One process's side of the API (each Lambda sandbox has its own): the invocations it holds,
/// its last initialisation error, the switch that ends it, and its pid (to freeze it).
pub(crate) struct RuntimeShared {
    pub function: Arc<FunctionQueue>,
    pub in_flight: Mutex<HashMap<String, Responder>>,
    pub init_error: Mutex<Option<FunctionError>>,
    pub kill: Arc<Notify>,
    /// The running process's pid; 0 between processes.
    pub pid: AtomicU32,
    /// Whether the running process has finished its initialisation (asked for an invocation).
    pub initialised: AtomicBool,
    /// When the running process was spawned, until it gets its first invocation (which takes it
    /// to tell its caller how long the process initialised).
    spawned: Mutex<Option<Instant>>,
    /// Whether a process waiting for its next invocation is stopped meanwhile.
    freeze: AtomicBool,
}

impl RuntimeShared {
    pub fn new(function: Arc<FunctionQueue>, freeze: bool) -> Self {
        Self {
            function,
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            kill: Arc::new(Notify::new()),
            pid: AtomicU32::new(0),
            initialised: AtomicBool::new(false),
            spawned: Mutex::new(None),
            freeze: AtomicBool::new(freeze),
        }
    }

    /// Stops the process (SIGSTOP), as Lambda freezes an execution environment between
    /// invocations: what its handler left running (timers, promises nobody awaited) does not
    /// run until it is thawed for the next one. True if it was stopped.
    fn freeze(&self) -> bool {
        let pid = self.pid.load(Ordering::SeqCst);
        self.freeze.load(Ordering::Relaxed) && pid != 0 && signal(pid, libc::SIGSTOP)
    }

    /// Lets a frozen process run again (SIGCONT).
    fn thaw(&self) {
        let pid = self.pid.load(Ordering::SeqCst);
        if pid != 0 {
            signal(pid, libc::SIGCONT);
        }
    }

    /// Whether the process is initialising or holds an invocation: the times its code may
    /// run on AWS.
    pub fn serving(&self) -> bool {
        !self.initialised.load(Ordering::SeqCst)
            || self.in_flight.lock().is_ok_and(|held| !held.is_empty())
    }

    /// A new process, spawned at `spawned`, runs: it initialises first.
    pub fn started(&self, pid: u32, spawned: Instant) {
        *self.spawned.lock().unwrap_or_else(PoisonError::into_inner) = Some(spawned);
        self.initialised.store(false, Ordering::SeqCst);
        self.pid.store(pid, Ordering::SeqCst);
    }

    /// Fails every invocation the runtime holds (its process ended) with `error`.
    pub fn fail_in_flight(&self, error: &FunctionError) {
        let held: Vec<_> = match self.in_flight.lock() {
            Ok(mut in_flight) => in_flight.drain().collect(),
            Err(_) => Vec::new(),
        };
        self.function.held.fetch_sub(held.len(), Ordering::SeqCst);
        for (_, respond) in held {
            let _ = respond.send(Err(error.clone()));
        }
    }
}

pub(crate) fn router(shared: Arc<RuntimeShared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}

/// Sends `signal` to process `pid`; true if it was delivered.
fn signal(pid: u32, signal: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Thaws the process when dropped: also when the wait for an invocation is cancelled.
struct Frozen<'a>(&'a RuntimeShared);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.thaw();
    }
}

/// Waits for the next invocation, the process frozen meanwhile. Cancel-safe: a runtime that
/// goes away while waiting loses nothing (the receive is dropped before taking a message).
async fn next(State(shared): State<Arc<RuntimeShared>>) -> Response {
    shared.initialised.store(true, Ordering::SeqCst);
    // The process's first `next` ends its initialisation.
    let asked = Instant::now();
    let ready = match shared.function.queue.try_lock() {
        Ok(mut queue) => queue.try_recv().ok(),
        Err(_) => None,
    };
    let invocation = match ready {
        Some(invocation) => Some(invocation),
        None => {
            let _frozen = shared.freeze().then(|| Frozen(&shared));
            let mut queue = shared.function.queue.lock().await;
            queue.recv().await
        }
    };
    let Some(invocation) = invocation else {
        return (StatusCode::GONE, "the function is shutting down").into_response();
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(
        "lambda-runtime-aws-request-id",
        invocation.request_id.clone(),
    );
    let deadline = chrono::Utc::now()
        + chrono::Duration::from_std(invocation.timeout).unwrap_or(chrono::Duration::zero());
    set(
        "lambda-runtime-deadline-ms",
        deadline.timestamp_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        shared.function.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            chrono::Utc::now().timestamp(),
            rand::random::<u128>() >> 32,
            rand::random::<u64>()
        ),
    );
    set("content-type", "application/json".to_owned());
    // The first invocation the process gets is its cold start. Taken only now: a wait that was
    // cancelled (the runtime's connection dropped) leaves it for the next one.
    let init_duration = shared
        .spawned
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .map(|spawned| asked.saturating_duration_since(spawned));
    shared.function.waiting.fetch_sub(1, Ordering::SeqCst);
    shared.function.held.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut in_flight) = shared.in_flight.lock() {
        in_flight.insert(invocation.request_id, invocation.respond);
    }
    let _ = invocation.started.send(Taken {
        kill: Arc::clone(&shared.kill),
        init_duration,
    });
    (StatusCode::OK, headers, invocation.payload).into_response()
}

fn unknown(request_id: &str) -> Response {
    let body = serde_json::json!({
        "errorMessage": format!("Invalid request ID: {request_id}"),
        "errorType": "InvalidRequestID",
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

fn take(
    shared: &RuntimeShared,
    request_id: &str,
) -> Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>> {
    let respond = shared.in_flight.lock().ok()?.remove(request_id)?;
    shared.function.held.fetch_sub(1, Ordering::SeqCst);
    Some(respond)
}

async fn response(
    State(shared): State<Arc<RuntimeShared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(respond) = take(&shared, &request_id) else {
        return unknown(&request_id);
    };
    let _ = respond.send(Ok(body.to_vec()));
    accepted()
}

/// The error a runtime posts: `{"errorType", "errorMessage", "stackTrace"}`, with the type
/// also (or only) in `Lambda-Runtime-Function-Error-Type`.
fn posted_error(headers: &HeaderMap, body: &[u8]) -> FunctionError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let error_type = parsed
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".into());
    let error_message = parsed
        .get("errorMessage")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    FunctionError::new(error_type, error_message)
}

async fn error(
    State(shared): State<Arc<RuntimeShared>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(respond) = take(&shared, &request_id) else {
        return unknown(&request_id);
    };
    let _ = respond.send(Err(posted_error(&headers, &body)));
    accepted()
}

async fn init_error(
    State(shared): State<Arc<RuntimeShared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = posted_error(&headers, &body);
    tracing::error!(function = %shared.function.function_arn, error = %error, "the runtime failed to initialise");
    if let Ok(mut slot) = shared.init_error.lock() {
        *slot = Some(error);
    }
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt;

    fn api() -> (Router, mpsc::Sender<Invocation>, Arc<RuntimeShared>) {
        let (queue, receiver) = mpsc::channel(8);
        let function = FunctionQueue::new(
            "arn:aws:lambda:us-east-1:123456789012:function:F".into(),
            receiver,
        );
        let shared = Arc::new(RuntimeShared::new(Arc::new(function), false));
        (router(Arc::clone(&shared)), queue, shared)
    }

    async fn call(router: &Router, method: &str, uri: &str, body: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("lambda-runtime-function-error-type", "Custom.Header")
            .body(Body::from(body.to_owned()))
            .unwrap();
        router.clone().oneshot(request).await.unwrap()
    }

    /// The answer an invocation's caller waits for.
    type Answer = oneshot::Receiver<Result<Vec<u8>, FunctionError>>;

    fn invocation(id: &str) -> (Invocation, oneshot::Receiver<Taken>, Answer) {
        let (started, taken) = oneshot::channel();
        let (respond, answer) = oneshot::channel();
        let invocation = Invocation {
            request_id: id.into(),
            payload: br#"{"hello":1}"#.to_vec(),
            timeout: Duration::from_secs(3),
            started,
            respond,
        };
        (invocation, taken, answer)
    }

    #[tokio::test]
    async fn next_hands_out_the_event_with_lambdas_headers_and_response_answers_it() {
        let (router, queue, _) = api();
        let (invocation, taken, answer) = invocation("req-1");
        queue.send(invocation).await.unwrap();
        let before = chrono::Utc::now().timestamp_millis();
        let next = call(&router, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        assert_eq!(next.status(), StatusCode::OK);
        let header = |name: &str| next.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("lambda-runtime-aws-request-id"), "req-1");
        assert_eq!(
            header("lambda-runtime-invoked-function-arn"),
            "arn:aws:lambda:us-east-1:123456789012:function:F"
        );
        assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
        let deadline: i64 = header("lambda-runtime-deadline-ms").parse().unwrap();
        assert!(
            (before + 2_900..=before + 4_000).contains(&deadline),
            "{deadline}"
        );
        let body = axum::body::to_bytes(next.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"hello":1}"#);
        let taken = taken.await.expect("told when taken");
        assert!(taken.init_duration.is_none(), "no process was started");
        let posted = call(
            &router,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            r#"{"ok":true}"#,
        )
        .await;
        assert_eq!(posted.status(), StatusCode::ACCEPTED);
        assert_eq!(answer.await.unwrap().unwrap(), br#"{"ok":true}"#);
        // Once answered, the id is unknown: a second answer is refused as Lambda refuses it.
        let again = call(
            &router,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            "{}",
        )
        .await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_error_post_becomes_the_function_error() {
        let (router, queue, _) = api();
        for (id, body, error_type, message) in [
            (
                "a",
                r#"{"errorType":"TypeError","errorMessage":"x is undefined"}"#,
                "TypeError",
                "x is undefined",
            ),
            // Without errorType in the body, the header names it.
            ("b", r#"{"errorMessage":"boom"}"#, "Custom.Header", "boom"),
        ] {
            let (invocation, _taken, answer) = invocation(id);
            queue.send(invocation).await.unwrap();
            let next = call(&router, "GET", "/2018-06-01/runtime/invocation/next", "").await;
            assert_eq!(next.status(), StatusCode::OK);
            let posted = call(
                &router,
                "POST",
                &format!("/2018-06-01/runtime/invocation/{id}/error"),
                body,
            )
            .await;
            assert_eq!(posted.status(), StatusCode::ACCEPTED);
            assert_eq!(
                answer.await.unwrap().unwrap_err(),
                FunctionError::new(error_type, message)
            );
        }
    }

    #[tokio::test]
    async fn init_errors_are_kept_and_in_flight_invocations_fail_when_the_process_ends() {
        let (router, queue, shared) = api();
        let posted = call(
            &router,
            "POST",
            "/2018-06-01/runtime/init/error",
            r#"{"errorType":"Runtime.ImportModuleError","errorMessage":"Cannot find module 'app'"}"#,
        )
        .await;
        assert_eq!(posted.status(), StatusCode::ACCEPTED);
        let kept = shared.init_error.lock().unwrap().clone();
        assert_eq!(
            kept,
            Some(FunctionError::new(
                "Runtime.ImportModuleError",
                "Cannot find module 'app'"
            ))
        );
        let (invocation, _taken, answer) = invocation("c");
        queue.send(invocation).await.unwrap();
        let next = call(&router, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        assert_eq!(next.status(), StatusCode::OK);
        shared.fail_in_flight(&FunctionError::new("Runtime.ExitError", "exit status 1"));
        assert_eq!(
            answer.await.unwrap().unwrap_err().error_type,
            "Runtime.ExitError"
        );
    }

    #[tokio::test]
    async fn the_first_invocation_a_process_takes_is_a_cold_start_with_its_initialisation() {
        let (router, queue, shared) = api();
        let next = || call(&router, "GET", "/2018-06-01/runtime/invocation/next", "");
        let mut taken = Vec::new();
        // A process spawned 250 ms ago asks for its first invocation, then for its second; then
        // it is restarted (a crash, a code change) and asks again.
        shared.started(4242, Instant::now() - Duration::from_millis(250));
        for id in ["first", "second", "after-restart"] {
            if id == "after-restart" {
                shared.started(4243, Instant::now());
            }
            let (invocation, receiver, _answer) = invocation(id);
            queue.send(invocation).await.unwrap();
            assert_eq!(next().await.status(), StatusCode::OK);
            taken.push(receiver.await.unwrap().init_duration);
        }
        assert!(
            taken[0].is_some_and(|init| init >= Duration::from_millis(250)),
            "{taken:?}"
        );
        assert_eq!(taken[1], None, "the second invocation is warm");
        assert!(taken[2].is_some(), "a restarted process starts cold");
    }
}
