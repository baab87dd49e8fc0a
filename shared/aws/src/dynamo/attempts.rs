//! The attempt ledger in DynamoDB.
use super::item::{key_map, ttl, ItemBuilder, ItemReader};
use super::{backend, DynamoStore, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::EventId;
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::attempts::*;
use std::time::Duration;

fn key(event_id: EventId, series: &str, attempt: u32) -> (String, String) {
    (
        super::keys::event(&event_id).0,
        format!("{}{attempt:02}", series_prefix(series)),
    )
}

/// The sort-key prefix shared by every attempt of one series.
fn series_prefix(series: &str) -> String {
    format!("ATTEMPT#{series}#")
}

/// A ledger item's series and attempt, from its sort key `ATTEMPT#{series}#{attempt:02}`.
fn parse_key(sk: &str) -> Option<(String, u32)> {
    let rest = sk.strip_prefix("ATTEMPT#")?;
    let (series, attempt) = rest.rsplit_once('#')?;
    Some((series.to_string(), attempt.parse().ok()?))
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
        event_id: EventId,
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
        event_id: EventId,
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
        event_id: EventId,
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

    async fn series_claims(&self, event_id: EventId) -> Result<Vec<LedgerClaim>, StoreError> {
        let mut claims = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(super::keys::event(&event_id).0),
                )
                .expression_attribute_values(":prefix", AttributeValue::S("ATTEMPT#".into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items() {
                let r = ItemReader(item);
                let sk = r.s("sk")?;
                let (series, attempt) = parse_key(sk)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt key {sk}")))?;
                let state = if r.s("state")? == "done" {
                    let row: Option<DeliveryAttempt> = r.opt_json("row")?;
                    LedgerState::Done(Box::new(row.ok_or_else(|| {
                        StoreError::Corrupt("a finished attempt without its row".into())
                    })?))
                } else {
                    let ms: i64 = r.n("lease_until")?;
                    LedgerState::InFlight {
                        lease_until: DateTime::from_timestamp_millis(ms).ok_or_else(|| {
                            StoreError::Corrupt(format!("lease_until {ms} of {sk}"))
                        })?,
                    }
                };
                claims.push(LedgerClaim {
                    series,
                    attempt,
                    state,
                });
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(claims),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn ledger_keys_give_their_series_and_attempt() {
        assert_eq!(
            parse_key("ATTEMPT#original#03"),
            Some(("original".into(), 3))
        );
        assert_eq!(
            parse_key("ATTEMPT#redelivery-4b1f#00"),
            Some(("redelivery-4b1f".into(), 0))
        );
        assert_eq!(parse_key("ATTEMPT#original"), None);
        assert_eq!(parse_key("EVENT#x"), None);
    }
}
