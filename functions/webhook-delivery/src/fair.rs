//! Step 0, before the per-message pipeline: fairness between accounts.
//!
//! One account whose endpoint hangs must not hold every delivery slot while other accounts'
//! webhooks wait. Two mechanisms share the work (docs/webhooks.md, "Fairness between
//! accounts"):
//!
//! - every message is sent with the account id as its SQS `MessageGroupId` (the queue
//!   adapter does it), which makes the standard queue a *fair queue*: when one account has a
//!   backlog, SQS hands out the other accounts' messages first;
//! - this step caps how many of one account's deliveries run at once ([`Fairness`], the
//!   `WEBHOOK_ACCOUNT_CONCURRENCY` setting). The account's messages over the cap are
//!   *re-parked*: sent again, unchanged (same attempt number, same `not_before`), visible after
//!   a short delay (`WEBHOOK_REPARK_DELAY_MS`), and the received copy is done. A re-park is not
//!   an attempt: no claim, no POST, no delivery-log row.
//!
//! The slots live in [`Deps`], so they count what this execution environment runs. On Lambda
//! an environment handles one batch at a time, which makes the cap a per-batch cap; the local
//! stack hands all its concurrent batches the same `Deps`, so there the cap spans them.

use crate::Deps;
use aws_lambda_events::event::sqs::SqsMessage;
use domain::error::QueueError;
use domain::ports::queue::DeliveryMessage;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The per-account delivery slots of one execution environment.
#[derive(Debug)]
pub struct Fairness {
    cap: usize,
    repark_delay: Duration,
    in_flight: Mutex<HashMap<String, usize>>,
}

impl Fairness {
    /// At most `cap` (at least 1) deliveries of one account at once; the rest re-parked for
    /// `repark_delay`.
    pub fn new(cap: usize, repark_delay: Duration) -> Fairness {
        Fairness {
            cap: cap.max(1),
            repark_delay,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn repark_delay(&self) -> Duration {
        self.repark_delay
    }

    /// The account's deliveries running now.
    pub fn in_flight(&self, account_id: &str) -> usize {
        self.slots().get(account_id).copied().unwrap_or(0)
    }

    /// A poisoned lock only means a panic elsewhere while counting; the counts stay usable.
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One of the account's slots, if it has one free.
    fn try_acquire(&self, account_id: &str) -> Option<Permit<'_>> {
        let mut slots = self.slots();
        let n = slots.entry(account_id.to_string()).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Permit {
            fairness: self,
            account_id: account_id.to_string(),
        })
    }
}

/// A delivery slot of one account, given back when dropped (whatever way the delivery ends).
#[derive(Debug)]
pub struct Permit<'a> {
    fairness: &'a Fairness,
    account_id: String,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut slots = self.fairness.slots();
        if let Some(n) = slots.get_mut(&self.account_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.remove(&self.account_id);
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
    /// The re-park failed: this copy goes back to SQS (a batch item failure), nothing is lost.
    Failed(QueueError),
}

/// Decides, in batch order, which messages go on now, and re-parks the rest (in one
/// `send_many`: one SQS request per ten). Returns one [`Admission`] per record, in order.
pub async fn admit<'a>(records: &[SqsMessage], deps: &'a Deps) -> Vec<Admission<'a>> {
    let now = deps.clock.now();
    let fairness = &deps.fairness;
    let mut admissions = Vec::with_capacity(records.len());
    // The messages to re-park, with the index of their admission.
    let mut excess: Vec<(usize, DeliveryMessage)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let admission = match DeliveryMessage::parse(record.body.as_deref().unwrap_or("")) {
            Ok(msg) if msg.not_before.is_none_or(|t| t <= now) => {
                match fairness.try_acquire(&msg.account_id) {
                    Some(permit) => Admission::Admit(Some(permit)),
                    None => {
                        excess.push((i, msg));
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
    let msgs: Vec<DeliveryMessage> = excess.iter().map(|(_, m)| m.clone()).collect();
    let results = deps.queue.send_many(&msgs, fairness.repark_delay).await;
    for ((i, msg), result) in excess.into_iter().zip(results) {
        match result {
            Ok(()) => {
                tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, cap = fairness.cap, "account at its delivery cap; re-parked");
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
    fn slots_are_counted_per_account_and_given_back_on_drop() {
        let f = Fairness::new(2, Duration::from_secs(1));
        let a1 = f.try_acquire("a");
        let a2 = f.try_acquire("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(f.try_acquire("a").is_none(), "the cap");
        let b = f.try_acquire("b");
        assert!(b.is_some(), "another account has its own slots");
        assert_eq!((f.in_flight("a"), f.in_flight("b")), (2, 1));
        drop(a1);
        assert_eq!(f.in_flight("a"), 1);
        assert!(
            f.try_acquire("a").is_some(),
            "a slot given back is free again"
        );
        drop((a2, b));
        assert_eq!((f.in_flight("a"), f.in_flight("b")), (0, 0));
        assert_eq!(Fairness::new(0, Duration::ZERO).cap(), 1, "never zero");
    }
}
