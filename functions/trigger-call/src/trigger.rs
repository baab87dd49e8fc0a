//! Placing an outbound call: authenticate, validate, pick the agent, check the calling window,
//! write the call record (with its idempotency record), dial, record the outcome.

use crate::idempotency::{self, IdempotencyKey};
use crate::request::{self, TriggerCall};
use crate::{Ctx, Deps};
use domain::auth::authenticate;
use domain::model::{
    Agent, Call, CallStatus, Direction, IdempotencyRecord, KeyGrant, StoredResponse,
};
use domain::ports::provider::CreatePhoneCall;
use domain::ports::store::CreateCallOutcome;
use domain::ApiError;
use lambda_glue::http::{header, json_body, json_object, raw_json_response};
use lambda_http::{Body, Response};
use uuid::Uuid;

pub async fn trigger_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (req, deps) = (ctx.req, ctx.deps);
    let grant = authenticate(header(req, "authorization"), deps.store.as_ref()).await?;
    let raw = json_body(req)?;
    let body = request::parse(&json_object(raw)?)?;
    let idem = IdempotencyKey::from_request(req, raw)?;
    match prepare(&grant, &body, deps).await {
        Ok(agent) => place(&grant, body, agent, idem, deps).await,
        // A replayed request must get its first answer even if, say, the window has closed
        // since: only on this (rare) path is the idempotency record consulted first.
        Err(e) => match &idem {
            Some(k) => idempotency::replay(&grant.account_id, k, deps)
                .await?
                .ok_or(e),
            None => Err(e),
        },
    }
}

/// Checks that the call can be placed now and returns the agent to place it with.
async fn prepare(grant: &KeyGrant, body: &TriggerCall, deps: &Deps) -> Result<Agent, ApiError> {
    let agent_id = body.agent_id.or(grant.default_agent_id).ok_or_else(|| {
        ApiError::unprocessable(
            "no_default_agent",
            Some("agent_id"),
            "no agent_id was given and the account has no default agent; pass agent_id or set a default agent on the integration page",
        )
    })?;
    let agent = deps
        .store
        .agent(&grant.account_id, agent_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "agent_not_found",
                Some("agent_id"),
                format!("agent {agent_id} not found"),
            )
        })?;
    if agent.phone_number.is_none() {
        return Err(ApiError::unprocessable(
            "agent_has_no_phone_number",
            Some("agent_id"),
            format!(
                "agent {agent_id} has no phone number assigned; assign one before placing calls"
            ),
        ));
    }
    if let Some(window) = &grant.calling_window {
        let now = deps.clock.now();
        if !window.is_open(now) {
            let next = window.next_opening(now);
            let message = match next {
                Some(t) => format!(
                    "calls are not allowed at this time ({}); the calling window opens next at {}",
                    window.time_zone.name(),
                    domain::clock::rfc3339(t)
                ),
                None => "the account's calling window has no open day; calls cannot be placed"
                    .to_string(),
            };
            return Err(ApiError::Unprocessable {
                code: "outside_calling_window",
                message,
                field: None,
                next_window_opens_at: next,
            });
        }
    }
    Ok(agent)
}

async fn place(
    grant: &KeyGrant,
    body: TriggerCall,
    agent: Agent,
    idem: Option<IdempotencyKey>,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let now = deps.clock.now();
    let call = Call {
        name: body.name,
        email: body.email,
        metadata: body.metadata,
        ..Call::new(
            Uuid::new_v4(),
            grant.account_id.clone(),
            agent.id,
            Direction::Outbound,
            CallStatus::Queued,
            body.phone.as_str(),
            now,
        )
    };
    let record = idem.as_ref().map(|k| IdempotencyRecord {
        account_id: grant.account_id.clone(),
        key: k.key.clone(),
        request_hash: k.request_hash.clone(),
        call_id: call.id,
        response: None,
        expires_at: now + idempotency::TTL,
    });
    match deps.store.create_call(&call, record.as_ref(), now).await? {
        CreateCallOutcome::Created => {}
        CreateCallOutcome::IdempotencyKeyExists(existing) => {
            // The key is taken: same body -> the first request's answer; else 409.
            let k = idem.as_ref().ok_or_else(|| {
                ApiError::internal(std::io::Error::other("idempotency without key"))
            })?;
            return idempotency::answer_existing(existing, k, deps).await;
        }
    }

    let mut vars = serde_json::Map::new();
    if let Some(n) = &call.name {
        vars.insert("name".into(), n.clone().into());
    }
    if let Some(e) = &call.email {
        vars.insert("email".into(), e.clone().into());
    }
    let from = agent
        .phone_number
        .as_ref()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let dial = CreatePhoneCall {
        from_number: from,
        to_number: call.phone_number.clone(),
        override_agent_id: agent.provider_agent_id.clone(),
        metadata: serde_json::json!({"call_id": call.id.to_string(), "account_id": call.account_id}),
        retell_llm_dynamic_variables: vars,
    };
    match deps.provider.create_phone_call(&dial).await {
        Ok(placed) => {
            let body =
                serde_json::json!({"success": true, "call_id": call.id.to_string()}).to_string();
            let stored = StoredResponse {
                status: 200,
                body: body.clone(),
            };
            let at = deps.clock.now();
            if let Err(e) = deps
                .store
                .mark_call_dialing(
                    call.id,
                    &placed.call_id,
                    at,
                    record.as_ref().map(|r| (r, &stored)),
                )
                .await
            {
                // The call is placed; the provider's callbacks carry our call_id and will move
                // the record on. Answer truthfully and leave the repair to them.
                tracing::error!(call_id = %call.id, error = %e, "call placed but not recorded as dialing");
            }
            tracing::info!(call_id = %call.id, account_id = %call.account_id, "call placed");
            Ok(raw_json_response(200, body))
        }
        Err(e) => {
            tracing::warn!(call_id = %call.id, reason = %e.reason(), "provider failed to place the call");
            deps.store
                .mark_call_failed(call.id, &e.reason(), deps.clock.now(), record.as_ref())
                .await?;
            Err(ApiError::ProviderUnavailable)
        }
    }
}
