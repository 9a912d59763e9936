//! Pacing one broadcast to API Gateway's account throttle: every send of the broadcast waits for
//! a slot of one shared [`Pacer`], so a 429 slows the whole broadcast, not just the call that
//! met it (each call backing off alone keeps the others hammering a bucket that is empty).
//!
//! The pace is additive-increase, multiplicative-decrease (AIMD), seeded by what was measured:
//! unpaced until the first 429; on a 429 the rate becomes a fraction of the rate of accepted
//! sends since the previous decrease (under a token bucket that is the bucket's refill rate),
//! at most once per [`COOLDOWN`] so that the many sends in flight when the bucket ran dry count
//! as one signal; each accepted send then raises the rate a little, probing for more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The share of the measured rate kept on a 429.
const DECREASE: f64 = 0.9;
/// Added to the rate (sends per second) per accepted send: the rate grows by about 5% of itself
/// per second of accepted sends, whatever the rate.
const INCREASE_PER_SEND: f64 = 0.05;
/// 429s closer together than this are one signal.
pub const COOLDOWN: Duration = Duration::from_millis(100);
/// The slowest pace (sends per second): a broadcast always moves.
const MIN_RATE: f64 = 10.0;
/// 429s in a row one recipient may meet before it is reported failed: more than the pace ever
/// needs when the account is throttled (the pace adapts within a few), so only a recipient that
/// stays unavailable (its client-side buffer full) is failed.
pub const MAX_THROTTLES_PER_RECIPIENT: u32 = 10;

/// The shared pace of one broadcast (or of one worker's part of it).
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    retries: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Sends per second; `None` until the first 429.
    rate: Option<f64>,
    /// When the next paced send may go.
    next_slot: Instant,
    /// Accepted sends since `measured_since`.
    accepted: u64,
    measured_since: Instant,
    last_decrease: Option<Instant>,
    /// Sends waiting for their slot, and since when at least one has been.
    waiting: usize,
    waiting_since: Option<Instant>,
    waited: Duration,
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

impl Pacer {
    pub fn new() -> Self {
        Self::seeded(None)
    }

    /// Paced from the start at `rate` (sends per second) when given: what an earlier pacer of
    /// the same sender learnt, so that a worker's next shard does not meet the throttle anew.
    pub fn seeded(rate: Option<f64>) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                rate: rate.map(|rate| rate.max(MIN_RATE)),
                next_slot: now,
                accepted: 0,
                measured_since: now,
                last_decrease: None,
                waiting: 0,
                waiting_since: None,
                waited: Duration::ZERO,
            }),
            retries: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this send's slot (at once while no 429 has been seen).
    pub async fn ready(&self) {
        let slot = {
            let mut state = self.state();
            let Some(rate) = state.rate else {
                return;
            };
            let now = Instant::now();
            let slot = state.next_slot.max(now);
            state.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
            if slot <= now {
                return;
            }
            state.waiting += 1;
            if state.waiting == 1 {
                state.waiting_since = Some(now);
            }
            slot
        };
        let _waiting = Waiting(self);
        tokio::time::sleep_until(slot).await;
    }

    /// An answer other than 429: one token's worth of the account's rate used.
    pub fn accepted(&self) {
        let mut state = self.state();
        state.accepted += 1;
        if let Some(rate) = state.rate.as_mut() {
            *rate += INCREASE_PER_SEND;
        }
    }

    /// A 429: slows the pace (at most once per [`COOLDOWN`]) and counts the retry to come.
    pub fn throttled(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        let now = Instant::now();
        if state
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < COOLDOWN)
        {
            return;
        }
        // The first 429: the accepted rate so far is the best guess of the bucket's. After
        // that the pace itself is the basis (a rate measured over one cooldown is too noisy:
        // it let the pace collapse).
        let basis = state.rate.unwrap_or_else(|| {
            let window = now.duration_since(state.measured_since).max(COOLDOWN);
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let measured = state.accepted as f64 / window.as_secs_f64();
            measured
        });
        let rate = (basis * DECREASE).max(MIN_RATE);
        match state.rate {
            None => tracing::info!(rate = rate.round(), "broadcast throttled (429): pacing"),
            Some(_) => tracing::debug!(rate = rate.round(), "broadcast throttled again: slower"),
        }
        state.rate = Some(rate);
        state.accepted = 0;
        state.measured_since = now;
        state.last_decrease = Some(now);
        // The bucket is empty now: the next send waits for one slot of the new pace.
        state.next_slot = state
            .next_slot
            .max(now + Duration::from_secs_f64(1.0 / rate));
    }

    /// 429s met and retried.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Wall-clock time during which at least one send was held back to the pace: what the
    /// throttle cost the broadcast.
    pub fn throttled_for(&self) -> Duration {
        let state = self.state();
        let ongoing = state
            .waiting_since
            .map_or(Duration::ZERO, |since| since.elapsed());
        state.waited + ongoing
    }

    /// The current pace in sends per second, `None` while unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }
}

/// A send waiting for its slot; counted off when it goes (or is dropped).
struct Waiting<'a>(&'a Pacer);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.waiting = state.waiting.saturating_sub(1);
        if state.waiting == 0
            && let Some(since) = state.waiting_since.take()
        {
            state.waited += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unpaced_until_a_429_then_paced_below_the_measured_rate() {
        let pacer = Pacer::new();
        for _ in 0..100 {
            pacer.ready().await;
            pacer.accepted();
        }
        assert_eq!(pacer.rate(), None);
        tokio::time::sleep(Duration::from_millis(200)).await;
        pacer.throttled();
        // 100 accepted in a little over 200 ms: under 500/s, and 90% of it.
        let rate = pacer.rate().expect("paced");
        assert!((MIN_RATE..=450.0).contains(&rate), "{rate}");
        // A burst of 429s from the sends in flight is one signal.
        pacer.throttled();
        pacer.throttled();
        assert_eq!(pacer.rate(), Some(rate));
        assert_eq!(pacer.retries(), 3);
    }

    #[tokio::test]
    async fn paced_sends_go_one_slot_apart_and_the_wait_is_counted() {
        let pacer = Pacer::new();
        for _ in 0..20 {
            pacer.accepted();
        }
        tokio::time::sleep(COOLDOWN).await;
        pacer.throttled(); // 20 in a little over 100 ms: at most 180/s.
        let rate = pacer.rate().expect("paced");
        let start = Instant::now();
        for _ in 0..45 {
            pacer.ready().await;
        }
        let bound = Duration::from_secs_f64(45.0 / rate);
        assert!(
            start.elapsed() >= bound,
            "{:?} < {bound:?}",
            start.elapsed()
        );
        assert!(pacer.throttled_for() >= bound.mul_f64(0.9));
    }

    #[tokio::test]
    async fn accepted_sends_raise_the_pace_and_it_never_stops() {
        let pacer = Pacer::new();
        pacer.throttled();
        assert_eq!(pacer.rate(), Some(MIN_RATE), "nothing accepted yet");
        for _ in 0..200 {
            pacer.accepted();
        }
        assert!(pacer.rate().unwrap() > MIN_RATE + 9.0);
    }
}
