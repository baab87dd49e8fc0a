//! Held and scheduled calls and the do-not-call list (issue 17 parts 2 and 3) on the
//! in-memory adapters with a `FixedClock`: trigger-call answers 202 `scheduled` and dials
//! nothing; the reconciler places the call when it is due, exactly once (two reconcilers at
//! once, a cancel racing the claim, a write failing once); re-checks at placing time fail,
//! cancel or re-schedule the call; the do-not-call list refuses and cancels. Every test
//! counts provider requests.

use super::{error_code, App, Seeded};
use domain::ids::CallId;
use domain::model::CallStatus;
use domain::ports::provider::ProviderError;
use domain::ports::store::{AccountStore, SuppressionStore};
use integration_tests::apigw::{parts, ApiRequest, Build};
use reconciler::repair::Repaired;
use serde_json::{json, Value};
use uuid::Uuid;

/// Monday 2025-06-16 08:00 in New York (12:00Z); the account's window is 09:00-17:00 Mon/Tue.
const MON_0800_NY: &str = "2025-06-16T12:00:00Z";
const MON_0900_NY: &str = "2025-06-16T13:00:00Z";
const SUPPRESSIONS: &str = "/api/integrations/api-webhooks/suppressions";

/// The in-memory app at `now` with its seeded account; with `window`, the account calls
/// 09:00-17:00 Mon/Tue in New York.
async fn env_at(now: &str, window: bool) -> (App, Seeded) {
    let app = App::in_memory(now.parse().unwrap());
    let seeded = app.agency().await;
    if window {
        let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
            "time_zone": "America/New_York",
            "days": {"mon": {"start": "09:00", "end": "17:00"}, "tue": {"start": "09:00", "end": "17:00"}}
        }))
        .unwrap();
        app.update_account(&seeded.account.id, |a| a.calling_window = Some(window))
            .await;
    }
    (app, seeded)
}

async fn trigger(app: &App, seeded: &Seeded, body: Value) -> (u16, Value) {
    let req = app.api(seeded, "POST", "/api/trigger-call").json(&body);
    app.trigger_call(req).await
}

/// [`trigger`] with an `Idempotency-Key`.
async fn trigger_keyed(app: &App, seeded: &Seeded, body: Value, key: &str) -> (u16, Value) {
    let req = app
        .api(seeded, "POST", "/api/trigger-call")
        .header("idempotency-key", key)
        .json(&body);
    app.trigger_call(req).await
}

async fn hold(app: &App, seeded: &Seeded) -> (u16, Value) {
    trigger(
        app,
        seeded,
        json!({"phone": "+15551234567", "when_closed": "hold"}),
    )
    .await
}

async fn call_api(app: &App, seeded: &Seeded, method: &str, id: &str) -> (u16, Value) {
    app.trigger_call(app.api(seeded, method, &format!("/api/calls/{id}")))
        .await
}

/// A settings request of the account's session; `path` may carry a query.
async fn dashboard(app: &App, seeded: &Seeded, method: &str, path: &str) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = app.session(seeded, method, path);
    if !query.is_empty() {
        req = req.query(query);
    }
    app.settings(req).await
}

fn dials(app: &App) -> usize {
    app.provider.request_count()
}

fn call_id(body: &Value) -> CallId {
    body["call_id"].as_str().expect("call_id").parse().unwrap()
}

#[tokio::test]
async fn a_held_call_is_answered_202_and_placed_once_when_the_window_opens() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let (status, body) = hold(&app, &seeded).await;
    assert_eq!(status, 202, "{body}");
    let id = call_id(&body);
    assert_eq!(
        body,
        json!({"success": true, "call_id": id.to_string(), "status": "scheduled", "scheduled_for": MON_0900_NY})
    );
    assert_eq!(dials(&app), 0, "nothing dialed while the window is closed");
    let (status, got) = call_api(&app, &seeded, "GET", &id.to_string()).await;
    assert_eq!((status, got["status"].as_str()), (200, Some("scheduled")));
    assert_eq!(got["scheduled_for"], MON_0900_NY);

    // Before it is due, the reconciler leaves it alone.
    app.clock.set("2025-06-16T12:59:59Z".parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallDialed), 0);
    assert_eq!(dials(&app), 0);

    // At most a minute late: the first pass after it is due places it.
    app.clock.set("2025-06-16T13:00:30Z".parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallDialed), 1, "{report:?}");
    assert_eq!(dials(&app), 1);
    let req = &app.provider.requests()[0];
    assert_eq!(req.to_number, "+15551234567");
    assert_eq!(req.metadata["call_id"], id.to_string());
    let call = app.call(id).await;
    assert_eq!(call.status, CallStatus::Dialing);
    assert!(call.provider_call_id.is_some());
    let (_, got) = call_api(&app, &seeded, "GET", &id.to_string()).await;
    assert_eq!(got["status"], "dialing");
    assert_eq!(got["scheduled_for"], Value::Null);

    // Later passes never dial it again.
    app.clock.set("2025-06-16T13:01:30Z".parse().unwrap());
    app.reconcile().await;
    app.reconcile().await;
    assert_eq!(dials(&app), 1);
}

#[tokio::test]
async fn reject_stays_the_default_and_not_before_schedules_with_the_same_rules() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let (status, body) = trigger(&app, &seeded, json!({"phone": "+15551234567"})).await;
    assert_eq!((status, error_code(&body)), (422, "outside_calling_window"));
    let (status, body) = trigger(
        &app,
        &seeded,
        json!({"phone": "+15551234567", "when_closed": "reject"}),
    )
    .await;
    assert_eq!((status, error_code(&body)), (422, "outside_calling_window"));
    assert_eq!(app.plan.calls("create_call"), 0);

    // not_before inside the window: scheduled for exactly then, even with reject.
    let (status, body) = trigger(
        &app,
        &seeded,
        json!({"phone": "+15551234567", "not_before": "2025-06-16T10:30:00-04:00"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["scheduled_for"], "2025-06-16T14:30:00Z");
    // not_before outside the window: reject refuses (naming the opening after it), hold waits.
    let late = json!({"phone": "+15551234567", "not_before": "2025-06-16T22:00:00Z"});
    let (status, body) = trigger(&app, &seeded, late.clone()).await;
    assert_eq!((status, error_code(&body)), (422, "outside_calling_window"));
    assert_eq!(
        body["error"]["next_window_opens_at"],
        "2025-06-17T13:00:00Z"
    );
    let mut held = late;
    held["when_closed"] = "hold".into();
    let (status, body) = trigger(&app, &seeded, held).await;
    assert_eq!(
        (status, body["scheduled_for"].as_str()),
        (202, Some("2025-06-17T13:00:00Z"))
    );
    // More than 30 days ahead: 400 naming the field.
    let (status, body) = trigger(
        &app,
        &seeded,
        json!({"phone": "+15551234567", "not_before": "2025-07-17T12:00:01Z"}),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_not_before"));
    assert_eq!(body["error"]["field"], "not_before");
    assert_eq!(dials(&app), 0);

    // In the past means now: placed at once when the window is open.
    app.clock.set(MON_0900_NY.parse().unwrap());
    let (status, body) = trigger(
        &app,
        &seeded,
        json!({"phone": "+15551234567", "not_before": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(dials(&app), 1);
}

#[tokio::test]
async fn the_idempotency_key_replays_the_202_and_schedules_once() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let body = json!({"phone": "+15551234567", "when_closed": "hold"});
    let (s1, b1) = trigger_keyed(&app, &seeded, body.clone(), "hold-1").await;
    let (s2, b2) = trigger_keyed(&app, &seeded, body.clone(), "hold-1").await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(b1, b2, "the replay is the first answer");
    // Even after the window opened (the replay is consulted when the checks fail too).
    app.clock.set(MON_0900_NY.parse().unwrap());
    let (s3, b3) = trigger_keyed(&app, &seeded, body, "hold-1").await;
    assert_eq!((s3, &b3), (202, &b1));
    app.reconcile().await;
    assert_eq!(dials(&app), 1, "one call for one key");
}

#[tokio::test]
async fn a_scheduled_call_can_be_cancelled_once_and_is_never_dialed() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let (_, body) = hold(&app, &seeded).await;
    let id = call_id(&body).to_string();
    let (status, got) = call_api(&app, &seeded, "DELETE", &id).await;
    assert_eq!(
        (status, got["status"].as_str()),
        (200, Some("canceled")),
        "{got}"
    );
    assert_eq!(got["scheduled_for"], Value::Null);
    let (status, got) = call_api(&app, &seeded, "DELETE", &id).await;
    assert_eq!((status, error_code(&got)), (409, "call_not_scheduled"));
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.errors, 0);
    assert_eq!(dials(&app), 0, "a cancelled call is never dialed");

    // Unknown ids and another account's call are the same 404.
    let (status, got) = call_api(&app, &seeded, "DELETE", &Uuid::new_v4().to_string()).await;
    assert_eq!((status, error_code(&got)), (404, "call_not_found"));
    let other = app.agency().await;
    let req = ApiRequest::new("DELETE", &format!("/api/calls/{id}")).bearer(&other.api_key);
    let (status, got) = app.trigger_call(req).await;
    assert_eq!((status, error_code(&got)), (404, "call_not_found"));

    // A placed call cannot be cancelled.
    let (_, body) = trigger(&app, &seeded, json!({"phone": "+15551234567"})).await;
    let (status, got) = call_api(&app, &seeded, "DELETE", &call_id(&body).to_string()).await;
    assert_eq!((status, error_code(&got)), (409, "call_not_scheduled"));
    assert!(got["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dialing"));
}

#[tokio::test]
async fn two_reconcilers_at_once_dial_a_due_call_once() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(call_id(&hold(&app, &seeded).await.1));
    }
    app.clock.set(MON_0900_NY.parse().unwrap());
    let (a, b) = tokio::join!(app.reconcile(), app.reconcile());
    assert_eq!(
        a.count(Repaired::ScheduledCallDialed) + b.count(Repaired::ScheduledCallDialed),
        5
    );
    assert_eq!(dials(&app), 5, "one dial per held call");
    for id in ids {
        assert_eq!(app.call(id).await.status, CallStatus::Dialing);
    }
}

#[tokio::test]
async fn a_cancel_racing_the_claim_leaves_exactly_one_winner() {
    for _ in 0..20 {
        let (app, seeded) = env_at(MON_0800_NY, true).await;
        let id = call_id(&hold(&app, &seeded).await.1).to_string();
        app.clock.set(MON_0900_NY.parse().unwrap());
        let (report, (status, got)) =
            tokio::join!(app.reconcile(), call_api(&app, &seeded, "DELETE", &id));
        let status_now = app.call(id.parse().unwrap()).await.status;
        match status {
            200 => {
                assert_eq!(dials(&app), 0, "cancelled, never dialed");
                assert_eq!(status_now, CallStatus::Canceled);
                assert_eq!(report.count(Repaired::ScheduledCallDialed), 0);
            }
            409 => {
                assert_eq!(error_code(&got), "call_not_scheduled");
                assert_eq!(dials(&app), 1, "claimed, dialed once");
                assert_eq!(status_now, CallStatus::Dialing);
            }
            other => panic!("unexpected {other}: {got}"),
        }
    }
}

#[tokio::test]
async fn a_failed_claim_write_is_retried_next_pass_and_dials_once() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let id = call_id(&hold(&app, &seeded).await.1);
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.plan.fail_next("settle_call");
    let report = app.reconcile().await;
    assert_eq!((report.errors, dials(&app)), (1, 0));
    assert_eq!(app.call(id).await.status, CallStatus::Scheduled);
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallDialed), 1);
    assert_eq!(dials(&app), 1);
}

#[tokio::test]
async fn a_dial_whose_record_write_fails_is_never_dialed_again() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let id = call_id(&hold(&app, &seeded).await.1);
    app.clock.set(MON_0900_NY.parse().unwrap());
    // The provider places it, but `dialing` is not recorded: the call stays `queued`.
    app.plan.fail_next("mark_call_dialing");
    app.reconcile().await;
    assert_eq!(dials(&app), 1);
    assert_eq!(app.call(id).await.status, CallStatus::Queued);
    // Past the claim, the queued call is treated as possibly placed: `dial_unknown`, not a
    // second dial.
    app.clock
        .advance(::reconciler::repair::CLAIM + chrono::Duration::seconds(1));
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::CallMarkedDialUnknown), 1);
    app.clock.advance(chrono::Duration::hours(1));
    app.reconcile().await;
    assert_eq!(dials(&app), 1, "never dialed twice");
}

#[tokio::test]
async fn the_unknown_outcome_rules_hold_for_scheduled_calls() {
    use domain::event_rules::event_id;
    use domain::event_type::EventType;
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    app.update_account(&seeded.account.id, |a| a.events = EventType::ALL.to_vec())
        .await;
    let refused = call_id(&hold(&app, &seeded).await.1);
    let lost = call_id(&hold(&app, &seeded).await.1);
    app.provider
        .then_err(ProviderError::Status {
            status: 422,
            excerpt: "invalid number".into(),
        })
        .then_err(ProviderError::Timeout(std::time::Duration::from_secs(5)));
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 2);
    let (a, b) = (app.call(refused).await, app.call(lost).await);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [CallStatus::DialUnknown, CallStatus::Failed]);
    let failed = if a.status == CallStatus::Failed { a } else { b };
    assert_eq!(failed.failure_reason.as_deref(), Some("provider_http_422"));
    // Accepted with a 202 earlier, refused by the provider now: one call.failed (dial_failed),
    // stored with the failure and queued.
    let events: Vec<_> = app
        .store
        .events()
        .into_iter()
        .filter(|ev| ev.record.call_id == failed.id)
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].record.event_type, EventType::CallFailed);
    let payload: Value = serde_json::from_str(&events[0].record.payload).unwrap();
    assert_eq!(payload["reason"], "dial_failed");
    let id = event_id(failed.id, EventType::CallFailed);
    assert_eq!(
        app.queue
            .sent()
            .iter()
            .filter(|m| m.message.event_id == id)
            .count(),
        1
    );
    app.clock.advance(chrono::Duration::minutes(5));
    app.reconcile().await;
    assert_eq!(dials(&app), 2, "a lost answer is never dialed again");
}

/// A read failing after the claim (before any dial) gives the call back: it is `scheduled`
/// again, due at once, and the next pass dials it, once; it is not left to expire into
/// `dial_unknown` and a failure that says the provider might have been reached.
#[tokio::test]
async fn a_failed_read_after_the_claim_gives_the_call_back_and_the_next_pass_dials_it_once() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let id = call_id(&hold(&app, &seeded).await.1);
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.plan.fail_next("is_suppressed");
    app.reconcile().await;
    assert_eq!(dials(&app), 0);
    let c = app.call(id).await;
    assert_eq!(c.status, CallStatus::Scheduled, "given back");
    app.clock.set("2025-06-16T13:01:00Z".parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallDialed), 1, "{report:?}");
    assert_eq!(dials(&app), 1);
    assert_eq!(app.call(id).await.status, CallStatus::Dialing);
    app.clock.advance(chrono::Duration::minutes(5));
    app.reconcile().await;
    assert_eq!(dials(&app), 1);
}

#[tokio::test]
async fn held_calls_recheck_the_account_the_agent_the_destination_and_the_window() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let api_off = call_id(&hold(&app, &seeded).await.1);
    app.update_account(&seeded.account.id, |a| a.api_enabled = false)
        .await;
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::HeldCallFailed), 1, "{report:?}");
    let c = app.call(api_off).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Failed, Some("api_disabled"))
    );
    app.update_account(&seeded.account.id, |a| a.api_enabled = true)
        .await;

    // The agent lost its number.
    app.clock.set(MON_0800_NY.parse().unwrap());
    let no_agent = call_id(&hold(&app, &seeded).await.1);
    let mut agent = seeded.agent.clone();
    agent.phone_number = None;
    app.store.put_agent(&agent).await.unwrap();
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    let c = app.call(no_agent).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Failed, Some("agent_unavailable"))
    );
    app.store.put_agent(&seeded.agent).await.unwrap();

    // The destination policy no longer allows the country.
    app.clock.set(MON_0800_NY.parse().unwrap());
    let blocked = call_id(&hold(&app, &seeded).await.1);
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["GB".into()])
    })
    .await;
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    let c = app.call(blocked).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Failed, Some("destination_blocked"))
    );
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.allowed_countries = None
    })
    .await;

    // A premium-rate number held while its type was allowed, then no longer allowed.
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.allowed_number_types = vec![domain::number_type::NumberType::PremiumRate]
    })
    .await;
    app.clock.set(MON_0800_NY.parse().unwrap());
    let (st, body) = trigger(
        &app,
        &seeded,
        json!({"phone": "+19002345678", "when_closed": "hold"}),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let premium = call_id(&body);
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.allowed_number_types = Vec::new()
    })
    .await;
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    let c = app.call(premium).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Failed, Some("destination_blocked"))
    );

    // The window closed again (moved to the afternoon): re-scheduled, then placed.
    app.clock.set(MON_0800_NY.parse().unwrap());
    let moved = call_id(&hold(&app, &seeded).await.1);
    let afternoon: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York", "days": {"mon": {"start": "14:00", "end": "17:00"}}
    }))
    .unwrap();
    app.update_account(&seeded.account.id, |a| a.calling_window = Some(afternoon))
        .await;
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallRescheduled), 1);
    let (_, got) = call_api(&app, &seeded, "GET", &moved.to_string()).await;
    assert_eq!(
        (got["status"].as_str(), got["scheduled_for"].as_str()),
        (Some("scheduled"), Some("2025-06-16T18:00:00Z"))
    );
    assert_eq!(dials(&app), 0, "nothing placed so far");
    app.clock.set("2025-06-16T18:00:10Z".parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 1);
    assert_eq!(app.call(moved).await.status, CallStatus::Dialing);
}

#[tokio::test]
async fn the_do_not_call_list_refuses_calls_and_cancels_scheduled_ones() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let scheduled = call_id(&hold(&app, &seeded).await.1);
    let due_later = call_id(&hold(&app, &seeded).await.1);
    let path = format!("{SUPPRESSIONS}/%2B15551234567");
    let (status, body) = dashboard(&app, &seeded, "PUT", &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["phone"].as_str(), body["added"].as_bool()),
        (Some("+15551234567"), Some(true))
    );
    let (status, body) = dashboard(
        &app,
        &seeded,
        "PUT",
        &format!("{SUPPRESSIONS}/+15551234567"),
    )
    .await;
    assert_eq!(
        (status, body["added"].as_bool()),
        (200, Some(false)),
        "a raw + works too"
    );

    // Refused now, whatever the window.
    let (status, body) = hold(&app, &seeded).await;
    assert_eq!((status, error_code(&body)), (422, "number_suppressed"));
    assert_eq!(body["error"]["field"], "phone");
    app.clock.set(MON_0900_NY.parse().unwrap());
    let (status, body) = trigger(&app, &seeded, json!({"phone": "+15551234567"})).await;
    assert_eq!((status, error_code(&body)), (422, "number_suppressed"));

    // A scheduled call reads as cancelled (cancelled on read) ...
    let (status, got) = call_api(&app, &seeded, "GET", &scheduled.to_string()).await;
    assert_eq!((status, got["status"].as_str()), (200, Some("canceled")));
    assert_eq!(got["failure_reason"], "number_suppressed");
    // ... and one nobody read is cancelled when due.
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::ScheduledCallCanceled),
        1,
        "{report:?}"
    );
    let c = app.call(due_later).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Canceled, Some("number_suppressed"))
    );
    assert_eq!(dials(&app), 0, "no suppressed number dialed");

    // Removed: callable again; removing twice is a 404.
    let (status, _) = dashboard(&app, &seeded, "DELETE", &path).await;
    assert_eq!(status, 200);
    let (status, body) = dashboard(&app, &seeded, "DELETE", &path).await;
    assert_eq!((status, error_code(&body)), (404, "suppression_not_found"));
    let (status, _) = trigger(&app, &seeded, json!({"phone": "+15551234567"})).await;
    assert_eq!(status, 200);
    assert_eq!(dials(&app), 1);
}

#[tokio::test]
async fn the_do_not_call_list_pages_and_validates() {
    let (app, seeded) = env_at(MON_0900_NY, false).await;
    for n in ["+15550000003", "+15550000001", "+15550000002"] {
        let (status, _) = dashboard(
            &app,
            &seeded,
            "PUT",
            &format!("{SUPPRESSIONS}/{}", n.replace('+', "%2B")),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, page) = dashboard(&app, &seeded, "GET", &format!("{SUPPRESSIONS}?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    let phones: Vec<&str> = page["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phone"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["+15550000001", "+15550000002"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page) = dashboard(
        &app,
        &seeded,
        "GET",
        &format!("{SUPPRESSIONS}?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page["suppressions"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], Value::Null);
    for (path, code, field) in [
        (format!("{SUPPRESSIONS}/5551234"), "invalid_phone", "phone"),
        (
            format!("{SUPPRESSIONS}/%2B1%20555"),
            "invalid_phone",
            "phone",
        ),
    ] {
        let (status, body) = dashboard(&app, &seeded, "PUT", &path).await;
        assert_eq!(
            (status, error_code(&body), body["error"]["field"].as_str()),
            (400, code, Some(field)),
            "{path}"
        );
    }
    for (q, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("cursor=zzz", "invalid_cursor"),
        ("page=2", "unknown_parameter"),
    ] {
        let (status, body) = dashboard(&app, &seeded, "GET", &format!("{SUPPRESSIONS}?{q}")).await;
        assert_eq!((status, error_code(&body)), (400, code), "{q}");
    }
    // Another account's list is its own.
    let other = app.agency().await;
    assert!(!app
        .store
        .is_suppressed(&other.account.id, "+15550000001")
        .await
        .unwrap());
}

/// A held call waits for every dialing rule: at 09:00 in New York the account's window is open,
/// but a Los Angeles number is at 06:00, before the recipient's hours (08:00-21:00 by
/// default): the call is held until 08:00 in Los Angeles, and the reconciler dials it then,
/// once, and not before.
#[tokio::test]
async fn a_held_call_waits_for_the_recipients_hours_too() {
    let (app, seeded) = env_at(MON_0900_NY, true).await;
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.recipient_hours = Some(domain::recipient_hours::RecipientHours::default())
    })
    .await;
    let la = "+12135550100";
    let (status, body) = trigger(&app, &seeded, json!({"phone": la})).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "outside_recipient_hours"),
        "{body}"
    );
    assert_eq!(body["error"]["next_allowed_at"], "2025-06-16T15:00:00Z");
    let (status, body) = trigger(&app, &seeded, json!({"phone": la, "when_closed": "hold"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["scheduled_for"], "2025-06-16T15:00:00Z");
    let id = call_id(&body);

    app.clock.set("2025-06-16T14:59:59Z".parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 0, "not before the recipient's 08:00");
    app.clock.set("2025-06-16T15:00:30Z".parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::ScheduledCallDialed), 1, "{report:?}");
    assert_eq!(dials(&app), 1);
    assert_eq!(app.provider.requests()[0].to_number, la);
    assert_eq!(app.call(id).await.status, CallStatus::Dialing);
}

/// A call scheduled (`not_before`) into the recipient's hours that are then narrowed by an
/// operator is re-scheduled by the reconciler to the next instant every rule allows, not
/// dialed.
#[tokio::test]
async fn a_due_call_outside_the_recipients_hours_is_rescheduled_not_dialed() {
    let (app, seeded) = env_at(MON_0900_NY, false).await;
    let la = "+12135550100";
    let (status, body) = trigger(
        &app,
        &seeded,
        json!({"phone": la, "not_before": "2025-06-16T17:00:00Z"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = call_id(&body);
    // The operator now allows 12:00-13:00 only; at 17:00Z it is 10:00 in Los Angeles.
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.recipient_hours = Some(
            serde_json::from_value(
                json!({"applies_to": "north_america", "start": "12:00", "end": "13:00"}),
            )
            .unwrap(),
        )
    })
    .await;
    app.clock.set("2025-06-16T17:00:30Z".parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 0);
    let (_, got) = call_api(&app, &seeded, "GET", &id.to_string()).await;
    assert_eq!(got["status"], "scheduled", "{got}");
    assert_eq!(got["scheduled_for"], "2025-06-16T19:00:00Z");
    app.clock.set("2025-06-16T19:00:30Z".parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 1);
}

/// A held call that no longer passes when due is one `call.failed` (stored with the call's
/// move, queued once) with its reason, when the account subscribed to it; a later pass adds
/// none. A cancelled call gets no event.
#[tokio::test]
async fn a_held_call_that_fails_when_due_is_one_call_failed_event() {
    use domain::event_rules::event_id;
    use domain::event_type::EventType;
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    app.update_account(&seeded.account.id, |a| a.events = EventType::ALL.to_vec())
        .await;
    let failing = call_id(&hold(&app, &seeded).await.1);
    let cancelled = call_id(&hold(&app, &seeded).await.1);
    let (status, _) = call_api(&app, &seeded, "DELETE", &cancelled.to_string()).await;
    assert_eq!(status, 200);
    app.update_account(&seeded.account.id, |a| a.api_enabled = false)
        .await;
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(report.count(Repaired::HeldCallFailed), 1, "{report:?}");
    app.clock.set("2025-06-16T13:05:00Z".parse().unwrap());
    app.reconcile().await;
    let events: Vec<_> = app
        .store
        .events()
        .into_iter()
        .filter(|ev| ev.record.call_id == failing || ev.record.call_id == cancelled)
        .collect();
    assert_eq!(events.len(), 1, "one event, for the failed call only");
    assert_eq!(events[0].record.event_type, EventType::CallFailed);
    assert_eq!(events[0].record.call_id, failing);
    let payload: Value = serde_json::from_str(&events[0].record.payload).unwrap();
    assert_eq!(payload["reason"], "api_disabled");
    assert_eq!(payload["call_id"], failing.to_string());
    let id = event_id(failing, EventType::CallFailed);
    let queued = app
        .queue
        .sent()
        .iter()
        .filter(|m| m.message.event_id == id)
        .count();
    assert_eq!(queued, 1);
    assert_eq!(dials(&app), 0);
}

/// Issue 25, window 2: a held call answered 202 that then ends without being placed (it
/// fails its checks when due, or the provider refuses it) must still be reported to an account
/// on the default subscription. On today's main it got no event at all; now each gets exactly
/// one `call.completed` (duration 0, empty transcript and summary), the call `failed` with its
/// reason, and a later pass adds none.
#[tokio::test]
async fn a_held_call_that_ends_unplaced_is_one_call_completed_on_the_default_subscription() {
    use domain::event_rules::event_id;
    use domain::event_type::EventType;
    for refused_by_provider in [false, true] {
        let (app, seeded) = env_at(MON_0800_NY, true).await;
        let id = call_id(&hold(&app, &seeded).await.1);
        if refused_by_provider {
            app.provider.then_err(ProviderError::Status {
                status: 422,
                excerpt: "invalid to_number".into(),
            });
        } else {
            app.update_account(&seeded.account.id, |a| a.api_enabled = false)
                .await;
        }
        app.clock.set(MON_0900_NY.parse().unwrap());
        app.reconcile().await;
        app.clock.set("2025-06-16T13:05:00Z".parse().unwrap());
        app.reconcile().await;
        let call = app.call(id).await;
        assert_eq!(call.status, CallStatus::Failed, "{refused_by_provider}");
        let events: Vec<_> = app
            .store
            .events()
            .into_iter()
            .filter(|ev| ev.record.call_id == id)
            .collect();
        assert_eq!(
            events.len(),
            1,
            "refused by provider: {refused_by_provider}"
        );
        assert_eq!(events[0].record.event_type, EventType::CallCompleted);
        assert_eq!(events[0].record.id, event_id(id, EventType::CallCompleted));
        let body: Value = serde_json::from_str(&events[0].record.payload).unwrap();
        assert_eq!(
            (
                &body["duration_seconds"],
                &body["summary"],
                &body["transcript"]
            ),
            (&json!(0), &json!(""), &json!([]))
        );
        let queued = app
            .queue
            .sent()
            .iter()
            .filter(|m| m.message.event_id == events[0].record.id)
            .count();
        assert_eq!(queued, 1);
        assert_eq!(dials(&app), usize::from(refused_by_provider));
    }
}

/// Issue 26, item 1: a leaked key schedules calls far ahead; the customer rotates the key.
/// On main before this change every one of them was dialed when due (the call did not know
/// its key, and the reconciler checked only the API toggle). Now the rotation cancels exactly
/// the old key's scheduled calls (`canceled`, `key_rotated`, one event each on the default
/// subscription), says how many, and leaves the new key's and other accounts' calls alone;
/// nothing of the old key is dialed.
#[tokio::test]
async fn a_rotation_cancels_exactly_the_old_keys_scheduled_calls() {
    use domain::event_type::EventType;
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let mut old_calls = Vec::new();
    for _ in 0..3 {
        let (status, body) = hold(&app, &seeded).await;
        assert_eq!(status, 202, "{body}");
        old_calls.push(call_id(&body));
    }
    // Another account's scheduled call.
    let other = app.agency().await;
    let other_deps = app.ports().trigger_call(&app.tunables);
    let req = ApiRequest::post("/api/trigger-call")
        .bearer(&other.api_key)
        .json(&json!({"phone": "+14155550123", "not_before": "2025-06-16T14:00:00Z"}));
    let (status, body) = parts(&::trigger_call::handle(req.build(), &other_deps).await);
    assert_eq!(status, 202, "{body}");
    let others = call_id(&body);

    let (status, rotated) = dashboard(
        &app,
        &seeded,
        "POST",
        "/api/integrations/api-webhooks/api-key",
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(rotated["canceled_scheduled_calls"], 3, "{rotated}");
    let new_key = rotated["api_key"].as_str().unwrap().to_string();
    // A call scheduled with the new key afterwards.
    let req = ApiRequest::post("/api/trigger-call")
        .bearer(&new_key)
        .json(&json!({"phone": "+15551234567", "when_closed": "hold"}));
    let (status, body) = app.trigger_call(req).await;
    assert_eq!(status, 202, "{body}");
    let fresh = call_id(&body);

    for id in &old_calls {
        let c = app.call(*id).await;
        assert_eq!(
            (c.status, c.failure_reason.as_deref()),
            (CallStatus::Canceled, Some("key_rotated"))
        );
        let events: Vec<_> = app
            .store
            .events()
            .into_iter()
            .filter(|ev| ev.record.call_id == *id)
            .collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].record.event_type, EventType::CallCompleted);
    }
    assert_eq!(
        app.queue.sent_count(),
        3,
        "each revoked call's event queued"
    );
    assert_eq!(app.call(others).await.status, CallStatus::Scheduled);
    assert_eq!(app.call(fresh).await.status, CallStatus::Scheduled);
    // When due, only the new key's and the other account's calls are dialed.
    app.clock.set("2025-06-16T14:00:30Z".parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 2);
    for id in [fresh, others] {
        assert_eq!(app.call(id).await.status, CallStatus::Dialing);
    }
    for id in &old_calls {
        assert_eq!(app.call(*id).await.status, CallStatus::Canceled);
    }
}

/// The rotation's cancel may lose the race with the reconciler's claim, or fail outright: the
/// reconciler re-checks the key before it dials, so an old key's call is never dialed, and it
/// ends `canceled` (`key_rotated`) with its event.
#[tokio::test]
async fn an_old_keys_call_is_never_dialed_even_when_the_rotations_cancel_misses_it() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let (status, body) = hold(&app, &seeded).await;
    assert_eq!(status, 202, "{body}");
    let id = call_id(&body);
    // The rotation's cancel finds nothing (its index read fails): the key still rotates.
    app.plan.fail_always("calls_of");
    let (status, rotated) = dashboard(
        &app,
        &seeded,
        "POST",
        "/api/integrations/api-webhooks/api-key",
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(rotated["canceled_scheduled_calls"], 0);
    app.plan.clear();
    assert_eq!(app.call(id).await.status, CallStatus::Scheduled);
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::ScheduledCallCanceled),
        1,
        "{report:?}"
    );
    assert_eq!(dials(&app), 0, "an old key's call was dialed");
    let c = app.call(id).await;
    assert_eq!(
        (c.status, c.failure_reason.as_deref()),
        (CallStatus::Canceled, Some("key_rotated"))
    );
    assert_eq!(app.store.events().len(), 1);
}

/// Issue 26, item 2: the account's calls, listed through the API key and the settings API,
/// filtered and paged; the settings API's bulk cancel of scheduled calls.
#[tokio::test]
async fn calls_are_listed_filtered_and_paged_and_scheduled_ones_cancelled_in_bulk() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(call_id(&hold(&app, &seeded).await.1));
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let list = |query: &'static str| {
        let req = ApiRequest::get("/api/calls")
            .query(query)
            .bearer(&seeded.api_key);
        let deps = app.trigger_call_deps().clone();
        async move { parts(&::trigger_call::handle(req.build(), &deps).await) }
    };
    let (status, page) = list("status=scheduled&limit=2").await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![held[2].to_string(), held[1].to_string()]);
    assert_eq!(page["calls"][0]["status"], "scheduled");
    assert_eq!(
        page["calls"][0]["success"], true,
        "each row is the call's own answer"
    );
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let req = ApiRequest::get("/api/calls")
        .query(&format!("status=scheduled&limit=2&cursor={cursor}"))
        .bearer(&seeded.api_key);
    let (status, next) = app.trigger_call(req).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["calls"][0]["call_id"], held[0].to_string());
    assert_eq!(next["next_cursor"], Value::Null);
    for (query, code) in [
        ("status=ringing", "invalid_status"),
        ("limit=101", "invalid_limit"),
        ("created_after=yesterday", "invalid_time"),
        ("cursor=abc", "invalid_cursor"),
        ("sort=asc", "unknown_parameter"),
    ] {
        let (status, body) = list(query).await;
        assert_eq!((status, error_code(&body)), (400, code), "{query}: {body}");
    }
    // The integration page's list is the same.
    let (status, page) = dashboard(
        &app,
        &seeded,
        "GET",
        "/api/integrations/api-webhooks/calls?limit=10",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["calls"].as_array().unwrap().len(), 3);
    // Bulk cancel: every scheduled call, like DELETE does one; no event.
    let (status, done) = dashboard(
        &app,
        &seeded,
        "POST",
        "/api/integrations/api-webhooks/calls/cancel-scheduled",
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["canceled"].clone(), done["complete"].clone()),
        (json!(3), json!(true))
    );
    for id in &held {
        assert_eq!(app.call(*id).await.status, CallStatus::Canceled);
    }
    assert_eq!(app.store.events().len(), 0);
    let (_, again) = dashboard(
        &app,
        &seeded,
        "POST",
        "/api/integrations/api-webhooks/calls/cancel-scheduled",
    )
    .await;
    assert_eq!(again["canceled"], 0);
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    assert_eq!(dials(&app), 0);
}

/// Issue 26, item 4: the operator's kill switch. A suspended account gets 403
/// `account_suspended` on the API and on every settings route but the integration's GET
/// (which shows the suspension); its held calls are not dialed meanwhile; its webhooks keep
/// flowing; a resume lets the held call go at its next check.
#[tokio::test]
async fn a_suspended_account_is_refused_and_its_held_calls_wait() {
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let held = call_id(&hold(&app, &seeded).await.1);
    // What `bvai-admin suspend` writes (the CLI itself is tested on the emulator).
    let since = app.now();
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.suspended = Some(domain::model::Suspension {
            reason: "card chargeback".into(),
            since,
        })
    })
    .await;
    let (status, body) = hold(&app, &seeded).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "account_suspended"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("chargeback"),
        "the operator's note is not shown"
    );
    let (status, body) = dashboard(&app, &seeded, "GET", "/api/integrations/api-webhooks").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["suspended"]["since"], MON_0800_NY);
    for (method, path) in [
        ("GET", "/api/integrations/api-webhooks/deliveries"),
        ("GET", "/api/integrations/api-webhooks/calls"),
        ("POST", "/api/integrations/api-webhooks/api-key"),
    ] {
        let (status, body) = dashboard(&app, &seeded, method, path).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "account_suspended"),
            "{method} {path}: {body}"
        );
    }
    // Due while suspended: not dialed, looked at again later.
    app.clock.set(MON_0900_NY.parse().unwrap());
    let report = app.reconcile().await;
    assert_eq!(
        report.count(Repaired::ScheduledCallRescheduled),
        1,
        "{report:?}"
    );
    assert_eq!(dials(&app), 0);
    assert_eq!(app.call(held).await.status, CallStatus::Scheduled);
    app.update_account(&seeded.account.id, |a| a.guardrails.suspended = None)
        .await;
    let (status, body) = dashboard(&app, &seeded, "GET", "/api/integrations/api-webhooks").await;
    assert_eq!((status, &body["suspended"]), (200, &Value::Null));
    app.clock
        .advance(reconciler::repair::SUSPENDED_RECHECK + chrono::Duration::seconds(1));
    app.reconcile().await;
    assert_eq!(dials(&app), 1, "placed at its next check after the resume");
}

/// Issue 30: the integration page cancels one scheduled call through the settings API
/// (`DELETE /api/integrations/api-webhooks/calls/{call_id}`), with the same answers as the
/// public `DELETE /api/calls/{call_id}`, and against the reconciler's claim exactly one wins.
#[tokio::test]
async fn the_settings_api_cancels_one_scheduled_call_once() {
    let path = |id: &str| format!("/api/integrations/api-webhooks/calls/{id}");
    let (app, seeded) = env_at(MON_0800_NY, true).await;
    let kept = call_id(&hold(&app, &seeded).await.1);
    let id = call_id(&hold(&app, &seeded).await.1).to_string();
    let (status, got) = dashboard(&app, &seeded, "DELETE", &path(&id)).await;
    assert_eq!(
        (status, got["status"].as_str()),
        (200, Some("canceled")),
        "{got}"
    );
    assert_eq!(got["call_id"], id.as_str());
    assert_eq!(
        app.call(kept).await.status,
        CallStatus::Scheduled,
        "only that call"
    );
    let (status, got) = dashboard(&app, &seeded, "DELETE", &path(&id)).await;
    assert_eq!((status, error_code(&got)), (409, "call_not_scheduled"));
    assert!(got["error"]["message"]
        .as_str()
        .unwrap()
        .contains("canceled"));
    // Not a UUID, unknown, another account's: the same 404.
    for other in ["nope".to_string(), Uuid::new_v4().to_string()] {
        let (status, got) = dashboard(&app, &seeded, "DELETE", &path(&other)).await;
        assert_eq!(
            (status, error_code(&got)),
            (404, "call_not_found"),
            "{other}"
        );
    }
    let theirs = app.agency().await;
    let req = ApiRequest::new("DELETE", &path(&kept.to_string()))
        .claims(json!({"sub": "user-2", (app.tunables.account_claim.as_str()): theirs.account.id}));
    let (status, got) = app.settings(req).await;
    assert_eq!((status, error_code(&got)), (404, "call_not_found"));
    assert_eq!(app.call(kept).await.status, CallStatus::Scheduled);
    app.clock.set(MON_0900_NY.parse().unwrap());
    app.reconcile().await;
    assert_eq!(
        dials(&app),
        1,
        "the kept call is dialed, the cancelled one never"
    );
    assert_eq!(app.store.events().len(), 0, "a cancel sends no event");

    // Racing the reconciler's claim: exactly one of them wins.
    for _ in 0..10 {
        let (app, seeded) = env_at(MON_0800_NY, true).await;
        let id = call_id(&hold(&app, &seeded).await.1).to_string();
        app.clock.set(MON_0900_NY.parse().unwrap());
        let p = path(&id);
        let (report, (status, got)) =
            tokio::join!(app.reconcile(), dashboard(&app, &seeded, "DELETE", &p));
        let now = app.call(id.parse().unwrap()).await.status;
        match status {
            200 => {
                assert_eq!((dials(&app), now), (0, CallStatus::Canceled));
                assert_eq!(report.count(Repaired::ScheduledCallDialed), 0);
            }
            409 => {
                assert_eq!(error_code(&got), "call_not_scheduled");
                assert_eq!((dials(&app), now), (1, CallStatus::Dialing));
            }
            other => panic!("unexpected {other}: {got}"),
        }
    }
}
