//! `EventQueue`: every delay accepted, those beyond SQS's limit included (they are capped,
//! and the consumer honours `not_before`), and many messages sent at once with a result for
//! each.

use super::{unique_account, Kept};
use domain::ids::{CallId, EventId};
use domain::ports::queue::{DeliveryMessage, EventQueue};
use std::time::Duration;

fn message() -> DeliveryMessage {
    DeliveryMessage::first(EventId::new_v4(), unique_account("acct"), CallId::new_v4())
}

/// No delay, a delay under a second's rounding, and one beyond SQS's 15 minutes.
pub async fn every_delay_is_accepted(queue: &dyn EventQueue) -> Kept {
    let msg = message();
    for delay in [
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::from_secs(1800),
    ] {
        queue.send(&msg, delay).await?;
    }
    Ok(())
}

/// More than one SQS batch, each message on its own result.
pub async fn send_many_answers_each_message(queue: &dyn EventQueue) -> Kept {
    let many: Vec<DeliveryMessage> = (0..12).map(|_| message()).collect();
    let results = queue.send_many(&many, Duration::from_secs(2)).await;
    ensure_eq!(results.len(), many.len(), "one result per message");
    for r in results {
        r?;
    }
    Ok(())
}
