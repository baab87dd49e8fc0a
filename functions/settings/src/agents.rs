//! `GET /api/agents`: the account's agents for the default-agent dropdown, sorted by name.

use crate::ctx::{Ctx, Handler};
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde_json::json;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[route!(GET "/api/agents" => list)];
    ROUTES
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let agents = ctx.deps.store.agents(&ctx.account.id).await?;
    let agents: Vec<_> = agents
        .iter()
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "name": a.name,
                "phone_number": a.phone_number.as_ref().map(|p| p.as_str()),
            })
        })
        .collect();
    Ok(json_response(
        200,
        &json!({"success": true, "agents": agents}),
    ))
}
