//! `call_analyzed`: complete the call and put its one `call.completed` event on the queue.
//!
//! 1. The payload is built once, cut to fit the event item if it must be
//!    (`CallCompleted::fit_to`: the oldest transcript turns give way to a marker, so an
//!    oversize payload never fails every provider retry), and stored, in one transaction with
//!    the call's move to `completed`, conditional on the call having no event yet: two
//!    deliveries of the callback can never make two events.
//! 2. The event's delivery message is sent to SQS; then the event is marked `enqueued`.
//! 3. If the send fails, the callback answers 5xx and the provider retries; the retry finds the
//!    stored event not enqueued and sends it. An event is never stored but never queued.
//!
//! The request that stores the event is the one that enqueues it (or answers 5xx): a
//! concurrent duplicate that loses the transaction answers 200 without sending, so duplicates
//! do not double-enqueue. The delivery function dedupes by event id and attempt anyway, since
//! SQS itself delivers at least once.

use crate::callback::{applied, ignored, progress};
use crate::Deps;
use domain::callback::ProviderCallObject;
use domain::model::{Call, CallStatus, EventRecord};
use domain::payload::CallCompleted;
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::calls::CallCompletion;
use domain::ports::store::events::{stored_payload_bytes, EVENT_TTL, MAX_STORED_PAYLOAD_BYTES};
use domain::ApiError;
use lambda_http::{Body, Response};
use std::time::Duration;
use uuid::Uuid;

pub async fn complete(
    call: &Call,
    obj: &ProviderCallObject,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    if let Some(event_id) = call.event_id {
        return ensure_enqueued(call, event_id, deps).await;
    }
    if call.status.rank() > CallStatus::Completed.rank() {
        tracing::warn!(call_id = %call.id, status = call.status.as_str(), "analysis for a call that failed to be placed; no event");
        return Ok(ignored("call_failed"));
    }
    let agent_name = match deps.store.agent(&call.account_id, call.agent_id).await? {
        Some(agent) => agent.name,
        None => {
            tracing::warn!(call_id = %call.id, agent_id = %call.agent_id, "the call's agent no longer exists; event without agent name");
            String::new()
        }
    };
    let fitted = CallCompleted::build(call, &agent_name, obj)
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
    let now = deps.clock.now();
    let event = EventRecord {
        id: Uuid::new_v4(),
        account_id: call.account_id.clone(),
        call_id: call.id,
        payload: fitted.json,
        created_at: now,
    };
    let completion = CallCompletion {
        summary: &payload.summary,
        sentiment: payload.sentiment.as_str(),
        event: &event,
        event_expires_at: now + EVENT_TTL,
    };
    let created = deps
        .store
        .complete_call(call.id, &progress(obj), &completion, now)
        .await?;
    if !created {
        // A concurrent delivery of this callback completed the call after we read it; that
        // request enqueues the event (or answers 5xx so the provider retries).
        tracing::info!(call_id = %call.id, "call completed concurrently by another callback");
        return Ok(applied(call.id, false, None));
    }
    tracing::info!(
        call_id = %call.id,
        event_id = %event.id,
        account_id = %event.account_id,
        payload_bytes = event.payload.len(),
        "call completed; event stored"
    );
    enqueue(event.id, &event.account_id, event.call_id, deps).await?;
    Ok(applied(call.id, true, Some(event.id)))
}

/// A repeated `call_analyzed`: send the stored event if its message never made it to the queue.
async fn ensure_enqueued(
    call: &Call,
    event_id: Uuid,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let Some(stored) = deps.store.event(event_id).await? else {
        tracing::warn!(call_id = %call.id, %event_id, "the call's event is gone (expired); nothing to send");
        return Ok(applied(call.id, false, Some(event_id)));
    };
    if stored.enqueued {
        tracing::info!(call_id = %call.id, %event_id, "duplicate analysis callback; event already queued");
        return Ok(applied(call.id, false, Some(event_id)));
    }
    tracing::info!(call_id = %call.id, %event_id, "event stored but not queued; sending it now");
    enqueue(
        event_id,
        &stored.record.account_id,
        stored.record.call_id,
        deps,
    )
    .await?;
    Ok(applied(call.id, true, Some(event_id)))
}

/// Sends the event's first delivery message, then records that it is queued. A failed send is
/// an error (5xx: the provider retries); a failed mark is only logged, since the message is on
/// the queue and a later duplicate callback re-sending it is harmless.
async fn enqueue(
    event_id: Uuid,
    account_id: &str,
    call_id: Uuid,
    deps: &Deps,
) -> Result<(), ApiError> {
    let msg = DeliveryMessage::first(event_id, account_id, call_id);
    if let Err(e) = deps.queue.send(&msg, Duration::ZERO).await {
        tracing::error!(%event_id, %call_id, error = %e, "event stored but not queued; answering 5xx so the provider retries");
        return Err(e.into());
    }
    if let Err(e) = deps.store.mark_event_enqueued(event_id).await {
        tracing::error!(%event_id, error = %e, "event queued but not marked enqueued");
    }
    tracing::info!(%event_id, %call_id, "event queued for delivery");
    Ok(())
}
