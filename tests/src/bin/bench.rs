//! `make bench`: a load generator for the local gateway, measured against a direct fan-out over
//! the same kind of sockets. It starts each server itself (loopback only), and reports, for each
//! size: connects/s, broadcast delivery p50/p99/last and delivered/expected (several rounds), the
//! server's CPU time per delivery and cores kept busy, KiB per idle connection (server RSS delta
//! / N), and echo msgs/s with RTT p50/p99. On the gateways every client is also in two channels,
//! `plain` (no history) and `hist:bench` (with history), and a channel broadcast to all N is
//! measured on each. Then the inspector's cost (broadcasts with its page open against closed, as
//! a ratio), and the http-broadcast Lambda binary under a local Runtime API against a gateway on
//! DynamoDB Local: its CPU per recipient and peak memory, and what that makes a broadcast last at
//! several Lambda memory sizes. Every loop is bounded in count and time. Output: tables on stdout
//! and a JSON file.
//!
//! `--targets direct,memory,dynamodb,inspector,lambda` picks what runs (default: all); `--sizes`,
//! `--rounds`, `--echo-secs` size it.
//!
//! `--mode webhooks`: the in-memory gateway without webhooks against the same gateway sending
//! every event to a receiver that never answers: connects/s and broadcast times, as ratios.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use ws_bridge_e2e::lambda_service::LambdaService;

/// How long one round may take before its missing deliveries are counted as lost.
const ROUND_LIMIT: Duration = Duration::from_secs(60);
const CONNECT_CONCURRENCY: usize = 100;
const ECHO_CLIENTS: usize = 50;
/// The channels every gateway client is in: one without history, one with.
const PLAIN_CHANNEL: &str = "plain";
const HISTORY_CHANNEL: &str = "hist:bench";

struct Args {
    gateway: String,
    direct: String,
    sizes: Vec<usize>,
    rounds: usize,
    echo_secs: u64,
    out: String,
    dynamodb: Option<String>,
    /// `fanout` (the default) or `webhooks`.
    mode: String,
    /// Which targets to run: `direct`, `memory`, `dynamodb`, `inspector`, `lambda` (default: all).
    targets: Vec<String>,
    /// The http-broadcast binary the Lambda mode runs under a local Runtime API.
    lambda_bin: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        gateway: "infra/local-gateway.sh".into(),
        direct: "target/fast/direct-fanout".into(),
        sizes: vec![1_000, 10_000],
        rounds: 5,
        echo_secs: 5,
        out: "bench-results/bench.json".into(),
        dynamodb: std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok(),
        mode: "fanout".into(),
        targets: ["direct", "memory", "dynamodb", "inspector", "lambda"]
            .map(String::from)
            .to_vec(),
        lambda_bin: "target/fast/http-broadcast".into(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--gateway" => args.gateway = value,
            "--direct" => args.direct = value,
            "--sizes" => args.sizes = value.split(',').map(|n| n.parse().expect("size")).collect(),
            "--rounds" => args.rounds = value.parse().expect("rounds"),
            "--echo-secs" => args.echo_secs = value.parse().expect("seconds"),
            "--out" => args.out = value,
            "--dynamodb" => args.dynamodb = Some(value),
            "--mode" => args.mode = value,
            "--targets" => args.targets = value.split(',').map(str::to_owned).collect(),
            "--lambda-bin" => args.lambda_bin = value,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A server under test, as a child process.
struct Server {
    name: String,
    child: Child,
    port: u16,
    /// Whether it runs the gateway (and so answers `/connections/count`).
    gateway: bool,
}

impl Server {
    fn start(name: &str, mut command: Command, port: u16, gateway: bool) -> Self {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{name} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            name: name.to_owned(),
            child,
            port,
            gateway,
        }
    }

    fn rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:")
    }

    fn cpu_secs(&self) -> f64 {
        cpu_secs(self.child.id())
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/dev", self.port)
    }

    fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/dev", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/{pid}/status` figure in KiB (`VmRSS:`, `VmHWM:`), 0 when unreadable.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system, every thread, in seconds) the process `pid` has used so far: what a
/// delivery costs, whatever else shares the machine.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on every Linux this runs on.
    ticks as f64 / 100.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn client_config() -> WebSocketConfig {
    // Small client buffers too, so 10,000 clients fit comfortably beside the server.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Opens `n` connections, `CONNECT_CONCURRENCY` at a time, and returns how long that took and,
/// per connection, a task reporting every message's arrival time on `arrivals`.
async fn connect_all(
    url: &str,
    n: usize,
    arrivals: mpsc::UnboundedSender<Instant>,
) -> (Vec<tokio::task::JoinHandle<()>>, Duration) {
    let started = Instant::now();
    let url = Arc::new(url.to_owned());
    let sockets = futures::stream::iter(0..n)
        .map(|_| {
            let url = Arc::clone(&url);
            async move {
                let config = Some(client_config());
                let (socket, _) =
                    tokio_tungstenite::connect_async_with_config(url.as_str(), config, false)
                        .await
                        .expect("connect");
                socket
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    let readers = sockets
        .into_iter()
        .map(|mut socket| {
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() {
                        let _ = arrivals.send(Instant::now());
                    }
                }
            })
        })
        .collect();
    (readers, elapsed)
}

async fn wait_for_count(server: &Server, http: &reqwest::Client, expected: u64) {
    if !server.gateway {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let count = match http
            .get(format!("{}/connections/count", server.http_url()))
            .send()
            .await
        {
            Ok(response) => response
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["count"].as_u64()),
            Err(_) => None,
        };
        if count == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One kind of broadcast measured over `rounds` rounds: POST `path` and time every arrival.
async fn measure_broadcasts(
    server: &Server,
    http: &reqwest::Client,
    arrivals: &mut mpsc::UnboundedReceiver<Instant>,
    path: &str,
    n: usize,
    rounds: usize,
) -> Value {
    let mut round_results = Vec::new();
    for round in 0..rounds {
        let body = json!({ "type": "bench", "round": round }).to_string();
        let cpu_before = server.cpu_secs();
        let generator_before = cpu_secs(std::process::id());
        let sent = Instant::now();
        let response = http
            .post(format!("{}{path}", server.http_url()))
            .body(body)
            .send()
            .await;
        let status = response.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
        let mut latencies = Vec::with_capacity(n);
        let deadline = sent + ROUND_LIMIT;
        while latencies.len() < n {
            match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
                Ok(Some(at)) => latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0),
                _ => break,
            }
        }
        let cpu = server.cpu_secs() - cpu_before;
        let generator_cpu = cpu_secs(std::process::id()) - generator_before;
        latencies.sort_by(f64::total_cmp);
        let last_ms = latencies.last().copied().unwrap_or(f64::NAN);
        round_results.push(json!({
            "round": round,
            "status": status,
            "delivered": latencies.len(),
            "expected": n,
            "p50_ms": percentile(&latencies, 0.5),
            "p99_ms": percentile(&latencies, 0.99),
            "last_ms": last_ms,
            "cpu_ms": cpu * 1000.0,
            "cpu_us_per_delivery": cpu * 1e6 / latencies.len().max(1) as f64,
            // Cores the server kept busy on average until the last delivery.
            "cores_busy": cpu * 1000.0 / last_ms,
            // And the load generator (this process), on the same cores.
            "generator_cores_busy": generator_cpu * 1000.0 / last_ms,
        }));
        // Late arrivals of a lost round must not count for the next one.
        while arrivals.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let median = |key: &str| {
        let mut values: Vec<f64> = round_results
            .iter()
            .filter_map(|r| r[key].as_f64())
            .collect();
        values.sort_by(f64::total_cmp);
        percentile(&values, 0.5)
    };
    json!({
        "path": path,
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "last_ms": median("last_ms"),
        "cpu_us_per_delivery": median("cpu_us_per_delivery"),
        "cores_busy": median("cores_busy"),
        "generator_cores_busy": median("generator_cores_busy"),
        "delivered": round_results.iter().filter_map(|r| r["delivered"].as_u64()).sum::<u64>(),
        "expected": (n * rounds) as u64,
        "rounds": round_results,
    })
}

async fn measure_size(server: &Server, n: usize, rounds: usize) -> Value {
    let http = ws_bridge_e2e::http();
    let rss_before = server.rss_kib();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    // Gateway clients join both channels at the handshake, so a channel broadcast reaches all N.
    let url = if server.gateway {
        format!(
            "{}?channels={PLAIN_CHANNEL},{HISTORY_CHANNEL}",
            server.ws_url()
        )
    } else {
        server.ws_url()
    };
    let (readers, connect_time) = connect_all(&url, n, arrivals_tx).await;
    wait_for_count(server, &http, n as u64).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss_kib();
    let kib_per_connection = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;

    let everyone = measure_broadcasts(server, &http, &mut arrivals, "/broadcast", n, rounds).await;
    let mut channels = serde_json::Map::new();
    if server.gateway {
        for (key, channel) in [
            ("channel", PLAIN_CHANNEL),
            ("channel_history", HISTORY_CHANNEL),
        ] {
            let path = format!("/broadcast/{channel}");
            let measured = measure_broadcasts(server, &http, &mut arrivals, &path, n, rounds).await;
            channels.insert(key.to_owned(), measured);
        }
    }
    for reader in readers {
        reader.abort();
    }
    wait_for_count(server, &http, 0).await;

    let mut result = json!({
        "connections": n,
        "connects_per_sec": n as f64 / connect_time.as_secs_f64(),
        "kib_per_idle_connection": kib_per_connection,
        "broadcast_p50_ms": everyone["p50_ms"],
        "broadcast_p99_ms": everyone["p99_ms"],
        "broadcast_last_ms": everyone["last_ms"],
        "cpu_us_per_delivery": everyone["cpu_us_per_delivery"],
        "cores_busy": everyone["cores_busy"],
        "generator_cores_busy": everyone["generator_cores_busy"],
        "delivered": everyone["delivered"],
        "expected": everyone["expected"],
        "rounds": everyone["rounds"],
    });
    if let Value::Object(fields) = &mut result {
        fields.extend(channels);
    }
    result
}

async fn measure_echo(server: &Server, seconds: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks = (0..ECHO_CLIENTS).map(|_| {
        let url = server.ws_url();
        tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
                url.as_str(),
                Some(client_config()),
                false,
            )
            .await
            .expect("connect");
            let mut rtts = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                if socket
                    .send(Message::text(r#"{"action":"ping"}"#))
                    .await
                    .is_err()
                {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
                    Ok(Some(Ok(_))) => rtts.push(sent.elapsed().as_secs_f64() * 1000.0),
                    _ => break,
                }
            }
            let _ = socket.close(None).await;
            rtts
        })
    });
    let started = Instant::now();
    let mut rtts: Vec<f64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap_or_default())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    rtts.sort_by(f64::total_cmp);
    json!({
        "clients": ECHO_CLIENTS,
        "msgs_per_sec": rtts.len() as f64 / elapsed,
        "rtt_p50_ms": percentile(&rtts, 0.5),
        "rtt_p99_ms": percentile(&rtts, 0.99),
    })
}

async fn run_target(server: Server, sizes: &[usize], rounds: usize, echo_secs: u64) -> Value {
    let mut per_size = Vec::new();
    for &n in sizes {
        eprintln!("bench: {} with {n} connections…", server.name);
        per_size.push(measure_size(&server, n, rounds).await);
    }
    eprintln!("bench: {} echo…", server.name);
    let echo = measure_echo(&server, echo_secs).await;
    json!({ "target": server.name, "sizes": per_size, "echo": echo })
}

/// The inspector's page as it loads the gateway: its feed read as fast as it comes, and its
/// connection list fetched every 2 s.
struct InspectorPage {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    feed_bytes: Arc<std::sync::atomic::AtomicU64>,
}

impl InspectorPage {
    fn open(server: &Server) -> Self {
        let base = format!("http://127.0.0.1:{}", server.port);
        let feed_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&feed_bytes);
        let feed_url = format!("{base}/_inspector/feed");
        let feed = tokio::spawn(async move {
            let Ok(mut response) = reqwest::get(feed_url).await else {
                return;
            };
            while let Ok(Some(chunk)) = response.chunk().await {
                counted.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let list = tokio::spawn(async move {
            let http = ws_bridge_e2e::http();
            loop {
                let _ = http
                    .get(format!("{base}/_inspector/api/connections"))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        Self {
            tasks: vec![feed, list],
            feed_bytes,
        }
    }

    /// Closes the page; returns how many feed bytes it received.
    fn close(self) -> u64 {
        for task in self.tasks {
            task.abort();
        }
        self.feed_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One broadcast to `n` connections: when the last delivery arrived (ms), `None` if any was lost.
async fn broadcast_last_ms(
    server: &Server,
    http: &reqwest::Client,
    arrivals: &mut mpsc::UnboundedReceiver<Instant>,
    n: usize,
) -> Option<f64> {
    let sent = Instant::now();
    let _ = http
        .post(format!("{}/broadcast", server.http_url()))
        .body(r#"{"type":"bench-inspector"}"#)
        .send()
        .await;
    let deadline = sent + ROUND_LIMIT;
    let mut last = None;
    for _ in 0..n {
        match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
            Ok(Some(at)) => last = Some(at.duration_since(sent).as_secs_f64() * 1000.0),
            _ => return None,
        }
    }
    last
}

/// The inspector's cost on delivery: on one gateway, broadcasts with the page open and closed,
/// alternating round by round, so both see the same connections and the same machine state.
async fn measure_inspector(server: &Server, n: usize, rounds: usize) -> Value {
    let http = ws_bridge_e2e::http();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let (readers, _) = connect_all(&server.ws_url(), n, arrivals_tx).await;
    wait_for_count(server, &http, n as u64).await;
    let (mut closed, mut open, mut feed_bytes, mut lost) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..rounds {
        match broadcast_last_ms(server, &http, &mut arrivals, n).await {
            Some(ms) => closed.push(ms),
            None => lost += 1,
        }
        while arrivals.try_recv().is_ok() {}
        let page = InspectorPage::open(server);
        tokio::time::sleep(Duration::from_millis(300)).await;
        match broadcast_last_ms(server, &http, &mut arrivals, n).await {
            Some(ms) => open.push(ms),
            None => lost += 1,
        }
        // Let the feed carry the round's records before the page closes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        feed_bytes += page.close();
        while arrivals.try_recv().is_ok() {}
    }
    for reader in readers {
        reader.abort();
    }
    wait_for_count(server, &http, 0).await;
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        percentile(values, 0.5)
    };
    let (closed_ms, open_ms) = (median(&mut closed), median(&mut open));
    json!({
        "connections": n,
        "rounds": rounds,
        "broadcast_last_ms_page_closed": closed_ms,
        "broadcast_last_ms_page_open": open_ms,
        "open_over_closed": open_ms / closed_ms,
        "feed_bytes_received": feed_bytes,
        "rounds_lost": lost,
    })
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline > 0.0 && value.is_finite() {
        format!("{:.2}×", value / baseline)
    } else {
        "–".into()
    }
}

fn print_table(results: &[Value]) {
    let none = Value::Null;
    let direct = results
        .iter()
        .find(|target| target["target"] == DIRECT)
        .unwrap_or(&none);
    println!(
        "\n| target | N | connects/s | broadcast p50 | p99 | last | delivered | KiB/idle conn | CPU/delivery | cores busy (+ load generator) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for target in results {
        for (i, size) in target["sizes"].as_array().unwrap().iter().enumerate() {
            let base = &direct["sizes"][i];
            let f = |key: &str| size[key].as_f64().unwrap_or(f64::NAN);
            let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {} | {} | {:.0} ({}) | {:.1} ms ({}) | {:.1} ms ({}) | {:.1} ms ({}) | {}/{} | {:.1} ({}) | {:.1} µs ({}) | {:.2} (+{:.2}) |",
                target["target"].as_str().unwrap(),
                size["connections"],
                f("connects_per_sec"),
                ratio(f("connects_per_sec"), b("connects_per_sec")),
                f("broadcast_p50_ms"),
                ratio(f("broadcast_p50_ms"), b("broadcast_p50_ms")),
                f("broadcast_p99_ms"),
                ratio(f("broadcast_p99_ms"), b("broadcast_p99_ms")),
                f("broadcast_last_ms"),
                ratio(f("broadcast_last_ms"), b("broadcast_last_ms")),
                size["delivered"],
                size["expected"],
                f("kib_per_idle_connection"),
                ratio(f("kib_per_idle_connection"), b("kib_per_idle_connection")),
                f("cpu_us_per_delivery"),
                ratio(f("cpu_us_per_delivery"), b("cpu_us_per_delivery")),
                f("cores_busy"),
                f("generator_cores_busy"),
            );
        }
    }
    println!(
        "\nChannel broadcast to all N subscribers, without and with history (ratios to the direct fan-out's broadcast):"
    );
    println!(
        "\n| target | N | channel p50 | last | delivered | history channel p50 | last | delivered |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for target in &results[1..] {
        for (i, size) in target["sizes"].as_array().unwrap().iter().enumerate() {
            let base = &direct["sizes"][i];
            let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
            let cell = |kind: &str| {
                let m = &size[kind];
                let f = |key: &str| m[key].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{:.1} ms ({}) | {:.1} ms ({}) | {}/{}",
                    f("p50_ms"),
                    ratio(f("p50_ms"), b("broadcast_p50_ms")),
                    f("last_ms"),
                    ratio(f("last_ms"), b("broadcast_last_ms")),
                    m["delivered"],
                    m["expected"],
                )
            };
            println!(
                "| {} | {} | {} | {} |",
                target["target"].as_str().unwrap(),
                size["connections"],
                cell("channel"),
                cell("channel_history"),
            );
        }
    }
    println!(
        "\n| target | echo msgs/s ({} clients) | RTT p50 | RTT p99 |",
        ECHO_CLIENTS
    );
    println!("|---|---|---|---|");
    let base = &direct["echo"];
    for target in results.iter().filter(|target| !target["echo"].is_null()) {
        let echo = &target["echo"];
        let f = |key: &str| echo[key].as_f64().unwrap_or(f64::NAN);
        let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.0} ({}) | {:.2} ms | {:.2} ms |",
            target["target"].as_str().unwrap(),
            f("msgs_per_sec"),
            ratio(f("msgs_per_sec"), b("msgs_per_sec")),
            f("rtt_p50_ms"),
            f("rtt_p99_ms"),
        );
    }
    println!(
        "\nRatios are to the direct fan-out measured in the same run (× > 1 means more, not better)."
    );
}

fn gateway_command(args: &Args, port: u16, dynamodb: Option<&str>) -> Command {
    let table = format!("bench-{:08x}", rand::random::<u32>());
    gateway_command_with_table(
        args,
        port,
        dynamodb.map(|endpoint| (endpoint, table.as_str())),
    )
}

fn gateway_command_with_table(args: &Args, port: u16, dynamodb: Option<(&str, &str)>) -> Command {
    let mut command = Command::new(&args.gateway);
    command
        .args(["--port", &port.to_string(), "--idle-timeout-secs", "3600"])
        .args(["--history-channels", HISTORY_CHANNEL])
        // The echo rounds send far more than the template's 20 client messages per 10 s.
        .args(["--message-rate-limit", "off"])
        .env("RUST_LOG", "warn");
    if let Some((endpoint, table)) = dynamodb {
        command.args([
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            endpoint,
            "--connections-table",
            table,
            "--history-table",
            &format!("{table}-history"),
        ]);
    }
    command
}

/// Webhooks off against webhooks to a hanging receiver, on the in-memory gateway.
async fn webhooks_mode(args: &Args) {
    use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
    let receiver = Receiver::start(Behaviour::Hang).await;
    let mut results = Vec::new();
    let port = free_port();
    let off = Server::start(
        "gateway, webhooks off",
        gateway_command(args, port, None),
        port,
        true,
    );
    // A first pass warms each server (and the load generator) up; only later passes count.
    measure_size(&off, 100, 1).await;
    let mut per_size = Vec::new();
    for &n in &args.sizes {
        eprintln!("bench: webhooks off, {n} connections…");
        per_size.push(measure_size(&off, n, args.rounds).await);
    }
    results.push(json!({"target": off.name, "sizes": per_size}));
    drop(off);
    let port = free_port();
    let mut command = gateway_command(args, port, None);
    command
        .args([
            "--webhook-url",
            &receiver.url(),
            "--webhook-timeout-ms",
            "600000",
        ])
        .env("WEBHOOK_SECRET", SECRET);
    let hanging = Server::start("gateway, receiver hanging", command, port, true);
    measure_size(&hanging, 100, 1).await;
    let mut per_size = Vec::new();
    for &n in &args.sizes {
        eprintln!("bench: webhooks to a hanging receiver, {n} connections…");
        per_size.push(measure_size(&hanging, n, args.rounds).await);
    }
    results.push(json!({"target": hanging.name, "sizes": per_size}));
    println!("\n| target | N | connects/s | broadcast p50 | last | delivered |");
    println!("|---|---|---|---|---|---|");
    for target in &results {
        for (i, size) in target["sizes"].as_array().unwrap().iter().enumerate() {
            let base = &results[0]["sizes"][i];
            let f = |key: &str| size[key].as_f64().unwrap_or(f64::NAN);
            let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {} | {} | {:.0} ({}) | {:.1} ms ({}) | {:.1} ms ({}) | {}/{} |",
                target["target"].as_str().unwrap(),
                size["connections"],
                f("connects_per_sec"),
                ratio(f("connects_per_sec"), b("connects_per_sec")),
                f("broadcast_p50_ms"),
                ratio(f("broadcast_p50_ms"), b("broadcast_p50_ms")),
                f("broadcast_last_ms"),
                ratio(f("broadcast_last_ms"), b("broadcast_last_ms")),
                size["delivered"],
                size["expected"],
            );
        }
    }
    println!(
        "\nRatios are to the gateway without webhooks in the same run; the receiver got {} requests and answered none.",
        receiver.requests().len()
    );
    let report = json!({"mode": "webhooks", "results": results});
    if let Some(parent) = std::path::Path::new(&args.out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write results");
    println!("\nJSON: {}", args.out);
}

const DIRECT: &str = "direct fan-out";
const LAMBDA_FUNCTION: &str = "http-broadcast";
/// Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion to memory below.
const FULL_VCPU_MB: f64 = 1769.0;
const LAMBDA_MEMORY_MB: [f64; 3] = [128.0, 512.0, 1769.0];
/// API Gateway's default account throttle, requests per second per region; `@connections`
/// calls count against it.
const ACCOUNT_THROTTLE_PER_SEC: f64 = 10_000.0;

/// The HTTP API's payload-2.0 event for `POST /broadcast`, as the gateway would hand it over.
fn broadcast_event(body: &str) -> Value {
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": "POST /broadcast",
        "rawPath": "/dev/broadcast",
        "rawQueryString": "",
        "headers": { "content-type": "application/json", "host": "127.0.0.1", "user-agent": "bench" },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "benchapi01",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": "POST",
                "path": "/dev/broadcast",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": format!("{:016x}", rand::random::<u64>()),
            "routeKey": "POST /broadcast",
            "stage": "dev",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// The real http-broadcast binary under a local Lambda Runtime API, invoked through the Invoke
/// API, listing DynamoDB Local and pushing through the SDK to a gateway's `@connections`: its
/// CPU time per recipient (what Lambda bills as duration) and its peak memory (VmHWM).
async fn measure_lambda(args: &Args, dynamodb: &str) -> Value {
    let port = free_port();
    let table = format!("bench-{:08x}", rand::random::<u32>());
    let gateway = Server::start(
        "gateway for the Lambda",
        gateway_command_with_table(args, port, Some((dynamodb, &table))),
        port,
        true,
    );
    let mut service = LambdaService::start().await;
    let env = [
        ("CONNECTION_STORE", "dynamodb".to_owned()),
        ("CONNECTIONS_TABLE", table.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
            gateway.http_url(),
        ),
    ];
    let binary = std::path::Path::new(&args.lambda_bin);
    assert!(binary.exists(), "{} is missing", binary.display());
    service.run_binary(LAMBDA_FUNCTION, binary, &env).await;
    let pid = service.pid(LAMBDA_FUNCTION).expect("the function runs");
    let invoke_url = format!(
        "{}/2015-03-31/functions/{LAMBDA_FUNCTION}/invocations",
        service.invoke_endpoint()
    );
    let http = reqwest::Client::new();
    let invoke = |round: i64| {
        let body = json!({ "type": "bench", "round": round }).to_string();
        http.post(&invoke_url)
            .json(&broadcast_event(&body))
            .timeout(ROUND_LIMIT)
            .send()
    };

    let mut per_size = Vec::new();
    for &n in &args.sizes {
        eprintln!("bench: Lambda {LAMBDA_FUNCTION} with {n} recipients…");
        let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
        let (readers, _) = connect_all(&gateway.ws_url(), n, arrivals_tx).await;
        wait_for_count(&gateway, &http, n as u64).await;
        // The first invocation of a size is not measured: it warms the SDK's and the store's
        // connection pools, as a warm Lambda has them.
        let _ = invoke(-1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        while arrivals.try_recv().is_ok() {}
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            let cpu_before = cpu_secs(pid);
            let started = Instant::now();
            let answer = match invoke(round as i64).await {
                Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let duration = started.elapsed();
            let cpu = cpu_secs(pid) - cpu_before;
            let report: Value = answer["body"]
                .as_str()
                .and_then(|body| serde_json::from_str(body).ok())
                .unwrap_or(Value::Null);
            let mut delivered = 0;
            let deadline = Instant::now() + Duration::from_secs(10);
            while delivered < n {
                match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
                    Ok(Some(_)) => delivered += 1,
                    _ => break,
                }
            }
            rounds.push(json!({
                "round": round,
                "status": answer["statusCode"],
                "sent": report["sent"],
                "delivered": delivered,
                "duration_ms": duration.as_secs_f64() * 1000.0,
                "cpu_ms": cpu * 1000.0,
                "cpu_us_per_recipient": cpu * 1e6 / n as f64,
            }));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for reader in readers {
            reader.abort();
        }
        wait_for_count(&gateway, &http, 0).await;
        let median = |key: &str| {
            let mut values: Vec<f64> = rounds.iter().filter_map(|r| r[key].as_f64()).collect();
            values.sort_by(f64::total_cmp);
            percentile(&values, 0.5)
        };
        let cpu_us = median("cpu_us_per_recipient");
        // CPU-bound, a broadcast lasts its CPU time over the memory's share of a vCPU; it never
        // goes faster than the account throttle lets its calls through.
        let throttle_floor_ms = n as f64 / ACCOUNT_THROTTLE_PER_SEC * 1000.0;
        let estimates: Vec<Value> = LAMBDA_MEMORY_MB
            .iter()
            .map(|&memory| {
                let share = (memory / FULL_VCPU_MB).min(1.0);
                let cpu_bound_ms = cpu_us * n as f64 / 1000.0 / share;
                json!({
                    "memory_mb": memory,
                    "cpu_bound_ms": cpu_bound_ms,
                    "duration_ms": cpu_bound_ms.max(throttle_floor_ms),
                    "throttle_bound": throttle_floor_ms > cpu_bound_ms,
                })
            })
            .collect();
        per_size.push(json!({
            "recipients": n,
            "cpu_us_per_recipient": cpu_us,
            "cpu_ms": median("cpu_ms"),
            "duration_ms": median("duration_ms"),
            "vm_hwm_mib": status_kib(pid, "VmHWM:") as f64 / 1024.0,
            "delivered": rounds.iter().filter_map(|r| r["delivered"].as_u64()).sum::<u64>(),
            "expected": (n * args.rounds) as u64,
            "estimates": estimates,
            "rounds": rounds,
        }));
    }
    json!({ "function": LAMBDA_FUNCTION, "binary": args.lambda_bin, "sizes": per_size })
}

fn print_lambda(lambda: &Value) {
    println!(
        "\n| Lambda {LAMBDA_FUNCTION} | CPU/recipient | CPU | invocation (local, 2 cores) | VmHWM | delivered | at 128 MB | at 512 MB | at 1,769 MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for size in lambda["sizes"].as_array().into_iter().flatten() {
        let f = |key: &str| size[key].as_f64().unwrap_or(f64::NAN);
        let estimates: Vec<String> = size["estimates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let ms = e["duration_ms"].as_f64().unwrap_or(f64::NAN);
                let bound = if e["throttle_bound"].as_bool() == Some(true) {
                    " (throttle)"
                } else {
                    ""
                };
                format!("{ms:.0} ms{bound}")
            })
            .collect();
        println!(
            "| {} recipients | {:.1} µs | {:.0} ms | {:.0} ms | {:.1} MiB | {}/{} | {} |",
            size["recipients"],
            f("cpu_us_per_recipient"),
            f("cpu_ms"),
            f("duration_ms"),
            f("vm_hwm_mib"),
            size["delivered"],
            size["expected"],
            estimates.join(" | "),
        );
    }
    println!(
        "\nLambda durations: CPU time over the memory's share of one vCPU ({FULL_VCPU_MB} MB = 1 vCPU), \
         never below N / {ACCOUNT_THROTTLE_PER_SEC} s (API Gateway's account throttle); network waits not included."
    );
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if args.mode == "webhooks" {
        webhooks_mode(&args).await;
        return;
    }
    let wants = |target: &str| args.targets.iter().any(|t| t == target);
    let mut results = Vec::new();

    if wants("direct") {
        let port = free_port();
        let mut direct = Command::new(&args.direct);
        direct.arg(port.to_string());
        results.push(
            run_target(
                Server::start(DIRECT, direct, port, false),
                &args.sizes,
                args.rounds,
                args.echo_secs,
            )
            .await,
        );
    }

    if wants("memory") {
        let port = free_port();
        let memory = Server::start(
            "gateway, in-memory",
            gateway_command(&args, port, None),
            port,
            true,
        );
        results.push(run_target(memory, &args.sizes, args.rounds, args.echo_secs).await);
    }

    // The inspector, open and closed, on a gateway of its own.
    let mut inspector = Vec::new();
    if wants("inspector") {
        let port = free_port();
        let server = Server::start(
            "gateway, in-memory (inspector)",
            gateway_command(&args, port, None),
            port,
            true,
        );
        for &n in &args.sizes {
            eprintln!("bench: the inspector, open and closed, with {n} connections…");
            inspector.push(measure_inspector(&server, n, args.rounds).await);
        }
        drop(server);
    }

    let mut lambda = Value::Null;
    match args.dynamodb.as_deref() {
        Some(endpoint) => {
            if wants("dynamodb") {
                let port = free_port();
                let server = Server::start(
                    "gateway, DynamoDB Local",
                    gateway_command(&args, port, Some(endpoint)),
                    port,
                    true,
                );
                results.push(run_target(server, &args.sizes, args.rounds, args.echo_secs).await);
            }
            if wants("lambda") {
                lambda = measure_lambda(&args, endpoint).await;
            }
        }
        None => eprintln!(
            "bench: AWS_ENDPOINT_URL_DYNAMODB is not set; the DynamoDB Local and Lambda figures are left out"
        ),
    }

    print_table(&results);
    println!(
        "\n| inspector | N | broadcast last, page closed | page open | open / closed | feed bytes |"
    );
    println!("|---|---|---|---|---|---|");
    for size in &inspector {
        let f = |key: &str| size[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "| gateway, in-memory | {} | {:.1} ms | {:.1} ms | {:.2}× | {} |",
            size["connections"],
            f("broadcast_last_ms_page_closed"),
            f("broadcast_last_ms_page_open"),
            f("open_over_closed"),
            size["feed_bytes_received"],
        );
    }
    if !lambda.is_null() {
        print_lambda(&lambda);
    }
    let report = json!({
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "results": results,
        "inspector": inspector,
        "lambda": lambda,
    });
    if let Some(parent) = std::path::Path::new(&args.out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write results");
    println!("\nJSON: {}", args.out);
}
