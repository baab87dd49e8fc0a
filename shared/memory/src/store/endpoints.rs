//! Endpoint health records (`aws_adapters::dynamo::endpoints`): one per account.
use super::{ms, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::ports::store::endpoints::{url_hash, EndpointHealth, EndpointHealthStore};
use std::collections::HashMap;

#[async_trait]
impl EndpointHealthStore for MemoryStore {
    async fn endpoint_health(
        &self,
        account_ids: &[AccountId],
    ) -> Result<HashMap<AccountId, EndpointHealth>, StoreError> {
        let s = self.state();
        Ok(account_ids
            .iter()
            .filter_map(|id| Some((id.clone(), s.endpoint_health.get(id)?.clone())))
            .collect())
    }

    async fn record_endpoint_timeout(
        &self,
        account_id: &AccountId,
        url: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let hash = url_hash(url);
        let mut s = self.state();
        let h = s.endpoint_health.entry(account_id.clone()).or_default();
        if h.url_hash != hash {
            *h = EndpointHealth {
                url_hash: hash,
                ..EndpointHealth::default()
            };
        }
        h.consecutive_timeouts = h.consecutive_timeouts.saturating_add(1);
        h.last_timeout_at = Some(ms(at));
        Ok(h.consecutive_timeouts)
    }

    async fn clear_endpoint_health(&self, account_id: &AccountId) -> Result<(), StoreError> {
        self.state().endpoint_health.remove(account_id);
        Ok(())
    }
}
