//! `POST /api/integrations/api-webhooks/api-key`: generate (or regenerate) the account's key.
//!
//! This response is the only place the plaintext key ever appears. The work is
//! `domain::key_rotation::rotate_api_key`: the plaintext goes to the account's secret for
//! webhook signing first, then a conditional transaction replaces the key's hash and grant
//! (the previous key stops working at once; of two racing rotations one gets 409). That order
//! means no single failure leaves the account without a working key.

use crate::ctx::{Ctx, Handler};
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::bulk_cancel::{cancel_scheduled_calls, Canceled, Revoke};
use domain::key_rotation::rotate_api_key;
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(POST "/api/integrations/api-webhooks/api-key" => rotate)];
    ROUTES
}

pub async fn rotate(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    lambda_glue::body::no_fields(ctx.req)?;
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
    // What the old key scheduled dies with it (issue 26: a leaked key's calls must not survive
    // the rotation). The key is committed already: a failure here is only logged, and the
    // reconciler still refuses to dial any call of the old key when it comes due.
    let canceled = match ctx.account.api_key.as_ref() {
        Some(old) => match cancel_scheduled_calls(
            deps.store.as_ref(),
            Some(deps.queue.as_ref()),
            &rotated.account,
            Revoke::Key(&old.hash),
            deps.clock.now(),
        )
        .await
        {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(account_id = %rotated.account.id, error = %e, "rotation: the old key's scheduled calls not canceled now; the reconciler cancels them when due");
                Canceled::default()
            }
        },
        None => Canceled {
            canceled: 0,
            complete: true,
        },
    };
    crate::metrics::rotation("api_key", &rotated.account, Some(canceled.canceled)).emit();
    Ok(json_response(
        201,
        &GeneratedKey {
            success: Success,
            api_key: &rotated.key.plaintext,
            prefix: &info.prefix,
            last4: &info.last4,
            created_at: info.created_at,
            canceled_scheduled_calls: canceled.canceled,
            message: "store this key now; it is shown only once",
        },
    ))
}

/// `201`: the new key, in plaintext here and nowhere else.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct GeneratedKey<'a> {
    pub success: Success,
    #[cfg_attr(
        feature = "openapi",
        schemars(regex(pattern = r"^bvai_live_[A-Za-z0-9_-]{43}$"))
    )]
    pub api_key: &'a str,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "prefix_schema"))]
    pub prefix: &'a str,
    #[cfg_attr(feature = "openapi", schemars(length(min = 4, max = 4)))]
    pub last4: &'a str,
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
    /// how many held or scheduled calls the previous key had created were cancelled (`canceled`, `key_rotated`, each with its event); any left are cancelled by the reconciler when due, never dialed
    pub canceled_scheduled_calls: u64,
    pub message: &'static str,
}

#[cfg(feature = "openapi")]
fn prefix_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"const": domain::api_key::KEY_PREFIX})
}
