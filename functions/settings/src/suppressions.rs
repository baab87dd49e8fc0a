//! The account's do-not-call list (docs/settings-api.md, "Do-not-call list"):
//!
//! - `PUT /api/integrations/api-webhooks/suppressions/{phone}`: adds the number (idempotent);
//! - `DELETE /api/integrations/api-webhooks/suppressions/{phone}`: removes it (404
//!   `suppression_not_found` if it was not listed);
//! - `GET /api/integrations/api-webhooks/suppressions?limit=&cursor=`: the list in number
//!   order, `limit` 1 to [`MAX_SUPPRESSION_PAGE`] (default [`DEFAULT_SUPPRESSION_PAGE`]).
//!
//! `{phone}` is E.164 with its `+` percent-encoded (`%2B14155550123`) or not. A suppressed
//! number is refused by trigger-call (422 `number_suppressed`); scheduled calls to it are
//! cancelled when they come due (or when read with `GET /api/calls/{id}`), not here.
//! Phone numbers are personal data: never logged.

use crate::ctx::{Ctx, Handler};
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::phone::PhoneNumber;
use domain::ports::store::suppressions::{
    decode_cursor, DEFAULT_SUPPRESSION_PAGE, MAX_SUPPRESSION_PAGE,
};
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[
        route!(GET "/api/integrations/api-webhooks/suppressions" => list),
        route!(PUT "/api/integrations/api-webhooks/suppressions/{phone}" => put),
        route!(DELETE "/api/integrations/api-webhooks/suppressions/{phone}" => delete),
    ];
    ROUTES
}

const PARAMETERS: [&str; 2] = ["limit", "cursor"];

/// Percent-decodes a path segment (`%2B` -> `+`); `None` for a malformed escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The path's number, validated (400 `invalid_phone`, field `phone`).
fn phone(ctx: &Ctx<'_>) -> Result<PhoneNumber, ApiError> {
    let raw = ctx.params.get("phone").unwrap_or_default();
    let bad = |why: String| ApiError::bad_request(ErrorCode::InvalidPhone, "phone", why);
    let decoded = percent_decode(raw)
        .ok_or_else(|| bad("phone is not a valid percent-encoded path segment".into()))?;
    PhoneNumber::parse(&decoded).map_err(|e| bad(e.to_string()))
}

pub async fn put(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let phone = phone(&ctx)?;
    let added = ctx
        .deps
        .store
        .suppress(&ctx.account.id, phone.as_str(), ctx.deps.clock.now())
        .await?;
    tracing::info!(account_id = %ctx.account.id, added, "number added to the do-not-call list");
    Ok(json_response(
        200,
        &SuppressionChange {
            success: Success,
            phone: phone.as_str(),
            suppressed: true,
            added: Some(added),
        },
    ))
}

pub async fn delete(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let phone = phone(&ctx)?;
    if !ctx
        .deps
        .store
        .unsuppress(&ctx.account.id, phone.as_str())
        .await?
    {
        return Err(ApiError::not_found(
            ErrorCode::SuppressionNotFound,
            Some("phone"),
            "this number is not on the account's do-not-call list",
        ));
    }
    tracing::info!(account_id = %ctx.account.id, "number removed from the do-not-call list");
    Ok(json_response(
        200,
        &SuppressionChange {
            success: Success,
            phone: phone.as_str(),
            suppressed: false,
            added: None,
        },
    ))
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let params = lambda_glue::http::checked_query(ctx.req, &PARAMETERS)?;
    let limit =
        lambda_glue::http::limit_param(&params, DEFAULT_SUPPRESSION_PAGE, MAX_SUPPRESSION_PAGE)?;
    let after = params
        .first("cursor")
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidCursor,
                    "cursor",
                    "the cursor is not valid; pass the next_cursor of the previous page unchanged",
                )
            })
        })
        .transpose()?;
    let page = ctx
        .deps
        .store
        .suppressions(&ctx.account.id, after.as_deref(), limit)
        .await?;
    let suppressions = page
        .items
        .iter()
        .map(|s| Suppression {
            phone: &s.phone,
            created_at: s.created_at,
        })
        .collect();
    Ok(json_response(
        200,
        &SuppressionPage {
            success: Success,
            suppressions,
            next_cursor: page.next_cursor.as_deref(),
        },
    ))
}

/// `200` of PUT and DELETE: the number's state now.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct SuppressionChange<'a> {
    pub success: Success,
    /// a number as the list stores it: always one `PhoneNumber::parse` accepted
    #[cfg_attr(feature = "openapi", schemars(with = "domain::phone::PhoneNumber"))]
    pub phone: &'a str,
    pub suppressed: bool,
    /// on PUT, whether the number was new to the list
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "bool"))]
    pub added: Option<bool>,
}

/// One number of the do-not-call list.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct Suppression<'a> {
    /// a number as the list stores it: always one `PhoneNumber::parse` accepted
    #[cfg_attr(feature = "openapi", schemars(with = "domain::phone::PhoneNumber"))]
    pub phone: &'a str,
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
}

/// `200` of the list: one page, in number order.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct SuppressionPage<'a> {
    pub success: Success,
    #[cfg_attr(feature = "openapi", schemars(length(max = 100)))]
    pub suppressions: Vec<Suppression<'a>>,
    /// `null` on the last page
    pub next_cursor: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("%2B14155550123").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            percent_decode("+14155550123").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(percent_decode("%2b1").as_deref(), Some("+1"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz1"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
