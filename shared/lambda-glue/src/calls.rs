//! An account's calls as the two APIs show them: one call's JSON (`GET /api/calls/{call_id}`,
//! and each row of a list), and the list's query string, parsed once for both lists
//! (`GET /api/calls` with the API key, `GET /api/integrations/api-webhooks/calls` for the
//! integration page).
//!
//! Query parameters: `status` (a call status), `created_after` (RFC 3339: calls created at or
//! after it), `created_before` (calls created strictly before it), `limit` (1 to 100, default
//! 25) and `cursor` (the previous page's `next_cursor`, opaque). Unknown or repeated parameters
//! are 400s, like unknown JSON fields elsewhere.

use domain::clock::rfc3339;
use domain::model::{Call, CallStatus};
use domain::ports::store::calls::{CallCursor, CallPage, CallQuery, MAX_CALL_PAGE};
use domain::ApiError;
use lambda_http::Request;
use serde_json::{json, Value};

pub const DEFAULT_CALL_PAGE: usize = 25;
const PARAMETERS: [&str; 5] = [
    "status",
    "created_after",
    "created_before",
    "limit",
    "cursor",
];

/// One call as the API shows it.
pub fn view(c: &Call) -> Value {
    json!({
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
        "scheduled_for": c.due_at.filter(|_| c.status == CallStatus::Scheduled).map(rfc3339),
        "started_at": c.started_at.map(rfc3339),
        "ended_at": c.ended_at.map(rfc3339),
        "duration_seconds": c.duration_seconds,
        "failure_reason": c.failure_reason,
    })
}

/// A page of calls: `{"success": true, "calls": [...], "next_cursor": ...}`, each row exactly
/// what `GET /api/calls/{call_id}` answers for the call ([`view`]).
pub fn page_json(page: &CallPage) -> Value {
    let rows: Vec<Value> = page.calls.iter().map(view).collect();
    json!({"success": true, "calls": rows, "next_cursor": page.next_cursor})
}

fn time_param(name: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_time",
                name,
                format!("{name} must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"),
            )
        })
}

/// The page asked for, from the query string.
pub fn parse_query(req: &Request) -> Result<CallQuery, ApiError> {
    let params = crate::http::checked_query(req, &PARAMETERS)?;
    let status = params
        .first("status")
        .map(|s| {
            CallStatus::parse(s).ok_or_else(|| {
                let all: Vec<&str> = CallStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(
                    "invalid_status",
                    "status",
                    format!("status must be one of {}", all.join(", ")),
                )
            })
        })
        .transpose()?;
    let created_after = params
        .first("created_after")
        .map(|v| time_param("created_after", v))
        .transpose()?;
    let created_before = params
        .first("created_before")
        .map(|v| time_param("created_before", v))
        .transpose()?;
    let limit = crate::http::limit_param(&params, DEFAULT_CALL_PAGE, MAX_CALL_PAGE)?;
    let after = params
        .first("cursor")
        .map(|c| {
            CallCursor::decode(c).map_err(|e| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "cursor",
                    format!("{e}; pass the next_cursor of the previous page unchanged"),
                )
            })
        })
        .transpose()?;
    Ok(CallQuery {
        status,
        created_after,
        created_before,
        limit,
        after,
    })
}
