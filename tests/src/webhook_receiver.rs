//! A webhook receiver on loopback that records every request (headers and raw body) and
//! answers as the test asks: accepting, failing the first attempts of each event, always
//! failing, or never answering.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use ws_bridge::webhooks::WebhookSecret;

/// The secret tests sign with (`whsec_` + base64 of 32 bytes).
pub const SECRET: &str = "whsec_dGhpcnR5LXR3by1ieXRlcy1vZi10ZXN0LXNlY3JldC0hIQ==";

#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Accept,
    /// 500 to the first `n` attempts of each `webhook-id`, then 200.
    FailFirst(usize),
    /// 500 to everything.
    AlwaysFail,
    /// Reads the request, then never answers.
    Hang,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Bytes,
    /// What the receiver answered (0 while hanging).
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }

    /// Checks the Standard Webhooks signature with `secret`.
    pub fn verifies_with(&self, secret: &str, body: &[u8]) -> bool {
        let secret: WebhookSecret = secret.parse().expect("a whsec_ secret");
        let timestamp: i64 = self.timestamp.parse().expect("a numeric webhook-timestamp");
        secret.verify(&self.id, timestamp, body, &self.signature)
    }
}

struct Shared {
    behaviour: Behaviour,
    requests: Mutex<Vec<Recorded>>,
    attempts: Mutex<HashMap<String, usize>>,
}

pub struct Receiver {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Arc::new(Shared {
            behaviour,
            requests: Mutex::default(),
            attempts: Mutex::default(),
        });
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The bodies of the requests answered 200, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.status == 200)
            .map(Recorded::json)
            .collect()
    }

    /// The first accepted event of `event_type` satisfying `matches`, waiting up to `within`.
    pub async fn event(
        &self,
        event_type: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(found) = self
                .events()
                .into_iter()
                .find(|e| e["type"] == event_type && matches(e))
            {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {event_type} event arrived; got {:?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let status = match shared.behaviour {
        Behaviour::Accept => StatusCode::OK,
        Behaviour::AlwaysFail => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::FailFirst(n) => {
            let mut attempts = shared.attempts.lock().unwrap();
            let seen = attempts.entry(id.clone()).or_default();
            *seen += 1;
            if *seen <= n {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
        Behaviour::Hang => StatusCode::from_u16(599).unwrap(),
    };
    shared.requests.lock().unwrap().push(Recorded {
        id,
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        status: if matches!(shared.behaviour, Behaviour::Hang) {
            0
        } else {
            status.as_u16()
        },
    });
    if matches!(shared.behaviour, Behaviour::Hang) {
        std::future::pending::<()>().await;
    }
    status
}
