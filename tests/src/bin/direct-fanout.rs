//! The benchmark's baseline: a WebSocket fan-out over the same kind of sockets as the gateway
//! (axum, tungstenite, 4 KiB read buffers), writing to the sockets directly: no handler, no
//! store, no `@connections` hop. `POST /{stage}/broadcast` sends the body to every client; a
//! client's text message is answered with a pong at once.
//!
//! Usage: direct-fanout PORT

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Sink = Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>;

#[derive(Default)]
struct Clients {
    next_id: AtomicU64,
    sinks: Mutex<HashMap<u64, Sink>>,
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3002);
    let clients = Arc::new(Clients::default());
    let app = Router::new()
        .route("/dev", get(upgrade))
        .route("/dev/broadcast", post(broadcast))
        .with_state(clients);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

async fn upgrade(
    State(clients): State<Arc<Clients>>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(clients, socket))
}

async fn serve(clients: Arc<Clients>, socket: WebSocket) {
    let id = clients.next_id.fetch_add(1, Ordering::Relaxed);
    let (sink, mut stream) = socket.split();
    let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
    clients.sinks.lock().unwrap().insert(id, Arc::clone(&sink));
    while let Some(Ok(message)) = stream.next().await {
        if let Message::Text(_) = message {
            let pong = Message::text(r#"{"type":"pong"}"#);
            if sink.lock().await.send(pong).await.is_err() {
                break;
            }
        }
    }
    clients.sinks.lock().unwrap().remove(&id);
}

async fn broadcast(State(clients): State<Arc<Clients>>, body: Bytes) -> String {
    let sinks: Vec<Sink> = clients.sinks.lock().unwrap().values().cloned().collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    let message = Message::text(text);
    futures::stream::iter(sinks)
        .for_each_concurrent(256, |sink| {
            let message = message.clone();
            async move {
                let _ = sink.lock().await.send(message).await;
            }
        })
        .await;
    format!("{{\"sent\":{}}}", clients.sinks.lock().unwrap().len())
}
