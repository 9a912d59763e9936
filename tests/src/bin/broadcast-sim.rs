//! `make bench-broadcast` (and the end of `make bench`): an asynchronous broadcast far beyond this
//! machine's sockets. The real code runs — `POST /broadcast` with `Prefer: respond-async`
//! (`ws_bridge::broadcasts::requests::handle`), the in-process queue and its workers
//! (`InProcessQueue`, `ShardWorker`), the in-memory progress store, the shared pacer — against a
//! simulated management API: virtual connections (no sockets), each call answered after a
//! latency drawn from a log-normal distribution (default p50 20 ms, p99 100 ms) and throttled
//! by API Gateway's token bucket (default 10,000/s, burst 5,000) with 429s.
//!
//! Reported per audience size: the time to deliver against the throttle's lower bound
//! (N ÷ rate), the 429s, the peak number of shards worked on at once and of calls in flight,
//! and whether the report is exact (every recipient counted once; nobody sent twice).
//!
//! `--time-scale S` runs S times faster than real time: the sink's rate is multiplied by S and
//! its latencies divided by S, and times are reported in simulated seconds (wall × S). The
//! pacer sees only what the sink answers, so it adapts the same way. Default 1 (real time: a
//! million recipients at 10,000/s take 100 s).

use async_trait::async_trait;
use local_gateway::TokenBucket;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ws_bridge::broadcasts::requests::{AsyncBroadcasts, handle};
use ws_bridge::broadcasts::worker::ShardWorker;
use ws_bridge::broadcasts::{
    AsyncBroadcastSettings, AsyncReport, BroadcastJob, BroadcastProgress, Claim,
    InMemoryBroadcasts, InProcessQueue, PageTally, ShardProgress, ShardQueue,
};
use ws_bridge::store::{ChannelCounts, Connection, ConnectionPage, Segment};
use ws_bridge::webhooks::NoWebhooks;
use ws_bridge::{ConnectionStore, Error, MessagePusher, PushOutcome, Settings, Throttled};

#[derive(Clone, Debug)]
struct Args {
    sizes: Vec<usize>,
    rate: f64,
    burst: f64,
    p50_ms: f64,
    p99_ms: f64,
    workers: usize,
    concurrency: usize,
    shard_size: u64,
    time_scale: f64,
    out: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        sizes: vec![10_000, 100_000, 1_000_000],
        rate: 10_000.0,
        burst: 5_000.0,
        p50_ms: 20.0,
        p99_ms: 100.0,
        workers: 10,
        concurrency: 64,
        shard_size: 10_000,
        time_scale: 1.0,
        out: None,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    for pair in raw.chunks(2) {
        let (flag, value) = (pair[0].as_str(), pair.get(1).cloned().unwrap_or_default());
        let number = || -> f64 {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{flag} takes a number, got {value:?}"))
        };
        match flag {
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|n| n.trim().parse().expect("--sizes: numbers, comma-separated"))
                    .collect();
            }
            "--rate" => args.rate = number(),
            "--burst" => args.burst = number(),
            "--p50-ms" => args.p50_ms = number(),
            "--p99-ms" => args.p99_ms = number(),
            "--workers" => args.workers = number() as usize,
            "--concurrency" => args.concurrency = number() as usize,
            "--shard-size" => args.shard_size = number() as u64,
            "--time-scale" => args.time_scale = number(),
            "--out" => args.out = Some(value),
            other => panic!(
                "unknown flag {other}; flags: --sizes --rate --burst --p50-ms --p99-ms --workers \
                 --concurrency --shard-size --time-scale --out"
            ),
        }
    }
    assert!(
        args.p99_ms >= args.p50_ms,
        "--p99-ms must be at least --p50-ms"
    );
    args
}

/// `v{index}`, zero-padded so that ids sort as their indexes.
fn id_of(index: usize) -> String {
    format!("v{index:08}")
}

fn index_of(id: &str) -> Option<usize> {
    id.strip_prefix('v')?.parse().ok()
}

/// One recipient in a thousand no longer exists (410).
fn is_gone(index: usize) -> bool {
    index % 1_000 == 999
}

/// N virtual connections: listed by scan segment (index mod total), nothing stored.
struct VirtualStore {
    count: usize,
    deleted: AtomicUsize,
}

fn not_simulated() -> Error {
    Error::Config("not simulated".into())
}

#[async_trait]
impl ConnectionStore for VirtualStore {
    async fn put(&self, _: Connection) -> Result<(), Error> {
        Err(not_simulated())
    }
    async fn put_limited(&self, _: Connection, _: usize) -> Result<(), Error> {
        Err(not_simulated())
    }
    async fn get(&self, _: &str) -> Result<Option<Connection>, Error> {
        Err(not_simulated())
    }
    async fn delete(&self, _: &str) -> Result<bool, Error> {
        self.deleted.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let total = segment.total.max(1) as usize;
        let start = match cursor.and_then(index_of) {
            Some(after) => after + total,
            None => segment.index as usize,
        };
        let ids: Vec<String> = (start..self.count)
            .step_by(total)
            .take(limit)
            .map(id_of)
            .collect();
        let next = ids
            .last()
            .filter(|last| index_of(last).is_some_and(|i| i + total < self.count))
            .cloned();
        Ok(ConnectionPage {
            connection_ids: ids,
            next_cursor: next,
        })
    }
    async fn count(&self) -> Result<u64, Error> {
        Ok(self.count as u64)
    }
    async fn subscribe(
        &self,
        _: &str,
        _: &BTreeSet<String>,
        _: usize,
    ) -> Result<BTreeSet<String>, Error> {
        Err(not_simulated())
    }
    async fn unsubscribe(&self, _: &str, _: &BTreeSet<String>) -> Result<BTreeSet<String>, Error> {
        Err(not_simulated())
    }
    async fn list_subscribers(
        &self,
        _: &str,
        _: Option<&str>,
        _: usize,
    ) -> Result<ConnectionPage, Error> {
        Err(not_simulated())
    }
    async fn count_subscribers(&self, _: &str) -> Result<u64, Error> {
        Err(not_simulated())
    }
    async fn channel_counts(&self, _: usize) -> Result<ChannelCounts, Error> {
        Err(not_simulated())
    }
    async fn connections_of_user(&self, _: &str) -> Result<Vec<String>, Error> {
        Err(not_simulated())
    }
    async fn record_message(&self, _: &str, _: i64) -> Result<u64, Error> {
        Err(not_simulated())
    }
    async fn record_refused_handshake(&self, _: &str, _: u16, _: i64) -> Result<(), Error> {
        Err(not_simulated())
    }
    async fn refused_handshake(&self, _: &str) -> Result<Option<u16>, Error> {
        Err(not_simulated())
    }
}

/// The management API: API Gateway's token bucket, a log-normal latency per call, and a count
/// of what each virtual connection was sent.
struct Sink {
    /// API Gateway's account throttle, as `local-gateway --aws-quotas` applies it.
    bucket: TokenBucket,
    /// ln of the median latency and the log-normal's sigma, in (scaled) seconds.
    mu: f64,
    sigma: f64,
    delivered: Vec<AtomicU8>,
    throttled: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Sink {
    fn new(args: &Args, count: usize) -> Self {
        let scale = args.time_scale;
        let p50 = args.p50_ms / 1000.0 / scale;
        let p99 = args.p99_ms / 1000.0 / scale;
        Self {
            bucket: TokenBucket::new((args.rate * scale) as u32, args.burst as u32),
            mu: p50.ln(),
            // p99 of a log-normal is exp(mu + 2.326 sigma).
            sigma: (p99 / p50).ln() / 2.326,
            delivered: (0..count).map(|_| AtomicU8::new(0)).collect(),
            throttled: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        }
    }

    fn latency(&self) -> Duration {
        // Box–Muller: a standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rand::random::<f64>().max(1e-12), rand::random());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        Duration::from_secs_f64((self.mu + self.sigma * normal).exp())
    }
}

#[async_trait]
impl MessagePusher for Sink {
    async fn push(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        match self.try_push(connection_id, data).await {
            Ok(outcome) => outcome,
            Err(Throttled(reason)) => PushOutcome::Failed(reason),
        }
    }

    async fn try_push(&self, connection_id: &str, _data: &[u8]) -> Result<PushOutcome, Throttled> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        let admitted = self.bucket.try_take();
        tokio::time::sleep(self.latency()).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !admitted {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled(
                "LimitExceededException: Too Many Requests".into(),
            ));
        }
        let Some(index) = index_of(connection_id) else {
            return Ok(PushOutcome::Failed("not a virtual connection".into()));
        };
        if is_gone(index) {
            return Ok(PushOutcome::Gone);
        }
        self.delivered[index].fetch_add(1, Ordering::Relaxed);
        Ok(PushOutcome::Delivered)
    }

    async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
        PushOutcome::Delivered
    }
}

/// The in-memory progress store, watched: how many shards are being worked on at once.
struct Watched {
    inner: InMemoryBroadcasts,
    active: Mutex<BTreeSet<u32>>,
    peak: AtomicUsize,
}

#[async_trait]
impl BroadcastProgress for Watched {
    async fn create(&self, job: &BroadcastJob) -> Result<(), Error> {
        self.inner.create(job).await
    }
    async fn job(&self, id: &str) -> Result<Option<BroadcastJob>, Error> {
        self.inner.job(id).await
    }
    async fn shard(&self, id: &str, shard: u32) -> Result<ShardProgress, Error> {
        self.inner.shard(id, shard).await
    }
    async fn claim(
        &self,
        id: &str,
        shard: u32,
        from: Option<&str>,
        claim: &Claim,
    ) -> Result<(), Error> {
        self.inner.claim(id, shard, from, claim).await?;
        let mut active = self.active.lock().unwrap();
        active.insert(shard);
        self.peak.fetch_max(active.len(), Ordering::Relaxed);
        Ok(())
    }
    async fn complete(
        &self,
        id: &str,
        shard: u32,
        token: &str,
        tally: &PageTally,
    ) -> Result<bool, Error> {
        let last = self
            .inner
            .shard(id, shard)
            .await?
            .claim
            .is_some_and(|claim| claim.last);
        let finished = self.inner.complete(id, shard, token, tally).await?;
        if last {
            self.active.lock().unwrap().remove(&shard);
        }
        Ok(finished)
    }
    async fn report(&self, id: &str) -> Result<Option<AsyncReport>, Error> {
        self.inner.report(id).await
    }
}

async fn run(args: &Args, count: usize) -> Value {
    let store = Arc::new(VirtualStore {
        count,
        deleted: AtomicUsize::new(0),
    });
    let sink = Arc::new(Sink::new(args, count));
    let progress = Arc::new(Watched {
        inner: InMemoryBroadcasts::new(),
        active: Mutex::new(BTreeSet::new()),
        peak: AtomicUsize::new(0),
    });
    let settings = Settings {
        broadcast_concurrency: args.concurrency,
        ..Settings::default()
    };
    let worker = Arc::new(ShardWorker::new(
        Arc::clone(&store) as Arc<dyn ConnectionStore>,
        Arc::clone(&sink) as Arc<dyn MessagePusher>,
        Arc::clone(&progress) as Arc<dyn BroadcastProgress>,
        settings.clone(),
        Arc::new(NoWebhooks),
    ));
    let queue = Arc::new(InProcessQueue::start(
        args.workers,
        worker,
        Duration::from_secs(1),
    ));
    let jobs = AsyncBroadcasts {
        progress: Arc::clone(&progress) as Arc<dyn BroadcastProgress>,
        queue: Arc::clone(&queue) as Arc<dyn ShardQueue>,
        settings: AsyncBroadcastSettings {
            threshold: 0,
            shard_size: args.shard_size,
            workers: args.workers,
        },
    };
    let mut request = lambda_http::Request::new(lambda_http::Body::from(r#"{"type":"sim"}"#));
    *request.method_mut() = http::Method::POST;
    request
        .headers_mut()
        .insert("prefer", http::HeaderValue::from_static("respond-async"));

    let started = Instant::now();
    let response = handle(
        store.as_ref(),
        None,
        sink.as_ref(),
        &settings,
        &NoWebhooks,
        Some(&jobs),
        request,
    )
    .await
    .expect("the handler answers");
    assert_eq!(response.status(), 202, "the broadcast is accepted");
    let accepted: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
    let id = accepted["broadcastId"].as_str().expect("an id").to_owned();
    let report = loop {
        let report = progress.report(&id).await.unwrap().expect("a report");
        if report.status == "completed" {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed().as_secs_f64() * args.time_scale;

    let bound = count as f64 / args.rate;
    let bound_after_burst = (count as f64 - args.burst).max(0.0) / args.rate;
    let twice = sink
        .delivered
        .iter()
        .filter(|n| n.load(Ordering::Relaxed) > 1)
        .count();
    let delivered = sink
        .delivered
        .iter()
        .filter(|n| n.load(Ordering::Relaxed) == 1)
        .count() as u64;
    let gone = (0..count).filter(|i| is_gone(*i)).count() as u64;
    let exact = report.connection_count == count as u64
        && report.sent + report.gone + report.failed == count as u64
        && report.sent == delivered
        && report.gone == gone
        && report.failed == 0
        && twice == 0
        && store.deleted.load(Ordering::Relaxed) as u64 == gone
        && queue.dead_letters().is_empty();
    json!({
        "recipients": count,
        "seconds": elapsed,
        "boundSeconds": bound,
        "ratioToBound": elapsed / bound,
        "ratioToBoundAfterBurst": if bound_after_burst > 0.0 { elapsed / bound_after_burst } else { 0.0 },
        "shards": report.shard_count,
        "throttled429": sink.throttled.load(Ordering::Relaxed),
        "throttleRetries": report.throttle_retries,
        "peakShardsAtOnce": progress.peak.load(Ordering::Relaxed),
        "peakCallsInFlight": sink.peak_in_flight.load(Ordering::Relaxed),
        "sent": report.sent,
        "gone": report.gone,
        "failed": report.failed,
        "sentTwice": twice,
        "exact": exact,
    })
}

#[tokio::main]
async fn main() {
    let args = args();
    println!(
        "broadcast simulation: management API at {}/s (burst {}), latency p50 {} ms / p99 {} ms, \
         {} workers x {} in flight, {} recipients a shard, time scale {}",
        args.rate,
        args.burst,
        args.p50_ms,
        args.p99_ms,
        args.workers,
        args.concurrency,
        args.shard_size,
        args.time_scale
    );
    println!(
        "{:>10} {:>9} {:>9} {:>7} {:>9} {:>8} {:>10} {:>9} {:>6}",
        "recipients",
        "seconds",
        "bound s",
        "ratio",
        "ratio-B",
        "429s",
        "peak shard",
        "in flight",
        "exact"
    );
    let mut results = Vec::new();
    for &count in &args.sizes {
        let result = run(&args, count).await;
        println!(
            "{:>10} {:>9.2} {:>9.2} {:>7.3} {:>9.3} {:>8} {:>10} {:>9} {:>6}",
            count,
            result["seconds"].as_f64().unwrap_or(0.0),
            result["boundSeconds"].as_f64().unwrap_or(0.0),
            result["ratioToBound"].as_f64().unwrap_or(0.0),
            result["ratioToBoundAfterBurst"].as_f64().unwrap_or(0.0),
            result["throttled429"],
            result["peakShardsAtOnce"],
            result["peakCallsInFlight"],
            result["exact"]
        );
        results.push(result);
    }
    let all_exact = results.iter().all(|r| r["exact"] == true);
    if let Some(out) = &args.out {
        let report = json!({
            "mode": "broadcast-simulation",
            "settings": {
                "rate": args.rate, "burst": args.burst, "p50Ms": args.p50_ms, "p99Ms": args.p99_ms,
                "workers": args.workers, "concurrency": args.concurrency,
                "shardSize": args.shard_size, "timeScale": args.time_scale,
            },
            "results": results,
        });
        if let Some(dir) = std::path::Path::new(out).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(
            out,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .expect("writes the results");
    }
    assert!(all_exact, "a report was not exact");
}
