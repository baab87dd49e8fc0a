//! Stored events in DynamoDB (gzip above the plain-payload limit).
use super::item::{key_map, ttl, Item, ItemBuilder, ItemReader};
use super::{backend, keys, DynamoStore, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::event_type::EventType;
use domain::ids::EventId;
use domain::model::EventRecord;
use domain::ports::store::event_store::*;
use std::io::Read;

fn gunzip(data: &[u8]) -> Result<String, StoreError> {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .map_err(|e| StoreError::Corrupt(format!("event payload does not decompress: {e}")))?;
    Ok(out)
}

/// The event item; `Backend` error if even the compressed payload cannot fit in an item.
pub(crate) fn event_item(rec: &EventRecord, expires_at: DateTime<Utc>) -> Result<Item, StoreError> {
    let mut item = ItemBuilder::keyed(keys::event(&rec.id))
        .s("type", "event")
        .s("event_id", rec.id.to_string())
        .s("account_id", &rec.account_id)
        .s("call_id", rec.call_id.to_string())
        .s("event_type", rec.event_type.as_str())
        .time("created_at", rec.created_at)
        .n(TTL_ATTRIBUTE, ttl(expires_at))
        .b("enqueued", false)
        .build();
    match encode_payload(&rec.payload)? {
        EncodedPayload::Plain => {
            item.insert("payload".into(), AttributeValue::S(rec.payload.clone()));
        }
        EncodedPayload::Gzip(gz) => {
            item.insert("payload_gz".into(), AttributeValue::B(Blob::new(gz)));
        }
    }
    Ok(item)
}

/// The event's type; an item written before there were several is a `call.completed`.
fn event_type_from(r: &ItemReader<'_>) -> Result<EventType, StoreError> {
    match r.opt_s("event_type")? {
        None => Ok(EventType::CallCompleted),
        Some(s) => {
            EventType::parse(s).ok_or_else(|| StoreError::Corrupt(format!("event type {s}")))
        }
    }
}

pub(crate) fn event_from(item: &Item) -> Result<StoredEvent, StoreError> {
    let r = ItemReader(item);
    let (payload, compressed) = match (r.opt_s("payload")?, item.get("payload_gz")) {
        (Some(p), _) => (p.to_string(), false),
        (None, Some(AttributeValue::B(b))) => (gunzip(b.as_ref())?, true),
        _ => {
            return Err(StoreError::Corrupt(format!(
                "event {}: no payload",
                r.s("event_id")?
            )))
        }
    };
    let expires: i64 = r.n(TTL_ATTRIBUTE)?;
    Ok(StoredEvent {
        record: EventRecord {
            id: r.uuid("event_id")?,
            account_id: r.s("account_id")?.into(),
            call_id: r.uuid("call_id")?,
            event_type: event_type_from(&r)?,
            payload,
            created_at: r.time("created_at")?,
        },
        enqueued: r.b("enqueued")?,
        due_at: r.opt_time(super::due::DUE_AT)?,
        expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        compressed,
    })
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        let item = self.read(keys::event(&id)).await?;
        item.as_ref().map(event_from).transpose()
    }

    async fn mark_event_enqueued(&self, id: EventId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::event(&id))))
            .update_expression("SET enqueued = :t REMOVE due_kind, due_at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: String) -> EventRecord {
        EventRecord {
            id: domain::EventId::new_v4(),
            account_id: "acct_1".into(),
            call_id: domain::CallId::new_v4(),
            event_type: domain::event_type::EventType::CallCompleted,
            payload,
            created_at: DateTime::from_timestamp(1_750_001_585, 0).unwrap(),
        }
    }

    #[test]
    fn small_payloads_stay_readable() {
        let rec = record(r#"{"event":"call.completed"}"#.into());
        let expires = rec.created_at + EVENT_TTL;
        let item = event_item(&rec, expires).unwrap();
        assert!(matches!(item.get("payload"), Some(AttributeValue::S(_))));
        assert!(!item.contains_key("payload_gz"));
        let back = event_from(&item).unwrap();
        assert_eq!(back.record, rec);
        assert!(!back.enqueued && !back.compressed);
        assert_eq!(back.expires_at, expires);
    }

    #[test]
    fn large_payloads_are_compressed_and_round_trip() {
        let text: String = (0..20_000)
            .map(|i| format!("{{\"role\":\"human\",\"content\":\"word {i} é\"}},"))
            .collect();
        let rec = record(text);
        assert!(rec.payload.len() > PLAIN_PAYLOAD_MAX_BYTES);
        let item = event_item(&rec, rec.created_at + EVENT_TTL).unwrap();
        assert!(!item.contains_key("payload"));
        let Some(AttributeValue::B(gz)) = item.get("payload_gz") else {
            panic!("no compressed payload")
        };
        assert!(gz.as_ref().len() < rec.payload.len() / 4);
        let back = event_from(&item).unwrap();
        assert_eq!(back.record.payload, rec.payload);
        assert!(back.compressed);
    }

    #[test]
    fn incompressible_huge_payloads_are_refused() {
        // Pseudo-random hex does not compress below half its size.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let payload: String = (0..1_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap_or('0')
            })
            .collect();
        let rec = record(payload);
        assert!(matches!(
            event_item(&rec, rec.created_at),
            Err(StoreError::Backend(_))
        ));
    }
}
