//! The attempt ledger (mirrors `dynamo/attempts.rs`).
use super::{AttemptItem, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::model::DeliveryOutcome;
use domain::ports::store::attempts::*;
use std::time::Duration;
use uuid::Uuid;

fn key(event_id: Uuid, series: &str, attempt: u32) -> (Uuid, String) {
    (event_id, format!("ATTEMPT#{series}#{attempt:02}"))
}

#[async_trait]
impl AttemptLedger for MemoryStore {
    /// Won if there is no claim, or the claim is still in flight and its lease ended strictly
    /// before `now` (milliseconds); a finished attempt is never claimed again. Winning
    /// replaces the claim with a fresh lease.
    async fn claim_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let lease_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let mut s = self.state();
        let k = key(event_id, series, attempt);
        let free = match s.attempts.get(&k) {
            None => true,
            Some(item) => {
                item.in_flight
                    && item
                        .lease_until_ms
                        .is_some_and(|l| l < now.timestamp_millis())
            }
        };
        if !free {
            return Ok(Claim::Taken);
        }
        s.attempts.insert(
            k,
            AttemptItem {
                in_flight: true,
                lease_until_ms: Some(lease_until.timestamp_millis()),
            },
        );
        Ok(Claim::Won)
    }

    /// Unconditional: marks the attempt done, creating the item if there was no claim.
    async fn finish_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        _outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        self.state()
            .attempts
            .entry(key(event_id, series, attempt))
            .or_insert(AttemptItem {
                in_flight: false,
                lease_until_ms: None,
            })
            .in_flight = false;
        Ok(())
    }
}
