//! trigger-call and the calls route against the emulator, with a real HTTP server as the
//! voice provider.

use chrono::{DateTime, Utc};
use domain::clock::{Clock, SystemClock};
use domain::ids::CallId;
use domain::model::{CallStatus, Plan};
use domain::ports::secrets::{ProviderSecret, SecretStore};
use domain::ports::store::CallStore;
use in_memory::FixedClock;
use integration_tests::apigw::{parts, ApiRequest, Build};
use integration_tests::app::{OnEmulator, TestApp};
use integration_tests::counting::{counting_dynamodb, counting_secrets, CallCounter};
use integration_tests::deps::retell;
use integration_tests::fixtures::{self, Seeded};
use integration_tests::peer::{Recorded, Reply, TestServer};
use integration_tests::Emulator;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use trigger_call::handle;

const PROVIDER_KEY: &str = "prov-test-key-0123456789";

/// The emulator flavour.
type App = TestApp<OnEmulator>;

fn provider_ok(
    delay: Duration,
) -> impl Fn(Recorded, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send>>
       + Send
       + Sync
       + 'static {
    move |_, i| {
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Reply::json(
                201,
                json!({"call_id": format!("prov_call_{i}"), "call_status": "registered", "direction": "outbound"}),
            )
        })
    }
}

/// The emulator app (its table reached through a client that counts DynamoDB requests), its
/// seeded account, the provider it dials and the DynamoDB request counter.
async fn harness_with(
    provider: TestServer,
    timeout: Duration,
    clock: Arc<dyn Clock>,
) -> (App, Seeded, TestServer, CallCounter) {
    let emulator = Emulator::connect().await;
    let (client, dynamo_calls) = counting_dynamodb(&emulator.config);
    let store = emulator.table_with_client(client).await;
    let mut app = TestApp::emulator_with(emulator, store).await;
    let seeded = app.agency().await;
    app.retune(|t| {
        t.provider_key = PROVIDER_KEY.into();
        t.provider_timeout = timeout;
    });
    app.set_provider(retell(&provider.url(), &app.tunables));
    app.set_clock(clock);
    dynamo_calls.reset();
    (app, seeded, provider, dynamo_calls)
}

async fn harness() -> (App, Seeded, TestServer, CallCounter) {
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    harness_with(provider, Duration::from_secs(5), Arc::new(SystemClock)).await
}

fn trigger(key: &str, body: Value) -> ApiRequest {
    ApiRequest::post("/api/trigger-call")
        .bearer(key)
        .json(&body)
}

async fn send(app: &App, req: ApiRequest) -> (u16, Value) {
    app.trigger_call(req).await
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn places_a_call_and_answers_exactly_as_the_spec_says() {
    let (app, seeded, provider, _dynamo_calls) = harness().await;
    let (status, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567", "name": "Jane Smith", "email": "jane@example.com", "metadata": {"source": "crm"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call_id = body["call_id"].as_str().expect("call_id").to_string();
    assert_eq!(body, json!({"success": true, "call_id": call_id}));
    uuid::Uuid::parse_str(&call_id).expect("call_id is a UUID");

    // The provider got exactly the contract's request.
    let reqs = provider.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v2/create-phone-call");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    let sent = r.json();
    assert_eq!(sent["from_number"], "+14155550100");
    assert_eq!(sent["to_number"], "+15551234567");
    assert_eq!(
        sent["override_agent_id"],
        seeded.agent.provider_agent_id.as_str()
    );
    assert_eq!(
        sent["metadata"],
        json!({"call_id": call_id, "account_id": seeded.account.id})
    );
    assert_eq!(
        sent["retell_llm_dynamic_variables"],
        json!({"name": "Jane Smith", "email": "jane@example.com"})
    );

    // The record moved to dialing with the provider's id.
    let call = app
        .store
        .call(call_id.parse().unwrap())
        .await
        .unwrap()
        .expect("call record");
    assert_eq!(call.status, CallStatus::Dialing);
    assert_eq!(call.provider_call_id.as_deref(), Some("prov_call_0"));
    assert_eq!(call.agent_id, seeded.agent.id);
    assert_eq!(call.metadata["source"], "crm");

    // And the calls route shows it.
    let (status, body) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{call_id}")).bearer(&seeded.api_key),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "dialing");
    assert_eq!(body["phone_number"], "+15551234567");
    assert_eq!(body["agent_id"], seeded.agent.id.to_string());
    assert_eq!(body["failure_reason"], Value::Null);
}

#[tokio::test]
async fn happy_path_stays_within_four_sequential_dynamodb_round_trips_and_no_secrets_calls() {
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let (mut app, seeded, provider, dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), Arc::new(SystemClock)).await;
    // Cold start: the provider secret is read once, as main.rs does.
    let (sm_client, sm_calls) = counting_secrets(&app.emu.config);
    let sm = aws_adapters::SecretsManager::new(sm_client);
    let secret_name = Emulator::unique("provider-secret");
    sm.put(&secret_name, &json!({"api_key": PROVIDER_KEY}).to_string())
        .await
        .unwrap();
    sm_calls.reset();
    let secret = ProviderSecret::load(&sm, &secret_name).await.unwrap();
    app.retune(|t| t.provider_key = secret.api_key);
    let provider = retell(&provider.url(), &app.tunables);
    app.set_provider(provider);
    assert_eq!(sm_calls.count(), 1);

    for (i, idem) in [None, Some("budget-key-1")].into_iter().enumerate() {
        dynamo_calls.reset();
        let mut req = trigger(
            &seeded.api_key,
            json!({"phone": "+15551234567", "name": format!("n{i}")}),
        );
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let (status, body) = send(&app, req).await;
        assert_eq!(status, 200, "{body}");
        let ops = dynamo_calls.operations();
        // Five requests, four in sequence: the agent and the do-not-call entry are read
        // concurrently (two GetItems).
        assert!(
            ops.len() <= 5 && ops.iter().filter(|o| *o == "GetItem").count() <= 2,
            "happy path used {} DynamoDB round trips: {ops:?}",
            ops.len()
        );
        // key grant (+ the key's rate counter: one UpdateItem), agent and do-not-call entry
        // (at once), call record (+ idempotency record), dialing (+ stored answer)
        let expected: &[&str] = match idem {
            None => &["UpdateItem", "GetItem", "GetItem", "PutItem", "UpdateItem"],
            Some(_) => &[
                "UpdateItem",
                "GetItem",
                "GetItem",
                "TransactWriteItems",
                "TransactWriteItems",
            ],
        };
        assert_eq!(ops, expected);
    }
    assert_eq!(
        sm_calls.count(),
        1,
        "warm requests must not call Secrets Manager"
    );
}

#[tokio::test]
async fn each_authentication_failure_has_its_own_code() {
    let (app, seeded, provider, _dynamo_calls) = harness().await;
    let body = json!({"phone": "+15551234567"});
    let cases = [
        (
            ApiRequest::post("/api/trigger-call").json(&body),
            "missing_api_key",
        ),
        (
            ApiRequest::post("/api/trigger-call")
                .json(&body)
                .header("authorization", &format!("Basic {}", seeded.api_key)),
            "invalid_auth_scheme",
        ),
        (
            ApiRequest::post("/api/trigger-call")
                .json(&body)
                .header("authorization", &seeded.api_key),
            "invalid_auth_scheme",
        ),
        (
            trigger("bvai_live_not-a-real-key", body.clone()),
            "invalid_api_key",
        ),
        (
            ApiRequest::post("/api/trigger-call")
                .json(&body)
                .header("authorization", "Bearer "),
            "invalid_auth_scheme",
        ),
    ];
    for (req, code) in cases {
        let (status, res) = send(&app, req).await;
        assert_eq!((status, error_code(&res)), (403, code), "{res}");
        assert_eq!(res["success"], false);
        // Nothing about the account leaks into a refusal.
        assert!(!res.to_string().contains(seeded.account.id.as_str()));
    }
    // Scheme is case-insensitive.
    let (status, _) = send(
        &app,
        ApiRequest::post("/api/trigger-call")
            .json(&body)
            .header("authorization", &format!("bearer {}", seeded.api_key)),
    )
    .await;
    assert_eq!(status, 200);
    assert!(provider.requests().len() == 1);

    // API access switched off.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.api_enabled = false
    })
    .await;
    let (status, res) = send(&app, trigger(&seeded.api_key, body.clone())).await;
    assert_eq!((status, error_code(&res)), (403, "api_access_disabled"));
    assert_eq!(
        res,
        json!({"success": false, "error": {"code": "api_access_disabled", "message": "API access is disabled for this account; enable it on the integration page"}})
    );

    // A plan without the integration.
    let secrets = app.emu.secrets();
    let pro = fixtures::account_with(app.store.as_ref(), &secrets, Plan::Pro, true).await;
    let (status, res) = send(&app, trigger(&pro.api_key, body.clone())).await;
    assert_eq!((status, error_code(&res)), (403, "plan_required"));
    let (status, res) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{}", uuid::Uuid::new_v4())).bearer(&pro.api_key),
    )
    .await;
    assert_eq!((status, error_code(&res)), (403, "plan_required"));
    assert_eq!(
        provider.requests().len(),
        1,
        "no refused request reached the provider"
    );
}

#[tokio::test]
async fn body_errors_are_clear_and_place_nothing() {
    let (app, seeded, provider, _dynamo_calls) = harness().await;
    let key = seeded.api_key.clone();
    let base = || ApiRequest::post("/api/trigger-call").bearer(&key);
    let huge = json!({"phone": "+15551234567", "metadata": {"blob": "x".repeat(70 * 1024)}});
    let cases: Vec<(ApiRequest, u16, &str, Option<&str>)> = vec![
        (
            base()
                .header("content-type", "text/plain")
                .body("{\"phone\":\"+15551234567\"}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            base().body("{\"phone\":\"+15551234567\"}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (base().json(&huge), 413, "payload_too_large", None),
        (
            base()
                .header("content-type", "application/json")
                .body("{\"phone\": "),
            400,
            "invalid_json",
            None,
        ),
        (
            base().header("content-type", "application/json").body(""),
            400,
            "invalid_json",
            None,
        ),
        (
            base()
                .header("content-type", "application/json")
                .body("[\"+15551234567\"]"),
            400,
            "invalid_body",
            None,
        ),
        (
            base()
                .header("content-type", "application/json")
                .body("\"+15551234567\""),
            400,
            "invalid_body",
            None,
        ),
        (
            base().json(&json!({"phone": 15551234567u64})),
            400,
            "invalid_type",
            Some("phone"),
        ),
        (
            base().json(&json!({"phone": null})),
            400,
            "invalid_type",
            Some("phone"),
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
            base().json(&json!({"phone": "+15551234567", "metadata": ["a"]})),
            400,
            "invalid_type",
            Some("metadata"),
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
            base().json(&json!({"phone": "+15551234567", "name": "n".repeat(201)})),
            400,
            "invalid_name",
            Some("name"),
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
        let (s, res) = send(&app, req).await;
        assert_eq!((s, error_code(&res)), (status, code), "{res}");
        assert_eq!(res["error"]["field"].as_str(), field, "{res}");
        assert!(res["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (_, res) = send(&app, base().json(&json!({"phone": "+1 (555) 123-4567"}))).await;
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("+15551234567"),
        "{res}"
    );
    assert!(
        provider.requests().is_empty(),
        "no invalid request reached the provider"
    );

    // Unicode where text is free, and a base64-encoded body (API Gateway may send one).
    let (s, res) = send(&app, base().json(&json!({"phone": "+15551234567", "name": "Zoë 山田 ☎️", "metadata": {"note": "ünïcödé"}}))).await;
    assert_eq!(s, 200, "{res}");
    let (s, res) = send(
        &app,
        base()
            .header("content-type", "application/json; charset=utf-8")
            .base64_body(br#"{"phone":"+15551234567"}"#),
    )
    .await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(
        provider.requests()[0].json()["retell_llm_dynamic_variables"]["name"],
        "Zoë 山田 ☎️"
    );
}

#[tokio::test]
async fn agent_resolution_errors() {
    let (app, seeded, provider, _dynamo_calls) = harness().await;
    let key = seeded.api_key.clone();
    let secrets = app.emu.secrets();

    // Unknown agent and another account's agent look exactly alike.
    let other = fixtures::agency(app.store.as_ref(), &secrets).await;
    let unknown = uuid::Uuid::new_v4();
    let (s1, r1) = send(
        &app,
        trigger(
            &key,
            json!({"phone": "+15551234567", "agent_id": unknown.to_string()}),
        ),
    )
    .await;
    let (s2, r2) = send(
        &app,
        trigger(
            &key,
            json!({"phone": "+15551234567", "agent_id": other.agent.id.to_string()}),
        ),
    )
    .await;
    assert_eq!((s1, error_code(&r1)), (404, "agent_not_found"));
    assert_eq!((s2, error_code(&r2)), (404, "agent_not_found"));
    assert_eq!(
        r1["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&unknown.to_string(), "ID"),
        r2["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&other.agent.id.to_string(), "ID")
    );

    // An agent without a phone number.
    let silent = fixtures::agent(app.store.as_ref(), &seeded.account.id, "No Line", None).await;
    let (s, r) = send(
        &app,
        trigger(
            &key,
            json!({"phone": "+15551234567", "agent_id": silent.id.to_string()}),
        ),
    )
    .await;
    assert_eq!((s, error_code(&r)), (422, "agent_has_no_phone_number"));

    // An explicit agent of the account is used instead of the default.
    let second = fixtures::agent(
        app.store.as_ref(),
        &seeded.account.id,
        "Closer",
        Some("+442071838750"),
    )
    .await;
    let (s, r) = send(
        &app,
        trigger(
            &key,
            json!({"phone": "+15551234567", "agent_id": second.id.to_string()}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        provider.requests()[0].json()["from_number"],
        "+442071838750"
    );

    // No default agent and none given.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.default_agent_id = None
    })
    .await;
    let (s, r) = send(&app, trigger(&key, json!({"phone": "+15551234567"}))).await;
    assert_eq!((s, error_code(&r)), (422, "no_default_agent"));
    assert_eq!(provider.requests().len(), 1);
}

#[tokio::test]
async fn calling_window_closed_says_when_it_opens() {
    // Monday 2025-06-16 08:00 in New York (12:00Z); window 09:00-17:00 weekdays.
    let now: DateTime<Utc> = "2025-06-16T12:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), clock.clone()).await;
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "America/New_York",
        "days": {"mon": {"start": "09:00", "end": "17:00"}, "tue": {"start": "09:00", "end": "17:00"}}
    }))
    .unwrap();
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.calling_window = Some(window)
    })
    .await;
    let (s, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!((s, error_code(&r)), (422, "outside_calling_window"), "{r}");
    assert_eq!(r["error"]["next_window_opens_at"], "2025-06-16T13:00:00Z");
    assert_eq!(r["error"]["next_allowed_at"], "2025-06-16T13:00:00Z");
    assert!(provider.requests().is_empty());

    clock.set("2025-06-16T13:00:00Z".parse().unwrap());
    let (s, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
}

#[tokio::test]
async fn recipient_hours_refuse_with_when_the_call_is_allowed() {
    // Monday 2025-06-16 14:00Z: 10:00 in New York, 07:00 in San Francisco (PDT).
    let now: DateTime<Utc> = "2025-06-16T14:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), clock.clone()).await;
    // Back to the default policy (the fixtures switch it off): stored in DynamoDB on the
    // account and its key grant.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.recipient_hours = None
    })
    .await;
    let sf = || trigger(&seeded.api_key, json!({"phone": "+14155550123"}));
    let (s, r) = send(&app, sf()).await;
    assert_eq!(
        r,
        json!({"success": false, "error": {
            "code": "outside_recipient_hours",
            "message": "it is outside the recipient's allowed hours (08:00-21:00) in America/Los_Angeles, where this number may be; the call is allowed next at 2025-06-16T15:00:00Z (send \"when_closed\": \"hold\" to have the call placed then)",
            "field": "phone",
            "next_allowed_at": "2025-06-16T15:00:00Z",
        }})
    );
    assert_eq!(s, 422);
    // A New York number is placed at the same instant.
    let (s, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+12125550100"})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(provider.requests().len(), 1);
    // An operator's policy on the account (here: 09:00-20:00 everywhere) is what the next
    // request reads.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.recipient_hours = Some(
            serde_json::from_value(
                json!({"applies_to": "everywhere", "start": "09:00", "end": "20:00"}),
            )
            .unwrap(),
        )
    })
    .await;
    clock.set("2025-06-16T15:00:00Z".parse().unwrap());
    let (s, r) = send(&app, sf()).await;
    assert_eq!((s, error_code(&r)), (422, "outside_recipient_hours"), "{r}");
    assert_eq!(r["error"]["next_allowed_at"], "2025-06-16T16:00:00Z");
    clock.set("2025-06-16T16:00:00Z".parse().unwrap());
    let (s, r) = send(&app, sf()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(provider.requests().len(), 2);
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let (app, seeded, provider, _dynamo_calls) = harness().await;
    let key = seeded.api_key.clone();
    let body = json!({"phone": "+15551234567", "name": "Jane"});
    let req = || trigger(&key, body.clone()).header("idempotency-key", "order-42");
    let (s1, r1) = send(&app, req()).await;
    let (s2, r2) = send(&app, req()).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2, "same key and body -> the same answer");
    assert_eq!(provider.requests().len(), 1, "no second call placed");

    let (s, r) = send(
        &app,
        trigger(&key, json!({"phone": "+15557654321"})).header("idempotency-key", "order-42"),
    )
    .await;
    assert_eq!((s, error_code(&r)), (409, "idempotency_key_reused"));

    // Keys are per account: another account may use the same key.
    let secrets = app.emu.secrets();
    let other = fixtures::agency(app.store.as_ref(), &secrets).await;
    let (s, r) = send(
        &app,
        trigger(&other.api_key, body.clone()).header("idempotency-key", "order-42"),
    )
    .await;
    assert_eq!(s, 200);
    assert_ne!(r["call_id"], r1["call_id"]);

    // A replay still answers even if the call could not be placed now (window closed since).
    let closed: domain::calling_window::CallingWindow =
        serde_json::from_value(json!({"time_zone": "UTC", "days": {}})).unwrap();
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.calling_window = Some(closed)
    })
    .await;
    let (s3, r3) = send(&app, req()).await;
    assert_eq!((s3, &r3), (200, &r1));
    assert_eq!(provider.requests().len(), 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_place_one_call() {
    let provider = TestServer::start(provider_ok(Duration::from_millis(400))).await;
    let (mut app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), Arc::new(SystemClock)).await;
    // Racing writers need DynamoDB's per-request atomicity, which the emulator lacks on its
    // own (see integration_tests::atomic).
    app.atomic_store();
    let deps = app.trigger_call_deps();
    let body = json!({"phone": "+15551234567"});
    let reqs: Vec<_> = (0..6)
        .map(|_| {
            trigger(&seeded.api_key, body.clone())
                .header("idempotency-key", "concurrent-1")
                .build()
        })
        .collect();
    let results = futures::future::join_all(reqs.into_iter().map(|r| handle(r, deps))).await;
    let answers: Vec<(u16, Value)> = results.iter().map(parts).collect();
    assert_eq!(
        provider.requests().len(),
        1,
        "exactly one call placed: {answers:?}"
    );
    let first = &answers[0];
    for a in &answers {
        assert_eq!(a, first, "every duplicate gets the first answer");
    }
    assert_eq!(first.0, 200);
}

#[tokio::test]
async fn a_provider_refusal_gives_502_and_marks_the_call_failed() {
    // A 4xx proves no call was placed (a 5xx does not: see lifecycle.rs).
    let provider = TestServer::fixed(422, json!({"error": "invalid to_number"})).await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), Arc::new(SystemClock)).await;
    let (s, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"}))
            .header("idempotency-key", "retry-me"),
    )
    .await;
    assert_eq!((s, error_code(&r)), (502, "provider_unavailable"), "{r}");
    assert!(!r.to_string().contains(PROVIDER_KEY));
    assert_calls_all_failed(&app, &seeded, "provider_http_422").await;

    // The key was released: the retry reaches the provider again rather than replaying a 502.
    let (s, _) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"}))
            .header("idempotency-key", "retry-me"),
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(provider.requests().len(), 2);
}

#[tokio::test]
async fn provider_hanging_past_the_timeout_gives_502_with_the_outcome_unknown() {
    let provider = TestServer::start(|_, _| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Reply::status(201)
    })
    .await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_millis(300), Arc::new(SystemClock)).await;
    let (s, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!(
        (s, error_code(&r)),
        (502, "provider_outcome_unknown"),
        "{r}"
    );
    // The request may have reached the provider: the call is not failed but unknown, and the
    // answer names it.
    let id = r["error"]["call_id"].as_str().unwrap();
    let (s, body) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{id}")).bearer(&seeded.api_key),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("dial_unknown")),
        "{body}"
    );
    assert_eq!(provider.requests().len(), 1);
}

/// Every call record of the account is `failed` with the reason, none left `queued`; the calls
/// route shows the same.
/// Every call of the app's table failed with exactly `reason` (a stable code: never the
/// provider's own words), in the record and in `GET /api/calls/{id}`.
async fn assert_calls_all_failed(app: &App, seeded: &Seeded, reason: &str) -> usize {
    let items = app.items_of_type("call").await;
    assert!(!items.is_empty());
    for item in &items {
        let id: CallId = item["call_id"].as_s().unwrap().parse().unwrap();
        let call = app.store.call(id).await.unwrap().unwrap();
        assert_eq!(call.status, CallStatus::Failed);
        assert_eq!(call.failure_reason.as_deref(), Some(reason));
        let (s, body) = send(
            app,
            ApiRequest::get(&format!("/api/calls/{id}")).bearer(&seeded.api_key),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(body["status"], "failed");
        assert_eq!(body["failure_reason"], reason);
    }
    items.len()
}

#[tokio::test]
async fn calls_route_hides_other_accounts_and_routes_are_strict() {
    let (app, seeded, _provider, _dynamo_calls) = harness().await;
    let (_, r) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    let call_id = r["call_id"].as_str().unwrap().to_string();
    let secrets = app.emu.secrets();
    let other = fixtures::agency(app.store.as_ref(), &secrets).await;

    let (s, theirs) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{call_id}")).bearer(&other.api_key),
    )
    .await;
    let missing = uuid::Uuid::new_v4();
    let (s2, none) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{missing}")).bearer(&other.api_key),
    )
    .await;
    assert_eq!((s, error_code(&theirs)), (404, "call_not_found"));
    assert_eq!((s2, error_code(&none)), (404, "call_not_found"));
    assert_eq!(
        theirs["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&call_id, "ID"),
        none["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&missing.to_string(), "ID")
    );
    let (s, r) = send(
        &app,
        ApiRequest::get("/api/calls/not-a-uuid").bearer(&seeded.api_key),
    )
    .await;
    assert_eq!((s, error_code(&r)), (404, "call_not_found"));
    let (s, _) = send(&app, ApiRequest::get(&format!("/api/calls/{call_id}"))).await;
    assert_eq!(s, 403);
    let (s, r) = send(
        &app,
        ApiRequest::get("/api/trigger-call").bearer(&seeded.api_key),
    )
    .await;
    assert_eq!((s, error_code(&r)), (405, "method_not_allowed"));
    let (s, r) = send(&app, ApiRequest::get("/api/nope").bearer(&seeded.api_key)).await;
    assert_eq!((s, error_code(&r)), (404, "not_found"));
}

fn rate_headers(res: &lambda_http::Response<lambda_http::Body>) -> (String, String, String) {
    let h = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<missing>")
            .to_string()
    };
    (
        h("ratelimit-limit"),
        h("ratelimit-remaining"),
        h("ratelimit-reset"),
    )
}

/// A clock 20 s into a UTC minute, so every request of the test falls in one window.
fn mid_minute_clock() -> Arc<FixedClock> {
    let minute = Utc::now().timestamp().div_euclid(60) * 60;
    Arc::new(FixedClock::new(
        DateTime::from_timestamp(minute + 20, 0).expect("time"),
    ))
}

#[tokio::test]
async fn the_key_rate_limit_refuses_the_extra_request_with_one_dynamodb_call_and_no_dial() {
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let clock = mid_minute_clock();
    let (mut app, seeded, provider, dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), clock.clone()).await;
    app.retune(|t| t.api_rate_limit = 3);
    for i in 1..=3u32 {
        let res = handle(
            trigger(&seeded.api_key, json!({"phone": "+15551234567"})).build(),
            app.trigger_call_deps(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            rate_headers(&res),
            ("3".into(), (3 - i).to_string(), "40".into()),
            "request {i}"
        );
    }
    assert_eq!(provider.requests().len(), 3);
    dynamo_calls.reset();
    let res = handle(
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})).build(),
        app.trigger_call_deps(),
    )
    .await;
    assert_eq!(rate_headers(&res), ("3".into(), "0".into(), "40".into()));
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("40")
    );
    let (status, body) = parts(&res);
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "rate_limited");
    assert_eq!(
        dynamo_calls.operations(),
        ["UpdateItem"],
        "the refusal costs the key lookup only"
    );
    assert_eq!(
        provider.requests().len(),
        3,
        "nothing dialled past the limit"
    );
    // The GET route shares the key's budget.
    let (s, body) = send(
        &app,
        ApiRequest::get(&format!("/api/calls/{}", uuid::Uuid::new_v4())).bearer(&seeded.api_key),
    )
    .await;
    assert_eq!((s, error_code(&body)), (429, "rate_limited"));
    // The next minute starts afresh.
    clock.advance(chrono::Duration::seconds(45));
    let res = handle(
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})).build(),
        app.trigger_call_deps(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(rate_headers(&res), ("3".into(), "2".into(), "55".into()));
    assert_eq!(provider.requests().len(), 4);
}

#[tokio::test]
async fn an_operator_limit_overrides_the_default_and_refusals_carry_the_headers_too() {
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), mid_minute_clock()).await;
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.rate_limit_per_minute = Some(2)
    })
    .await;
    // A 422 after the key was counted still says where the budget stands.
    let res = handle(
        trigger(&seeded.api_key, json!({"phone": "+979123456789"})).build(),
        app.trigger_call_deps(),
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(rate_headers(&res), ("2".into(), "1".into(), "40".into()));
    let res = handle(
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})).build(),
        app.trigger_call_deps(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!((s, error_code(&body)), (429, "rate_limited"), "{body}");
    assert_eq!(provider.requests().len(), 1);
}

#[tokio::test]
async fn premium_satellite_and_network_numbers_are_refused_before_any_write_or_dial() {
    let (app, seeded, provider, dynamo_calls) = harness().await;
    for phone in [
        "+979123456789",
        "+870773123456",
        "+881612345678",
        "+882161234567",
        "+883510012345",
        "+80812345678",
    ] {
        dynamo_calls.reset();
        let (s, body) = send(&app, trigger(&seeded.api_key, json!({ "phone": phone }))).await;
        assert_eq!(s, 422, "{phone}: {body}");
        assert_eq!(error_code(&body), "destination_not_allowed");
        assert_eq!(body["error"]["field"], "phone");
        assert_eq!(dynamo_calls.operations(), ["UpdateItem"], "{phone}");
    }
    assert!(provider.requests().is_empty());
    // An operator allows them for this account, and limits it to two countries.
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.non_geographic_allowed = true;
        a.guardrails.allowed_countries = Some(vec!["GB".into(), "US".into()]);
    })
    .await;
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+979123456789"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+4915123456789"})),
    )
    .await;
    assert_eq!((s, error_code(&body)), (422, "destination_not_allowed"));
    let (s, _) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+442071838750"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(provider.requests().len(), 2);
}

/// The number types refused by default, on DynamoDB: refused from the key grant alone (the one
/// UpdateItem that reads and counts the key), and allowed per type by the grant's guardrails.
#[tokio::test]
async fn premium_and_personal_numbers_are_refused_from_the_grant_alone() {
    let (app, seeded, provider, dynamo_calls) = harness().await;
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["US".into(), "GB".into()]);
    })
    .await;
    for (phone, message) in [
        ("+19002345678", "+1 900 numbers are premium-rate numbers"),
        ("+19765550123", "+1 976 numbers are premium-rate numbers"),
        ("+447012345678", "+44 70 numbers are personal numbers"),
        ("+449012345678", "+44 90 numbers are premium-rate numbers"),
    ] {
        dynamo_calls.reset();
        let (s, body) = send(&app, trigger(&seeded.api_key, json!({ "phone": phone }))).await;
        assert_eq!(
            (s, error_code(&body)),
            (422, "destination_not_allowed"),
            "{phone}: {body}"
        );
        assert_eq!(body["error"]["field"], "phone");
        let text = body["error"]["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{phone}: {text}");
        assert_eq!(dynamo_calls.operations(), ["UpdateItem"], "{phone}");
    }
    assert!(provider.requests().is_empty());
    fixtures::update_account(app.store.as_ref(), &seeded.account.id, |a| {
        a.guardrails.allowed_number_types = vec![domain::number_type::NumberType::PremiumRate];
    })
    .await;
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+19002345678"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+447012345678"})),
    )
    .await;
    assert_eq!((s, error_code(&body)), (422, "destination_not_allowed"));
    assert_eq!(provider.requests().len(), 1);
}

#[tokio::test]
async fn a_provider_error_body_never_reaches_the_customer() {
    let provider = TestServer::start(|_, _| async move {
        Reply::json(
            422,
            json!({"error": "internal: shard db-7.retell.internal rejected key_3f9a8b7c6d5e4f3a2b1c"}),
        )
    })
    .await;
    let (app, seeded, _provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), Arc::new(SystemClock)).await;
    let (s, body) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15551234567"})),
    )
    .await;
    assert_eq!((s, error_code(&body)), (502, "provider_unavailable"));
    assert!(!body.to_string().contains("shard"), "{body}");
    assert_eq!(
        assert_calls_all_failed(&app, &seeded, "provider_http_422").await,
        1
    );
}

/// Held and scheduled calls through DynamoDB: trigger-call writes the call `scheduled` under
/// the `scheduled` due kind (and its key with the 202); the do-not-call list (settings, on the
/// same table) refuses the number and cancels its scheduled call; the reconciler, on the same
/// table and the same provider client, places the due call once; `DELETE` then answers 409.
#[tokio::test]
async fn scheduled_calls_and_the_do_not_call_list_through_dynamodb() {
    use domain::ports::store::{DueKind, DueStore, DueWork};
    let start: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let (app, seeded, provider, _dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), clock.clone()).await;
    let at = "2026-03-02T16:00:00Z";
    let body = json!({"phone": "+15551234567", "not_before": at});
    let req = || trigger(&seeded.api_key, body.clone()).header("idempotency-key", "sched-1");
    let (status, first) = send(&app, req()).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        (first["status"].as_str(), first["scheduled_for"].as_str()),
        (Some("scheduled"), Some(at))
    );
    let (status, again) = send(&app, req()).await;
    assert_eq!((status, &again), (202, &first), "the key replays the 202");
    let placed_id: CallId = first["call_id"].as_str().unwrap().parse().unwrap();
    let item = app
        .store
        .client()
        .get_item()
        .table_name(app.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CALL#{placed_id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("CALL".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the call item");
    assert_eq!(item["status"].as_s().unwrap(), "scheduled");
    // Filed in the call's shard of the `scheduled` kind (`scheduled#<n>`, issue 28).
    assert_eq!(
        item["due_kind"].as_s().unwrap(),
        &aws_adapters::dynamo::keys::due_kind(
            DueKind::Scheduled,
            domain::ports::store::DueShard::call(&placed_id)
        )
    );
    assert_eq!(item["due_at"].as_s().unwrap(), "2026-03-02T16:00:00.000Z");
    let due = app
        .store
        .due(DueKind::Scheduled, at.parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|d| &d.work).collect::<Vec<_>>(),
        [&DueWork::Scheduled(placed_id)]
    );
    assert!(provider.requests().is_empty(), "nothing dialed yet");

    // A second call, to a number then put on the do-not-call list.
    let (_, other) = send(
        &app,
        trigger(
            &seeded.api_key,
            json!({"phone": "+15559876543", "not_before": at}),
        ),
    )
    .await;
    let suppressed_id = other["call_id"].as_str().unwrap().to_string();
    let (status, put) = app
        .settings(app.session(
            &seeded,
            "PUT",
            "/api/integrations/api-webhooks/suppressions/%2B15559876543",
        ))
        .await;
    assert_eq!((status, put["added"].as_bool()), (200, Some(true)), "{put}");
    let (status, list) = app
        .settings(app.session(
            &seeded,
            "GET",
            "/api/integrations/api-webhooks/suppressions",
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list["suppressions"],
        json!([{"phone": "+15559876543", "created_at": "2026-03-02T15:00:00Z"}])
    );
    let (status, refused) = send(
        &app,
        trigger(&seeded.api_key, json!({"phone": "+15559876543"})),
    )
    .await;
    assert_eq!((status, error_code(&refused)), (422, "number_suppressed"));

    // Due: the reconciler places the first once and cancels the second.
    clock.set("2026-03-02T16:00:20Z".parse().unwrap());
    let reconciler = app.ports().reconciler(&app.tunables);
    let (a, b) = tokio::join!(reconciler::run(&reconciler), reconciler::run(&reconciler));
    assert_eq!(a.errors + b.errors, 0);
    assert_eq!(provider.requests().len(), 1, "one dial");
    assert_eq!(provider.requests()[0].json()["to_number"], "+15551234567");
    let placed = app.store.call(placed_id).await.unwrap().unwrap();
    assert_eq!(placed.status, CallStatus::Dialing);
    let get = |id: String| ApiRequest::get(&format!("/api/calls/{id}")).bearer(&seeded.api_key);
    let (_, got) = send(&app, get(suppressed_id.clone())).await;
    assert_eq!(
        (got["status"].as_str(), got["failure_reason"].as_str()),
        (Some("canceled"), Some("number_suppressed"))
    );
    let (status, got) = send(
        &app,
        ApiRequest::new("DELETE", &format!("/api/calls/{placed_id}")).bearer(&seeded.api_key),
    )
    .await;
    assert_eq!((status, error_code(&got)), (409, "call_not_scheduled"));
    reconciler::run(&reconciler).await;
    assert_eq!(provider.requests().len(), 1, "never dialed twice");
}

/// The integration page's calling-rules check, which trigger-call serves behind the dashboard
/// session: through the real handler on the emulator, the do-not-call entry the settings API
/// wrote is seen, the answer's `RateLimit-*` headers are the settings limit's (one window for
/// both functions), and it costs the account read, the count and the do-not-call read.
#[tokio::test]
async fn the_calling_rules_check_answers_for_the_dashboard_from_the_table() {
    // A fixed clock: every request below counts in one rate window.
    let provider = TestServer::start(provider_ok(Duration::ZERO)).await;
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let (app, seeded, provider, dynamo_calls) =
        harness_with(provider, Duration::from_secs(5), clock).await;
    let session = |method: &str, path: &str| app.session(&seeded, method, path);
    let check = |phone: &str| {
        session("POST", trigger_call::calling_rules::CHECK).json(&json!({"phone": phone}))
    };
    let remaining = |res: &lambda_http::Response<lambda_http::Body>| -> Option<u32> {
        res.headers()
            .get("ratelimit-remaining")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    };

    // A number the settings API put on the do-not-call list.
    let (status, body) = app
        .settings(session(
            "PUT",
            "/api/integrations/api-webhooks/suppressions/%2B15551230000",
        ))
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    dynamo_calls.reset();
    let res = handle(check("+15551230000").build(), app.trigger_call_deps()).await;
    let after_one = remaining(&res).expect("RateLimit-Remaining");
    assert_eq!(
        after_one + 2,
        app.tunables.settings_rate_limit,
        "the settings route and this check, in one window"
    );
    let (status, body) = parts(&res);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refused"]["code"], "number_suppressed", "{body}");
    assert_eq!(
        (&body["allowed_now"], &body["next_allowed_at"]),
        (&json!(false), &Value::Null)
    );
    let mut ops = dynamo_calls.operations();
    ops.sort();
    assert_eq!(
        ops,
        ["GetItem", "GetItem", "UpdateItem"],
        "account, do-not-call; the count"
    );

    // A number with no rule closed (the fixtures switch recipient hours off, no window): now.
    let res = handle(check("+15551234567").build(), app.trigger_call_deps()).await;
    assert_eq!(remaining(&res), Some(after_one - 1));
    let (status, body) = parts(&res);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["allowed_now"], &body["refused"], &body["closed_by"]),
        (&json!(true), &Value::Null, &Value::Null),
        "{body}"
    );
    assert!(body["next_allowed_at"].is_string(), "{body}");
    // Nothing was written but the rate counter, and nothing dialled.
    assert!(provider.requests().is_empty());
    let (status, listed) = app
        .settings(session("GET", "/api/integrations/api-webhooks/calls"))
        .await;
    assert_eq!((status, &listed["calls"]), (200, &json!([])), "{listed}");

    // The API key is not this route's credential.
    let with_key = ApiRequest::post(trigger_call::calling_rules::CHECK)
        .bearer(&seeded.api_key)
        .json(&json!({"phone": "+15551234567"}));
    let (status, body) = send(&app, with_key).await;
    assert_eq!((status, error_code(&body)), (401, "unauthenticated"));
}
