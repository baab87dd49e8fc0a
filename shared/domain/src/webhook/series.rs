//! Whether an event's redelivery is still running, read from the attempt ledger (issue 26).
//!
//! Every series of an event (its original delivery, and each redelivery or recovery: a
//! [`DeliveryMessage::redelivery`] id, series `redelivery-<id>`) leaves claims in the ledger
//! (`ports::store::attempts`): the marker (attempt 0) the settings route claims when it queues
//! the series, then one claim per attempt, finished with the attempt's log row. A redelivery
//! or recovery series is **running** unless
//!
//! 1. it **ended**: one of its claims is finished `delivered`, `dropped` or `skipped` (a
//!    marker whose message could not be queued is finished `skipped` too), or
//! 2. it **stalled**: its next step is overdue. The next step is read from its newest claim:
//!    - only the marker: the first attempt should have started by the marker's lease end
//!      ([`REDELIVERY_MARKER_LEASE`] after a redelivery was queued, `RECOVERY_LEASE` after a
//!      recovery);
//!    - an attempt in flight: it should have finished by its claim's lease end (a crashed
//!      holder's message comes back and is taken over after it) plus [`STALL_GRACE`];
//!    - an attempt finished `failed`: the next attempt is due at its `next_attempt_at`, and
//!      should have started by then plus [`STALL_GRACE`].
//!
//! A stalled series (its message lost, or in the dead-letter queue) no longer blocks a new
//! redelivery, so an event can never be locked out for good. The original series never
//! blocks one: redelivering while the automatic retries wait is how a customer who fixed
//! their endpoint gets the event now.
//!
//! The n-th redelivery of an event (n = how many series besides the original it has) has a
//! fixed id ([`redelivery_id`]), so two requests that both found no series running ask for
//! the same marker, and only one of them can claim it.

use crate::ids::EventId;
use crate::model::{DeliveryAttempt, DeliveryOutcome};
use crate::ports::queue::{DeliveryMessage, ORIGINAL_SERIES, REDELIVERY_SERIES_PREFIX};
use crate::ports::store::attempts::{LedgerClaim, LedgerState};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// How long a queued redelivery may wait for its first attempt: the lease of the marker the
/// redelivery route claims (a due message normally starts within seconds; the events queue's
/// age alarm fires at 20 minutes).
pub const REDELIVERY_MARKER_LEASE: Duration = Duration::from_secs(15 * 60);

/// How late an attempt may be (to finish after its lease, or to start after its due time)
/// before its series counts as stalled.
pub const STALL_GRACE: Duration = Duration::from_secs(15 * 60);

/// A redelivery or recovery series that is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The series' redelivery id (the series is `redelivery-<id>`).
    pub redelivery: String,
    /// When it counts as stalled if nothing happens before.
    pub until: DateTime<Utc>,
}

fn grace() -> chrono::Duration {
    chrono::Duration::from_std(STALL_GRACE).unwrap_or(chrono::Duration::minutes(15))
}

/// Until when a series whose claims are `claims` (all of one series) counts as running;
/// `None` once it ended.
fn running_until(claims: &[&LedgerClaim]) -> Option<DateTime<Utc>> {
    let ended = |row: &DeliveryAttempt| {
        matches!(
            row.outcome,
            DeliveryOutcome::Delivered | DeliveryOutcome::Dropped | DeliveryOutcome::Skipped
        )
    };
    if claims
        .iter()
        .any(|c| matches!(&c.state, LedgerState::Done(row) if ended(row)))
    {
        return None;
    }
    let newest = claims.iter().max_by_key(|c| c.attempt)?;
    match &newest.state {
        LedgerState::InFlight { lease_until } if newest.attempt == 0 => Some(*lease_until),
        LedgerState::InFlight { lease_until } => Some(*lease_until + grace()),
        LedgerState::Done(row) => row.next_attempt_at.map(|next| next + grace()),
    }
}

/// The event's redelivery or recovery series that is running at `now`, if any (the one that
/// runs longest when there are several), from all the event's ledger claims.
pub fn running_redelivery(claims: &[LedgerClaim], now: DateTime<Utc>) -> Option<Running> {
    let mut by_series: BTreeMap<&str, Vec<&LedgerClaim>> = BTreeMap::new();
    for c in claims.iter().filter(|c| c.series != ORIGINAL_SERIES) {
        by_series.entry(c.series.as_str()).or_default().push(c);
    }
    by_series
        .into_iter()
        .filter_map(|(series, claims)| {
            let until = running_until(&claims)?;
            (now < until).then(|| Running {
                redelivery: series
                    .strip_prefix(REDELIVERY_SERIES_PREFIX)
                    .unwrap_or(series)
                    .to_string(),
                until,
            })
        })
        .max_by_key(|r| r.until)
}

/// How many series besides the original the event has had (redeliveries and recoveries).
pub fn redelivery_count(claims: &[LedgerClaim]) -> usize {
    let mut series: Vec<&str> = claims
        .iter()
        .map(|c| c.series.as_str())
        .filter(|s| *s != ORIGINAL_SERIES)
        .collect();
    series.sort_unstable();
    series.dedup();
    series.len()
}

/// The id of the event's `n`-th redelivery (counting from 0 with [`redelivery_count`]): the
/// same `(event, n)` always gives the same id, and no other series has it (recoveries derive
/// theirs from another text).
pub fn redelivery_id(event_id: EventId, n: usize) -> Uuid {
    let digest = Sha256::digest(format!("redeliver:{event_id}:{n}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The ledger row that closes a redelivery whose message could not be queued: its marker
/// finished `skipped` (never written to the delivery log), so the failed request can be
/// retried at once.
pub fn unqueued_marker(msg: &DeliveryMessage, now: DateTime<Utc>) -> DeliveryAttempt {
    DeliveryAttempt {
        account_id: msg.account_id.clone(),
        event_id: msg.event_id,
        call_id: msg.call_id,
        attempt: 0,
        attempted_at: now,
        url: None,
        outcome: DeliveryOutcome::Skipped,
        http_status: None,
        duration_ms: 0,
        error_class: None,
        response_excerpt: Some("the redelivery could not be queued".into()),
        next_attempt_at: None,
        trigger: msg.trigger(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CallId, EventId};
    use crate::model::DeliveryTrigger;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 15, 12, 0, 0).unwrap()
    }

    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    fn row(attempt: u32, outcome: DeliveryOutcome, next: Option<DateTime<Utc>>) -> DeliveryAttempt {
        DeliveryAttempt {
            account_id: "acct".into(),
            event_id: EventId::nil(),
            call_id: CallId::nil(),
            attempt,
            attempted_at: t0(),
            url: None,
            outcome,
            http_status: None,
            duration_ms: 0,
            error_class: None,
            response_excerpt: None,
            next_attempt_at: next,
            trigger: DeliveryTrigger::Redelivery,
        }
    }

    fn in_flight(series: &str, attempt: u32, lease_until: DateTime<Utc>) -> LedgerClaim {
        LedgerClaim {
            series: series.into(),
            attempt,
            state: LedgerState::InFlight { lease_until },
        }
    }

    fn done(series: &str, row: DeliveryAttempt) -> LedgerClaim {
        LedgerClaim {
            series: series.into(),
            attempt: row.attempt,
            state: LedgerState::Done(Box::new(row)),
        }
    }

    #[test]
    fn a_queued_series_runs_until_its_marker_lease_ends() {
        let claims = [in_flight("redelivery-a", 0, t0() + mins(15))];
        let running = running_redelivery(&claims, t0()).unwrap();
        assert_eq!(running.redelivery, "a");
        assert_eq!(running.until, t0() + mins(15));
        assert!(running_redelivery(&claims, t0() + mins(15)).is_none());
    }

    #[test]
    fn an_attempt_in_flight_runs_until_its_lease_and_the_grace() {
        let claims = [
            in_flight("redelivery-a", 0, t0()),
            in_flight("redelivery-a", 1, t0() + mins(3)),
        ];
        assert!(running_redelivery(&claims, t0() + mins(17)).is_some());
        assert!(running_redelivery(&claims, t0() + mins(18)).is_none());
    }

    #[test]
    fn a_failed_attempt_runs_until_its_next_attempt_is_overdue() {
        let next = t0() + mins(30);
        let claims = [
            in_flight("redelivery-a", 0, t0()),
            done("redelivery-a", row(1, DeliveryOutcome::Failed, Some(t0()))),
            done("redelivery-a", row(2, DeliveryOutcome::Failed, Some(next))),
        ];
        assert_eq!(
            running_redelivery(&claims, next).map(|r| r.until),
            Some(next + mins(15))
        );
        assert!(running_redelivery(&claims, next + mins(15)).is_none());
    }

    #[test]
    fn a_delivered_dropped_or_skipped_series_has_ended() {
        for outcome in [
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Dropped,
            DeliveryOutcome::Skipped,
        ] {
            let claims = [
                in_flight("redelivery-a", 0, t0() + mins(15)),
                done("redelivery-a", row(1, outcome, None)),
                // A late duplicate's claim after the end changes nothing.
                in_flight("redelivery-a", 2, t0() + mins(3)),
            ];
            assert_eq!(running_redelivery(&claims, t0()), None, "{outcome:?}");
        }
        // A marker closed because its message could not be queued.
        let msg = DeliveryMessage::first(Uuid::nil().into(), "acct", Uuid::nil().into());
        let claims = [done("redelivery-a", unqueued_marker(&msg, t0()))];
        assert_eq!(running_redelivery(&claims, t0()), None);
    }

    #[test]
    fn the_original_series_never_blocks_and_each_series_counts_on_its_own() {
        let claims = [
            in_flight("original", 1, t0() + mins(3)),
            done("redelivery-a", row(1, DeliveryOutcome::Delivered, None)),
            in_flight("redelivery-b", 0, t0() + mins(5)),
            in_flight("redelivery-c", 0, t0() + mins(15)),
        ];
        assert_eq!(
            running_redelivery(&claims[..2], t0()),
            None,
            "the original retrying does not block"
        );
        let running = running_redelivery(&claims, t0()).unwrap();
        assert_eq!(
            (running.redelivery.as_str(), running.until),
            ("c", t0() + mins(15)),
            "the longest-running series"
        );
        assert_eq!(redelivery_count(&claims), 3);
        assert_eq!(redelivery_count(&[]), 0);
    }

    #[test]
    fn redelivery_ids_are_fixed_per_event_and_number() {
        let (e1, e2) = (EventId::new_v4(), EventId::new_v4());
        assert_eq!(redelivery_id(e1, 0), redelivery_id(e1, 0));
        assert_ne!(redelivery_id(e1, 0), redelivery_id(e1, 1));
        assert_ne!(redelivery_id(e1, 0), redelivery_id(e2, 0));
    }
}
