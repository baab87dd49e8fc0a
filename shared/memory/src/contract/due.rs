//! `DueStore` and the lifecycle writes that keep its index: every deadline set is found once
//! it passes (and not before), every write that finishes the work takes it out, the repairs
//! are conditional (a second run changes nothing), and an event's repair is claimed once.
//! (Scheduled calls: [`super::scheduled`].)

use super::{call, event_record, idempotency_record, unique_account, ContractError, Kept};
use chrono::{DateTime, Utc};
use domain::error::StoreError;
use domain::ids::{AccountId, CallId};
use domain::model::{Call, CallStatus, EventRecord, IdempotencyRecord, StoredResponse};
use domain::ports::store::calls::{CallCompletion, CallProgress, CreateCallOutcome};
use domain::ports::store::event_store::EVENT_TTL;
use domain::ports::store::{Due, DueKind, DueWork, Store};

/// Whether `work` is among the items of `kind` due at `at` (read with a generous limit; the
/// deadlines below are set in 2001 so they sort before any other test's work in a shared
/// table).
pub(super) async fn is_due(
    store: &dyn Store,
    kind: DueKind,
    at: DateTime<Utc>,
    work: &DueWork,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .due(kind, at, 1000)
        .await?
        .into_iter()
        .find(|d: &Due| &d.work == work)
        .map(|d| d.due_at))
}

/// The deadlines' origin, 2001-01-01T00:00:00Z.
pub(super) fn t0() -> Result<DateTime<Utc>, ContractError> {
    Ok(DateTime::parse_from_rfc3339("2001-01-01T00:00:00.000Z")
        .map_err(|e| ContractError::Violated(e.to_string()))?
        .with_timezone(&Utc))
}

fn s(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// The answer of a request that died.
fn dead_answer() -> StoredResponse {
    StoredResponse {
        status: 502,
        body: r#"{"success":false}"#.into(),
    }
}

/// A queued call of a fresh account, due at `t0`, created with its running request's key
/// (`due-key`), held until `t0 + 1s`.
struct Queued {
    account: AccountId,
    call: Call,
    rec: IdempotencyRecord,
}

async fn queued(store: &dyn Store, now: DateTime<Utc>) -> Result<Queued, ContractError> {
    let t0 = t0()?;
    let account = unique_account("acct_due");
    let c = Call {
        due_at: Some(t0),
        ..call(&account, now)
    };
    let mut rec = idempotency_record(&c, "due-key", now + chrono::Duration::hours(24));
    rec.lease_until = Some(t0 + s(1));
    let created = store.create_call(&c, Some(&rec), now).await?;
    ensure_eq!(created, CreateCallOutcome::Created, "create");
    Ok(Queued {
        account,
        call: c,
        rec,
    })
}

/// [`queued`], then its answer lost: `dial_unknown` until `t0 + 2s`, the key answered.
async fn dial_unknown(store: &dyn Store, now: DateTime<Utc>) -> Result<Queued, ContractError> {
    let q = queued(store, now).await?;
    store
        .mark_call_dial_unknown(q.call.id, now, t0()? + s(2), Some((&q.rec, &dead_answer())))
        .await?;
    Ok(q)
}

/// A queued call and its running request's key are each due when their lease ends, and
/// not before.
pub async fn a_queued_call_and_its_key_are_due_at_their_lease(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t0 = t0()?;
    let Queued {
        account, call: c, ..
    } = queued(store, now).await?;
    let call_work = DueWork::Call(c.id);
    let key_work = DueWork::Idempotency {
        account_id: account.clone(),
        key: "due-key".into(),
    };
    ensure!(
        is_due(
            store,
            DueKind::Call,
            t0 - chrono::Duration::milliseconds(1),
            &call_work
        )
        .await?
        .is_none(),
        "a call is not due before its deadline"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0, &call_work).await?,
        Some(t0),
        "a queued call is due at its lease"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0, &key_work)
            .await?
            .is_none(),
        "the key is not due before its lease"
    );
    ensure_eq!(
        is_due(store, DueKind::Idempotency, t0 + s(1), &key_work).await?,
        Some(t0 + s(1)),
        "a key without an answer is due at its lease"
    );
    let read = store.idempotency(&account, "due-key", now).await?;
    ensure_eq!(
        read.and_then(|r| r.lease_until),
        Some(t0 + s(1)),
        "the lease reads back"
    );
    Ok(())
}

/// The answer is lost: `dial_unknown` with its deadline, the key answered (no longer due);
/// both happen once.
pub async fn dial_unknown_moves_the_deadline_and_answers_the_key(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t0 = t0()?;
    let Queued {
        account,
        call: c,
        rec,
    } = queued(store, now).await?;
    let call_work = DueWork::Call(c.id);
    let key_work = DueWork::Idempotency {
        account_id: account.clone(),
        key: "due-key".into(),
    };
    let answer = dead_answer();
    ensure!(
        store
            .mark_call_dial_unknown(c.id, now, t0 + s(2), Some((&rec, &answer)))
            .await?,
        "a queued call moves to dial_unknown"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref().map(|c| (c.status, c.due_at)),
        Some((CallStatus::DialUnknown, Some(t0 + s(2)))),
        "dial_unknown with its deadline"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(2), &call_work).await?,
        Some(t0 + s(2)),
        "the deadline moved"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0 + s(5), &key_work)
            .await?
            .is_none(),
        "an answered key is not due"
    );
    let read = store.idempotency(&account, "due-key", now).await?;
    ensure_eq!(
        read.and_then(|r| r.response),
        Some(answer.clone()),
        "the answer is remembered"
    );
    ensure!(
        !store
            .mark_call_dial_unknown(c.id, now, t0 + s(2), Some((&rec, &answer)))
            .await?,
        "only a queued call moves to dial_unknown"
    );
    ensure!(
        !store.answer_dead_request(&rec, &answer).await?,
        "an answered key is never answered again"
    );
    Ok(())
}

/// Resolved: failed, reason kept, out of the index; a second settle changes nothing. Failed
/// only for want of news: a late callback still moves it on, and clears the reason.
pub async fn a_settled_call_leaves_the_index_and_a_callback_revives_it(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t0 = t0()?;
    let c = dial_unknown(store, now).await?.call;
    let call_work = DueWork::Call(c.id);
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::DialUnknown,
                CallStatus::Failed,
                Some("dial_outcome_unknown"),
                now,
                None,
            )
            .await?,
        "dial_unknown settles to failed"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::DialUnknown,
                CallStatus::Failed,
                Some("again"),
                now,
                None,
            )
            .await?,
        "settle is conditional on the status"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref()
            .map(|c| (c.status, c.failure_reason.clone(), c.due_at)),
        Some((
            CallStatus::Failed,
            Some("dial_outcome_unknown".to_string()),
            None
        )),
        "failed, with the first reason, no deadline"
    );
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &call_work)
            .await?
            .is_none(),
        "a settled call is out of the index"
    );
    let started = CallProgress {
        started_at: Some(now),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(c.id, CallStatus::InProgress, &started, now)
            .await?,
        "a dial_outcome_unknown failure still moves forward"
    );
    let read = store.call(c.id).await?;
    ensure_eq!(
        read.as_ref().map(|c| (c.status, c.failure_reason.clone())),
        Some((CallStatus::InProgress, None)),
        "revived, without its failure reason"
    );
    Ok(())
}

/// A dead request's key: answered only for its own call and only without an answer; the
/// answer takes it out of the index and is what a retry reads.
pub async fn a_dead_requests_key_is_answered_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let account = unique_account("acct_due");
    let c2 = Call {
        due_at: Some(t0),
        ..call(&account, now)
    };
    let mut rec2 = idempotency_record(&c2, "due-key-2", now + chrono::Duration::hours(24));
    rec2.lease_until = Some(t0);
    store.create_call(&c2, Some(&rec2), now).await?;
    let key_work = DueWork::Idempotency {
        account_id: account.clone(),
        key: "due-key-2".into(),
    };
    ensure_eq!(
        is_due(store, DueKind::Idempotency, t0 + s(1), &key_work).await?,
        Some(t0),
        "a held key is due at its lease"
    );
    let other = IdempotencyRecord {
        call_id: CallId::new_v4(),
        ..rec2.clone()
    };
    let unknown = StoredResponse {
        status: 502,
        body: "{\"success\":false}".into(),
    };
    ensure!(
        !store.answer_dead_request(&other, &unknown).await?,
        "a key held by another call is not answered"
    );
    ensure!(
        store.answer_dead_request(&rec2, &unknown).await?,
        "answered"
    );
    ensure_eq!(
        store
            .idempotency(&account, "due-key-2", now)
            .await?
            .and_then(|r| r.response),
        Some(unknown.clone()),
        "the answer is what the key replays"
    );
    ensure!(
        is_due(store, DueKind::Idempotency, t0 + s(10), &key_work)
            .await?
            .is_none(),
        "an answered key is out of the index"
    );
    ensure!(
        !store.answer_dead_request(&rec2, &dead_answer()).await?,
        "answered once: a second answer changes nothing"
    );
    ensure!(
        store
            .settle_call(
                c2.id,
                CallStatus::Queued,
                CallStatus::DialUnknown,
                None,
                now,
                Some(t0 + s(3))
            )
            .await?,
        "queued settles to dial_unknown"
    );
    Ok(())
}

/// A call of a fresh account, ended, waiting for its analysis until `t0 + 4s`.
async fn ended(store: &dyn Store, now: DateTime<Utc>) -> Result<Call, ContractError> {
    let c3 = call(unique_account("acct_due"), now);
    store.create_call(&c3, None, now).await?;
    let ended = CallProgress {
        ended_at: Some(now),
        due_at: Some(t0()? + s(4)),
        ..CallProgress::default()
    };
    ensure!(
        store
            .advance_call(c3.id, CallStatus::Ended, &ended, now)
            .await?,
        "ended"
    );
    Ok(c3)
}

/// A completion with `event`, the event due for enqueuing at `t0 + 5s`.
fn completion(
    event: &EventRecord,
    now: DateTime<Utc>,
) -> Result<CallCompletion<'_>, ContractError> {
    Ok(CallCompletion {
        summary: "",
        sentiment: "unknown",
        event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: t0()? + s(5),
    })
}

/// An ended call waits for its analysis; its repair is claimed once, naming the deadline it
/// saw; completing it takes it out and puts its event in.
pub async fn an_ended_call_is_claimed_once_and_completion_files_its_event(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let t0 = t0()?;
    let c3 = ended(store, now).await?;
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(4), &DueWork::Call(c3.id)).await?,
        Some(t0 + s(4)),
        "an ended call is due at its grace"
    );
    ensure!(
        !store
            .claim_call_repair(c3.id, t0 + s(3), t0 + s(30))
            .await?,
        "a call claim names the deadline it saw"
    );
    ensure!(
        store
            .claim_call_repair(c3.id, t0 + s(4), t0 + s(30))
            .await?,
        "call claimed"
    );
    ensure!(
        !store
            .claim_call_repair(c3.id, t0 + s(4), t0 + s(30))
            .await?,
        "call claimed once"
    );
    ensure_eq!(
        store.call(c3.id).await?.and_then(|c| c.due_at),
        Some(t0 + s(30)),
        "the call claim's end reads back"
    );
    let event = event_record(&c3, r#"{"event":"call.completed"}"#.into(), now);
    ensure!(
        store
            .complete_call(
                c3.id,
                &CallProgress::default(),
                &completion(&event, now)?,
                now
            )
            .await?,
        "completed"
    );
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &DueWork::Call(c3.id))
            .await?
            .is_none(),
        "a completed call is out of the index"
    );
    ensure_eq!(
        is_due(store, DueKind::Event, t0 + s(5), &DueWork::Event(event.id)).await?,
        Some(t0 + s(5)),
        "a new event is due for enqueuing"
    );
    Ok(())
}

/// An event's enqueue repair is claimed once, naming the deadline it saw, and not due until
/// the claim ends; an enqueued event is out of the index and cannot be claimed.
pub async fn an_events_repair_is_claimed_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let c3 = ended(store, now).await?;
    let event = event_record(&c3, r#"{"event":"call.completed"}"#.into(), now);
    store
        .complete_call(
            c3.id,
            &CallProgress::default(),
            &completion(&event, now)?,
            now,
        )
        .await?;
    let ev = DueWork::Event(event.id);
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(4), t0 + s(60))
            .await?,
        "a claim names the deadline it saw"
    );
    ensure!(
        store
            .claim_event_repair(event.id, t0 + s(5), t0 + s(60))
            .await?,
        "claimed"
    );
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(5), t0 + s(60))
            .await?,
        "claimed once"
    );
    ensure!(
        is_due(store, DueKind::Event, t0 + s(59), &ev)
            .await?
            .is_none(),
        "a claimed event is not due until the claim ends"
    );
    let stored = store.event(event.id).await?;
    ensure_eq!(
        stored.and_then(|e| e.due_at),
        Some(t0 + s(60)),
        "the claim's end reads back"
    );
    store.mark_event_enqueued(event.id).await?;
    ensure!(
        is_due(store, DueKind::Event, t0 + s(120), &ev)
            .await?
            .is_none(),
        "an enqueued event is out of the index"
    );
    ensure!(
        !store
            .claim_event_repair(event.id, t0 + s(60), t0 + s(120))
            .await?,
        "an enqueued event cannot be claimed"
    );
    Ok(())
}

/// A poison item is quarantined: conditional on the deadline seen and the kind filed under,
/// out of its kind's partition once moved, nothing else changed, and back when a write gives
/// it a new deadline.
pub async fn a_poison_item_is_quarantined(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let c4 = Call {
        due_at: Some(t0 + s(6)),
        ..call(unique_account("acct_due"), now)
    };
    store.create_call(&c4, None, now).await?;
    let poison = Due {
        work: DueWork::Call(c4.id),
        due_at: t0 + s(6),
    };
    ensure!(
        !store
            .quarantine_due(&Due {
                due_at: t0 + s(7),
                ..poison.clone()
            })
            .await?,
        "a quarantine names the deadline it saw"
    );
    ensure!(
        !store
            .quarantine_due(&Due {
                work: DueWork::Scheduled(c4.id),
                ..poison.clone()
            })
            .await?,
        "a quarantine names the kind it was filed under"
    );
    ensure!(store.quarantine_due(&poison).await?, "quarantined");
    ensure!(
        is_due(store, DueKind::Call, t0 + s(10), &poison.work)
            .await?
            .is_none(),
        "a quarantined item is out of its kind's index"
    );
    ensure!(!store.quarantine_due(&poison).await?, "quarantined once");
    ensure_eq!(
        store.call(c4.id).await?.map(|c| (c.status, c.due_at)),
        Some((CallStatus::Queued, Some(t0 + s(6)))),
        "nothing else on the item changes"
    );
    ensure!(
        store
            .settle_call(
                c4.id,
                CallStatus::Queued,
                CallStatus::DialUnknown,
                None,
                now,
                Some(t0 + s(8))
            )
            .await?,
        "a quarantined call still moves"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, t0 + s(10), &poison.work).await?,
        Some(t0 + s(8)),
        "a new deadline files it under its kind again"
    );
    Ok(())
}
