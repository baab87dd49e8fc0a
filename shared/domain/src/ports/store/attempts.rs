//! Which delivery attempts have been made: one small item per (event, series, attempt), claimed
//! before the POST. SQS delivers at least once; the claim makes sure an attempt that already
//! went out (or is going out) is not POSTed again when its message shows up a second time.
use crate::error::StoreError;
use crate::model::DeliveryOutcome;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// Kept as long as the delivery log.
pub const ATTEMPT_TTL: chrono::Duration = chrono::Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller may send the attempt.
    Won,
    /// Already sent, or being sent by another invocation right now.
    Taken,
}

#[async_trait]
pub trait AttemptLedger: Send + Sync {
    /// Claims an attempt for `lease`. A claim whose holder died (lease over, attempt not
    /// finished) can be taken over, so a crash never loses an attempt.
    async fn claim_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError>;
    /// Marks the attempt done; it is never claimed again.
    async fn finish_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError>;
}
