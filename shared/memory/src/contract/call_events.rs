//! `CallStore`'s moves with an event (`call.started`, `call.failed`): both or neither; no
//! move is `Ok(false)` with nothing written; an event that exists already with the call's
//! condition met is a `Conflict` that moves nothing; the event is stored with its type,
//! unqueued, with its reconciler deadline.

use super::{call, unique, unique_account, violated, ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::event_rules::{self, FailureReason};
use domain::event_type::EventType;
use domain::model::{Account, Call, CallStatus, Plan};
use domain::ports::store::calls::{CallCompletion, CallProgress};
use domain::ports::store::event_store::EVENT_TTL;
use domain::ports::store::Store;

/// The reason the reconciler's failures carry here.
const REASON: &str = "dial_outcome_unknown: test";

/// A fresh account subscribed to every event.
fn account(t: DateTime<Utc>) -> Account {
    let mut account = Account::new(unique_account("acct"), "Events", Plan::Agency, t);
    account.events = EventType::ALL.to_vec();
    account
}

/// A call of the account, dialing (with a deadline).
async fn dialing(
    store: &dyn Store,
    account: &Account,
    t: DateTime<Utc>,
) -> Result<Call, ContractError> {
    let c = call(&account.id, t);
    store.create_call(&c, None, t).await?;
    store
        .mark_call_dialing(
            c.id,
            &unique("prov"),
            t,
            t + chrono::Duration::hours(2),
            None,
        )
        .await?;
    store
        .call(c.id)
        .await?
        .ok_or_else(|| violated("dialing call missing"))
}

fn progress(t: DateTime<Utc>) -> CallProgress {
    CallProgress {
        due_at: Some(t + chrono::Duration::hours(2)),
        ..CallProgress::default()
    }
}

/// A call moves with its `call.started`, stored with its type, payload and deadline, not
/// enqueued; a call already moved does not move again.
pub async fn a_call_moves_with_its_event(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let c = dialing(store, &account(t), t).await?;
    let progress = progress(t);
    let started = event_rules::call_started(&c, "Ava", t, t)
        .map_err(|e| ContractError::Violated(e.to_string()))?;
    ensure!(
        store
            .advance_call_with_event(c.id, CallStatus::InProgress, &progress, t, &started)
            .await?,
        "the call moves with its event"
    );
    let stored = store
        .event(started.record.id)
        .await?
        .ok_or_else(|| violated("call.started not stored"))?;
    ensure_eq!(
        stored.record.event_type,
        EventType::CallStarted,
        "event type"
    );
    ensure_eq!(stored.record.payload, started.record.payload, "payload");
    ensure!(!stored.enqueued, "a new event is not enqueued");
    ensure_eq!(stored.due_at, Some(started.due_at), "the event's deadline");
    ensure_eq!(
        store.call(c.id).await?.map(|c| c.status),
        Some(CallStatus::InProgress),
        "the moved call"
    );
    ensure!(
        !store
            .advance_call_with_event(c.id, CallStatus::InProgress, &progress, t, &started)
            .await?,
        "a call already in progress does not move again"
    );
    Ok(())
}

/// The event exists, the call's condition holds: a conflict, and the call stays.
pub async fn an_existing_event_conflicts_and_moves_nothing(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t = now.trunc_subsecs(3);
    let account = account(t);
    let progress = progress(t);
    let c = dialing(store, &account, t).await?;
    let started = event_rules::call_started(&c, "Ava", t, t)
        .map_err(|e| ContractError::Violated(e.to_string()))?;
    store
        .advance_call_with_event(c.id, CallStatus::InProgress, &progress, t, &started)
        .await?;
    let other = dialing(store, &account, t).await?;
    let res = store
        .advance_call_with_event(other.id, CallStatus::InProgress, &progress, t, &started)
        .await;
    ensure!(
        super::is_conflict(&res),
        "an existing event must be a Conflict, got {res:?}"
    );
    ensure_eq!(
        store.call(other.id).await?.map(|c| c.status),
        Some(CallStatus::Dialing),
        "the call of a refused event"
    );
    Ok(())
}

/// A call settles with its `call.failed` (reason kept, deadline cleared, event stored); a
/// call no longer in the `from` status does not settle.
pub async fn a_call_settles_with_its_event(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let account = account(t);
    let other = dialing(store, &account, t).await?;
    let failed =
        event_rules::call_failed(Some(&account), &other, FailureReason::DialOutcomeUnknown, t)
            .map_err(|e| ContractError::Violated(e.to_string()))?
            .ok_or_else(|| violated("subscribed account gets call.failed"))?;
    ensure!(
        store
            .settle_call_with_event(
                other.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(REASON),
                t,
                None,
                &failed
            )
            .await?,
        "the call settles with its event"
    );
    let settled = store
        .call(other.id)
        .await?
        .ok_or_else(|| violated("settled call missing"))?;
    ensure_eq!(
        (
            settled.status,
            settled.failure_reason.as_deref(),
            settled.due_at
        ),
        (CallStatus::Failed, Some(REASON), None),
        "the settled call"
    );
    ensure_eq!(
        store
            .event(failed.record.id)
            .await?
            .map(|e| e.record.event_type),
        Some(EventType::CallFailed),
        "call.failed stored"
    );
    ensure!(
        !store
            .settle_call_with_event(
                other.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(REASON),
                t,
                None,
                &failed
            )
            .await?,
        "a call no longer `from` does not settle"
    );
    Ok(())
}

/// A call the reconciler fails for an account not subscribed to call.failed: its one
/// call.completed, recorded on the call, so a later completion stores no second event.
pub async fn an_unsubscribed_failure_records_its_call_completed(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t = now.trunc_subsecs(3);
    let account = account(t);
    let unsubscribed = Account {
        events: vec![EventType::CallCompleted],
        ..account.clone()
    };
    let silent = dialing(store, &account, t).await?;
    let completed = event_rules::failure_ending(
        Some(&unsubscribed),
        &silent,
        FailureReason::DialOutcomeUnknown,
        "Ava",
        t,
    )
    .map_err(|e| ContractError::Violated(e.to_string()))?
    .ok_or_else(|| violated("the default subscription gets an event"))?;
    ensure_eq!(
        completed.record.event_type,
        EventType::CallCompleted,
        "the event of an unsubscribed account"
    );
    ensure!(
        store
            .settle_call_with_event(
                silent.id,
                CallStatus::Dialing,
                CallStatus::Failed,
                Some(REASON),
                t,
                None,
                &completed
            )
            .await?,
        "the call settles with its call.completed"
    );
    let settled = store
        .call(silent.id)
        .await?
        .ok_or_else(|| violated("settled call missing"))?;
    ensure_eq!(
        (settled.status, settled.event_id),
        (CallStatus::Failed, Some(completed.record.id)),
        "failed, with its call.completed recorded as its event"
    );
    ensure!(
        !store
            .complete_call(
                silent.id,
                &CallProgress::default(),
                &CallCompletion {
                    summary: "",
                    sentiment: "unknown",
                    event: &completed.record,
                    event_expires_at: t + EVENT_TTL,
                    event_due_at: t,
                },
                t,
            )
            .await?,
        "a call with its event is never completed again"
    );
    Ok(())
}
