//! A call of a rotated API key (issue 26: a leaked key's scheduled calls must die with it):
//! `canceled` with reason `key_rotated` and its one event, used by the rotation's bulk cancel
//! (`crate::bulk_cancel`) and by the reconciler, which re-checks the key before it dials.

use crate::model::CallStatus;
use crate::ports::store::Store;
use crate::schedule::reason;
use chrono::{DateTime, Utc};

/// A scheduled (or claimed, `queued`) call of a rotated key: `canceled` with reason
/// `key_rotated` and its one event (`call.failed` when subscribed, else `call.completed`), in
/// one conditional write from its current status; queued when a queue is given. `Ok(false)`:
/// it moved on meanwhile.
pub async fn revoke_call(
    store: &dyn Store,
    queue: Option<&dyn crate::ports::queue::EventQueue>,
    account: &crate::model::Account,
    call: &crate::model::Call,
    agent_name: &str,
    now: DateTime<Utc>,
) -> Result<bool, crate::error::ApiError> {
    use crate::error::ApiError;
    let event = crate::events::failure_ending(
        Some(account),
        call,
        crate::events::FailureReason::KeyRotated,
        agent_name,
        now,
    )
    .map_err(ApiError::internal)?;
    let moved = match &event {
        Some(e) => {
            store
                .settle_call_with_event(
                    call.id,
                    call.status,
                    CallStatus::Canceled,
                    Some(reason::KEY_ROTATED),
                    now,
                    None,
                    e,
                )
                .await?
        }
        None => {
            store
                .settle_call(
                    call.id,
                    call.status,
                    CallStatus::Canceled,
                    Some(reason::KEY_ROTATED),
                    now,
                    None,
                )
                .await?
        }
    };
    if !moved {
        return Ok(false);
    }
    tracing::warn!(call_id = %call.id, account_id = %call.account_id, "scheduled call of a rotated key canceled");
    if let (Some(e), Some(q)) = (event, queue) {
        crate::completion::enqueue(store, q, e.record.id, &e.record.account_id, call.id).await?;
    }
    Ok(true)
}
