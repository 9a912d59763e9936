//! What every surface of the gateway shares: its configuration, its routes, the open
//! connections and the store the in-process handlers use.

use crate::config::GatewayConfig;
use crate::invoke::{self, InvocationFailure, LambdaFunction};
use crate::recorder::Recorder;
use crate::registry::Registry;
use crate::routing::RouteTable;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;
use ws_bridge::settings::webhook::WebhookSettings;
use ws_bridge::{ConnectionStore, Settings};

pub(crate) struct GatewayState {
    pub config: GatewayConfig,
    /// The settings the project's functions run with: the flags, then the template's
    /// variables, then the defaults (what the inspector shows).
    pub settings: Settings,
    pub webhook_settings: WebhookSettings,
    pub routes: RouteTable,
    pub registry: Registry,
    pub store: Arc<dyn ConnectionStore>,
    /// What the inspector shows: the recorder of everything below.
    pub inspector: Recorder,
    /// API Gateway's account quotas, with `--aws-quotas`.
    pub quotas: crate::quotas::Quotas,
    /// The `$disconnect` invocations still running, which shutdown waits for.
    pub disconnects: Arc<InFlight>,
}

impl GatewayState {
    /// Invokes `function` with `event`, bounded by the configured integration timeout.
    pub async fn invoke(
        &self,
        function: &Arc<dyn LambdaFunction>,
        event: &Value,
    ) -> Result<Vec<u8>, InvocationFailure> {
        let started = std::time::Instant::now();
        let (outcome, init_duration) =
            invoke::timed(function, event, self.config.integration_timeout()).await;
        self.inspector.invocation(
            function.name(),
            event,
            &outcome,
            started.elapsed(),
            init_duration,
        );
        outcome
    }
}

/// Invocations still running that nobody awaits (`$disconnect` runs after its socket is gone).
/// Shutdown waits for them, within its grace: cut short, a `$disconnect` would leave the closed
/// connections' rows behind in a store that outlives the gateway (DynamoDB Local).
#[derive(Default)]
pub(crate) struct InFlight {
    running: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Counts one in until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    /// Completes when none is running.
    pub(crate) async fn idle(&self) {
        loop {
            // Registered before the check, so a guard dropped in between still wakes it.
            let notified = self.idle.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_waits_for_every_guard() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.idle().await;
        let (one, two) = (in_flight.enter(), in_flight.enter());
        let waiting = tokio::spawn({
            let in_flight = Arc::clone(&in_flight);
            async move { in_flight.idle().await }
        });
        drop(one);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one is still running");
        drop(two);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("idle once the last is done")
            .unwrap();
    }
}
