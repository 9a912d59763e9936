//! `make bench`: a load generator for the local gateway, measured against a direct fan-out over
//! the same kind of sockets. It starts each server itself (loopback only), and reports, for each
//! size: connects/s, broadcast delivery p50/p99/last and delivered/expected (several rounds),
//! KiB per idle connection (server RSS delta / N), and echo msgs/s with RTT p50/p99. On the
//! gateways every client is also in two channels, `plain` (no history) and `hist:bench` (with
//! history), and a channel broadcast to all N is measured on each; and the inspector's cost:
//! broadcasts with its page open against closed, as a ratio. Every loop is bounded in count and
//! time. Output: tables on stdout and a JSON file.
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
    mode: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        gateway: "target/fast/local-gateway".into(),
        direct: "target/fast/direct-fanout".into(),
        sizes: vec![1_000, 10_000],
        rounds: 5,
        echo_secs: 5,
        out: "bench-results/bench.json".into(),
        dynamodb: std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok(),
        mode: "fanout".into(),
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
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
        latencies.sort_by(f64::total_cmp);
        round_results.push(json!({
            "round": round,
            "status": status,
            "delivered": latencies.len(),
            "expected": n,
            "p50_ms": percentile(&latencies, 0.5),
            "p99_ms": percentile(&latencies, 0.99),
            "last_ms": latencies.last().copied().unwrap_or(f64::NAN),
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
        "delivered": round_results.iter().filter_map(|r| r["delivered"].as_u64()).sum::<u64>(),
        "expected": (n * rounds) as u64,
        "rounds": round_results,
    })
}

async fn measure_size(server: &Server, n: usize, rounds: usize) -> Value {
    let http = reqwest::Client::new();
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
            let http = reqwest::Client::new();
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
    let http = reqwest::Client::new();
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
    let direct = &results[0];
    println!(
        "\n| target | N | connects/s | broadcast p50 | p99 | last | delivered | KiB/idle conn |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for target in results {
        for (i, size) in target["sizes"].as_array().unwrap().iter().enumerate() {
            let base = &direct["sizes"][i];
            let f = |key: &str| size[key].as_f64().unwrap_or(f64::NAN);
            let b = |key: &str| base[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {} | {} | {:.0} ({}) | {:.1} ms ({}) | {:.1} ms ({}) | {:.1} ms ({}) | {}/{} | {:.1} ({}) |",
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
    for target in results {
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
    let mut command = Command::new(&args.gateway);
    command
        .args(["--port", &port.to_string(), "--idle-timeout-secs", "3600"])
        .args(["--history-channels", HISTORY_CHANNEL])
        .env("RUST_LOG", "warn");
    if let Some(endpoint) = dynamodb {
        let table = format!("bench-{:08x}", rand::random::<u32>());
        command.args([
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            endpoint,
            "--connections-table",
            &table,
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

#[tokio::main]
async fn main() {
    let args = parse_args();
    if args.mode == "webhooks" {
        webhooks_mode(&args).await;
        return;
    }
    let mut results = Vec::new();

    let port = free_port();
    let mut direct = Command::new(&args.direct);
    direct.arg(port.to_string());
    results.push(
        run_target(
            Server::start("direct fan-out", direct, port, false),
            &args.sizes,
            args.rounds,
            args.echo_secs,
        )
        .await,
    );

    let port = free_port();
    let memory = Server::start(
        "gateway, in-memory",
        gateway_command(&args, port, None),
        port,
        true,
    );
    results.push(run_target(memory, &args.sizes, args.rounds, args.echo_secs).await);

    // The inspector, open and closed, on a gateway of its own.
    let port = free_port();
    let server = Server::start(
        "gateway, in-memory (inspector)",
        gateway_command(&args, port, None),
        port,
        true,
    );
    let mut inspector = Vec::new();
    for &n in &args.sizes {
        eprintln!("bench: the inspector, open and closed, with {n} connections…");
        inspector.push(measure_inspector(&server, n, args.rounds).await);
    }
    drop(server);

    match args.dynamodb.as_deref() {
        Some(endpoint) => {
            let port = free_port();
            let server = Server::start(
                "gateway, DynamoDB Local",
                gateway_command(&args, port, Some(endpoint)),
                port,
                true,
            );
            results.push(run_target(server, &args.sizes, args.rounds, args.echo_secs).await);
        }
        None => eprintln!(
            "bench: AWS_ENDPOINT_URL_DYNAMODB is not set; the DynamoDB Local figures are left out"
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
    let report = json!({ "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) }, "results": results, "inspector": inspector });
    if let Some(parent) = std::path::Path::new(&args.out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write results");
    println!("\nJSON: {}", args.out);
}
