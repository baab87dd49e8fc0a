//! The attempt ledger in DynamoDB.
use super::item::{key_map, ttl, ItemBuilder};
use super::{backend, DynamoStore, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::model::DeliveryOutcome;
use domain::ports::store::attempts::*;
use std::time::Duration;
use uuid::Uuid;

fn key(event_id: Uuid, series: &str, attempt: u32) -> (String, String) {
    (
        super::keys::event(&event_id).0,
        format!("ATTEMPT#{series}#{attempt:02}"),
    )
}

#[async_trait]
impl AttemptLedger for DynamoStore {
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
        let item = ItemBuilder::keyed(key(event_id, series, attempt))
            .s("type", "delivery_claim")
            .s("state", "in_flight")
            .n("lease_until", lease_until.timestamp_millis())
            .n(TTL_ATTRIBUTE, ttl(now + ATTEMPT_TTL))
            .build();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :in_flight AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_flight", AttributeValue::S("in_flight".into()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.timestamp_millis().to_string()),
            )
            .send()
            .await;
        match res.map_err(backend) {
            Ok(_) => Ok(Claim::Won),
            Err(StoreError::Conflict(_)) => Ok(Claim::Taken),
            Err(e) => Err(e),
        }
    }

    async fn finish_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key(event_id, series, attempt))))
            .update_expression("SET #state = :done, outcome = :o")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":o", AttributeValue::S(outcome.as_str().into()))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
