//! `GET /api/integrations/api-webhooks/endpoint-health`: the endpoint summary and its delivery
//! outcomes per hour, for the integration page's chart.
//!
//! Query parameter: `range`, `24h` (default) or `7d`; unknown or repeated parameters are 400s.
//! Read through the delivery log's outcome index (`domain::webhook::summary`), never a scan:
//! the summary's reads plus one range query per counted outcome over the range.

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::webhook::summary::{delivery_histogram, endpoint_summary, HealthRange};
use domain::webhook::summary::{EndpointView, HealthBucket};
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;

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
            ApiError::bad_request(ErrorCode::InvalidRange, "range", "range must be 24h or 7d")
        })?,
    };
    let now = ctx.deps.clock.now();
    let log = ctx.deps.store.as_ref();
    let summary = endpoint_summary(log, &ctx.account.id, now).await?;
    let buckets = delivery_histogram(log, &ctx.account.id, range, now).await?;
    Ok(json_response(
        200,
        &EndpointHealth {
            success: Success,
            range: range.as_str(),
            bucket_seconds: BUCKET_SECONDS,
            endpoint: summary.view(),
            buckets,
        },
    ))
}

/// One bar of the chart per hour.
const BUCKET_SECONDS: u32 = 3600;

/// `200` of endpoint-health: the summary and the chart's bars, oldest hour first.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct EndpointHealth {
    pub success: Success,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "range_schema"))]
    pub range: &'static str,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "bucket_seconds_schema"))]
    pub bucket_seconds: u32,
    pub endpoint: EndpointView,
    #[cfg_attr(feature = "openapi", schemars(length(min = 24, max = 168)))]
    pub buckets: Vec<HealthBucket>,
}

#[cfg(feature = "openapi")]
fn range_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["24h", "7d"]})
}

#[cfg(feature = "openapi")]
fn bucket_seconds_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"const": BUCKET_SECONDS})
}
