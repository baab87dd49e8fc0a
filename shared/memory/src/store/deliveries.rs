//! The delivery log (mirrors `dynamo/deliveries.rs`).
use super::{ms, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::deliveries::*;

fn retention() -> chrono::Duration {
    chrono::Duration::days(RETENTION_DAYS)
}

/// The TTL attribute (`attempted_at` + retention, epoch seconds) has passed.
fn is_expired(a: &DeliveryAttempt, now: DateTime<Utc>) -> bool {
    (a.attempted_at + retention()).timestamp() <= now.timestamp()
}

#[async_trait]
impl DeliveryLog for MemoryStore {
    /// An unconditional put keyed by the attempt's sort key: the same attempt written again
    /// replaces its row (and moves it between outcome filters).
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError> {
        let mut a = attempt.clone();
        a.attempted_at = ms(a.attempted_at);
        a.next_attempt_at = a.next_attempt_at.map(ms);
        let sk = delivery_sort_key(a.attempted_at, &a.event_id, a.attempt);
        self.state()
            .deliveries
            .entry(a.account_id.clone())
            .or_default()
            .insert(sk, a);
        Ok(())
    }

    /// The adapter's query: sort keys between the retention horizon and `DELIVERY$`, newest
    /// first, strictly below the cursor's sort key, expired rows (by TTL seconds) skipped, one
    /// row more than the page to know whether there is a next one. A cursor at or below the
    /// horizon ends the log.
    async fn deliveries(
        &self,
        account_id: &AccountId,
        query: &DeliveryQuery,
        now: DateTime<Utc>,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
        let from = format!(
            "{DELIVERY_PREFIX}{}",
            domain::clock::rfc3339_millis(now - retention())
        );
        let to = "DELIVERY$".to_string();
        let after = query.after.as_ref().map(|c| c.sort_key().to_string());
        if after.as_deref().is_some_and(|sk| sk <= from.as_str()) {
            return Ok(DeliveryPage {
                attempts: Vec::new(),
                next_cursor: None,
            });
        }
        let upper = match &after {
            Some(sk) => std::ops::Bound::Excluded(sk.clone()),
            None => std::ops::Bound::Included(to),
        };
        let s = self.state();
        let rows: Vec<(String, DeliveryAttempt)> = match s.deliveries.get(account_id) {
            None => Vec::new(),
            Some(log) => log
                .range((std::ops::Bound::Included(from), upper))
                .rev()
                .filter(|(_, a)| query.outcome.is_none_or(|o| a.outcome == o))
                .filter(|(_, a)| !is_expired(a, now))
                .take(limit + 1)
                .map(|(sk, a)| (sk.clone(), a.clone()))
                .collect(),
        };
        Ok(DeliveryPage::from_rows(rows, limit, query.outcome))
    }

    async fn deliveries_between(
        &self,
        account_id: &AccountId,
        outcome: DeliveryOutcome,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let Some((from, to)) = delivery_key_range(since, until, now) else {
            return Ok(Vec::new());
        };
        let s = self.state();
        Ok(s.deliveries.get(account_id).map_or_else(Vec::new, |log| {
            log.range(from..=to)
                .filter(|(_, a)| a.outcome == outcome && !is_expired(a, now))
                .map(|(_, a)| a.clone())
                .collect()
        }))
    }
}
