//! Stored events (mirrors `dynamo/event_store.rs`).
use super::{condition_failed, ms, secs, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::EventId;
use domain::model::EventRecord;
use domain::ports::store::event_store::*;

/// The event as `event_item` would store it and `event_from` read it back: plain up to
/// [`PLAIN_PAYLOAD_MAX_BYTES`], compressed above, refused (`Backend`) when even compressed it
/// is above [`MAX_STORED_PAYLOAD_BYTES`]; `created_at` to the millisecond, `expires_at` to
/// the second, not enqueued.
pub(super) fn stored_event(
    rec: &EventRecord,
    expires_at: DateTime<Utc>,
) -> Result<StoredEvent, StoreError> {
    // The same decision as the adapter's, from the same function.
    let compressed = matches!(encode_payload(&rec.payload)?, EncodedPayload::Gzip(_));
    let mut record = rec.clone();
    record.created_at = ms(record.created_at);
    Ok(StoredEvent {
        record,
        enqueued: false,
        expires_at: secs(expires_at),
        compressed,
        due_at: None,
    })
}

#[async_trait]
impl EventStore for MemoryStore {
    /// Not filtered by expiry: the adapter reads the item as long as it exists.
    async fn event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.state().events.get(&id).cloned())
    }

    /// `Conflict` when there is no such event (`attribute_exists(pk)`).
    async fn mark_event_enqueued(&self, id: EventId) -> Result<(), StoreError> {
        match self.state().events.get_mut(&id) {
            Some(e) => {
                e.enqueued = true;
                e.due_at = None;
                Ok(())
            }
            None => Err(condition_failed()),
        }
    }
}
