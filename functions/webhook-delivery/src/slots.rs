//! The per-account delivery slots of one execution environment ([`Fairness`]) and when an
//! account counts as slow: the state `crate::fair`'s step decides with, kept in `Deps`, so
//! below both.

use domain::ids::AccountId;
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
    pub(crate) fn try_acquire(&self, account_id: &AccountId, now: Instant) -> Option<Permit<'_>> {
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
