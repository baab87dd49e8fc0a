//! `CallStore`: creation with its Idempotency-Key all or nothing, expired keys free, the
//! status machine (queued -> dialing/failed, forward-only callbacks, completion once with its
//! event), inbound calls once per provider call id. (Moves with an event:
//! [`super::call_events`]; the list: [`super::call_list`]; deadlines: [`super::due`].)

use super::{
    call, event_record, idempotency_record, is_conflict, unique, unique_account, violated,
};
use super::{ContractError, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::{AccountId, CallId};
use domain::model::{Call, CallStatus, Direction, EventRecord, IdempotencyRecord, StoredResponse};
use domain::ports::store::calls::{CallCompletion, CallProgress, CreateCallOutcome};
use domain::ports::store::event_store::EVENT_TTL;
use domain::ports::store::Store;
use uuid::Uuid;

/// A queued call of a fresh account, created with a fresh Idempotency-Key.
struct Keyed {
    account: AccountId,
    key: String,
    call: Call,
    rec: IdempotencyRecord,
}

fn keyed(now: DateTime<Utc>) -> Keyed {
    let account = unique_account("acct");
    let key = unique("idem");
    let call = call(&account, now.trunc_subsecs(3));
    let rec = idempotency_record(&call, &key, now + chrono::Duration::hours(24));
    Keyed {
        account,
        key,
        call,
        rec,
    }
}

/// [`keyed`], created.
async fn created(store: &dyn Store, now: DateTime<Utc>) -> Result<Keyed, ContractError> {
    let k = keyed(now);
    store.create_call(&k.call, Some(&k.rec), now).await?;
    Ok(k)
}

/// The answer remembered with a dialing call.
fn answer(call: &Call) -> StoredResponse {
    StoredResponse {
        status: 200,
        body: format!(r#"{{"success":true,"call_id":"{}"}}"#, call.id),
    }
}

/// [`created`], then dialing as `prov_1` with its answer remembered.
async fn dialing(store: &dyn Store, now: DateTime<Utc>) -> Result<Keyed, ContractError> {
    let t = now.trunc_subsecs(3);
    let k = created(store, now).await?;
    store
        .mark_call_dialing(
            k.call.id,
            "prov_1",
            t,
            t + chrono::Duration::hours(2),
            Some((&k.rec, &answer(&k.call))),
        )
        .await?;
    Ok(k)
}

/// A call of `account` created under its own key and failed (`provider_unreachable`).
async fn failed(
    store: &dyn Store,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<Call, ContractError> {
    let t = now.trunc_subsecs(3);
    let c = call(account, t);
    let rec = idempotency_record(&c, &unique("idem"), now + chrono::Duration::hours(24));
    store.create_call(&c, Some(&rec), now).await?;
    store
        .mark_call_failed(c.id, "provider_unreachable", t, Some(&rec))
        .await?;
    Ok(c)
}

/// The progress of an ended call (42 seconds, a provider id the call keeps from dialing).
fn ended_progress(t: DateTime<Utc>) -> CallProgress {
    CallProgress {
        ended_at: Some(t + chrono::Duration::seconds(42)),
        duration_seconds: Some(42),
        disconnection_reason: Some("user_hangup".into()),
        provider_call_id: Some("prov_3".into()),
        ..CallProgress::default()
    }
}

/// [`dialing`], then in progress and ended: ready for its completion.
async fn ended(store: &dyn Store, now: DateTime<Utc>) -> Result<Keyed, ContractError> {
    let t = now.trunc_subsecs(3);
    let k = dialing(store, now).await?;
    let started = CallProgress {
        started_at: Some(t),
        ..CallProgress::default()
    };
    store
        .advance_call(k.call.id, CallStatus::InProgress, &started, t)
        .await?;
    store
        .advance_call(k.call.id, CallStatus::Ended, &ended_progress(t), t)
        .await?;
    Ok(k)
}

fn completion(event: &EventRecord, now: DateTime<Utc>) -> CallCompletion<'_> {
    CallCompletion {
        summary: "ok",
        sentiment: "positive",
        event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: now + EVENT_TTL,
    }
}

/// Creating with a key writes the call and the key's record.
pub async fn create_writes_the_call_and_its_key(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let k = keyed(now);
    ensure_eq!(
        store.create_call(&k.call, Some(&k.rec), now).await?,
        CreateCallOutcome::Created,
        "first create"
    );
    ensure_eq!(
        store.call(k.call.id).await?,
        Some(k.call.clone()),
        "call read back"
    );
    ensure_eq!(
        store.idempotency(&k.account, &k.key, now).await?,
        Some(k.rec.clone()),
        "idempotency record"
    );
    Ok(())
}

/// The same key again: the existing record answers, and the second call is not written.
pub async fn a_taken_key_answers_and_writes_no_call(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let k = created(store, now).await?;
    let second = call(&k.account, now.trunc_subsecs(3));
    let again = idempotency_record(&second, &k.key, now + chrono::Duration::hours(24));
    ensure_eq!(
        store.create_call(&second, Some(&again), now).await?,
        CreateCallOutcome::IdempotencyKeyExists(k.rec.clone()),
        "create with a taken key"
    );
    ensure_eq!(
        store.call(second.id).await?,
        None,
        "call of the refused create"
    );
    Ok(())
}

/// An existing call id: `Conflict`, and the new key is not taken either.
pub async fn an_existing_call_id_conflicts_and_takes_no_key(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let k = created(store, now).await?;
    let other_key = unique("idem");
    let dup = idempotency_record(&k.call, &other_key, now + chrono::Duration::hours(24));
    ensure!(
        is_conflict(&store.create_call(&k.call, Some(&dup), now).await),
        "creating an existing call (with a new key) must be a Conflict"
    );
    ensure_eq!(
        store.idempotency(&k.account, &other_key, now).await?,
        None,
        "key of the refused create"
    );
    ensure!(
        is_conflict(&store.create_call(&k.call, None, now).await),
        "creating an existing call must be a Conflict"
    );
    Ok(())
}

/// An expired record is invisible and free, even before the TTL sweeper removes it.
pub async fn an_expired_key_is_free(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let account = unique_account("acct");
    let old_key = unique("idem");
    let old_call = call(&account, t);
    let old = idempotency_record(&old_call, &old_key, now - chrono::Duration::seconds(10));
    store.create_call(&old_call, Some(&old), now).await?;
    ensure_eq!(
        store.idempotency(&account, &old_key, now).await?,
        None,
        "expired record"
    );
    let fresh_call = call(&account, t);
    let fresh = idempotency_record(&fresh_call, &old_key, now + chrono::Duration::hours(24));
    ensure_eq!(
        store.create_call(&fresh_call, Some(&fresh), now).await?,
        CreateCallOutcome::Created,
        "create over an expired record"
    );
    Ok(())
}

/// queued -> dialing, with the answer remembered in the same write; marking it again (a
/// late duplicate) keeps the status and the first provider id.
pub async fn dialing_remembers_the_answer_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let k = dialing(store, now).await?;
    let first = &k.call;
    let dialing = store
        .call(first.id)
        .await?
        .ok_or_else(|| violated("dialing call vanished"))?;
    ensure_eq!(dialing.status, CallStatus::Dialing, "status after dialing");
    ensure_eq!(
        dialing.due_at,
        Some(t.trunc_subsecs(3) + chrono::Duration::hours(2)),
        "a dialing call's deadline"
    );
    ensure_eq!(
        dialing.provider_call_id.as_deref(),
        Some("prov_1"),
        "provider id"
    );
    ensure_eq!(
        store
            .idempotency(&k.account, &k.key, now)
            .await?
            .and_then(|r| r.response),
        Some(answer(first)),
        "remembered answer"
    );
    store
        .mark_call_dialing(first.id, "prov_2", t, t, None)
        .await?;
    ensure_eq!(
        store.call(first.id).await?,
        Some(dialing.clone()),
        "call after a late dialing"
    );
    Ok(())
}

/// Failing is only for queued calls; a lost condition writes nothing (the key stays); a
/// failed call keeps its reason and releases its key.
pub async fn failing_is_for_queued_calls_only(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let k = dialing(store, now).await?;
    ensure!(
        is_conflict(
            &store
                .mark_call_failed(k.call.id, "late", t, Some(&k.rec))
                .await
        ),
        "failing a dialing call must be a Conflict"
    );
    ensure!(
        store.idempotency(&k.account, &k.key, now).await?.is_some(),
        "a lost mark_call_failed must not release the key"
    );
    let fresh_key = unique("idem");
    let fresh_call = call(&k.account, t);
    let fresh = idempotency_record(&fresh_call, &fresh_key, now + chrono::Duration::hours(24));
    store.create_call(&fresh_call, Some(&fresh), now).await?;
    store
        .mark_call_failed(fresh_call.id, "provider_unreachable", t, Some(&fresh))
        .await?;
    let failed = store.call(fresh_call.id).await?;
    ensure_eq!(
        failed.as_ref().map(|c| c.status),
        Some(CallStatus::Failed),
        "failed status"
    );
    ensure_eq!(
        failed.and_then(|c| c.failure_reason).as_deref(),
        Some("provider_unreachable"),
        "failure reason"
    );
    ensure_eq!(
        store.idempotency(&k.account, &fresh_key, now).await?,
        None,
        "released key"
    );
    Ok(())
}

/// Callbacks move a call forward only (never an unknown or failed one), keep the progress
/// they carry, and never replace the provider id.
pub async fn callbacks_move_forward_only(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let k = dialing(store, now).await?;
    let first = &k.call;
    let failed = failed(store, &k.account, now).await?;
    let progress = CallProgress {
        started_at: Some(t),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(first.id, CallStatus::InProgress, &progress, t)
            .await?,
        "dialing -> in_progress must advance"
    );
    ensure!(
        !store
            .advance_call(first.id, CallStatus::InProgress, &progress, t)
            .await?,
        "in_progress -> in_progress must not"
    );
    ensure!(
        !store
            .advance_call(first.id, CallStatus::Dialing, &progress, t)
            .await?,
        "in_progress -> dialing must not"
    );
    ensure!(
        !store
            .advance_call(CallId::new_v4(), CallStatus::Ended, &progress, t)
            .await?,
        "an unknown call must not advance"
    );
    ensure!(
        !store
            .advance_call(failed.id, CallStatus::Ended, &progress, t)
            .await?,
        "a failed call must not advance"
    );
    let ended = ended_progress(t);
    ensure!(
        store
            .advance_call(first.id, CallStatus::Ended, &ended, t)
            .await?,
        "in_progress -> ended must advance"
    );
    let c = store.call(first.id).await?;
    ensure_eq!(
        c.as_ref()
            .map(|c| (c.started_at, c.ended_at, c.duration_seconds)),
        Some((Some(t), ended.ended_at, Some(42))),
        "progress kept"
    );
    ensure_eq!(
        c.and_then(|c| c.provider_call_id).as_deref(),
        Some("prov_1"),
        "a callback never replaces the provider id"
    );
    Ok(())
}

/// Completion: once, with its event (stored, not enqueued), all or nothing; never for a
/// failed or unknown call.
pub async fn completion_happens_once_with_its_event(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t = now.trunc_subsecs(3);
    let k = ended(store, now).await?;
    let first = &k.call;
    let failed = failed(store, &k.account, now).await?;
    let event = event_record(first, r#"{"event":"call.completed"}"#.into(), t);
    let completion = completion(&event, now);
    ensure!(
        store
            .complete_call(first.id, &CallProgress::default(), &completion, t)
            .await?,
        "first completion must win"
    );
    let completed = store.call(first.id).await?;
    ensure_eq!(
        completed.as_ref().map(|c| (c.status, c.event_id)),
        Some((CallStatus::Completed, Some(event.id))),
        "completed call"
    );
    let stored = store.event(event.id).await?;
    ensure_eq!(
        stored.as_ref().map(|e| &e.record),
        Some(&event),
        "stored event"
    );
    ensure_eq!(
        stored.map(|e| e.enqueued),
        Some(false),
        "a new event is not enqueued"
    );
    let event2 = event_record(first, r#"{"event":"again"}"#.into(), t);
    let completion2 = CallCompletion {
        event: &event2,
        ..completion.clone()
    };
    ensure!(
        !store
            .complete_call(first.id, &CallProgress::default(), &completion2, t)
            .await?,
        "a second completion must lose"
    );
    ensure_eq!(
        store.event(event2.id).await?,
        None,
        "event of the lost completion"
    );
    ensure!(
        !store
            .complete_call(failed.id, &CallProgress::default(), &completion2, t)
            .await?,
        "a failed call must not complete"
    );
    ensure!(
        !store
            .complete_call(CallId::new_v4(), &CallProgress::default(), &completion2, t)
            .await?,
        "an unknown call must not complete"
    );
    Ok(())
}

/// An event id that already exists: `Conflict` (not "already completed"), call untouched.
pub async fn completing_with_an_existing_event_conflicts(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t = now.trunc_subsecs(3);
    let k = ended(store, now).await?;
    let event = event_record(&k.call, r#"{"event":"call.completed"}"#.into(), t);
    let completion = completion(&event, now);
    store
        .complete_call(k.call.id, &CallProgress::default(), &completion, t)
        .await?;
    let other = call(&k.account, t);
    store.create_call(&other, None, now).await?;
    let reused = CallCompletion {
        event: &event,
        ..completion.clone()
    };
    ensure!(
        is_conflict(
            &store
                .complete_call(other.id, &CallProgress::default(), &reused, t)
                .await
        ),
        "completing with an existing event id must be a Conflict"
    );
    ensure_eq!(
        store.call(other.id).await?,
        Some(other.clone()),
        "call of the lost completion"
    );
    Ok(())
}

/// Inbound: one call per provider call id; the loser learns the owner.
pub async fn an_inbound_call_is_created_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let provider_call = unique("inbound");
    let mut inbound = call(unique_account("acct"), now.trunc_subsecs(3));
    inbound.direction = Direction::Inbound;
    inbound.status = CallStatus::InProgress;
    inbound.provider_call_id = Some(provider_call.clone());
    ensure_eq!(
        store.create_inbound_call(&inbound).await?,
        inbound.id,
        "inbound created"
    );
    let twin = Call {
        id: Uuid::new_v4().into(),
        ..inbound.clone()
    };
    ensure_eq!(
        store.create_inbound_call(&twin).await?,
        inbound.id,
        "inbound owner"
    );
    ensure_eq!(store.call(twin.id).await?, None, "the losing inbound call");
    ensure_eq!(
        store.call_id_by_provider_call(&provider_call).await?,
        Some(inbound.id),
        "provider call index"
    );
    ensure_eq!(
        store.call(inbound.id).await?,
        Some(inbound),
        "inbound call read back"
    );
    Ok(())
}
