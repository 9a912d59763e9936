//! Accepting and serving connections, as `axum::serve` does plus two bounds it lacks: a header
//! read timeout, and a cap on connections whose first request head is still unread. Without
//! them a client that opens sockets and never finishes a handshake (slowloris) holds each one
//! forever, and as many as it likes. At the cap the oldest such connection is closed to make
//! room, so that half-sent handshakes never stand between a new client and the gateway.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

pub(crate) struct ServeLimits {
    /// For a request head to arrive, the first one (a handshake's) or the next on a keep-alive
    /// connection.
    pub(crate) header_read_timeout: Duration,
    /// Accepted connections whose first request head is still unread.
    pub(crate) max_pending_handshakes: usize,
    /// `--check-stage-host`: every request from the network must name one of these hosts
    /// (in-process calls, which name none, are not checked).
    pub(crate) hosts: Option<AllowedHosts>,
}

/// The default cap on pending handshakes: half the file descriptors this process may open
/// (the other half for open connections, files and clients), at least 256.
pub(crate) fn default_max_pending_handshakes() -> usize {
    let limit = file_limit().map_or(1024, |(soft, _)| soft);
    usize::try_from(limit / 2).unwrap_or(usize::MAX).max(256)
}

/// Raises this process's soft limit on open files to its hard limit, and returns the soft
/// limit now in force: each connection, pending or open, is a descriptor, and distributions
/// often start processes at 1,024 although they may open far more.
pub fn raise_file_limit() -> Option<u64> {
    let (soft, hard) = file_limit()?;
    if soft < hard {
        let raised = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(hard);
        }
    }
    Some(soft)
}

fn file_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some((limit.rlim_cur, limit.rlim_max))
}

/// The connections whose first request head is still unread, oldest first. Each one waits on
/// its receiver; sending to it closes that connection.
struct Pending {
    cap: usize,
    waiting: Mutex<(u64, BTreeMap<u64, oneshot::Sender<()>>)>,
}

/// One pending connection's place; giving it up (the head arrived, or the connection ended)
/// removes it.
struct Slot {
    pending: Arc<Pending>,
    id: u64,
}

impl Pending {
    fn admit(self: &Arc<Self>) -> (Slot, oneshot::Receiver<()>) {
        let (evict, evicted) = oneshot::channel();
        let mut waiting = self.lock();
        while waiting.1.len() >= self.cap {
            if let Some((_, oldest)) = waiting.1.pop_first() {
                let _ = oldest.send(());
            }
        }
        let id = waiting.0;
        waiting.0 += 1;
        waiting.1.insert(id, evict);
        let slot = Slot {
            pending: Arc::clone(self),
            id,
        };
        (slot, evicted)
    }

    /// Closes the oldest eighth of the pending connections (at least one), out of file
    /// descriptors: the backlog may hold thousands more half-sent handshakes ahead of a new
    /// client, and one eviction per accept would let it in only after all of them. Returns
    /// whether any was closed.
    fn evict_oldest(&self) -> bool {
        let mut waiting = self.lock();
        let count = (waiting.1.len() / 8).max(1);
        let mut evicted = false;
        for _ in 0..count {
            match waiting.1.pop_first() {
                Some((_, oldest)) => evicted |= oldest.send(()).is_ok(),
                None => break,
            }
        }
        evicted
    }

    // Every update is one insert or remove, so a poisoned map is still consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, BTreeMap<u64, oneshot::Sender<()>>)> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pending.lock().1.remove(&self.id);
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish and returns. Upgraded connections (WebSockets) are no longer hyper's by then;
/// the registry closes those.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let pending = Arc::new(Pending {
        cap: limits.max_pending_handshakes.max(1),
        waiting: Mutex::new((0, BTreeMap::new())),
    });
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err, &pending).await;
                    continue;
                }
            },
        };
        let (slot, evicted) = pending.admit();
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            (slot, evicted),
            limits.header_read_timeout,
            limits.hosts.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(());
    while connections.join_next().await.is_some() {}
}

async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    (slot, mut evicted): (Slot, oneshot::Receiver<()>),
    header_read_timeout: Duration,
    hosts: Option<AllowedHosts>,
    mut stop: watch::Receiver<()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    // Given up once the first request head has been read (or when the connection ends first).
    let waiting = Arc::new(Mutex::new(Some(slot)));
    let first_request = Arc::clone(&waiting);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Ok(mut slot) = first_request.lock() {
            slot.take();
        }
        if let Some(hosts) = &hosts
            && !hosts.allows(AllowedHosts::request_host(&request))
        {
            // API Gateway's shape for a request it will not route.
            let refusal = crate::aws::message(http::StatusCode::FORBIDDEN, "Forbidden");
            return futures::future::Either::Left(std::future::ready(Ok(refusal)));
        }
        request.extensions_mut().insert(ConnectInfo(peer));
        futures::future::Either::Right(app.clone().oneshot(request.map(Body::new)))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        // Still pending when a newcomer needed the room: the oldest half-sent head goes. (An
        // error means the slot was given up: the head arrived, and this branch is off.)
        Ok(()) = &mut evicted => {
            tracing::debug!(%peer, "closing the oldest pending handshake to make room");
            return;
        }
        // A send or the sender gone: either way, stop.
        _ = stop.changed() => {
            // hyper's graceful shutdown would wait out a first request head that never comes
            // (up to the header read timeout); there is no request to finish, so just close.
            if waiting.lock().is_ok_and(|slot| slot.is_some()) {
                return;
            }
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = served {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// As `axum::serve`: a peer that gave up before the accept is nothing. Out of file
/// descriptors, the oldest pending handshake is closed and the accept retried at once, so that
/// half-sent handshakes cannot keep newcomers out; anything else (or nothing left to close) is
/// logged and retried after a pause rather than spinning.
async fn accept_failed(err: std::io::Error, pending: &Pending) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    let out_of_descriptors = matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
    if out_of_descriptors && pending.evict_oldest() {
        // Let the evicted connection's task run and release its descriptor.
        tokio::time::sleep(Duration::from_millis(1)).await;
        return;
    }
    tracing::error!(error = %err, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The `Host` names a surface answers to: `localhost` (and `*.localhost`, which resolve to
/// loopback by RFC 6761), loopback addresses, the address given to `--host`, and the names of
/// `--allowed-host`. A web page the developer visits can point its own name at 127.0.0.1 (DNS
/// rebinding) and so become same-origin with the gateway, but its requests still name its host:
/// that is what this refuses. Names are compared without the port and case-insensitively.
#[derive(Clone, Debug)]
pub(crate) struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub(crate) fn new(host: std::net::IpAddr, extra: &[String]) -> Self {
        let mut names = vec![host.to_string()];
        names.extend(extra.iter().filter_map(|name| normalise_host(name)));
        Self(Arc::new(names))
    }

    /// Whether a request whose `Host` header is `host` may be answered.
    pub(crate) fn allows(&self, host: Option<&str>) -> bool {
        let Some(name) = host.and_then(normalise_host) else {
            return false;
        };
        name == "localhost"
            || name.ends_with(".localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback())
            || self.0.contains(&name)
    }

    /// The `Host` (or, for a request in absolute form, the authority) a request names.
    pub(crate) fn request_host<B>(request: &http::Request<B>) -> Option<&str> {
        request
            .headers()
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            })
    }
}

/// `Example.COM.:3001` → `example.com`; `[::1]:3001` → `::1`; `None` for an empty name.
fn normalise_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = if let Some(bracketed) = raw.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        match raw.rsplit_once(':') {
            // One colon and digits after it: a port. (More colons: a bare IPv6 address.)
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                name
            }
            _ => raw,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Connections the kernel may hold complete but not yet accepted. `TcpListener::bind` asks for
/// 128, so a burst of clients (a reconnect storm, a load test) overflowed it and the SYNs beyond
/// were dropped, stalling those connects for seconds of retransmission. The kernel caps this at
/// `net.core.somaxconn` (4096 by default since Linux 5.4).
const LISTEN_BACKLOG: u32 = 4096;

pub(crate) fn bind_listener(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restart can bind while old sockets are in TIME_WAIT.
    // (On Windows the option would let another process steal the port.)
    if cfg!(unix) {
        socket.set_reuseaddr(true)?;
    }
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Connections the kernel completes while the server has not accepted any yet: with
    /// tokio's default backlog of 128, the SYNs beyond it are dropped and those connects hang.
    /// Linux only: other kernels cap the backlog lower (macOS's `somaxconn` is 128).
    #[test]
    fn the_allow_list_takes_loopback_names_the_host_given_and_named_extras() {
        let hosts = AllowedHosts::new("192.168.1.20".parse().unwrap(), &["Dev.Example".into()]);
        for allowed in [
            "localhost",
            "LOCALHOST:3001",
            "app.localhost:3001",
            "127.0.0.1:3001",
            "127.8.9.10",
            "[::1]:3001",
            "192.168.1.20:3001",
            "dev.example:3001",
            "dev.example.:80",
        ] {
            assert!(hosts.allows(Some(allowed)), "{allowed}");
        }
        for refused in [
            "evil.example:3001",
            "localhost.evil.example",
            "127.0.0.1.nip.io:3001",
            "192.168.1.21",
            "",
            ":3001",
        ] {
            assert!(!hosts.allows(Some(refused)), "{refused}");
        }
        assert!(!hosts.allows(None));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_listener_queues_a_burst_of_1000_connections_before_any_accept() {
        const BURST: usize = 1000;
        let listener = bind_listener(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..BURST)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_secs(3),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut connected = Vec::new();
        for connect in connects {
            if let Ok(Ok(stream)) = connect.await.unwrap() {
                connected.push(stream);
            }
        }
        assert_eq!(connected.len(), BURST);
        drop(listener);
    }
}
