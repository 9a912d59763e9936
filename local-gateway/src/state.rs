//! What every surface of the gateway shares: its configuration, its routes, the open
//! connections and the store the in-process handlers use.

use crate::config::GatewayConfig;
use crate::invoke::{self, InvocationFailure, LambdaFunction};
use crate::recorder::Recorder;
use crate::registry::Registry;
use crate::routing::RouteTable;
use serde_json::Value;
use std::sync::Arc;
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
