//! `GET /api/integrations/api-webhooks/endpoint-health`: the endpoint summary and its delivery
//! outcomes per hour, for the integration page's chart.
//!
//! Query parameter: `range`, `24h` (default) or `7d`; unknown or repeated parameters are 400s.
//! Read through the delivery log's outcome index (`domain::webhook::summary`), never a scan:
//! the summary's reads plus one range query per counted outcome over the range.

use crate::ctx::{Ctx, Handler};
use domain::webhook::summary::{delivery_histogram, endpoint_summary, HealthRange};
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde_json::json;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(GET "/api/integrations/api-webhooks/endpoint-health" => get)];
    ROUTES
}

const PARAMETERS: [&str; 1] = ["range"];

pub async fn get(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let params = lambda_glue::http::checked_query(ctx.req, &PARAMETERS)?;
    let range = match params.first("range") {
        None => HealthRange::Day,
        Some(r) => HealthRange::parse(r).ok_or_else(|| {
            ApiError::bad_request("invalid_range", "range", "range must be 24h or 7d")
        })?,
    };
    let now = ctx.deps.clock.now();
    let log = ctx.deps.store.as_ref();
    let summary = endpoint_summary(log, &ctx.account.id, now).await?;
    let buckets = delivery_histogram(log, &ctx.account.id, range, now).await?;
    Ok(json_response(
        200,
        &json!({
            "success": true,
            "range": range.as_str(),
            "bucket_seconds": 3600,
            "endpoint": summary.to_json(),
            "buckets": buckets.iter().map(|b| b.to_json()).collect::<Vec<_>>(),
        }),
    ))
}
