//! `POST /api/integrations/api-webhooks/calling-rules/check`: would trigger-call place a call
//! to this number now, and if not, when (docs/settings-api.md, "Calling rules check").
//!
//! Read-only: it asks the same rules trigger-call asks (`domain::destination::check`, the
//! do-not-call list, `domain::dial_rules::check` with the account's calling window and
//! recipient hours), at the server's clock, and writes nothing. The integration page's
//! Calling rules card uses it, because only the server knows which time zones a number may be
//! in. The number travels in the body, not the URL, so that it never lands in an access log;
//! it is personal data and is never logged.

use crate::ctx::{Ctx, Handler};
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::dial_rules::Rule;
use domain::phone::PhoneNumber;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::{json_body, json_object, json_response, json_type, refuse_unknown_fields};
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(POST "/api/integrations/api-webhooks/calling-rules/check" => check)];
    ROUTES
}

const FIELDS: [&str; 1] = ["phone"];

/// The body's `phone`, validated as trigger-call validates it (400 `invalid_phone`).
fn phone(body: &serde_json::Map<String, Value>) -> Result<PhoneNumber, ApiError> {
    let bad = |why: String| ApiError::bad_request(ErrorCode::InvalidPhone, "phone", why);
    match body.get("phone") {
        None | Some(Value::Null) => Err(ApiError::bad_request(
            ErrorCode::MissingField,
            "phone",
            "phone is required: the E.164 number to check, e.g. +14155550123",
        )),
        Some(Value::String(s)) => PhoneNumber::parse(s).map_err(|e| bad(e.to_string())),
        Some(other) => Err(bad(format!(
            "phone must be a string, not {}",
            json_type(other)
        ))),
    }
}

pub async fn check(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = json_object(json_body(ctx.req)?)?;
    refuse_unknown_fields(&body, &FIELDS)?;
    let phone = phone(&body)?;
    let now = ctx.deps.clock.now();
    let account = &ctx.account;
    let recipient = account.guardrails.recipient_hours();
    let zones: Vec<&str> = recipient
        .windows(&phone)
        .iter()
        .map(|w| w.time_zone.name())
        .collect();
    // Refusals no time lifts come first, in trigger-call's order.
    let refused = match domain::destination::check(&phone, &account.guardrails) {
        Err(e) => Some(e),
        Ok(()) if ctx.deps.store.is_suppressed(&account.id, phone.as_str()).await? => {
            Some(ApiError::unprocessable(
                ErrorCode::NumberSuppressed,
                Some("phone"),
                "this number is on the account's do-not-call list; remove it from the list to call it",
            ))
        }
        Ok(()) => None,
    };
    let answer = match &refused {
        Some(e) => CallingRulesCheck {
            success: Success,
            allowed_now: false,
            refused: Some(Refusal {
                code: e.code().as_str(),
                message: e.to_string(),
            }),
            closed_by: None,
            recipient_zones: zones,
            next_allowed_at: None,
        },
        None => {
            let rules =
                domain::dial_rules::check(account.calling_window.as_ref(), &recipient, &phone, now);
            let (closed_by, next) = match rules {
                Ok(()) => (None, Some(now)),
                Err(closed) => (Some(closed.rule), closed.next_allowed_at),
            };
            CallingRulesCheck {
                success: Success,
                allowed_now: closed_by.is_none(),
                refused: None,
                closed_by,
                recipient_zones: zones,
                next_allowed_at: next,
            }
        }
    };
    Ok(json_response(200, &answer))
}

/// `200`: whether and when a call to the number would be allowed.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct CallingRulesCheck<'a> {
    pub success: Success,
    pub allowed_now: bool,
    /// a refusal no time lifts; null when the number may be called at some time
    pub refused: Option<Refusal>,
    /// the rule closed now (the account's window is named first when both are); null when allowed now or refused
    #[serde(serialize_with = "rule_name")]
    #[cfg_attr(feature = "openapi", schemars(schema_with = "closed_by_schema"))]
    pub closed_by: Option<Rule>,
    /// the time zones the recipient's hours are checked in for this number (empty when they do not apply)
    pub recipient_zones: Vec<&'a str>,
    /// now when allowed now; else the earliest instant every rule allows the call; null when refused or none within a year
    #[serde(serialize_with = "answer::opt_time")]
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// A refusal no time lifts, with trigger-call's code and message for it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct Refusal {
    #[cfg_attr(feature = "openapi", schemars(schema_with = "refusal_code_schema"))]
    pub code: &'static str,
    pub message: String,
}

/// The rule as the page names it.
fn rule_name<S: serde::Serializer>(rule: &Option<Rule>, s: S) -> Result<S::Ok, S::Error> {
    match rule {
        Some(Rule::CallingWindow) => s.serialize_str("calling_window"),
        Some(Rule::RecipientHours) => s.serialize_str("recipient_hours"),
        None => s.serialize_none(),
    }
}

#[cfg(feature = "openapi")]
fn closed_by_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "enum": ["calling_window", "recipient_hours", null]
    })
}

// TODO(ids): read these from the ErrorCode enum once it lands.
#[cfg(feature = "openapi")]
fn refusal_code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["destination_not_allowed", "number_suppressed"]
    })
}
