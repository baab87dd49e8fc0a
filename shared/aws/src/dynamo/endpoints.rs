//! Endpoint health records (`domain::ports::store::endpoints`): `ACCOUNT#<id>` /
//! `ENDPOINT_HEALTH`, beside the account item. A delivery batch reads its accounts' records
//! in one `BatchGetItem` (eventually consistent: the record is advisory, and half the read
//! units); keys the service leaves unprocessed are asked once more, then read as healthy.
use super::item::{key_map, Item, ItemReader};
use super::{backend, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::ports::store::endpoints::{url_hash, EndpointHealth, EndpointHealthStore};
use std::collections::HashMap;

/// BatchGetItem's limit of keys per request.
const BATCH_GET_MAX: usize = 100;

fn health_from(item: &Item) -> Result<EndpointHealth, StoreError> {
    let r = ItemReader(item);
    Ok(EndpointHealth {
        url_hash: r.s("url_hash")?.to_string(),
        consecutive_timeouts: r.n("timeouts")?,
        last_timeout_at: r.opt_time("last_timeout_at")?,
    })
}

#[async_trait]
impl EndpointHealthStore for DynamoStore {
    async fn endpoint_health(
        &self,
        account_ids: &[AccountId],
    ) -> Result<HashMap<AccountId, EndpointHealth>, StoreError> {
        let mut ids: Vec<&AccountId> = account_ids.iter().collect();
        ids.sort();
        ids.dedup();
        ids.truncate(BATCH_GET_MAX);
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut request = KeysAndAttributes::builder();
        for id in ids {
            request = request.keys(key_map(keys::endpoint_health(id)));
        }
        let mut request = Some(
            request
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
        for _ in 0..2 {
            let Some(keys_and_attributes) = request.take() else {
                break;
            };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys_and_attributes)
                .send()
                .await
                .map_err(backend)?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let account: AccountId = ItemReader(item)
                    .s("pk")?
                    .trim_start_matches("ACCOUNT#")
                    .into();

                found.insert(account, health_from(item)?);
            }
            request = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .cloned();
        }
        Ok(found)
    }

    async fn record_endpoint_timeout(
        &self,
        account_id: &AccountId,
        url: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let hash = url_hash(url);
        let at = domain::clock::rfc3339_millis(at);
        // Counted on while the record is about this URL; restarted at 1 for a new one.
        let same_url = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::endpoint_health(account_id))))
            .update_expression("SET last_timeout_at = :at ADD timeouts :one")
            .condition_expression("url_hash = :h")
            .expression_attribute_values(":at", AttributeValue::S(at.clone()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":h", AttributeValue::S(hash.clone()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        let attributes = match same_url.map_err(backend) {
            Ok(out) => out.attributes,
            Err(StoreError::Conflict(_)) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_map(keys::endpoint_health(account_id))))
                    .update_expression(
                        "SET url_hash = :h, timeouts = :one, last_timeout_at = :at, #t = :type",
                    )
                    .expression_attribute_names("#t", "type")
                    .expression_attribute_values(":at", AttributeValue::S(at))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":h", AttributeValue::S(hash))
                    .expression_attribute_values(
                        ":type",
                        AttributeValue::S("endpoint_health".into()),
                    )
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                    .send()
                    .await
                    .map_err(backend)?
                    .attributes
            }
            Err(e) => return Err(e),
        };
        let attributes = attributes.unwrap_or_default();
        ItemReader(&attributes).n("timeouts")
    }

    async fn clear_endpoint_health(&self, account_id: &AccountId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::endpoint_health(account_id))))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
