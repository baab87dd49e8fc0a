//! Bulk recovery (`POST .../deliveries/recover`) on the in-memory adapters, with events really
//! dropped and skipped by the delivery function against a loopback receiver: which events are
//! recovered, one new series per event however often it is called (counted in POSTs per event
//! id, log rows per attempt and queue messages), a failing queue send, and bad ranges.

use super::{error_code, App, Seeded};
use chrono::{DateTime, Utc};
use domain::clock::rfc3339;
use domain::ids::{CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryOutcome, EventRecord};
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::DeliveryLog;
use integration_tests::apigw::ApiRequest;
use integration_tests::peer::{Reply, TestServer};
use integration_tests::sqs::event_for;
use serde_json::{json, Value};
use std::collections::HashMap;

const RECOVER: &str = "/api/integrations/api-webhooks/deliveries/recover";

/// The in-memory app with its seeded account (and what the scenario adds).
struct Scene {
    w: App,
    s: Seeded,
    receiver: TestServer,
    url: String,
}

/// A receiver that fails the first `failing` POSTs (503), then accepts.
async fn env(failing: usize) -> Scene {
    let receiver =
        TestServer::start(
            move |_, i| async move { Reply::status(if i < failing { 503 } else { 200 }) },
        )
        .await;
    let w = App::new();
    let s = w.agency().await;
    let url = format!("{}/hooks/bvai", receiver.url());
    w.update_account(&s.account.id, |a| a.webhook_url = Some(url.clone()))
        .await;
    Scene {
        w,
        s,
        receiver,
        url,
    }
}

impl Scene {
    /// Feeds the queue to the delivery function as its messages come due, until it is empty.
    async fn drain(&self) {
        let mut batches = 0;
        while let Some(due) = self.w.queue.next_due_at() {
            self.w.clock.set(due.max(self.w.now()));
            let msgs = self.w.queue.take_due();
            let res =
                ::webhook_delivery::handle(event_for(&msgs), self.w.webhook_delivery_deps()).await;
            assert!(res.batch_item_failures.is_empty(), "batch {batches} failed");
            batches += 1;
            assert!(batches < 40, "the queue never drained");
        }
    }

    fn first(&self, event: &EventRecord) -> DeliveryMessage {
        DeliveryMessage::first(event.id, self.s.account.id.clone(), event.call_id)
    }

    /// An event whose original series was dropped (four failed POSTs).
    async fn dropped_event(&self) -> EventRecord {
        let event = self.w.stored_event(&self.s).await;
        ::webhook_delivery::handle(
            event_for(&[self.first(&event)]),
            self.w.webhook_delivery_deps(),
        )
        .await;
        self.drain().await;
        event
    }

    /// An event skipped because the account had no webhook URL at the time.
    async fn skipped_event(&self) -> EventRecord {
        let event = self.w.stored_event(&self.s).await;
        self.w
            .update_account(&self.s.account.id, |a| a.webhook_url = None)
            .await;
        ::webhook_delivery::handle(
            event_for(&[self.first(&event)]),
            self.w.webhook_delivery_deps(),
        )
        .await;
        let url = self.url.clone();
        self.w
            .update_account(&self.s.account.id, |a| a.webhook_url = Some(url))
            .await;
        event
    }

    async fn recover(&self, body: Value) -> (u16, Value) {
        let req = ApiRequest::new("POST", RECOVER)
            .claims(
                json!({"sub": "user-1", (self.w.tunables.account_claim.as_str()): self.s.account.id}),
            )
            .json(&body);
        self.w.settings(req).await
    }

    /// POSTs the receiver got, per event id header.
    fn posts_per_event(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for r in self.receiver.requests() {
            let id = r.header("webhook-id").unwrap_or_default().to_string();
            *out.entry(id).or_insert(0) += 1;
        }
        out
    }

    /// Each of these dropped events got 5 POSTs (4 of the dropped series, 1 recovered) and
    /// exactly one log row after `t`: attempt 1 of the new series, delivered.
    async fn one_recovered_series_each(&self, events: &[&EventRecord], t: DateTime<Utc>) {
        let posts = self.posts_per_event();
        for ev in events {
            assert_eq!(
                posts.get(&ev.id.to_string()),
                Some(&5),
                "4 dropped + 1 recovered POST"
            );
            assert_eq!(
                self.rows_after(ev.id, t).await,
                [(1, DeliveryOutcome::Delivered)],
                "one new series, one row"
            );
        }
    }

    /// Log rows of the event attempted after `t`, as (attempt, outcome).
    async fn rows_after(&self, event: EventId, t: DateTime<Utc>) -> Vec<(u32, DeliveryOutcome)> {
        self.w
            .delivery_log(&self.s.account.id)
            .await
            .into_iter()
            .filter(|r| r.event_id == event && r.attempted_at > t)
            .map(|r| (r.attempt, r.outcome))
            .collect()
    }
}

fn row(
    e: &Scene,
    event: &EventRecord,
    at: DateTime<Utc>,
    n: u32,
    o: DeliveryOutcome,
) -> DeliveryAttempt {
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: e.s.account.id.clone(),
        event_id: event.id,
        call_id: event.call_id,
        attempt: n,
        attempted_at: at,
        url: Some(e.url.clone()),
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
    let e = env(8).await;
    let since = e.w.now();
    let (a, b) = (e.dropped_event().await, e.dropped_event().await);
    let c = e.skipped_event().await;
    assert_eq!(e.receiver.requests().len(), 8);
    // Superseded: dropped, then a redelivery that was delivered. Not recovered.
    let d = e.w.stored_event(&e.s).await;
    let now = e.w.now();
    for r in [
        row(
            &e,
            &d,
            now - chrono::Duration::seconds(20),
            4,
            DeliveryOutcome::Dropped,
        ),
        row(
            &e,
            &d,
            now - chrono::Duration::seconds(10),
            1,
            DeliveryOutcome::Delivered,
        ),
    ] {
        e.w.store.record_attempt(&r).await.unwrap();
    }
    // Dropped before the range: not recovered.
    let old = e.w.stored_event(&e.s).await;
    e.w.store
        .record_attempt(&row(
            &e,
            &old,
            since - chrono::Duration::seconds(1),
            4,
            DeliveryOutcome::Dropped,
        ))
        .await
        .unwrap();

    let t = e.w.now();
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
    assert_eq!(
        (status, &res),
        (202, &json!({"success": true, "recovered": 3}))
    );
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
    assert_eq!(
        (status, &res),
        (202, &json!({"success": true, "recovered": 0})),
        "the second call finds every ending already recovered"
    );
    let pending = e.w.queue.pending();
    assert_eq!(pending.len(), 3, "one message per recovered event");
    let mut queued: Vec<EventId> = pending.iter().map(|m| m.message.event_id).collect();
    queued.sort();
    let mut expected = vec![a.id, b.id, c.id];
    expected.sort();
    assert_eq!(queued, expected);
    assert!(pending
        .iter()
        .all(|m| m.message.redelivery.is_some() && m.message.attempt == 1));

    e.w.clock.advance(chrono::Duration::seconds(1));
    e.drain().await;
    e.one_recovered_series_each(&[&a, &b], t).await;
    let posts = e.posts_per_event();
    assert_eq!(posts.get(&c.id.to_string()), Some(&1));
    assert_eq!(
        e.rows_after(c.id, t).await,
        [(1, DeliveryOutcome::Delivered)]
    );
    assert_eq!(posts.get(&d.id.to_string()), None);
    assert_eq!(posts.get(&old.id.to_string()), None);

    // Now every event's last series was delivered: nothing to recover, nothing claimed.
    let claims = e.w.plan.calls("claim_attempt");
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
    assert_eq!((status, res["recovered"].clone()), (202, json!(0)));
    assert_eq!(e.w.plan.calls("claim_attempt"), claims);
    assert_eq!(e.w.queue.pending_count(), 0);
}

#[tokio::test]
async fn a_failing_queue_send_is_500_and_a_later_recover_still_sends_each_event_once() {
    let e = env(8).await;
    let since = e.w.now();
    let (a, b) = (e.dropped_event().await, e.dropped_event().await);
    let t = e.w.now();
    e.w.plan.fail_next("send");
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
    assert_eq!((status, error_code(&res)), (500, "internal_error"), "{res}");
    let queued_by_failed_call = e.w.queue.pending_count();
    assert!(queued_by_failed_call < 2);
    // Within the marker's lease nothing is queued again...
    assert_eq!(
        e.recover(json!({"since": rfc3339(since)})).await.1["recovered"],
        0
    );
    // ...after it, both are queued again (the same series ids as before).
    e.w.clock.advance(
        chrono::Duration::from_std(::settings::resend_dropped::RECOVERY_LEASE).unwrap()
            + chrono::Duration::seconds(1),
    );
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
    assert_eq!((status, res["recovered"].clone()), (202, json!(2)));
    e.drain().await;
    e.one_recovered_series_each(&[&a, &b], t).await;
}

#[tokio::test]
async fn bad_ranges_are_400_naming_the_field_and_read_nothing() {
    let e = env(0).await;
    let now = e.w.now();
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
        let (status, res) = e.recover(body.clone()).await;
        assert_eq!(
            (status, error_code(&res), res["error"]["field"].as_str()),
            (400, code, Some(field)),
            "{body}"
        );
    }
    assert_eq!(e.w.plan.calls("deliveries_between"), 0);
    assert_eq!(e.w.queue.sent_count(), 0);
}

/// Issue 26: one call recovers at most `MAX_RECOVER_EVENTS` events. A range with one more is
/// `422 too_many_events` naming `since`, with the advice to narrow it, and nothing is claimed
/// or queued; the same rows cut to exactly the cap by `until` are recovered in one call.
#[tokio::test]
async fn more_than_the_cap_is_422_and_queues_nothing_while_the_cap_itself_is_recovered() {
    use ::settings::resend_dropped::MAX_RECOVER_EVENTS;
    let e = env(0).await;
    let since = e.w.now() - chrono::Duration::hours(1);
    let count = MAX_RECOVER_EVENTS + 1;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let event = EventRecord {
            id: EventId::new_v4(),
            account_id: e.s.account.id.clone(),
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
        e.w.store
            .record_attempt(&row(&e, &event, at, 4, dropped))
            .await
            .unwrap();
        events.push(event);
    }
    let reads = e.w.plan.calls("deliveries_between");
    let (status, res) = e.recover(json!({"since": rfc3339(since)})).await;
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
        e.w.plan.calls("deliveries_between") > reads,
        "the log was read"
    );
    assert_eq!(e.w.plan.calls("claim_attempt"), 0, "nothing claimed");
    assert_eq!(e.w.plan.calls("send"), 0, "nothing queued");
    assert_eq!(e.w.queue.sent_count(), 0);

    // The same rows without the newest one: exactly the cap, recovered by one call.
    let until = since + chrono::Duration::seconds(MAX_RECOVER_EVENTS as i64 - 1);
    let (status, res) = e
        .recover(json!({"since": rfc3339(since), "until": rfc3339(until)}))
        .await;
    assert_eq!(
        (status, &res),
        (
            202,
            &json!({"success": true, "recovered": MAX_RECOVER_EVENTS})
        )
    );
    let mut queued: Vec<EventId> =
        e.w.queue
            .pending()
            .iter()
            .map(|m| m.message.event_id)
            .collect();
    queued.sort();
    let mut expected: Vec<EventId> = events[..MAX_RECOVER_EVENTS].iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(queued, expected, "each event of the narrower range, once");
}
