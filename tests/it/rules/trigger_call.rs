//! trigger-call's rules on the in-memory store and a scripted provider: every refusal dials
//! nothing and writes nothing; idempotency dials once; store faults dial nothing.

use super::{error_code, App};
use domain::ids::{AccountId, CallId};
use domain::model::{CallStatus, Plan};
use domain::ports::provider::ProviderError;
use domain::ports::store::CallStore;
use integration_tests::apigw::{parts, ApiRequest, Build};
use serde_json::{json, Value};
use std::time::Duration;

const ROUTE: &str = "/api/trigger-call";

fn trigger(key: &str, body: Value) -> ApiRequest {
    ApiRequest::post(ROUTE).bearer(key).json(&body)
}

async fn send(deps: &::trigger_call::Deps, req: ApiRequest) -> (u16, Value) {
    parts(&::trigger_call::handle(req.build(), deps).await)
}

fn deps(w: &App) -> ::trigger_call::Deps {
    w.ports().trigger_call(&w.tunables)
}

/// Nothing reached the provider and no call record or idempotency record was written.
fn assert_nothing_dialled_or_written(w: &App) {
    assert_eq!(w.provider.request_count(), 0, "the provider was called");
    assert_eq!(w.plan.calls("create_phone_call"), 0);
    assert_eq!(w.plan.calls("create_call"), 0, "a call record was written");
}

#[tokio::test]
async fn places_one_call_with_the_agents_number_and_records_it_dialing() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    let (status, body) = send(
        &d,
        trigger(
            &s.api_key,
            json!({"phone": "+15551234567", "name": "Jane", "email": "jane@example.com"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call_id: CallId = body["call_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        body,
        json!({"success": true, "call_id": call_id.to_string()})
    );
    let reqs = w.provider.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].from_number, "+14155550100");
    assert_eq!(reqs[0].to_number, "+15551234567");
    assert_eq!(reqs[0].override_agent_id, s.agent.provider_agent_id);
    assert_eq!(reqs[0].metadata["call_id"], call_id.to_string());
    assert_eq!(
        reqs[0].retell_llm_dynamic_variables,
        *json!({"name": "Jane", "email": "jane@example.com"})
            .as_object()
            .unwrap()
    );
    let call = w.call(call_id).await;
    assert_eq!(call.status, CallStatus::Dialing);
    assert!(call.provider_call_id.is_some());
    assert_eq!(
        (
            w.plan.calls("create_call"),
            w.plan.calls("mark_call_dialing")
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn each_authentication_failure_has_its_own_code_and_dials_nothing() {
    let w = App::new();
    let s = w.agency().await;
    let pro = w.account_with(Plan::Pro, true).await;
    let off = w.agency().await;
    w.update_account(&off.account.id, |a| a.api_enabled = false)
        .await;
    let d = deps(&w);
    let body = json!({"phone": "+15551234567"});
    let cases = [
        (ApiRequest::post(ROUTE).json(&body), "missing_api_key"),
        (
            ApiRequest::post(ROUTE)
                .json(&body)
                .header("authorization", &format!("Basic {}", s.api_key)),
            "invalid_auth_scheme",
        ),
        (
            ApiRequest::post(ROUTE)
                .json(&body)
                .header("authorization", &s.api_key),
            "invalid_auth_scheme",
        ),
        (
            trigger("bvai_live_not-a-real-key", body.clone()),
            "invalid_api_key",
        ),
        (trigger(&off.api_key, body.clone()), "api_access_disabled"),
        (trigger(&pro.api_key, body.clone()), "plan_required"),
    ];
    for (req, code) in cases {
        let (status, res) = send(&d, req).await;
        assert_eq!((status, error_code(&res)), (403, code), "{res}");
        assert_eq!(res["success"], false);
        assert!(!res.to_string().contains(s.account.id.as_str()));
    }
    assert_nothing_dialled_or_written(&w);
    // Only the keys that reached the key lookup cost one read each.
    assert_eq!(w.plan.calls("use_key"), 3);
}

#[tokio::test]
async fn invalid_bodies_name_the_field_and_dial_nothing() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    let base = || ApiRequest::post(ROUTE).bearer(&s.api_key);
    let cases: Vec<(ApiRequest, u16, &str, Option<&str>)> = vec![
        (
            base().body("{\"phone\":\"+15551234567\"}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            base()
                .header("content-type", "application/json")
                .body("{\"phone\": "),
            400,
            "invalid_json",
            None,
        ),
        (
            base().json(&json!({"name": "Jane"})),
            400,
            "missing_field",
            Some("phone"),
        ),
        (
            base().json(&json!({"phone": "+1 (555) 123-4567"})),
            400,
            "invalid_phone",
            Some("phone"),
        ),
        (
            base().json(&json!({"phone": 15551234567u64})),
            400,
            "invalid_type",
            Some("phone"),
        ),
        (
            base().json(&json!({"phone": "+15551234567", "email": "nope"})),
            400,
            "invalid_email",
            Some("email"),
        ),
        (
            base().json(&json!({"phone": "+15551234567", "agent_id": "abc"})),
            400,
            "invalid_agent_id",
            Some("agent_id"),
        ),
        (
            base().json(&json!({"phone": "+15551234567", "callback_url": "https://x"})),
            400,
            "unknown_field",
            Some("callback_url"),
        ),
        (
            base()
                .json(&json!({"phone": "+15551234567"}))
                .header("idempotency-key", &"k".repeat(256)),
            400,
            "invalid_idempotency_key",
            Some("Idempotency-Key"),
        ),
    ];
    for (req, status, code, field) in cases {
        let (got, res) = send(&d, req).await;
        assert_eq!((got, error_code(&res)), (status, code), "{res}");
        assert_eq!(res["error"]["field"].as_str(), field, "{res}");
    }
    assert_nothing_dialled_or_written(&w);
}

#[tokio::test]
async fn unknown_and_other_accounts_agents_are_the_same_404() {
    let w = App::new();
    let s = w.agency().await;
    let other = w.agency().await;
    let d = deps(&w);
    let unknown = uuid::Uuid::new_v4();
    let (s1, r1) = send(
        &d,
        trigger(
            &s.api_key,
            json!({"phone": "+15551234567", "agent_id": unknown.to_string()}),
        ),
    )
    .await;
    let (s2, r2) = send(
        &d,
        trigger(
            &s.api_key,
            json!({"phone": "+15551234567", "agent_id": other.agent.id.to_string()}),
        ),
    )
    .await;
    assert_eq!(
        (s1, error_code(&r1), s2, error_code(&r2)),
        (404, "agent_not_found", 404, "agent_not_found")
    );
    assert_eq!(r1["error"]["field"], "agent_id");
    assert_eq!(
        r1["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&unknown.to_string(), "ID"),
        r2["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&other.agent.id.to_string(), "ID"),
    );
    assert_nothing_dialled_or_written(&w);
}

#[tokio::test]
async fn an_agent_without_a_number_or_no_default_agent_is_422() {
    let w = App::new();
    let s = w.agency().await;
    let silent = w.agent(&s.account.id, "No Line", None).await;
    let d = deps(&w);
    let (status, res) = send(
        &d,
        trigger(
            &s.api_key,
            json!({"phone": "+15551234567", "agent_id": silent.id.to_string()}),
        ),
    )
    .await;
    assert_eq!(
        (status, error_code(&res)),
        (422, "agent_has_no_phone_number")
    );
    assert_eq!(res["error"]["field"], "agent_id");

    let no_default = w.account_with(Plan::Agency, false).await;
    let (status, res) = send(
        &d,
        trigger(&no_default.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!((status, error_code(&res)), (422, "no_default_agent"));
    assert_eq!(res["error"]["field"], "agent_id");
    assert_nothing_dialled_or_written(&w);
}

#[tokio::test]
async fn a_closed_calling_window_says_when_it_opens_and_dials_once_it_has() {
    // Monday 2025-06-16 08:00 in New York (12:00Z); window 09:00-17:00 Mon/Tue.
    let w = App::in_memory("2025-06-16T12:00:00Z".parse().unwrap());
    let s = w.agency().await;
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York",
        "days": {"mon": {"start": "09:00", "end": "17:00"}, "tue": {"start": "09:00", "end": "17:00"}}
    }))
    .unwrap();
    w.update_account(&s.account.id, |a| a.calling_window = Some(window))
        .await;
    let d = deps(&w);
    let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!(
        (status, error_code(&res)),
        (422, "outside_calling_window"),
        "{res}"
    );
    assert_eq!(res["error"]["next_window_opens_at"], "2025-06-16T13:00:00Z");
    // Recipient hours are off for the fixtures: the window alone decides.
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-16T13:00:00Z");
    assert_eq!(res["error"]["field"], Value::Null);
    assert_nothing_dialled_or_written(&w);

    w.clock.set("2025-06-16T12:59:59Z".parse().unwrap());
    let (status, _) = send(&d, trigger(&s.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!(
        status, 422,
        "one second before the opening it is still closed"
    );
    w.clock.set("2025-06-16T13:00:00Z".parse().unwrap());
    let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(w.provider.request_count(), 1);
}

/// Sets the account's recipient-hours policy (`None`: the default, 08:00-21:00 for +1).
async fn recipient_hours(w: &App, account: &AccountId, policy: Option<Value>) {
    let policy = policy.map(|p| serde_json::from_value(p).expect("policy"));
    w.update_account(account, |a| a.guardrails.recipient_hours = policy)
        .await;
}

#[tokio::test]
async fn recipient_hours_by_area_code_and_country_through_trigger_call() {
    let w = App::new();
    let s = w.agency().await;
    recipient_hours(&w, &s.account.id, None).await;
    let d = deps(&w);
    // (number, now, refused until: next_allowed_at; None: placed). June 2025: DST in the US
    // and Canada; Arizona and Hawaii keep standard time.
    let cases: &[(&str, &str, Option<&str>)] = &[
        // Eastern (New York, EDT -4): 08:00 is 12:00Z.
        (
            "+12125550100",
            "2025-06-16T11:59:00Z",
            Some("2025-06-16T12:00:00Z"),
        ),
        ("+12125550100", "2025-06-16T12:00:00Z", None),
        // 21:00 EDT (01:00Z) closes until 08:00 the next day.
        (
            "+12125550100",
            "2025-06-17T01:00:00Z",
            Some("2025-06-17T12:00:00Z"),
        ),
        // Central (Chicago, CDT -5).
        (
            "+13125550100",
            "2025-06-16T12:30:00Z",
            Some("2025-06-16T13:00:00Z"),
        ),
        ("+13125550100", "2025-06-16T13:00:00Z", None),
        // Mountain (Denver, MDT -6).
        (
            "+13035550100",
            "2025-06-16T13:59:00Z",
            Some("2025-06-16T14:00:00Z"),
        ),
        // Arizona (Phoenix, MST -7 all year).
        (
            "+16235550100",
            "2025-06-16T14:00:00Z",
            Some("2025-06-16T15:00:00Z"),
        ),
        ("+16235550100", "2025-06-16T15:00:00Z", None),
        // Pacific (San Francisco, PDT -7).
        (
            "+14155550100",
            "2025-06-16T14:59:00Z",
            Some("2025-06-16T15:00:00Z"),
        ),
        // Alaska (907: Anchorage AKDT -8 and Adak HDT -9, both must be open).
        (
            "+19075550100",
            "2025-06-16T16:00:00Z",
            Some("2025-06-16T17:00:00Z"),
        ),
        ("+19075550100", "2025-06-16T17:00:00Z", None),
        // Hawaii (Honolulu, HST -10).
        (
            "+18085550100",
            "2025-06-16T17:59:00Z",
            Some("2025-06-16T18:00:00Z"),
        ),
        ("+18085550100", "2025-06-16T18:00:00Z", None),
        // Canada (Toronto, EDT -4).
        (
            "+14165550100",
            "2025-06-16T11:00:00Z",
            Some("2025-06-16T12:00:00Z"),
        ),
        // South Dakota (605): Mountain and Central; open only 14:00Z-02:00Z.
        (
            "+16055550100",
            "2025-06-16T13:30:00Z",
            Some("2025-06-16T14:00:00Z"),
        ),
        ("+16055550100", "2025-06-17T01:59:00Z", None),
        (
            "+16055550100",
            "2025-06-17T02:00:00Z",
            Some("2025-06-17T14:00:00Z"),
        ),
        // Outside North America the default does not apply: 03:00 in London is placed.
        ("+442071838750", "2025-06-16T02:00:00Z", None),
    ];
    let mut placed = 0;
    for (number, now, refused_until) in cases {
        w.clock.set(now.parse().unwrap());
        let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": number}))).await;
        match refused_until {
            Some(next) => {
                assert_eq!(
                    (status, error_code(&res)),
                    (422, "outside_recipient_hours"),
                    "{number} at {now}: {res}"
                );
                assert_eq!(res["error"]["field"], "phone", "{number} at {now}");
                assert_eq!(res["error"]["next_allowed_at"], *next, "{number} at {now}");
                assert!(res["error"].get("next_window_opens_at").is_none(), "{res}");
                let message = res["error"]["message"].as_str().unwrap();
                assert!(message.contains("08:00-21:00"), "{message}");
                assert!(
                    !message.contains(number),
                    "the number is not echoed: {message}"
                );
            }
            None => {
                assert_eq!(status, 200, "{number} at {now}: {res}");
                placed += 1;
            }
        }
        assert_eq!(
            w.provider.request_count(),
            placed,
            "{number} at {now}: dialled only when allowed"
        );
    }
    assert_eq!(placed, 7);
    assert_eq!(w.plan.calls("create_call"), placed as u64);
}

#[tokio::test]
async fn recipient_hours_across_both_dst_transitions() {
    let w = App::new();
    let s = w.agency().await;
    recipient_hours(&w, &s.account.id, None).await;
    let d = deps(&w);
    let cases: &[(&str, &str, Option<&str>)] = &[
        // Spring forward, Sunday 2025-03-09 (New York 02:00 EST -> 03:00 EDT): Saturday
        // 21:00 EST is 02:00Z; Sunday 08:00 is already EDT, 12:00Z.
        (
            "+12125550100",
            "2025-03-09T02:00:00Z",
            Some("2025-03-09T12:00:00Z"),
        ),
        ("+12125550100", "2025-03-09T12:00:00Z", None),
        // Fall back, Sunday 2025-11-02 (02:00 EDT -> 01:00 EST): Saturday 21:00 EDT is
        // 01:00Z; Sunday 08:00 EST is 13:00Z, and 12:30Z is 07:30 EST, still closed.
        (
            "+12125550100",
            "2025-11-02T01:00:00Z",
            Some("2025-11-02T13:00:00Z"),
        ),
        (
            "+12125550100",
            "2025-11-02T12:30:00Z",
            Some("2025-11-02T13:00:00Z"),
        ),
        ("+12125550100", "2025-11-02T13:00:00Z", None),
        // Arizona does not change: 08:00 MST is 15:00Z in March and November alike.
        (
            "+16235550100",
            "2025-03-09T14:59:00Z",
            Some("2025-03-09T15:00:00Z"),
        ),
        (
            "+16235550100",
            "2025-11-02T14:59:00Z",
            Some("2025-11-02T15:00:00Z"),
        ),
    ];
    for (number, now, refused_until) in cases {
        w.clock.set(now.parse().unwrap());
        let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": number}))).await;
        match refused_until {
            Some(next) => {
                assert_eq!(status, 422, "{number} at {now}: {res}");
                assert_eq!(res["error"]["next_allowed_at"], *next, "{number} at {now}");
            }
            None => assert_eq!(status, 200, "{number} at {now}: {res}"),
        }
    }
    assert_eq!(w.provider.request_count(), 2);
}

#[tokio::test]
async fn both_rules_apply_and_the_error_names_the_one_that_refused() {
    // Account window 09:00-17:00 Mon-Tue in New York (13:00Z-21:00Z in June), recipient in
    // Honolulu (08:00 HST is 18:00Z): both are open 18:00Z-21:00Z.
    let w = App::in_memory("2025-06-16T12:00:00Z".parse().unwrap());
    let s = w.agency().await;
    recipient_hours(&w, &s.account.id, None).await;
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York",
        "days": {"mon": {"start": "09:00", "end": "17:00"}, "tue": {"start": "09:00", "end": "17:00"}}
    }))
    .unwrap();
    w.update_account(&s.account.id, |a| a.calling_window = Some(window))
        .await;
    let d = deps(&w);
    let hawaii = || trigger(&s.api_key, json!({"phone": "+18085550100"}));
    // 12:00Z: both closed; the account window is named, and the call is allowed only once
    // the recipient's morning has come too.
    let (status, res) = send(&d, hawaii()).await;
    assert_eq!(
        (status, error_code(&res)),
        (422, "outside_calling_window"),
        "{res}"
    );
    assert_eq!(res["error"]["next_window_opens_at"], "2025-06-16T13:00:00Z");
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-16T18:00:00Z");
    // 14:00Z: the window is open, the recipient's hours are not.
    w.clock.set("2025-06-16T14:00:00Z".parse().unwrap());
    let (status, res) = send(&d, hawaii()).await;
    assert_eq!(
        res,
        json!({"success": false, "error": {
            "code": "outside_recipient_hours",
            "message": "it is outside the recipient's allowed hours (08:00-21:00) in Pacific/Honolulu, where this number may be; the call is allowed next at 2025-06-16T18:00:00Z (send \"when_closed\": \"hold\" to have the call placed then)",
            "field": "phone",
            "next_allowed_at": "2025-06-16T18:00:00Z",
        }})
    );
    assert_eq!(status, 422);
    assert_nothing_dialled_or_written(&w);
    // Tuesday 21:00Z: the window closed; Wednesday is off, so the next time both are open
    // is the next Monday 18:00Z.
    w.clock.set("2025-06-17T21:00:00Z".parse().unwrap());
    let (_, res) = send(&d, hawaii()).await;
    assert_eq!(error_code(&res), "outside_calling_window");
    assert_eq!(res["error"]["next_window_opens_at"], "2025-06-23T13:00:00Z");
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-23T18:00:00Z");
    w.clock.set("2025-06-16T18:00:00Z".parse().unwrap());
    let (status, res) = send(&d, hawaii()).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(w.provider.request_count(), 1);
}

#[tokio::test]
async fn the_operator_policy_moves_the_hours_across_midnight_or_everywhere_or_off() {
    let w = App::in_memory("2025-06-16T02:00:00Z".parse().unwrap());
    let s = w.agency().await;
    let d = deps(&w);
    let london = || trigger(&s.api_key, json!({"phone": "+442071838750"}));
    let la = || trigger(&s.api_key, json!({"phone": "+14155550100"}));
    // Everywhere: 03:00 in London (BST +1) is refused until 08:00 BST, 07:00Z.
    recipient_hours(
        &w,
        &s.account.id,
        Some(json!({"applies_to": "everywhere", "start": "08:00", "end": "21:00"})),
    )
    .await;
    let (status, res) = send(&d, london()).await;
    assert_eq!(
        (status, error_code(&res)),
        (422, "outside_recipient_hours"),
        "{res}"
    );
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-16T07:00:00Z");
    // Across midnight, 20:00-02:00: 19:00 in Los Angeles (02:00Z) is refused until 03:00Z;
    // 01:59 PDT (08:59Z) is placed, 02:00 PDT (09:00Z) refused until the evening.
    recipient_hours(
        &w,
        &s.account.id,
        Some(json!({"applies_to": "north_america", "start": "20:00", "end": "02:00"})),
    )
    .await;
    let (status, res) = send(&d, la()).await;
    assert_eq!(status, 422, "{res}");
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-16T03:00:00Z");
    w.clock.set("2025-06-16T08:59:00Z".parse().unwrap());
    let (status, res) = send(&d, la()).await;
    assert_eq!(status, 200, "{res}");
    w.clock.set("2025-06-16T09:00:00Z".parse().unwrap());
    let (status, res) = send(&d, la()).await;
    assert_eq!(status, 422, "{res}");
    assert_eq!(res["error"]["next_allowed_at"], "2025-06-17T03:00:00Z");
    // The London number is not North American: placed at any hour under this policy.
    let (status, res) = send(&d, london()).await;
    assert_eq!(status, 200, "{res}");
    // Off: the Los Angeles number is placed at 02:00 PDT too.
    recipient_hours(
        &w,
        &s.account.id,
        Some(json!({"applies_to": "off", "start": "08:00", "end": "21:00"})),
    )
    .await;
    let (status, res) = send(&d, la()).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(w.provider.request_count(), 3);
}

#[tokio::test]
async fn the_same_key_and_body_replay_the_answer_and_dial_once() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    let body = json!({"phone": "+15551234567", "name": "Jane"});
    let req = || trigger(&s.api_key, body.clone()).header("idempotency-key", "order-42");
    let (s1, r1) = send(&d, req()).await;
    let (s2, r2) = send(&d, req()).await;
    assert_eq!((s1, s2), (200, 200), "{r1} {r2}");
    assert_eq!(r1, r2);
    assert_eq!(w.provider.request_count(), 1, "no second call placed");

    let (status, res) = send(
        &d,
        trigger(&s.api_key, json!({"phone": "+15557654321"})).header("idempotency-key", "order-42"),
    )
    .await;
    assert_eq!((status, error_code(&res)), (409, "idempotency_key_reused"));
    assert_eq!(w.provider.request_count(), 1);

    // Another account may use the same key.
    let other = w.agency().await;
    let (status, res) = send(
        &d,
        trigger(&other.api_key, body.clone()).header("idempotency-key", "order-42"),
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(res["call_id"], r1["call_id"]);
    assert_eq!(w.provider.request_count(), 2);
}

#[tokio::test]
async fn a_provider_that_provably_placed_nothing_gives_502_and_releases_the_key() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    // Unreachable: the request never reached the provider (`Connect`).
    w.plan.fail_next("create_phone_call");
    let req = || {
        trigger(&s.api_key, json!({"phone": "+15551234567"})).header("idempotency-key", "retry-me")
    };
    let (status, res) = send(&d, req()).await;
    assert_eq!(
        (status, error_code(&res)),
        (502, "provider_unavailable"),
        "{res}"
    );
    assert_eq!(w.provider.request_count(), 0, "nothing was placed");
    assert!(
        w.store
            .idempotency(&s.account.id, "retry-me", w.now())
            .await
            .unwrap()
            .is_none(),
        "the key was released"
    );

    // A refusal (the provider answered 4xx) releases it too.
    w.provider.then_err(ProviderError::Status {
        status: 422,
        excerpt: "invalid number".into(),
    });
    let (status, _) = send(&d, req()).await;
    assert_eq!(status, 502);
    assert_eq!(w.provider.request_count(), 1);

    // The retry with the same key dials.
    let (status, res) = send(&d, req()).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(w.plan.calls("create_phone_call"), 3);
    assert_eq!(w.provider.request_count(), 2);
    assert_eq!(w.plan.calls("mark_call_failed"), 2);
    let call = w
        .call(res["call_id"].as_str().unwrap().parse().unwrap())
        .await;
    assert_eq!(call.status, CallStatus::Dialing);
}

#[tokio::test]
async fn a_failing_call_record_write_answers_500_and_dials_nothing() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    w.plan.fail_next("create_call");
    let req =
        || trigger(&s.api_key, json!({"phone": "+15551234567"})).header("idempotency-key", "k-1");
    let (status, res) = send(&d, req()).await;
    assert_eq!((status, error_code(&res)), (500, "internal_error"), "{res}");
    assert!(
        !res.to_string().contains("injected"),
        "no backend detail leaks: {res}"
    );
    assert_eq!(w.provider.request_count(), 0);
    assert!(
        w.store
            .idempotency(&s.account.id, "k-1", w.now())
            .await
            .unwrap()
            .is_none(),
        "nothing half-written"
    );
    // The retry succeeds and dials exactly once.
    let (status, _) = send(&d, req()).await;
    assert_eq!(status, 200);
    assert_eq!(w.provider.request_count(), 1);
}

/// The write took effect but its answer was lost: the request fails without dialling, and a
/// retry with the same key finds the key held by a call that never finished, and waits for
/// its answer (the idempotency wait, shortest possible here) instead of dialling.
#[tokio::test]
async fn a_call_record_write_whose_answer_was_lost_never_dials() {
    let mut w = App::new();
    w.tunables.provider_timeout = Duration::ZERO;
    let s = w.agency().await;
    let d = deps(&w);
    w.plan.fail_after_effect("create_call", 1);
    let req =
        || trigger(&s.api_key, json!({"phone": "+15551234567"})).header("idempotency-key", "k-2");
    let (status, _) = send(&d, req()).await;
    assert_eq!(status, 500);
    assert_eq!(w.provider.request_count(), 0);
    let (status, res) = send(&d, req()).await;
    assert_eq!(
        (status, error_code(&res)),
        (409, "idempotency_key_in_progress"),
        "{res}"
    );
    assert_eq!(
        w.provider.request_count(),
        0,
        "no retry dials behind a held key"
    );
    assert_eq!(w.plan.calls("create_phone_call"), 0);
}

/// A slow store write: the provider is not called until the call record is written.
#[tokio::test]
async fn the_provider_is_dialled_only_after_the_call_record_is_written() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    w.plan.delay("create_call", 1, Duration::from_millis(400));
    let req = trigger(&s.api_key, json!({"phone": "+15551234567"})).build();
    let mut fut = Box::pin(::trigger_call::handle(req, &d));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut fut)
            .await
            .is_err(),
        "still writing"
    );
    assert_eq!(
        w.provider.request_count(),
        0,
        "dialled before the record was written"
    );
    let (status, _) = parts(&fut.await);
    assert_eq!(status, 200);
    assert_eq!(w.provider.request_count(), 1);

    // A write that never completes never dials.
    w.plan.hang("create_call", 2);
    let req = trigger(&s.api_key, json!({"phone": "+15551234567"})).build();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ::trigger_call::handle(req, &d))
            .await
            .is_err()
    );
    assert_eq!(w.provider.request_count(), 1);
}

#[tokio::test]
async fn a_call_placed_but_not_recorded_as_dialing_still_answers_200() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    w.plan.fail_next("mark_call_dialing");
    let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!(status, 200, "the call was placed: {res}");
    assert_eq!(w.provider.request_count(), 1);
    let call = w
        .call(res["call_id"].as_str().unwrap().parse().unwrap())
        .await;
    assert_eq!(
        call.status,
        CallStatus::Queued,
        "left for the callbacks to move on"
    );
}

#[tokio::test]
async fn throttled_reads_and_writes_answer_429_and_dial_nothing() {
    let w = App::new();
    let s = w.agency().await;
    let d = deps(&w);
    w.plan.throttle_always("use_key");
    let (status, res) = send(&d, trigger(&s.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!((status, error_code(&res)), (429, "throttled"), "{res}");
    let w2 = App::new();
    let s2 = w2.agency().await;
    let d2 = deps(&w2);
    w2.plan.throttle_always("create_call");
    let (status, res) = send(&d2, trigger(&s2.api_key, json!({"phone": "+15551234567"}))).await;
    assert_eq!((status, error_code(&res)), (429, "throttled"), "{res}");
    assert_eq!(w.provider.request_count() + w2.provider.request_count(), 0);
}
