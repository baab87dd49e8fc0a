//! `GET /api/agents`: the account's agents for the default-agent dropdown, sorted by name.

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use uuid::Uuid;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[route!(GET "/api/agents" => list)];
    ROUTES
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let agents = ctx.deps.store.agents(&ctx.account.id).await?;
    let agents = agents
        .iter()
        .map(|a| AgentView {
            id: a.id.into(),
            name: &a.name,
            phone_number: a.phone_number.as_ref().map(|p| p.as_str()),
        })
        .collect();
    Ok(json_response(
        200,
        &AgentList {
            success: Success,
            agents,
        },
    ))
}

/// `200`: the account's agents.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct AgentList<'a> {
    pub success: Success,
    pub agents: Vec<AgentView<'a>>,
}

/// An agent as the integration page lists it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", schemars(rename = "Agent"))]
pub struct AgentView<'a> {
    pub id: Uuid,
    pub name: &'a str,
    /// the number its calls come from; `null` when it has none (it cannot call)
    pub phone_number: Option<&'a str>,
}
