//! The do-not-call list (mirrors `dynamo/suppressions.rs`): numbers in sort-key order per
//! account, like the account partition's `SUPPRESSION#` range.
use super::{ms, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::ports::store::suppressions::*;
use std::ops::Bound;

#[async_trait]
impl SuppressionStore for MemoryStore {
    /// `attribute_not_exists(pk)`: a second suppression keeps the first.
    async fn suppress(
        &self,
        account_id: &AccountId,
        phone: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let list = s.suppressions.entry(account_id.clone()).or_default();
        if list.contains_key(phone) {
            return Ok(false);
        }
        list.insert(phone.to_string(), ms(at));
        Ok(true)
    }

    async fn unsuppress(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        Ok(s.suppressions
            .get_mut(account_id)
            .is_some_and(|l| l.remove(phone).is_some()))
    }

    async fn is_suppressed(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError> {
        Ok(self
            .state()
            .suppressions
            .get(account_id)
            .is_some_and(|l| l.contains_key(phone)))
    }

    async fn suppressions(
        &self,
        account_id: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let limit = limit.clamp(1, MAX_SUPPRESSION_PAGE);
        let s = self.state();
        let rows = s
            .suppressions
            .get(account_id)
            .map(|l| {
                let from = match after {
                    Some(a) => Bound::Excluded(a.to_string()),
                    None => Bound::Unbounded,
                };
                l.range((from, Bound::Unbounded))
                    .take(limit + 1)
                    .map(|(phone, at)| Suppression {
                        phone: phone.clone(),
                        created_at: *at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(SuppressionPage::from_rows(rows, limit))
    }
}
