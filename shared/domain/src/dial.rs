//! Dialing a written call: the one code path both trigger-call (a call placed now) and the
//! reconciler (a scheduled call whose time came) use to ask the provider and record what it
//! answered. The call must be `queued` (written by trigger-call, or claimed from `scheduled`
//! by the reconciler).
//!
//! The unknown-outcome rules hold for both callers:
//! - the provider accepted -> `dialing` with its id (and the placed answer for the key);
//! - its answer proves no call was placed (`ProviderError::proves_not_placed`: no connection,
//!   a 4xx) -> `failed` with the stable reason, the key released;
//! - its answer was lost (timeout, reset, 5xx, unreadable) -> `dial_unknown` with its
//!   deadline: the phone may ring, so the call is never dialed again; callbacks (or the
//!   deadline) tell.

use crate::clock::Clock;
use crate::dead_request::placed_answer;
use crate::error::StoreError;
use crate::model::{Agent, Call, IdempotencyRecord, StoredResponse};
use crate::ports::provider::{CreatePhoneCall, VoiceProvider};
use crate::ports::store::Store;

/// Where the dial's outcome is written: the store, the deadlines, the key (if any).
pub struct DialCtx<'a> {
    pub store: &'a dyn Store,
    pub provider: &'a dyn VoiceProvider,
    /// The moment of each write.
    pub clock: &'a dyn Clock,
    /// `CALL_STALE_AFTER`: a `dialing` call's deadline.
    pub call_stale_after: chrono::Duration,
    /// `DIAL_UNKNOWN_DEADLINE`: a `dial_unknown` call's deadline.
    pub dial_unknown_deadline: chrono::Duration,
    /// The request's Idempotency-Key record, and the answer to remember for it if the
    /// provider's answer is lost (trigger-call's 502 naming the call). `None` for the
    /// reconciler: a scheduled call's key already holds its 202.
    pub key: Option<(&'a IdempotencyRecord, &'a StoredResponse)>,
    /// Whether `dial` records a proven refusal itself (`failed`, trigger-call: the caller's
    /// answer is the 502). `false` for the reconciler's scheduled calls, already accepted
    /// with a 202: it gets `NotPlaced` with nothing written and fails the call itself, with
    /// its `call.failed` event in the same write.
    pub record_refusal: bool,
}

/// What became of the dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialed {
    /// The provider accepted the call (or, its answer lost, a callback showed it placed).
    Placed,
    /// The provider's answer proves no call was placed: the call is `failed` with `reason`
    /// (still `queued`, for the caller to fail, when `record_refusal` is off).
    NotPlaced { reason: String },
    /// The answer was lost: the call is `dial_unknown` (or, if even that write failed, still
    /// `queued` with the key's answer remembered; the reconciler moves it on after its lease).
    Unknown,
}

/// The provider's request for `call`, placed from the agent's number.
pub fn request(call: &Call, agent: &Agent) -> CreatePhoneCall {
    let mut vars = serde_json::Map::new();
    if let Some(n) = &call.name {
        vars.insert("name".into(), n.clone().into());
    }
    if let Some(e) = &call.email {
        vars.insert("email".into(), e.clone().into());
    }
    CreatePhoneCall {
        from_number: agent
            .phone_number
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        to_number: call.phone_number.clone(),
        override_agent_id: agent.provider_agent_id.clone(),
        metadata: serde_json::json!({"call_id": call.id.to_string(), "account_id": call.account_id}),
        retell_llm_dynamic_variables: vars,
    }
}

/// Asks the provider to place the `queued` call and records what it answered. An `Err` is a
/// store failure that left the outcome unrecorded (the call stays `queued` and the reconciler
/// treats it as possibly placed after its lease).
pub async fn dial(call: &Call, agent: &Agent, ctx: &DialCtx<'_>) -> Result<Dialed, StoreError> {
    let record = ctx.key.map(|(r, _)| r);
    match ctx.provider.create_phone_call(&request(call, agent)).await {
        Ok(placed) => {
            let stored = placed_answer(call.id);
            let at = ctx.clock.now();
            if let Err(e) = ctx
                .store
                .mark_call_dialing(
                    call.id,
                    &placed.call_id,
                    at,
                    at + ctx.call_stale_after,
                    record.map(|r| (r, &stored)),
                )
                .await
            {
                // The call is placed; the provider's callbacks carry our call_id and will move
                // the record on. The key must still answer 200, or a retry after the lease
                // could dial again: one more try at remembering the answer alone.
                tracing::error!(call_id = %call.id, error = %e, "call placed but not recorded as dialing");
                if let Some(r) = record {
                    if let Err(e) = ctx.store.remember_answer(r, &stored).await {
                        tracing::error!(call_id = %call.id, error = %e, "placed call's answer not remembered for its key");
                    }
                }
            }
            tracing::info!(call_id = %call.id, account_id = %call.account_id, "call placed");
            Ok(Dialed::Placed)
        }
        Err(e) if e.proves_not_placed() => {
            tracing::warn!(call_id = %call.id, reason = %e.reason(), detail = %e.detail(), "provider refused the call; none placed");
            let reason = e.reason();
            if ctx.record_refusal {
                ctx.store
                    .mark_call_failed(call.id, &reason, ctx.clock.now(), record)
                    .await?;
            }
            Ok(Dialed::NotPlaced { reason })
        }
        Err(e) => {
            // The request may have reached the provider: the phone may ring. Never dial again
            // for this call; let its callbacks (or its deadline) tell.
            tracing::warn!(call_id = %call.id, reason = %e.reason(), detail = %e.detail(), "provider answer lost; call outcome unknown");
            let at = ctx.clock.now();
            let marked = match ctx
                .store
                .mark_call_dial_unknown(call.id, at, at + ctx.dial_unknown_deadline, ctx.key)
                .await
            {
                Ok(marked) => marked,
                Err(e) => {
                    // The call stays `queued` (the reconciler makes it `dial_unknown` after
                    // its lease); the key must not be released meanwhile, or a retry could
                    // dial a second call: remember the unknown answer on its own.
                    tracing::error!(call_id = %call.id, error = %e, "dial_unknown not recorded");
                    return match ctx.key {
                        Some((r, stored)) => ctx
                            .store
                            .remember_answer(r, stored)
                            .await
                            .map(|()| Dialed::Unknown)
                            .map_err(|_| e),
                        None => Ok(Dialed::Unknown),
                    };
                }
            };
            if marked {
                return Ok(Dialed::Unknown);
            }
            // A callback moved the call on already: it was placed after all.
            if let Some(r) = record {
                ctx.store
                    .remember_answer(r, &placed_answer(call.id))
                    .await?;
            }
            tracing::info!(call_id = %call.id, "provider answer lost but a callback shows the call placed");
            Ok(Dialed::Placed)
        }
    }
}
