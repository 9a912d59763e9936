//! The delayed leave: where a pending leave's check goes to run after the grace period. A seam
//! because it is invoked differently on AWS (an SQS message with a delay, to the
//! `presence-leave` function, here) and in the local gateway (a timer in the process,
//! `handlers::presence::InProcessLeaves`), while the check itself
//! (`handlers::presence::confirm_leave`) is the same code.
//!
//! Both are at-least-once at best and may run a check late or twice: the check re-reads the
//! member and removes them only if they are still gone with the same token, so a duplicate or a
//! return in the meantime announces nothing.

use crate::Error;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A pending leave to check after the grace period: the body of the SQS message on AWS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveCheck {
    pub channel: String,
    pub user: String,
    pub token: String,
}

#[async_trait]
pub trait LeaveScheduler: Send + Sync + 'static {
    /// Runs `check` once `delay` has passed (or hands it to what will).
    async fn schedule(&self, check: LeaveCheck, delay: Duration) -> Result<(), Error>;
}

/// On AWS: an SQS message delayed by the grace period (`DelaySeconds`, at most 900 s, which is
/// why `PRESENCE_LEAVE_GRACE_SECONDS` stops there), consumed by `presence-leave`.
pub struct SqsLeaveQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsLeaveQueue {
    pub fn new(sdk_config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk_config),
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl LeaveScheduler for SqsLeaveQueue {
    async fn schedule(&self, check: LeaveCheck, delay: Duration) -> Result<(), Error> {
        let body = serde_json::to_string(&check).map_err(|err| Error::Config(err.to_string()))?;
        let delay = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|err| {
                Error::StoreUnavailable(format!(
                    "SQS SendMessage to the presence leave queue: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&err)
                ))
            })?;
        Ok(())
    }
}
