//! Stored events (mirrors `dynamo/events.rs`).
use super::{condition_failed, ms, secs, MemoryStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::model::EventRecord;
use domain::ports::store::events::*;
use std::io::Write;
use uuid::Uuid;

/// The size `event_item` decides on: the gzip of the payload with flate2's default level, the
/// same encoder the adapter uses, so a payload refused there is refused here.
fn gzip_len(data: &[u8]) -> Result<usize, StoreError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map(|gz| gz.len())
        .map_err(|e| StoreError::Backend(format!("compress event payload: {e}")))
}

/// The event as `event_item` would store it and `event_from` read it back: plain up to
/// [`PLAIN_PAYLOAD_MAX_BYTES`], compressed above, refused (`Backend`) when even compressed it
/// is above [`MAX_STORED_PAYLOAD_BYTES`]; `created_at` to the millisecond, `expires_at` to
/// the second, not enqueued.
pub(super) fn stored_event(
    rec: &EventRecord,
    expires_at: DateTime<Utc>,
) -> Result<StoredEvent, StoreError> {
    let compressed = rec.payload.len() > PLAIN_PAYLOAD_MAX_BYTES;
    if compressed {
        let gz = gzip_len(rec.payload.as_bytes())?;
        if gz > MAX_STORED_PAYLOAD_BYTES {
            return Err(StoreError::Backend(format!(
                "event payload of {} bytes is {gz} bytes compressed, above the {} bytes an item can hold",
                rec.payload.len(),
                MAX_STORED_PAYLOAD_BYTES
            )));
        }
    }
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
    async fn event(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.state().events.get(&id).cloned())
    }

    /// `Conflict` when there is no such event (`attribute_exists(pk)`).
    async fn mark_event_enqueued(&self, id: Uuid) -> Result<(), StoreError> {
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
