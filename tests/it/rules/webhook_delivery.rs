//! webhook-delivery's rules on the in-memory store, queue and secrets, POSTing for real to a
//! loopback receiver: one POST per attempt, the schedule's delays on the queue, the attempt
//! claim against duplicates, and store/queue faults returned to SQS without a POST.

use super::{App, Seeded};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use domain::model::{DeliveryErrorClass, DeliveryOutcome, EventRecord};
use domain::ports::queue::DeliveryMessage;
use domain::signature::x_signature;
use integration_tests::app::first_attempt;
use integration_tests::peer::{Reply, TestServer};
use integration_tests::sqs::event_for;
use std::time::Duration;

/// The in-memory app with its seeded account, one stored event, and the account's webhook URL
/// on a receiver answering `statuses[i]` to the i-th POST (the last one after that).
async fn env(statuses: &'static [u16]) -> (App, Seeded, EventRecord, TestServer) {
    let receiver =
        TestServer::start(
            move |_, i| async move { Reply::status(statuses[i.min(statuses.len() - 1)]) },
        )
        .await;
    let app = App::new();
    let seeded = app.agency().await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let event = app.stored_event(&seeded).await;
    (app, seeded, event, receiver)
}

/// One batch, as SQS hands it over, through the delivery function.
async fn deliver(app: &App, ev: SqsEvent) -> SqsBatchResponse {
    ::webhook_delivery::handle(ev, app.webhook_delivery_deps()).await
}

fn posts(receiver: &TestServer) -> usize {
    receiver.requests().len()
}

/// A header of every POST the receiver got, in order (`x-attempt`, `x-event-id`).
fn posted(receiver: &TestServer, header: &str) -> Vec<String> {
    receiver
        .requests()
        .iter()
        .map(|r| r.header(header).unwrap_or("").to_string())
        .collect()
}

/// The delivery log as (attempt, outcome), oldest first.
async fn outcomes(app: &App, seeded: &Seeded) -> Vec<(u32, DeliveryOutcome)> {
    app.delivery_log(&seeded.account.id)
        .await
        .iter()
        .map(|r| (r.attempt, r.outcome))
        .collect()
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

#[tokio::test]
async fn a_first_attempt_that_succeeds_is_one_signed_post_and_one_log_row() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let t0 = app.now();
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    let posts = receiver.requests();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/hooks/bvai");
    assert_eq!(
        posts[0].body.as_ref(),
        event.payload.as_bytes(),
        "the stored bytes"
    );
    assert_eq!(
        posts[0].header("x-signature"),
        Some(x_signature(&seeded.api_key, event.payload.as_bytes()).as_str())
    );
    assert_eq!(posts[0].header("x-attempt"), Some("1"));
    assert_eq!(
        posts[0].header("x-event-id"),
        Some(event.id.to_string().as_str())
    );
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        (log[0].attempt, log[0].http_status, log[0].attempted_at),
        (1, Some(200), t0)
    );
    assert_eq!(app.queue.sent_count(), 0, "nothing to retry");
}

#[tokio::test]
async fn the_same_message_twice_is_posted_once() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    // Twice in one batch (processed concurrently): the second finds the claim in flight and
    // goes back to the queue; when it comes back the attempt is done and is not sent again.
    let res = app
        .deliver(&[first_attempt(&event), first_attempt(&event)])
        .await;
    assert_eq!(res.batch_item_failures.len(), 1, "the in-flight duplicate");
    app.clock.advance(secs(3600));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
    assert_eq!(app.delivery_log(&seeded.account.id).await.len(), 1);
    // The late copy is of the delivered attempt itself: its claim says done, so only its
    // (idempotent) log row is rewritten.
    assert_eq!(app.plan.calls("claim_attempt"), 3);
    assert_eq!(app.queue.sent_count(), 0);
}

#[tokio::test]
async fn a_failing_receiver_gets_the_next_attempt_queued_after_the_schedules_delay() {
    let (app, seeded, event, receiver) = env(&[500]).await;
    let t0 = app.now();
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(
        res.batch_item_failures.is_empty(),
        "a receiver's failure is not an SQS retry"
    );
    assert_eq!(posts(&receiver), 1);
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.attempt, 2);
    assert_eq!(sent[0].message.event_id, event.id);
    assert_eq!(sent[0].message.not_before, None);
    assert_eq!(sent[0].requested_delay, Duration::from_secs(30));
    assert_eq!(sent[0].due_at, t0 + secs(30));
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(log[0].http_status, Some(500));
    assert_eq!(log[0].next_attempt_at, Some(t0 + secs(30)));
}

#[tokio::test]
async fn an_always_failing_receiver_gets_max_attempts_posts_on_schedule_then_the_event_is_dropped()
{
    let (app, seeded, event, receiver) = env(&[503]).await;
    let t0 = app.now();
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    app.drain().await;
    assert_eq!(
        posts(&receiver) as u32,
        app.webhook_delivery_deps().schedule.max_attempts()
    );
    assert_eq!(posts(&receiver), 4);
    let log = app.delivery_log(&seeded.account.id).await;
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
    let delays: Vec<(u32, i32)> = app
        .queue
        .sent()
        .iter()
        .map(|m| (m.message.attempt, m.delay_seconds))
        .collect();
    assert_eq!(delays, [(2, 30), (3, 300), (4, 900), (4, 900)]);
    assert_eq!(app.queue.pending_count(), 0, "nothing after the drop");
}

#[tokio::test]
async fn a_receiver_that_recovers_gets_one_post_per_attempt_until_delivered() {
    let (app, seeded, event, receiver) = env(&[500, 502, 200]).await;
    app.deliver(&[first_attempt(&event)]).await;
    app.drain().await;
    assert_eq!(posts(&receiver), 3);
    let attempts = posted(&receiver, "x-attempt");
    assert_eq!(attempts, ["1", "2", "3"]);
    let outcomes: Vec<_> = app
        .delivery_log(&seeded.account.id)
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
    assert_eq!(app.queue.sent_count(), 2);
}

#[tokio::test]
async fn a_failing_claim_write_returns_the_message_to_sqs_without_a_post() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.plan.fail_next("claim_attempt");
    let ev = event_for(&[first_attempt(&event)]);
    let id = ev.records[0].message_id.clone().unwrap();
    let res = deliver(&app, ev).await;
    let failed: Vec<_> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [id]);
    assert_eq!(posts(&receiver), 0);
    assert!(app.delivery_log(&seeded.account.id).await.is_empty());
    assert_eq!(app.queue.sent_count(), 0);
    // SQS's redelivery goes through: one POST.
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
}

#[tokio::test]
async fn one_failing_message_does_not_fail_its_batch_neighbours() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let other = app.stored_event(&seeded).await;
    let second = DeliveryMessage::first(other.id, seeded.account.id.clone(), other.call_id);
    app.plan.fail_nth("event", 1);
    let ev = event_for(&[first_attempt(&event), second]);
    let res = deliver(&app, ev).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(posts(&receiver), 1, "the other message was delivered");
    assert_eq!(app.delivery_log(&seeded.account.id).await.len(), 1);
}

/// The receiver failed, the next attempt was queued but the queue's answer was lost (and the
/// log row not written): SQS brings attempt 1 back. It is finished, so it is not POSTed again;
/// its log row is written and the next attempt queued again (a duplicate that the next
/// attempt's claim makes harmless). Attempt 2 then succeeds; attempt 1 never runs after it.
#[tokio::test]
async fn a_next_attempt_queued_but_unacknowledged_never_repeats_the_attempt() {
    let (app, seeded, event, receiver) = env(&[500, 200]).await;
    app.plan.fail_after_effect("send", 1);
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(posts(&receiver), 1);
    assert_eq!(app.queue.sent_count(), 1, "attempt 2 is queued");
    assert!(app.delivery_log(&seeded.account.id).await.is_empty());
    // SQS redelivers attempt 1 after the visibility timeout.
    app.clock.advance(secs(190));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(
        posts(&receiver),
        1,
        "a finished attempt is never POSTed again"
    );
    assert_eq!(app.delivery_log(&seeded.account.id).await.len(), 1);
    let queued: Vec<_> = app
        .queue
        .pending()
        .iter()
        .map(|m| m.message.clone())
        .collect();
    assert_eq!(queued.len(), 2, "attempt 2, queued twice");
    assert!(queued.iter().all(|m| m.attempt == 2));
    // Attempt 2 (both copies, one after the other), then a late copy of attempt 1.
    for m in &queued {
        let res = app.deliver(std::slice::from_ref(m)).await;
        assert!(res.batch_item_failures.is_empty());
    }
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    let per_attempt = posted(&receiver, "x-attempt");
    assert_eq!(per_attempt, ["1", "2"], "one POST per attempt");
    let log = outcomes(&app, &seeded).await;
    assert_eq!(
        log,
        [
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Delivered)
        ],
        "one row per attempt"
    );
}

/// `finish_attempt` after a 2xx is the one write whose failure can repeat a POST: it fails
/// before its effect, the message comes back, the claim is taken over after its lease and the
/// event goes out a second time (same event id). The log still gets one row for the attempt.
#[tokio::test]
async fn a_failed_finish_after_a_2xx_is_the_only_duplicate_window() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.plan.fail_next("finish_attempt");
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(posts(&receiver), 1);
    // Back after the visibility timeout: the lease (= the visibility timeout) is still on.
    app.clock.advance(secs(190));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(res.batch_item_failures.len(), 1, "claim still in flight");
    assert_eq!(posts(&receiver), 1);
    // The next receive is past the lease: taken over and sent again.
    app.clock.advance(secs(190));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    let ids = posted(&receiver, "x-event-id");
    assert_eq!(ids, [event.id.to_string(), event.id.to_string()]);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
    // Any later copy: never a third POST.
    app.clock.advance(secs(3600));
    app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(posts(&receiver), 2);
}

/// `finish_attempt` succeeded but its answer was lost: the re-run finds the attempt done and
/// writes the missing log row, without a second POST.
#[tokio::test]
async fn a_finish_whose_answer_was_lost_is_not_posted_again_and_is_logged() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.plan.fail_after_effect("finish_attempt", 1);
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert!(app.delivery_log(&seeded.account.id).await.is_empty());
    app.clock.advance(secs(190));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].outcome, log[0].http_status),
        (DeliveryOutcome::Delivered, Some(200))
    );
}

/// A delivered attempt whose log write failed: back to SQS, never POSTed again, and the
/// re-run writes the delivered row (once).
#[tokio::test]
async fn a_delivered_attempt_is_never_posted_again_even_if_logging_failed() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let t0 = app.now();
    app.plan.fail_next("record_attempt");
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert!(app.delivery_log(&seeded.account.id).await.is_empty());
    app.clock.advance(secs(3600));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
    assert_eq!(app.queue.sent_count(), 0);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].outcome, log[0].attempted_at),
        (DeliveryOutcome::Delivered, t0),
        "the row as it was decided, not as re-run"
    );
}

/// Lambda's function timeout while one store call hangs: the whole batch comes back. The
/// messages that were delivered are not POSTed again; the hung one is sent once its claim's
/// lease is over. One POST and one log row per event.
#[tokio::test]
async fn a_whole_batch_timeout_while_one_call_hangs_repeats_nothing() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let mut msgs = vec![first_attempt(&event)];
    for _ in 0..2 {
        let ev = app.stored_event(&seeded).await;
        msgs.push(DeliveryMessage::first(
            ev.id,
            seeded.account.id.clone(),
            ev.call_id,
        ));
    }
    app.plan.hang("account", 2);
    let batch = event_for(&msgs);
    let log_has_two = async {
        while app.delivery_log(&seeded.account.id).await.len() < 2 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // The function timeout: the invocation is abandoned once the other two are done.
    tokio::select! {
        _ = deliver(&app, batch.clone()) => panic!("the hung call should block the batch"),
        _ = tokio::time::timeout(Duration::from_secs(10), log_has_two) => {}
    }
    assert_eq!(posts(&receiver), 2);
    // Lambda gives the whole batch back after the visibility timeout: the hung attempt's
    // claim is still leased (it goes back again), the other two are done.
    app.clock.advance(secs(190));
    let res = deliver(&app, batch.clone()).await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(posts(&receiver), 2);
    app.clock.advance(secs(190));
    let res = deliver(&app, batch.clone()).await;
    assert!(res.batch_item_failures.is_empty());
    let mut per_event: Vec<_> = receiver
        .requests()
        .iter()
        .map(|r| r.header("x-event-id").unwrap_or("").to_string())
        .collect();
    per_event.sort();
    per_event.dedup();
    assert_eq!(
        (posts(&receiver), per_event.len()),
        (3, 3),
        "one POST per event"
    );
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 3, "one row per attempt");
    assert!(log.iter().all(|r| r.outcome == DeliveryOutcome::Delivered));
}

/// Our own failure after the claim (Secrets Manager here) is a failed attempt in the customer's
/// log with a readable reason, retried on the schedule; not an SQS retry.
#[tokio::test]
async fn an_internal_error_is_a_logged_failed_attempt_on_the_schedule() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let t0 = app.now();
    app.plan.fail_next("get_version");
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty(), "not an SQS retry");
    assert_eq!(posts(&receiver), 0);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(log[0].error_class, Some(DeliveryErrorClass::Internal));
    assert_eq!(log[0].next_attempt_at, Some(t0 + secs(30)));
    let reason = log[0].response_excerpt.clone().unwrap_or_default();
    assert!(reason.contains("signing key") && reason.contains("not caused by your endpoint"));
    assert!(!reason.contains(&seeded.api_key), "no secret in the reason");
    app.drain().await;
    assert_eq!(posts(&receiver), 1);
    let outcomes = outcomes(&app, &seeded).await;
    assert_eq!(
        outcomes,
        [
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Delivered)
        ]
    );
}

/// Reading the account fails: also a failed attempt, logged and rescheduled.
#[tokio::test]
async fn a_failed_account_read_is_a_logged_failed_attempt() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.plan.fail_next("account");
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(
        (log.len(), log[0].error_class),
        (1, Some(DeliveryErrorClass::Internal))
    );
    assert_eq!(app.queue.sent_count(), 1);
    app.drain().await;
    assert_eq!(posts(&receiver), 1);
}

/// The API toggle gates API requests only.
#[tokio::test]
async fn api_access_switched_off_still_delivers_the_webhook() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.update_account(&seeded.account.id, |a| a.api_enabled = false)
        .await;
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
}

/// Retry delays count from the start of the failed attempt: an endpoint that takes 8 s to
/// fail still gets its retry 30 s after the first POST started.
#[tokio::test]
async fn the_retry_delay_counts_from_the_start_of_the_failed_attempt() {
    let w = App::new();
    let clock = w.clock.clone();
    let receiver = TestServer::start(move |_, _| {
        let clock = clock.clone();
        async move {
            clock.advance(secs(8));
            Reply::status(500)
        }
    })
    .await;
    let s = w.agency().await;
    w.update_account(&s.account.id, |a| {
        a.webhook_url = Some(format!("{}/hooks", receiver.url()))
    })
    .await;
    let event = w.stored_event(&s).await;
    let t0 = w.now();
    let msg = DeliveryMessage::first(event.id, s.account.id.clone(), event.call_id);
    let deps = w.ports().webhook_delivery(&w.tunables);
    ::webhook_delivery::handle(event_for(&[msg]), &deps).await;
    assert_eq!(w.now(), t0 + secs(8), "the attempt took 8 s");
    let sent = w.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].due_at, t0 + secs(30));
    assert_eq!(sent[0].requested_delay, Duration::from_secs(22));
    let log = w.delivery_log(&s.account.id).await;
    assert_eq!(log[0].next_attempt_at, Some(t0 + secs(30)));
}

#[tokio::test]
async fn no_webhook_url_is_logged_as_skipped_and_never_posted_or_retried() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    app.update_account(&seeded.account.id, |a| a.webhook_url = None)
        .await;
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 0);
    let log = app.delivery_log(&seeded.account.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Skipped);
    assert_eq!(app.queue.sent_count(), 0);
    assert_eq!(
        app.plan.calls("get_version"),
        0,
        "no signing key read for a skip"
    );
}

/// The spec's 10 s timeout scaled down (400 ms): an endpoint answering 2xx at 9/10 of it is
/// delivered and not retried; one hanging for 15/10 of it is a timeout, retried; a reset
/// connection is a connect failure, retried; a redirect is not followed, retried. Each one
/// POST and one log row with its outcome.
#[tokio::test]
async fn slow_hanging_resetting_and_redirecting_endpoints_are_each_logged_with_their_outcome() {
    use domain::model::DeliveryErrorClass as C;
    let timeout = Duration::from_millis(400);
    let slow = TestServer::start(move |_, _| async move {
        tokio::time::sleep(timeout * 9 / 10).await;
        Reply::status(204)
    })
    .await;
    let hang = TestServer::start(move |_, _| async move {
        tokio::time::sleep(timeout * 15 / 10).await;
        Reply::status(200)
    })
    .await;
    let redirect = TestServer::start(|_, _| async {
        Reply::status(302).with_header("location", "https://example.com/")
    })
    .await;
    // Accepts and resets every connection (SO_LINGER 0, then close).
    let reset = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reset_url = format!("http://{}", reset.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = reset.accept().await {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    let cases = [
        (slow.url(), DeliveryOutcome::Delivered, None, 0),
        (hang.url(), DeliveryOutcome::Failed, Some(C::Timeout), 1),
        (reset_url, DeliveryOutcome::Failed, Some(C::Connect), 1),
        (
            redirect.url(),
            DeliveryOutcome::Failed,
            Some(C::Redirect),
            1,
        ),
    ];
    for (url, outcome, class, retries) in cases {
        let w = App::new();
        let s = w.agency().await;
        w.update_account(&s.account.id, |a| a.webhook_url = Some(url.clone()))
            .await;
        let event = w.stored_event(&s).await;
        let tunables = integration_tests::deps::Tunables {
            webhook_timeout: timeout,
            ..w.tunables.clone()
        };
        let deps = w.ports().webhook_delivery(&tunables);
        let msg = DeliveryMessage::first(event.id, s.account.id.clone(), event.call_id);
        let res = ::webhook_delivery::handle(event_for(&[msg]), &deps).await;
        assert!(res.batch_item_failures.is_empty(), "{url}");
        let log = w.delivery_log(&s.account.id).await;
        assert_eq!(log.len(), 1, "{url}: one row");
        assert_eq!(
            (log[0].outcome, log[0].error_class),
            (outcome, class),
            "{url}"
        );
        assert_eq!(w.queue.sent_count(), retries, "{url}: retried?");
    }
    for server in [&slow, &hang, &redirect] {
        assert_eq!(server.requests().len(), 1, "one POST each");
    }
}

/// The log lines of a failing delivery, through the subscriber the functions install
/// (`lambda_glue::telemetry`): each one a JSON object with an RFC 3339 `timestamp` and an
/// upper-case `level` (what Lambda's JSON log filtering needs to keep a line's level), and
/// the delivery failure lines at WARN, so `LogLevel=warn` still feeds the metric filters.
#[tokio::test]
async fn log_lines_are_json_lambda_can_filter_and_failures_are_warnings() {
    // Alone in a process: see `integration_tests::logs::isolated`.
    if !integration_tests::logs::isolated(
        "rules::webhook_delivery::log_lines_are_json_lambda_can_filter_and_failures_are_warnings",
    ) {
        return;
    }
    let sink = integration_tests::logs::Capture::default();
    let writer = sink.clone();
    let _guard = tracing::subscriber::set_default(lambda_glue::telemetry::subscriber(move || {
        writer.clone()
    }));
    let (app, _seeded, event, _receiver) = env(&[503]).await;
    let before = Utc::now();
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    app.drain().await;
    let after = Utc::now();

    let text = sink.text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 4, "{text}");
    for line in &lines {
        let ts = line["timestamp"]
            .as_str()
            .unwrap_or_else(|| panic!("no timestamp: {line}"));
        let ts = DateTime::parse_from_rfc3339(ts)
            .unwrap_or_else(|e| panic!("timestamp {ts} is not RFC 3339 ({e})"))
            .with_timezone(&Utc);
        assert!(
            ts >= before - secs(1) && ts <= after + secs(1),
            "timestamp {ts} is not the time of writing"
        );
        let level = line["level"].as_str().unwrap_or("");
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level),
            "level {level:?} is not one Lambda filters on: {line}"
        );
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let with_message = |m: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == m)
            .collect()
    };
    let retries = with_message("delivery failed; retry scheduled");
    let dropped = with_message("delivery failed; last attempt, event dropped");
    assert_eq!(retries.len(), 3, "{text}");
    assert_eq!(dropped.len(), 1, "{text}");
    for line in retries.iter().chain(&dropped) {
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["fields"]["event_id"], event.id.to_string());
    }
}

/// Issue 25, window 3: attempt 1 gets a 5xx; finishing it and queueing attempt 2 succeed, but
/// its log row's write fails, so its message returns to SQS after the visibility timeout.
/// Attempt 2 (due 30 s later) delivers first. On today's main the returning attempt 1 saw the
/// series delivered and stopped, and the log kept attempt 2 only; now it writes its own row
/// (from its finished claim) and still never POSTs again.
#[tokio::test]
async fn a_failed_attempts_lost_log_row_is_written_when_its_message_returns_after_delivery() {
    let (app, seeded, event, receiver) = env(&[500, 200]).await;
    app.plan.fail_nth("record_attempt", 1);
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert_eq!(
        res.batch_item_failures.len(),
        1,
        "the row's write failed: the message goes back to SQS"
    );
    assert_eq!(posts(&receiver), 1);
    assert_eq!(
        outcomes(&app, &seeded).await,
        vec![],
        "attempt 1's row is missing for now"
    );
    // Attempt 2 was queued before the failed write: it comes due first and delivers.
    let second = app.queue.next_due_at().expect("attempt 2 queued");
    app.clock.set(second);
    let res = app.deliver(&app.queue.take_due()).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 2);
    assert_eq!(
        outcomes(&app, &seeded).await,
        vec![(2, DeliveryOutcome::Delivered)]
    );
    // Attempt 1's message comes back (SQS, after the visibility timeout).
    app.clock.advance(secs(190));
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 2, "never POSTed again");
    assert_eq!(
        outcomes(&app, &seeded).await,
        vec![
            (1, DeliveryOutcome::Failed),
            (2, DeliveryOutcome::Delivered)
        ],
        "every attempt that was POSTed has its row"
    );
    // Once: a further duplicate rewrites nothing new.
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(outcomes(&app, &seeded).await.len(), 2);
    assert_eq!(posts(&receiver), 2);
    assert_eq!(app.plan.calls("finished_attempt"), 2);
}

/// Issue 26, item 4: an operator's suspension stops the account's API and settings, never its
/// webhooks: the event is POSTed and logged as for any account.
#[tokio::test]
async fn a_suspended_accounts_webhooks_keep_flowing() {
    let (app, seeded, event, receiver) = env(&[200]).await;
    let since = app.now();
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.suspended = Some(domain::model::Suspension {
            reason: "review".into(),
            since,
        })
    })
    .await;
    let res = app.deliver(&[first_attempt(&event)]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver), 1);
    assert_eq!(
        outcomes(&app, &seeded).await,
        vec![(1, DeliveryOutcome::Delivered)]
    );
}
