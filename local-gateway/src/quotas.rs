//! `--aws-quotas`: API Gateway's account-level quotas, so that a team meets the throttle on its
//! laptop instead of in production: the management API's token bucket (10,000 requests per
//! second, burst 5,000) and new WebSocket connections per second (500). Off by default.
//!
//! What is emulated and what is not is stated in the book (On AWS › Quotas and sizing).

use crate::aws::{self, aws_error};
use crate::flag_groups::QuotaFlags;
use axum::response::Response;
use http::StatusCode;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `rate` a second; a request takes one.
/// Public for `make bench-broadcast`'s simulated management API, which throttles the same way.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// Full, as an account that has been quiet.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            state: Mutex::new(Bucket {
                tokens: f64::from(burst),
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Takes a token at `now`; `false` when the bucket is empty (the request is throttled).
    pub fn try_take_at(&self, now: Instant) -> bool {
        let mut bucket = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(bucket.refilled_at);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        bucket.refilled_at = bucket.refilled_at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }
}

/// The buckets `--aws-quotas` turns on; both `None` without it.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    management_api: Option<TokenBucket>,
    new_connections: Option<TokenBucket>,
}

impl Quotas {
    pub(crate) fn new(flags: &QuotaFlags) -> Self {
        if !flags.aws_quotas {
            return Self::default();
        }
        Self {
            management_api: Some(TokenBucket::new(
                flags.management_api_rate,
                flags.management_api_burst,
            )),
            new_connections: Some(TokenBucket::new(
                flags.new_connection_rate,
                flags.new_connection_rate,
            )),
        }
    }

    pub(crate) fn limits_management_api(&self) -> bool {
        self.management_api.is_some()
    }

    /// `false` when an `@connections` call is beyond the account throttle.
    pub(crate) fn admit_management_call(&self) -> bool {
        self.management_api
            .as_ref()
            .is_none_or(TokenBucket::try_take)
    }

    /// `Some(429)` for a handshake beyond the new-connection rate, answered before the
    /// authorizer or `$connect` run (nothing is invoked for a throttled handshake).
    pub(crate) fn refuse_new_connection(&self) -> Option<Response> {
        let bucket = self.new_connections.as_ref()?;
        if bucket.try_take() {
            return None;
        }
        tracing::debug!("handshake throttled (--new-connection-rate)");
        // API Gateway's default THROTTLED gateway response body; the exact bytes on a WebSocket
        // upgrade are UNCONFIRMED (reference §4.1).
        Some(aws::message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
        ))
    }
}

/// The answer to an `@connections` call beyond the account throttle: 429 with
/// `x-amzn-ErrorType: LimitExceededException`, the service model's error for "more than the
/// allowed number of requests per unit of time" (reference §3.1–3.2), which is what SDKs report
/// from the live service under load (e.g. gchq/sleeper#7494, Java SDK).
pub(crate) fn throttled() -> Response {
    aws_error(
        StatusCode::TOO_MANY_REQUESTS,
        "LimitExceededException",
        Some("Too Many Requests"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[test]
    fn a_bucket_lets_its_burst_through_then_refills_at_its_rate() {
        let bucket = TokenBucket::new(10, 5);
        let start = Instant::now();
        let first: usize = (0..20).filter(|_| bucket.try_take_at(start)).count();
        assert_eq!(first, 5, "the burst");
        // Half a second later: five more tokens, no more.
        let later = start + Duration::from_millis(500);
        let second: usize = (0..20).filter(|_| bucket.try_take_at(later)).count();
        assert_eq!(second, 5);
        // A long pause refills only up to the burst.
        let much_later = later + Duration::from_secs(60);
        let third: usize = (0..20).filter(|_| bucket.try_take_at(much_later)).count();
        assert_eq!(third, 5);
    }

    #[test]
    fn quotas_are_off_by_default_and_a_number_needs_the_switch() {
        let config = crate::GatewayConfig::parse_from(["local-gateway"]);
        let quotas = Quotas::new(&config.quotas);
        assert!(!quotas.limits_management_api());
        assert!(quotas.refuse_new_connection().is_none());
        assert!(
            crate::GatewayConfig::try_parse_from(["local-gateway", "--new-connection-rate", "5"])
                .is_err(),
            "a quota without --aws-quotas would be silently ignored"
        );
        let on = crate::GatewayConfig::parse_from(["local-gateway", "--aws-quotas"]);
        assert_eq!(
            (
                on.quotas.management_api_rate,
                on.quotas.management_api_burst,
                on.quotas.new_connection_rate
            ),
            (10_000, 5_000, 500),
            "AWS's defaults"
        );
    }

    #[test]
    fn the_new_connection_quota_refuses_with_429_beyond_its_rate() {
        let config = crate::GatewayConfig::parse_from([
            "local-gateway",
            "--aws-quotas",
            "--new-connection-rate",
            "2",
        ]);
        let quotas = Quotas::new(&config.quotas);
        assert!(quotas.refuse_new_connection().is_none());
        assert!(quotas.refuse_new_connection().is_none());
        let refusal = quotas
            .refuse_new_connection()
            .expect("the third is throttled");
        assert_eq!(refusal.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
