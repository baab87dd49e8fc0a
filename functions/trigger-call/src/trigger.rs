//! Placing an outbound call: authenticate, validate, pick the agent, check the dialing rules
//! (the account's calling window and the recipient's hours: `domain::dial_rules`),
//! write the call record (with its idempotency record), dial, record the outcome: `dialing`,
//! `failed` (only when the provider's answer proves no call was placed) or `dial_unknown`.

use crate::idempotency::{self, Existing, IdempotencyKey};
use crate::request::{self, TriggerCall};
use crate::{Ctx, Deps};
use domain::config;
use domain::dial_rules::{Closed, Rule};
use domain::model::{
    Agent, Call, CallStatus, Direction, IdempotencyRecord, KeyGrant, StoredResponse,
};
use domain::ports::provider::CreatePhoneCall;
use domain::ports::store::CreateCallOutcome;
use domain::recovery::{placed_answer, release_dead_request};
use domain::ApiError;
use lambda_glue::http::{error_body, json_body, json_object, raw_json_response};
use lambda_http::{Body, Response};
use uuid::Uuid;

pub async fn trigger_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (req, deps) = (ctx.req, ctx.deps);
    let grant = crate::authenticate(&ctx).await?;
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
    domain::destination::check(&body.phone, &grant.guardrails)?;
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
    let now = deps.clock.now();
    domain::dial_rules::check(
        grant.calling_window.as_ref(),
        &grant.guardrails.recipient_hours(),
        &body.phone,
        now,
    )
    .map_err(|closed| refusal(grant, closed))?;
    Ok(agent)
}

/// The 422 for a call the dialing rules refuse now: which rule refused, and when the call
/// would be allowed (`next_allowed_at`, every rule open).
fn refusal(grant: &KeyGrant, closed: Closed) -> ApiError {
    let allowed = match closed.next_allowed_at {
        Some(t) => format!("the call is allowed next at {}", domain::clock::rfc3339(t)),
        None => {
            "no time in the coming year satisfies both the calling window and the recipient's hours"
                .to_string()
        }
    };
    match closed.rule {
        Rule::CallingWindow => {
            let zone = grant
                .calling_window
                .as_ref()
                .map_or("UTC", |w| w.time_zone.name());
            let message = match closed.rule_opens_at {
                Some(t) => format!(
                    "calls are not allowed at this time ({zone}); the calling window opens next at {}; {allowed}",
                    domain::clock::rfc3339(t)
                ),
                None => "the account's calling window has no open day; calls cannot be placed"
                    .to_string(),
            };
            ApiError::Unprocessable {
                code: "outside_calling_window",
                message,
                field: None,
                next_window_opens_at: closed.rule_opens_at,
                next_allowed_at: closed.next_allowed_at,
            }
        }
        Rule::RecipientHours => {
            let zones: Vec<&str> = closed.closed_zones.iter().map(|z| z.name()).collect();
            let message = format!(
                "it is outside the recipient's allowed hours ({}) in {}, where this number may be; {allowed}",
                grant.guardrails.recipient_hours().hours_label(),
                zones.join(", "),
            );
            ApiError::Unprocessable {
                code: "outside_recipient_hours",
                message,
                field: Some("phone".into()),
                next_window_opens_at: None,
                next_allowed_at: closed.next_allowed_at,
            }
        }
    }
}

async fn place(
    grant: &KeyGrant,
    body: TriggerCall,
    agent: Agent,
    idem: Option<IdempotencyKey>,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let now = deps.clock.now();
    let lease =
        chrono::Duration::from_std(config::idempotency_lease()).map_err(ApiError::internal)?;
    let call = Call {
        name: body.name,
        email: body.email,
        metadata: body.metadata,
        // If this request dies before it records the provider's answer, the reconciler finds
        // the call still `queued` when the lease ends.
        due_at: Some(now + lease),
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
        lease_until: Some(now + lease),
    });
    // At most one take-over of a dead request's key, then one more try.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = match deps.store.create_call(&call, record.as_ref(), now).await? {
            CreateCallOutcome::Created => break,
            CreateCallOutcome::IdempotencyKeyExists(existing) => existing,
        };
        // The key is taken: same body -> the first request's answer; else 409.
        let k = idem
            .as_ref()
            .ok_or_else(|| ApiError::internal(std::io::Error::other("idempotency without key")))?;
        match idempotency::answer_existing(existing, k, deps).await? {
            Existing::Answer(res) => return Ok(res),
            _ if attempts > 1 => return Err(ApiError::IdempotencyKeyInProgress),
            Existing::Released => {}
            Existing::Abandoned(dead) => {
                let at = deps.clock.now();
                release_dead_request(
                    deps.store.as_ref(),
                    &dead,
                    at,
                    at + deps.dial_unknown_deadline,
                )
                .await?;
            }
        }
    }
    dial(&call, &agent, record.as_ref(), deps).await
}

/// Asks the provider to place the written call and records what it answered.
async fn dial(
    call: &Call,
    agent: &Agent,
    record: Option<&IdempotencyRecord>,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
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
            let stored = placed_answer(call.id);
            let body = stored.body.clone();
            let at = deps.clock.now();
            if let Err(e) = deps
                .store
                .mark_call_dialing(
                    call.id,
                    &placed.call_id,
                    at,
                    at + deps.call_stale_after,
                    record.map(|r| (r, &stored)),
                )
                .await
            {
                // The call is placed; the provider's callbacks carry our call_id and will move
                // the record on. The key must still answer 200, or a retry after the lease
                // could dial again: one more try at remembering the answer alone.
                tracing::error!(call_id = %call.id, error = %e, "call placed but not recorded as dialing");
                if let Some(r) = record {
                    if let Err(e) = deps.store.remember_answer(r, &stored).await {
                        tracing::error!(call_id = %call.id, error = %e, "placed call's answer not remembered for its key");
                    }
                }
            }
            tracing::info!(call_id = %call.id, account_id = %call.account_id, "call placed");
            Ok(raw_json_response(200, body))
        }
        Err(e) if e.proves_not_placed() => {
            tracing::warn!(call_id = %call.id, reason = %e.reason(), detail = %e.detail(), "provider refused the call; none placed");
            deps.store
                .mark_call_failed(call.id, &e.reason(), deps.clock.now(), record)
                .await?;
            Err(ApiError::ProviderUnavailable)
        }
        Err(e) => {
            // The request may have reached the provider: the phone may ring. Never dial again
            // for this call; let its callbacks (or its deadline) tell.
            tracing::warn!(call_id = %call.id, reason = %e.reason(), detail = %e.detail(), "provider answer lost; call outcome unknown");
            let err = ApiError::ProviderOutcomeUnknown { call_id: call.id };
            let stored = StoredResponse {
                status: err.status(),
                body: error_body(&err).to_string(),
            };
            let at = deps.clock.now();
            let marked = match deps
                .store
                .mark_call_dial_unknown(
                    call.id,
                    at,
                    at + deps.dial_unknown_deadline,
                    record.map(|r| (r, &stored)),
                )
                .await
            {
                Ok(marked) => marked,
                Err(e) => {
                    // The call stays `queued` (the reconciler makes it `dial_unknown` after
                    // the lease); the key must not be released meanwhile, or a retry could
                    // dial a second call: remember the 502 on its own, and give it.
                    tracing::error!(call_id = %call.id, error = %e, "dial_unknown not recorded");
                    return match record {
                        Some(r) => match deps.store.remember_answer(r, &stored).await {
                            Ok(()) => Err(err),
                            Err(_) => Err(e.into()),
                        },
                        None => Err(err),
                    };
                }
            };
            if marked {
                return Err(err);
            }
            // A callback moved the call on already: it was placed after all.
            let answer = placed_answer(call.id);
            if let Some(r) = record {
                deps.store.remember_answer(r, &answer).await?;
            }
            let body = answer.body;
            tracing::info!(call_id = %call.id, "provider answer lost but a callback shows the call placed");
            Ok(raw_json_response(200, body))
        }
    }
}
