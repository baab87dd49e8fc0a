//! The settings API against the emulator: every route and error, key rotation (also racing),
//! webhook URL rules, the cross-function effect of the on/off switch, the agent list and the
//! delivery log's pagination. Requests are API Gateway HTTP API events with JWT claims.
//!
//! One file per area; the harness and the request helpers they share are here.

mod access;
mod agents;
mod api_key;
mod bulk_recover;
mod delivery_log;
mod patch;

use aws_adapters::dynamo::keys;
use aws_adapters::SecretsManager;
use chrono::{DateTime, TimeZone, Utc};
use domain::clock::Clock;
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, Plan};
use domain::ports::secrets::{account_key_secret_name, SecretStore};
use domain::ports::store::{AccountStore, DeliveryLog};
use futures::future::join_all;
use in_memory::{FaultPlan, FaultySecrets, FaultyStore};
use integration_tests::apigw::{parts, ApiRequest, Build};
use integration_tests::app::{OnEmulator, TestApp};
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

/// The emulator flavour.
type App = TestApp<OnEmulator>;

/// Now, at millisecond precision (what the store keeps).
fn now_ms() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid time")
}

/// The emulator app with the seeded account; its clock is fixed (at a millisecond, what the
/// store keeps) so a test can move it (`app.fixed_clock()`); insecure webhook URLs refused.
async fn app() -> (App, Seeded) {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    app.fix_clock(now_ms());
    app.retune(|t| t.allow_insecure_local = false);
    (app, seeded)
}

async fn patch(app: &App, seeded: &Seeded, body: Value) -> (u16, Value) {
    app.settings(app.session(seeded, "PATCH", INTEGRATION).json(&body))
        .await
}

async fn secret(app: &App, seeded: &Seeded) -> String {
    app.secrets
        .get(&account_key_secret_name(
            &seeded.secret_prefix,
            &seeded.account.id,
        ))
        .await
        .expect("read the account's key secret")
}

/// API key grant items (`APIKEY#...`) that point at this account: the valid keys.
async fn grant_items(app: &App, seeded: &Seeded) -> usize {
    let out = app
        .emu
        .dynamodb()
        .scan()
        .table_name(app.store.table())
        .filter_expression("begins_with(pk, :p) AND account_id = :a")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("APIKEY#".into()),
        )
        .expression_attribute_values(
            ":a",
            aws_sdk_dynamodb::types::AttributeValue::S(seeded.account.id.clone().into()),
        )
        .send()
        .await
        .expect("scan");
    out.items().len()
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

async fn trigger(app: &App, key: &str) -> (u16, Value) {
    let req = ApiRequest::post("/api/trigger-call")
        .bearer(key)
        .json(&json!({"phone": "+15551234567", "name": "Jane Smith"}));
    app.trigger_call(req).await
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
