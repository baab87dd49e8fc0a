//! Scheduled calls (`CallStore` and `DueStore`): a `scheduled` call is filed under the
//! `scheduled` due kind at its time (and its key, written with its 202 answer, is not due);
//! the claim (`scheduled` -> `queued`) wins once and moves it to the `call` kind; a cancel
//! and a claim exclude each other; callbacks never move a scheduled or canceled call; a
//! claimed call can be re-scheduled.

use super::due::{is_due, t0};
use super::{call, idempotency_record, unique_account, violated, ContractError, Kept};
use chrono::{DateTime, Utc};
use domain::ids::{AccountId, CallId};
use domain::model::{Call, CallStatus, StoredResponse};
use domain::ports::store::calls::{CallProgress, CreateCallOutcome};
use domain::ports::store::{DueKind, DueWork, Store};

fn s(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A scheduled call of a fresh account, due at `t0`, with its key holding the 202 answer;
/// returns the account and the call, not yet stored.
fn scheduled_call(now: DateTime<Utc>) -> Result<(AccountId, Call), ContractError> {
    let account = unique_account("acct_sched");
    let c = Call {
        status: CallStatus::Scheduled,
        due_at: Some(t0()?),
        ..call(&account, now)
    };
    Ok((account, c))
}

/// Creates the scheduled call with its answered key `sched-key`.
async fn create(
    store: &dyn Store,
    c: &Call,
    now: DateTime<Utc>,
) -> Result<CreateCallOutcome, ContractError> {
    let mut rec = idempotency_record(c, "sched-key", now + chrono::Duration::hours(24));
    rec.response = Some(StoredResponse {
        status: 202,
        body: "{\"status\":\"scheduled\"}".into(),
    });
    Ok(store.create_call(c, Some(&rec), now).await?)
}

/// Claims the scheduled call `id` until `lease` (`scheduled` -> `queued`); whether it won.
async fn claim(
    store: &dyn Store,
    id: CallId,
    lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, ContractError> {
    Ok(store
        .settle_call(
            id,
            CallStatus::Scheduled,
            CallStatus::Queued,
            None,
            now,
            Some(lease),
        )
        .await?)
}

/// A scheduled call is `scheduled` work at its time, not `call` work; its answered key is
/// not due and holds the 202; a callback does not move it.
pub async fn a_scheduled_call_is_scheduled_work(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let (account, c) = scheduled_call(now)?;
    ensure_eq!(
        create(store, &c, now).await?,
        CreateCallOutcome::Created,
        "create a scheduled call"
    );
    let work = DueWork::Scheduled(c.id);
    ensure_eq!(
        is_due(store, DueKind::Scheduled, t0, &work).await?,
        Some(t0),
        "a scheduled call is due under `scheduled` at its time"
    );
    ensure!(
        is_due(store, DueKind::Call, t0, &DueWork::Call(c.id))
            .await?
            .is_none(),
        "a scheduled call is not `call` work"
    );
    ensure!(
        is_due(
            store,
            DueKind::Idempotency,
            t0 + s(1),
            &DueWork::Idempotency {
                account_id: account.clone(),
                key: "sched-key".into()
            }
        )
        .await?
        .is_none(),
        "an answered key is not due"
    );
    ensure_eq!(
        store
            .idempotency(&account, "sched-key", now)
            .await?
            .and_then(|r| r.response)
            .map(|r| r.status),
        Some(202),
        "the key holds the 202"
    );
    ensure!(
        !store
            .advance_call(c.id, CallStatus::InProgress, &CallProgress::default(), now)
            .await?,
        "a callback does not move a scheduled call"
    );
    Ok(())
}

/// The claim wins once; a cancel after it loses; the claimed call leaves the `scheduled`
/// kind for the `call` kind at its lease.
pub async fn the_claim_wins_once(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let (_, c) = scheduled_call(now)?;
    create(store, &c, now).await?;
    let work = DueWork::Scheduled(c.id);
    let lease = t0 + s(120);
    ensure!(
        claim(store, c.id, lease, now).await?,
        "the first claim wins"
    );
    ensure!(
        !claim(store, c.id, lease, now).await?,
        "a second claim loses"
    );
    ensure!(
        !store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Canceled,
                None,
                now,
                None
            )
            .await?,
        "a cancel after the claim loses"
    );
    ensure!(
        is_due(store, DueKind::Scheduled, lease, &work)
            .await?
            .is_none(),
        "a claimed call leaves the `scheduled` kind"
    );
    ensure_eq!(
        is_due(store, DueKind::Call, lease, &DueWork::Call(c.id)).await?,
        Some(lease),
        "a claimed call is `call` work at its lease"
    );
    Ok(())
}

/// A claimed call whose window closed again is re-scheduled: `scheduled` work again.
pub async fn a_claimed_call_can_be_rescheduled(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let (_, c) = scheduled_call(now)?;
    create(store, &c, now).await?;
    claim(store, c.id, t0 + s(120), now).await?;
    let later = t0 + s(3600);
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::Queued,
                CallStatus::Scheduled,
                None,
                now,
                Some(later)
            )
            .await?,
        "re-schedule"
    );
    ensure_eq!(
        is_due(store, DueKind::Scheduled, later, &DueWork::Scheduled(c.id)).await?,
        Some(later),
        "a re-scheduled call is `scheduled` work again"
    );
    Ok(())
}

/// A cancel wins over a later claim; the canceled call keeps its reason, has no deadline,
/// and no callback moves it.
pub async fn a_cancel_wins_over_a_later_claim(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let t0 = t0()?;
    let (_, c) = scheduled_call(now)?;
    create(store, &c, now).await?;
    ensure!(
        store
            .settle_call(
                c.id,
                CallStatus::Scheduled,
                CallStatus::Canceled,
                Some("number_suppressed"),
                now,
                None
            )
            .await?,
        "the cancel wins"
    );
    ensure!(
        !claim(store, c.id, t0 + s(120), now).await?,
        "a claim after the cancel loses"
    );
    let stored = store
        .call(c.id)
        .await?
        .ok_or_else(|| violated("canceled call vanished"))?;
    ensure_eq!(stored.status, CallStatus::Canceled, "canceled");
    ensure_eq!(
        stored.failure_reason.as_deref(),
        Some("number_suppressed"),
        "the cancel's reason"
    );
    ensure_eq!(stored.due_at, None, "a canceled call has no deadline");
    ensure!(
        !store
            .advance_call(c.id, CallStatus::Ended, &CallProgress::default(), now)
            .await?,
        "a callback does not move a canceled call"
    );
    Ok(())
}
