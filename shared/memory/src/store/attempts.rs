//! The attempt ledger (mirrors `dynamo/attempts.rs`).
use super::{AttemptItem, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::EventId;
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::attempts::*;
use std::time::Duration;

fn key(event_id: EventId, series: &str, attempt: u32) -> (EventId, String) {
    (event_id, format!("ATTEMPT#{series}#{attempt:02}"))
}

#[async_trait]
impl AttemptLedger for MemoryStore {
    /// Won if there is no claim, or the claim is still in flight and its lease ended strictly
    /// before `now` (milliseconds); a finished attempt is never claimed again. Winning
    /// replaces the claim with a fresh lease.
    async fn claim_attempt(
        &self,
        event_id: EventId,
        series: &str,
        attempt: u32,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let lease_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let mut s = self.state();
        let k = key(event_id, series, attempt);
        match s.attempts.get(&k) {
            None => {}
            Some(AttemptItem { row: Some(row), .. }) => return Ok(Claim::Done(row.clone())),
            Some(item) => {
                let expired = item
                    .lease_until_ms
                    .is_some_and(|l| l < now.timestamp_millis());
                if !expired {
                    return Ok(Claim::InFlight);
                }
            }
        }
        s.attempts.insert(
            k,
            AttemptItem {
                lease_until_ms: Some(lease_until.timestamp_millis()),
                row: None,
            },
        );
        Ok(Claim::Won)
    }

    /// Unconditional: marks the attempt done with its row, creating the item if there was no
    /// claim.
    async fn finish_attempt(&self, series: &str, row: &DeliveryAttempt) -> Result<(), StoreError> {
        self.state()
            .attempts
            .entry(key(row.event_id, series, row.attempt))
            .or_insert(AttemptItem {
                lease_until_ms: None,
                row: None,
            })
            .row = Some(Box::new(row.clone()));
        Ok(())
    }

    async fn finished_attempt(
        &self,
        event_id: EventId,
        series: &str,
        attempt: u32,
    ) -> Result<Option<DeliveryAttempt>, StoreError> {
        Ok(self
            .state()
            .attempts
            .get(&key(event_id, series, attempt))
            .and_then(|item| item.row.as_deref().cloned()))
    }

    async fn delivered_attempt(
        &self,
        event_id: EventId,
        series: &str,
    ) -> Result<Option<u32>, StoreError> {
        let s = self.state();
        Ok(s.attempts
            .iter()
            .filter(|((e, k), _)| *e == event_id && k.starts_with(&format!("ATTEMPT#{series}#")))
            .filter_map(|(_, item)| item.row.as_ref())
            .find(|row| row.outcome == DeliveryOutcome::Delivered)
            .map(|row| row.attempt))
    }

    async fn series_claims(&self, event_id: EventId) -> Result<Vec<LedgerClaim>, StoreError> {
        let s = self.state();
        let mut claims = Vec::new();
        for ((e, k), item) in s.attempts.iter() {
            if *e != event_id {
                continue;
            }
            let (series, attempt) = k
                .strip_prefix("ATTEMPT#")
                .and_then(|rest| rest.rsplit_once('#'))
                .and_then(|(series, n)| Some((series.to_string(), n.parse().ok()?)))
                .ok_or_else(|| StoreError::Corrupt(format!("attempt key {k}")))?;
            let state = match (&item.row, item.lease_until_ms) {
                (Some(row), _) => LedgerState::Done(row.clone()),
                (None, Some(ms)) => LedgerState::InFlight {
                    lease_until: DateTime::from_timestamp_millis(ms)
                        .ok_or_else(|| StoreError::Corrupt(format!("lease of {k}")))?,
                },
                (None, None) => {
                    return Err(StoreError::Corrupt(format!(
                        "{k}: neither claimed nor done"
                    )))
                }
            };
            claims.push(LedgerClaim {
                series,
                attempt,
                state,
            });
        }
        Ok(claims)
    }
}
