//! webhook-delivery's rules on the in-memory store, queue and secrets, POSTing for real to a
//! loopback receiver: one POST per attempt, the schedule's delays on the queue, the attempt
//! claim against duplicates, and store/queue faults returned to SQS without a POST.

use super::{Seeded, World};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use domain::model::{DeliveryOutcome, EventRecord};
use domain::ports::queue::DeliveryMessage;
use domain::signature::x_signature;
use integration_tests::peer::{Reply, TestServer};
use integration_tests::sqs::event_for;
use std::time::Duration;

struct Env {
    w: World,
    s: Seeded,
    event: EventRecord,
    receiver: TestServer,
    deps: ::webhook_delivery::Deps,
}

/// A receiver answering `statuses[i]` to the i-th POST (the last one after that).
async fn env(statuses: &'static [u16]) -> Env {
    let receiver =
        TestServer::start(
            move |_, i| async move { Reply::status(statuses[i.min(statuses.len() - 1)]) },
        )
        .await;
    let w = World::new();
    let s = w.agency().await;
    let url = format!("{}/hooks/bvai", receiver.url());
    w.update_account(&s.account.id, |a| a.webhook_url = Some(url))
        .await;
    let event = w.stored_event(&s).await;
    let deps = w.ports().webhook_delivery(&w.tunables);
    Env {
        w,
        s,
        event,
        receiver,
        deps,
    }
}

impl Env {
    fn first(&self) -> DeliveryMessage {
        DeliveryMessage::first(self.event.id, self.s.account.id.clone(), self.event.call_id)
    }

    async fn deliver(&self, ev: SqsEvent) -> SqsBatchResponse {
        ::webhook_delivery::handle(ev, &self.deps).await
    }

    /// Feeds the queue's messages back as they come due (moving the clock to each due time),
    /// the way the event source mapping would, until it is empty. Returns the batches fed.
    async fn drain_queue(&self) -> usize {
        let mut batches = 0;
        while let Some(due) = self.w.queue.next_due_at() {
            self.w.clock.set(due);
            let msgs = self.w.queue.take_due();
            let res = self.deliver(event_for(&msgs)).await;
            assert!(res.batch_item_failures.is_empty(), "batch {batches} failed");
            batches += 1;
            assert!(batches < 20, "the queue never drained");
        }
        batches
    }

    fn posts(&self) -> usize {
        self.receiver.requests().len()
    }
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

#[tokio::test]
async fn a_first_attempt_that_succeeds_is_one_signed_post_and_one_log_row() {
    let e = env(&[200]).await;
    let t0 = e.w.now();
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    let posts = e.receiver.requests();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/hooks/bvai");
    assert_eq!(
        posts[0].body.as_ref(),
        e.event.payload.as_bytes(),
        "the stored bytes"
    );
    assert_eq!(
        posts[0].header("x-signature"),
        Some(x_signature(&e.s.api_key, e.event.payload.as_bytes()).as_str())
    );
    assert_eq!(posts[0].header("x-attempt"), Some("1"));
    assert_eq!(
        posts[0].header("x-event-id"),
        Some(e.event.id.to_string().as_str())
    );
    let log = e.w.delivery_log(&e.s.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        (log[0].attempt, log[0].http_status, log[0].attempted_at),
        (1, Some(200), t0)
    );
    assert_eq!(e.w.queue.sent_count(), 0, "nothing to retry");
}

#[tokio::test]
async fn the_same_message_twice_is_posted_once() {
    let e = env(&[200]).await;
    // Twice in one batch (processed concurrently) and once more later.
    let res = e.deliver(event_for(&[e.first(), e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    e.w.clock.advance(secs(3600));
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(e.posts(), 1);
    assert_eq!(e.w.delivery_log(&e.s.account.id).await.len(), 1);
    assert_eq!(e.w.plan.calls("claim_attempt"), 3);
    assert_eq!(e.w.queue.sent_count(), 0);
}

#[tokio::test]
async fn a_failing_receiver_gets_the_next_attempt_queued_after_the_schedules_delay() {
    let e = env(&[500]).await;
    let t0 = e.w.now();
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(
        res.batch_item_failures.is_empty(),
        "a receiver's failure is not an SQS retry"
    );
    assert_eq!(e.posts(), 1);
    let sent = e.w.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.attempt, 2);
    assert_eq!(sent[0].message.event_id, e.event.id);
    assert_eq!(sent[0].message.not_before, None);
    assert_eq!(sent[0].requested_delay, Duration::from_secs(30));
    assert_eq!(sent[0].due_at, t0 + secs(30));
    let log = e.w.delivery_log(&e.s.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(log[0].http_status, Some(500));
    assert_eq!(log[0].next_attempt_at, Some(t0 + secs(30)));
}

#[tokio::test]
async fn an_always_failing_receiver_gets_max_attempts_posts_on_schedule_then_the_event_is_dropped()
{
    let e = env(&[503]).await;
    let t0 = e.w.now();
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    e.drain_queue().await;
    assert_eq!(e.posts() as u32, e.deps.schedule.max_attempts());
    assert_eq!(e.posts(), 4);
    let log = e.w.delivery_log(&e.s.account.id).await;
    let outcomes: Vec<_> = log.iter().map(|r| (r.attempt, r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Failed),
            (3, DeliveryOutcome::Failed),
            (4, DeliveryOutcome::Dropped)
        ]
    );
    // 30 s, 5 min and 30 min after each failed attempt; the 30 min wait is longer than SQS's
    // 15 min delay, so it rides two hops and is still made exactly on time.
    let at: Vec<DateTime<Utc>> = log.iter().map(|r| r.attempted_at).collect();
    assert_eq!(at, [t0, t0 + secs(30), t0 + secs(330), t0 + secs(2130)]);
    let delays: Vec<(u32, i32)> =
        e.w.queue
            .sent()
            .iter()
            .map(|m| (m.message.attempt, m.delay_seconds))
            .collect();
    assert_eq!(delays, [(2, 30), (3, 300), (4, 900), (4, 900)]);
    assert_eq!(e.w.queue.pending_count(), 0, "nothing after the drop");
}

#[tokio::test]
async fn a_receiver_that_recovers_gets_one_post_per_attempt_until_delivered() {
    let e = env(&[500, 502, 200]).await;
    e.deliver(event_for(&[e.first()])).await;
    e.drain_queue().await;
    assert_eq!(e.posts(), 3);
    let attempts: Vec<_> = e
        .receiver
        .requests()
        .iter()
        .map(|r| r.header("x-attempt").unwrap_or("").to_string())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let outcomes: Vec<_> =
        e.w.delivery_log(&e.s.account.id)
            .await
            .iter()
            .map(|r| r.outcome)
            .collect();
    assert_eq!(
        outcomes,
        [
            DeliveryOutcome::Failed,
            DeliveryOutcome::Failed,
            DeliveryOutcome::Delivered
        ]
    );
    assert_eq!(e.w.queue.sent_count(), 2);
}

#[tokio::test]
async fn a_failing_claim_write_returns_the_message_to_sqs_without_a_post() {
    let e = env(&[200]).await;
    e.w.plan.fail_next("claim_attempt");
    let ev = event_for(&[e.first()]);
    let id = ev.records[0].message_id.clone().unwrap();
    let res = e.deliver(ev).await;
    let failed: Vec<_> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [id]);
    assert_eq!(e.posts(), 0);
    assert!(e.w.delivery_log(&e.s.account.id).await.is_empty());
    assert_eq!(e.w.queue.sent_count(), 0);
    // SQS's redelivery goes through: one POST.
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(e.posts(), 1);
}

#[tokio::test]
async fn one_failing_message_does_not_fail_its_batch_neighbours() {
    let e = env(&[200]).await;
    let other = e.w.stored_event(&e.s).await;
    let second = DeliveryMessage::first(other.id, e.s.account.id.clone(), other.call_id);
    e.w.plan.fail_nth("event", 1);
    let ev = event_for(&[e.first(), second]);
    let res = e.deliver(ev).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(e.posts(), 1, "the other message was delivered");
    assert_eq!(e.w.delivery_log(&e.s.account.id).await.len(), 1);
}

/// The receiver failed and the retry could not be queued: the message goes back to SQS, and
/// its redelivery (after the visibility timeout, past the claim's lease) makes the attempt
/// again and queues the next one exactly once.
#[tokio::test]
async fn a_failing_retry_send_returns_the_message_and_the_redelivery_queues_once() {
    let e = env(&[500]).await;
    e.w.plan.fail_next("send");
    let res = e.deliver(event_for(&[e.first()])).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(e.posts(), 1);
    assert_eq!(e.w.queue.sent_count(), 0);
    assert!(
        e.w.delivery_log(&e.s.account.id).await.is_empty(),
        "logged only once scheduled"
    );
    // Within the lease a redelivery is taken for a duplicate and posts nothing.
    assert!(e
        .deliver(event_for(&[e.first()]))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(e.posts(), 1);
    // After SQS's visibility timeout (190 s), past the lease.
    e.w.clock.advance(secs(190));
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(e.posts(), 2);
    let sent = e.w.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.attempt, 2);
    assert_eq!(e.w.delivery_log(&e.s.account.id).await.len(), 1);
}

/// A delivered attempt whose log write failed: back to SQS, but never POSTed again.
#[tokio::test]
async fn a_delivered_attempt_is_never_posted_again_even_if_logging_failed() {
    let e = env(&[200]).await;
    e.w.plan.fail_next("record_attempt");
    let res = e.deliver(event_for(&[e.first()])).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    e.w.clock.advance(secs(3600));
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(e.posts(), 1);
    assert_eq!(e.w.queue.sent_count(), 0);
}

#[tokio::test]
async fn no_webhook_url_is_logged_as_skipped_and_never_posted_or_retried() {
    let e = env(&[200]).await;
    e.w.update_account(&e.s.account.id, |a| a.webhook_url = None)
        .await;
    let res = e.deliver(event_for(&[e.first()])).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(e.posts(), 0);
    let log = e.w.delivery_log(&e.s.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Skipped);
    assert_eq!(e.w.queue.sent_count(), 0);
    assert_eq!(
        e.w.plan.calls("get_version"),
        0,
        "no signing key read for a skip"
    );
}
