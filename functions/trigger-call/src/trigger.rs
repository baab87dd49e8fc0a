//! Placing an outbound call: authenticate, validate, refuse a number on the do-not-call list,
//! pick the agent, check the dialing rules (the account's calling window
//! and the recipient's hours: `domain::dial_rules`), decide when (now; or, with `"when_closed": "hold"` or a future
//! `"not_before"`, later: the call is written `scheduled` and the reconciler places it), write
//! the call record (with its idempotency record), then, for a call placed now, dial through
//! `domain::dial` and record the outcome: `dialing`, `failed` (only when the provider's answer
//! proves no call was placed) or `dial_unknown`.

use crate::idempotency::{self, Existing, IdempotencyKey};
use crate::request::{self, TriggerCall, WhenClosed};
use crate::{Ctx, Deps};
use chrono::{DateTime, Utc};
use domain::config;
use domain::dead_request::{placed_answer, release_dead_request, unknown_answer};
use domain::dial::{DialCtx, Dialed};
use domain::dial_rules::{Closed, Rule};
use domain::held_calls::scheduled_answer;
use domain::model::{Agent, Call, CallStatus, Direction, IdempotencyRecord, KeyGrant};
use domain::ports::store::CreateCallOutcome;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::body::parse_body;
use lambda_glue::http::{body_bytes, raw_json_response};
use lambda_http::{Body, Response};
use uuid::Uuid;

/// When a checked call is to be dialed.
enum When {
    /// Now, by this request.
    Now,
    /// Later, by the reconciler (the call is written `scheduled`, answered 202).
    At(DateTime<Utc>),
}

pub async fn trigger_call(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let result = trigger(ctx).await;
    crate::metrics::request(&result).emit();
    result
}

async fn trigger(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (req, deps) = (ctx.req, ctx.deps);
    let grant = crate::authenticate(&ctx).await?;
    let body: TriggerCall = parse_body(req, &())?;
    let idem = IdempotencyKey::from_request(req, body_bytes(req))?;
    match prepare(&grant, &body, deps).await {
        Ok((agent, When::Now)) => place(&grant, body, agent, idem, deps).await,
        Ok((agent, When::At(at))) => schedule(&grant, body, agent, at, idem, deps).await,
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

/// Checks that the call can be placed and returns the agent to place it with and when.
async fn prepare(
    grant: &KeyGrant,
    body: &TriggerCall,
    deps: &Deps,
) -> Result<(Agent, When), ApiError> {
    let now = deps.clock.now();
    let earliest = request::check_not_before(body.not_before, now)?;
    domain::destination::check(&body.phone, &grant.guardrails)?;
    let agent_id = body.agent_id.or(grant.default_agent_id).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::NoDefaultAgent,
            Some("agent_id"),
            "no agent_id was given and the account has no default agent; pass agent_id or set a default agent on the integration page",
        )
    })?;
    // The do-not-call list and the agent are read at once: one more GetItem, no more latency.
    let (suppressed, agent) = tokio::join!(
        deps.store
            .is_suppressed(&grant.account_id, body.phone.as_str()),
        deps.store.agent(&grant.account_id, agent_id)
    );
    if suppressed? {
        return Err(number_suppressed());
    }
    let agent = agent?.ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::AgentNotFound,
            Some("agent_id"),
            format!("agent {agent_id} not found"),
        )
    })?;
    if agent.phone_number.is_none() {
        return Err(ApiError::unprocessable(
            ErrorCode::AgentHasNoPhoneNumber,
            Some("agent_id"),
            format!(
                "agent {agent_id} has no phone number assigned; assign one before placing calls"
            ),
        ));
    }
    // Checked at `earliest` (now, or a future `not_before`): open then -> placed now or
    // scheduled for then; closed -> held until every rule passes, if the request asks so.
    let window = grant.calling_window.as_ref();
    let recipient = grant.guardrails.recipient_hours();
    let when = match domain::dial_rules::check(window, &recipient, &body.phone, earliest) {
        Ok(()) if earliest <= now => When::Now,
        Ok(()) => When::At(earliest),
        Err(closed) => match (closed.next_allowed_at, body.when_closed) {
            (Some(t), WhenClosed::Hold) => When::At(t),
            _ => return Err(refusal(grant, closed)),
        },
    };
    Ok((agent, when))
}

/// The 422 for a number on the account's do-not-call list (the calling-rules check shows the
/// same refusal).
pub fn number_suppressed() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::NumberSuppressed,
        Some("phone"),
        "this number is on the account's do-not-call list; remove it from the list to call it",
    )
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
                    "calls are not allowed at this time ({zone}); the calling window opens next at {}; {allowed} (send \"when_closed\": \"hold\" to have the call placed then)",
                    domain::clock::rfc3339(t)
                ),
                None => "the account's calling window has no open day; calls cannot be placed"
                    .to_string(),
            };
            ApiError::Unprocessable {
                code: ErrorCode::OutsideCallingWindow,
                message,
                field: None,
                next_window_opens_at: closed.rule_opens_at,
                next_allowed_at: closed.next_allowed_at,
            }
        }
        Rule::RecipientHours => {
            let zones: Vec<&str> = closed.closed_zones.iter().map(|z| z.name()).collect();
            let message = format!(
                "it is outside the recipient's allowed hours ({}) in {}, where this number may be; {allowed} (send \"when_closed\": \"hold\" to have the call placed then)",
                grant.guardrails.recipient_hours().hours_label(),
                zones.join(", "),
            );
            ApiError::Unprocessable {
                code: ErrorCode::OutsideRecipientHours,
                message,
                field: Some("phone".into()),
                next_window_opens_at: None,
                next_allowed_at: closed.next_allowed_at,
            }
        }
    }
}

/// Writes the call (and the key's record) in one write. `Ok(Some(answer))` when the key was
/// already taken by the same request: its first answer, nothing written.
async fn create(
    call: &Call,
    record: Option<&IdempotencyRecord>,
    idem: Option<&IdempotencyKey>,
    deps: &Deps,
) -> Result<Option<Response<Body>>, ApiError> {
    // At most one take-over of a dead request's key, then one more try.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = match deps
            .store
            .create_call(call, record, deps.clock.now())
            .await?
        {
            CreateCallOutcome::Created => return Ok(None),
            CreateCallOutcome::IdempotencyKeyExists(existing) => existing,
        };
        // The key is taken: same body -> the first request's answer; else 409.
        let k = idem
            .ok_or_else(|| ApiError::internal(std::io::Error::other("idempotency without key")))?;
        match idempotency::answer_existing(existing, k, deps).await? {
            Existing::Answer(res) => return Ok(Some(res)),
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
}

fn new_call(
    grant: &KeyGrant,
    body: TriggerCall,
    agent: &Agent,
    status: CallStatus,
    now: DateTime<Utc>,
) -> Call {
    Call {
        name: body.name,
        email: body.email,
        metadata: body.metadata,
        // The key that created the call: a held call is dialed only while it is still the
        // account's key (a rotation revokes a leaked key's calls).
        key_hash: Some(grant.key_hash.clone()),
        ..Call::new(
            Uuid::new_v4(),
            grant.account_id.clone(),
            agent.id,
            Direction::Outbound,
            status,
            body.phone.as_str(),
            now,
        )
    }
}

/// A held or scheduled call: written `scheduled`, due at `at` (the reconciler places it),
/// and answered 202; the key remembers the 202 in the same write.
async fn schedule(
    grant: &KeyGrant,
    body: TriggerCall,
    agent: Agent,
    at: DateTime<Utc>,
    idem: Option<IdempotencyKey>,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let now = deps.clock.now();
    let call = Call {
        due_at: Some(at),
        ..new_call(grant, body, &agent, CallStatus::Scheduled, now)
    };
    let answer = scheduled_answer(call.id, at);
    let record = idem.as_ref().map(|k| IdempotencyRecord {
        account_id: grant.account_id.clone(),
        key: k.key.clone(),
        request_hash: k.request_hash.clone(),
        call_id: call.id,
        response: Some(answer.clone()),
        expires_at: now + idempotency::TTL,
        lease_until: None,
    });
    if let Some(res) = create(&call, record.as_ref(), idem.as_ref(), deps).await? {
        return Ok(res);
    }
    tracing::info!(call_id = %call.id, account_id = %call.account_id, scheduled_for = %domain::clock::rfc3339(at), "call scheduled");
    Ok(raw_json_response(answer.status, answer.body))
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
        // If this request dies before it records the provider's answer, the reconciler finds
        // the call still `queued` when the lease ends.
        due_at: Some(now + lease),
        ..new_call(grant, body, &agent, CallStatus::Queued, now)
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
    if let Some(res) = create(&call, record.as_ref(), idem.as_ref(), deps).await? {
        return Ok(res);
    }
    dial(&call, &agent, record.as_ref(), deps).await
}

/// Asks the provider to place the written call (`domain::dial`, shared with the reconciler)
/// and answers what it did.
async fn dial(
    call: &Call,
    agent: &Agent,
    record: Option<&IdempotencyRecord>,
    deps: &Deps,
) -> Result<Response<Body>, ApiError> {
    let unknown = ApiError::ProviderOutcomeUnknown { call_id: call.id };
    let unknown_answer = unknown_answer(call.id);
    let ctx = DialCtx {
        store: deps.store.as_ref(),
        provider: deps.provider.as_ref(),
        clock: deps.clock.as_ref(),
        call_stale_after: deps.call_stale_after,
        dial_unknown_deadline: deps.dial_unknown_deadline,
        key: record.map(|r| (r, &unknown_answer)),
        record_refusal: true,
    };
    let started = std::time::Instant::now();
    let dialed = domain::dial::dial(call, agent, &ctx).await;
    let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    crate::metrics::dial(call, dialed.as_ref().ok(), ms).emit();
    match dialed? {
        Dialed::Placed => Ok(raw_json_response(200, placed_answer(call.id).body)),
        Dialed::NotPlaced { .. } => Err(ApiError::ProviderUnavailable),
        Dialed::Unknown => Err(unknown),
    }
}
