//! An account's calls as the two APIs show them: one call's JSON (`GET /api/calls/{call_id}`,
//! and each row of a list), and the list's query string, parsed once for both lists
//! (`GET /api/calls` with the API key, `GET /api/integrations/api-webhooks/calls` for the
//! integration page).
//!
//! Query parameters: `status` (a call status), `created_after` (RFC 3339: calls created at or
//! after it), `created_before` (calls created strictly before it), `limit` (1 to 100, default
//! 25) and `cursor` (the previous page's `next_cursor`, opaque). Unknown or repeated parameters
//! are 400s, like unknown JSON fields elsewhere.

use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::model::{Call, CallStatus, Direction};
use domain::ports::store::calls::{CallCursor, CallPage, CallQuery, MAX_CALL_PAGE};
use domain::ApiError;
use domain::ErrorCode;
use lambda_http::Request;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub const DEFAULT_CALL_PAGE: usize = 25;
const PARAMETERS: [&str; 5] = [
    "status",
    "created_after",
    "created_before",
    "limit",
    "cursor",
];

/// One call as the API shows it (`GET /api/calls/{call_id}`, each row of both lists, and the
/// cancelled call `DELETE` answers).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "CallStatus", deny_unknown_fields)
)]
pub struct CallView<'a> {
    pub success: Success,
    pub call_id: Uuid,
    /// `scheduled`: held or `not_before`, placed at `scheduled_for`; `canceled`: a scheduled call cancelled (by `DELETE`, or its number put on the do-not-call list: `failure_reason` `number_suppressed`), never placed
    pub status: CallStatus,
    pub direction: Direction,
    pub agent_id: Uuid,
    pub phone_number: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub metadata: &'a Map<String, Value>,
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "answer::time")]
    pub updated_at: DateTime<Utc>,
    /// while `scheduled`, when the call is placed; otherwise `null`
    #[serde(serialize_with = "answer::opt_time")]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(serialize_with = "answer::opt_time")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "answer::opt_time")]
    pub ended_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schemars(range(min = 0)))]
    pub duration_seconds: Option<i64>,
    /// why a call `failed` (a provider code such as `provider_http_422`, `dial_outcome_unknown: ...`; for a held call that no longer passed when due: `agent_unavailable`, `api_disabled`, `destination_blocked`, `calling_window_never_opens`, `account_not_found`) or was `canceled` (`number_suppressed`; `key_rotated`: the API key that created it was regenerated)
    pub failure_reason: Option<&'a str>,
}

/// One call as the API shows it.
pub fn view(c: &Call) -> CallView<'_> {
    CallView {
        success: Success,
        call_id: c.id.into(),
        status: c.status,
        direction: c.direction,
        agent_id: c.agent_id.into(),
        phone_number: &c.phone_number,
        name: c.name.as_deref(),
        email: c.email.as_deref(),
        metadata: &c.metadata,
        created_at: c.created_at,
        updated_at: c.updated_at,
        scheduled_for: c.due_at.filter(|_| c.status == CallStatus::Scheduled),
        started_at: c.started_at,
        ended_at: c.ended_at,
        duration_seconds: c.duration_seconds,
        failure_reason: c.failure_reason.as_deref(),
    }
}

/// A page of calls (`GET /api/calls`, `GET /api/integrations/api-webhooks/calls`), each row
/// exactly what `GET /api/calls/{call_id}` answers for the call ([`view`]).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "CallPage", deny_unknown_fields)
)]
pub struct CallPageView<'a> {
    pub success: Success,
    /// each call exactly as `GET /api/calls/{call_id}` answers it
    #[cfg_attr(feature = "openapi", schemars(length(max = 100)))]
    pub calls: Vec<CallView<'a>>,
    /// `null` when nothing is left
    pub next_cursor: Option<&'a str>,
}

/// A page of calls as both lists answer it.
pub fn page(page: &CallPage) -> CallPageView<'_> {
    CallPageView {
        success: Success,
        calls: page.calls.iter().map(view).collect(),
        next_cursor: page.next_cursor.as_deref(),
    }
}

fn time_param(name: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidTime,
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
                    ErrorCode::InvalidStatus,
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
                    ErrorCode::InvalidCursor,
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
