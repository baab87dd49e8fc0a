//! One provider callback: verify its signature, parse it, find our call, move the call forward.
//!
//! Every answer the provider should not retry is a 2xx: callbacks we apply, callbacks that
//! change nothing (duplicates, out of order), and callbacks we cannot use (unknown agent or
//! call, events we do not handle). Only a failure on our side (storage, queue) is a 5xx, so
//! the provider's retry finishes the work.

use crate::answer::{applied, ignored, invalid_signature};
use crate::progress::progress;
use crate::resolve::{resolve, Resolution};
use crate::{Ctx, Deps};
use domain::callback::{ProviderCallObject, ProviderCallback, ProviderEvent};
use domain::completion;
use domain::model::{Call, CallStatus};
use domain::signature::verify_provider_callback;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::{body_bytes, header};
use lambda_http::{Body, Response};

/// The provider's signature header.
pub const SIGNATURE_HEADER: &str = "x-retell-signature";

/// Largest callback accepted: Lambda's own request limit. A long call's transcript with word
/// timings runs to megabytes, so the API's 64 KiB limit does not apply here.
pub const MAX_CALLBACK_BYTES: usize = 6 * 1024 * 1024;

pub async fn provider_callback(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let mut kind = "unknown";
    let result = callback(ctx, &mut kind).await;
    crate::metrics::callback(kind, &result).emit();
    result
}

/// The callback; `kind` is set to its event type (`ProviderEvent::as_str`) once known.
async fn callback(ctx: Ctx<'_>, kind: &mut &'static str) -> Result<Response<Body>, ApiError> {
    let (req, deps) = (ctx.req, ctx.deps);
    let body = body_bytes(req);
    if body.len() > MAX_CALLBACK_BYTES {
        return Err(ApiError::PayloadTooLarge {
            size: body.len(),
            limit: MAX_CALLBACK_BYTES,
        });
    }
    if let Err(e) = verify_provider_callback(
        &deps.provider_secret.api_key,
        header(req, SIGNATURE_HEADER),
        body,
        deps.clock.now(),
    ) {
        // The reason is logged for the operator; the header itself never is.
        tracing::warn!(reason = %e, "provider callback refused: signature");
        return Ok(invalid_signature());
    }
    let callback = parse(body)?;
    let Some(event) = ProviderEvent::parse(&callback.event) else {
        tracing::info!(event = %callback.event, "provider callback ignored: event not handled");
        *kind = "unsupported";
        return Ok(ignored("unsupported_event"));
    };
    *kind = event.as_str();
    let call = match resolve(&callback.call, deps).await? {
        Resolution::Call(call) => call,
        Resolution::Ignored(reason) => return Ok(ignored(reason)),
    };
    match event {
        ProviderEvent::CallStarted => {
            advance(&call, CallStatus::InProgress, &callback.call, event, deps).await
        }
        ProviderEvent::CallEnded => {
            advance(&call, CallStatus::Ended, &callback.call, event, deps).await
        }
        ProviderEvent::CallAnalyzed => crate::complete::complete(&call, &callback.call, deps).await,
    }
}

/// 400 for a body that is not JSON or not a callback; the message says what is wrong.
fn parse(body: &[u8]) -> Result<ProviderCallback, ApiError> {
    let callback: ProviderCallback = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::body(
                ErrorCode::InvalidJson,
                format!("the callback body is not valid JSON: {e}"),
            ),
            Category::Data => ApiError::body(
                ErrorCode::InvalidCallback,
                format!("the callback body is not a provider callback: {e}"),
            ),
        }
    })?;
    if callback.call.call_id.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidCallback,
            "call.call_id",
            "call.call_id must not be empty",
        ));
    }
    Ok(callback)
}

/// Moves the call forward, with the `call.started` or `call.failed` event the move causes
/// (`crate::caused_events`) in the same transaction, then queues that event.
async fn advance(
    call: &Call,
    to: CallStatus,
    obj: &ProviderCallObject,
    event: ProviderEvent,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let call_id = call.id;
    let now = deps.clock.now();
    // An ended call waits for its analysis at most the grace; then the reconciler completes
    // it without. A call in progress waits for its end at most `CALL_STALE_AFTER`.
    let due_at = match to {
        CallStatus::Ended => now + deps.analysis_grace,
        _ => now + deps.call_stale_after,
    };
    let progress = progress(obj, Some(due_at));
    let caused = crate::caused_events::for_move(call, to, obj, deps, now).await?;
    let changed = match &caused {
        Some(e) => {
            deps.store
                .advance_call_with_event(call_id, to, &progress, now, e)
                .await?
        }
        None => deps.store.advance_call(call_id, to, &progress, now).await?,
    };
    if !changed {
        tracing::info!(%call_id, event = event.as_str(), "callback changed nothing (duplicate or out of order)");
        if call.status == CallStatus::InProgress {
            // News of a call still in progress (a repeated `call_started`): its stale deadline
            // counts from the last news, so a long conversation is never completed early.
            let pushed = deps
                .store
                .settle_call(
                    call_id,
                    CallStatus::InProgress,
                    CallStatus::InProgress,
                    None,
                    now,
                    Some(now + deps.call_stale_after),
                )
                .await?;
            tracing::debug!(%call_id, pushed, "stale deadline of a call in progress pushed");
        }
        crate::caused_events::ensure_enqueued(call, to, obj, deps).await?;
        return Ok(applied(call_id, false, None));
    }
    tracing::info!(%call_id, event = event.as_str(), status = to.as_str(), "call moved forward");
    let Some(e) = caused else {
        return Ok(applied(call_id, true, None));
    };
    let record = &e.record;
    tracing::info!(
        %call_id,
        event_id = %record.id,
        event_type = record.event_type.as_str(),
        account_id = %record.account_id,
        "event stored"
    );
    completion::enqueue(
        deps.store.as_ref(),
        deps.queue.as_ref(),
        record.id,
        &record.account_id,
        call_id,
    )
    .await?;
    Ok(applied(call_id, true, Some(record.id)))
}
