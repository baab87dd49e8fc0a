//! The webhook events beyond `call.completed` (`domain::event_rules`), on the in-memory adapters:
//! `call.started` and `call.failed` once per call however callbacks repeat or writes fail,
//! each `call.failed` reason path, subscriptions (nothing created or POSTed for what an
//! account did not choose), and the `X-Event-Type` header of each delivery.

use super::{provider_call_json, App, Seeded, Stage, START_MS};
use domain::event_rules::event_id;
use domain::event_type::EventType;
use domain::model::{Call, CallStatus, DeliveryOutcome};
use domain::ports::store::EventStore;
use integration_tests::app::callback_request;
use integration_tests::peer::{Reply, TestServer};
use reconciler::repair::Repaired;
use serde_json::{json, Value};

/// An Agency account subscribed to `events`.
async fn env(events: &[EventType]) -> (App, Seeded) {
    let app = App::new();
    let seeded = app.agency().await;
    let events = events.to_vec();
    app.update_account(&seeded.account.id, |a| a.events = events)
        .await;
    (app, seeded)
}

async fn all() -> (App, Seeded) {
    env(&EventType::ALL).await
}

/// The provider's signed callback for `call` at `stage`, `change`d first.
async fn callback_with(
    app: &App,
    seeded: &Seeded,
    call: &Call,
    stage: Stage,
    change: impl FnOnce(&mut Value),
) -> (u16, Value) {
    let mut obj = provider_call_json(call, &seeded.agent, stage);
    change(&mut obj);
    let raw = json!({"event": stage.event(), "call": obj}).to_string();
    app.call_completed(callback_request(&raw, Some(&app.sign_callback(&raw))))
        .await
}

/// `call_ended` for a call that never connected, with the provider's `reason`.
async fn ended_not_connected(
    app: &App,
    seeded: &Seeded,
    call: &Call,
    reason: &str,
) -> (u16, Value) {
    callback_with(app, seeded, call, Stage::Ended, |o| {
        not_connected(o, reason)
    })
    .await
}

/// The stored events of `call`, as (type, payload).
fn events_of(app: &App, call: &Call) -> Vec<(EventType, Value)> {
    let mut events: Vec<_> = app
        .store
        .events()
        .into_iter()
        .filter(|e| e.record.call_id == call.id)
        .map(|e| {
            (
                e.record.event_type,
                serde_json::from_str(&e.record.payload).expect("payload json"),
            )
        })
        .collect();
    events.sort_by_key(|(t, _)| *t);
    events
}

fn of_type(app: &App, call: &Call, t: EventType) -> Vec<Value> {
    events_of(app, call)
        .into_iter()
        .filter(|(ty, _)| *ty == t)
        .map(|(_, p)| p)
        .collect()
}

/// Messages queued for `call`'s event of type `t`.
fn queued(app: &App, call: &Call, t: EventType) -> usize {
    let id = event_id(call.id, t);
    app.queue
        .sent()
        .iter()
        .filter(|m| m.message.event_id == id)
        .count()
}

/// A call object that never connected: no start, no duration, ended with `reason`.
fn not_connected(o: &mut Value, reason: &str) {
    let m = o.as_object_mut().expect("object");
    m.remove("start_timestamp");
    m.remove("duration_ms");
    m.remove("transcript_object");
    m.insert("call_status".into(), "not_connected".into());
    m.insert("disconnection_reason".into(), reason.into());
}

#[tokio::test]
async fn call_started_is_stored_and_queued_once_per_call_and_completed_still_follows() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 200, "{res}");
    let id = event_id(call.id, EventType::CallStarted);
    assert_eq!(res["event_id"], id.to_string());
    let stored = app.store.event(id).await.unwrap().expect("stored");
    assert!(stored.enqueued);
    assert_eq!(stored.record.event_type, EventType::CallStarted);
    let p: Value = serde_json::from_str(&stored.record.payload).unwrap();
    assert_eq!(
        p,
        json!({
            "event": "call.started",
            "call_id": call.id.to_string(),
            "agent_id": seeded.agent.id.to_string(),
            "agent_name": seeded.agent.name,
            "direction": "outbound",
            "phone_number": "+15551234567",
            "started_at": "2025-06-15T15:30:00Z",
            "metadata": {},
        })
    );
    // Repeats of call_started, then the rest of the call.
    for stage in [
        Stage::Started,
        Stage::Started,
        Stage::Ended,
        Stage::Analyzed,
        Stage::Started,
    ] {
        let (status, res) = app.callback(&call, &seeded.agent, stage).await;
        assert_eq!(status, 200, "{stage:?}: {res}");
    }
    let types: Vec<EventType> = events_of(&app, &call).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        types,
        vec![EventType::CallCompleted, EventType::CallStarted]
    );
    assert_eq!(queued(&app, &call, EventType::CallStarted), 1);
    assert_eq!(queued(&app, &call, EventType::CallCompleted), 1);
    assert_eq!(app.queue.sent_count(), 2);
    assert_eq!(app.plan.calls("advance_call_with_event"), 1);
}

#[tokio::test]
async fn a_failed_call_started_write_answers_500_and_the_retry_stores_it_once() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_next("advance_call_with_event");
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 500, "the provider must retry: {res}");
    assert!(events_of(&app, &call).is_empty());
    assert_eq!(app.call(call.id).await.status, CallStatus::Dialing);
    assert_eq!(app.queue.sent_count(), 0);
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(true)),
        "{res}"
    );
    assert_eq!(of_type(&app, &call, EventType::CallStarted).len(), 1);
    assert_eq!(queued(&app, &call, EventType::CallStarted), 1);
    assert_eq!(app.plan.calls("advance_call_with_event"), 2);
}

#[tokio::test]
async fn a_call_started_write_whose_answer_was_lost_is_queued_once_by_the_retry() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_after_effect("advance_call_with_event", 1);
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 500);
    assert_eq!(
        of_type(&app, &call, EventType::CallStarted).len(),
        1,
        "stored"
    );
    assert_eq!(queued(&app, &call, EventType::CallStarted), 0, "not queued");
    // The retry moves nothing, finds the event unqueued and queues it; later ones do nothing.
    for _ in 0..3 {
        let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
        assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    }
    assert_eq!(of_type(&app, &call, EventType::CallStarted).len(), 1);
    assert_eq!(queued(&app, &call, EventType::CallStarted), 1);
    let id = event_id(call.id, EventType::CallStarted);
    assert!(app.store.event(id).await.unwrap().unwrap().enqueued);
}

#[tokio::test]
async fn a_failed_send_of_call_started_is_retried_by_the_provider_and_queued_once() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    app.plan.fail_next("send");
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 500);
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 200);
    assert_eq!(of_type(&app, &call, EventType::CallStarted).len(), 1);
    assert_eq!(queued(&app, &call, EventType::CallStarted), 1);
    assert_eq!(app.plan.calls("send"), 2);
}

#[tokio::test]
async fn unsubscribed_events_are_not_created() {
    // The default subscription: call.completed only.
    let (app, seeded) = env(&domain::event_type::default_events()).await;
    let call = app.dialing_call(&seeded).await;
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!(status, 200);
    let other = app.dialing_call(&seeded).await;
    let (status, _) = ended_not_connected(&app, &seeded, &other, "dial_no_answer").await;
    assert_eq!(status, 200);
    assert!(events_of(&app, &call).is_empty());
    assert!(events_of(&app, &other).is_empty());
    assert_eq!(app.queue.sent_count(), 0);
    assert_eq!(app.plan.calls("advance_call_with_event"), 0);
    assert_eq!(app.call(other.id).await.status, CallStatus::Ended);
}

#[tokio::test]
async fn each_not_connected_ending_is_one_call_failed_with_its_reason_and_completed_follows() {
    for (provider, reason) in [
        ("dial_no_answer", "no_answer"),
        ("dial_busy", "busy"),
        ("dial_failed", "dial_failed"),
        ("error_twilio", "provider_error"),
    ] {
        let (app, seeded) = all().await;
        let call = app.dialing_call(&seeded).await;
        for _ in 0..3 {
            let (status, res) = ended_not_connected(&app, &seeded, &call, provider).await;
            assert_eq!(status, 200, "{provider}: {res}");
        }
        let failed = of_type(&app, &call, EventType::CallFailed);
        assert_eq!(failed.len(), 1, "{provider}");
        assert_eq!(
            failed[0],
            json!({
                "event": "call.failed",
                "call_id": call.id.to_string(),
                "agent_id": seeded.agent.id.to_string(),
                "direction": "outbound",
                "phone_number": "+15551234567",
                "failed_at": "2025-06-15T15:33:05Z",
                "reason": reason,
                "metadata": {},
            }),
            "{provider}"
        );
        assert_eq!(queued(&app, &call, EventType::CallFailed), 1, "{provider}");
        // Today's behaviour kept: the ended call still gets its call.completed.
        let (status, _) = callback_with(&app, &seeded, &call, Stage::Analyzed, |o| {
            not_connected(o, provider)
        })
        .await;
        assert_eq!(status, 200);
        assert_eq!(of_type(&app, &call, EventType::CallCompleted).len(), 1);
        assert!(of_type(&app, &call, EventType::CallStarted).is_empty());
        assert_eq!(app.queue.sent_count(), 2, "{provider}");
    }
}

#[tokio::test]
async fn endings_of_calls_that_took_place_are_not_failures() {
    let (app, seeded) = all().await;
    for reason in ["user_hangup", "agent_hangup", "voicemail_reached"] {
        let call = app.dialing_call(&seeded).await;
        let (status, _) = callback_with(&app, &seeded, &call, Stage::Ended, |o| {
            o["disconnection_reason"] = reason.into();
        })
        .await;
        assert_eq!(status, 200);
        assert!(
            of_type(&app, &call, EventType::CallFailed).is_empty(),
            "{reason}"
        );
    }
    // A provider error after the call connected is not a failure either.
    let call = app.dialing_call(&seeded).await;
    app.callback(&call, &seeded.agent, Stage::Started).await;
    callback_with(&app, &seeded, &call, Stage::Ended, |o| {
        o["disconnection_reason"] = "error_llm_websocket_lost_connection".into();
    })
    .await;
    assert!(of_type(&app, &call, EventType::CallFailed).is_empty());
    assert_eq!(of_type(&app, &call, EventType::CallStarted).len(), 1);
}

#[tokio::test]
async fn the_reconcilers_dial_outcome_unknown_is_one_call_failed_and_a_late_ending_adds_none() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    // Past the dialing call's deadline, with no callback ever.
    app.clock
        .set(call.due_at.expect("deadline") + chrono::Duration::seconds(1));
    let report = ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(report.count(Repaired::CallFailed), 1, "{report:?}");
    let again = ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(again.count(Repaired::CallFailed), 0, "{again:?}");
    let failed = of_type(&app, &call, EventType::CallFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["reason"], "dial_outcome_unknown");
    assert_eq!(queued(&app, &call, EventType::CallFailed), 1);
    assert_eq!(app.call(call.id).await.status, CallStatus::Failed);
    // The provider's late news: it did not connect. The call moves on; no second call.failed.
    let (status, res) = ended_not_connected(&app, &seeded, &call, "dial_no_answer").await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(true)),
        "{res}"
    );
    assert_eq!(of_type(&app, &call, EventType::CallFailed).len(), 1);
    assert_eq!(app.queue.sent_count(), 1);
}

#[tokio::test]
async fn a_failed_reconciler_write_fails_nothing_and_the_next_pass_makes_one_event() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    app.clock
        .set(call.due_at.expect("deadline") + chrono::Duration::seconds(1));
    app.plan.fail_next("settle_call_with_event");
    let report = ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(report.errors, 1, "{report:?}");
    assert!(events_of(&app, &call).is_empty());
    assert_eq!(app.call(call.id).await.status, CallStatus::Dialing);
    let report = ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(report.count(Repaired::CallFailed), 1, "{report:?}");
    assert_eq!(of_type(&app, &call, EventType::CallFailed).len(), 1);
    assert_eq!(queued(&app, &call, EventType::CallFailed), 1);
}

#[tokio::test]
async fn a_reconciler_failure_whose_send_failed_is_enqueued_by_the_due_index() {
    let (app, seeded) = all().await;
    let call = app.dialing_call(&seeded).await;
    app.clock
        .set(call.due_at.expect("deadline") + chrono::Duration::seconds(1));
    app.plan.fail_next("send");
    ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(of_type(&app, &call, EventType::CallFailed).len(), 1);
    assert_eq!(queued(&app, &call, EventType::CallFailed), 0);
    app.clock.advance(chrono::Duration::minutes(2));
    let report = ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(report.count(Repaired::EventEnqueued), 1, "{report:?}");
    ::reconciler::run(app.reconciler_deps()).await;
    assert_eq!(queued(&app, &call, EventType::CallFailed), 1);
    assert_eq!(of_type(&app, &call, EventType::CallFailed).len(), 1);
}

/// A started call whose analysis came, delivered to a receiver that counts POSTs per
/// `X-Event-Type`: each subscribed event once, with its type in the header and the body;
/// an unsubscribed call.completed is logged `skipped` and never POSTed.
#[tokio::test]
async fn deliveries_name_their_event_and_unsubscribed_types_are_skipped_not_posted() {
    for (events, posted) in [
        (
            vec![EventType::CallStarted, EventType::CallCompleted],
            vec!["call.completed", "call.started"],
        ),
        (vec![EventType::CallStarted], vec!["call.started"]),
    ] {
        let receiver = TestServer::start(|_, _| async { Reply::status(204) }).await;
        let (app, seeded) = env(&events).await;
        let url = format!("{}/hooks/bvai", receiver.url());
        app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url))
            .await;
        let call = app.dialing_call(&seeded).await;
        app.clock.set(super::at_ms(START_MS + 1_000));
        for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
            assert_eq!(app.callback(&call, &seeded.agent, stage).await.0, 200);
        }
        let msgs = app.queue.take_due();
        assert_eq!(
            msgs.len(),
            2,
            "call.started and call.completed are stored either way"
        );
        let res = app.deliver(&msgs).await;
        assert!(res.batch_item_failures.is_empty());
        let mut got: Vec<(String, String)> = receiver
            .requests()
            .iter()
            .map(|r| {
                (
                    r.header("x-event-type").unwrap_or("").to_string(),
                    r.json()["event"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        got.sort();
        let want: Vec<(String, String)> = posted
            .iter()
            .map(|t| (t.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want, "{events:?}");
        let log = app.delivery_log(&seeded.account.id).await;
        let skipped = log
            .iter()
            .filter(|r| r.outcome == DeliveryOutcome::Skipped)
            .collect::<Vec<_>>();
        assert_eq!(skipped.len(), 2 - posted.len(), "{log:?}");
        if let Some(row) = skipped.first() {
            assert_eq!(
                row.response_excerpt.as_deref(),
                Some("the account is not subscribed to call.completed")
            );
        }
        assert_eq!(app.queue.sent_count(), 2, "a skip is never retried");
        receiver.stop();
    }
}

mod subscriptions {
    use super::super::{App, Seeded};
    use serde_json::{json, Value};

    const INTEGRATION: &str = "/api/integrations/api-webhooks";

    async fn settings() -> (App, Seeded) {
        let app = App::new();
        let seeded = app.agency().await;
        (app, seeded)
    }

    async fn send(app: &App, seeded: &Seeded, method: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = app.session(seeded, method, INTEGRATION);
        if let Some(b) = body {
            req = req.json(&b);
        }
        app.settings(req).await
    }

    #[tokio::test]
    async fn the_default_is_call_completed_and_a_patch_replaces_the_list() {
        let (app, seeded) = settings().await;
        let (status, got) = send(&app, &seeded, "GET", None).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["events"], json!(["call.completed"]));
        let (status, got) = send(
            &app,
            &seeded,
            "PATCH",
            Some(
                json!({"events": ["call.failed", "call.completed", "call.started", "call.failed"]}),
            ),
        )
        .await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(
            got["events"],
            json!(["call.started", "call.completed", "call.failed"])
        );
        assert_eq!(
            send(&app, &seeded, "GET", None).await.1["events"],
            json!(["call.started", "call.completed", "call.failed"])
        );
        assert_eq!(app.account(&seeded.account.id).await.events.len(), 3);
        // Other fields leave it alone; a new list replaces it.
        let (_, got) = send(&app, &seeded, "PATCH", Some(json!({"api_enabled": true}))).await;
        assert_eq!(got["events"].as_array().map(Vec::len), Some(3));
        let (_, got) = send(
            &app,
            &seeded,
            "PATCH",
            Some(json!({"events": ["call.failed"]})),
        )
        .await;
        assert_eq!(got["events"], json!(["call.failed"]));
    }

    #[tokio::test]
    async fn invalid_lists_are_400_naming_events_and_write_nothing() {
        let (app, seeded) = settings().await;
        let before = app.account(&seeded.account.id).await;
        for (body, code) in [
            (json!({"events": []}), "invalid_events"),
            (json!({"events": ["call.ended"]}), "invalid_events"),
            (
                json!({"events": ["call.started", "nope"]}),
                "invalid_events",
            ),
            (json!({"events": "call.started"}), "invalid_type"),
            (json!({"events": [7]}), "invalid_type"),
            (json!({"events": null}), "invalid_type"),
        ] {
            let (status, got) = send(&app, &seeded, "PATCH", Some(body.clone())).await;
            assert_eq!(status, 400, "{body}: {got}");
            assert_eq!(got["error"]["code"], code, "{body}: {got}");
            assert_eq!(got["error"]["field"], "events", "{body}: {got}");
        }
        assert_eq!(app.account(&seeded.account.id).await, before);
        assert_eq!(app.plan.calls("save_account"), 0);
    }
}
