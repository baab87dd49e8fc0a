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
use crate::slots::Permit;
use crate::Deps;
use domain::error::QueueError;
use domain::ports::queue::DeliveryMessage;
use std::time::Instant;

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
        let results = queue.send_many(&msgs, fairness.repark_delay()).await;
        sent.extend(group.into_iter().zip(results));
    }
    for ((i, msg), result) in sent {
        match result {
            Ok(()) => {
                tracing::info!(event_id = %msg.event_id, attempt = msg.attempt, cap = fairness.cap(), "slow account at its delivery cap; re-parked");
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
