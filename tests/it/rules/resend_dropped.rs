//! Bulk recovery (`POST .../deliveries/recover`) on the in-memory adapters, with events really
//! dropped and skipped by the delivery function against a loopback receiver: which events are
//! recovered, one new series per event however often it is called (counted in POSTs per event
//! id, log rows per attempt and queue messages), a failing queue send, and bad ranges.

use super::{error_code, App, Seeded};
use chrono::{DateTime, Utc};
use domain::clock::rfc3339;
use domain::ids::{CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryOutcome, EventRecord};
use domain::ports::store::DeliveryLog;
use integration_tests::app::first_attempt;
use integration_tests::peer::{Reply, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;

const RECOVER: &str = "/api/integrations/api-webhooks/deliveries/recover";

/// The in-memory app with its seeded account, whose webhook URL is a receiver that fails the
/// first `failing` POSTs (503), then accepts.
async fn env(failing: usize) -> (App, Seeded, TestServer) {
    let receiver =
        TestServer::start(
            move |_, i| async move { Reply::status(if i < failing { 503 } else { 200 }) },
        )
        .await;
    let app = App::new();
    let seeded = app.agency().await;
    let url = hook_url(&receiver);
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    (app, seeded, receiver)
}

/// The account's webhook URL on the receiver.
fn hook_url(receiver: &TestServer) -> String {
    format!("{}/hooks/bvai", receiver.url())
}

/// An event whose original series was dropped (four failed POSTs).
async fn dropped_event(app: &App, seeded: &Seeded) -> EventRecord {
    let event = app.stored_event(seeded).await;
    app.deliver(&[first_attempt(&event)]).await;
    app.drain().await;
    event
}

/// An event skipped because the account had no webhook URL at the time.
async fn skipped_event(app: &App, seeded: &Seeded, receiver: &TestServer) -> EventRecord {
    let event = app.stored_event(seeded).await;
    app.update_account(&seeded.account.id, |a| a.webhook_url = None)
        .await;
    app.deliver(&[first_attempt(&event)]).await;
    let url = hook_url(receiver);
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
        .await;
    event
}

async fn recover(app: &App, seeded: &Seeded, body: Value) -> (u16, Value) {
    app.settings(app.session(seeded, "POST", RECOVER).json(&body))
        .await
}

/// POSTs the receiver got, per event id header.
fn posts_per_event(receiver: &TestServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in receiver.requests() {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        *out.entry(id).or_insert(0) += 1;
    }
    out
}

/// Each of these dropped events got 5 POSTs (4 of the dropped series, 1 recovered) and
/// exactly one log row after `t`: attempt 1 of the new series, delivered.
async fn one_recovered_series_each(
    app: &App,
    seeded: &Seeded,
    receiver: &TestServer,
    events: &[&EventRecord],
    t: DateTime<Utc>,
) {
    let posts = posts_per_event(receiver);
    for ev in events {
        assert_eq!(
            posts.get(&ev.id.to_string()),
            Some(&5),
            "4 dropped + 1 recovered POST"
        );
        assert_eq!(
            rows_after(app, seeded, ev.id, t).await,
            [(1, DeliveryOutcome::Delivered)],
            "one new series, one row"
        );
    }
}

/// Log rows of the event attempted after `t`, as (attempt, outcome).
async fn rows_after(
    app: &App,
    seeded: &Seeded,
    event: EventId,
    t: DateTime<Utc>,
) -> Vec<(u32, DeliveryOutcome)> {
    app.delivery_log(&seeded.account.id)
        .await
        .into_iter()
        .filter(|r| r.event_id == event && r.attempted_at > t)
        .map(|r| (r.attempt, r.outcome))
        .collect()
}

fn row(
    seeded: &Seeded,
    receiver: &TestServer,
    event: &EventRecord,
    at: DateTime<Utc>,
    n: u32,
    o: DeliveryOutcome,
) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: seeded.account.id.clone(),
        event_id: event.id,
        call_id: event.call_id,
        attempt: n,
        attempted_at: at,
        url: Some(hook_url(receiver)),
        outcome: o,
        http_status: None,
        duration_ms: 1,
        error_class: None,
        response_excerpt: None,
        next_attempt_at: None,
    }
}

#[tokio::test]
async fn recover_twice_in_a_row_gives_each_dropped_or_skipped_event_one_new_series() {
    // Two events dropped (4 POSTs each = the first 8 answers fail), one skipped.
    let (app, seeded, receiver) = env(8).await;
    let since = app.now();
    let (a, b) = (
        dropped_event(&app, &seeded).await,
        dropped_event(&app, &seeded).await,
    );
    let c = skipped_event(&app, &seeded, &receiver).await;
    assert_eq!(receiver.requests().len(), 8);
    // Superseded: dropped, then a redelivery that was delivered. Not recovered.
    let d = app.stored_event(&seeded).await;
    let now = app.now();
    for r in [
        row(
            &seeded,
            &receiver,
            &d,
            now - chrono::Duration::seconds(20),
            4,
            DeliveryOutcome::Dropped,
        ),
        row(
            &seeded,
            &receiver,
            &d,
            now - chrono::Duration::seconds(10),
            1,
            DeliveryOutcome::Delivered,
        ),
    ] {
        app.store.record_attempt(&r).await.unwrap();
    }
    // Dropped before the range: not recovered.
    let old = app.stored_event(&seeded).await;
    app.store
        .record_attempt(&row(
            &seeded,
            &receiver,
            &old,
            since - chrono::Duration::seconds(1),
            4,
            DeliveryOutcome::Dropped,
        ))
        .await
        .unwrap();

    let t = app.now();
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!(
        (status, &res),
        (202, &json!({"success": true, "recovered": 3}))
    );
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!(
        (status, &res),
        (202, &json!({"success": true, "recovered": 0})),
        "the second call finds every ending already recovered"
    );
    let pending = app.queue.pending();
    assert_eq!(pending.len(), 3, "one message per recovered event");
    let mut queued: Vec<EventId> = pending.iter().map(|m| m.message.event_id).collect();
    queued.sort();
    let mut expected = vec![a.id, b.id, c.id];
    expected.sort();
    assert_eq!(queued, expected);
    assert!(pending
        .iter()
        .all(|m| m.message.redelivery.is_some() && m.message.attempt == 1));

    app.clock.advance(chrono::Duration::seconds(1));
    app.drain().await;
    one_recovered_series_each(&app, &seeded, &receiver, &[&a, &b], t).await;
    let posts = posts_per_event(&receiver);
    assert_eq!(posts.get(&c.id.to_string()), Some(&1));
    assert_eq!(
        rows_after(&app, &seeded, c.id, t).await,
        [(1, DeliveryOutcome::Delivered)]
    );
    assert_eq!(posts.get(&d.id.to_string()), None);
    assert_eq!(posts.get(&old.id.to_string()), None);

    // Now every event's last series was delivered: nothing to recover, nothing claimed.
    let claims = app.plan.calls("claim_attempt");
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!((status, res["recovered"].clone()), (202, json!(0)));
    assert_eq!(app.plan.calls("claim_attempt"), claims);
    assert_eq!(app.queue.pending_count(), 0);
}

#[tokio::test]
async fn a_failing_queue_send_is_500_and_a_later_recover_still_sends_each_event_once() {
    let (app, seeded, receiver) = env(8).await;
    let since = app.now();
    let (a, b) = (
        dropped_event(&app, &seeded).await,
        dropped_event(&app, &seeded).await,
    );
    let t = app.now();
    app.plan.fail_next("send");
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!((status, error_code(&res)), (500, "internal_error"), "{res}");
    let queued_by_failed_call = app.queue.pending_count();
    assert!(queued_by_failed_call < 2);
    // Within the marker's lease nothing is queued again...
    assert_eq!(
        recover(&app, &seeded, json!({"since": rfc3339(since)}))
            .await
            .1["recovered"],
        0
    );
    // ...after it, both are queued again (the same series ids as before).
    app.clock.advance(
        chrono::Duration::from_std(::settings::resend_dropped::RECOVERY_LEASE).unwrap()
            + chrono::Duration::seconds(1),
    );
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!((status, res["recovered"].clone()), (202, json!(2)));
    app.drain().await;
    one_recovered_series_each(&app, &seeded, &receiver, &[&a, &b], t).await;
}

#[tokio::test]
async fn bad_ranges_are_400_naming_the_field_and_read_nothing() {
    let (app, seeded, _receiver) = env(0).await;
    let now = app.now();
    for (body, code, field) in [
        (json!({}), "missing_field", "since"),
        (json!({"since": "last week"}), "invalid_timestamp", "since"),
        (
            json!({"since": rfc3339(now - chrono::Duration::days(31))}),
            "invalid_range",
            "since",
        ),
        (
            json!({"since": rfc3339(now - chrono::Duration::hours(1)), "until": rfc3339(now - chrono::Duration::hours(2))}),
            "invalid_range",
            "until",
        ),
        (
            json!({"since": rfc3339(now), "limit": 5}),
            "unknown_field",
            "limit",
        ),
    ] {
        let (status, res) = recover(&app, &seeded, body.clone()).await;
        assert_eq!(
            (status, error_code(&res), res["error"]["field"].as_str()),
            (400, code, Some(field)),
            "{body}"
        );
    }
    assert_eq!(app.plan.calls("deliveries_between"), 0);
    assert_eq!(app.queue.sent_count(), 0);
}

/// Issue 26: one call recovers at most `MAX_RECOVER_EVENTS` events. A range with one more is
/// `422 too_many_events` naming `since`, with the advice to narrow it, and nothing is claimed
/// or queued; the same rows cut to exactly the cap by `until` are recovered in one call.
#[tokio::test]
async fn more_than_the_cap_is_422_and_queues_nothing_while_the_cap_itself_is_recovered() {
    use ::settings::resend_dropped::MAX_RECOVER_EVENTS;
    let (app, seeded, receiver) = env(0).await;
    let since = app.now() - chrono::Duration::hours(1);
    let count = MAX_RECOVER_EVENTS + 1;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let event = EventRecord {
            id: EventId::new_v4(),
            account_id: seeded.account.id.clone(),
            call_id: CallId::new_v4(),
            event_type: domain::event_type::EventType::CallCompleted,
            payload: "{}".into(),
            created_at: since,
        };
        let at = since + chrono::Duration::seconds(i as i64);
        let dropped = if i % 2 == 0 {
            DeliveryOutcome::Dropped
        } else {
            DeliveryOutcome::Skipped
        };
        app.store
            .record_attempt(&row(&seeded, &receiver, &event, at, 4, dropped))
            .await
            .unwrap();
        events.push(event);
    }
    let reads = app.plan.calls("deliveries_between");
    let (status, res) = recover(&app, &seeded, json!({"since": rfc3339(since)})).await;
    assert_eq!(
        (status, error_code(&res), res["error"]["field"].as_str()),
        (422, "too_many_events", Some("since")),
        "{res}"
    );
    let message = res["error"]["message"].as_str().unwrap_or_default();
    for needle in [
        format!("{count} events"),
        format!("at most {MAX_RECOVER_EVENTS}"),
        "narrow the range".to_string(),
    ] {
        assert!(message.contains(&needle), "{needle:?} in {message}");
    }
    assert!(
        app.plan.calls("deliveries_between") > reads,
        "the log was read"
    );
    assert_eq!(app.plan.calls("claim_attempt"), 0, "nothing claimed");
    assert_eq!(app.plan.calls("send"), 0, "nothing queued");
    assert_eq!(app.queue.sent_count(), 0);

    // The same rows without the newest one: exactly the cap, recovered by one call.
    let until = since + chrono::Duration::seconds(MAX_RECOVER_EVENTS as i64 - 1);
    let (status, res) = recover(
        &app,
        &seeded,
        json!({"since": rfc3339(since), "until": rfc3339(until)}),
    )
    .await;
    assert_eq!(
        (status, &res),
        (
            202,
            &json!({"success": true, "recovered": MAX_RECOVER_EVENTS})
        )
    );
    let mut queued: Vec<EventId> = app
        .queue
        .pending()
        .iter()
        .map(|m| m.message.event_id)
        .collect();
    queued.sort();
    let mut expected: Vec<EventId> = events[..MAX_RECOVER_EVENTS].iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(queued, expected, "each event of the narrower range, once");
}
