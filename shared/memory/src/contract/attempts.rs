//! `AttemptLedger`: one winner per attempt, a live claim reported in flight, the claim taken
//! over once its lease is over, a finished attempt never claimed again and reported with the
//! row it was finished with, and a delivered attempt closing its series only.

use super::Kept;
use chrono::{DateTime, SubsecRound, Utc};
use domain::ids::{CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryOutcome};
use domain::ports::store::attempts::{LedgerClaim, LedgerState, ATTEMPT_TTL};
use domain::ports::store::{Claim, Store};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);

/// The row attempt `n` of `event` is finished with.
fn row(event: EventId, n: u32, outcome: DeliveryOutcome, now: DateTime<Utc>) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: "contract-acct".into(),
        event_id: event,
        call_id: CallId::nil(),
        attempt: n,
        attempted_at: now,
        url: Some("https://hooks.example.com/in".into()),
        outcome,
        http_status: (outcome == DeliveryOutcome::Delivered).then_some(200),
        duration_ms: 12,
        error_class: None,
        response_excerpt: Some("ok".into()),
        next_attempt_at: None,
    }
}

/// The first claim of an attempt wins, the next is told it is in flight; other attempts and
/// other series are claims of their own.
pub async fn one_winner_per_attempt(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let event = EventId::new_v4();
    let claim = |series: &'static str, n: u32| store.claim_attempt(event, series, n, now, LEASE);
    ensure_eq!(claim("original", 1).await?, Claim::Won, "first claim");
    ensure_eq!(claim("original", 1).await?, Claim::InFlight, "second claim");
    ensure_eq!(claim("original", 2).await?, Claim::Won, "another attempt");
    ensure_eq!(
        claim("redelivery-x", 1).await?,
        Claim::Won,
        "another series"
    );
    Ok(())
}

/// A claim holds to the lease's last millisecond, is taken over after it, and the take-over
/// renews the lease.
pub async fn a_claim_is_taken_over_after_its_lease(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let event = EventId::new_v4();
    let claim = |at: DateTime<Utc>| store.claim_attempt(event, "original", 1, at, LEASE);
    claim(now).await?;
    let at_lease_end = now + chrono::Duration::seconds(60);
    ensure_eq!(
        claim(at_lease_end).await?,
        Claim::InFlight,
        "claim at the lease's last millisecond"
    );
    let after_lease = at_lease_end + chrono::Duration::milliseconds(1);
    ensure_eq!(
        claim(after_lease).await?,
        Claim::Won,
        "take-over after the lease"
    );
    ensure_eq!(
        claim(after_lease).await?,
        Claim::InFlight,
        "the take-over renewed the lease"
    );
    Ok(())
}

/// Before any attempt is finished: nothing delivered, no finished row for an attempt in
/// flight or never claimed.
pub async fn nothing_finished_nothing_delivered(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let event = EventId::new_v4();
    store
        .claim_attempt(event, "original", 1, now, LEASE)
        .await?;
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        None,
        "nothing delivered yet"
    );
    ensure_eq!(
        store.finished_attempt(event, "original", 1).await?,
        None,
        "an attempt in flight has no finished row"
    );
    ensure_eq!(
        store.finished_attempt(event, "original", 9).await?,
        None,
        "an attempt never claimed has none"
    );
    Ok(())
}

/// A finished attempt's row reads back (its own series only), it is never claimed again
/// however late, and a failed attempt does not close the series.
pub async fn a_finished_attempt_is_never_claimed_again(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let event = EventId::new_v4();
    store
        .claim_attempt(event, "original", 1, now, LEASE)
        .await?;
    store
        .claim_attempt(event, "redelivery-x", 1, now, LEASE)
        .await?;
    let failed = row(event, 1, DeliveryOutcome::Failed, now);
    store.finish_attempt("original", &failed).await?;
    ensure_eq!(
        store.finished_attempt(event, "original", 1).await?,
        Some(failed.clone()),
        "a finished attempt's row, read without claiming"
    );
    ensure_eq!(
        store.finished_attempt(event, "redelivery-x", 1).await?,
        None,
        "only its own series"
    );
    ensure_eq!(
        store
            .claim_attempt(event, "original", 1, now + ATTEMPT_TTL, LEASE)
            .await?,
        Claim::Done(Box::new(failed.clone())),
        "a finished attempt, however late, with its row"
    );
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        None,
        "a failed attempt does not close the series"
    );
    Ok(())
}

/// Finished without a claim (the write is unconditional): still never claimed; a delivered
/// attempt closes its own series of its own event only.
pub async fn a_delivered_attempt_closes_its_series_only(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let event = EventId::new_v4();
    let delivered = row(event, 3, DeliveryOutcome::Delivered, now);
    store.finish_attempt("original", &delivered).await?;
    ensure_eq!(
        store
            .claim_attempt(event, "original", 3, now, LEASE)
            .await?,
        Claim::Done(Box::new(delivered)),
        "finished unclaimed"
    );
    ensure_eq!(
        store.delivered_attempt(event, "original").await?,
        Some(3),
        "the delivered attempt closes the series"
    );
    ensure_eq!(
        store.delivered_attempt(event, "redelivery-x").await?,
        None,
        "only its own series"
    );
    ensure_eq!(
        store
            .delivered_attempt(EventId::new_v4(), "original")
            .await?,
        None,
        "only its own event"
    );
    Ok(())
}

/// Every claim of the event, of every series: in flight with its lease (kept to the
/// millisecond), or done with its row; another event's claims never.
pub async fn series_claims_lists_every_claim(store: &dyn Store, now: DateTime<Utc>) -> Kept {
    let event = EventId::new_v4();
    let claim = |series: &'static str, n: u32| store.claim_attempt(event, series, n, now, LEASE);
    for (series, n) in [("original", 1), ("original", 2), ("redelivery-x", 1)] {
        claim(series, n).await?;
    }
    let failed = row(event, 1, DeliveryOutcome::Failed, now);
    store.finish_attempt("original", &failed).await?;
    let delivered = row(event, 3, DeliveryOutcome::Delivered, now);
    store.finish_attempt("original", &delivered).await?;
    ensure_eq!(
        claim("redelivery-x", 0).await?,
        Claim::Won,
        "a series' marker"
    );
    let mut claims = store.series_claims(event).await?;
    claims.sort_by(|a, b| (&a.series, a.attempt).cmp(&(&b.series, b.attempt)));
    let lease_end = |at: DateTime<Utc>| LedgerState::InFlight {
        lease_until: (at + chrono::Duration::seconds(60)).trunc_subsecs(3),
    };
    let expected = vec![
        LedgerClaim {
            series: "original".into(),
            attempt: 1,
            state: LedgerState::Done(Box::new(failed)),
        },
        LedgerClaim {
            series: "original".into(),
            attempt: 2,
            state: lease_end(now),
        },
        LedgerClaim {
            series: "original".into(),
            attempt: 3,
            state: LedgerState::Done(Box::new(delivered)),
        },
        LedgerClaim {
            series: "redelivery-x".into(),
            attempt: 0,
            state: lease_end(now),
        },
        LedgerClaim {
            series: "redelivery-x".into(),
            attempt: 1,
            state: lease_end(now),
        },
    ];
    ensure_eq!(claims, expected, "the event's claims");
    ensure!(
        store.series_claims(EventId::new_v4()).await?.is_empty(),
        "only its own event's claims"
    );
    Ok(())
}
