//! The account's calls for the integration page: `GET /api/integrations/api-webhooks/calls`
//! (the same list, filters and paging as `GET /api/calls`: `lambda_glue::calls`), and
//! `POST /api/integrations/api-webhooks/calls/cancel-scheduled`, which cancels every
//! scheduled call of the account like `DELETE /api/calls/{call_id}` does one
//! (`domain::schedule::cancel_scheduled_calls`, at most `BULK_CANCEL_BUDGET` per request:
//! `complete: false` says to send it again).

use crate::router::Ctx;
use domain::bulk_cancel::{cancel_scheduled_calls, Revoke};
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};
use serde_json::json;

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let query = lambda_glue::calls::parse_query(ctx.req)?;
    let page = ctx.deps.store.calls_of(&ctx.account.id, &query).await?;
    Ok(json_response(200, &lambda_glue::calls::page_json(&page)))
}

pub async fn cancel_scheduled(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    lambda_glue::http::no_fields(ctx.req)?;
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
        &json!({"success": true, "canceled": done.canceled, "complete": done.complete}),
    ))
}
