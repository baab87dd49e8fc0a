//! The call lifecycle under faults (issue: no call dialed twice, every accepted call ends in
//! its webhook), on the in-memory adapters: trigger-call, call-completed and the reconciler
//! together, with the provider's answer lost, callbacks missing, the queue failing and a
//! request dropped mid-way. Every test counts provider requests, events and queue messages.

use super::{error_code, App, Seeded, Stage};
use domain::config;
use domain::ids::CallId;
use domain::model::{Call, CallStatus};
use domain::ports::provider::ProviderError;
use domain::ports::store::event_store::ENQUEUE_GRACE;
use domain::ports::store::{CallStore, EventStore};
use reconciler::repair::Repaired;
use serde_json::{json, Value};
use std::time::Duration;

/// The in-memory app with its seeded account, driven like the whole stack: trigger-call, the
/// provider's callbacks, the reconciler.
async fn stack() -> (App, Seeded) {
    let mut app = App::new();
    // A held key answers 409 at once instead of waiting (the wait is not under test).
    app.tunables.provider_timeout = Duration::ZERO;
    let seeded = app.agency().await;
    (app, seeded)
}

async fn trigger(app: &App, seeded: &Seeded, key: &str) -> (u16, Value) {
    let req = app
        .api(seeded, "POST", "/api/trigger-call")
        .header("idempotency-key", key)
        .json(&json!({"phone": "+15551234567", "name": "Jane"}));
    app.trigger_call(req).await
}

async fn get_call(app: &App, seeded: &Seeded, id: &str) -> (u16, Value) {
    app.trigger_call(app.api(seeded, "GET", &format!("/api/calls/{id}")))
        .await
}

/// The call whose id an answer names.
async fn call_of(app: &App, id: &Value) -> Call {
    let id: CallId = id.as_str().expect("call id").parse().expect("uuid");
    app.call(id).await
}

fn events_of(app: &App, call: &Call) -> usize {
    app.store
        .events()
        .iter()
        .filter(|e| e.record.call_id == call.id)
        .count()
}

/// Each way the provider's answer can be lost after the request may have reached it.
fn lost_answers() -> Vec<(&'static str, ProviderError)> {
    vec![
        (
            "timeout after sending",
            ProviderError::Timeout(Duration::from_secs(5)),
        ),
        (
            "connection reset",
            ProviderError::Transport("connection reset by peer".into()),
        ),
        (
            "unreadable 2xx",
            ProviderError::Body("missing field `call_id`".into()),
        ),
        (
            "5xx",
            ProviderError::Status {
                status: 500,
                excerpt: "internal".into(),
            },
        ),
    ]
}

#[tokio::test]
async fn a_lost_provider_answer_dials_once_across_retries_and_the_late_callbacks_complete_it() {
    for (what, error) in lost_answers() {
        let (app, seeded) = stack().await;
        app.provider.then_err(error);
        let (status, first) = trigger(&app, &seeded, "order-1").await;
        assert_eq!(
            (status, error_code(&first)),
            (502, "provider_outcome_unknown"),
            "{what}: {first}"
        );
        let call_id = first["error"]["call_id"].clone();
        let call = call_of(&app, &call_id).await;
        assert_eq!(call.status, CallStatus::DialUnknown, "{what}");
        // Three client retries with the same key: the same answer, no second dial.
        for _ in 0..3 {
            let (status, again) = trigger(&app, &seeded, "order-1").await;
            assert_eq!((status, &again), (502, &first), "{what}");
        }
        assert_eq!(app.provider.request_count(), 1, "{what}: dialled twice");
        assert_eq!(app.plan.calls("create_phone_call"), 1, "{what}");
        let (status, shown) = get_call(&app, &seeded, call_id.as_str().unwrap()).await;
        assert_eq!(
            (status, shown["status"].as_str()),
            (200, Some("dial_unknown"))
        );

        // The call rang after all: its callbacks complete it, with exactly one event.
        for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
            let (status, res) = app.callback(&call, &seeded.agent, stage).await;
            assert_eq!(status, 200, "{what} {stage:?}: {res}");
        }
        let done = call_of(&app, &call_id).await;
        assert_eq!(done.status, CallStatus::Completed, "{what}");
        assert_eq!(events_of(&app, &done), 1, "{what}");
        assert_eq!(app.queue.sent_count(), 1, "{what}: one delivery message");
        // The deadline passing later changes nothing.
        app.clock.advance(chrono::Duration::hours(1));
        app.reconcile().await;
        assert_eq!(call_of(&app, &call_id).await.status, CallStatus::Completed);
        assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
    }
}

#[tokio::test]
async fn a_dial_unknown_call_without_callbacks_is_failed_after_its_deadline() {
    let (app, seeded) = stack().await;
    app.plan.fail_after_effect("create_phone_call", 1);
    let (status, res) = trigger(&app, &seeded, "k").await;
    assert_eq!(
        (status, error_code(&res)),
        (502, "provider_outcome_unknown")
    );
    let call_id = res["error"]["call_id"].clone();
    assert_eq!(
        app.provider.request_count(),
        1,
        "the request reached the provider"
    );

    // Before the deadline the reconciler leaves it alone.
    app.clock.advance(
        chrono::Duration::from_std(app.tunables.dial_unknown_deadline).unwrap()
            - chrono::Duration::seconds(1),
    );
    assert_eq!(app.reconcile().await.count(Repaired::CallFailed), 0);
    assert_eq!(
        call_of(&app, &call_id).await.status,
        CallStatus::DialUnknown
    );

    app.clock.advance(chrono::Duration::seconds(2));
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::CallFailed), 1, "{report:?}");
    let failed = call_of(&app, &call_id).await;
    assert_eq!(failed.status, CallStatus::Failed);
    assert!(failed
        .failure_reason
        .unwrap()
        .starts_with("dial_outcome_unknown"));
    assert_eq!(failed.due_at, None);
    // The key still answers the first 502: the outcome was never proven "not placed".
    let (status, again) = trigger(&app, &seeded, "k").await;
    assert_eq!(
        (status, error_code(&again)),
        (502, "provider_outcome_unknown")
    );
    assert_eq!(app.provider.request_count(), 1);
    // Issue 25, window 2: the account (default subscription) hears of it, once.
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
}

#[tokio::test]
async fn without_call_analyzed_the_event_is_sent_after_the_grace_and_a_late_analysis_changes_nothing(
) {
    let (app, seeded) = stack().await;
    let call = app.dialing_call(&seeded).await;
    assert_eq!(
        app.callback(&call, &seeded.agent, Stage::Started).await.0,
        200
    );
    assert_eq!(
        app.callback(&call, &seeded.agent, Stage::Ended).await.0,
        200
    );
    let ended = app.call(call.id).await;
    assert_eq!(ended.status, CallStatus::Ended);
    let grace = chrono::Duration::from_std(app.tunables.analysis_grace).unwrap();
    assert_eq!(ended.due_at, Some(app.now() + grace));

    app.clock.advance(grace - chrono::Duration::seconds(1));
    assert_eq!(
        app.reconcile()
            .await
            .count(Repaired::CallCompletedWithoutAnalysis),
        0
    );
    assert_eq!(app.stored_event_count(), 0);

    app.clock.advance(chrono::Duration::seconds(1));
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::CallCompletedWithoutAnalysis),
        1,
        "{report:?}"
    );
    let done = app.call(call.id).await;
    assert_eq!(done.status, CallStatus::Completed);
    assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
    let event = app.store.events().remove(0);
    assert!(event.enqueued);
    let payload: Value = serde_json::from_str(&event.record.payload).unwrap();
    assert_eq!(payload["event"], "call.completed");
    assert_eq!(payload["summary"], "");
    assert_eq!(payload["sentiment"], "unknown");
    assert_eq!(payload["duration_seconds"], 185);

    // The analysis arrives late: acknowledged, nothing new.
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(
        (status, res["changed"].clone()),
        (200, json!(false)),
        "{res}"
    );
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
    assert_eq!(
        app.reconcile()
            .await
            .count(Repaired::CallCompletedWithoutAnalysis),
        0
    );
}

#[tokio::test]
async fn an_event_whose_send_failed_and_whose_callback_is_never_retried_is_enqueued_by_the_reconciler(
) {
    let (app, seeded) = stack().await;
    let call = app.dialing_call(&seeded).await;
    // The first call_analyzed stores the event but the send fails (5xx); its duplicate, run
    // meanwhile, lost the completion race and answered 200, so the provider retries nothing.
    app.plan.fail_next("send");
    let (status, _) = app.callback(&call, &seeded.agent, Stage::Analyzed).await;
    assert_eq!(status, 500);
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 0));
    let stored = app.store.events().remove(0);
    assert!(!stored.enqueued);
    assert_eq!(stored.due_at, Some(app.now() + ENQUEUE_GRACE));

    app.clock
        .advance(ENQUEUE_GRACE - chrono::Duration::seconds(1));
    assert_eq!(app.reconcile().await.count(Repaired::EventEnqueued), 0);
    assert_eq!(app.queue.sent_count(), 0);

    app.clock.advance(chrono::Duration::seconds(1));
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::EventEnqueued), 1, "{report:?}");
    assert_eq!(app.queue.sent_count(), 1);
    let event = app.store.event(stored.record.id).await.unwrap().unwrap();
    assert!(event.enqueued && event.due_at.is_none());
    // Again: nothing is due any more.
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(app.reconcile().await.count(Repaired::EventEnqueued), 0);
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
}

/// The handler is dropped (Lambda timeout, crash) after writing the call and while the
/// provider request is in flight: the key is held without an answer and the call `queued`.
async fn drop_a_request_mid_dial(app: &App, seeded: &Seeded, key: &str) -> Call {
    app.plan.hang("create_phone_call", 1);
    let dropped = tokio::time::timeout(Duration::from_millis(100), trigger(app, seeded, key)).await;
    assert!(dropped.is_err(), "the request was expected to hang");
    let rec = app
        .store
        .idempotency(&seeded.account.id, key, app.now())
        .await
        .unwrap()
        .expect("the key is held");
    assert!(rec.response.is_none());
    let call = app.call(rec.call_id).await;
    assert_eq!(call.status, CallStatus::Queued);
    call
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(config::idempotency_lease()).unwrap()
}

/// Issue 25, window 1 (this test asserted the second dial before): a request that dies with
/// the provider request in flight may have placed the call. After its lease, the retry with
/// the same key gets the 502 `provider_outcome_unknown` naming the dead request's call, as a
/// lost provider answer gives, and dials nothing.
#[tokio::test]
async fn a_dropped_requests_key_answers_the_unknown_outcome_after_its_lease() {
    let (app, seeded) = stack().await;
    let dead = drop_a_request_mid_dial(&app, &seeded, "k-drop").await;
    // Within the lease: the key is still the dead request's.
    let (status, res) = trigger(&app, &seeded, "k-drop").await;
    assert_eq!(
        (status, error_code(&res)),
        (409, "idempotency_key_in_progress")
    );

    app.clock.advance(lease());
    app.provider.then_ok("prov_retry");
    let (status, res) = trigger(&app, &seeded, "k-drop").await;
    assert_eq!(
        (status, error_code(&res)),
        (502, "provider_outcome_unknown"),
        "{res}"
    );
    assert_eq!(res["error"]["call_id"], json!(dead.id.to_string()));
    assert_eq!(app.provider.request_count(), 0, "the retry dials nothing");
    // The dead request's call may have rung: it waits for callbacks as dial_unknown.
    let old = app.call(dead.id).await;
    assert_eq!(old.status, CallStatus::DialUnknown);
    assert!(old.due_at.is_some());
    // Every later retry replays the same answer.
    let (status, again) = trigger(&app, &seeded, "k-drop").await;
    assert_eq!((status, &again), (502, &res));
    assert_eq!(app.provider.request_count(), 0);
}

/// Issue 25, window 1 as reported: the provider accepts and the phone rings, then the process
/// dies before `mark_call_dialing` finishes (a stalled DynamoDB reply). On today's main the
/// retry after the lease released the key and dialed a second real call (provider requests
/// 2); now the retry, and the reconciler if it comes first, bind the key to the 502 naming
/// the call, and the call's own callbacks complete it with one event.
#[tokio::test]
async fn a_crash_after_the_provider_accepted_never_dials_twice() {
    for via_reconciler in [false, true] {
        let (app, seeded) = stack().await;
        app.provider.then_ok("prov_rang");
        app.plan.hang("mark_call_dialing", 1);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            trigger(&app, &seeded, "k-crash"),
        )
        .await;
        assert!(dropped.is_err(), "the request was expected to hang");
        assert_eq!(app.provider.request_count(), 1, "the provider accepted");
        let rec = app
            .store
            .idempotency(&seeded.account.id, "k-crash", app.now())
            .await
            .unwrap()
            .expect("the key is held");
        assert!(rec.response.is_none());

        app.clock.advance(lease());
        if via_reconciler {
            let report = app.reconcile().await;
            assert_eq!(report.count(Repaired::KeyAnsweredUnknown), 1, "{report:?}");
        }
        app.provider.then_ok("prov_second");
        let (status, res) = trigger(&app, &seeded, "k-crash").await;
        assert_eq!(
            (status, error_code(&res)),
            (502, "provider_outcome_unknown"),
            "via reconciler {via_reconciler}: {res}"
        );
        assert_eq!(res["error"]["call_id"], json!(rec.call_id.to_string()));
        assert_eq!(
            app.provider.request_count(),
            1,
            "a second real call (via reconciler: {via_reconciler})"
        );
        // The call rang: its callbacks carry our call id and complete it, once.
        let call = Call {
            provider_call_id: Some("prov_rang".into()),
            ..app.call(rec.call_id).await
        };
        assert_eq!(call.status, CallStatus::DialUnknown);
        for stage in [Stage::Started, Stage::Ended, Stage::Analyzed] {
            assert_eq!(
                app.callback(&call, &seeded.agent, stage).await.0,
                200,
                "{stage:?}"
            );
        }
        assert_eq!(app.call(call.id).await.status, CallStatus::Completed);
        assert_eq!((events_of(&app, &call), app.queue.sent_count()), (1, 1));
    }
}

#[tokio::test]
async fn the_reconciler_answers_a_dropped_requests_key_and_unsticks_its_call() {
    let (app, seeded) = stack().await;
    let dead = drop_a_request_mid_dial(&app, &seeded, "k-rec").await;
    app.clock.advance(lease());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::KeyAnsweredUnknown), 1, "{report:?}");
    assert_eq!(app.call(dead.id).await.status, CallStatus::DialUnknown);
    let rec = app
        .store
        .idempotency(&seeded.account.id, "k-rec", app.now())
        .await
        .unwrap()
        .expect("the key is kept");
    assert_eq!(rec.response.map(|r| r.status), Some(502));
    // A retry replays it and dials nothing.
    let (status, res) = trigger(&app, &seeded, "k-rec").await;
    assert_eq!(
        (status, error_code(&res)),
        (502, "provider_outcome_unknown")
    );
    assert_eq!(app.provider.request_count(), 0);
    // Past its deadline without callbacks, the dead request's call ends failed, and the
    // account (default subscription) hears of it: one call.completed.
    app.clock
        .advance(chrono::Duration::from_std(app.tunables.dial_unknown_deadline).unwrap());
    assert_eq!(app.reconcile().await.count(Repaired::CallFailed), 1);
    assert_eq!(app.call(dead.id).await.status, CallStatus::Failed);
    assert_eq!((events_of(&app, &dead), app.queue.sent_count()), (1, 1));
}

#[tokio::test]
async fn two_reconcilers_at_once_repair_each_item_once() {
    let (app, seeded) = stack().await;
    // An ended call past its grace, an event never queued, a dropped request (queued call and
    // held key).
    let ended = app.dialing_call(&seeded).await;
    app.callback(&ended, &seeded.agent, Stage::Ended).await;
    let analyzed = app.dialing_call(&seeded).await;
    app.plan.fail_next("send");
    assert_eq!(
        app.callback(&analyzed, &seeded.agent, Stage::Analyzed)
            .await
            .0,
        500
    );
    let dead = drop_a_request_mid_dial(&app, &seeded, "k-both").await;
    app.clock
        .advance(chrono::Duration::from_std(app.tunables.analysis_grace).unwrap());

    let (a, b) = tokio::join!(app.reconcile(), app.reconcile());
    let total = |what| a.count(what) + b.count(what);
    assert_eq!(
        total(Repaired::CallCompletedWithoutAnalysis),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(total(Repaired::EventEnqueued), 1, "{a:?} {b:?}");
    assert_eq!(total(Repaired::KeyAnsweredUnknown), 1, "{a:?} {b:?}");
    assert_eq!(total(Repaired::CallMarkedDialUnknown), 1, "{a:?} {b:?}");
    assert_eq!((a.errors, b.errors), (0, 0));
    assert_eq!(app.stored_event_count(), 2, "one event per completed call");
    assert_eq!(app.queue.sent_count(), 2, "one message per event");
    assert_eq!(app.call(dead.id).await.status, CallStatus::DialUnknown);
    assert_eq!(app.provider.request_count(), 0);

    // Run both again: nothing left.
    let (a, b) = tokio::join!(app.reconcile(), app.reconcile());
    assert_eq!(a.repaired.len() + b.repaired.len(), 0, "{a:?} {b:?}");
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (2, 2));
}

#[tokio::test]
async fn only_a_proven_refusal_releases_the_key() {
    let (app, seeded) = stack().await;
    app.provider.then_err(ProviderError::Status {
        status: 400,
        excerpt: "invalid to_number".into(),
    });
    let (status, res) = trigger(&app, &seeded, "k-400").await;
    assert_eq!((status, error_code(&res)), (502, "provider_unavailable"));
    app.provider.then_ok("prov_ok");
    let (status, _) = trigger(&app, &seeded, "k-400").await;
    assert_eq!(status, 200);
    assert_eq!(app.provider.request_count(), 2);
    assert_eq!(app.plan.calls("mark_call_dial_unknown"), 0);
}

/// Two deliveries of `call_analyzed` at once: the one whose completion is slower loses the
/// race and answers 200 without sending; the winner's send fails (5xx) and the provider, seeing
/// a 200 for the same callback, may never retry. The reconciler sends the event.
#[tokio::test]
async fn the_duplicate_wins_the_race_the_send_fails_and_the_reconciler_enqueues_the_event() {
    let (app, seeded) = stack().await;
    let call = app.dialing_call(&seeded).await;
    app.plan
        .delay("complete_call", 1, Duration::from_millis(200));
    app.plan.fail_next("send");
    let (a, b) = tokio::join!(
        app.callback(&call, &seeded.agent, Stage::Analyzed),
        app.callback(&call, &seeded.agent, Stage::Analyzed)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 500], "{a:?} {b:?}");
    let loser = if a.0 == 200 { &a.1 } else { &b.1 };
    assert_eq!(loser["changed"], json!(false), "{loser}");
    assert_eq!(app.plan.calls("complete_call"), 2);
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 0));

    app.clock.advance(ENQUEUE_GRACE);
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::EventEnqueued), 1, "{report:?}");
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
    assert!(app.store.events()[0].enqueued);
}

/// The provider placed the call but recording `dialing` failed: the key still answers 200
/// (remembered on its own), so no retry dials again.
#[tokio::test]
async fn a_failed_dialing_write_still_binds_the_placed_answer_to_the_key() {
    let (app, seeded) = stack().await;
    app.provider.then_ok("prov_placed");
    app.plan.fail_next("mark_call_dialing");
    let (status, first) = trigger(&app, &seeded, "k-placed").await;
    assert_eq!(status, 200, "{first}");
    app.clock.advance(lease());
    app.reconcile().await;
    let (status, again) = trigger(&app, &seeded, "k-placed").await;
    assert_eq!((status, &again), (200, &first), "replayed");
    assert_eq!(app.provider.request_count(), 1, "dialled twice");
    assert_eq!(app.plan.calls("remember_answer"), 1);
}

/// Worse: neither the dialing write nor the answer could be recorded, and the call rang (its
/// `call_started` came). After the lease, neither the reconciler nor a retry may release the
/// key: it answers the placed call's 200 from then on.
#[tokio::test]
async fn a_dead_requests_key_whose_call_rang_is_never_released() {
    for via_reconciler in [true, false] {
        let (app, seeded) = stack().await;
        app.provider.then_ok("prov_rang");
        app.plan.fail_next("mark_call_dialing");
        app.plan.fail_next("remember_answer");
        let (status, first) = trigger(&app, &seeded, "k-rang").await;
        assert_eq!(status, 200, "{first}");
        let call = call_of(&app, &first["call_id"]).await;
        assert_eq!(call.status, CallStatus::Queued);
        assert_eq!(
            app.callback(&call, &seeded.agent, Stage::Started).await.0,
            200
        );
        app.clock.advance(lease());
        if via_reconciler {
            let report = app.reconcile().await;
            assert_eq!(report.count(Repaired::KeyAnsweredPlaced), 1, "{report:?}");
            assert_eq!(report.count(Repaired::KeyAnsweredUnknown), 0, "{report:?}");
        }
        let (status, again) = trigger(&app, &seeded, "k-rang").await;
        assert_eq!(
            (status, &again),
            (200, &first),
            "via reconciler: {via_reconciler}"
        );
        assert_eq!(
            app.provider.request_count(),
            1,
            "a second real call (via reconciler: {via_reconciler})"
        );
        assert_eq!(
            call_of(&app, &first["call_id"]).await.status,
            CallStatus::InProgress
        );
    }
}

/// The provider's answer was lost and recording `dial_unknown` failed: the 502 is still
/// remembered for the key (on its own), so the retry replays it instead of dialling.
#[tokio::test]
async fn a_failed_dial_unknown_write_still_binds_the_502_to_the_key() {
    let (app, seeded) = stack().await;
    app.provider
        .then_err(ProviderError::Timeout(Duration::from_secs(5)));
    app.plan.fail_next("mark_call_dial_unknown");
    let (status, first) = trigger(&app, &seeded, "k-unknown-write").await;
    assert_eq!(
        (status, error_code(&first)),
        (502, "provider_outcome_unknown"),
        "{first}"
    );
    app.clock.advance(lease());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::KeyAnsweredUnknown), 0, "{report:?}");
    assert_eq!(
        report.count(Repaired::CallMarkedDialUnknown),
        1,
        "{report:?}"
    );
    let (status, again) = trigger(&app, &seeded, "k-unknown-write").await;
    assert_eq!((status, &again), (502, &first));
    assert_eq!(app.provider.request_count(), 1, "dialled twice");
}

/// A `dial_unknown` call resolved as failed (no news within the deadline) rang after all: its
/// late callbacks still move it on, and it keeps exactly one event. For an account on the
/// default subscription that event is the `call.completed` sent when it failed (issue 25):
/// the late analysis sends no second one, and nothing stays due.
#[tokio::test]
async fn late_callbacks_revive_a_call_failed_for_want_of_news() {
    let (app, seeded) = stack().await;
    app.plan.fail_after_effect("create_phone_call", 1);
    let (status, res) = trigger(&app, &seeded, "k-late").await;
    assert_eq!(status, 502, "{res}");
    let call_id = res["error"]["call_id"].clone();
    app.clock
        .advance(chrono::Duration::from_std(app.tunables.dial_unknown_deadline).unwrap());
    assert_eq!(app.reconcile().await.count(Repaired::CallFailed), 1);
    let failed = call_of(&app, &call_id).await;
    assert_eq!(failed.status, CallStatus::Failed);
    assert_eq!((events_of(&app, &failed), app.queue.sent_count()), (1, 1));
    for (stage, changed) in [
        (Stage::Started, true),
        (Stage::Ended, true),
        (Stage::Analyzed, false),
    ] {
        let (status, res) = app.callback(&failed, &seeded.agent, stage).await;
        assert_eq!(
            (status, res["changed"].clone()),
            (200, json!(changed)),
            "{stage:?}: {res}"
        );
    }
    let done = call_of(&app, &call_id).await;
    assert_eq!(done.status, CallStatus::Ended);
    assert_eq!(done.failure_reason, None);
    assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
    assert_eq!(app.provider.request_count(), 1);
    // Its analysis grace passes: it has its event, so the deadline is cleared, once.
    app.clock
        .advance(chrono::Duration::from_std(app.tunables.analysis_grace).unwrap());
    assert_eq!(app.reconcile().await.count(Repaired::DeadlineCleared), 1);
    assert!(app.reconcile().await.repaired.is_empty());
    assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
}

fn stale_after(w: &App) -> chrono::Duration {
    chrono::Duration::from_std(w.tunables.call_stale_after).unwrap()
}

/// A call the provider accepted but never reported (no callback at all): failed for want of
/// news after `CALL_STALE_AFTER`, and never stuck `dialing`.
#[tokio::test]
async fn a_dialing_call_never_reported_is_failed_after_the_stale_deadline() {
    let (app, seeded) = stack().await;
    app.provider.then_ok("prov_silent");
    let (status, res) = trigger(&app, &seeded, "k-silent").await;
    assert_eq!(status, 200, "{res}");
    let call_id = res["call_id"].clone();
    app.clock
        .advance(stale_after(&app) - chrono::Duration::seconds(1));
    assert_eq!(app.reconcile().await.count(Repaired::CallFailed), 0);
    assert_eq!(call_of(&app, &call_id).await.status, CallStatus::Dialing);
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(app.reconcile().await.count(Repaired::CallFailed), 1);
    let failed = call_of(&app, &call_id).await;
    assert_eq!(failed.status, CallStatus::Failed);
    assert!(
        failed.may_still_progress(),
        "late callbacks may still revive it"
    );
    // Issue 25, window 2: on today's main nothing was sent (0, 0) and the customer, told 200,
    // heard nothing. The default subscription gets the call's one call.completed.
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
    let event = &app.store.events()[0];
    assert_eq!(
        event.record.event_type,
        domain::event_type::EventType::CallCompleted
    );
    let body: Value = serde_json::from_str(&event.record.payload).unwrap();
    assert_eq!(
        (
            &body["event"],
            &body["duration_seconds"],
            &body["summary"],
            &body["transcript"],
            &body["sentiment"]
        ),
        (
            &json!("call.completed"),
            &json!(0),
            &json!(""),
            &json!([]),
            &json!("unknown")
        )
    );
    assert_eq!(body["call_id"], call_id);
    assert_eq!(failed.event_id, Some(event.record.id));
    // Nothing more, however often the reconciler runs.
    app.clock.advance(chrono::Duration::hours(1));
    assert!(app.reconcile().await.repaired.is_empty());
    assert_eq!((app.stored_event_count(), app.queue.sent_count()), (1, 1));
}

/// A call that started but whose `call_ended` (and `call_analyzed`) never came: completed with
/// what is known after `CALL_STALE_AFTER`, once, and a late `call_ended` changes nothing.
#[tokio::test]
async fn a_call_in_progress_whose_end_never_came_is_completed_after_the_stale_deadline() {
    let (app, seeded) = stack().await;
    let call = app.dialing_call(&seeded).await;
    assert_eq!(
        app.callback(&call, &seeded.agent, Stage::Started).await.0,
        200
    );
    app.clock.advance(stale_after(&app));
    let (a, b) = tokio::join!(app.reconcile(), app.reconcile());
    assert_eq!(
        a.count(Repaired::CallCompletedWithoutAnalysis)
            + b.count(Repaired::CallCompletedWithoutAnalysis),
        1,
        "{a:?} {b:?}"
    );
    let done = app.call(call.id).await;
    assert_eq!(done.status, CallStatus::Completed);
    assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Ended).await;
    assert_eq!((status, res["changed"].clone()), (200, json!(false)));
    assert_eq!((events_of(&app, &done), app.queue.sent_count()), (1, 1));
}

/// Issue 25, long calls: a call in progress is completed for want of news only
/// `CALL_STALE_AFTER` after the last news of it. On today's main the stale deadline counted
/// from the first `call_started` and a repeated one changed nothing, so the reconciler
/// completed the call (with an empty analysis) while the conversation went on.
#[tokio::test]
async fn a_call_whose_callbacks_keep_coming_is_not_completed_early() {
    let (app, seeded) = stack().await;
    let call = app.dialing_call(&seeded).await;
    assert_eq!(
        app.callback(&call, &seeded.agent, Stage::Started).await.0,
        200
    );
    app.clock
        .advance(stale_after(&app) - chrono::Duration::minutes(1));
    // News of the call (the provider's repeated call_started) pushes the deadline.
    let (status, res) = app.callback(&call, &seeded.agent, Stage::Started).await;
    assert_eq!((status, &res["changed"]), (200, &json!(false)), "{res}");
    app.clock.advance(chrono::Duration::minutes(2));
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::CallCompletedWithoutAnalysis),
        0,
        "completed early: {report:?}"
    );
    assert_eq!(app.call(call.id).await.status, CallStatus::InProgress);
    assert_eq!(app.stored_event_count(), 0);
    // Silence for CALL_STALE_AFTER after that news: completed with what is known, once.
    app.clock.advance(stale_after(&app));
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::CallCompletedWithoutAnalysis),
        1,
        "{report:?}"
    );
    assert_eq!((events_of(&app, &call), app.queue.sent_count()), (1, 1));
}

/// The default stale deadline is longer than the provider's longest call (Retell's
/// `max_call_duration_ms` is at most two hours), with room for its callback retries.
#[test]
fn the_default_stale_deadline_outlasts_the_providers_longest_call() {
    let longest_call = Duration::from_secs(2 * 3600);
    assert!(config::DEFAULT_CALL_STALE_AFTER >= longest_call + Duration::from_secs(3600));
}

/// Issue 25, poison items: an item at the head of the due index that cannot be read (an
/// index entry naming no work, or a call item read back malformed) is moved to the quarantine
/// kind, once, and the pass goes on to the items behind it. Before, the unreadable entry
/// failed the whole page's read on every pass, forever.
#[tokio::test]
async fn a_poison_item_at_the_head_of_the_due_index_does_not_block_the_next_one() {
    use domain::ports::store::{DueKind, DueStore};
    let (app, seeded) = stack().await;
    // Oldest first: an unreadable entry, a call item that reads back malformed, a real call.
    app.store
        .poison_due(DueKind::Call, app.now() - chrono::Duration::days(2));
    let corrupt = app.dialing_call(&seeded).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let healthy = app.dialing_call(&seeded).await;
    app.store
        .settle_call(
            healthy.id,
            CallStatus::Dialing,
            CallStatus::Dialing,
            None,
            app.now(),
            Some(corrupt.due_at.unwrap() + chrono::Duration::seconds(1)),
        )
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::hours(3));
    app.plan.corrupt_nth("call", 1);
    let report = app.reconcile().await;
    assert_eq!(report.quarantined, 2, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.count(Repaired::CallFailed), 1, "{report:?}");
    assert_eq!(app.call(healthy.id).await.status, CallStatus::Failed);
    assert_eq!(app.store.quarantined(), 2);
    // Out of the way for good: the next pass finds nothing, and the quarantined call is
    // left as it was for an operator.
    let again = app.reconcile().await;
    assert_eq!((again.quarantined, again.errors), (0, 0), "{again:?}");
    assert!(again.repaired.is_empty(), "{again:?}");
    assert_eq!(app.call(corrupt.id).await.status, CallStatus::Dialing);
    assert!(app
        .store
        .due(DueKind::Call, app.now(), 100)
        .await
        .unwrap()
        .is_empty());
}

/// The quarantine's log line is what the template's metric filter counts
/// (`QuarantinedDueItemsAlarm`): error level, `fields.message` the reconciler's
/// `QUARANTINED`, the item's table key beside it.
#[tokio::test]
async fn a_quarantined_item_is_logged_at_error_with_its_key_for_the_alarm() {
    use domain::ports::store::DueKind;
    // Alone in a process: see `integration_tests::logs::isolated`.
    if !integration_tests::logs::isolated(
        "rules::lifecycle::a_quarantined_item_is_logged_at_error_with_its_key_for_the_alarm",
    ) {
        return;
    }
    let sink = integration_tests::logs::Capture::default();
    let writer = sink.clone();
    let _guard = tracing::subscriber::set_default(lambda_glue::telemetry::subscriber_at(
        "info",
        move || writer.clone(),
    ));
    let (app, _seeded) = stack().await;
    let (pk, sk) = app
        .store
        .poison_due(DueKind::Event, app.now() - chrono::Duration::hours(1));
    assert_eq!(app.reconcile().await.quarantined, 1);
    let text = sink.text();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == ::reconciler::QUARANTINED)
        .unwrap_or_else(|| panic!("no quarantine line in {text}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["fields"]["item"], format!("{pk} / {sk}"), "{line}");
}
