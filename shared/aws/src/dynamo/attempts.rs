//! The attempt ledger in DynamoDB.
use super::item::{key_map, ttl, ItemBuilder, ItemReader};
use super::{backend, DynamoStore, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::attempts::*;
use std::time::Duration;
use uuid::Uuid;

fn key(event_id: Uuid, series: &str, attempt: u32) -> (String, String) {
    (
        super::keys::event(&event_id).0,
        format!("{}{attempt:02}", series_prefix(series)),
    )
}

/// The sort-key prefix shared by every attempt of one series.
fn series_prefix(series: &str) -> String {
    format!("ATTEMPT#{series}#")
}

impl DynamoStore {
    /// What a lost claim race found: a finished attempt (with its stored row) or one still
    /// held. Read consistently right after the failed condition; an item that vanished in
    /// between (TTL) counts as held, so the message comes back and claims it then.
    async fn existing_claim(&self, k: (String, String)) -> Result<Claim, StoreError> {
        let Some(item) = self.read(k).await? else {
            return Ok(Claim::InFlight);
        };
        let r = ItemReader(&item);
        if r.s("state")? != "done" {
            return Ok(Claim::InFlight);
        }
        let row: Option<DeliveryAttempt> = r.opt_json("row")?;
        row.map(|row| Claim::Done(Box::new(row)))
            .ok_or_else(|| StoreError::Corrupt("a finished attempt without its row".into()))
    }
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
            Err(StoreError::Conflict(_)) => {
                self.existing_claim(key(event_id, series, attempt)).await
            }
            Err(e) => Err(e),
        }
    }

    async fn finish_attempt(&self, series: &str, row: &DeliveryAttempt) -> Result<(), StoreError> {
        let json = serde_json::to_string(row)
            .map_err(|e| StoreError::Corrupt(format!("attempt row: {e}")))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key(row.event_id, series, row.attempt))))
            .update_expression(
                "SET #state = :done, outcome = :o, #row = :row, #type = :type, #ttl = :ttl",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#row", "row")
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":o", AttributeValue::S(row.outcome.as_str().into()))
            .expression_attribute_values(":row", AttributeValue::S(json))
            .expression_attribute_values(":type", AttributeValue::S("delivery_claim".into()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(ttl(row.attempted_at + ATTEMPT_TTL).to_string()),
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn finished_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
    ) -> Result<Option<DeliveryAttempt>, StoreError> {
        Ok(
            match self.existing_claim(key(event_id, series, attempt)).await? {
                Claim::Done(row) => Some(*row),
                Claim::InFlight | Claim::Won => None,
            },
        )
    }

    async fn delivered_attempt(
        &self,
        event_id: Uuid,
        series: &str,
    ) -> Result<Option<u32>, StoreError> {
        // At most one item per attempt of the series (four by default): one small query.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("outcome = :delivered")
            .expression_attribute_values(":pk", AttributeValue::S(super::keys::event(&event_id).0))
            .expression_attribute_values(":prefix", AttributeValue::S(series_prefix(series)))
            .expression_attribute_values(
                ":delivered",
                AttributeValue::S(DeliveryOutcome::Delivered.as_str().into()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let prefix = series_prefix(series);
        out.items()
            .first()
            .map(|item| {
                let sk = ItemReader(item).s("sk")?;
                sk.strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt key {sk}")))
            })
            .transpose()
    }
}
