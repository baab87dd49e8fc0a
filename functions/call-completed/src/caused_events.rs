//! `call.started` and `call.failed` from the provider's callbacks (`domain::event_rules`): the event
//! a callback's move causes, written in the same transaction as the move
//! (`CallStore::advance_call_with_event`), then put on the queue like `call.completed`.
//!
//! - `call_started` moving the call to `in_progress` causes `call.started`.
//! - `call_ended` whose disconnection reason says the call never connected
//!   (`FailureReason::from_disconnection`: `dial_no_answer`, `dial_busy`, `dial_failed`, a
//!   provider error before connecting) causes `call.failed`. The call still moves to `ended`
//!   and gets its `call.completed` after the analysis, as before.
//!
//! Each is made only if the account subscribed to it (one account read, only on those moves).
//! A duplicate callback changes nothing; if the first one stored the event but failed to
//! queue it (answering 5xx), the retry finds it by its id and queues it.

use crate::Deps;
use chrono::{DateTime, Utc};
use domain::callback::ProviderCallObject;
use domain::completion;
use domain::event_rules::{self, FailureReason};
use domain::event_type::EventType;
use domain::model::{Call, CallStatus};
use domain::ports::store::event_store::NewEvent;
use domain::ApiError;

/// Whether a callback moving the call to `to` could move it at all (the store decides for
/// sure): only then is an event built.
fn may_move(call: &Call, to: CallStatus) -> bool {
    call.status.rank() < to.rank()
        || (call.status == CallStatus::Failed && call.may_still_progress())
}

/// The event type a move to `to` with this callback may cause.
pub fn caused(call: &Call, to: CallStatus, obj: &ProviderCallObject) -> Option<EventType> {
    match to {
        CallStatus::InProgress => Some(EventType::CallStarted),
        CallStatus::Ended => failure_reason(call, obj).map(|_| EventType::CallFailed),
        _ => None,
    }
}

fn failure_reason(call: &Call, obj: &ProviderCallObject) -> Option<FailureReason> {
    let connected = call.status == CallStatus::InProgress
        || call.started_at.is_some()
        || obj.start_timestamp.is_some();
    FailureReason::from_disconnection(obj.disconnection_reason.as_deref()?, connected)
}

/// The event to store with the call's move to `to`, if it causes one the account wants.
pub async fn for_move(
    call: &Call,
    to: CallStatus,
    obj: &ProviderCallObject,
    deps: &Deps,
    now: DateTime<Utc>,
) -> Result<Option<NewEvent>, ApiError> {
    let Some(event_type) = caused(call, to, obj).filter(|_| may_move(call, to)) else {
        return Ok(None);
    };
    let account = deps.store.account(&call.account_id).await?;
    let event = match event_type {
        EventType::CallStarted => {
            if !event_rules::wanted(account.as_ref(), EventType::CallStarted) {
                return Ok(None);
            }
            let agent_name = completion::agent_name(deps.store.as_ref(), call).await?;
            let started_at = obj.started_at().unwrap_or(now);
            Some(
                event_rules::call_started(call, &agent_name, started_at, now)
                    .map_err(ApiError::internal)?,
            )
        }
        EventType::CallFailed => match failure_reason(call, obj) {
            Some(reason) => {
                let failed_at = obj.ended_at().unwrap_or(now);
                event_rules::call_failed(account.as_ref(), call, reason, failed_at)
                    .map_err(ApiError::internal)?
            }
            None => None,
        },
        EventType::CallCompleted => None,
    };
    Ok(event)
}

/// A callback that changed nothing: if the event its first delivery caused was stored but
/// never queued (that delivery answered 5xx), queue it now.
pub async fn ensure_enqueued(
    call: &Call,
    to: CallStatus,
    obj: &ProviderCallObject,
    deps: &Deps,
) -> Result<(), ApiError> {
    let Some(event_type) = caused(call, to, obj) else {
        return Ok(());
    };
    let id = event_rules::event_id(call.id, event_type);
    let Some(stored) = deps.store.event(id).await? else {
        return Ok(());
    };
    if stored.enqueued {
        return Ok(());
    }
    tracing::info!(call_id = %call.id, event_id = %id, event_type = event_type.as_str(), "event stored but not queued; sending it now");
    completion::enqueue(
        deps.store.as_ref(),
        deps.queue.as_ref(),
        id,
        &stored.record.account_id,
        stored.record.call_id,
    )
    .await
}
