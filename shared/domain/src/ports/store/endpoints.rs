//! How an account's webhook endpoint has been answering, across the whole fleet.
//!
//! One small record per account (`ACCOUNT#<id>` / `ENDPOINT_HEALTH` in DynamoDB), read for
//! every account of a delivery batch in one request ([`EndpointHealthStore::endpoint_health`]).
//! It counts the endpoint's consecutive timeouts: an endpoint that let [`HANGING_AFTER`]
//! attempts in a row run into the 10 s timeout, the last of them less than
//! [`HANGING_FOR`] ago, is *hanging*, and webhook-delivery sends its first attempts to the
//! retries queue instead of POSTing them on the first-attempts queue, so one tenant's dead
//! endpoint holds the retries lane's executions, never the ones every other tenant's first
//! attempts need (docs/webhooks.md, "Two lanes"). What the customer sees does not change: the
//! same 10 s timeout, the same retry schedule counted from each attempt.
//!
//! The record is advisory: failing to read or write it never fails a delivery. It is written
//! only when something changes (a timeout, or the first answer after timeouts), so a healthy
//! endpoint costs no write at all.

use crate::error::StoreError;
use crate::ids::AccountId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;
use std::collections::HashMap;

/// Consecutive timeouts after which an endpoint is hanging.
pub const HANGING_AFTER: u32 = 3;

/// How long a hanging endpoint stays hanging after its last timeout; then its next first
/// attempt goes to the first-attempts queue again, as a probe.
pub const HANGING_FOR: chrono::Duration = chrono::Duration::minutes(10);

/// The endpoint's record; the default is a healthy endpoint never seen failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointHealth {
    /// SHA-256 hex of the URL the counts are about: a new URL starts healthy.
    pub url_hash: String,
    /// Timeouts in a row since the endpoint last answered.
    pub consecutive_timeouts: u32,
    pub last_timeout_at: Option<DateTime<Utc>>,
}

impl EndpointHealth {
    /// True when the endpoint is hanging at `now`. The URL is not compared: a record is
    /// about the account's endpoint, and the first answer from a new URL clears it.
    pub fn is_hanging(&self, now: DateTime<Utc>) -> bool {
        self.consecutive_timeouts >= HANGING_AFTER
            && self.last_timeout_at.is_some_and(|t| now - t < HANGING_FOR)
    }

    /// True when the record counts timeouts (so an answer must clear it).
    pub fn has_timeouts(&self) -> bool {
        self.consecutive_timeouts > 0
    }
}

/// The hash a record keys its URL by: lowercase hex SHA-256 (a key format of the store, so
/// the port owns it rather than borrowing a signing rule's helper).
pub fn url_hash(url: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(url.as_bytes()))
}

#[port]
#[async_trait]
pub trait EndpointHealthStore: Send + Sync {
    /// The records of these accounts (at most 100), in one request; an account without a
    /// record is absent from the map (healthy).
    async fn endpoint_health(
        &self,
        account_ids: &[AccountId],
    ) -> Result<HashMap<AccountId, EndpointHealth>, StoreError>;
    /// One more timeout of `url`'s endpoint at `at`: counted on from the record when it is
    /// about `url`, from 1 otherwise. Returns the count now stored.
    async fn record_endpoint_timeout(
        &self,
        account_id: &AccountId,
        url: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError>;
    /// The endpoint answered: its record is removed (no-op without one).
    async fn clear_endpoint_health(&self, account_id: &AccountId) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hanging_needs_enough_recent_timeouts() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let mut h = EndpointHealth {
            url_hash: url_hash("https://example.com/hook"),
            consecutive_timeouts: HANGING_AFTER,
            last_timeout_at: Some(now - chrono::Duration::minutes(1)),
        };
        assert!(h.is_hanging(now));
        assert!(
            !h.is_hanging(now + HANGING_FOR),
            "a probe once the last timeout is old"
        );
        h.consecutive_timeouts = HANGING_AFTER - 1;
        assert!(!h.is_hanging(now));
        assert!(h.has_timeouts());
        assert!(!EndpointHealth::default().has_timeouts());
    }
}
