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
use domain::clock::rfc3339;
use domain::dial_rules::Rule;
use domain::phone::PhoneNumber;
use domain::ApiError;
use lambda_glue::http::{json_body, json_object, json_response, json_type, refuse_unknown_fields};
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(POST "/api/integrations/api-webhooks/calling-rules/check" => check)];
    ROUTES
}

const FIELDS: [&str; 1] = ["phone"];

/// The body's `phone`, validated as trigger-call validates it (400 `invalid_phone`).
fn phone(body: &serde_json::Map<String, Value>) -> Result<PhoneNumber, ApiError> {
    let bad = |why: String| ApiError::bad_request("invalid_phone", "phone", why);
    match body.get("phone") {
        None | Some(Value::Null) => Err(ApiError::bad_request(
            "missing_field",
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
                "number_suppressed",
                Some("phone"),
                "this number is on the account's do-not-call list; remove it from the list to call it",
            ))
        }
        Ok(()) => None,
    };
    let answer = match refused {
        Some(e) => json!({
            "success": true,
            "allowed_now": false,
            "refused": {"code": e.code(), "message": e.to_string()},
            "closed_by": null,
            "recipient_zones": zones,
            "next_allowed_at": null,
        }),
        None => {
            let rules =
                domain::dial_rules::check(account.calling_window.as_ref(), &recipient, &phone, now);
            let (closed_by, next) = match rules {
                Ok(()) => (None, Some(now)),
                Err(closed) => (
                    Some(match closed.rule {
                        Rule::CallingWindow => "calling_window",
                        Rule::RecipientHours => "recipient_hours",
                    }),
                    closed.next_allowed_at,
                ),
            };
            json!({
                "success": true,
                "allowed_now": closed_by.is_none(),
                "refused": null,
                "closed_by": closed_by,
                "recipient_zones": zones,
                "next_allowed_at": next.map(rfc3339),
            })
        }
    };
    Ok(json_response(200, &answer))
}
