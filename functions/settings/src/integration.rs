//! `GET` and `PATCH /api/integrations/api-webhooks`: the integration's state as the page shows
//! it, and changes to it. The API key itself never appears here, only its prefix, last four
//! characters and creation time; the signing secret only its creation time and the end of a
//! rotation's overlap; `endpoint` summarises the delivery log (`domain::webhook::summary`).

use crate::ctx::{Ctx, Handler};
use crate::update::IntegrationUpdate;
use crate::Deps;
use chrono::{DateTime, Utc};
use domain::answer::{self, Success};
use domain::calling_window::CallingWindow;
use domain::model::Account;
use domain::number_type::NumberType;
use domain::recipient_hours::RecipientHours;
use domain::webhook::signing_secret;
use domain::webhook::summary::{endpoint_summary, EndpointView};
use domain::ErrorCode;
use domain::{ApiError, StoreError};
use lambda_glue::body::parse_body;
use lambda_glue::dashboard;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use uuid::Uuid;

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
pub async fn view(account: &Account, deps: &Deps) -> Result<Integration, ApiError> {
    let default_agent = match account.default_agent_id {
        Some(id) => deps
            .store
            .agent(&account.id, id)
            .await?
            .map(|a| DefaultAgent {
                id: a.id.into(),
                name: a.name,
            }),
        None => None,
    };
    let now = deps.clock.now();
    Ok(Integration {
        success: Success,
        api_enabled: account.api_enabled,
        api_key: account.api_key.as_ref().map(|k| ApiKeyShown {
            prefix: k.prefix.clone(),
            last4: k.last4.clone(),
            created_at: k.created_at,
        }),
        webhook_url: account.webhook_url.clone(),
        default_agent,
        allowed_countries: account.guardrails.allowed_countries.clone(),
        allowed_number_types: account.guardrails.allowed_number_types.clone(),
        events: account.events.iter().map(|t| t.as_str()).collect(),
        calling_window: account.calling_window.clone(),
        recipient_hours: account.guardrails.recipient_hours(),
        suspended: account
            .guardrails
            .suspended
            .as_ref()
            .map(|s| Suspended { since: s.since }),
        signing_secret: account.webhook_secret.as_ref().map(|s| SigningSecretShown {
            created_at: s.created_at,
            previous_expires_at: s.previous_at(now).map(|p| p.expires_at),
        }),
        endpoint: endpoint_summary(deps.store.as_ref(), &account.id, now)
            .await?
            .view(),
    })
}

/// `200` of GET and PATCH: the integration's state. The API key and the signing secret show
/// only when they were made, never themselves.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Integration {
    pub success: Success,
    pub api_enabled: bool,
    /// `null` until a key is generated; never the key itself
    pub api_key: Option<ApiKeyShown>,
    pub webhook_url: Option<String>,
    /// `null` when none is set, or the chosen agent was deleted
    pub default_agent: Option<DefaultAgent>,
    /// read-only (set by an operator with `bvai-admin set-destinations`); ISO 3166-1 alpha-2 codes the account may call, `null` for any country
    #[cfg_attr(feature = "openapi", schemars(schema_with = "countries_schema"))]
    pub allowed_countries: Option<Vec<String>>,
    /// read-only (set by an operator with `bvai-admin set-destinations --allow-type`); the number types refused by default that the account may call, `[]` when every one is refused (README, "Destination policy")
    #[cfg_attr(feature = "openapi", schemars(schema_with = "number_types_schema"))]
    pub allowed_number_types: Vec<NumberType>,
    /// the webhook events the account receives, each once, in this order; `["call.completed"]` until changed
    #[cfg_attr(feature = "openapi", schemars(schema_with = "events_schema"))]
    pub events: Vec<&'static str>,
    /// read-only (set by an operator with `bvai-admin set-calling-window`); `null` when calls are allowed at any time
    #[cfg_attr(feature = "openapi", schemars(schema_with = "calling_window_schema"))]
    pub calling_window: Option<CallingWindow>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "recipient_hours_schema"))]
    pub recipient_hours: RecipientHours,
    /// `null`, or since when an operator suspended the account: meanwhile every other route and the API answer 403 `account_suspended`, and no held call is placed; webhooks keep flowing
    pub suspended: Option<Suspended>,
    /// `null` until the first webhook URL brings one; never the secret itself (`GET .../signing-secret` shows it)
    pub signing_secret: Option<SigningSecretShown>,
    pub endpoint: EndpointView,
}

/// The API key as the page shows it: how it starts and ends, and when it was made.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct ApiKeyShown {
    pub prefix: String,
    pub last4: String,
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
}

/// The account's default agent.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct DefaultAgent {
    pub id: Uuid,
    pub name: String,
}

/// An operator's suspension (`bvai-admin suspend`); the operator's reason is not shown.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct Suspended {
    #[serde(serialize_with = "answer::time")]
    pub since: DateTime<Utc>,
}

/// The signing secret as the page shows it (the secret itself only by `GET .../signing-secret`).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct SigningSecretShown {
    #[serde(serialize_with = "answer::time")]
    pub created_at: DateTime<Utc>,
    /// until when the secret replaced by the last rotation still signs (a second signature); `null` outside a rotation's overlap
    #[serde(serialize_with = "answer::opt_time")]
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// The operator-set policies are documented once, as components of their own.
#[cfg(feature = "openapi")]
fn countries_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["array", "null"],
        "items": {"type": "string", "pattern": "^[A-Z]{2}$"}
    })
}

#[cfg(feature = "openapi")]
fn number_types_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let types: Vec<&str> = NumberType::ALL.iter().map(|t| t.as_str()).collect();
    schemars::json_schema!({
        "type": "array",
        "uniqueItems": true,
        "items": {"type": "string", "enum": types}
    })
}

#[cfg(feature = "openapi")]
fn events_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "items": {"$ref": "#/components/schemas/EventType"}
    })
}

#[cfg(feature = "openapi")]
fn calling_window_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/CallingWindow"}]
    })
}

#[cfg(feature = "openapi")]
fn recipient_hours_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"$ref": "#/components/schemas/RecipientHours"})
}

/// Applies the change and answers with the new state (the GET body).
///
/// The save is the account store's optimistic, transactional write: it also rewrites the key
/// grant that trigger-call reads, so switching API access off takes effect on the very next
/// API request.
pub async fn patch(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let change: IntegrationUpdate = parse_body(ctx.req, &ctx.deps.allow_insecure_local)?;
    let deps = ctx.deps;
    if let Some(Some(agent_id)) = change.default_agent_id {
        // Another account's agent is exactly as unknown as one that does not exist.
        if deps.store.agent(&ctx.account.id, agent_id).await?.is_none() {
            return Err(ApiError::not_found(
                ErrorCode::AgentNotFound,
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
                dashboard::require_plan(&current)?;
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
