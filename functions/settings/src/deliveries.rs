//! `GET /api/integrations/api-webhooks/deliveries`: the delivery log, newest first.
//!
//! Query parameters: `outcome` (`delivered`, `failed`, `dropped`, `skipped`), `limit` (1 to
//! 100, default 25) and `cursor` (the `next_cursor` of the previous page, opaque). Unknown or
//! repeated parameters are 400s, like unknown JSON fields elsewhere.

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::model::DeliveryAttemptView;
use domain::model::DeliveryOutcome;
use domain::ports::store::deliveries::{DeliveryCursor, DeliveryQuery, MAX_PAGE_SIZE};
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

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
    Ok(json_response(
        200,
        &DeliveryPage {
            success: Success,
            deliveries: page.attempts.iter().map(|a| a.view()).collect(),
            next_cursor: page.next_cursor.as_deref(),
        },
    ))
}

/// `200` of the delivery log: one page, newest first.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct DeliveryPage<'a> {
    pub success: Success,
    #[cfg_attr(feature = "openapi", schemars(length(max = 100)))]
    pub deliveries: Vec<DeliveryAttemptView<'a>>,
    /// `null` on the last page
    pub next_cursor: Option<&'a str>,
}

/// The page asked for, from the query string.
pub fn parse_query(req: &Request) -> Result<DeliveryQuery, ApiError> {
    let params = lambda_glue::http::checked_query(req, &PARAMETERS)?;
    let outcome = params
        .first("outcome")
        .map(|o| {
            DeliveryOutcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidOutcome,
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
                    ErrorCode::InvalidCursor,
                    "cursor",
                    format!("{e}; pass the next_cursor of the previous page unchanged"),
                )
            })?;
            if cursor.outcome() != outcome {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidCursor,
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
