//! Freeing what a dead trigger-call request left behind: its Idempotency-Key (no answer, lease
//! run out) and its `queued` call. Used by a retry that takes the key over and by the
//! reconciler, so both repair it the same way.

use crate::error::StoreError;
use crate::model::{CallStatus, IdempotencyRecord};
use crate::ports::store::Store;
use chrono::{DateTime, Utc};

/// The request that held `record` died before it answered: it may have asked the provider,
/// so its call, if still `queued`, becomes `dial_unknown` (callbacks of a call that rang still
/// complete it; without any it is resolved as failed at `dial_deadline`). Then the key is
/// released, only if it still belongs to that call and has no answer. Both writes are
/// conditional, so running this twice, or concurrently, changes nothing more. Returns whether
/// this run released the key.
pub async fn release_dead_request(
    store: &dyn Store,
    record: &IdempotencyRecord,
    now: DateTime<Utc>,
    dial_deadline: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let moved = store
        .settle_call(
            record.call_id,
            CallStatus::Queued,
            CallStatus::DialUnknown,
            None,
            now,
            Some(dial_deadline),
        )
        .await?;
    let released = store.release_idempotency(record).await?;
    tracing::warn!(
        call_id = %record.call_id,
        account_id = %record.account_id,
        call_moved_to_dial_unknown = moved,
        released,
        "Idempotency-Key of a request that died without an answer"
    );
    Ok(released)
}
