//! `GET /api/calls`: the account's calls, newest first; `GET /api/calls/{call_id}`: a call's
//! status for the account that owns it, and
//! `DELETE /api/calls/{call_id}`: cancelling a `scheduled` call. Another account's call is a
//! 404, exactly like a call that does not exist.

use crate::Ctx;
use domain::model::{Call, CallStatus, KeyGrant};
use domain::schedule::{cancel_scheduled_call, reason};
use domain::ApiError;
use lambda_glue::calls::view;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};
use uuid::Uuid;

/// The caller's call by the path's id (404 `call_not_found` otherwise).
async fn own_call(ctx: &Ctx<'_>, grant: &KeyGrant) -> Result<Call, ApiError> {
    let raw_id = ctx.params.get("call_id").unwrap_or_default();
    let not_found = || {
        ApiError::not_found(
            "call_not_found",
            Some("call_id"),
            format!("call {raw_id} not found"),
        )
    };
    let id = Uuid::parse_str(raw_id).map_err(|_| not_found())?;
    ctx.deps
        .store
        .call(id)
        .await?
        .filter(|c| c.account_id == grant.account_id)
        .ok_or_else(not_found)
}

/// A call re-read after a conditional write on it.
async fn reread(ctx: &Ctx<'_>, id: Uuid) -> Result<Call, ApiError> {
    ctx.deps
        .store
        .call(id)
        .await?
        .ok_or_else(|| ApiError::internal(std::io::Error::other("call vanished")))
}

pub async fn get_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let mut call = own_call(&ctx, &grant).await?;
    // Scheduled calls to a number put on the do-not-call list are cancelled when due; reading
    // one cancels it now, so the answer never shows a call that will not be placed as
    // `scheduled`.
    if call.status == CallStatus::Scheduled
        && ctx
            .deps
            .store
            .is_suppressed(&call.account_id, &call.phone_number)
            .await?
    {
        cancel_scheduled_call(
            ctx.deps.store.as_ref(),
            call.id,
            Some(reason::NUMBER_SUPPRESSED),
            ctx.deps.clock.now(),
        )
        .await?;
        call = reread(&ctx, call.id).await?;
    }
    Ok(json_response(200, &view(&call)))
}

/// Cancels a scheduled call: 200 with the `canceled` call, 409 `call_not_scheduled` when it
/// is no longer scheduled (the reconciler claimed it first, or it was cancelled already). The
/// cancel is one conditional write (`scheduled` -> `canceled`), as is the reconciler's claim:
/// exactly one of them wins.
pub async fn cancel_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let call = own_call(&ctx, &grant).await?;
    if call.status == CallStatus::Scheduled
        && cancel_scheduled_call(ctx.deps.store.as_ref(), call.id, None, ctx.deps.clock.now())
            .await?
    {
        tracing::info!(call_id = %call.id, account_id = %call.account_id, "scheduled call canceled");
        let call = reread(&ctx, call.id).await?;
        return Ok(json_response(200, &view(&call)));
    }
    let now = reread(&ctx, call.id).await?;
    Err(ApiError::CallNotScheduled {
        status: now.status.as_str(),
    })
}

/// `GET /api/calls`: the key's account's calls, newest first, filtered and paged
/// (`lambda_glue::calls::parse_query`), through the account's call index.
pub async fn list_calls(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let query = lambda_glue::calls::parse_query(ctx.req)?;
    let page = ctx.deps.store.calls_of(&grant.account_id, &query).await?;
    Ok(json_response(200, &lambda_glue::calls::page_json(&page)))
}
