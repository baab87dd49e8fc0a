//! Stored `call.completed` events: the exact payload bytes every delivery attempt sends.
//!
//! An event item is written once, in the same transaction that completes its call
//! (`CallStore::complete_call`), and kept 30 days (TTL). `enqueued` says whether its first
//! delivery message is on the queue, so a callback retried after a failed SQS send can tell a
//! stored-but-never-queued event from a queued one.
//!
//! Payloads above [`PLAIN_PAYLOAD_MAX_BYTES`] (1 KiB) are stored gzip-compressed in a binary
//! attribute (`payload_gz`) instead of the readable `payload` string. DynamoDB bills a write per
//! started KB of the whole item, and an event item is written in a transaction (billed twice)
//! and then updated once (its enqueued mark, billed on the item's size): a typical 6 KB
//! `call.completed` cost 18 write units stored plain, about 6 gzipped (docs/benchmarks.md,
//! "Capacity model"). It also keeps a long call's transcript under the 400 KB item limit.
//! Readers always get the original bytes back.
//! How a payload is stored ([`encode_payload`]) and how big it is then
//! ([`stored_payload_bytes`]) are decided here, once, for every adapter and for
//! `domain::payload::CallCompleted::fit_to`, which cuts a payload that would not fit.

use crate::error::StoreError;
use crate::ids::EventId;
use crate::model::EventRecord;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use port_macro::port;
use std::io::Write;

/// How long an event is kept (the delivery log's horizon).
pub const EVENT_TTL: chrono::Duration = chrono::Duration::days(30);

/// An event not on the queue this long after it was stored (the SQS send failed, the Lambda
/// died, the duplicate callback that would have re-sent it lost the race) is enqueued by the
/// reconciler.
pub const ENQUEUE_GRACE: chrono::Duration = chrono::Duration::minutes(1);

/// Payloads up to this size are stored as a plain string; larger ones compressed. Below one
/// write unit compressing saves nothing; above it, JSON with a transcript shrinks 3-5x.
pub const PLAIN_PAYLOAD_MAX_BYTES: usize = 1024;

/// Largest compressed payload we store: leaves room under DynamoDB's 400 KB item limit for the
/// other attributes. Text compresses 5-10x, so this is several MB of JSON, hours beyond the
/// longest call the provider places.
pub const MAX_STORED_PAYLOAD_BYTES: usize = 350 * 1024;

/// How a payload is stored: as it is, or gzip-compressed (flate2's default level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodedPayload {
    Plain,
    Gzip(Vec<u8>),
}

/// The payload as it is stored: plain up to [`PLAIN_PAYLOAD_MAX_BYTES`], compressed above;
/// `Backend` when even compressed it is above [`MAX_STORED_PAYLOAD_BYTES`] (a payload cut by
/// `CallCompleted::fit_to` never is).
pub fn encode_payload(payload: &str) -> Result<EncodedPayload, StoreError> {
    if payload.len() <= PLAIN_PAYLOAD_MAX_BYTES {
        return Ok(EncodedPayload::Plain);
    }
    let gz = gzip(payload.as_bytes())?;
    if gz.len() > MAX_STORED_PAYLOAD_BYTES {
        return Err(StoreError::Backend(format!(
            "event payload of {} bytes is {} bytes compressed, above the {} bytes an item can hold",
            payload.len(),
            gz.len(),
            MAX_STORED_PAYLOAD_BYTES
        )));
    }
    Ok(EncodedPayload::Gzip(gz))
}

/// The bytes the payload takes in the item: its length when stored plain, its compressed
/// length otherwise (`usize::MAX` if it cannot be compressed at all). A payload is storable
/// when this is at most [`MAX_STORED_PAYLOAD_BYTES`].
pub fn stored_payload_bytes(payload: &str) -> usize {
    if payload.len() <= PLAIN_PAYLOAD_MAX_BYTES {
        return payload.len();
    }
    gzip(payload.as_bytes()).map_or(usize::MAX, |gz| gz.len())
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map_err(|e| StoreError::Backend(format!("compress event payload: {e}")))
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub record: EventRecord,
    /// The first delivery message is on the queue.
    pub enqueued: bool,
    pub expires_at: DateTime<Utc>,
    /// The payload was stored compressed.
    pub compressed: bool,
    /// While not enqueued: when the reconciler sends the first delivery message itself
    /// ([`ENQUEUE_GRACE`] after the event was stored, pushed on by each repair it takes).
    pub due_at: Option<DateTime<Utc>>,
}

#[port]
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The stored event (strongly consistent), `None` if there is none.
    async fn event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError>;
    /// Records that the event's first delivery message is on the queue (and clears its
    /// reconciler deadline).
    async fn mark_event_enqueued(&self, id: EventId) -> Result<(), StoreError>;
}

/// An event to store with a call's state change, with its TTL and its reconciler deadline
/// (enqueued by the reconciler if nobody marks it enqueued within [`ENQUEUE_GRACE`]). Built by
/// `crate::event_rules`, stored by `CallStore::advance_call_with_event` and
/// `settle_call_with_event`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub record: EventRecord,
    pub expires_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}
