//! `POST /api/integrations/api-webhooks/calling-rules/check`: do the rules about this number
//! allow trigger-call to place a call to it now, and if not, when (docs/settings-api.md,
//! "Calling rules check"). What depends on the request (API access, the agent) is not asked.
//!
//! A route of the integration page (the dashboard session, `lambda_glue::dashboard`: the
//! settings API's caller and rate limit), served by this function because it asks the rules
//! trigger-call asks, which this function links and the settings function does not (the zone
//! tables and `dial_rules` would grow settings' binary past its size goal: docs/benchmarks.md).
//!
//! Read-only: `domain::destination::check`, the do-not-call list, `domain::dial_rules::check`
//! with the account's calling window and recipient hours, in trigger-call's order, at the
//! server's clock; nothing is written. The number travels in the body, not the URL, so that it
//! never lands in an access log; it is personal data and is never logged.

use crate::{request, trigger, Ctx};
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::dial_rules::Rule;
use domain::phone::PhoneNumber;
use domain::rate_limit::Scope;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::body::{parse_body, RequestBody};
use lambda_glue::dashboard;
use lambda_glue::http::{json_response, refuse_unknown_fields};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// The route (`crate::ROUTES`, one of `crate::DASHBOARD_ROUTES`).
pub const CHECK: &str = "/api/integrations/api-webhooks/calling-rules/check";

/// The body of the check: the number, read as trigger-call reads its `phone`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "CallingRulesCheckRequest", deny_unknown_fields)
)]
pub struct CheckRequest {
    /// the number to check, strict E.164 as trigger-call's `phone`
    pub phone: PhoneNumber,
}

impl RequestBody for CheckRequest {
    const FIELDS: &'static [&'static str] = &["phone"];
    type Context = ();

    fn parse(body: &Map<String, Value>, _: &()) -> Result<Self, ApiError> {
        refuse_unknown_fields(body, Self::FIELDS)?;
        Ok(CheckRequest {
            phone: request::phone(body)?,
        })
    }
}

pub async fn check(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let deps = ctx.deps;
    let now = deps.clock.now();
    // The dashboard's caller, counted against the settings limit like every settings route.
    let caller = dashboard::caller(
        ctx.req,
        deps.store.as_ref(),
        &deps.account_claim,
        now,
        &[(Scope::Settings, deps.settings_rate_limit)],
    )
    .await?;
    let _ = ctx.rate.set(caller.rate);
    let account = caller.account;
    dashboard::refuse_suspended(&account)?;

    let CheckRequest { phone } = parse_body(ctx.req, &())?;
    let recipient = account.guardrails.recipient_hours();
    let recipient_zones: Vec<&str> = recipient
        .windows(&phone)
        .iter()
        .map(|w| w.time_zone.name())
        .collect();
    // Refusals no time lifts come first, in trigger-call's order.
    let refused = match domain::destination::check(&phone, &account.guardrails) {
        Err(e) => Some(e),
        Ok(())
            if deps
                .store
                .is_suppressed(&account.id, phone.as_str())
                .await? =>
        {
            Some(trigger::number_suppressed())
        }
        Ok(()) => None,
    };
    let answer = match refused {
        Some(e) => CallingRulesCheck {
            success: Success,
            allowed_now: false,
            refused: Some(Refusal {
                code: e.code(),
                message: e.to_string(),
            }),
            closed_by: None,
            recipient_zones,
            next_allowed_at: None,
        },
        None => {
            let rules =
                domain::dial_rules::check(account.calling_window.as_ref(), &recipient, &phone, now);
            let (closed_by, next_allowed_at) = match rules {
                Ok(()) => (None, Some(now)),
                Err(closed) => (Some(ClosedBy::from(closed.rule)), closed.next_allowed_at),
            };
            CallingRulesCheck {
                success: Success,
                allowed_now: closed_by.is_none(),
                refused: None,
                closed_by,
                recipient_zones,
                next_allowed_at,
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
    pub closed_by: Option<ClosedBy>,
    /// the time zones the recipient's hours are checked in for this number (empty when they do not apply)
    pub recipient_zones: Vec<&'a str>,
    /// now when allowed now; else the earliest instant every rule allows the call (what `"when_closed": "hold"` would schedule it for); null when refused or none within a year
    #[serde(serialize_with = "answer::opt_time")]
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// A refusal no time lifts, with trigger-call's code and message for it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct Refusal {
    #[cfg_attr(feature = "openapi", schemars(schema_with = "refusal_code_schema"))]
    pub code: ErrorCode,
    pub message: String,
}

/// The dialing rule that is closed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// the account's calling window
    CallingWindow,
    /// the recipient's hours in a zone the number may be in
    RecipientHours,
}

impl From<Rule> for ClosedBy {
    fn from(rule: Rule) -> ClosedBy {
        match rule {
            Rule::CallingWindow => ClosedBy::CallingWindow,
            Rule::RecipientHours => ClosedBy::RecipientHours,
        }
    }
}

/// The codes a [`Refusal`] can carry: trigger-call's refusals of the number itself.
pub const REFUSAL_CODES: [ErrorCode; 2] = [
    ErrorCode::DestinationNotAllowed,
    ErrorCode::NumberSuppressed,
];

#[cfg(feature = "openapi")]
fn refusal_code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let codes: Vec<&str> = REFUSAL_CODES.iter().map(|c| c.as_str()).collect();
    schemars::json_schema!({"type": "string", "enum": codes})
}
