//! Fast rule tests: each function on the in-memory adapters (`in_memory`) and their fault
//! wrappers, no emulator, no AWS. Time is a `FixedClock`; the voice provider is a
//! `ScriptedProvider`; webhook receivers are real HTTP servers on 127.0.0.1, because the
//! delivery function's `WebhookClient` POSTs for real.
//!
//! Every test builds an [`App`], the in-memory flavour of `integration_tests::app::TestApp`:
//! the in-memory adapters (kept concrete, so tests can read what was stored, queued and
//! dialled) behind fault wrappers that share one `FaultPlan` (so tests can inject faults and
//! count port calls). Seeding writes to the adapters directly, so the plan counts only what
//! the function under test did.

mod abuse;
mod call_completed;
mod calling_rules;
mod fairness;
mod hostile_input;
mod lifecycle;
mod reconciler_pace;
mod redeliver;
mod resend_dropped;
mod scheduled;
mod settings;
mod signing_secret;
mod started_failed_events;
mod summary;
mod trigger_call;
mod webhook_delivery;

pub use integration_tests::app::{InMemory, TestApp};
pub use integration_tests::fixtures::{at_ms, provider_call_json, Seeded, Stage, NOW_MS, START_MS};
use serde_json::Value;

/// The in-memory test app.
pub type App = TestApp<InMemory>;

/// `error.code` of an error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
