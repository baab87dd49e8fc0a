//! `MemoryQueue`: the events queue in memory, with the SQS adapter's delay rule.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::error::QueueError;
use domain::ports::queue::{delay_seconds, DeliveryMessage, EventQueue};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// SQS's largest message: body plus attribute names, types and values.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message: DeliveryMessage,
    /// The clock's time at `send`.
    pub sent_at: DateTime<Utc>,
    /// The delay as the caller asked for it.
    pub requested_delay: Duration,
    /// The `DelaySeconds` SQS is sent (whole seconds, rounded up, capped at `MAX_DELAY`).
    pub delay_seconds: i32,
    /// When the message becomes visible: `sent_at + delay_seconds`.
    pub due_at: DateTime<Utc>,
}

/// The in-memory adapter of [`EventQueue`]. Like the SQS adapter it never refuses a long
/// delay: it caps it at [`domain::ports::queue::MAX_DELAY`] (rounding sub-seconds up), so a
/// consumer that relies on a longer delay sees the message early here too and must honour
/// `not_before` itself. Tests read what was sent with [`MemoryQueue::sent`] and consume what
/// is visible with [`MemoryQueue::take_due`] after moving the injected clock.
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    /// Every message ever sent, in order.
    sent: Vec<QueuedMessage>,
    /// Messages not taken yet, in send order.
    pending: Vec<QueuedMessage>,
}

impl std::fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state();
        f.debug_struct("MemoryQueue")
            .field("sent", &s.sent.len())
            .field("pending", &s.pending.len())
            .finish()
    }
}

impl MemoryQueue {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryQueue {
            clock,
            state: Mutex::new(QueueState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every message ever sent, in send order (taken ones included).
    pub fn sent(&self) -> Vec<QueuedMessage> {
        self.state().sent.clone()
    }

    pub fn sent_count(&self) -> usize {
        self.state().sent.len()
    }

    /// Messages not taken yet, due or not, in send order.
    pub fn pending(&self) -> Vec<QueuedMessage> {
        self.state().pending.clone()
    }

    pub fn pending_count(&self) -> usize {
        self.state().pending.len()
    }

    /// Removes and returns the messages visible at the clock's current time (`due_at <=
    /// now`), earliest due first (send order among equals), as SQS would hand them out.
    pub fn take_due(&self) -> Vec<DeliveryMessage> {
        let now = self.clock.now();
        let mut s = self.state();
        let (mut due, later): (Vec<_>, Vec<_>) = s.pending.drain(..).partition(|m| m.due_at <= now);
        s.pending = later;
        due.sort_by_key(|m| m.due_at);
        due.into_iter().map(|m| m.message).collect()
    }

    /// When the earliest pending message becomes visible, to move the clock there.
    pub fn next_due_at(&self) -> Option<DateTime<Utc>> {
        self.state().pending.iter().map(|m| m.due_at).min()
    }
}

#[async_trait]
impl EventQueue for MemoryQueue {
    async fn send(&self, msg: &DeliveryMessage, delay: Duration) -> Result<(), QueueError> {
        let body = msg.to_body()?;
        // What SQS counts against the limit: the body and each attribute's name, type, value.
        let event_id = msg.event_id.to_string();
        let attempt = msg.attempt.to_string();
        let size = body.len()
            + "event_id".len()
            + "String".len()
            + event_id.len()
            + "attempt".len()
            + "Number".len()
            + attempt.len();
        if size > MAX_MESSAGE_BYTES {
            return Err(QueueError::Backend(format!(
                "InvalidParameterValue: message of {size} bytes is longer than {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        let seconds = delay_seconds(delay);
        let sent_at = self.clock.now();
        let queued = QueuedMessage {
            message: msg.clone(),
            sent_at,
            requested_delay: delay,
            delay_seconds: seconds,
            due_at: sent_at + chrono::Duration::seconds(i64::from(seconds)),
        };
        let mut s = self.state();
        s.sent.push(queued.clone());
        s.pending.push(queued);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedClock;
    use chrono::TimeZone;

    fn setup() -> (Arc<FixedClock>, MemoryQueue) {
        let t0 = Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 0).unwrap();
        let clock = Arc::new(FixedClock::new(t0));
        let queue = MemoryQueue::new(clock.clone());
        (clock, queue)
    }

    fn msg(attempt: u32) -> DeliveryMessage {
        DeliveryMessage {
            attempt,
            ..DeliveryMessage::first(domain::EventId::new_v4(), "acct", domain::CallId::new_v4())
        }
    }

    #[tokio::test]
    async fn passes_the_queue_contract() {
        let (_, queue) = setup();
        crate::contract::queue(&queue).await.unwrap();
        assert_eq!(queue.sent_count(), 3 + 12);
    }

    /// Each promise of the queue contract on its own test.
    mod contract {
        use super::*;
        crate::queue_contract_tests!(queue: setup().1);
    }

    #[tokio::test]
    async fn delayed_messages_are_due_only_once_the_clock_passes_their_delay() {
        let (clock, queue) = setup();
        let (now, later, soon) = (msg(1), msg(2), msg(3));
        queue.send(&now, Duration::ZERO).await.unwrap();
        queue.send(&later, Duration::from_secs(300)).await.unwrap();
        // Sub-seconds round up, as `DelaySeconds` does.
        queue
            .send(&soon, Duration::from_millis(29_001))
            .await
            .unwrap();

        assert_eq!(queue.take_due(), vec![now.clone()]);
        assert!(queue.take_due().is_empty(), "a taken message is gone");
        clock.advance(chrono::Duration::seconds(29));
        assert!(queue.take_due().is_empty());
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(queue.take_due(), vec![soon.clone()]);
        assert_eq!(
            queue.next_due_at(),
            Some(clock.now() + chrono::Duration::seconds(270))
        );
        clock.advance(chrono::Duration::seconds(270));
        assert_eq!(queue.take_due(), vec![later.clone()]);
        assert_eq!(queue.pending_count(), 0);
        let sent: Vec<_> = queue.sent().into_iter().map(|m| m.message).collect();
        assert_eq!(sent, vec![now, later, soon]);
    }

    #[tokio::test]
    async fn delays_beyond_the_sqs_limit_are_capped_not_refused() {
        let (clock, queue) = setup();
        let m = msg(4);
        queue.send(&m, Duration::from_secs(1800)).await.unwrap();
        let sent = queue.sent();
        assert_eq!(sent[0].delay_seconds, 900);
        assert_eq!(sent[0].requested_delay, Duration::from_secs(1800));
        clock.advance(chrono::Duration::seconds(900));
        assert_eq!(
            queue.take_due(),
            vec![m],
            "visible after 900 s, early for the caller"
        );
    }

    #[tokio::test]
    async fn due_messages_come_out_earliest_first() {
        let (clock, queue) = setup();
        let (a, b) = (msg(1), msg(2));
        queue.send(&a, Duration::from_secs(20)).await.unwrap();
        queue.send(&b, Duration::from_secs(10)).await.unwrap();
        clock.advance(chrono::Duration::seconds(20));
        assert_eq!(queue.take_due(), vec![b, a]);
    }

    #[tokio::test]
    async fn a_message_above_the_sqs_size_limit_is_refused() {
        let (_, queue) = setup();
        let huge = DeliveryMessage::first(
            domain::EventId::new_v4(),
            "a".repeat(MAX_MESSAGE_BYTES),
            domain::CallId::new_v4(),
        );
        assert!(matches!(
            queue.send(&huge, Duration::ZERO).await,
            Err(QueueError::Backend(_))
        ));
        assert_eq!(queue.sent_count(), 0);
    }
}
