//! `GET /api/integrations/api-webhooks/deliveries`: the delivery log, newest first.
//!
//! Query parameters: `outcome` (`delivered`, `failed`, `dropped`, `skipped`), `limit` (1 to
//! 100, default 25) and `cursor` (the `next_cursor` of the previous page, opaque). Unknown or
//! repeated parameters are 400s, like unknown JSON fields elsewhere.

use crate::ctx::{Ctx, Handler};
use domain::model::DeliveryOutcome;
use domain::ports::store::deliveries::{DeliveryCursor, DeliveryQuery, MAX_PAGE_SIZE};
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(GET "/api/integrations/api-webhooks/deliveries" => list)];
    ROUTES
}

pub const DEFAULT_PAGE_SIZE: usize = 25;
const PARAMETERS: [&str; 3] = ["outcome", "limit", "cursor"];

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let query = parse_query(ctx.req)?;
    let page = ctx
        .deps
        .store
        .deliveries(&ctx.account.id, &query, ctx.deps.clock.now())
        .await?;
    let rows: Vec<_> = page.attempts.iter().map(|a| a.to_json()).collect();
    Ok(json_response(
        200,
        &json!({"success": true, "deliveries": rows, "next_cursor": page.next_cursor}),
    ))
}

/// The page asked for, from the query string.
pub fn parse_query(req: &Request) -> Result<DeliveryQuery, ApiError> {
    let params = lambda_glue::http::checked_query(req, &PARAMETERS)?;
    let outcome = params
        .first("outcome")
        .map(|o| {
            DeliveryOutcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_outcome",
                    "outcome",
                    "outcome must be one of delivered, failed, dropped, skipped",
                )
            })
        })
        .transpose()?;
    let limit = lambda_glue::http::limit_param(&params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = params
        .first("cursor")
        .map(|c| {
            let cursor = DeliveryCursor::decode(c).map_err(|e| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "cursor",
                    format!("{e}; pass the next_cursor of the previous page unchanged"),
                )
            })?;
            if cursor.outcome() != outcome {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "cursor",
                    "the cursor belongs to a listing with a different outcome filter; keep the filter while paging",
                ));
            }
            Ok(cursor)
        })
        .transpose()?;
    Ok(DeliveryQuery {
        outcome,
        limit,
        after,
    })
}
