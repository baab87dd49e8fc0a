//! Stored `call.completed` events: the exact payload bytes every delivery attempt sends.
//!
//! An event item is written once, in the same transaction that completes its call
//! (`CallStore::complete_call`), and kept 30 days (TTL). `enqueued` says whether its first
//! delivery message is on the queue, so a callback retried after a failed SQS send can tell a
//! stored-but-never-queued event from a queued one.
//!
//! DynamoDB caps an item at 400 KB, and a long call's transcript can come close: payloads above
//! [`PLAIN_PAYLOAD_MAX_BYTES`] are stored gzip-compressed in a binary attribute (`payload_gz`)
//! instead of the readable `payload` string. Readers always get the original bytes back.

use crate::error::StoreError;
use crate::model::EventRecord;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How long an event is kept (the delivery log's horizon).
pub const EVENT_TTL: chrono::Duration = chrono::Duration::days(30);

/// An event not on the queue this long after it was stored (the SQS send failed, the Lambda
/// died, the duplicate callback that would have re-sent it lost the race) is enqueued by the
/// reconciler.
pub const ENQUEUE_GRACE: chrono::Duration = chrono::Duration::minutes(1);

/// Payloads up to this size are stored as a plain string; larger ones compressed.
pub const PLAIN_PAYLOAD_MAX_BYTES: usize = 128 * 1024;

/// Largest compressed payload we store: leaves room under DynamoDB's 400 KB item limit for the
/// other attributes. Text compresses 5-10x, so this is several MB of JSON, hours beyond the
/// longest call the provider places.
pub const MAX_STORED_PAYLOAD_BYTES: usize = 350 * 1024;

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

#[async_trait]
pub trait EventStore: Send + Sync {
    /// The stored event (strongly consistent), `None` if there is none.
    async fn event(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError>;
    /// Records that the event's first delivery message is on the queue (and clears its
    /// reconciler deadline).
    async fn mark_event_enqueued(&self, id: Uuid) -> Result<(), StoreError>;
}
