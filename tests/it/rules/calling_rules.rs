//! `POST /api/integrations/api-webhooks/calling-rules/check` (issue 30's Calling rules card),
//! served by trigger-call behind the dashboard session, on the in-memory adapters with a fixed
//! clock: it answers what trigger-call would do with the same number at the same instant
//! (placed now, held until `next_allowed_at`, or refused for good), writes nothing, and counts
//! against the account's settings limit like every settings route.

use super::{error_code, App, Seeded};
use domain::model::Plan;
use domain::ports::store::SuppressionStore;
use integration_tests::apigw::{parts, ApiRequest, Build};
use serde_json::{json, Value};

const CHECK: &str = trigger_call::calling_rules::CHECK;
/// Monday 2025-06-16 08:00 in New York, 05:00 in San Francisco.
const MON_0800_NY: &str = "2025-06-16T12:00:00Z";
const NYC: &str = "+12125550123";
const SF: &str = "+14155550123";

/// The app at `now` with the seeded Agency account, under the product's default recipient
/// hours (the fixtures turn them off).
async fn at(now: &str) -> (App, Seeded) {
    let app = App::in_memory(now.parse().unwrap());
    let seeded = app.agency().await;
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.recipient_hours = Some(domain::recipient_hours::RecipientHours::default())
    })
    .await;
    (app, seeded)
}

async fn window_9_to_5_new_york(app: &App, seeded: &Seeded) {
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York",
        "days": {"mon": {"start": "09:00", "end": "17:00"}}
    }))
    .unwrap();
    app.update_account(&seeded.account.id, |a| a.calling_window = Some(window))
        .await;
}

/// The check, as `seeded`'s dashboard session, through trigger-call's handler (the function
/// that serves it).
async fn check(app: &App, seeded: &Seeded, body: Value) -> (u16, Value) {
    app.trigger_call(app.session(seeded, "POST", CHECK).json(&body))
        .await
}

/// What trigger-call answers for the same number with `"when_closed": "hold"`.
async fn hold(app: &App, seeded: &Seeded, phone: &str) -> (u16, Value) {
    let req = app
        .api(seeded, "POST", "/api/trigger-call")
        .json(&json!({"phone": phone, "when_closed": "hold"}));
    app.trigger_call(req).await
}

#[tokio::test]
async fn a_closed_calling_window_names_the_time_trigger_call_would_hold_the_call_for() {
    let (app, seeded) = at(MON_0800_NY).await;
    window_9_to_5_new_york(&app, &seeded).await;
    let (status, body) = check(&app, &seeded, json!({"phone": NYC})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "allowed_now": false, "refused": null,
               "closed_by": "calling_window", "recipient_zones": ["America/New_York"],
               "next_allowed_at": "2025-06-16T13:00:00Z"})
    );
    let (status, held) = hold(&app, &seeded, NYC).await;
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["scheduled_for"], body["next_allowed_at"]);
}

#[tokio::test]
async fn the_recipients_hours_in_the_numbers_zone_decide_when_the_window_is_open() {
    // 09:00 in New York is 06:00 in San Francisco: the account's window is open, the
    // recipient's 08:00-21:00 opens at 08:00 Pacific (15:00Z).
    let (app, seeded) = at("2025-06-16T13:00:00Z").await;
    window_9_to_5_new_york(&app, &seeded).await;
    let (status, body) = check(&app, &seeded, json!({"phone": SF})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed_by"], "recipient_hours", "{body}");
    assert_eq!(body["recipient_zones"], json!(["America/Los_Angeles"]));
    assert_eq!(body["next_allowed_at"], "2025-06-16T15:00:00Z");
    let (status, held) = hold(&app, &seeded, SF).await;
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["scheduled_for"], body["next_allowed_at"]);

    // The New York number is callable now: trigger-call would place it at once.
    let (status, body) = check(&app, &seeded, json!({"phone": NYC})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["allowed_now"],
            &body["closed_by"],
            &body["next_allowed_at"]
        ),
        (&json!(true), &Value::Null, &json!("2025-06-16T13:00:00Z"))
    );
}

#[tokio::test]
async fn refusals_no_time_lifts_carry_trigger_calls_code_and_nothing_is_written() {
    let (app, seeded) = at(MON_0800_NY).await;
    app.store
        .suppress(&seeded.account.id, NYC, app.now())
        .await
        .unwrap();
    let (status, body) = check(&app, &seeded, json!({"phone": NYC})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refused"]["code"], "number_suppressed", "{body}");
    assert_eq!(
        (&body["allowed_now"], &body["next_allowed_at"]),
        (&json!(false), &Value::Null)
    );
    // trigger-call refuses the same number with the same code and message.
    let (status, refused) = hold(&app, &seeded, NYC).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &body["refused"]["code"])
    );
    assert_eq!(refused["error"]["message"], body["refused"]["message"]);

    app.update_account(&seeded.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["GB".into()])
    })
    .await;
    let (status, body) = check(&app, &seeded, json!({"phone": SF})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refused"]["code"], "destination_not_allowed", "{body}");
    let (status, refused) = hold(&app, &seeded, SF).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &body["refused"]["code"])
    );
    // Read-only: the checks wrote no call and no event (the holds were refused too).
    assert_eq!(app.stored_event_count(), 0);
    assert_eq!(app.plan.calls("create_call"), 0);
    let (status, listed) = app
        .settings(app.session(&seeded, "GET", "/api/integrations/api-webhooks/calls"))
        .await;
    assert_eq!((status, &listed["calls"]), (200, &json!([])), "{listed}");
}

#[tokio::test]
async fn a_bad_body_is_a_400_naming_the_field() {
    let (app, seeded) = at(MON_0800_NY).await;
    for (body, code) in [
        (json!({}), "missing_field"),
        (json!({"phone": null}), "invalid_type"),
        (json!({"phone": 14155550123_u64}), "invalid_type"),
        (json!({"phone": "415 555 0123"}), "invalid_phone"),
        (json!({"phone": NYC, "at": "now"}), "unknown_field"),
    ] {
        let (status, answer) = check(&app, &seeded, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {answer}"
        );
    }
}

/// The number is read as trigger-call reads its `phone`: a bad one is the same 400, code, field
/// and message, including the near miss's suggestion (which repeats the number, normalised).
#[tokio::test]
async fn a_bad_number_is_the_400_trigger_call_gives_for_the_same_phone() {
    let (app, seeded) = at(MON_0800_NY).await;
    let error = |answer: &Value| {
        let e = &answer["error"];
        (e["code"].clone(), e["field"].clone(), e["message"].clone())
    };
    for phone in [
        json!("+1 415 555 0123"),
        json!("415 555 0123"),
        json!("+1 (415) 555-0123"),
        json!("tel:+14155550123"),
        json!(14155550123_u64),
    ] {
        let (status, checked) = check(&app, &seeded, json!({ "phone": phone })).await;
        assert_eq!(status, 400, "{phone}: {checked}");
        let req = app
            .api(&seeded, "POST", "/api/trigger-call")
            .json(&json!({ "phone": phone }));
        let (status, triggered) = app.trigger_call(req).await;
        assert_eq!(status, 400, "{phone}: {triggered}");
        assert_eq!(error(&checked), error(&triggered), "{phone}");
        assert_eq!(checked["error"]["field"], "phone", "{checked}");
    }
    let (_, near_miss) = check(&app, &seeded, json!({"phone": "+1 415 555 0123"})).await;
    assert_eq!(near_miss["error"]["code"], "invalid_phone");
    assert!(
        near_miss["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("did you mean \"+14155550123\"?"),
        "{near_miss}"
    );
}

#[tokio::test]
async fn only_the_dashboard_session_may_ask_and_the_api_key_is_not_it() {
    let (app, seeded) = at(MON_0800_NY).await;
    let body = json!({"phone": NYC});
    // The API key is trigger-call's credential, not this route's.
    let with_key = ApiRequest::post(CHECK).bearer(&seeded.api_key).json(&body);
    let (status, answer) = app.trigger_call(with_key).await;
    assert_eq!((status, error_code(&answer)), (401, "unauthenticated"));
    // Claims naming no known account, or no account at all.
    for claims in [
        json!({"sub": "user-1"}),
        json!({(app.tunables.account_claim.as_str()): "acct_nobody"}),
    ] {
        let req = ApiRequest::post(CHECK).claims(claims).json(&body);
        let (status, answer) = app.trigger_call(req).await;
        assert_eq!((status, error_code(&answer)), (401, "unauthenticated"));
    }
    // Accounts whose plan lacks the integration, as on the settings API.
    for plan in [Plan::Starter, Plan::Pro] {
        let other = app.account_with(plan, true).await;
        let before = app.account(&other.account.id).await;
        let (status, answer) = check(&app, &other, body.clone()).await;
        assert_eq!(
            (status, error_code(&answer)),
            (403, "plan_required"),
            "{plan:?}: {answer}"
        );
        assert_eq!(app.account(&other.account.id).await, before, "{plan:?}");
    }
    assert_eq!(
        app.plan.calls("count_use"),
        0,
        "refusals before the account are not counted"
    );
    assert_eq!(app.plan.calls("is_suppressed"), 0, "no check ran");
    assert_eq!(app.plan.calls("save_account"), 0);
    assert_eq!(app.plan.calls("create_call"), 0);
    assert_eq!(app.stored_event_count(), 0);
    // A suspended account reads its settings and nothing else, as on the settings API.
    app.update_account(&seeded.account.id, |a| {
        a.guardrails.suspended = Some(domain::model::Suspension {
            reason: "abuse review".into(),
            since: "2025-06-16T11:00:00Z".parse().unwrap(),
        })
    })
    .await;
    let (status, answer) = check(&app, &seeded, body).await;
    assert_eq!((status, error_code(&answer)), (403, "account_suspended"));
}

#[tokio::test]
async fn the_check_counts_against_the_settings_limit_the_settings_routes_share() {
    let (mut app, seeded) = at(MON_0800_NY).await;
    app.retune(|t| t.settings_rate_limit = 3);
    let limit_headers = |res: &lambda_http::Response<lambda_http::Body>| {
        let n = |k: &str| -> Option<u32> { res.headers().get(k)?.to_str().ok()?.parse().ok() };
        (n("ratelimit-limit"), n("ratelimit-remaining"))
    };
    // One settings request, then two checks: one window of three, one counter.
    let (status, _) = app
        .settings(app.session(&seeded, "GET", "/api/integrations/api-webhooks"))
        .await;
    assert_eq!(status, 200);
    for remaining in [1, 0] {
        let req = app
            .session(&seeded, "POST", CHECK)
            .json(&json!({"phone": NYC}));
        let res = ::trigger_call::handle(req.build(), app.trigger_call_deps()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(limit_headers(&res), (Some(3), Some(remaining)));
    }
    let suppressed_before = app.plan.calls("is_suppressed");
    let req = app
        .session(&seeded, "POST", CHECK)
        .json(&json!({"phone": NYC}));
    let res = ::trigger_call::handle(req.build(), app.trigger_call_deps()).await;
    assert_eq!(limit_headers(&res), (Some(3), Some(0)));
    assert!(res.headers().get("retry-after").is_some());
    let (status, answer) = parts(&res);
    assert_eq!(
        (status, error_code(&answer)),
        (429, "rate_limited"),
        "{answer}"
    );
    assert_eq!(
        app.plan.calls("is_suppressed"),
        suppressed_before,
        "the check did not run"
    );
    // And the settings routes see the checks spent.
    let (status, answer) = app
        .settings(app.session(&seeded, "GET", "/api/integrations/api-webhooks"))
        .await;
    assert_eq!((status, error_code(&answer)), (429, "rate_limited"));
}

/// What trigger-call does with `phone` at the app's instant, given the check's answer for the
/// same number at the same instant: the check is a second reading of trigger-call's rules
/// about the number, so the two must never disagree. Returns the kind of answer the check
/// gave, and a line naming the disagreement if there is one.
async fn disagreement(app: &App, seeded: &Seeded, phone: &str) -> (&'static str, Option<String>) {
    let (status, check) = check(app, seeded, json!({ "phone": phone })).await;
    if status != 200 {
        return ("error", Some(format!("check {status}: {check}")));
    }
    let (status, held) = hold(app, seeded, phone).await;
    let kind = if !check["refused"].is_null() {
        "refused"
    } else if check["allowed_now"] == json!(true) {
        "allowed now"
    } else if !check["next_allowed_at"].is_null() {
        "held"
    } else {
        "never"
    };
    let agrees = if !check["refused"].is_null() {
        status == 422
            && held["error"]["code"] == check["refused"]["code"]
            && held["error"]["message"] == check["refused"]["message"]
    } else if check["allowed_now"] == json!(true) {
        status == 200 && check["next_allowed_at"] == json!(domain::clock::rfc3339(app.now()))
    } else if !check["next_allowed_at"].is_null() {
        status == 202 && held["scheduled_for"] == check["next_allowed_at"]
    } else {
        let code = match check["closed_by"].as_str() {
            Some("calling_window") => "outside_calling_window",
            _ => "outside_recipient_hours",
        };
        status == 422 && held["error"]["code"] == code
    };
    let line = (!agrees).then(|| {
        format!(
            "{phone} at {}: check {check}, trigger-call (hold) {status} {held}",
            app.now()
        )
    });
    (kind, line)
}

/// Break it on purpose: the check and trigger-call, asked about the same numbers at the same
/// instants, agree every time. Every 97 minutes over a week (so every hour of the day and
/// every weekday), under two accounts' rules (New York office hours with the default
/// recipient hours; no window with recipient hours everywhere), for numbers across zones and
/// countries, a refused destination, a refused number type and a do-not-call entry: each
/// answer of the check is held to what trigger-call does with `"when_closed": "hold"`.
#[tokio::test]
async fn the_check_and_trigger_call_agree_at_every_hour_for_every_kind_of_number() {
    const NUMBERS: [&str; 8] = [
        NYC,
        SF,
        "+18085550123",  // Honolulu
        "+14165550123",  // Toronto
        "+442071234567", // London
        "+61212345678",  // Australia: several zones
        "+19002345678",  // premium rate: refused
        "+13125550199",  // on the do-not-call list
    ];
    let mut disagreements = Vec::new();
    let mut asked = 0;
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for everywhere in [false, true] {
        let (mut app, seeded) = at("2025-06-15T00:00:00Z").await;
        app.retune(|t| {
            t.api_rate_limit = 1_000_000;
            t.settings_rate_limit = 1_000_000;
        });
        if everywhere {
            app.update_account(&seeded.account.id, |a| {
                a.guardrails.recipient_hours = Some(domain::recipient_hours::RecipientHours {
                    applies_to: domain::recipient_hours::AppliesTo::Everywhere,
                    ..Default::default()
                });
                a.guardrails.allowed_countries = None;
            })
            .await;
        } else {
            let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
                "time_zone": "America/New_York",
                "days": {"mon": {"start": "09:00", "end": "17:00"},
                         "tue": {"start": "09:00", "end": "17:00"},
                         "wed": {"start": "09:00", "end": "17:00"},
                         "thu": {"start": "09:00", "end": "17:00"},
                         "fri": {"start": "09:00", "end": "17:00"}}
            }))
            .unwrap();
            app.update_account(&seeded.account.id, |a| a.calling_window = Some(window))
                .await;
        }
        app.store
            .suppress(&seeded.account.id, "+13125550199", app.now())
            .await
            .unwrap();
        for _ in 0..(7 * 24 * 60 / 97) {
            for phone in NUMBERS {
                asked += 1;
                let (kind, line) = disagreement(&app, &seeded, phone).await;
                *kinds.entry(kind).or_default() += 1;
                disagreements.extend(line);
            }
            app.clock.advance(chrono::Duration::minutes(97));
        }
    }
    assert!(asked > 1_600, "{asked} questions");
    // Every kind of answer was put to the test, many times.
    for kind in ["refused", "allowed now", "held"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 50, "{kinds:?}");
    }
    assert!(
        disagreements.is_empty(),
        "{} of {asked} answers disagree, e.g.:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(5)].join("\n")
    );
}
