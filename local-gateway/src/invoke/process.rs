//! A function run as Lambda runs it: warm processes, each started with the Lambda environment
//! and pointed at a Runtime API the gateway serves for it ([`super::runtime_api`]), as many at
//! once as the function's concurrency allows (more invocations wait for a free one). A process
//! is restarted if it dies; one that outlives its `Timeout` is killed, as Lambda ends the
//! sandbox. Output goes to the gateway's, each line prefixed with the function's name.

use super::runtime_api::{self, FunctionQueue, Invocation, RuntimeShared};
use super::{FunctionError, Invoked, LambdaFunction};
use async_trait::async_trait;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};

/// How to start a function's process.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME`, and the prefix of its log lines.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Every variable the process gets (the Lambda ones, the template's, the overrides);
    /// `AWS_LAMBDA_RUNTIME_API` is added here. Nothing else is inherited but `PATH` and `HOME`.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub function_arn: String,
    /// Files whose change restarts the process (hot reload); empty: none watched.
    pub watch: Vec<PathBuf>,
    /// Stop the process between invocations, as Lambda freezes it (`--freeze`).
    pub freeze: bool,
}

/// A function in processes of its own, each behind its own Runtime API.
pub struct ProcessFunction {
    name: String,
    timeout: Duration,
    queue: mpsc::Sender<Invocation>,
    pool: Arc<Pool>,
    // Dropped with the function: the processes and their Runtime APIs stop.
    _stop: watch::Sender<()>,
}

/// The processes of one function: one starts with the gateway; another starts (a cold start)
/// whenever more invocations are queued or running than there are processes, up to `max`
/// (`ReservedConcurrentExecutions`, else `--max-concurrency`), as Lambda adds execution
/// environments. Started processes stay warm.
struct Pool {
    spec: ProcessSpec,
    function: Arc<FunctionQueue>,
    max: usize,
    /// Each process's side of the Runtime API, in start order (its kill switch, its pid).
    processes: Mutex<Vec<Arc<RuntimeShared>>>,
    stopped: watch::Receiver<()>,
}

impl ProcessFunction {
    /// Serves the Runtime API of its first process on a free loopback port and starts it.
    /// Needs a Tokio runtime; fails only if no port can be bound.
    pub fn start(spec: ProcessSpec, max: usize) -> std::io::Result<Arc<dyn LambdaFunction>> {
        let (queue, receiver) = mpsc::channel(1024);
        let (stop, stopped) = watch::channel(());
        let pool = Arc::new(Pool {
            function: Arc::new(FunctionQueue::new(spec.function_arn.clone(), receiver)),
            spec,
            max,
            processes: Mutex::new(Vec::new()),
            stopped,
        });
        if max > 0 {
            let mut processes = pool
                .processes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pool.start_process(&mut processes)?;
        }
        if !pool.spec.watch.is_empty() {
            let watched = Arc::clone(&pool);
            super::code_watch::spawn(
                pool.spec.watch.clone(),
                pool.spec.name.clone(),
                pool.stopped.clone(),
                move || watched.restart_all(),
            );
        }
        Ok(Arc::new(Self {
            name: pool.spec.name.clone(),
            timeout: pool.spec.timeout,
            queue,
            pool,
            _stop: stop,
        }))
    }
}

impl Pool {
    /// Starts one more process, with a Runtime API of its own, and adds it to `processes`.
    fn start_process(&self, processes: &mut Vec<Arc<RuntimeShared>>) -> std::io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shared = Arc::new(RuntimeShared::new(
            Arc::clone(&self.function),
            self.spec.freeze,
        ));
        let mut api_stopped = self.stopped.clone();
        let router = runtime_api::router(Arc::clone(&shared));
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = api_stopped.changed().await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %err, "the Runtime API stopped");
            }
        });
        processes.push(Arc::clone(&shared));
        let number = processes.len();
        tokio::spawn(supervise(
            self.spec.clone(),
            number,
            address.to_string(),
            shared,
            self.stopped.clone(),
        ));
        Ok(())
    }

    /// Starts another process if every one is busy and the limit allows.
    fn scale(&self) {
        // One decision at a time: two invocations arriving together start two processes, not
        // four.
        let mut processes = self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (started, demand) = (processes.len(), self.function.demand());
        if demand > started && started < self.max {
            tracing::info!(
                function = %self.spec.name,
                processes = started + 1,
                max = self.max,
                "cold start: every process is busy, starting another"
            );
            if let Err(err) = self.start_process(&mut processes) {
                tracing::error!(function = %self.spec.name, error = %err, "cannot start another process");
            }
        }
    }

    /// Restarts every process (a code change).
    fn restart_all(&self) {
        for process in self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            process.kill.notify_one();
        }
    }
}

#[async_trait]
impl LambdaFunction for ProcessFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn serving(&self, pid: u32) -> Option<bool> {
        self.pool
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|process| process.pid.load(Ordering::SeqCst) == pid)
            .map(|process| process.serving())
    }

    async fn invoke(&self, payload: Vec<u8>) -> Invoked {
        if self.pool.max == 0 {
            // ReservedConcurrentExecutions: 0 throttles every invocation, as on AWS.
            return Invoked::warm(Err(FunctionError::new(
                "TooManyRequestsException",
                "Rate Exceeded.",
            )));
        }
        let (respond, mut answer) = oneshot::channel();
        let (started, taken) = oneshot::channel();
        let request_id = uuid_like();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            timeout: self.timeout,
            started,
            respond,
        };
        let waiting = &self.pool.function.waiting;
        waiting.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(invocation).await.is_err() {
            waiting.fetch_sub(1, Ordering::SeqCst);
            return Invoked::warm(Err(FunctionError::new(
                "ServiceException",
                format!("{} is shutting down", self.name),
            )));
        }
        self.pool.scale();
        // The rest runs on a task of its own: a caller that stops waiting (a shorter integration
        // timeout) does not stop the function's own `Timeout` from ending a runaway process.
        let timeout = self.timeout;
        let outcome = tokio::spawn(async move {
            // Waiting for a process (a cold start, busy processes) is not counted: Lambda's
            // `Timeout` starts when the runtime takes the invocation. If it was answered without
            // being taken (the runtime cannot start), the answer says why.
            let Ok(taken) = taken.await else {
                return Invoked::warm(answer.try_recv().unwrap_or_else(|_| {
                    Err(FunctionError::new(
                        "Runtime.ExitError",
                        "the runtime did not start",
                    ))
                }));
            };
            let result = match tokio::time::timeout(timeout, &mut answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(FunctionError::new(
                    "Runtime.ExitError",
                    format!("RequestId: {request_id} Error: the runtime exited without answering"),
                )),
                Err(_) => {
                    // Lambda ends the sandbox of a function past its timeout; so do we.
                    taken.kill.notify_one();
                    Err(FunctionError::new(
                        "Sandbox.Timedout",
                        format!(
                            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                            timeout.as_secs_f64()
                        ),
                    ))
                }
            };
            Invoked {
                result,
                init_duration: taken.init_duration,
            }
        });
        outcome.await.unwrap_or_else(|err| {
            Invoked::warm(Err(FunctionError::new(
                "Runtime.Cancelled",
                err.to_string(),
            )))
        })
    }
}

/// A request id shaped as Lambda's (a UUID v4).
pub(crate) fn uuid_like() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Runs process `number` of the function, and again whenever it ends, until the function is
/// dropped.
async fn supervise(
    spec: ProcessSpec,
    number: usize,
    runtime_api: String,
    shared: Arc<RuntimeShared>,
    mut stopped: watch::Receiver<()>,
) {
    let kill = Arc::clone(&shared.kill);
    let mut failures: u32 = 0;
    loop {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for inherited in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(inherited) {
                command.env(inherited, value);
            }
        }
        command.envs(spec.env.iter().map(|(k, v)| (k, v)));
        command.env("AWS_LAMBDA_RUNTIME_API", &runtime_api);
        let started = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(function = %spec.name, program = %spec.program.display(), error = %err, "cannot start the function");
                shared.function.fail_queued(&FunctionError::new(
                    "Runtime.InvalidEntrypoint",
                    format!("cannot start {}: {err}", spec.program.display()),
                ));
                if pause(&mut stopped, 1000).await {
                    return;
                }
                continue;
            }
        };
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward(spec.name.clone(), stdout, false));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward(spec.name.clone(), stderr, true));
        }
        tracing::info!(function = %spec.name, process = number, pid = child.id(), "function process started");
        shared.started(child.id().unwrap_or(0), started);
        let status = tokio::select! {
            status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
            () = kill.notified() => {
                let _ = child.kill().await;
                "killed (timeout or code change)".to_owned()
            }
            _ = stopped.changed() => {
                let _ = child.kill().await;
                return;
            }
        };
        shared.pid.store(0, Ordering::SeqCst);
        let init_error = shared
            .init_error
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        let error = init_error.clone().unwrap_or_else(|| {
            FunctionError::new(
                "Runtime.ExitError",
                format!("Error: Runtime exited: {status}"),
            )
        });
        shared.fail_in_flight(&error);
        if init_error.is_some() {
            // It will fail the same way until its code changes: answer what waits now.
            shared.function.fail_queued(&error);
        }
        tracing::warn!(function = %spec.name, process = number, %status, "function process ended; restarting");
        failures = if started.elapsed() > Duration::from_secs(10) {
            0
        } else {
            failures + 1
        };
        let backoff = 100u64.saturating_mul(1 << failures.min(5)).min(3000);
        if pause(&mut stopped, if failures <= 1 { 0 } else { backoff }).await {
            return;
        }
    }
}

/// Waits `ms`; true if the function was dropped meanwhile.
async fn pause(stopped: &mut watch::Receiver<()>, ms: u64) -> bool {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(ms)) => false,
        _ = stopped.changed() => true,
    }
}

async fn forward(name: String, stream: impl tokio::io::AsyncRead + Unpin, stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if stderr {
            eprintln!("{name} | {line}");
        } else {
            println!("{name} | {line}");
        }
    }
}
