//! Accepting and serving connections, as `axum::serve` does plus two bounds it lacks: a header
//! read timeout, and a cap on connections whose first request head is still unread. Without
//! them a client that opens sockets and never finishes a handshake (slowloris) holds each one
//! forever, and as many as it likes.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

pub(crate) struct ServeLimits {
    /// For a request head to arrive, the first one (a handshake's) or the next on a keep-alive
    /// connection.
    pub(crate) header_read_timeout: Duration,
    /// Accepted connections whose first request head is still unread.
    pub(crate) max_pending_handshakes: usize,
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
    // A permit per pending handshake, taken before accepting: at the cap the gateway stops
    // accepting, and new clients wait in the listen backlog until a pending one completes or
    // times out (rather than being reset while legitimate).
    let pending = Arc::new(Semaphore::new(limits.max_pending_handshakes));
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&pending).acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed; nothing could be accepted if it were.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            permit,
            limits.header_read_timeout,
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
    permit: OwnedSemaphorePermit,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    // Released once the first request head has been read (or when the connection ends first).
    let waiting = Arc::new(Mutex::new(Some(permit)));
    let first_request = Arc::clone(&waiting);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Ok(mut permit) = first_request.lock() {
            permit.take();
        }
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(Body::new))
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
        // A send or the sender gone: either way, stop.
        _ = stop.changed() => {
            // hyper's graceful shutdown would wait out a first request head that never comes
            // (up to the header read timeout); there is no request to finish, so just close.
            if waiting.lock().is_ok_and(|permit| permit.is_some()) {
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

/// As `axum::serve`: a peer that gave up before the accept is nothing; anything else (out of
/// file descriptors, say) is logged and retried after a pause rather than spinning.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
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
