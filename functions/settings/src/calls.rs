//! The account's calls for the integration page: `GET /api/integrations/api-webhooks/calls`
//! (the same list, filters and paging as `GET /api/calls`: `lambda_glue::calls`), and
//! `POST /api/integrations/api-webhooks/calls/cancel-scheduled`, which cancels every
//! scheduled call of the account like `DELETE /api/calls/{call_id}` does one
//! (`domain::bulk_cancel::cancel_scheduled_calls`, at most `BULK_CANCEL_BUDGET` per request:
//! `complete: false` says to send it again), and
//! `DELETE /api/integrations/api-webhooks/calls/{call_id}`, which cancels one scheduled call
//! exactly as `DELETE /api/calls/{call_id}` does (`domain::held_calls::cancel_scheduled_call`).

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::bulk_cancel::{cancel_scheduled_calls, Revoke};
use domain::held_calls::cancel_owned_call;
use domain::ApiError;
use lambda_glue::calls::view;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[
        route!(GET "/api/integrations/api-webhooks/calls" => list),
        route!(POST "/api/integrations/api-webhooks/calls/cancel-scheduled" => cancel_scheduled),
        route!(DELETE "/api/integrations/api-webhooks/calls/{call_id}" => cancel),
    ];
    ROUTES
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let query = lambda_glue::calls::parse_query(ctx.req)?;
    let page = ctx.deps.store.calls_of(&ctx.account.id, &query).await?;
    Ok(json_response(200, &lambda_glue::calls::page(&page)))
}

pub async fn cancel_scheduled(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    lambda_glue::body::no_fields(ctx.req)?;
    let done = cancel_scheduled_calls(
        ctx.deps.store.as_ref(),
        None,
        &ctx.account,
        Revoke::All,
        ctx.deps.clock.now(),
    )
    .await?;
    tracing::info!(account_id = %ctx.account.id, canceled = done.canceled, complete = done.complete, "scheduled calls canceled");
    Ok(json_response(
        200,
        &CanceledScheduled {
            success: Success,
            canceled: done.canceled,
            complete: done.complete,
        },
    ))
}

/// `200` of cancel-scheduled: how many were cancelled, and whether any are left.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct CanceledScheduled {
    pub success: Success,
    /// the scheduled calls this request cancelled
    pub canceled: u64,
    /// `false`: the request's budget ran out with scheduled calls left; send it again
    pub complete: bool,
}

/// Cancels one scheduled call of the caller's account: 200 with the `canceled` call, 404
/// `call_not_found` for an id that is not a UUID or not this account's call, 409
/// `call_not_scheduled` when it is no longer scheduled. One conditional write
/// (`scheduled` -> `canceled`), as is the reconciler's claim: exactly one of them wins.
pub async fn cancel(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let raw_id = ctx.params.get("call_id").unwrap_or_default();
    let call = cancel_owned_call(
        ctx.deps.store.as_ref(),
        &ctx.account.id,
        raw_id,
        ctx.deps.clock.now(),
    )
    .await?;
    Ok(json_response(200, &view(&call)))
}
