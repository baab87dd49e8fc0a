//! `GET /api/calls/{call_id}`: a call's status for the account that owns it. Another
//! account's call is a 404, exactly like a call that does not exist.

use crate::Ctx;
use domain::clock::rfc3339;
use domain::model::Call;
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};
use uuid::Uuid;

pub async fn get_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let deps = ctx.deps;
    let raw_id = ctx.params.get("call_id").unwrap_or_default();
    let grant = crate::authenticate(&ctx).await?;
    let not_found = || {
        ApiError::not_found(
            "call_not_found",
            Some("call_id"),
            format!("call {raw_id} not found"),
        )
    };
    let id = Uuid::parse_str(raw_id).map_err(|_| not_found())?;
    let call = deps
        .store
        .call(id)
        .await?
        .filter(|c| c.account_id == grant.account_id)
        .ok_or_else(not_found)?;
    Ok(json_response(200, &view(&call)))
}

pub fn view(c: &Call) -> serde_json::Value {
    serde_json::json!({
        "success": true,
        "call_id": c.id.to_string(),
        "status": c.status.as_str(),
        "direction": c.direction.as_str(),
        "agent_id": c.agent_id.to_string(),
        "phone_number": c.phone_number,
        "name": c.name,
        "email": c.email,
        "metadata": c.metadata,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
        "started_at": c.started_at.map(rfc3339),
        "ended_at": c.ended_at.map(rfc3339),
        "duration_seconds": c.duration_seconds,
        "failure_reason": c.failure_reason,
    })
}
