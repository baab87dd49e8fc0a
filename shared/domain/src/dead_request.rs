//! Settling what a dead trigger-call request left behind: its Idempotency-Key (no answer,
//! lease run out) and its `queued` call. Used by a retry that takes the key over and by the
//! reconciler, so both repair it the same way.

use crate::error::{ApiError, StoreError};
use crate::ids::CallId;
use crate::model::{CallStatus, IdempotencyRecord, StoredResponse};
use crate::ports::store::Store;
use chrono::{DateTime, Utc};

/// What [`release_dead_request`] did with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadRequest {
    /// Nothing proves the call was placed, nor that it was not (the request may have died
    /// after the provider accepted it): the key now answers the 502
    /// `provider_outcome_unknown` naming the call, as a lost provider answer does, and a
    /// retry with it never dials.
    AnsweredUnknown,
    /// The call was placed after all (a callback or the dialing write moved it on): the key
    /// now answers the 200 the request would have given, and a retry never dials again.
    AnsweredPlaced,
    /// Another request or pass handled the key first.
    Untouched,
}

/// `200` of `POST /api/trigger-call`, remembered for the request's Idempotency-Key, so built
/// here below trigger-call.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(deny_unknown_fields, description = "the call was placed")
)]
pub struct CallPlaced {
    pub success: crate::answer::Success,
    pub call_id: uuid::Uuid,
}

/// The answer trigger-call gives for a placed call, as remembered for its key.
pub fn placed_answer(call_id: CallId) -> StoredResponse {
    StoredResponse {
        status: 200,
        body: crate::answer::body(&CallPlaced {
            success: crate::answer::Success,
            call_id: call_id.into(),
        }),
    }
}

/// The answer trigger-call gives when it cannot tell whether the provider placed the call
/// (`502 provider_outcome_unknown` naming it), as remembered for its key.
pub fn unknown_answer(call_id: CallId) -> StoredResponse {
    let e = ApiError::ProviderOutcomeUnknown { call_id };
    StoredResponse {
        status: e.status(),
        body: e.to_json().to_string(),
    }
}

/// The request that held `record` died before it answered. It may have died after the
/// provider accepted the call (a stalled write after the dial, a Lambda timeout), and nothing
/// written before the dial can prove otherwise, so its key is never released: a retry with it
/// must not place a second call. Its call, if still `queued`, becomes `dial_unknown`
/// (callbacks of a call that rang still complete it; without any it is resolved as failed at
/// `dial_deadline`, with its event). Then the key is answered, only if it still belongs to
/// that call and has no answer:
/// - if the call shows it was placed (`dialing` to `completed`: a callback came, or the
///   request recorded the provider's acceptance but died before the answer), with the
///   request's 200;
/// - otherwise with the 502 `provider_outcome_unknown` naming the call, exactly what a lost
///   provider answer gives ([`unknown_answer`]).
///
/// Every write is conditional or idempotent, so running this twice, or concurrently, changes
/// nothing more.
pub async fn release_dead_request(
    store: &dyn Store,
    record: &IdempotencyRecord,
    now: DateTime<Utc>,
    dial_deadline: DateTime<Utc>,
) -> Result<DeadRequest, StoreError> {
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
    let placed = !moved
        && store.call(record.call_id).await?.is_some_and(|c| {
            (CallStatus::Dialing.rank()..=CallStatus::Completed.rank()).contains(&c.status.rank())
        });
    let (outcome, answer) = if placed {
        (DeadRequest::AnsweredPlaced, placed_answer(record.call_id))
    } else {
        (DeadRequest::AnsweredUnknown, unknown_answer(record.call_id))
    };
    if !store.answer_dead_request(record, &answer).await? {
        return Ok(DeadRequest::Untouched);
    }
    tracing::warn!(
        call_id = %record.call_id,
        account_id = %record.account_id,
        call_moved_to_dial_unknown = moved,
        outcome = ?outcome,
        "Idempotency-Key of a request that died without an answer"
    );
    Ok(outcome)
}
