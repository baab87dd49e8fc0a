//! The settings API against the emulator: every route and error, key rotation (also racing),
//! webhook URL rules, the cross-function effect of the on/off switch, the agent list and the
//! delivery log's pagination. Requests are API Gateway HTTP API events with JWT claims.

use aws_adapters::dynamo::keys;
use aws_adapters::DynamoStore;
use aws_adapters::SecretsManager;
use chrono::{DateTime, TimeZone, Utc};
use domain::clock::Clock;
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, Plan};
use domain::ports::secrets::{account_key_secret_name, SecretStore};
use domain::ports::store::{AccountStore, DeliveryLog};
use futures::future::join_all;
use in_memory::{FaultPlan, FaultySecrets, FaultyStore, FixedClock};
use integration_tests::apigw::{parts, ApiRequest, Build};
use integration_tests::deps::{retell, Ports, Tunables};
use integration_tests::fixtures::{self, Seeded};
use integration_tests::peer::TestServer;
use integration_tests::Emulator;
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

const INTEGRATION: &str = "/api/integrations/api-webhooks";
const API_KEY: &str = "/api/integrations/api-webhooks/api-key";
const DELIVERIES: &str = "/api/integrations/api-webhooks/deliveries";
const AGENTS: &str = "/api/agents";

struct Harness {
    emu: Emulator,
    store: Arc<DynamoStore>,
    secrets: Arc<SecretsManager>,
    clock: Arc<FixedClock>,
    seeded: Seeded,
    ports: Ports,
    tunables: Tunables,
    deps: settings::Deps,
}

/// Now, at millisecond precision (what the store keeps).
fn now_ms() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid time")
}

impl Harness {
    async fn new() -> Harness {
        let emu = Emulator::connect().await;
        let store = Arc::new(emu.table().await);
        let secrets = Arc::new(emu.secrets());
        let seeded = fixtures::agency(&*store, secrets.as_ref()).await;
        let clock = Arc::new(FixedClock::new(now_ms()));
        let ports = Ports {
            store: store.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            ..Ports::emulator(&emu, &store, &emu.queue().await)
        };
        let tunables = Tunables {
            allow_insecure_local: false,
            ..Tunables::for_account(&seeded)
        };
        let deps = ports.settings(&tunables);
        Harness {
            emu,
            store,
            secrets,
            clock,
            seeded,
            ports,
            tunables,
            deps,
        }
    }

    fn id(&self) -> &str {
        &self.seeded.account.id
    }

    /// A request of the seeded account's dashboard session.
    fn req(&self, method: &str, path: &str) -> ApiRequest {
        as_account(ApiRequest::new(method, path), self.id())
    }

    async fn send(&self, req: ApiRequest) -> (u16, Value) {
        send_with(&self.deps, req).await
    }

    async fn patch(&self, body: Value) -> (u16, Value) {
        self.send(self.req("PATCH", INTEGRATION).json(&body)).await
    }

    async fn account(&self) -> domain::model::Account {
        self.store
            .account(self.id())
            .await
            .expect("read account")
            .expect("account exists")
    }

    async fn secret(&self) -> String {
        self.secrets
            .get(&account_key_secret_name(
                &self.seeded.secret_prefix,
                self.id(),
            ))
            .await
            .expect("read the account's key secret")
    }

    /// The same table reached through a client whose requests are atomic (see
    /// `OneRequestAtATime`), and settings deps using it.
    fn isolated(&self) -> (Arc<DynamoStore>, settings::Deps) {
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.emu.config)
            .http_client(integration_tests::atomic::one_request_at_a_time())
            .build();
        let store = Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            self.store.table(),
        ));
        let deps = Ports {
            store: store.clone(),
            ..self.ports.clone()
        }
        .settings(&self.tunables);
        (store, deps)
    }

    /// trigger-call's dependencies on the same table, with a provider that accepts every call.
    fn trigger_deps(&self, provider: &TestServer) -> trigger_call::Deps {
        Ports {
            provider: retell(&provider.url(), &self.tunables),
            ..self.ports.clone()
        }
        .trigger_call(&self.tunables)
    }

    /// The settings deps with other tunables (the same ports).
    fn retuned(&mut self, change: impl FnOnce(&mut Tunables)) {
        change(&mut self.tunables);
        self.deps = self.ports.settings(&self.tunables);
    }

    /// API key grant items (`APIKEY#...`) that point at this account: the valid keys.
    async fn grant_items(&self) -> usize {
        let out = self
            .emu
            .dynamodb()
            .scan()
            .table_name(self.store.table())
            .filter_expression("begins_with(pk, :p) AND account_id = :a")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S("APIKEY#".into()),
            )
            .expression_attribute_values(
                ":a",
                aws_sdk_dynamodb::types::AttributeValue::S(self.id().into()),
            )
            .send()
            .await
            .expect("scan");
        out.items().len()
    }
}

fn as_account(req: ApiRequest, id: &str) -> ApiRequest {
    req.claims(json!({"sub": "user-7f3a", "custom:account_id": id, "email": "owner@example.com"}))
}

async fn send_with(deps: &settings::Deps, req: ApiRequest) -> (u16, Value) {
    parts(&settings::handle(req.build(), deps).await)
}

async fn provider() -> TestServer {
    TestServer::fixed(
        201,
        json!({"call_id": "prov_call_1", "call_status": "registered", "direction": "outbound"}),
    )
    .await
}

async fn trigger(deps: &trigger_call::Deps, key: &str) -> (u16, Value) {
    let req = ApiRequest::post("/api/trigger-call")
        .bearer(key)
        .json(&json!({"phone": "+15551234567", "name": "Jane Smith"}));
    parts(&trigger_call::handle(req.build(), deps).await)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or("<none>")
}

/// One request of every route, with a body that would succeed.
fn every_route() -> Vec<ApiRequest> {
    vec![
        ApiRequest::get(INTEGRATION),
        ApiRequest::patch(INTEGRATION).json(&json!({"api_enabled": false})),
        ApiRequest::post(API_KEY),
        ApiRequest::get("/api/integrations/api-webhooks/signing-secret"),
        ApiRequest::post("/api/integrations/api-webhooks/signing-secret"),
        ApiRequest::get(DELIVERIES),
        ApiRequest::get(AGENTS),
        ApiRequest::post("/api/integrations/api-webhooks/test"),
        ApiRequest::post(&format!("{DELIVERIES}/{}/redeliver", Uuid::new_v4())),
    ]
}

// ---------------------------------------------------------------------------------------------
// Who is calling

#[tokio::test]
async fn get_integration_shows_the_state_but_never_the_key() {
    let h = Harness::new().await;
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(status, 200, "{body}");
    let info = h.seeded.account.api_key.clone().expect("seeded key");
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
            "default_agent": {"id": h.seeded.agent.id.to_string(), "name": "Sales Qualifier"},
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
    assert!(!text.contains(&h.seeded.api_key));
    assert!(
        !text.contains(&info.hash),
        "the key hash is not shown either"
    );

    // An account without a key or default agent.
    let bare = Emulator::unique("acct_bare");
    h.store
        .create_account(&domain::model::Account::new(
            &bare,
            "Bare",
            Plan::Agency,
            Utc::now(),
        ))
        .await
        .expect("create account");
    let (status, body) = send_with(&h.deps, as_account(ApiRequest::get(INTEGRATION), &bare)).await;
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
    let h = Harness::new().await;
    let window: domain::calling_window::CallingWindow = serde_json::from_value(json!({
        "time_zone": "Europe/Berlin",
        "days": {"mon": {"start": "09:00", "end": "17:00"}},
    }))
    .expect("window");
    let policy: domain::recipient_hours::RecipientHours = serde_json::from_value(
        json!({"applies_to": "everywhere", "start": "09:00", "end": "20:00"}),
    )
    .expect("policy");
    fixtures::update_account(h.store.as_ref(), &h.seeded.account.id, |a| {
        a.calling_window = Some(window.clone());
        a.guardrails.recipient_hours = Some(policy);
    })
    .await;
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
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
        let (status, body) = h
            .send(h.req("PATCH", INTEGRATION).json(&json!({ (field): null })))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "unknown_field", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let after = h
        .store
        .account(&h.seeded.account.id)
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
    let h = Harness::new().await;
    let id = h.seeded.account.id.clone();
    let events = |body: &Value| body["events"].clone();
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!((status, events(&body)), (200, json!(["call.completed"])));
    let (status, body) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .json(&json!({"events": ["call.failed", "call.started"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(events(&body), json!(["call.started", "call.failed"]));
    let (_, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(events(&body), json!(["call.started", "call.failed"]));
    let stored = h.store.account(&id).await.expect("read").expect("account");
    assert_eq!(
        stored.events,
        vec![
            domain::event_type::EventType::CallStarted,
            domain::event_type::EventType::CallFailed
        ]
    );
    for bad in [json!([]), json!(["call.finished"])] {
        let (status, body) = h
            .send(h.req("PATCH", INTEGRATION).json(&json!({ "events": bad })))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_events");
        assert_eq!(body["error"]["field"], "events");
    }
    let after = h.store.account(&id).await.expect("read").expect("account");
    assert_eq!(
        after.version, stored.version,
        "a refused change writes nothing"
    );
    let (status, body) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .json(&json!({"events": ["call.completed"]})),
        )
        .await;
    assert_eq!((status, events(&body)), (200, json!(["call.completed"])));
}

#[tokio::test]
async fn allowed_countries_are_shown_and_cannot_be_patched() {
    let h = Harness::new().await;
    fixtures::update_account(h.store.as_ref(), &h.seeded.account.id, |a| {
        a.guardrails.allowed_countries = Some(vec!["GB".into(), "US".into()]);
        a.guardrails.rate_limit_per_minute = Some(10);
        a.guardrails.allowed_number_types = vec![domain::number_type::NumberType::PremiumRate];
    })
    .await;
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed_countries"], json!(["GB", "US"]));
    assert_eq!(body["allowed_number_types"], json!(["premium_rate"]));
    let (status, body) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .json(&json!({"allowed_number_types": ["pager"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "allowed_number_types");
    let (status, body) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .json(&json!({"allowed_countries": ["DE"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "allowed_countries");
    let after = h
        .store
        .account(&h.seeded.account.id)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(
        after.guardrails.allowed_countries,
        Some(vec!["GB".to_string(), "US".to_string()])
    );
    // A settings save rewrites the key grant: the operator's guardrails ride along.
    let (status, _) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .json(&json!({"api_enabled": true, "webhook_url": null})),
        )
        .await;
    assert_eq!(status, 200);
    let grant = h
        .store
        .key_grant(&domain::api_key::hash(&h.seeded.api_key))
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
    let h = Harness::new().await;
    let before = h.account().await;
    for req in every_route() {
        let (status, body) = h.send(req).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(code(&body), "unauthenticated");
        assert_eq!(body["success"], false);
    }
    // Claims present but not the account claim, or an unusable value.
    for claims in [
        json!({"sub": "user-1"}),
        json!({"sub": "user-1", "custom:account_id": ""}),
        json!({"sub": "user-1", "custom:account_id": "   "}),
        json!({"sub": "user-1", "custom:account_id": format!("{}#x", h.id())}),
        json!({"sub": "user-1", "account_id": h.id()}),
    ] {
        for req in every_route() {
            let (status, body) = h.send(req.claims(claims.clone())).await;
            assert_eq!((status, code(&body)), (401, "unauthenticated"), "{claims}");
        }
    }
    // A session whose account does not exist.
    for req in every_route() {
        let (status, body) = h.send(as_account(req, "acct_does_not_exist")).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"));
    }
    assert_eq!(h.account().await, before, "nothing was changed");
}

#[tokio::test]
async fn the_account_claim_name_is_configurable() {
    let mut h = Harness::new().await;
    h.retuned(|t| t.account_claim = "tenant".into());
    let (status, body) = h
        .send(ApiRequest::get(INTEGRATION).claims(json!({"sub": "u", "tenant": h.id()})))
        .await;
    assert_eq!(status, 200, "{body}");
    // The default claim no longer counts.
    let (status, _) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_plan_without_api_access_is_403_on_every_route() {
    let h = Harness::new().await;
    for plan in [Plan::Starter, Plan::Pro] {
        let other = fixtures::account_with(&*h.store, h.secrets.as_ref(), plan, true).await;
        let deps = h.ports.settings(&Tunables {
            secret_prefix: other.secret_prefix.clone(),
            ..h.tunables.clone()
        });
        let before = h.store.account(&other.account.id).await.unwrap().unwrap();
        for req in every_route() {
            let (status, body) = send_with(&deps, as_account(req, &other.account.id)).await;
            assert_eq!(status, 403, "{plan:?}: {body}");
            assert_eq!(code(&body), "plan_required");
        }
        let after = h.store.account(&other.account.id).await.unwrap().unwrap();
        assert_eq!(after, before, "no route changed the account");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let h = Harness::new().await;
    for path in [
        "/api/integrations/api-webhooks/nope",
        "/api/integrations",
        "/api/agents/123",
        "/",
    ] {
        let (status, body) = h.send(h.req("GET", path)).await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{path}");
        // Decided before the session is looked at.
        let (status, _) = h.send(ApiRequest::get(path)).await;
        assert_eq!(status, 404);
    }
    for (method, path, allow) in [
        ("DELETE", INTEGRATION, "GET, PATCH"),
        ("POST", INTEGRATION, "GET, PATCH"),
        ("GET", API_KEY, "POST"),
        ("PUT", AGENTS, "GET"),
        ("POST", DELIVERIES, "GET"),
    ] {
        let res = settings::handle(h.req(method, path).build(), &h.deps).await;
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow)
        );
        let (status, body) = parts(&res);
        assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    }
    // Trailing slashes are the same route.
    let (status, _) = h.send(h.req("GET", "/api/agents/")).await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------------------------------------
// The API key

#[tokio::test]
async fn the_new_key_is_shown_once_equals_the_secret_and_the_old_key_stops_working() {
    let h = Harness::new().await;
    let provider = provider().await;
    let td = h.trigger_deps(&provider);
    let old_key = h.seeded.api_key.clone();
    let (status, body) = trigger(&td, &old_key).await;
    assert_eq!(status, 200, "the seeded key works before rotation: {body}");
    let call_id = body["call_id"].as_str().expect("call id").to_string();

    let mut responses: Vec<Value> = Vec::new();
    responses.push(h.send(h.req("GET", INTEGRATION)).await.1);
    let (status, rotated) = h.send(h.req("POST", API_KEY)).await;
    assert_eq!(status, 201, "{rotated}");
    responses.push(rotated.clone());
    let key = rotated["api_key"]
        .as_str()
        .expect("key in body")
        .to_string();

    // Shape: recognisable prefix, 256 random bits (43 base64url characters).
    assert!(key.starts_with(domain::api_key::KEY_PREFIX));
    let random = &key[domain::api_key::KEY_PREFIX.len()..];
    assert_eq!(random.len(), 43);
    assert!(random
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(rotated["success"], true);
    assert_eq!(rotated["prefix"], "bvai_live_");
    assert_eq!(rotated["last4"], key[key.len() - 4..]);
    assert_eq!(rotated["created_at"], domain::clock::rfc3339(h.clock.now()));
    assert_eq!(
        rotated["message"],
        "store this key now; it is shown only once"
    );
    assert_ne!(key, old_key);

    // Secrets Manager holds exactly this key; DynamoDB only its SHA-256.
    assert_eq!(h.secret().await, key);
    let account = h.account().await;
    assert_eq!(
        account.api_key.as_ref().map(|k| k.hash.clone()),
        Some(domain::api_key::hash(&key))
    );
    let scan = h
        .emu
        .dynamodb()
        .scan()
        .table_name(h.store.table())
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains(&domain::api_key::hash(&key)));
    assert!(!dump.contains(&key), "the plaintext key is not in DynamoDB");
    assert_eq!(h.grant_items().await, 1);

    // The previous key is refused at once, by both public routes; the new one works.
    let (status, body) = trigger(&td, &old_key).await;
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
    let get_call = |k: &str| {
        ApiRequest::get(&format!("/api/calls/{call_id}"))
            .bearer(k)
            .build()
    };
    let (status, body) = parts(&trigger_call::handle(get_call(&old_key), &td).await);
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
    let (status, _) = parts(&trigger_call::handle(get_call(&key), &td).await);
    assert_eq!(status, 200);
    let (status, body) = trigger(&td, &key).await;
    assert_eq!(status, 200, "{body}");

    // Every other route's answer, none of which may carry the key.
    responses.push(h.send(h.req("GET", INTEGRATION)).await.1);
    responses.push(
        h.patch(json!({"webhook_url": "https://hooks.example.com/in"}))
            .await
            .1,
    );
    responses.push(h.send(h.req("GET", AGENTS)).await.1);
    responses.push(h.send(h.req("GET", DELIVERIES)).await.1);
    let with_key = responses
        .iter()
        .filter(|r| r.to_string().contains(&key))
        .count();
    assert_eq!(with_key, 1, "the key appears in exactly one response");
    let after = &responses[2];
    assert_eq!(after["api_key"]["last4"], rotated["last4"]);
    assert_eq!(after["api_key"]["created_at"], rotated["created_at"]);

    // Regenerating again replaces the secret's value and revokes this key too.
    let res = settings::handle(h.req("POST", API_KEY).build(), &h.deps).await;
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "the key must not be cached anywhere"
    );
    let (status, again) = parts(&res);
    assert_eq!(status, 201);
    let newer = again["api_key"].as_str().expect("key").to_string();
    assert_ne!(newer, key);
    assert_eq!(h.secret().await, newer);
    assert_eq!(trigger(&td, &key).await.0, 403);
    assert_eq!(h.grant_items().await, 1);
}

#[tokio::test]
async fn key_generation_takes_no_fields() {
    let h = Harness::new().await;
    let before = h.account().await;
    let (status, body) = h
        .send(h.req("POST", API_KEY).json(&json!({"name": "ci"})))
        .await;
    assert_eq!(
        (status, code(&body), field(&body)),
        (400, "unknown_field", "name")
    );
    let (status, body) = h
        .send(
            h.req("POST", API_KEY)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_json"));
    let (status, body) = h
        .send(
            h.req("POST", API_KEY)
                .header("content-type", "text/plain")
                .body("rotate"),
        )
        .await;
    assert_eq!((status, code(&body)), (415, "unsupported_media_type"));
    assert_eq!(h.account().await, before, "no key was generated");
    // An empty object is fine.
    let (status, _) = h.send(h.req("POST", API_KEY).json(&json!({}))).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_rotation_based_on_a_stale_read_is_refused() {
    // The mechanism behind "two racing rotations leave one key", step by step: the second
    // writer read the account before the first one wrote.
    let h = Harness::new().await;
    let prefix = h.seeded.secret_prefix.clone();
    let snapshot = h.account().await;
    let first = domain::key_rotation::rotate_api_key(
        h.store.as_ref(),
        h.secrets.as_ref(),
        &prefix,
        &snapshot,
        Utc::now(),
    )
    .await
    .expect("the first rotation wins");
    let second = domain::key_rotation::rotate_api_key(
        h.store.as_ref(),
        h.secrets.as_ref(),
        &prefix,
        &snapshot,
        Utc::now(),
    )
    .await
    .err()
    .expect("the stale rotation loses");
    assert_eq!((second.status(), second.code()), (409, "conflict"));
    let key = first.key.plaintext;
    assert_eq!(
        h.secret().await,
        key,
        "the loser's secret version is not left current"
    );
    assert_eq!(h.grant_items().await, 1);
    assert!(domain::auth::authenticate(
        Some(&format!("Bearer {key}")),
        h.store.as_ref(),
        chrono::Utc::now(),
        u32::MAX
    )
    .await
    .is_ok());
    assert_eq!(
        h.account().await.api_key.map(|k| k.hash),
        Some(domain::api_key::hash(&key))
    );
}

#[tokio::test]
async fn racing_rotation_requests_leave_exactly_one_valid_key() {
    let h = Harness::new().await;
    let (store, deps) = h.isolated();
    let provider = provider().await;
    let td = h.trigger_deps(&provider);
    let mut keys_seen: Vec<String> = vec![h.seeded.api_key.clone()];
    for round in 0..20 {
        let (a, b) = tokio::join!(
            send_with(&deps, h.req("POST", API_KEY)),
            send_with(&deps, h.req("POST", API_KEY))
        );
        let mut won = Vec::new();
        for (status, body) in [a, b] {
            match status {
                201 => won.push(body["api_key"].as_str().expect("key").to_string()),
                409 => {
                    assert_eq!(code(&body), "conflict");
                    // A stable message: DynamoDB's cancellation reasons go to the logs only.
                    let m = body["error"]["message"].as_str().unwrap_or_default();
                    assert!(
                        !m.contains("Conditional") && !m.contains("transaction"),
                        "{m}"
                    );
                }
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one rotation succeeds");
        keys_seen.extend(won.iter().cloned());
        let mut valid = Vec::new();
        for k in &keys_seen {
            if domain::auth::authenticate(
                Some(&format!("Bearer {k}")),
                store.as_ref(),
                chrono::Utc::now(),
                u32::MAX,
            )
            .await
            .is_ok()
            {
                valid.push(k.clone());
            }
        }
        assert_eq!(
            valid, won,
            "round {round}: only the winner's key authenticates"
        );
        assert_eq!(h.grant_items().await, 1);
        assert_eq!(
            h.secret().await,
            won[0],
            "round {round}: the secret is the valid key"
        );
    }
    let last = keys_seen.last().expect("a key");
    let (status, body) = trigger(&td, last).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = trigger(&td, &keys_seen[keys_seen.len() - 2]).await;
    assert_eq!((status, code(&body)), (403, "invalid_api_key"));
}

/// A SecretStore over the real Secrets Manager whose first `put` waits until released, to
/// reproduce a slow secret write.
struct HeldFirstPut {
    inner: SecretsManager,
    held: tokio::sync::Mutex<bool>,
    reached: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl SecretStore for HeldFirstPut {
    async fn get(&self, name: &str) -> Result<String, domain::error::SecretError> {
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &str) -> Result<(), domain::error::SecretError> {
        self.inner.put(name, value).await
    }
    async fn get_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, domain::error::SecretError> {
        self.inner.get_version(name, version).await
    }
    async fn make_current(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(), domain::error::SecretError> {
        self.inner.make_current(name, version).await
    }
    async fn put_version(
        &self,
        name: &str,
        value: &str,
        version: &str,
    ) -> Result<(), domain::error::SecretError> {
        let first = {
            let mut held = self.held.lock().await;
            !std::mem::replace(&mut *held, true)
        };
        if first {
            let released = self.release.notified();
            self.reached.notify_one();
            released.await;
        }
        self.inner.put_version(name, value, version).await
    }
}

#[tokio::test]
async fn a_slow_secret_write_never_overwrites_a_later_rotation() {
    let h = Harness::new().await;
    let held = Arc::new(HeldFirstPut {
        inner: h.emu.secrets(),
        held: tokio::sync::Mutex::new(false),
        reached: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let slow_deps = Ports {
        secrets: held.clone(),
        ..h.ports.clone()
    }
    .settings(&h.tunables);
    let reached = held.reached.notified();
    let slow = tokio::spawn({
        let req = h.req("POST", API_KEY).build();
        async move { parts(&settings::handle(req, &slow_deps).await) }
    });
    // The first rotation is committed in DynamoDB, its secret write pending. (If it finished
    // instead, the held write was never reached: fail rather than wait forever.)
    let mut slow = slow;
    tokio::select! {
        _ = reached => {}
        finished = &mut slow => panic!("the first rotation finished without writing its secret: {finished:?}"),
    }
    let (status, later) = h.send(h.req("POST", API_KEY)).await;
    assert_eq!(status, 201, "{later}");
    held.release.notify_one();
    // The slow rotation writes its secret only now, then its commit loses to the later one.
    let (status, body) = slow.await.expect("slow rotation task");
    assert_eq!((status, code(&body)), (409, "conflict"));
    let valid = later["api_key"].as_str().expect("key");
    assert_eq!(h.secret().await, valid, "the secret is the one valid key");
}

/// Rotation failure points on the real adapters (DynamoDB and Secrets Manager in moto) behind
/// the fault wrappers: a failed secret write and a failed commit leave the old key
/// authenticating and signing; a commit whose answer was lost is read back and shown.
#[tokio::test]
async fn rotation_failure_points_never_leave_the_account_without_a_working_key() {
    let h = Harness::new().await;
    let plan = FaultPlan::new();
    let deps = Ports {
        store: Arc::new(FaultyStore::new(h.store.clone(), plan.clone())),
        secrets: Arc::new(FaultySecrets::new(h.secrets.clone(), plan.clone())),
        ..h.ports.clone()
    }
    .settings(&h.tunables);
    let provider = provider().await;
    let td = h.trigger_deps(&provider);
    let signing_key = |hash: String| {
        let secrets = h.secrets.clone();
        let prefix = h.seeded.secret_prefix.clone();
        let id = h.id().to_string();
        async move {
            domain::webhook::signing_key::KeyCache::new()
                .get(secrets.as_ref(), &prefix, &id, &hash)
                .await
                .expect("the committed key has its signing secret")
        }
    };
    let old = h.seeded.api_key.clone();
    for (fault, method) in [("fail", "put_version"), ("fail", "save_account")] {
        plan.fail_next(method);
        let (status, body) = send_with(&deps, h.req("POST", API_KEY)).await;
        assert_eq!(
            (status, code(&body)),
            (500, "internal_error"),
            "{fault} {method}"
        );
        assert!(body.get("api_key").is_none());
        assert_eq!(
            trigger(&td, &old).await.0,
            200,
            "{method}: the old key works"
        );
        let committed = h.account().await.api_key.expect("key").hash;
        assert_eq!(committed, domain::api_key::hash(&old));
        assert_eq!(signing_key(committed).await, old, "{method}: and signs");
        assert_eq!(h.secret().await, old, "{method}: and is current");
    }
    assert_eq!(
        (plan.calls("put_version"), plan.calls("save_account")),
        (2, 1),
        "the failed secret write never reached the commit"
    );
    plan.fail_after_effect("save_account", 2);
    let (status, body) = send_with(&deps, h.req("POST", API_KEY)).await;
    assert_eq!(status, 201, "the lost commit answer is read back: {body}");
    let key = body["api_key"].as_str().expect("key").to_string();
    assert_eq!(trigger(&td, &key).await.0, 200);
    assert_eq!((trigger(&td, &old).await.0), 403, "the old key is replaced");
    assert_eq!(signing_key(domain::api_key::hash(&key)).await, key);
    assert_eq!(h.secret().await, key);
    assert_eq!(h.grant_items().await, 1);
}

// ---------------------------------------------------------------------------------------------
// Settings

#[tokio::test]
async fn patch_changes_only_the_given_fields_and_null_clears() {
    let h = Harness::new().await;
    let second = fixtures::agent(&*h.store, h.id(), "Renewals", None).await;
    let before = h.account().await;

    let (status, body) = h
        .patch(json!({"webhook_url": "https://Hooks.Example.com/bvai?src=1"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["webhook_url"], "https://hooks.example.com/bvai?src=1");
    assert_eq!(body["api_enabled"], true);
    assert_eq!(body["default_agent"]["id"], h.seeded.agent.id.to_string());
    assert_eq!(
        body["api_key"]["last4"],
        h.seeded
            .account
            .api_key
            .as_ref()
            .map(|k| k.last4.clone())
            .unwrap()
    );

    let (status, body) = h
        .patch(json!({"default_agent_id": second.id.to_string(), "api_enabled": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["default_agent"],
        json!({"id": second.id.to_string(), "name": "Renewals"})
    );
    assert_eq!(body["api_enabled"], false);
    assert_eq!(body["webhook_url"], "https://hooks.example.com/bvai?src=1");

    let stored = h.account().await;
    assert_eq!(stored.default_agent_id, Some(second.id));
    assert!(!stored.api_enabled);
    assert_eq!(
        stored.webhook_url.as_deref(),
        Some("https://hooks.example.com/bvai?src=1")
    );
    assert_eq!(stored.api_key, before.api_key, "the key is untouched");
    // The grant trigger-call reads follows the account.
    let grant = h
        .store
        .key_grant(&domain::api_key::hash(&h.seeded.api_key))
        .await
        .unwrap()
        .expect("grant");
    assert_eq!(grant.default_agent_id, Some(second.id));
    assert!(!grant.api_enabled);

    let (status, body) = h
        .patch(json!({"webhook_url": null, "default_agent_id": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook_url"], Value::Null);
    assert_eq!(body["default_agent"], Value::Null);
    assert_eq!(body["api_enabled"], false);
    let stored = h.account().await;
    assert_eq!(stored.webhook_url, None);
    assert_eq!(stored.default_agent_id, None);

    // The same change again is a no-op that still answers with the state.
    let version = stored.version;
    let (status, body) = h.patch(json!({"webhook_url": null})).await;
    assert_eq!(status, 200);
    assert_eq!(body["webhook_url"], Value::Null);
    assert_eq!(h.account().await.version, version);

    // GET agrees with the PATCH answers.
    let (_, got) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(got, body);
}

#[tokio::test]
async fn patch_refuses_ugly_bodies() {
    let h = Harness::new().await;
    let before = h.account().await;
    let json_req = |body: &str| {
        h.req("PATCH", INTEGRATION)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(ApiRequest, u16, &str, Option<&str>)> = vec![
        (
            json_req("{\"api_enabled\": fals"),
            400,
            "invalid_json",
            None,
        ),
        (json_req(""), 400, "invalid_json", None),
        (
            json_req("[{\"api_enabled\": false}]"),
            400,
            "invalid_body",
            None,
        ),
        (json_req("\"api_enabled\""), 400, "invalid_body", None),
        (json_req("{}"), 400, "empty_update", None),
        (
            json_req("{\"api_enabled\": false, \"apiEnabled\": true}"),
            400,
            "unknown_field",
            Some("apiEnabled"),
        ),
        (json_req("{\"✓\": 1}"), 400, "unknown_field", Some("✓")),
        (
            json_req("{\"api_enabled\": \"false\"}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"api_enabled\": 0}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"api_enabled\": null}"),
            400,
            "invalid_type",
            Some("api_enabled"),
        ),
        (
            json_req("{\"webhook_url\": 443}"),
            400,
            "invalid_type",
            Some("webhook_url"),
        ),
        (
            json_req("{\"webhook_url\": {\"url\": \"https://example.com\"}}"),
            400,
            "invalid_type",
            Some("webhook_url"),
        ),
        (
            json_req("{\"default_agent_id\": \"not-a-uuid\"}"),
            400,
            "invalid_default_agent_id",
            Some("default_agent_id"),
        ),
        (
            json_req("{\"default_agent_id\": 12}"),
            400,
            "invalid_type",
            Some("default_agent_id"),
        ),
        (
            // A valid change next to an invalid one: nothing is applied.
            json_req("{\"api_enabled\": false, \"webhook_url\": \"http://example.com\"}"),
            400,
            "invalid_webhook_url",
            Some("webhook_url"),
        ),
        (
            h.req("PATCH", INTEGRATION)
                .header("content-type", "text/plain")
                .body("{\"api_enabled\": false}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            h.req("PATCH", INTEGRATION).body("{\"api_enabled\": false}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            json_req(&format!(
                "{{\"webhook_url\": \"https://example.com/{}\"}}",
                "a".repeat(70 * 1024)
            )),
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (req, status, want_code, want_field) in cases {
        let (got, body) = h.send(req).await;
        assert_eq!((got, code(&body)), (status, want_code), "{body}");
        assert_eq!(body["success"], false);
        if let Some(f) = want_field {
            assert_eq!(field(&body), f, "{body}");
        }
    }
    // Base64-encoded JSON (as API Gateway sends binary bodies) is read the same way.
    let (status, body) = h
        .send(
            h.req("PATCH", INTEGRATION)
                .header("content-type", "application/json; charset=utf-8")
                .base64_body(br#"{"api_enabled": true}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.account().await,
        before,
        "no refused request changed anything"
    );
}

#[tokio::test]
async fn patch_refuses_every_invalid_webhook_url_class() {
    let h = Harness::new().await;
    let (status, _) = h
        .patch(json!({"webhook_url": "https://hooks.example.com/in"}))
        .await;
    assert_eq!(status, 200);
    let before = h.account().await;
    let too_long = format!("https://example.com/{}", "a".repeat(2030));
    let refused: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not https", "http://hooks.example.com/in".into()),
        ("other scheme", "ftp://hooks.example.com/in".into()),
        ("javascript", "javascript:alert(1)".into()),
        ("relative", "/webhooks/in".into()),
        ("no scheme", "hooks.example.com/in".into()),
        ("too long", too_long),
        ("whitespace", " https://hooks.example.com/in".into()),
        ("newline", "https://hooks.example.com/in\n".into()),
        ("user", "https://admin@hooks.example.com/in".into()),
        (
            "user and password",
            "https://admin:hunter2@hooks.example.com/in".into(),
        ),
        ("localhost", "https://localhost/in".into()),
        ("localhost with port", "https://localhost:8443/in".into()),
        ("localhost upper case", "https://LOCALHOST/in".into()),
        ("localhost root dot", "https://localhost./in".into()),
        ("sub.localhost", "https://hooks.localhost/in".into()),
        ("private 10/8", "https://10.0.0.5/in".into()),
        ("private 172.16/12", "https://172.20.1.1/in".into()),
        ("private 192.168/16", "https://192.168.1.10/in".into()),
        ("loopback", "https://127.0.0.1/in".into()),
        (
            "loopback elsewhere in 127/8",
            "https://127.8.9.10/in".into(),
        ),
        ("link-local", "https://169.254.10.10/in".into()),
        (
            "cloud metadata",
            "https://169.254.169.254/latest/meta-data/".into(),
        ),
        ("CGNAT", "https://100.64.0.1/in".into()),
        ("multicast", "https://224.0.0.251/in".into()),
        ("unspecified", "https://0.0.0.0/in".into()),
        ("this network", "https://0.1.2.3/in".into()),
        ("broadcast", "https://255.255.255.255/in".into()),
        ("documentation TEST-NET-1", "https://192.0.2.1/in".into()),
        ("documentation TEST-NET-2", "https://198.51.100.1/in".into()),
        ("documentation TEST-NET-3", "https://203.0.113.1/in".into()),
        ("benchmarking", "https://198.18.0.1/in".into()),
        ("decimal IPv4", "https://2130706433/in".into()),
        ("decimal IPv4 over http", "http://2130706433/in".into()),
        ("hex IPv4", "https://0x7f.1/in".into()),
        ("hex IPv4 dword", "https://0x7f000001/in".into()),
        ("octal IPv4", "https://017700000001/in".into()),
        ("octal dotted IPv4", "https://0177.0.0.1/in".into()),
        ("short IPv4", "https://127.1/in".into()),
        ("percent-encoded IPv4", "https://%31%32%37.0.0.1/in".into()),
        ("decimal metadata", "https://2852039166/in".into()),
        ("IPv6 loopback", "https://[::1]/in".into()),
        ("IPv6 unspecified", "https://[::]/in".into()),
        ("IPv6 unique-local", "https://[fd12:3456:789a::1]/in".into()),
        ("IPv6 AWS metadata", "https://[fd00:ec2::254]/in".into()),
        ("IPv6 link-local", "https://[fe80::1]/in".into()),
        ("IPv6 multicast", "https://[ff02::1]/in".into()),
        ("IPv6 documentation", "https://[2001:db8::1]/in".into()),
        (
            "IPv4-mapped loopback",
            "https://[::ffff:127.0.0.1]/in".into(),
        ),
        ("IPv4-mapped hex", "https://[::ffff:7f00:1]/in".into()),
        ("IPv4-mapped private", "https://[::ffff:10.0.0.1]/in".into()),
        (
            "IPv4-mapped metadata",
            "https://[::ffff:169.254.169.254]/in".into(),
        ),
        ("IPv4-compatible", "https://[::127.0.0.1]/in".into()),
        ("NAT64", "https://[64:ff9b::a9fe:a9fe]/in".into()),
        ("6to4 private", "https://[2002:c0a8:101::1]/in".into()),
        (
            "bidi control",
            "https://hooks.exa\u{202e}mple.com/in".into(),
        ),
    ];
    for (class, url) in &refused {
        let (status, body) = h.patch(json!({"webhook_url": url})).await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (400, "invalid_webhook_url", "webhook_url"),
            "{class}: {url:?} -> {body}"
        );
    }
    assert_eq!(h.account().await, before, "no refused URL was stored");

    for (url, stored) in [
        (
            "https://hooks.example.com:8443/in?x=1",
            "https://hooks.example.com:8443/in?x=1",
        ),
        ("https://93.184.215.14/in", "https://93.184.215.14/in"),
        (
            "https://[2606:4700:4700::1111]/in",
            "https://[2606:4700:4700::1111]/in",
        ),
        (
            "https://bücher.example/ein",
            "https://xn--bcher-kva.example/ein",
        ),
        (
            "https://example.com/hook/ü",
            "https://example.com/hook/%C3%BC",
        ),
        (
            "https://localhost.example.com/in",
            "https://localhost.example.com/in",
        ),
    ] {
        let (status, body) = h.patch(json!({"webhook_url": url})).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["webhook_url"], stored);
        assert_eq!(h.account().await.webhook_url.as_deref(), Some(stored));
    }
}

#[tokio::test]
async fn local_development_flag_admits_http_and_loopback_only() {
    let mut h = Harness::new().await;
    let (status, _) = h
        .patch(json!({"webhook_url": "http://127.0.0.1:9000/in"}))
        .await;
    assert_eq!(status, 400, "refused without the flag");
    h.retuned(|t| t.allow_insecure_local = true);
    for url in [
        "http://127.0.0.1:9000/in",
        "http://localhost:9000/in",
        "http://[::1]:9000/in",
    ] {
        let (status, body) = h.patch(json!({"webhook_url": url})).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    for url in [
        "http://10.0.0.1/in",
        "http://169.254.169.254/",
        "http://user:pw@127.0.0.1/in",
    ] {
        let (status, body) = h.patch(json!({"webhook_url": url})).await;
        assert_eq!((status, code(&body)), (400, "invalid_webhook_url"), "{url}");
    }
}

#[tokio::test]
async fn a_default_agent_must_belong_to_the_account() {
    let h = Harness::new().await;
    let other = fixtures::agency(&*h.store, h.secrets.as_ref()).await;
    let before = h.account().await;
    for id in [other.agent.id, Uuid::new_v4()] {
        let (status, body) = h
            .patch(json!({"default_agent_id": id.to_string(), "api_enabled": false}))
            .await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (404, "agent_not_found", "default_agent_id")
        );
        assert!(
            !body.to_string().contains("Sales Qualifier"),
            "nothing about the other account's agent leaks"
        );
    }
    assert_eq!(h.account().await, before);
    // The other account still sees its own agent as its default.
    let (_, body) = send_with(
        &h.deps,
        as_account(ApiRequest::get(INTEGRATION), &other.account.id),
    )
    .await;
    assert_eq!(body["default_agent"]["id"], other.agent.id.to_string());
}

#[tokio::test]
async fn a_deleted_default_agent_shows_as_null() {
    let h = Harness::new().await;
    h.emu
        .dynamodb()
        .delete_item()
        .table_name(h.store.table())
        .set_key(Some(aws_adapters::dynamo::item::key_map(keys::agent(
            h.id(),
            &h.seeded.agent.id,
        ))))
        .send()
        .await
        .expect("delete agent");
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!(status, 200);
    assert_eq!(body["default_agent"], Value::Null);
}

#[tokio::test]
async fn switching_api_access_off_blocks_trigger_call_and_the_calls_route_on_the_next_request() {
    let h = Harness::new().await;
    let provider = provider().await;
    let td = h.trigger_deps(&provider);
    let key = h.seeded.api_key.clone();
    let (status, body) = trigger(&td, &key).await;
    assert_eq!(status, 200, "{body}");
    let call_id = body["call_id"].as_str().expect("call id").to_string();
    let get_call = || {
        ApiRequest::get(&format!("/api/calls/{call_id}"))
            .bearer(&key)
            .build()
    };

    let (status, body) = h.patch(json!({"api_enabled": false})).await;
    assert_eq!((status, &body["api_enabled"]), (200, &json!(false)));
    let (status, body) = trigger(&td, &key).await;
    assert_eq!((status, code(&body)), (403, "api_access_disabled"));
    let (status, body) = parts(&trigger_call::handle(get_call(), &td).await);
    assert_eq!((status, code(&body)), (403, "api_access_disabled"));
    assert_eq!(provider.requests().len(), 1, "no call was placed while off");

    // The settings API itself keeps working, and switching back on restores access at once.
    let (status, body) = h.send(h.req("GET", INTEGRATION)).await;
    assert_eq!((status, &body["api_enabled"]), (200, &json!(false)));
    let (status, _) = h.patch(json!({"api_enabled": true})).await;
    assert_eq!(status, 200);
    let (status, body) = trigger(&td, &key).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = parts(&trigger_call::handle(get_call(), &td).await);
    assert_eq!(status, 200);
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_apply() {
    let h = Harness::new().await;
    let (_, deps) = h.isolated();
    let patch = |body: Value| send_with(&deps, h.req("PATCH", INTEGRATION).json(&body));
    let agents = [
        h.seeded.agent.clone(),
        fixtures::agent(&*h.store, h.id(), "Second", None).await,
    ];
    for round in 0..8 {
        let url = format!("https://hooks{round}.example.com/in");
        let agent = &agents[round % 2];
        let on = round % 3 != 0;
        let (a, b, c) = tokio::join!(
            patch(json!({"webhook_url": url})),
            patch(json!({"default_agent_id": agent.id.to_string()})),
            patch(json!({"api_enabled": on})),
        );
        for (status, body) in [a, b, c] {
            assert_eq!(status, 200, "round {round}: {body}");
        }
        let stored = h.account().await;
        assert_eq!(stored.webhook_url.as_deref(), Some(url.as_str()));
        assert_eq!(stored.default_agent_id, Some(agent.id));
        assert_eq!(stored.api_enabled, on);
    }
}

// ---------------------------------------------------------------------------------------------
// Agents

#[tokio::test]
async fn agents_are_the_accounts_own_sorted_by_name() {
    let h = Harness::new().await;
    let zulu = fixtures::agent(&*h.store, h.id(), "Zulu", Some("+14155550101")).await;
    let alpha = fixtures::agent(&*h.store, h.id(), "alpha", None).await;
    let bravo = fixtures::agent(&*h.store, h.id(), "Bravo Réception", Some("+442071838750")).await;
    let other = fixtures::agency(&*h.store, h.secrets.as_ref()).await;
    fixtures::agent(&*h.store, &other.account.id, "Aardvark", None).await;

    let (status, body) = h.send(h.req("GET", AGENTS)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "agents": [
            {"id": alpha.id.to_string(), "name": "alpha", "phone_number": null},
            {"id": bravo.id.to_string(), "name": "Bravo Réception", "phone_number": "+442071838750"},
            {"id": h.seeded.agent.id.to_string(), "name": "Sales Qualifier", "phone_number": "+14155550100"},
            {"id": zulu.id.to_string(), "name": "Zulu", "phone_number": "+14155550101"},
        ]})
    );
    let (_, theirs) = send_with(
        &h.deps,
        as_account(ApiRequest::get(AGENTS), &other.account.id),
    )
    .await;
    let names: Vec<&str> = theirs["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Aardvark", "Sales Qualifier"]);
    assert!(!theirs.to_string().contains(&zulu.id.to_string()));
}

// ---------------------------------------------------------------------------------------------
// Delivery log

fn attempt(account: &str, at: DateTime<Utc>, outcome: DeliveryOutcome, n: u32) -> DeliveryAttempt {
    let failed = matches!(outcome, DeliveryOutcome::Failed | DeliveryOutcome::Dropped);
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: account.to_string(),
        event_id: Uuid::new_v4(),
        call_id: Uuid::new_v4(),
        attempt: n,
        attempted_at: at,
        url: (outcome != DeliveryOutcome::Skipped).then(|| "https://hooks.example.com/in".into()),
        outcome,
        http_status: match outcome {
            DeliveryOutcome::Delivered => Some(200),
            DeliveryOutcome::Failed | DeliveryOutcome::Dropped => Some(503),
            DeliveryOutcome::Skipped => None,
        },
        duration_ms: 87,
        error_class: failed.then_some(DeliveryErrorClass::HttpStatus),
        response_excerpt: failed.then(|| "Service Unavailable".into()),
        next_attempt_at: (outcome == DeliveryOutcome::Failed)
            .then(|| at + chrono::Duration::seconds(30)),
    }
}

/// The attempts in log order (newest first; ties broken like the sort key).
fn log_order(mut v: Vec<DeliveryAttempt>) -> Vec<DeliveryAttempt> {
    v.sort_by_key(|a| {
        std::cmp::Reverse(keys::delivery(&a.account_id, a.attempted_at, &a.event_id, a.attempt).1)
    });
    v
}

fn row_id(row: &Value) -> (String, u64) {
    (
        row["event_id"].as_str().expect("event id").to_string(),
        row["attempt"].as_u64().expect("attempt"),
    )
}

fn attempt_id(a: &DeliveryAttempt) -> (String, u64) {
    (a.event_id.to_string(), u64::from(a.attempt))
}

/// Follows `next_cursor` to the end; returns every row and the page sizes.
async fn read_all(h: &Harness, account: &str, query: &str) -> (Vec<Value>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_string(),
        };
        let (status, body) = send_with(
            &h.deps,
            as_account(ApiRequest::get(DELIVERIES).query(&q), account),
        )
        .await;
        assert_eq!(status, 200, "{q}: {body}");
        let page = body["deliveries"].as_array().expect("deliveries").clone();
        sizes.push(page.len());
        rows.extend(page);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(sizes.len() < 100, "pagination does not end");
    }
    (rows, sizes)
}

/// Writes attempts through the shared store: 23 spread over minutes and 4 sharing one
/// millisecond (so ties fall on page boundaries), in every outcome.
async fn seed_log(h: &Harness, account: &str) -> Vec<DeliveryAttempt> {
    let now = h.clock.now();
    let outcomes = DeliveryOutcome::ALL;
    let mut all = Vec::new();
    for i in 0..23u32 {
        let at = now - chrono::Duration::seconds(i64::from(i) * 97 + 5);
        all.push(attempt(account, at, outcomes[i as usize % 4], 1 + i % 4));
    }
    let tie = now - chrono::Duration::milliseconds(61_500);
    for i in 0..4u32 {
        all.push(attempt(account, tie, outcomes[(i as usize + 1) % 4], 1));
    }
    let writes = all.iter().map(|a| h.store.record_attempt(a));
    for r in join_all(writes).await {
        r.expect("record attempt");
    }
    all
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first_without_gaps_or_repeats() {
    let h = Harness::new().await;
    let all = seed_log(&h, h.id()).await;
    let expected: Vec<_> = log_order(all.clone()).iter().map(attempt_id).collect();
    assert_eq!(expected.len(), 27);

    for limit in [1usize, 4, 7, 26, 27, 100] {
        let (rows, sizes) = read_all(&h, h.id(), &format!("limit={limit}")).await;
        let got: Vec<_> = rows.iter().map(row_id).collect();
        assert_eq!(got, expected, "limit {limit}");
        assert!(sizes.iter().all(|s| *s <= limit));
        assert_eq!(
            sizes.len(),
            27usize.div_ceil(limit),
            "limit {limit}: {sizes:?}"
        );
        assert!(sizes.iter().all(|s| *s > 0), "no empty trailing page");
    }

    // The default page is 25 rows.
    let (status, body) = h.send(h.req("GET", DELIVERIES)).await;
    assert_eq!(status, 200);
    assert_eq!(body["deliveries"].as_array().map(Vec::len), Some(25));
    assert!(body["next_cursor"].is_string());
    assert_eq!(body["success"], true);

    // Each row is the shared JSON view of the stored attempt.
    let newest = &log_order(all)[0];
    assert_eq!(body["deliveries"][0], newest.to_json());
    let row = &body["deliveries"][0];
    assert!(row["attempted_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    for key in [
        "event_id",
        "call_id",
        "attempt",
        "attempted_at",
        "url",
        "outcome",
        "http_status",
        "duration_ms",
        "error_class",
        "response_excerpt",
        "next_attempt_at",
    ] {
        assert!(row.get(key).is_some(), "row has {key}: {row}");
    }
}

#[tokio::test]
async fn the_delivery_log_filters_by_outcome_across_pages() {
    let h = Harness::new().await;
    let all = seed_log(&h, h.id()).await;
    for outcome in DeliveryOutcome::ALL {
        let expected: Vec<_> = log_order(
            all.iter()
                .filter(|a| a.outcome == outcome)
                .cloned()
                .collect(),
        )
        .iter()
        .map(attempt_id)
        .collect();
        assert!(!expected.is_empty());
        let (rows, _) =
            read_all(&h, h.id(), &format!("outcome={}&limit=2", outcome.as_str())).await;
        assert!(rows.iter().all(|r| r["outcome"] == outcome.as_str()));
        let got: Vec<_> = rows.iter().map(row_id).collect();
        assert_eq!(got, expected, "{outcome:?}");
    }
}

#[tokio::test]
async fn the_delivery_log_shows_only_the_accounts_own_unexpired_rows() {
    let h = Harness::new().await;
    let mine = seed_log(&h, h.id()).await;
    let other = fixtures::agency(&*h.store, h.secrets.as_ref()).await;
    let theirs = seed_log(&h, &other.account.id).await;
    let now = h.clock.now();
    // Rows past the 30-day retention that the TTL sweeper has not removed yet.
    let old = [
        attempt(
            h.id(),
            now - chrono::Duration::days(31),
            DeliveryOutcome::Failed,
            1,
        ),
        attempt(
            h.id(),
            now - chrono::Duration::days(30) - chrono::Duration::seconds(1),
            DeliveryOutcome::Delivered,
            1,
        ),
    ];
    let kept = attempt(
        h.id(),
        now - chrono::Duration::days(29),
        DeliveryOutcome::Failed,
        2,
    );
    for a in old.iter().chain([&kept]) {
        h.store.record_attempt(a).await.expect("record");
    }

    let (rows, _) = read_all(&h, h.id(), "limit=10").await;
    let got: Vec<_> = rows.iter().map(row_id).collect();
    let mut expected_rows = mine.clone();
    expected_rows.push(kept.clone());
    let expected: Vec<_> = log_order(expected_rows).iter().map(attempt_id).collect();
    assert_eq!(got, expected);
    for a in theirs.iter().chain(old.iter()) {
        assert!(!got.contains(&attempt_id(a)), "{a:?} must not be visible");
    }
    let (rows, _) = read_all(&h, h.id(), "outcome=failed&limit=3").await;
    assert_eq!(
        rows.last().map(row_id),
        Some(attempt_id(&kept)),
        "the oldest unexpired row ends the filtered log"
    );

    // Another account's cursor only ever positions a read in the caller's own log.
    let (_, body) = send_with(
        &h.deps,
        as_account(
            ApiRequest::get(DELIVERIES).query("limit=5"),
            &other.account.id,
        ),
    )
    .await;
    let their_cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    let (status, body) = h
        .send(
            h.req("GET", DELIVERIES)
                .query(&format!("limit=100&cursor={their_cursor}")),
        )
        .await;
    assert_eq!(status, 200);
    for row in body["deliveries"].as_array().expect("rows") {
        assert!(mine
            .iter()
            .chain([&kept])
            .any(|a| attempt_id(a) == row_id(row)));
    }

    // An account with no deliveries.
    let empty = fixtures::agency(&*h.store, h.secrets.as_ref()).await;
    let (status, body) = send_with(
        &h.deps,
        as_account(ApiRequest::get(DELIVERIES), &empty.account.id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "deliveries": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn the_delivery_log_refuses_bad_parameters() {
    let h = Harness::new().await;
    seed_log(&h, h.id()).await;
    let (_, body) = h
        .send(h.req("GET", DELIVERIES).query("outcome=failed&limit=2"))
        .await;
    let failed_cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"v":1,"outcome":null,"sk":"AGENT#00000000-0000-0000-0000-000000000000"}"#);
    let cases: Vec<(String, &str, &str)> = vec![
        ("limit=0".into(), "invalid_limit", "limit"),
        ("limit=101".into(), "invalid_limit", "limit"),
        ("limit=-1".into(), "invalid_limit", "limit"),
        ("limit=2.5".into(), "invalid_limit", "limit"),
        ("limit=%2B5".into(), "invalid_limit", "limit"),
        ("limit=ten".into(), "invalid_limit", "limit"),
        ("limit=".into(), "invalid_limit", "limit"),
        (
            "limit=99999999999999999999999".into(),
            "invalid_limit",
            "limit",
        ),
        ("outcome=bounced".into(), "invalid_outcome", "outcome"),
        ("outcome=Delivered".into(), "invalid_outcome", "outcome"),
        ("outcome=".into(), "invalid_outcome", "outcome"),
        ("cursor=garbage!".into(), "invalid_cursor", "cursor"),
        ("cursor=".into(), "invalid_cursor", "cursor"),
        ("cursor=eyJ2IjoxfQ".into(), "invalid_cursor", "cursor"),
        (format!("cursor={forged}"), "invalid_cursor", "cursor"),
        // A cursor continues only the listing it came from.
        (
            format!("cursor={failed_cursor}"),
            "invalid_cursor",
            "cursor",
        ),
        (
            format!("outcome=delivered&cursor={failed_cursor}"),
            "invalid_cursor",
            "cursor",
        ),
        ("status=failed".into(), "unknown_parameter", "status"),
        ("limit=5&page=2".into(), "unknown_parameter", "page"),
        ("limit=5&limit=6".into(), "duplicate_parameter", "limit"),
    ];
    for (q, want_code, want_field) in cases {
        let (status, body) = h.send(h.req("GET", DELIVERIES).query(&q)).await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (400, want_code, want_field),
            "{q}: {body}"
        );
    }
    // A cursor whose rows have all expired since its page was read ends the log.
    h.clock.advance(chrono::Duration::days(31));
    let (status, body) = h
        .send(
            h.req("GET", DELIVERIES)
                .query(&format!("outcome=failed&limit=2&cursor={failed_cursor}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "deliveries": [], "next_cursor": null})
    );
    h.clock.advance(chrono::Duration::days(-31));
    // The right cursor with the right filter works.
    let (status, body) = h
        .send(
            h.req("GET", DELIVERIES)
                .query(&format!("outcome=failed&limit=2&cursor={failed_cursor}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

// ---------------------------------------------------------------------------------------------
// Bulk recover, end to end: DynamoDB's outcome index and the attempt ledger, SQS, the delivery
// function and a real receiver.

#[tokio::test]
async fn recover_twice_on_the_emulator_posts_each_dropped_event_once() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let seeded = fixtures::agency(&store, &emu.secrets()).await;
    let receiver = TestServer::fixed(200, json!({"ok": true})).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    fixtures::update_account(&store, &seeded.account.id, |a| {
        a.webhook_url = Some(url.clone())
    })
    .await;
    let queue_url = emu.queue().await;
    let ports = Ports::emulator(&emu, &store, &queue_url);
    let tunables = Tunables::for_account(&seeded);
    let since = now_ms() - chrono::Duration::minutes(10);
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let event = fixtures::stored_event(&store, &seeded).await;
        // The original series ended dropped (the drop itself is the delivery tests' subject).
        store
            .record_attempt(&DeliveryAttempt {
                trigger: Default::default(),
                account_id: seeded.account.id.clone(),
                event_id: event.id,
                call_id: event.call_id,
                attempt: 4,
                attempted_at: now_ms() - chrono::Duration::minutes(5),
                url: Some(url.clone()),
                outcome: DeliveryOutcome::Dropped,
                http_status: Some(503),
                duration_ms: 5,
                error_class: Some(DeliveryErrorClass::HttpStatus),
                response_excerpt: None,
                next_attempt_at: None,
            })
            .await
            .unwrap();
        dropped.push(event.id);
    }
    let settings = ports.settings(&tunables);
    let recover = || {
        let req = ApiRequest::new("POST", "/api/integrations/api-webhooks/deliveries/recover")
            .claims(json!({"sub": "user-1", (tunables.account_claim.as_str()): seeded.account.id}))
            .json(&json!({"since": domain::clock::rfc3339(since)}));
        send_with(&settings, req)
    };
    assert_eq!(
        recover().await,
        (202, json!({"success": true, "recovered": 3}))
    );
    assert_eq!(
        recover().await,
        (202, json!({"success": true, "recovered": 0}))
    );

    let delivery = ports.webhook_delivery(&tunables);
    let sqs = emu.sqs();
    integration_tests::sqs::pump(
        &sqs,
        &queue_url,
        |ev| webhook_delivery::handle(ev, &delivery),
        || receiver.requests().len() >= 3,
        std::time::Duration::from_secs(20),
    )
    .await;
    assert!(
        integration_tests::sqs::drain(&sqs, &queue_url)
            .await
            .is_empty(),
        "nothing else queued"
    );
    let mut posted: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("x-event-id").unwrap_or_default().to_string())
        .collect();
    posted.sort();
    let mut expected: Vec<String> = dropped.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(posted, expected, "one POST per recovered event");
    let delivered = store
        .deliveries_between(
            &seeded.account.id,
            DeliveryOutcome::Delivered,
            since,
            Utc::now(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 3, "one log row per new series");
    assert_eq!(
        delivered
            .iter()
            .filter(|r| r.trigger == domain::model::DeliveryTrigger::Recovery)
            .count(),
        3,
        "each recovered attempt says it was a recovery"
    );
    // Every event's last series is delivered now: a third call finds nothing.
    assert_eq!(recover().await.1["recovered"], 0);
}

/// Issue 26: more than `MAX_RECOVER_EVENTS` events in the range is `422 too_many_events`
/// (`field: since`) through DynamoDB's outcome index, and nothing is claimed in the attempt
/// ledger or sent to SQS; a narrower range of the same log is recovered.
#[tokio::test]
async fn recover_refuses_a_range_over_the_cap_on_the_emulator_and_queues_nothing() {
    use futures::stream::{self, StreamExt};
    use settings::resend_dropped::MAX_RECOVER_EVENTS;
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let seeded = fixtures::agency(&store, &emu.secrets()).await;
    let queue_url = emu.queue().await;
    let ports = Ports::emulator(&emu, &store, &queue_url);
    let tunables = Tunables::for_account(&seeded);
    // Whole seconds: the range is sent in RFC 3339 seconds.
    let since = chrono::SubsecRound::trunc_subsecs(now_ms() - chrono::Duration::hours(2), 0);
    let rows: Vec<DeliveryAttempt> = (0..=MAX_RECOVER_EVENTS)
        .map(|i| {
            attempt(
                &seeded.account.id,
                since + chrono::Duration::seconds(i as i64),
                DeliveryOutcome::Dropped,
                4,
            )
        })
        .collect();
    let written: Vec<_> = stream::iter(&rows)
        .map(|r| store.record_attempt(r))
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(written.iter().all(Result::is_ok), "rows written");
    let settings = ports.settings(&tunables);
    let recover = |body: Value| {
        let req = ApiRequest::new("POST", "/api/integrations/api-webhooks/deliveries/recover")
            .claims(json!({"sub": "user-1", (tunables.account_claim.as_str()): seeded.account.id}))
            .json(&body);
        send_with(&settings, req)
    };
    let (status, body) = recover(json!({"since": domain::clock::rfc3339(since)})).await;
    assert_eq!(
        (status, code(&body), field(&body)),
        (422, "too_many_events", "since"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{} events", MAX_RECOVER_EVENTS + 1))),
        "{body}"
    );
    let sqs = emu.sqs();
    assert!(
        integration_tests::sqs::drain(&sqs, &queue_url)
            .await
            .is_empty(),
        "nothing queued"
    );
    let claims = emu
        .dynamodb()
        .scan()
        .table_name(store.table())
        .filter_expression("begins_with(sk, :a)")
        .expression_attribute_values(
            ":a",
            aws_sdk_dynamodb::types::AttributeValue::S("ATTEMPT#".into()),
        )
        .send()
        .await
        .expect("scan");
    assert_eq!(claims.items().len(), 0, "nothing claimed");

    // The three oldest rows only: recovered.
    let until = since + chrono::Duration::seconds(2);
    let (status, body) = recover(json!({
        "since": domain::clock::rfc3339(since),
        "until": domain::clock::rfc3339(until),
    }))
    .await;
    assert_eq!(
        (status, &body),
        (202, &json!({"success": true, "recovered": 3}))
    );
    let mut queued: Vec<Uuid> = integration_tests::sqs::drain(&sqs, &queue_url)
        .await
        .into_iter()
        .map(|m| m.event_id)
        .collect();
    queued.sort();
    let mut expected: Vec<Uuid> = rows[..3].iter().map(|r| r.event_id).collect();
    expected.sort();
    assert_eq!(queued, expected);
}

/// Issue 26, end to end: a redelivery whose series is still running (read from the attempt
/// ledger in DynamoDB) is `409 redelivery_in_progress` and queues nothing on SQS; once the
/// delivery function has delivered it, the next redelivery is queued as a new series.
#[tokio::test]
async fn a_running_redelivery_is_409_on_the_emulator_until_it_was_delivered() {
    let emu = Emulator::connect().await;
    let store = emu.table().await;
    let seeded = fixtures::agency(&store, &emu.secrets()).await;
    let receiver = TestServer::fixed(200, json!({"ok": true})).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    fixtures::update_account(&store, &seeded.account.id, |a| {
        a.webhook_url = Some(url.clone())
    })
    .await;
    let queue_url = emu.queue().await;
    let ports = Ports::emulator(&emu, &store, &queue_url);
    let tunables = Tunables::for_account(&seeded);
    let event = fixtures::stored_event(&store, &seeded).await;
    let settings = ports.settings(&tunables);
    let redeliver = || {
        let req = ApiRequest::new("POST", &format!("{DELIVERIES}/{}/redeliver", event.id))
            .claims(json!({"sub": "user-1", (tunables.account_claim.as_str()): seeded.account.id}));
        send_with(&settings, req)
    };
    let (status, body) = redeliver().await;
    assert_eq!(status, 202, "{body}");
    let first = body["redelivery_id"].as_str().expect("id").to_string();
    let (status, body) = redeliver().await;
    assert_eq!(
        (status, code(&body)),
        (409, "redelivery_in_progress"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&first)),
        "{body}"
    );

    // Only the first is on the queue; the delivery function delivers it.
    let sqs = emu.sqs();
    let queued = integration_tests::sqs::drain(&sqs, &queue_url).await;
    assert_eq!(queued.len(), 1, "one message: {queued:?}");
    assert_eq!(
        queued[0].redelivery.map(|r| r.to_string()),
        Some(first.clone())
    );
    let delivery = ports.webhook_delivery(&tunables);
    let res = webhook_delivery::handle(integration_tests::sqs::event_for(&queued), &delivery).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(receiver.requests().len(), 1);

    let (status, body) = redeliver().await;
    assert_eq!(status, 202, "the first was delivered: {body}");
    assert_ne!(body["redelivery_id"].as_str(), Some(first.as_str()));
    assert_eq!(
        integration_tests::sqs::drain(&sqs, &queue_url).await.len(),
        1
    );
}
