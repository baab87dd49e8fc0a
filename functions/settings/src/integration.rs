//! `GET` and `PATCH /api/integrations/api-webhooks`: the integration's state as the page shows
//! it, and changes to it. The API key itself never appears here, only its prefix, last four
//! characters and creation time; the signing secret only its creation time and the end of a
//! rotation's overlap; `endpoint` summarises the delivery log (`domain::webhook::summary`).

use crate::ctx::{Ctx, Handler};
use crate::{caller, update, Deps};
use domain::clock::rfc3339;
use domain::model::Account;
use domain::webhook::signing_secret;
use domain::webhook::summary::endpoint_summary;
use domain::{ApiError, StoreError};
use lambda_glue::http::{json_body, json_object, json_response};
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

/// The integration's own resource; the other routes hang under it.
pub const INTEGRATION: &str = "/api/integrations/api-webhooks";

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[
        route!(GET INTEGRATION => get),
        route!(PATCH INTEGRATION => patch),
    ];
    ROUTES
}

/// How many times a PATCH re-reads and re-applies itself when another write got in between.
/// A PATCH is a merge of the fields it names, so re-applying it to the newer state is right.
pub const SAVE_ATTEMPTS: usize = 3;

pub async fn get(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    Ok(json_response(200, &view(&ctx.account, ctx.deps).await?))
}

/// The integration as the page shows it. A default agent that no longer exists shows as null
/// (trigger-call then answers 404 for it, and the page asks for a new choice).
pub async fn view(account: &Account, deps: &Deps) -> Result<Value, ApiError> {
    let default_agent = match account.default_agent_id {
        Some(id) => deps
            .store
            .agent(&account.id, id)
            .await?
            .map(|a| json!({"id": a.id.to_string(), "name": a.name})),
        None => None,
    };
    Ok(json!({
        "success": true,
        "api_enabled": account.api_enabled,
        "api_key": account.api_key.as_ref().map(|k| json!({
            "prefix": k.prefix,
            "last4": k.last4,
            "created_at": rfc3339(k.created_at),
        })),
        "webhook_url": account.webhook_url,
        "default_agent": default_agent,
        // Read-only: set by an operator (`bvai-admin set-destinations`); null: every country.
        "allowed_countries": account.guardrails.allowed_countries,
        // Read-only: the number types refused by default that an operator allowed
        // (`bvai-admin set-destinations --allow-type`); [] : every one refused.
        "allowed_number_types": account.guardrails.allowed_number_types,
        // The webhook events the account receives (docs/webhooks.md).
        "events": account.events.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        // Read-only: set by an operator (`bvai-admin set-calling-window`); null: always open.
        "calling_window": account.calling_window,
        // Read-only: set by an operator (`bvai-admin set-recipient-hours`); the policy in
        // force, the default unless one was set.
        "recipient_hours": account.guardrails.recipient_hours(),
        // Read-only: an operator's suspension (`bvai-admin suspend`); every other route and
        // the API answer 403 account_suspended meanwhile. The operator's reason is not shown.
        "suspended": account.guardrails.suspended.as_ref().map(|s| json!({"since": rfc3339(s.since)})),
        // The signing secret itself is only shown by GET .../signing-secret.
        "signing_secret": account.webhook_secret.as_ref().map(|s| json!({
            "created_at": rfc3339(s.created_at),
            "previous_expires_at": s.previous_at(deps.clock.now()).map(|p| rfc3339(p.expires_at)),
        })),
        "endpoint": endpoint_summary(deps.store.as_ref(), &account.id, deps.clock.now())
            .await?
            .to_json(),
    }))
}

/// Applies the change and answers with the new state (the GET body).
///
/// The save is the account store's optimistic, transactional write: it also rewrites the key
/// grant that trigger-call reads, so switching API access off takes effect on the very next
/// API request.
pub async fn patch(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = json_object(json_body(ctx.req)?)?;
    let change = update::parse(&body, ctx.deps.allow_insecure_local)?;
    let deps = ctx.deps;
    if let Some(Some(agent_id)) = change.default_agent_id {
        // Another account's agent is exactly as unknown as one that does not exist.
        if deps.store.agent(&ctx.account.id, agent_id).await?.is_none() {
            return Err(ApiError::not_found(
                "agent_not_found",
                Some("default_agent_id"),
                format!("agent {agent_id} not found"),
            ));
        }
    }
    // A URL saved before signing secrets existed: its receivers verify with the API key.
    let url_predates_secret =
        ctx.account.webhook_url.is_some() && ctx.account.webhook_secret.is_none();
    let mut current = ctx.account;
    let mut attempt = 1;
    let saved = loop {
        let next = change.apply(&current);
        if next == current {
            break current;
        }
        match deps.store.save_account(&current, &next).await {
            Ok(saved) => break saved,
            Err(StoreError::Conflict(_)) if attempt < SAVE_ATTEMPTS => {
                attempt += 1;
                current = deps
                    .store
                    .account(&current.id)
                    .await?
                    .ok_or(ApiError::Unauthenticated)?;
                caller::require_plan(&current)?;
            }
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::Conflict(
                    "the settings kept changing while this update was saved; reload and retry"
                        .into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    };
    // The first webhook URL brings the signing secret. If creating it fails, the URL stays
    // saved and the secret is created on first use (a delivery, a test send, the reveal).
    let saved = if saved.webhook_url.is_some() && saved.webhook_secret.is_none() {
        match signing_secret::ensure(
            deps.store.as_ref(),
            deps.secrets.as_ref(),
            &deps.webhook_secret_prefix,
            &saved,
            deps.clock.now(),
            url_predates_secret,
        )
        .await
        {
            Ok(with_secret) => with_secret,
            Err(e) => {
                tracing::warn!(account_id = %saved.id, error = %e, "signing secret not created yet; created on first use");
                saved
            }
        }
    } else {
        saved
    };
    tracing::info!(
        account_id = %saved.id,
        api_enabled = saved.api_enabled,
        webhook_url_set = saved.webhook_url.is_some(),
        default_agent_set = saved.default_agent_id.is_some(),
        events = ?saved.events.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "integration settings updated"
    );
    Ok(json_response(200, &view(&saved, deps).await?))
}
