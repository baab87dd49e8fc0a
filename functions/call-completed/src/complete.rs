//! `call_analyzed`: complete the call and put its one `call.completed` event on the queue
//! (`domain::completion`, shared with the reconciler's completion after the analysis grace).
//!
//! The payload is cut to fit the event item if it must be (`CallCompleted::fit_to`, in
//! `domain::completion`). If the send to the queue fails, the callback answers 5xx and the provider retries; the
//! retry finds the stored event not enqueued and sends it. A concurrent duplicate that loses
//! the transaction answers 200 without sending; if the winner then dies before its send, the
//! reconciler enqueues the event after `ENQUEUE_GRACE`. The delivery function dedupes by event
//! id and attempt anyway, since SQS itself delivers at least once.

use crate::answer::{applied, ignored};
use crate::progress::progress;
use crate::Deps;
use domain::callback::ProviderCallObject;
use domain::completion::{self, Completed};
use domain::ids::EventId;
use domain::model::Call;
use domain::payload::CallCompleted;
use domain::ApiError;
use lambda_http::{Body, Response};

pub async fn complete(
    call: &Call,
    obj: &ProviderCallObject,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    if let Some(event_id) = call.event_id {
        return ensure_enqueued(call, event_id, deps).await;
    }
    if !call.may_still_progress() {
        tracing::warn!(call_id = %call.id, status = call.status.as_str(), "analysis for a call that failed to be placed; no event");
        return Ok(ignored("call_failed"));
    }
    let agent_name = completion::agent_name(deps.store.as_ref(), call).await?;
    let payload = CallCompleted::build(call, &agent_name, obj);
    let done = completion::complete(
        deps.store.as_ref(),
        deps.queue.as_ref(),
        call,
        payload,
        &progress(obj, None),
        deps.clock.now(),
    )
    .await?;
    Ok(match done {
        Completed::Created(event_id) => {
            crate::metrics::completion(call, event_id).emit();
            applied(call.id, true, Some(event_id))
        }
        Completed::AlreadyCompleted => applied(call.id, false, None),
    })
}

/// A repeated `call_analyzed` (or one after the analysis grace completed the call): send the
/// stored event if its message never made it to the queue.
async fn ensure_enqueued(
    call: &Call,
    event_id: EventId,
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
    completion::enqueue(
        deps.store.as_ref(),
        deps.queue.as_ref(),
        event_id,
        &stored.record.account_id,
        stored.record.call_id,
    )
    .await?;
    Ok(applied(call.id, true, Some(event_id)))
}
