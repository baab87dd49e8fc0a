//! The do-not-call list in DynamoDB: one item per number in the account's partition
//! (`keys::suppression`), layout in `domain::ports::store::suppressions`. Never logs a number.
use super::errors::applied;
use super::item::{key_map, ItemBuilder, ItemReader};
use super::{backend, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::AccountId;
use domain::ports::store::suppressions::*;

#[async_trait]
impl SuppressionStore for DynamoStore {
    async fn suppress(
        &self,
        account_id: &AccountId,
        phone: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = ItemBuilder::keyed(keys::suppression(account_id, phone))
            .s("type", "suppression")
            .s("account_id", account_id)
            .s("phone_number", phone)
            .time("created_at", at)
            .build();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        applied(res.map_err(backend))
    }

    async fn unsuppress(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::suppression(account_id, phone))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        applied(res.map_err(backend))
    }

    async fn is_suppressed(&self, account_id: &AccountId, phone: &str) -> Result<bool, StoreError> {
        Ok(self
            .read(keys::suppression(account_id, phone))
            .await?
            .is_some())
    }

    async fn suppressions(
        &self,
        account_id: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let limit = limit.clamp(1, MAX_SUPPRESSION_PAGE);
        let (pk, _) = keys::suppression(account_id, "");
        let want = limit + 1;
        let mut start = after.map(|a| key_map(keys::suppression(account_id, a)));
        let mut rows = Vec::with_capacity(want);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(keys::SUPPRESSION_PREFIX.into()),
                )
                .consistent_read(true)
                .limit(i32::try_from(want - rows.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in out.items() {
                let r = ItemReader(item);
                rows.push(Suppression {
                    phone: r.s("phone_number")?.to_string(),
                    created_at: r.time("created_at")?,
                });
            }
            match out.last_evaluated_key() {
                Some(k) if rows.len() < want => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(SuppressionPage::from_rows(rows, limit))
    }
}
