//! `POST /api/integrations/api-webhooks/api-key`: generate (or regenerate) the account's key.
//!
//! This response is the only place the plaintext key ever appears. The work is
//! `domain::key_rotation::rotate_api_key`: the plaintext goes to the account's secret for
//! webhook signing first, then a conditional transaction replaces the key's hash and grant
//! (the previous key stops working at once; of two racing rotations one gets 409). That order
//! means no single failure leaves the account without a working key.

use crate::router::Ctx;
use domain::clock::rfc3339;
use domain::key_rotation::rotate_api_key;
use domain::ApiError;
use lambda_glue::http::{body_bytes, json_body, json_object, json_response};
use lambda_http::{Body, Response};
use serde_json::json;

pub async fn rotate(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    // No body is needed; an empty JSON object is tolerated, anything else is a mistake.
    if !body_bytes(ctx.req).iter().all(u8::is_ascii_whitespace) {
        let body = json_object(json_body(ctx.req)?)?;
        if let Some(field) = body.keys().min() {
            return Err(ApiError::bad_request(
                "unknown_field",
                field,
                format!("unknown field {field:?}; this request takes no fields"),
            ));
        }
    }
    let deps = ctx.deps;
    let rotated = rotate_api_key(
        deps.store.as_ref(),
        deps.secrets.as_ref(),
        &deps.secret_prefix,
        &ctx.account,
        deps.clock.now(),
    )
    .await?;
    let info =
        rotated.account.api_key.as_ref().ok_or_else(|| {
            ApiError::internal(std::io::Error::other("rotated account has no key"))
        })?;
    tracing::info!(account_id = %rotated.account.id, "API key generated");
    Ok(json_response(
        201,
        &json!({
            "success": true,
            "api_key": rotated.key.plaintext,
            "prefix": info.prefix,
            "last4": info.last4,
            "created_at": rfc3339(info.created_at),
            "message": "store this key now; it is shown only once",
        }),
    ))
}
