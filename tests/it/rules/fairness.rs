//! webhook-delivery's fairness step on the in-memory adapters: one slow account's deliveries
//! are capped, the excess is re-parked unchanged (not an attempt: no claim, no POST, no log
//! row), nothing is lost, and a failed re-park goes back to SQS; an account whose endpoint
//! answers is never capped; a hanging endpoint's first attempts move to the retries lane.

use super::{App, Seeded};
use domain::model::DeliveryOutcome;
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::EndpointHealthStore;
use integration_tests::app::first_attempt;
use integration_tests::peer::{Reply, TestServer};
use integration_tests::sqs::event_for;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const CAP: usize = 2;
const REPARK: Duration = Duration::from_secs(2);

/// Two accounts, A and B, posting to one receiver at `/a` and `/b`; the receiver holds A's
/// POSTs while `hold` is true. A's endpoint has timed out before (its fleet-wide health
/// record counts one timeout), so A is slow from the first batch and the cap applies to it.
async fn two_accounts() -> (Arc<App>, Seeded, Seeded, TestServer, watch::Sender<bool>) {
    let (hold, held) = watch::channel(false);
    let receiver = TestServer::start(move |r, _| {
        let mut held = held.clone();
        async move {
            if r.path == "/a" {
                let _ = held.wait_for(|h| !*h).await;
            }
            Reply::status(200)
        }
    })
    .await;
    let mut app = App::new();
    app.tunables.account_concurrency = CAP;
    app.tunables.repark_delay = REPARK;
    let (a, b) = (app.agency().await, app.agency().await);
    for (s, path) in [(&a, "a"), (&b, "b")] {
        let url = format!("{}/{path}", receiver.url());
        app.update_account(&s.account.id, |acc| acc.webhook_url = Some(url))
            .await;
    }
    let a_url = format!("{}/a", receiver.url());
    app.store
        .record_endpoint_timeout(&a.account.id, &a_url, app.now())
        .await
        .expect("A's earlier timeout");
    // Shared: a test hands batches to a spawned task too.
    (Arc::new(app), a, b, receiver, hold)
}

/// First-attempt messages for `n` new events of `s`.
async fn messages(app: &App, s: &Seeded, n: usize) -> Vec<DeliveryMessage> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(first_attempt(&app.stored_event(s).await));
    }
    out
}

/// POSTs per event id for one receiver path.
fn posts(receiver: &TestServer, path: &str) -> BTreeMap<String, usize> {
    let mut per_event = BTreeMap::new();
    for r in receiver.requests().iter().filter(|r| r.path == path) {
        *per_event
            .entry(r.header("x-event-id").unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    per_event
}

#[tokio::test]
async fn one_batch_posts_at_most_the_cap_per_account_and_reparks_the_rest_unchanged() {
    let (app, acct_a, acct_b, receiver, _hold) = two_accounts().await;
    let mut batch = messages(&app, &acct_a, 5).await;
    batch.extend(messages(&app, &acct_b, 1).await);
    let res = app.deliver(&batch).await;
    assert!(res.batch_item_failures.is_empty());

    // A: the cap's worth of POSTs; B: its own, untouched by A's excess.
    assert_eq!(posts(&receiver, "/a").len(), CAP);
    assert_eq!(posts(&receiver, "/b").len(), 1);
    assert_eq!(receiver.requests().len(), CAP + 1);
    // A's other three are new messages: the same message (attempt 1, no due time), a short
    // delay; no claim, no log row for them.
    let sent = app.queue.sent();
    assert_eq!(sent.len(), 5 - CAP);
    for (q, original) in sent.iter().zip(&batch[CAP..5]) {
        assert_eq!(&q.message, original);
        assert_eq!(q.requested_delay, REPARK);
    }
    assert_eq!(app.plan.calls("claim_attempt"), (CAP + 1) as u64);
    let log_a = app.delivery_log(&acct_a.account.id).await;
    assert_eq!(log_a.len(), CAP);
    assert!(log_a
        .iter()
        .all(|r| r.outcome == DeliveryOutcome::Delivered));
    assert_eq!(
        app.webhook_delivery_deps()
            .fairness
            .in_flight(&acct_a.account.id),
        0,
        "slots given back"
    );

    // Nothing is lost: the re-parked ones are delivered when they come back, once each.
    app.drain().await;
    let a = posts(&receiver, "/a");
    assert_eq!(a.len(), 5, "every event of A");
    assert!(a.values().all(|n| *n == 1), "one POST per event: {a:?}");
    let log_a = app.delivery_log(&acct_a.account.id).await;
    assert_eq!(log_a.len(), 5, "one row per attempt");
    assert!(log_a
        .iter()
        .all(|r| r.attempt == 1 && r.outcome == DeliveryOutcome::Delivered));
}

#[tokio::test]
async fn a_reparked_retry_keeps_its_attempt_number_and_due_time() {
    let (app, acct_a, _acct_b, _receiver, _hold) = two_accounts().await;
    let mut batch = messages(&app, &acct_a, CAP + 2).await;
    // A third attempt, due now, and a fourth whose due time (beyond SQS's delay) has passed.
    batch[CAP].attempt = 3;
    batch[CAP + 1].attempt = 4;
    batch[CAP + 1].not_before = Some(app.now() - chrono::Duration::seconds(1));
    app.deliver(&batch).await;
    let sent: Vec<DeliveryMessage> = app.queue.sent().into_iter().map(|q| q.message).collect();
    assert_eq!(sent, batch[CAP..].to_vec(), "re-parked as they were");
    assert!(app.delivery_log(&acct_a.account.id).await.len() == CAP);
    app.drain().await;
    let attempts: Vec<(u32, DeliveryOutcome)> = app
        .delivery_log(&acct_a.account.id)
        .await
        .iter()
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert_eq!(attempts.len(), CAP + 2);
    assert!(attempts.contains(&(3, DeliveryOutcome::Delivered)));
    assert!(attempts.contains(&(4, DeliveryOutcome::Delivered)));
}

#[tokio::test]
async fn while_an_accounts_posts_hang_its_next_batch_is_reparked_and_others_get_through() {
    let (app, acct_a, acct_b, receiver, hold) = two_accounts().await;
    hold.send_replace(true);
    // A fills its slots with POSTs that hang.
    let first = messages(&app, &acct_a, CAP + 1).await;
    let spawned = app.clone();
    let first_batch = tokio::spawn(async move { spawned.deliver(&first).await });
    receiver.wait_for(CAP, Duration::from_secs(10)).await;
    assert_eq!(
        app.webhook_delivery_deps()
            .fairness
            .in_flight(&acct_a.account.id),
        CAP
    );

    // A batch handled meanwhile by the same environment (the local stack's concurrent
    // batches): all of A re-parked at once, B delivered although A's POSTs still hang.
    let mut second = messages(&app, &acct_a, 3).await;
    second.extend(messages(&app, &acct_b, 1).await);
    let res = app.deliver(&second).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(posts(&receiver, "/b").len(), 1, "B delivered");
    assert_eq!(
        posts(&receiver, "/a").len(),
        CAP,
        "A never had more than the cap"
    );
    assert_eq!(app.queue.sent_count(), 1 + 3, "A's excess of both batches");
    assert!(!first_batch.is_finished(), "A's POSTs still hang");

    hold.send_replace(false);
    let res = first_batch.await.expect("first batch");
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(
        app.webhook_delivery_deps()
            .fairness
            .in_flight(&acct_a.account.id),
        0
    );

    app.drain().await;
    let a = posts(&receiver, "/a");
    assert_eq!(a.len(), CAP + 1 + 3);
    assert!(a.values().all(|n| *n == 1), "{a:?}");
}

#[tokio::test]
async fn a_repark_that_fails_goes_back_to_sqs_without_a_post_or_a_log_row() {
    let (app, acct_a, _acct_b, receiver, _hold) = two_accounts().await;
    let batch = messages(&app, &acct_a, CAP + 1).await;
    app.plan.fail_next("send");
    let event = event_for(&batch);
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let res = ::webhook_delivery::handle(event, app.webhook_delivery_deps()).await;
    let failed: Vec<&str> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [ids[CAP].as_str()],
        "only the one that could not be re-parked"
    );
    assert_eq!(posts(&receiver, "/a").len(), CAP);
    assert_eq!(app.queue.sent_count(), 0);
    assert_eq!(app.delivery_log(&acct_a.account.id).await.len(), CAP);

    // SQS hands it back; the account has room now: delivered once.
    let res = app.deliver(&batch[CAP..]).await;
    assert!(res.batch_item_failures.is_empty());
    let a = posts(&receiver, "/a");
    assert_eq!(a.len(), CAP + 1);
    assert!(a.values().all(|n| *n == 1));
}

/// Work-conserving: an account alone, whose endpoint answers at once, gets every message of a
/// batch POSTed now, however far above the cap; nothing is re-parked.
#[tokio::test]
async fn a_lone_account_whose_endpoint_answers_is_never_reparked() {
    let receiver = TestServer::start(|_, _| async { Reply::status(200) }).await;
    let mut w = App::new();
    w.tunables.account_concurrency = CAP;
    let a = w.agency().await;
    let url = format!("{}/a", receiver.url());
    w.update_account(&a.account.id, |acc| acc.webhook_url = Some(url))
        .await;
    let deps = w.webhook_delivery_deps();
    let mut batch = Vec::new();
    for _ in 0..10 {
        let e = w.stored_event(&a).await;
        batch.push(DeliveryMessage::first(
            e.id,
            a.account.id.clone(),
            e.call_id,
        ));
    }
    let res = ::webhook_delivery::handle(event_for(&batch), deps).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(
        receiver.requests().len(),
        10,
        "all ten POSTed in this batch"
    );
    assert_eq!(w.queue.sent_count(), 0, "nothing re-parked");
    assert_eq!(w.delivery_log(&a.account.id).await.len(), 10);
    assert!(!deps
        .fairness
        .is_slow(&a.account.id, std::time::Instant::now()));
}

/// A hanging endpoint (enough recent timeouts in its fleet-wide health record) gets its first
/// attempts moved to the retries lane before any claim: no POST, no claim, no log row on the
/// first-attempts lane, while another account's first attempt is delivered. From the retries
/// lane each is delivered once, and the first answer clears the record.
#[tokio::test]
async fn a_hanging_endpoints_first_attempts_move_to_the_retries_lane_unclaimed() {
    use domain::ports::store::endpoints::HANGING_AFTER;
    let (app, acct_a, acct_b, receiver, _hold) = two_accounts().await;
    let a_url = format!("{}/a", receiver.url());
    for _ in 1..HANGING_AFTER {
        app.store
            .record_endpoint_timeout(&acct_a.account.id, &a_url, app.now())
            .await
            .expect("timeout counted");
    }
    let retries = Arc::new(in_memory::MemoryQueue::new(app.clock.clone()));
    let mut deps = app.ports().webhook_delivery(&app.tunables);
    deps.retries = Some(retries.clone());
    let mut batch = messages(&app, &acct_a, 3).await;
    batch.extend(messages(&app, &acct_b, 1).await);
    let res = ::webhook_delivery::handle(event_for(&batch), &deps).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(
        (posts(&receiver, "/a").len(), posts(&receiver, "/b").len()),
        (0, 1)
    );
    assert_eq!(
        app.plan.calls("claim_attempt"),
        1,
        "only B's attempt claimed"
    );
    assert_eq!(app.delivery_log(&acct_a.account.id).await.len(), 0);
    assert_eq!(
        app.queue.sent_count(),
        0,
        "nothing on the first-attempts queue"
    );
    let moved: Vec<DeliveryMessage> = retries.sent().into_iter().map(|q| q.message).collect();
    assert_eq!(moved.len(), 3);
    for (m, original) in moved.iter().zip(&batch[..3]) {
        assert!(m.diverted && m.attempt == 1 && m.on_retries_lane());
        assert_eq!(m.event_id, original.event_id);
    }

    // The retries lane's event source mapping hands them over (A, still slow, over its cap
    // is re-parked on the same lane): A's endpoint answers now.
    while let Some(due) = retries.next_due_at() {
        app.clock.set(due);
        let res = ::webhook_delivery::handle(event_for(&retries.take_due()), &deps).await;
        assert!(res.batch_item_failures.is_empty());
    }
    assert_eq!(
        app.queue.sent_count(),
        0,
        "re-parked on the retries lane only"
    );
    let a = posts(&receiver, "/a");
    assert_eq!(a.len(), 3);
    assert!(a.values().all(|n| *n == 1), "{a:?}");
    let log = app.delivery_log(&acct_a.account.id).await;
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|r| r.attempt == 1 && r.outcome == DeliveryOutcome::Delivered));
    let health = app
        .store
        .endpoint_health(std::slice::from_ref(&acct_a.account.id))
        .await
        .expect("health read");
    assert!(health.is_empty(), "the first answer cleared the record");
}

/// A POST that runs into the timeout counts one more timeout in the endpoint's record.
#[tokio::test]
async fn a_timeout_is_counted_in_the_endpoints_health_record() {
    let (hold, held) = watch::channel(true);
    let receiver = TestServer::start(move |_, _| {
        let mut held = held.clone();
        async move {
            let _ = held.wait_for(|h| !*h).await;
            Reply::status(200)
        }
    })
    .await;
    let mut w = App::new();
    w.tunables.webhook_timeout = Duration::from_millis(200);
    let a = w.agency().await;
    let url = format!("{}/a", receiver.url());
    w.update_account(&a.account.id, |acc| acc.webhook_url = Some(url))
        .await;
    let deps = w.webhook_delivery_deps();
    let e = w.stored_event(&a).await;
    let msg = DeliveryMessage::first(e.id, a.account.id.clone(), e.call_id);
    ::webhook_delivery::handle(event_for(&[msg]), deps).await;
    hold.send_replace(false);
    let health = w
        .store
        .endpoint_health(std::slice::from_ref(&a.account.id))
        .await
        .expect("health read");
    assert_eq!(
        health.get(&a.account.id).map(|h| h.consecutive_timeouts),
        Some(1)
    );
    let log = w.delivery_log(&a.account.id).await;
    assert_eq!(
        log[0].error_class,
        Some(domain::model::DeliveryErrorClass::Timeout)
    );
}
