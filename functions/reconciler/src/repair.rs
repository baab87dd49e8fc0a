//! One repair per kind of due work. Each re-reads the item (the index is eventually
//! consistent) and acts only if the item still needs it, through conditional writes.

use crate::Deps;
use domain::completion::{self, Completed};
use domain::dead_request::{release_dead_request, DeadRequest};
use domain::dial::{DialCtx, Dialed};
use domain::error::ApiError;
use domain::event_rules::{self, FailureReason};
use domain::held_calls::{self, reason};
use domain::ids::{AccountId, CallId, EventId};
use domain::model::{Account, Agent, Call, CallStatus, DIAL_OUTCOME_UNKNOWN};
use domain::payload::CallCompleted;
use domain::phone::PhoneNumber;
use domain::ports::store::calls::CallProgress;
use domain::ports::store::{Due, DueWork};
use domain::revoke::{end_call, Ending};

/// How often a held call of a suspended account is looked at again.
pub const SUSPENDED_RECHECK: chrono::Duration = chrono::Duration::minutes(15);

/// How long a claimed event repair is reserved for the reconciler that took it: a pass that
/// dies after the claim leaves the event due again this much later.
pub const CLAIM: chrono::Duration = chrono::Duration::minutes(2);

/// What a repair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repaired {
    /// The item no longer needed it (finished meanwhile, not due yet, taken by another run).
    Nothing,
    EventEnqueued,
    CallMarkedDialUnknown,
    CallFailed,
    CallCompletedWithoutAnalysis,
    /// A call in a state with nothing to repair had a stale deadline: cleared.
    DeadlineCleared,
    /// An Idempotency-Key whose request died without proof that nothing was sent: it now
    /// answers the 502 `provider_outcome_unknown` naming its call (never released, so no
    /// retry dials again; the call follows the `dial_unknown` path).
    KeyAnsweredUnknown,
    /// An Idempotency-Key whose dead request's call was placed after all: it now answers the
    /// request's 200 (never released, so no retry dials again).
    KeyAnsweredPlaced,
    /// A scheduled call whose time came was dialed (placed, refused or outcome unknown: see
    /// its status).
    ScheduledCallDialed,
    /// A scheduled call whose window had closed again: due again when it next opens.
    ScheduledCallRescheduled,
    /// A held call that no longer passed its checks: `failed` with the reason.
    HeldCallFailed,
    /// A scheduled call to a number on the do-not-call list: `canceled`.
    ScheduledCallCanceled,
}

impl Repaired {
    pub fn as_str(self) -> &'static str {
        match self {
            Repaired::Nothing => "nothing",
            Repaired::EventEnqueued => "event_enqueued",
            Repaired::CallMarkedDialUnknown => "call_marked_dial_unknown",
            Repaired::CallFailed => "call_failed",
            Repaired::CallCompletedWithoutAnalysis => "call_completed_without_analysis",
            Repaired::DeadlineCleared => "deadline_cleared",
            Repaired::KeyAnsweredUnknown => "key_answered_unknown",
            Repaired::KeyAnsweredPlaced => "key_answered_placed",
            Repaired::ScheduledCallDialed => "scheduled_call_dialed",
            Repaired::ScheduledCallRescheduled => "scheduled_call_rescheduled",
            Repaired::HeldCallFailed => "held_call_failed",
            Repaired::ScheduledCallCanceled => "scheduled_call_canceled",
        }
    }
}

pub async fn repair(due: &Due, deps: &Deps) -> Result<Repaired, ApiError> {
    match &due.work {
        DueWork::Event(id) => event(*id, deps).await,
        DueWork::Call(id) => call(*id, deps).await,
        DueWork::Scheduled(id) => scheduled(*id, deps).await,
        DueWork::Idempotency { account_id, key } => idempotency(account_id, key, deps).await,
        DueWork::Unreadable { .. } => Err(ApiError::from(domain::StoreError::Corrupt(
            "the due-index item names no work".into(),
        ))),
    }
}

/// An event stored but never put on the queue.
pub async fn event(id: EventId, deps: &Deps) -> Result<Repaired, ApiError> {
    let store = deps.store.as_ref();
    let Some(stored) = store.event(id).await? else {
        return Ok(Repaired::Nothing);
    };
    if stored.enqueued {
        return Ok(Repaired::Nothing);
    }
    let now = deps.clock.now();
    // The fresh read's deadline, not the (eventually consistent) index's.
    let Some(seen) = stored.due_at.filter(|t| *t <= now) else {
        return Ok(Repaired::Nothing);
    };
    if !store.claim_event_repair(id, seen, now + CLAIM).await? {
        return Ok(Repaired::Nothing);
    }
    tracing::warn!(event_id = %id, call_id = %stored.record.call_id, "event stored but never queued; enqueuing it");
    completion::enqueue(
        store,
        deps.queue.as_ref(),
        id,
        &stored.record.account_id,
        stored.record.call_id,
    )
    .await?;
    Ok(Repaired::EventEnqueued)
}

/// A call nothing moved on before its deadline.
pub async fn call(id: CallId, deps: &Deps) -> Result<Repaired, ApiError> {
    let store = deps.store.as_ref();
    let Some(call) = store.call(id).await? else {
        return Ok(Repaired::Nothing);
    };
    let now = deps.clock.now();
    let Some(due_at) = call.due_at.filter(|t| *t <= now) else {
        return Ok(Repaired::Nothing);
    };
    let settled = |from, to, reason, due_at| store.settle_call(id, from, to, reason, now, due_at);
    Ok(match call.status {
        CallStatus::Queued => {
            // Its request died before recording the provider's answer: the phone may ring.
            let due = now + deps.dial_unknown_deadline;
            if !settled(CallStatus::Queued, CallStatus::DialUnknown, None, Some(due)).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::warn!(call_id = %id, "queued call past its request's lease; outcome unknown");
            Repaired::CallMarkedDialUnknown
        }
        CallStatus::DialUnknown => {
            if !fail_for_want_of_news(&call, deps).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::warn!(call_id = %id, "dial_unknown call past its deadline; resolved as failed");
            Repaired::CallFailed
        }
        CallStatus::Dialing => {
            // Accepted by the provider, and not one callback since: it never connected, or
            // its callbacks were all lost. Like a `dial_unknown` call past its deadline, it
            // is failed for want of news, and late callbacks can still revive it.
            if !fail_for_want_of_news(&call, deps).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::warn!(call_id = %id, "dialing call never reported by the provider; failed");
            Repaired::CallFailed
        }
        // A call that started, but whose end (or end and analysis) never came: completed with
        // what is known, like an ended call past its grace.
        // A call revived by late callbacks after the reconciler failed it and sent its
        // `call.completed` (`event_rules::failure_ending`): it has its one event; nothing to send.
        CallStatus::Ended | CallStatus::InProgress if call.event_id.is_some() => {
            if !settled(call.status, call.status, None, None).await? {
                return Ok(Repaired::Nothing);
            }
            Repaired::DeadlineCleared
        }
        CallStatus::Ended | CallStatus::InProgress => {
            // Completing sends the event: claimed first, so one pass does it.
            if !store.claim_call_repair(id, due_at, now + CLAIM).await? {
                return Ok(Repaired::Nothing);
            }
            let agent_name = completion::agent_name(store, &call).await?;
            let payload = CallCompleted::without_analysis(&call, &agent_name);
            let done = completion::complete(
                store,
                deps.queue.as_ref(),
                &call,
                payload,
                &CallProgress::default(),
                now,
            )
            .await?;
            match done {
                Completed::Created(event_id) => {
                    tracing::warn!(call_id = %id, %event_id, "no analysis within the grace; event sent without it");
                    Repaired::CallCompletedWithoutAnalysis
                }
                Completed::AlreadyCompleted => Repaired::Nothing,
            }
        }
        status => {
            if !settled(status, status, None, None).await? {
                return Ok(Repaired::Nothing);
            }
            Repaired::DeadlineCleared
        }
    })
}

/// What a claimed held call's re-check decided.
#[derive(Debug)]
pub enum HeldCheck {
    /// Everything still passes: dial with this agent.
    Place(Agent),
    /// The window is closed again: back to `scheduled` until it opens.
    Reschedule(chrono::DateTime<chrono::Utc>),
    /// The number was put on the do-not-call list: `canceled`.
    Cancel(&'static str),
    /// The API key that created the call was regenerated since: `canceled` (`key_rotated`),
    /// with its event (`held_calls::revoke_call`).
    Revoke(Box<Account>),
    /// It no longer passes: `failed` with this reason (and its `call.failed` event).
    Fail(FailureReason),
}

/// The checks trigger-call made when it accepted the call, made again now: the account and
/// its API toggle, the do-not-call list, the destination policy, the agent, the windows.
pub async fn held_check(
    call: &Call,
    deps: &Deps,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HeldCheck, ApiError> {
    let store = deps.store.as_ref();
    let Some(account) = store.account(&call.account_id).await? else {
        return Ok(HeldCheck::Fail(FailureReason::AccountNotFound));
    };
    if !account.api_enabled || !account.plan.has_api_access() {
        return Ok(HeldCheck::Fail(FailureReason::ApiDisabled));
    }
    // Suspended by an operator: not dialed meanwhile, looked at again later (a resume lets
    // the call go at its next check).
    if account.guardrails.suspended.is_some() {
        return Ok(HeldCheck::Reschedule(now + SUSPENDED_RECHECK));
    }
    // A call created with a key the account no longer has (rotated since, perhaps because it
    // leaked) is never dialed, whether or not the rotation's own cancel reached it.
    if let Some(created_with) = &call.key_hash {
        if account.api_key.as_ref().map(|k| &k.hash) != Some(created_with) {
            return Ok(HeldCheck::Revoke(Box::new(account)));
        }
    }
    if store
        .is_suppressed(&call.account_id, &call.phone_number)
        .await?
    {
        return Ok(HeldCheck::Cancel(reason::NUMBER_SUPPRESSED));
    }
    let phone = PhoneNumber::parse(&call.phone_number)
        .ok()
        .filter(|p| domain::destination::check(p, &account.guardrails).is_ok());
    let Some(phone) = phone else {
        return Ok(HeldCheck::Fail(FailureReason::DestinationBlocked));
    };
    let agent = store
        .agent(&call.account_id, call.agent_id)
        .await?
        .filter(|a| a.phone_number.is_some());
    let Some(agent) = agent else {
        return Ok(HeldCheck::Fail(FailureReason::AgentUnavailable));
    };
    Ok(
        match held_calls::earliest_dial_time(
            account.calling_window.as_ref(),
            &account.guardrails.recipient_hours(),
            &phone,
            now,
        ) {
            None => HeldCheck::Fail(FailureReason::CallingWindowNeverOpens),
            Some(t) if t > now => HeldCheck::Reschedule(t),
            Some(_) => HeldCheck::Place(agent),
        },
    )
}

/// A scheduled call whose time came: claimed first (`scheduled` -> `queued`, conditional:
/// of two reconcilers, or a reconciler and a cancel, one wins), re-checked, then dialed
/// through the code path trigger-call uses. A pass that dies after the claim leaves a
/// `queued` call due at the claim's end, which the `call` repair treats like any request
/// that died before recording the provider's answer (`dial_unknown`: never dialed twice).
pub async fn scheduled(id: CallId, deps: &Deps) -> Result<Repaired, ApiError> {
    let store = deps.store.as_ref();
    let Some(call) = store.call(id).await? else {
        return Ok(Repaired::Nothing);
    };
    let now = deps.clock.now();
    if call.status != CallStatus::Scheduled || call.due_at.is_none_or(|t| t > now) {
        return Ok(Repaired::Nothing);
    }
    if !store
        .settle_call(
            id,
            CallStatus::Scheduled,
            CallStatus::Queued,
            None,
            now,
            Some(now + CLAIM),
        )
        .await?
    {
        return Ok(Repaired::Nothing);
    }
    let call = Call {
        status: CallStatus::Queued,
        ..call
    };
    let check = match held_check(&call, deps, now).await {
        Ok(check) => check,
        Err(e) => return Err(release_claim(id, deps, e).await),
    };
    if let HeldCheck::Place(agent) = check {
        let ctx = DialCtx {
            store,
            provider: deps.provider.as_ref(),
            clock: deps.clock.as_ref(),
            call_stale_after: deps.call_stale_after,
            dial_unknown_deadline: deps.dial_unknown_deadline,
            key: None,
            record_refusal: false,
        };
        let dialed = domain::dial::dial(&call, &agent, &ctx).await?;
        tracing::info!(call_id = %id, outcome = ?dialed_outcome(&dialed), "scheduled call dialed");
        if let Dialed::NotPlaced { reason } = &dialed {
            // Accepted earlier with a 202: `failed` with its call.failed event in one write.
            // If that write fails the call stays `queued` until its claim ends, then the
            // `call` repair resolves it (never dialed again).
            fail_with_event(&call, FailureReason::DialFailed, reason, deps).await?;
        }
        return Ok(Repaired::ScheduledCallDialed);
    }
    match settle_held(&call, check, deps, now).await {
        Ok(repaired) => Ok(repaired),
        Err(e) => Err(release_claim(id, deps, e).await),
    }
}

/// A claimed held call that is not dialed now: re-scheduled, cancelled or failed.
async fn settle_held(
    call: &Call,
    check: HeldCheck,
    deps: &Deps,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Repaired, ApiError> {
    let (store, id) = (deps.store.as_ref(), call.id);
    let settled =
        |to, reason, due_at| store.settle_call(id, CallStatus::Queued, to, reason, now, due_at);
    Ok(match check {
        HeldCheck::Place(_) => Repaired::Nothing,
        HeldCheck::Reschedule(at) => {
            if !settled(CallStatus::Scheduled, None, Some(at)).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::info!(call_id = %id, scheduled_for = %domain::clock::rfc3339(at), "window closed again; call re-scheduled");
            Repaired::ScheduledCallRescheduled
        }
        HeldCheck::Cancel(why) => {
            if !settled(CallStatus::Canceled, Some(why), None).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::info!(call_id = %id, reason = why, "scheduled call canceled");
            Repaired::ScheduledCallCanceled
        }
        HeldCheck::Revoke(account) => {
            let agent_name = completion::agent_name(store, call).await?;
            if !domain::revoke::revoke_call(
                store,
                Some(deps.queue.as_ref()),
                &account,
                call,
                &agent_name,
                now,
            )
            .await?
            {
                return Ok(Repaired::Nothing);
            }
            Repaired::ScheduledCallCanceled
        }
        HeldCheck::Fail(why) => {
            if !fail_with_event(call, why, why.as_str(), deps).await? {
                return Ok(Repaired::Nothing);
            }
            tracing::warn!(call_id = %id, reason = why.as_str(), "held call not placed");
            Repaired::HeldCallFailed
        }
    })
}

/// Gives a claimed call back (`queued` -> `scheduled`, due now) after a failure before any
/// dial, so the next pass tries it again; left `queued`, the claim's end would make it
/// `dial_unknown` and finally `failed` as if the provider might have been reached. If even
/// this write fails, that is what happens: never a second dial. Returns `error`.
async fn release_claim(id: CallId, deps: &Deps, error: ApiError) -> ApiError {
    let now = deps.clock.now();
    if let Err(e) = deps
        .store
        .settle_call(
            id,
            CallStatus::Queued,
            CallStatus::Scheduled,
            None,
            now,
            Some(now),
        )
        .await
    {
        tracing::error!(call_id = %id, error = %e, "claim of a scheduled call not released");
    }
    error
}

fn dialed_outcome(d: &Dialed) -> &'static str {
    match d {
        Dialed::Placed => "placed",
        Dialed::NotPlaced { .. } => "not_placed",
        Dialed::Unknown => "unknown",
    }
}

/// A `dialing` or `dial_unknown` call the provider never reported: `failed` with
/// `dial_outcome_unknown` (see [`fail_with_event`]).
async fn fail_for_want_of_news(call: &Call, deps: &Deps) -> Result<bool, ApiError> {
    let reason = format!("{DIAL_OUTCOME_UNKNOWN}: the provider never reported the call");
    fail_with_event(call, FailureReason::DialOutcomeUnknown, &reason, deps).await
}

/// A call the reconciler fails (from its current status): `failed` with `reason` and its one
/// event, then queued (`domain::revoke::end_call`). `Ok(false)`: the call moved on meanwhile,
/// nothing written.
async fn fail_with_event(
    call: &Call,
    why: FailureReason,
    reason: &str,
    deps: &Deps,
) -> Result<bool, ApiError> {
    let store = deps.store.as_ref();
    let account = store.account(&call.account_id).await?;
    let agent_name =
        if event_rules::wanted(account.as_ref(), domain::event_type::EventType::CallFailed) {
            String::new()
        } else {
            completion::agent_name(store, call).await?
        };
    let ending = Ending {
        to: CallStatus::Failed,
        why,
        reason,
    };
    // A failed send leaves the event due: the next pass (enqueue repair) sends it.
    end_call(
        store,
        Some(deps.queue.as_ref()),
        account.as_ref(),
        call,
        &agent_name,
        ending,
        deps.clock.now(),
    )
    .await
}

/// An Idempotency-Key whose request died without an answer.
pub async fn idempotency(
    account_id: &AccountId,
    key: &str,
    deps: &Deps,
) -> Result<Repaired, ApiError> {
    let store = deps.store.as_ref();
    let now = deps.clock.now();
    let Some(rec) = store.idempotency(account_id, key, now).await? else {
        return Ok(Repaired::Nothing);
    };
    if rec.response.is_some() || rec.lease_until.is_none_or(|t| t > now) {
        return Ok(Repaired::Nothing);
    }
    Ok(
        match release_dead_request(store, &rec, now, now + deps.dial_unknown_deadline).await? {
            DeadRequest::AnsweredUnknown => Repaired::KeyAnsweredUnknown,
            DeadRequest::AnsweredPlaced => Repaired::KeyAnsweredPlaced,
            DeadRequest::Untouched => Repaired::Nothing,
        },
    )
}
