//! Who is calling: the session's account claim, the plan, unknown routes.

use super::*;
use domain::ids::AccountId;

#[tokio::test]
async fn get_integration_shows_the_state_but_never_the_key() {
    let (app, seeded) = app().await;
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200, "{body}");
    let info = seeded.account.api_key.clone().expect("seeded key");
    assert_eq!(
        body,
        json!({
            "success": true,
            "api_enabled": true,
            "api_key": {
                "prefix": "bvai_live_",
                "last4": info.last4,
                "created_at": domain::clock::rfc3339(info.created_at),
            },
            "webhook_url": null,
            "default_agent": {"id": seeded.agent.id.to_string(), "name": "Sales Qualifier"},
            "allowed_countries": null,
            "allowed_number_types": [],
            "events": ["call.completed"],
            "calling_window": null,
            // The fixtures switch recipient hours off (see `fixtures::seed`).
            "recipient_hours": {"applies_to": "off", "start": "08:00", "end": "21:00"},
            "suspended": null,
            "signing_secret": null,
            "endpoint": {
                "last_success_at": null,
                "consecutive_failures": 0,
                "success_rate_24h": null,
                "attempts_24h": 0,
            },
        })
    );
    assert!(body["api_key"]["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let text = body.to_string();
    assert!(!text.contains(&seeded.api_key));
    assert!(
        !text.contains(&info.hash),
        "the key hash is not shown either"
    );

    // An account without a key or default agent.
    let bare = Emulator::unique("acct_bare");
    app.store
        .create_account(&domain::model::Account::new(
            &bare,
            "Bare",
            Plan::Agency,
            Utc::now(),
        ))
        .await
        .expect("create account");
    let (status, body) = send_with(
        app.settings_deps(),
        app.in_session(&AccountId::from(&bare), ApiRequest::get(INTEGRATION)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["api_key"], Value::Null);
    assert_eq!(body["default_agent"], Value::Null);
    assert_eq!(body["api_enabled"], true);
    // A new account: no calling window, the default recipient hours.
    assert_eq!(body["calling_window"], Value::Null);
    assert_eq!(
        body["recipient_hours"],
        json!({"applies_to": "north_america", "start": "08:00", "end": "21:00"})
    );
}

#[tokio::test]
async fn calling_window_and_recipient_hours_are_shown_and_cannot_be_patched() {
    let (app, seeded) = app().await;
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "Europe/Berlin",
        "days": {"mon": {"start": "09:00", "end": "17:00"}},
    }))
    .expect("window");
    let policy: domain::recipient_hours::RecipientHours = serde_json::from_value(
        json!({"applies_to": "everywhere", "start": "09:00", "end": "20:00"}),
    )
    .expect("policy");
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.calling_window = Some(window.clone());
        a.guardrails.recipient_hours = Some(policy);
    })
    .await;
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calling_window"]["time_zone"], "Europe/Berlin");
    assert_eq!(
        body["calling_window"]["days"]["mon"],
        json!({"start": "09:00", "end": "17:00"})
    );
    assert_eq!(body["calling_window"]["days"]["tue"], "off");
    assert_eq!(
        body["recipient_hours"],
        json!({"applies_to": "everywhere", "start": "09:00", "end": "20:00"})
    );
    // Read-only: a PATCH naming either is refused like any field it does not take.
    for field in ["calling_window", "recipient_hours"] {
        let (status, body) = app
            .settings(
                app.session(&seeded, "PATCH", INTEGRATION)
                    .json(&json!({ (field): null })),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "unknown_field", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let after = app
        .store
        .account(&seeded.account.id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(after.calling_window, Some(window));
    assert_eq!(after.guardrails.recipient_hours, Some(policy));
}

/// The webhook event subscription through the real settings function and DynamoDB: the
/// default for an account item without it, a PATCH that replaces it, a 400 that writes
/// nothing, and back to the default.
#[tokio::test]
async fn event_subscriptions_round_trip_through_dynamodb() {
    let (app, seeded) = app().await;
    let id = seeded.account.id.clone();
    let events = |body: &Value| body["events"].clone();
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!((status, events(&body)), (200, json!(["call.completed"])));
    let (status, body) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .json(&json!({"events": ["call.failed", "call.started"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(events(&body), json!(["call.started", "call.failed"]));
    let (_, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(events(&body), json!(["call.started", "call.failed"]));
    let stored = app
        .store
        .account(&id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(
        stored.events,
        vec![
            domain::event_type::EventType::CallStarted,
            domain::event_type::EventType::CallFailed
        ]
    );
    for bad in [json!([]), json!(["call.finished"])] {
        let (status, body) = app
            .settings(
                app.session(&seeded, "PATCH", INTEGRATION)
                    .json(&json!({ "events": bad })),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_events");
        assert_eq!(body["error"]["field"], "events");
    }
    let after = app
        .store
        .account(&id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(
        after.version, stored.version,
        "a refused change writes nothing"
    );
    let (status, body) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .json(&json!({"events": ["call.completed"]})),
        )
        .await;
    assert_eq!((status, events(&body)), (200, json!(["call.completed"])));
}

#[tokio::test]
async fn allowed_countries_are_shown_and_cannot_be_patched() {
    let (app, seeded) = app().await;
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["GB".into(), "US".into()]);
        a.guardrails.rate_limit_per_minute = Some(10);
        a.guardrails.allowed_number_types = vec![domain::number_type::NumberType::PremiumRate];
    })
    .await;
    let (status, body) = app.settings(app.session(&seeded, "GET", INTEGRATION)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed_countries"], json!(["GB", "US"]));
    assert_eq!(body["allowed_number_types"], json!(["premium_rate"]));
    let (status, body) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .json(&json!({"allowed_number_types": ["pager"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "allowed_number_types");
    let (status, body) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .json(&json!({"allowed_countries": ["DE"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "allowed_countries");
    let after = app
        .store
        .account(&seeded.account.id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(
        after.guardrails.allowed_countries,
        Some(vec!["GB".to_string(), "US".to_string()])
    );
    // A settings save rewrites the key grant: the operator's guardrails ride along.
    let (status, _) = app
        .settings(
            app.session(&seeded, "PATCH", INTEGRATION)
                .json(&json!({"api_enabled": true, "webhook_url": null})),
        )
        .await;
    assert_eq!(status, 200);
    let grant = app
        .store
        .key_grant(&domain::api_key::hash(&seeded.api_key))
        .await
        .expect("read")
        .expect("grant");
    assert_eq!(grant.guardrails.rate_limit_per_minute, Some(10));
    assert_eq!(
        grant.guardrails.allowed_number_types,
        vec![domain::number_type::NumberType::PremiumRate]
    );
}

#[tokio::test]
async fn requests_without_a_session_are_401_on_every_route() {
    let (app, seeded) = app().await;
    let before = app.account(&seeded.account.id).await;
    for req in every_route() {
        let (status, body) = app.settings(req).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(code(&body), "unauthenticated");
        assert_eq!(body["success"], false);
    }
    // Claims present but not the account claim, or an unusable value.
    for claims in [
        json!({"sub": "user-1"}),
        json!({"sub": "user-1", "custom:account_id": ""}),
        json!({"sub": "user-1", "custom:account_id": "   "}),
        json!({"sub": "user-1", "custom:account_id": format!("{}#x", &seeded.account.id)}),
        json!({"sub": "user-1", "account_id": &seeded.account.id}),
    ] {
        for req in every_route() {
            let (status, body) = app.settings(req.claims(claims.clone())).await;
            assert_eq!((status, code(&body)), (401, "unauthenticated"), "{claims}");
        }
    }
    // A session whose account does not exist.
    for req in every_route() {
        let (status, body) = app
            .settings(app.in_session(&"acct_does_not_exist".into(), req))
            .await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"));
    }
    assert_eq!(
        app.account(&seeded.account.id).await,
        before,
        "nothing was changed"
    );
}

#[tokio::test]
async fn the_account_claim_name_is_configurable() {
    let (mut app, seeded) = app().await;
    app.retune(|t| t.account_claim = "tenant".into());
    let (status, body) = app
        .settings(
            ApiRequest::get(INTEGRATION).claims(json!({"sub": "u", "tenant": &seeded.account.id})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The default claim no longer counts.
    let default_claim = json!({"sub": "u", "custom:account_id": &seeded.account.id});
    let (status, _) = app
        .settings(ApiRequest::get(INTEGRATION).claims(default_claim))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_plan_without_api_access_is_403_on_every_route() {
    let (app, _seeded) = app().await;
    for plan in [Plan::Starter, Plan::Pro] {
        let other = fixtures::account_with(&*app.store, app.secrets.as_ref(), plan, true).await;
        let deps = app.ports().settings(&Tunables {
            secret_prefix: other.secret_prefix.clone(),
            ..app.tunables.clone()
        });
        let before = app.store.account(&other.account.id).await.unwrap().unwrap();
        for req in every_route() {
            let (status, body) = send_with(&deps, app.in_session(&other.account.id, req)).await;
            assert_eq!(status, 403, "{plan:?}: {body}");
            assert_eq!(code(&body), "plan_required");
        }
        let after = app.store.account(&other.account.id).await.unwrap().unwrap();
        assert_eq!(after, before, "no route changed the account");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let (app, seeded) = app().await;
    for path in [
        "/api/integrations/api-webhooks/nope",
        "/api/integrations",
        "/api/agents/123",
        "/",
    ] {
        let (status, body) = app.settings(app.session(&seeded, "GET", path)).await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{path}");
        // Decided before the session is looked at.
        let (status, _) = app.settings(ApiRequest::get(path)).await;
        assert_eq!(status, 404);
    }
    for (method, path, allow) in [
        ("DELETE", INTEGRATION, "GET, PATCH"),
        ("POST", INTEGRATION, "GET, PATCH"),
        ("GET", API_KEY, "POST"),
        ("PUT", AGENTS, "GET"),
        ("POST", DELIVERIES, "GET"),
    ] {
        let res = settings::handle(
            app.session(&seeded, method, path).build(),
            app.settings_deps(),
        )
        .await;
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow)
        );
        let (status, body) = parts(&res);
        assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    }
    // Trailing slashes are the same route.
    let (status, _) = app
        .settings(app.session(&seeded, "GET", "/api/agents/"))
        .await;
    assert_eq!(status, 200);
}
