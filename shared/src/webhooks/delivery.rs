//! Signing and delivering one event, with retries: the same code in the dispatch Lambda and the
//! local gateway. Every attempt carries the event's id as `webhook-id`, a fresh
//! `webhook-timestamp` and the signature over both.

use super::event::WebhookEvent;
use super::signature::WebhookSecret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// A 2xx on the given attempt (1-based).
    Yes { attempts: u32 },
    /// Every attempt failed; the last failure's reason.
    Dead { attempts: u32, last_error: String },
}

/// Running totals, shown under `webhooks` in the local gateway's `/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub dropped: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "delivered": self.delivered.load(Ordering::Relaxed),
            "retried": self.retried.load(Ordering::Relaxed),
            "dead": self.dead.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
        })
    }
}

/// Signs and posts events to one receiver.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    url: String,
    secret: WebhookSecret,
    max_attempts: u32,
    retry_base: Duration,
}

impl Deliverer {
    /// A deliverer to `url`, each attempt bounded by `timeout`, the first retry after
    /// `retry_base` (see `settings::webhook::WebhookSettings::deliverer`).
    pub fn new(
        url: &str,
        secret: WebhookSecret,
        max_attempts: u32,
        timeout: Duration,
        retry_base: Duration,
    ) -> Result<Self, crate::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|err| crate::Error::Config(format!("webhook HTTP client: {err}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            secret,
            max_attempts,
            retry_base,
        })
    }

    /// Delivers `event`, retrying with backoff on a non-2xx answer, a network error or a
    /// timeout, up to the configured attempts. Never panics, never gives up early.
    pub async fn deliver(&self, event: &WebhookEvent, counters: &Counters) -> Delivered {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(err) => {
                counters.dead.fetch_add(1, Ordering::Relaxed);
                return Delivered::Dead {
                    attempts: 0,
                    last_error: format!("cannot serialise the event: {err}"),
                };
            }
        };
        let mut last_error = String::new();
        for attempt in 1..=self.max_attempts {
            if attempt > 1 {
                counters.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.delay_before(attempt)).await;
            }
            match self.attempt(&event.id, &body).await {
                Ok(()) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(id = %event.id, event = event.event_type.as_str(), attempt, "webhook delivered");
                    return Delivered::Yes { attempts: attempt };
                }
                Err(error) => {
                    tracing::info!(id = %event.id, event = event.event_type.as_str(), attempt, %error, "webhook attempt failed");
                    last_error = error;
                }
            }
        }
        counters.dead.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            id = %event.id,
            event = event.event_type.as_str(),
            attempts = self.max_attempts,
            error = %last_error,
            "webhook dead: every attempt failed"
        );
        Delivered::Dead {
            attempts: self.max_attempts,
            last_error,
        }
    }

    async fn attempt(&self, id: &str, body: &[u8]) -> Result<(), String> {
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", self.secret.sign(id, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    "timed out".to_owned()
                } else {
                    format!("request failed: {err}")
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered {status}"))
        }
    }

    /// `retry_base` doubling per attempt, capped, with up to 25 % jitter so retries of many
    /// events do not arrive in lockstep.
    fn delay_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        let delay = self
            .retry_base
            .saturating_mul(1 << doublings)
            .min(MAX_RETRY_DELAY);
        let jitter = delay.mul_f64(rand::random::<f64>() * 0.25);
        delay + jitter
    }
}
