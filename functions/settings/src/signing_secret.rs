//! `GET` and `POST /api/integrations/api-webhooks/signing-secret`: reveal and rotate the
//! webhook signing secret (`whsec_...`) that keys `webhook-signature`
//! (`domain::webhook::signing_secret`).
//!
//! GET shows the current secret; an account that has a webhook URL but no secret yet (its URL
//! predates signing secrets) gets one now. POST replaces it; the replaced secret keeps signing
//! (a second signature) for `WEBHOOK_SECRET_OVERLAP` (24 h). Both answer 422 `no_webhook_url`
//! for an account that never had a secret and has no URL. The secret appears in these
//! responses only, never in logs or error bodies.

use crate::ctx::{Ctx, Handler};
use crate::Deps;
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::model::Account;
use domain::webhook::signing_secret::{self, SigningSecret};
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
        route!(GET "/api/integrations/api-webhooks/signing-secret" => get),
        route!(POST "/api/integrations/api-webhooks/signing-secret" => rotate),
    ];
    ROUTES
}

pub async fn get(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let deps = ctx.deps;
    require_url_or_secret(&ctx.account)?;
    // A URL without a secret predates signing secrets: legacy signatures for a while.
    let account = signing_secret::ensure(
        deps.store.as_ref(),
        deps.secrets.as_ref(),
        &deps.webhook_secret_prefix,
        &ctx.account,
        deps.clock.now(),
        true,
    )
    .await?;
    Ok(json_response(200, &reveal(&account, None, deps).await?))
}

pub async fn rotate(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    lambda_glue::body::no_fields(ctx.req)?;
    let deps = ctx.deps;
    require_url_or_secret(&ctx.account)?;
    let (account, secret) = signing_secret::rotate(
        deps.store.as_ref(),
        deps.secrets.as_ref(),
        &deps.webhook_secret_prefix,
        &ctx.account,
        deps.clock.now(),
        deps.signing_secret_overlap,
    )
    .await?;
    crate::metrics::rotation("signing_secret", &account, None).emit();
    // Shown from what was just written: a committed rotation never answers an error.
    Ok(json_response(
        201,
        &reveal(&account, Some(secret), deps).await?,
    ))
}

fn require_url_or_secret(account: &Account) -> Result<(), ApiError> {
    if account.webhook_secret.is_none() && account.webhook_url.is_none() {
        return Err(ApiError::unprocessable(
            ErrorCode::NoWebhookUrl,
            Some("webhook_url"),
            "the signing secret is created with the first webhook URL; set one first",
        ));
    }
    Ok(())
}

/// The current secret (`known`: just written, else read from Secrets Manager) and, during an
/// overlap, when the previous one stops signing.
async fn reveal(
    account: &Account,
    known: Option<SigningSecret>,
    deps: &Deps,
) -> Result<SigningSecretAnswer, ApiError> {
    let info = account.webhook_secret.as_ref().ok_or_else(|| {
        ApiError::internal(std::io::Error::other("account without a signing secret"))
    })?;
    let secret: SigningSecret = match known {
        Some(secret) => secret,
        None => {
            deps.secret_cache
                .get(
                    deps.secrets.as_ref(),
                    &deps.webhook_secret_prefix,
                    &account.id,
                    &info.version,
                )
                .await?
        }
    };
    let previous = info.previous_at(deps.clock.now());
    Ok(SigningSecretAnswer {
        success: Success,
        signing_secret: secret.expose().to_string(),
        created_at: info.created_at,
        previous_expires_at: previous.map(|p| p.expires_at),
    })
}

/// `200` of GET and `201` of POST: the secret itself (only here, never in logs or errors).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", schemars(rename = "SigningSecret"))]
pub struct SigningSecretAnswer {
    pub success: Success,
    #[cfg_attr(
        feature = "openapi",
        schemars(regex(pattern = r"^whsec_[A-Za-z0-9+/]{43}=$"))
    )]
    pub signing_secret: String,
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
    /// until when the previous secret still signs; `null` outside a rotation's overlap
    #[serde(serialize_with = "answer::opt_time")]
    pub previous_expires_at: Option<DateTime<Utc>>,
}
