//! Step 0, for the whole batch: which lane each message belongs on.
//!
//! Two queues feed this function, each through its own event source mapping: the
//! first-attempts queue (`EVENTS_QUEUE_URL`) and the retries lane (`RETRIES_QUEUE_URL`: every
//! retry, `DeliveryMessage::on_retries_lane`). A batch's first attempts should never wait
//! behind an endpoint that hangs for the whole 10 s timeout, so before anything else the
//! batch's accounts' endpoint health is read (one `BatchGetItem` for the batch,
//! `EndpointHealthStore::endpoint_health`), and a first attempt whose endpoint is hanging
//! (`EndpointHealth::hanging`) is *moved*: sent unchanged to the retries lane with its
//! `diverted` mark, visible at once, and this copy is done. A move is not an attempt: no claim,
//! no POST, no delivery-log row; the attempt is made from the retries lane with the same
//! 10 s timeout and the same schedule after it (docs/webhooks.md, "Two lanes").
//!
//! Without a retries queue (a local setup that gives none) nothing moves. The health read is
//! advisory: when it fails, the batch goes on as if every endpoint were healthy.

use crate::Deps;
use domain::error::QueueError;
use domain::ids::AccountId;
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::EndpointHealth;
use std::collections::HashMap;

/// The batch's accounts' endpoint health, by account id (absent: healthy or unknown).
pub type Health = HashMap<AccountId, EndpointHealth>;

/// What this step decided for one message of the batch.
#[derive(Debug)]
pub enum Lane {
    /// Processed here.
    Stay,
    /// Sent to the retries lane; this copy is done.
    Moved,
    /// The move failed: this copy goes back to SQS (a batch item failure), nothing is lost.
    Failed(QueueError),
}

/// Reads the batch's accounts' endpoint health in one request.
/// `batch` is the batch's messages, parsed once by `handle` (`None`: unreadable).
pub async fn health(batch: &[Option<DeliveryMessage>], deps: &Deps) -> Health {
    let mut accounts: Vec<AccountId> = batch
        .iter()
        .flatten()
        .map(|m| m.account_id.clone())
        .collect();
    accounts.sort();
    accounts.dedup();
    match deps.store.endpoint_health(&accounts).await {
        Ok(health) => health,
        Err(e) => {
            tracing::warn!(error = %e, "endpoint health not read; every endpoint taken as healthy");
            Health::new()
        }
    }
}

/// Moves the first attempts of hanging endpoints to the retries lane; one [`Lane`] per
/// record, in order.
pub async fn sort(batch: &[Option<DeliveryMessage>], health: &Health, deps: &Deps) -> Vec<Lane> {
    let now = deps.clock.now();
    let mut lanes = Vec::with_capacity(batch.len());
    let mut moving: Vec<(usize, DeliveryMessage)> = Vec::new();
    for (i, parsed) in batch.iter().enumerate() {
        let lane = match parsed {
            Some(msg) if deps.has_retries_lane() && !msg.on_retries_lane() => {
                let hanging = health
                    .get(&msg.account_id)
                    .is_some_and(|h| h.is_hanging(now));
                if hanging {
                    moving.push((
                        i,
                        DeliveryMessage {
                            diverted: true,
                            ..msg.clone()
                        },
                    ));
                    Lane::Moved
                } else {
                    Lane::Stay
                }
            }
            _ => Lane::Stay,
        };
        lanes.push(lane);
    }
    let Some((_, head)) = moving.first() else {
        return lanes;
    };
    let msgs: Vec<DeliveryMessage> = moving.iter().map(|(_, m)| m.clone()).collect();
    let results = deps
        .queue_for(head)
        .send_many(&msgs, std::time::Duration::ZERO)
        .await;
    for ((i, msg), result) in moving.into_iter().zip(results) {
        match result {
            Ok(()) => {
                tracing::info!(event_id = %msg.event_id, "endpoint hanging; first attempt moved to the retries lane");
            }
            Err(e) => {
                if let Some(lane) = lanes.get_mut(i) {
                    *lane = Lane::Failed(e);
                }
            }
        }
    }
    lanes
}
