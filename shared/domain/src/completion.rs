//! Completing a call: its one `call.completed` event, stored with the call's move to
//! `completed`, then put on the queue. Two paths complete calls, and both come here: the
//! provider's `call_analyzed` callback (call-completed) and the analysis grace running out
//! (the reconciler). The store's conditional transaction makes the first one win and the
//! other change nothing, so a call never has two events.
//!
//! 1. The event is stored in one transaction with the call's move to `completed`, conditional
//!    on the call having no event yet, with a reconciler deadline ([`ENQUEUE_GRACE`]).
//! 2. Its first delivery message is sent; then it is marked `enqueued` (clearing the
//!    deadline). If the send fails, the caller reports an error (call-completed answers 5xx so
//!    the provider retries); if nobody ever sends it, the reconciler does after the grace.

use crate::error::{ApiError, StoreError};
use crate::ids::{AccountId, CallId, EventId};
use crate::model::{Call, EventRecord};
use crate::payload::CallCompleted;
use crate::ports::queue::{DeliveryMessage, EventQueue};
use crate::ports::store::calls::{CallCompletion, CallProgress};
use crate::ports::store::event_store::{
    stored_payload_bytes, ENQUEUE_GRACE, EVENT_TTL, MAX_STORED_PAYLOAD_BYTES,
};
use crate::ports::store::Store;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What [`complete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    /// This request stored the call's event (and put it on the queue).
    Created(EventId),
    /// The call already has its event, or moved past `completed` (failed): nothing written.
    AlreadyCompleted,
}

/// The agent's name for the payload; an agent deleted since the call leaves it empty.
pub async fn agent_name(store: &dyn Store, call: &Call) -> Result<String, StoreError> {
    Ok(match store.agent(&call.account_id, call.agent_id).await? {
        Some(agent) => agent.name,
        None => {
            tracing::warn!(call_id = %call.id, agent_id = %call.agent_id, "the call's agent no longer exists; event without agent name");
            String::new()
        }
    })
}

/// Stores the call's one event built from `payload` and puts it on the queue. The payload is
/// cut to fit the event item first if it must be (`CallCompleted::fit_to`: the oldest
/// transcript turns give way to a marker), so an oversize call never fails forever.
pub async fn complete(
    store: &dyn Store,
    queue: &dyn EventQueue,
    call: &Call,
    payload: CallCompleted,
    progress: &CallProgress,
    now: DateTime<Utc>,
) -> Result<Completed, ApiError> {
    if call.event_id.is_some() || !call.may_still_progress() {
        return Ok(Completed::AlreadyCompleted);
    }
    let fitted = payload
        .fit_to(MAX_STORED_PAYLOAD_BYTES, stored_payload_bytes)
        .map_err(ApiError::internal)?;
    if fitted.omitted_turns > 0 || fitted.summary_cut {
        tracing::warn!(
            call_id = %call.id,
            omitted_turns = fitted.omitted_turns,
            summary_cut = fitted.summary_cut,
            payload_bytes = fitted.json.len(),
            "payload too large for the event item; cut to fit"
        );
    }
    let payload = fitted.payload;
    let event = EventRecord {
        id: crate::event_rules::event_id(call.id, crate::event_type::EventType::CallCompleted),
        account_id: call.account_id.clone(),
        call_id: call.id,
        event_type: crate::event_type::EventType::CallCompleted,
        payload: fitted.json,
        created_at: now,
    };
    let completion = CallCompletion {
        summary: &payload.summary,
        sentiment: payload.sentiment.as_str(),
        event: &event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: now + ENQUEUE_GRACE,
    };
    if !store
        .complete_call(call.id, progress, &completion, now)
        .await?
    {
        tracing::info!(call_id = %call.id, "call completed concurrently; no second event");
        return Ok(Completed::AlreadyCompleted);
    }
    tracing::info!(
        call_id = %call.id,
        event_id = %event.id,
        account_id = %event.account_id,
        payload_bytes = event.payload.len(),
        "call completed; event stored"
    );
    enqueue(store, queue, event.id, &event.account_id, event.call_id).await?;
    Ok(Completed::Created(event.id))
}

/// Sends the event's first delivery message, then records that it is queued. A failed send is
/// an error; a failed mark is only logged, since the message is on the queue and sending it
/// again later (a duplicate callback, the reconciler) is harmless: delivery dedupes by event
/// and attempt.
pub async fn enqueue(
    store: &dyn Store,
    queue: &dyn EventQueue,
    event_id: EventId,
    account_id: &AccountId,
    call_id: CallId,
) -> Result<(), ApiError> {
    let msg = DeliveryMessage::first(event_id, account_id, call_id);
    if let Err(e) = queue.send(&msg, Duration::ZERO).await {
        tracing::error!(%event_id, %call_id, error = %e, "event stored but not queued");
        return Err(e.into());
    }
    if let Err(e) = store.mark_event_enqueued(event_id).await {
        tracing::error!(%event_id, error = %e, "event queued but not marked enqueued");
    }
    tracing::info!(%event_id, %call_id, "event queued for delivery");
    Ok(())
}
