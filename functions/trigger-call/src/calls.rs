//! `GET /api/calls`: the account's calls, newest first; `GET /api/calls/{call_id}`: a call's
//! status for the account that owns it, and
//! `DELETE /api/calls/{call_id}`: cancelling a `scheduled` call. Another account's call is a
//! 404, exactly like a call that does not exist.

use crate::Ctx;
use domain::held_calls::{
    cancel_owned_call, cancel_scheduled_call, owned_call, reason, reread_call,
};
use domain::model::CallStatus;
use domain::ApiError;
use lambda_glue::calls::view;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};

pub async fn get_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let raw_id = ctx.params.get("call_id").unwrap_or_default();
    let store = ctx.deps.store.as_ref();
    let mut call = owned_call(store, &grant.account_id, raw_id).await?;
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
        call = reread_call(store, call.id).await?;
    }
    Ok(json_response(200, &view(&call)))
}

/// Cancels a scheduled call: 200 with the `canceled` call, 409 `call_not_scheduled` when it
/// is no longer scheduled (`domain::held_calls::cancel_owned_call`).
pub async fn cancel_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let raw_id = ctx.params.get("call_id").unwrap_or_default();
    let call = cancel_owned_call(
        ctx.deps.store.as_ref(),
        &grant.account_id,
        raw_id,
        ctx.deps.clock.now(),
    )
    .await?;
    Ok(json_response(200, &view(&call)))
}

/// `GET /api/calls`: the key's account's calls, newest first, filtered and paged
/// (`lambda_glue::calls::parse_query`), through the account's call index.
pub async fn list_calls(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let grant = crate::authenticate(&ctx).await?;
    let query = lambda_glue::calls::parse_query(ctx.req)?;
    let page = ctx.deps.store.calls_of(&grant.account_id, &query).await?;
    Ok(json_response(200, &lambda_glue::calls::page(&page)))
}
