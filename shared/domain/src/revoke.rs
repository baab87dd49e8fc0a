//! Ending a call ourselves, with its one event: the reconciler's failures (a call never
//! reported, a held call that fails its checks or is refused when due) and a rotated key's
//! calls (issue 26: a leaked key's scheduled calls must die with it: `canceled`, reason
//! `key_rotated`), used by the rotation's bulk cancel (`crate::bulk_cancel`) and by the
//! reconciler, which re-checks the key before it dials.

use crate::error::ApiError;
use crate::event_rules::{failure_ending, FailureReason};
use crate::held_calls::reason;
use crate::model::{Account, Call, CallStatus};
use crate::ports::queue::EventQueue;
use crate::ports::store::Store;
use chrono::{DateTime, Utc};

/// How a call we end ends.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// `failed` or `canceled`.
    pub to: CallStatus,
    /// The event's reason (`event_rules::failure_ending`).
    pub why: FailureReason,
    /// The call's `failure_reason`.
    pub reason: &'a str,
}

/// Moves the call from its current status to `ending.to` with its one event
/// (`event_rules::failure_ending`: `call.failed` for an account subscribed to it, else
/// `call.completed`; none if it has its event already) in one conditional write, then queues
/// the event when a queue is given (else the reconciler's enqueue repair sends it after
/// `ENQUEUE_GRACE`, as it does when a send fails). `Ok(false)`: the call moved on meanwhile,
/// nothing written.
pub async fn end_call(
    store: &dyn Store,
    queue: Option<&dyn EventQueue>,
    account: Option<&Account>,
    call: &Call,
    agent_name: &str,
    ending: Ending<'_>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let event =
        failure_ending(account, call, ending.why, agent_name, now).map_err(ApiError::internal)?;
    let moved = match &event {
        Some(e) => {
            store
                .settle_call_with_event(
                    call.id,
                    call.status,
                    ending.to,
                    Some(ending.reason),
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
                    ending.to,
                    Some(ending.reason),
                    now,
                    None,
                )
                .await?
        }
    };
    if !moved {
        return Ok(false);
    }
    if let Some(e) = event {
        let record = &e.record;
        tracing::info!(call_id = %call.id, event_id = %record.id, event_type = record.event_type.as_str(), "event stored");
        if let Some(q) = queue {
            crate::completion::enqueue(store, q, record.id, &record.account_id, call.id).await?;
        }
    }
    Ok(true)
}

/// A scheduled (or claimed, `queued`) call of a rotated key: `canceled` with reason
/// `key_rotated` and its one event ([`end_call`]).
pub async fn revoke_call(
    store: &dyn Store,
    queue: Option<&dyn EventQueue>,
    account: &Account,
    call: &Call,
    agent_name: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let ending = Ending {
        to: CallStatus::Canceled,
        why: FailureReason::KeyRotated,
        reason: reason::KEY_ROTATED,
    };
    let moved = end_call(store, queue, Some(account), call, agent_name, ending, now).await?;
    if moved {
        tracing::warn!(call_id = %call.id, account_id = %call.account_id, "scheduled call of a rotated key canceled");
    }
    Ok(moved)
}
