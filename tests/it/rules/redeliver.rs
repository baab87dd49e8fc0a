//! Redelivery of one event (`POST .../deliveries/{event_id}/redeliver`) on the in-memory
//! adapters, with the delivery function really sending to a loopback receiver: one redelivery
//! at a time per event (issue 26). While a redelivery or recovery series of the event is
//! running (queued, retrying) the answer is `409 redelivery_in_progress` and nothing is
//! queued; once it was delivered, dropped or skipped, or has stalled, a new one is queued;
//! the original series never blocks; of two racing requests one queues.

use super::{error_code, App, Seeded};
use chrono::Duration as Span;
use domain::model::{DeliveryOutcome, DeliveryTrigger, EventRecord};
use domain::ports::queue::DeliveryMessage;
use domain::webhook::series::{REDELIVERY_MARKER_LEASE, STALL_GRACE};
use integration_tests::apigw::ApiRequest;
use integration_tests::peer::{Reply, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// The in-memory app with its seeded account, whose webhook URL is a receiver that fails the
/// first `failing` POSTs (503), then accepts; and one stored event.
async fn env_with(failing: usize, retry_delays: &str) -> (App, Seeded, TestServer, EventRecord) {
    let receiver =
        TestServer::start(
            move |_, i| async move { Reply::status(if i < failing { 503 } else { 200 }) },
        )
        .await;
    let mut app = App::new();
    app.tunables.retry_delays = retry_delays.into();
    let seeded = app.agency().await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    let event = app.stored_event(&seeded).await;
    (app, seeded, receiver, event)
}

async fn env(failing: usize) -> (App, Seeded, TestServer, EventRecord) {
    env_with(failing, "30s,5m,30m").await
}

/// The redelivery request of `event` by the account's session.
fn request(app: &App, seeded: &Seeded, event: &EventRecord) -> ApiRequest {
    app.session(
        seeded,
        "POST",
        &format!(
            "/api/integrations/api-webhooks/deliveries/{}/redeliver",
            event.id
        ),
    )
}

async fn redeliver(app: &App, seeded: &Seeded, event: &EventRecord) -> (u16, Value) {
    app.settings(request(app, seeded, event)).await
}

/// Hands the messages that are due now to the delivery function.
async fn deliver_due(app: &App) {
    let msgs = app.queue.take_due();
    assert!(!msgs.is_empty(), "a message is due");
    let res = app.deliver(&msgs).await;
    assert!(res.batch_item_failures.is_empty());
}

/// Moves the clock to the next due message and delivers it.
async fn deliver_next(app: &App) {
    let due = app.queue.next_due_at().expect("a message is queued");
    app.clock.set(due.max(app.now()));
    deliver_due(app).await;
}

/// The queued message of a redelivery answer.
fn queued(app: &App) -> Vec<DeliveryMessage> {
    app.queue.pending().into_iter().map(|m| m.message).collect()
}

/// The log rows' (attempt, outcome, trigger), oldest first.
async fn log(app: &App, seeded: &Seeded) -> Vec<(u32, DeliveryOutcome, DeliveryTrigger)> {
    app.delivery_log(&seeded.account.id)
        .await
        .into_iter()
        .map(|r| (r.attempt, r.outcome, r.trigger))
        .collect()
}

/// A 409 that names the running series, and nothing queued by it.
async fn assert_in_progress(
    app: &App,
    seeded: &Seeded,
    event: &EventRecord,
    redelivery: &str,
    when: &str,
) {
    let sent = app.queue.sent_count();
    let (status, body) = redeliver(app, seeded, event).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "redelivery_in_progress"),
        "{when}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(redelivery), "{when}: {message}");
    assert_eq!(app.queue.sent_count(), sent, "{when}: nothing queued");
}

fn redelivery_id(body: &Value) -> String {
    body["redelivery_id"]
        .as_str()
        .expect("a redelivery id")
        .to_string()
}

#[tokio::test]
async fn a_queued_or_retrying_redelivery_is_409_and_a_delivered_one_allows_the_next() {
    // The first POST of the redelivery fails (503), its retry is delivered.
    let (app, seeded, receiver, event) = env(1).await;
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "{body}");
    let first = redelivery_id(&body);
    assert_eq!(queued(&app).len(), 1);
    assert_eq!(
        queued(&app)[0].redelivery.map(|r| r.to_string()),
        Some(first.clone())
    );

    assert_in_progress(&app, &seeded, &event, &first, "queued, not started").await;
    deliver_due(&app).await;
    assert_eq!(
        log(&app, &seeded).await,
        [(1, DeliveryOutcome::Failed, DeliveryTrigger::Redelivery)]
    );
    assert_in_progress(
        &app,
        &seeded,
        &event,
        &first,
        "attempt 1 failed, attempt 2 scheduled",
    )
    .await;
    // Up to the retry's due time and past it, within the grace: still running.
    app.clock.advance(Span::seconds(30) + Span::minutes(14));
    assert_in_progress(
        &app,
        &seeded,
        &event,
        &first,
        "the retry is due, within the grace",
    )
    .await;

    deliver_next(&app).await;
    assert_eq!(
        log(&app, &seeded).await,
        [
            (1, DeliveryOutcome::Failed, DeliveryTrigger::Redelivery),
            (2, DeliveryOutcome::Delivered, DeliveryTrigger::Redelivery)
        ]
    );
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "the series was delivered: {body}");
    let second = redelivery_id(&body);
    assert_ne!(second, first, "a new series");
    assert_eq!(queued(&app).len(), 1);
    deliver_due(&app).await;
    assert_eq!(receiver.requests().len(), 3, "one POST per attempt made");
}

#[tokio::test]
async fn a_dropped_or_skipped_redelivery_has_ended() {
    // Dropped: no retries, the one attempt fails.
    let (app, seeded, _receiver, event) = env_with(1, "").await;
    assert_eq!(redeliver(&app, &seeded, &event).await.0, 202);
    deliver_due(&app).await;
    assert_eq!(
        log(&app, &seeded).await,
        [(1, DeliveryOutcome::Dropped, DeliveryTrigger::Redelivery)]
    );
    assert_eq!(
        redeliver(&app, &seeded, &event).await.0,
        202,
        "dropped: it has ended"
    );

    // Skipped: the webhook URL was removed before the attempt (a second later, so its log
    // row has a key of its own).
    app.update_account(&seeded.account.id, |a| a.webhook_url = None)
        .await;
    app.clock.advance(Span::seconds(1));
    deliver_due(&app).await;
    assert_eq!(
        log(&app, &seeded).await.last(),
        Some(&(1, DeliveryOutcome::Skipped, DeliveryTrigger::Redelivery))
    );
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "skipped: it has ended: {body}");
}

#[tokio::test]
async fn a_stalled_redelivery_no_longer_blocks() {
    let (app, seeded, _receiver, event) = env(0).await;
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202);
    let first = redelivery_id(&body);
    // Its message is lost (the delivery function never sees it).
    assert_eq!(app.queue.take_due().len(), 1);
    app.clock
        .advance(Span::from_std(REDELIVERY_MARKER_LEASE).unwrap() - Span::seconds(1));
    assert_in_progress(&app, &seeded, &event, &first, "within the marker's lease").await;
    app.clock.advance(Span::seconds(1));
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "stalled: {body}");
    assert_ne!(redelivery_id(&body), first);

    // An attempt whose retry never came: stalled once the retry is overdue by the grace.
    let (app, seeded, _receiver, event) = env(1).await;
    let (_, body) = redeliver(&app, &seeded, &event).await;
    let first = redelivery_id(&body);
    deliver_due(&app).await;
    let retry = app.queue.take_due();
    assert!(retry.is_empty(), "the retry is not due yet");
    app.clock
        .advance(Span::seconds(30) + Span::from_std(STALL_GRACE).unwrap() - Span::seconds(1));
    assert_in_progress(
        &app,
        &seeded,
        &event,
        &first,
        "the retry is late, within the grace",
    )
    .await;
    app.clock.advance(Span::seconds(1));
    assert_eq!(
        redeliver(&app, &seeded, &event).await.0,
        202,
        "the retry is overdue by the grace"
    );
}

#[tokio::test]
async fn the_original_series_retrying_does_not_block_a_redelivery() {
    let (app, seeded, _receiver, event) = env(1).await;
    let first = DeliveryMessage::first(event.id, seeded.account.id.clone(), event.call_id);
    let res = app.deliver(&[first]).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(
        log(&app, &seeded).await,
        [(1, DeliveryOutcome::Failed, DeliveryTrigger::Automatic)]
    );
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "{body}");
    let queued = queued(&app);
    assert_eq!(queued.len(), 2, "the original's retry and the redelivery");
    assert!(queued.iter().any(|m| m.redelivery.is_some()));
}

#[tokio::test]
async fn a_running_recovery_blocks_a_redelivery_too() {
    let (app, seeded, _receiver, event) = env_with(1, "").await;
    let first = DeliveryMessage::first(event.id, seeded.account.id.clone(), event.call_id);
    app.deliver(&[first]).await;
    assert_eq!(
        log(&app, &seeded).await,
        [(1, DeliveryOutcome::Dropped, DeliveryTrigger::Automatic)]
    );
    let recover = app
        .session(
            &seeded,
            "POST",
            "/api/integrations/api-webhooks/deliveries/recover",
        )
        .json(&json!({"since": domain::clock::rfc3339(app.now() - Span::hours(1))}));
    let (status, body) = app.settings(recover).await;
    assert_eq!((status, body["recovered"].clone()), (202, json!(1)));
    let recovery = queued(&app)[0]
        .redelivery
        .expect("a recovery series")
        .to_string();
    assert_in_progress(&app, &seeded, &event, &recovery, "a recovery is queued").await;
}

#[tokio::test]
async fn of_two_racing_requests_one_queues_and_the_other_is_409() {
    let (app, seeded, _receiver, event) = env(0).await;
    // The first request's marker claim waits until the second has claimed and queued: both
    // found nothing running, and both ask for the event's first redelivery.
    app.plan
        .delay("claim_attempt", 1, Duration::from_millis(50));
    let (a, b) = tokio::join!(
        redeliver(&app, &seeded, &event),
        redeliver(&app, &seeded, &event)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let (queued, refused) = if a.0 == 202 { (a.1, b.1) } else { (b.1, a.1) };
    assert_eq!(error_code(&refused), "redelivery_in_progress");
    let id = redelivery_id(&queued);
    assert!(refused["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&id)));
    assert_eq!(app.queue.sent_count(), 1, "one message");
    assert_eq!(app.plan.calls("series_claims"), 2, "both read the ledger");
}

#[tokio::test]
async fn a_failed_queue_send_is_500_and_the_redelivery_can_be_asked_again_at_once() {
    let (app, seeded, _receiver, event) = env(0).await;
    app.plan.fail_next("send");
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(
        (status, error_code(&body)),
        (500, "internal_error"),
        "{body}"
    );
    assert_eq!(app.queue.sent_count(), 0);
    let (status, body) = redeliver(&app, &seeded, &event).await;
    assert_eq!(status, 202, "the unqueued series was closed: {body}");
    assert_eq!(queued(&app).len(), 1);
    deliver_due(&app).await;
    assert_eq!(
        log(&app, &seeded).await,
        [(1, DeliveryOutcome::Delivered, DeliveryTrigger::Redelivery)],
        "the closed marker is no log row"
    );
}
