//! Step 0, before the per-message pipeline: fairness between accounts.
//!
//! One account whose endpoint hangs must not hold every delivery slot while other accounts'
//! webhooks wait; one busy account whose endpoint answers must not be slowed down for nothing.
//! Three mechanisms share the work (docs/webhooks.md, "Fairness between accounts"):
//!
//! - every message is sent with the account id as its SQS `MessageGroupId` (the queue
//!   adapter does it), which makes the standard queue a *fair queue*: when one account has a
//!   backlog, SQS hands out the other accounts' messages first;
//! - an endpoint that keeps timing out is *hanging* fleet-wide (`EndpointHealth`), and its
//!   first attempts go to the retries lane (`prepare`), off the first-attempts queue;
//! - this step caps how many of one *slow* account's deliveries run at once ([`Fairness`],
//!   the `WEBHOOK_ACCOUNT_CONCURRENCY` setting). An account is slow for [`SLOW_MEMORY`] after
//!   its endpoint took [`SLOW_DELIVERY`] or more to answer a POST here (the endpoint's time,
//!   never ours: a busy emulator or a slow DynamoDB call does not make a customer slow), and
//!   for as long after a batch that found timeouts in its endpoint's fleet-wide health record. The slow account's messages over the cap are *re-parked*: sent
//!   again, unchanged (same attempt number, same `not_before`, same lane), visible after a
//!   short delay (`WEBHOOK_REPARK_DELAY_MS`), and the received copy is done. A re-park is not
//!   an attempt: no claim, no POST, no delivery-log row.
//!
//! The cap only acts when it protects someone: an account whose endpoint answers quickly is
//! never re-parked, however many of its deliveries run at once (work-conserving; before, a
//! lone busy account was re-parked thousands of times and its webhooks arrived minutes late:
//! docs/benchmarks.md).
//!
//! The slots live in [`Deps`], so they count what this execution environment runs. On Lambda
//! an environment handles one batch at a time, which makes the cap a per-batch cap and the
//! slowness a memory of the environment's previous batches; the local stack hands all its
//! concurrent batches the same `Deps`, so there both span them.

use crate::lanes::Lane;
use crate::Deps;
use domain::error::QueueError;
use domain::ids::AccountId;
use domain::ports::queue::DeliveryMessage;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A POST this long makes its account slow (a healthy endpoint answers in well under a
/// second; the timeout is 10 s).
pub const SLOW_DELIVERY: Duration = Duration::from_secs(2);
/// How long an account stays slow after one of its POSTs took [`SLOW_DELIVERY`].
pub const SLOW_MEMORY: Duration = Duration::from_secs(60);

/// The per-account delivery slots of one execution environment.
#[derive(Debug)]
pub struct Fairness {
    cap: usize,
    repark_delay: Duration,
    accounts: Mutex<HashMap<AccountId, Slots>>,
}

/// One account's deliveries running here, and until when it counts as slow.
#[derive(Debug, Default)]
struct Slots {
    in_flight: usize,
    slow_until: Option<Instant>,
}

impl Slots {
    fn slow(&self, now: Instant) -> bool {
        self.slow_until.is_some_and(|t| t > now)
    }
}

impl Fairness {
    /// At most `cap` (at least 1) deliveries of one slow account at once; the rest re-parked
    /// for `repark_delay`.
    pub fn new(cap: usize, repark_delay: Duration) -> Fairness {
        Fairness {
            cap: cap.max(1),
            repark_delay,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn repark_delay(&self) -> Duration {
        self.repark_delay
    }

    /// The account's deliveries running now.
    pub fn in_flight(&self, account_id: &AccountId) -> usize {
        self.slots().get(account_id).map_or(0, |s| s.in_flight)
    }

    /// True when the account is slow at `now` (its excess over the cap is re-parked).
    pub fn is_slow(&self, account_id: &AccountId, now: Instant) -> bool {
        self.slots().get(account_id).is_some_and(|s| s.slow(now))
    }

    /// Marks the account slow until `until` (at least): its endpoint timed out somewhere in
    /// the fleet (`EndpointHealth::has_timeouts`, read for the batch), so even a fresh
    /// environment caps it from its first batch.
    pub fn note_slow(&self, account_id: &AccountId, until: Instant) {
        let mut accounts = self.slots();
        let slots = accounts.entry(account_id.clone()).or_default();
        slots.slow_until = Some(slots.slow_until.map_or(until, |t| t.max(until)));
    }

    /// One POST of the account's took `took` (ended at `now`): at [`SLOW_DELIVERY`] or more,
    /// the account is slow for [`SLOW_MEMORY`].
    pub fn note_post(&self, account_id: &AccountId, took: Duration, now: Instant) {
        if took >= SLOW_DELIVERY {
            self.note_slow(account_id, now + SLOW_MEMORY);
        }
    }

    /// A poisoned lock only means a panic elsewhere while counting; the counts stay usable.
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Slots>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One of the account's slots at `now`: always for an account that is not slow, while
    /// one is free for a slow one.
    fn try_acquire(&self, account_id: &AccountId, now: Instant) -> Option<Permit<'_>> {
        let mut accounts = self.slots();
        let slots = accounts.entry(account_id.clone()).or_default();
        if slots.in_flight >= self.cap && slots.slow(now) {
            return None;
        }
        slots.in_flight += 1;
        Some(Permit {
            fairness: self,
            account_id: account_id.clone(),
        })
    }
}

/// A delivery slot of one account, given back when dropped (whatever way the delivery ends).
#[derive(Debug)]
pub struct Permit<'a> {
    fairness: &'a Fairness,
    account_id: AccountId,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut accounts = self.fairness.slots();
        if let Some(slots) = accounts.get_mut(&self.account_id) {
            slots.in_flight = slots.in_flight.saturating_sub(1);
            if slots.in_flight == 0 && !slots.slow(now) {
                accounts.remove(&self.account_id);
            }
        }
    }
}

/// What the step decided for one message of the batch.
#[derive(Debug)]
pub enum Admission<'a> {
    /// On to the pipeline, holding the account's slot until dropped. No slot for a message
    /// that will not be POSTed now (unreadable, or not due yet): the pipeline settles those.
    Admit(Option<Permit<'a>>),
    /// Sent again for later; this copy is done (deleted from the queue).
    Reparked,
    /// Moved to the retries lane by [`crate::lanes`]; this copy is done.
    Moved,
    /// The re-park failed: this copy goes back to SQS (a batch item failure), nothing is lost.
    Failed(QueueError),
}

/// Decides, in batch order, which messages go on now, and re-parks the rest (in one
/// `send_many`: one SQS request per ten). Returns one [`Admission`] per record, in order.
pub async fn admit<'a>(
    batch: &[Option<DeliveryMessage>],
    lanes: Vec<Lane>,
    deps: &'a Deps,
) -> Vec<Admission<'a>> {
    let now = deps.clock.now();
    let instant = Instant::now();
    let fairness = &deps.fairness;
    let mut admissions = Vec::with_capacity(batch.len());
    // The messages to re-park, with the index of their admission.
    let mut excess: Vec<(usize, DeliveryMessage)> = Vec::new();
    let mut lanes = lanes.into_iter();
    for (i, parsed) in batch.iter().enumerate() {
        match lanes.next() {
            Some(Lane::Moved) => {
                admissions.push(Admission::Moved);
                continue;
            }
            Some(Lane::Failed(e)) => {
                admissions.push(Admission::Failed(e));
                continue;
            }
            _ => {}
        }
        let admission = match parsed {
            Some(msg) if msg.not_before.is_none_or(|t| t <= now) => {
                match fairness.try_acquire(&msg.account_id, instant) {
                    Some(permit) => Admission::Admit(Some(permit)),
                    None => {
                        excess.push((i, msg.clone()));
                        Admission::Reparked
                    }
                }
            }
            _ => Admission::Admit(None),
        };
        admissions.push(admission);
    }
    if excess.is_empty() {
        return admissions;
    }
    // Each back on its own lane, ten per request.
    let (retries, first): (Vec<_>, Vec<_>) =
        excess.into_iter().partition(|(_, m)| m.on_retries_lane());
    let mut sent = Vec::with_capacity(admissions.len());
    for group in [first, retries] {
        let Some((_, head)) = group.first() else {
            continue;
        };
        let queue = deps.queue_for(head);
        let msgs: Vec<DeliveryMessage> = group.iter().map(|(_, m)| m.clone()).collect();
        let results = queue.send_many(&msgs, fairness.repark_delay).await;
        sent.extend(group.into_iter().zip(results));
    }
    for ((i, msg), result) in sent {
        match result {
            Ok(()) => {
                tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, cap = fairness.cap, "slow account at its delivery cap; re-parked");
            }
            Err(e) => {
                if let Some(a) = admissions.get_mut(i) {
                    *a = Admission::Failed(e);
                }
            }
        }
    }
    admissions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_slow_account_is_capped_and_slots_come_back_on_drop() {
        let f = Fairness::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        let fast: Vec<_> = (0..5).map(|_| f.try_acquire(&"a".into(), t0)).collect();
        assert!(
            fast.iter().all(Option::is_some),
            "an account that is not slow is never capped"
        );
        assert_eq!(f.in_flight(&"a".into()), 5);
        f.note_post(&"a".into(), SLOW_DELIVERY - Duration::from_millis(1), t0);
        assert!(!f.is_slow(&"a".into(), t0), "a quick answer");
        f.note_post(&"a".into(), SLOW_DELIVERY, t0);
        assert!(f.is_slow(&"a".into(), t0), "a POST that took 2 s");
        assert!(
            f.try_acquire(&"a".into(), t0).is_none(),
            "a slow account at its cap"
        );
        let b = f.try_acquire(&"b".into(), t0);
        assert!(b.is_some(), "another account has its own slots");
        drop(fast);
        assert_eq!((f.in_flight(&"a".into()), f.in_flight(&"b".into())), (0, 1));
        assert!(
            f.try_acquire(&"a".into(), t0).is_some(),
            "below the cap again"
        );
        drop(b);
        assert_eq!(f.in_flight(&"b".into()), 0);
        assert_eq!(Fairness::new(0, Duration::ZERO).cap(), 1, "never zero");
    }

    #[test]
    fn slowness_is_remembered_for_a_while() {
        let f = Fairness::new(1, Duration::from_secs(1));
        let now = Instant::now();
        f.note_slow(&"c".into(), now + SLOW_MEMORY);
        assert!(f.is_slow(&"c".into(), now) && !f.is_slow(&"c".into(), now + SLOW_MEMORY));
        f.note_post(&"a".into(), SLOW_DELIVERY, now);
        assert!(f.is_slow(&"a".into(), now + SLOW_MEMORY - Duration::from_millis(1)));
        assert!(!f.is_slow(&"a".into(), now + SLOW_MEMORY));
    }
}
