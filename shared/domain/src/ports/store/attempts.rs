//! Which delivery attempts have been made: one small item per (event, series, attempt), claimed
//! before the POST. SQS delivers at least once; the claim makes sure an attempt that already
//! went out (or is going out) is not POSTed again when its message shows up a second time.
//!
//! The ledger is also the delivery pipeline's source of truth for what is done: finishing an
//! attempt stores its log row, so a re-run after a failed later write (log row, next
//! attempt's message) can finish those writes without sending again, and a delivered attempt
//! closes its whole series ([`AttemptLedger::delivered_attempt`]).
use crate::error::StoreError;
use crate::ids::EventId;
use crate::model::DeliveryAttempt;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;
use std::time::Duration;

/// Kept as long as the delivery log.
pub const ATTEMPT_TTL: chrono::Duration = chrono::Duration::days(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller may send the attempt.
    Won,
    /// Another invocation holds the claim and its lease is not over: it may still be sending.
    /// The message must come back later (it is not done, and it may never be if that holder
    /// died), so the caller hands it back to the queue.
    InFlight,
    /// Finished: never sent again. Carries the log row stored by
    /// [`AttemptLedger::finish_attempt`] so the caller can redo the writes that follow it.
    Done(Box<DeliveryAttempt>),
}

/// One claim of an event's ledger, as [`AttemptLedger::series_claims`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerClaim {
    /// The series (`original`, `redelivery-<id>`: `DeliveryMessage::series`).
    pub series: String,
    /// 1.. for attempts; 0 for the marker a redelivery or recovery claims when it queues its
    /// series (the delivery function never uses attempt 0).
    pub attempt: u32,
    pub state: LedgerState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LedgerState {
    /// Claimed, not finished: its holder may be sending until `lease_until`.
    InFlight { lease_until: DateTime<Utc> },
    /// Finished, with the log row it was finished with.
    Done(Box<DeliveryAttempt>),
}

#[port]
#[async_trait]
pub trait AttemptLedger: Send + Sync {
    /// Claims an attempt for `lease`. A claim whose holder died (lease over, attempt not
    /// finished) can be taken over, so a crash never loses an attempt.
    async fn claim_attempt(
        &self,
        event_id: EventId,
        series: &str,
        attempt: u32,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError>;
    /// Marks the attempt (`row.event_id`, `series`, `row.attempt`) done with `row.outcome`; it
    /// is never claimed again, and later claims return `row` in [`Claim::Done`].
    /// Unconditional: it also finishes an attempt that was never claimed.
    async fn finish_attempt(&self, series: &str, row: &DeliveryAttempt) -> Result<(), StoreError>;
    /// The log row of an attempt finished earlier (stored by
    /// [`AttemptLedger::finish_attempt`]), read without claiming: `None` when the attempt was
    /// never finished (unclaimed, or still in flight). A message that comes back after a
    /// later attempt delivered its series uses it to write its own attempt's log row, which
    /// a failed `record_attempt` may have left unwritten.
    async fn finished_attempt(
        &self,
        event_id: EventId,
        series: &str,
        attempt: u32,
    ) -> Result<Option<DeliveryAttempt>, StoreError>;
    /// The attempt of the series that was finished `delivered`, if any: once one attempt got a
    /// 2xx, no attempt of the series is sent again (a late duplicate of an earlier attempt's
    /// message included).
    async fn delivered_attempt(
        &self,
        event_id: EventId,
        series: &str,
    ) -> Result<Option<u32>, StoreError>;
    /// Every claim of the event, of every series, read consistently (a handful of small items:
    /// at most one per attempt and series). Unordered. The redelivery route reads from it
    /// whether a redelivery series is still running (`crate::webhook::series`).
    async fn series_claims(&self, event_id: EventId) -> Result<Vec<LedgerClaim>, StoreError>;
}
