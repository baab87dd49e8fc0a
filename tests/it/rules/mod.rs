//! Fast rule tests: each function on the in-memory adapters (`in_memory`) and their fault
//! wrappers, no emulator, no AWS. Time is a `FixedClock`; the voice provider is a
//! `ScriptedProvider`; webhook receivers are real HTTP servers on 127.0.0.1, because the
//! delivery function's `WebhookClient` POSTs for real.
//!
//! Every test builds a [`World`]: the in-memory adapters (kept concrete, so tests can read
//! what was stored, queued and dialled) behind fault wrappers that share one [`FaultPlan`]
//! (so tests can inject faults and count port calls). Seeding writes to the adapters
//! directly, so the plan counts only what the function under test did.

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

use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::model::{Account, Agent, Call, CallStatus, DeliveryAttempt, Plan};
use domain::ports::store::calls::{CallCompletion, CallProgress};
use domain::ports::store::deliveries::DeliveryQuery;
use domain::ports::store::{AccountStore, CallStore, DeliveryLog};
use in_memory::{
    FaultPlan, FaultyProvider, FaultyQueue, FaultySecrets, FaultyStore, FixedClock, MemoryQueue,
    MemorySecrets, MemoryStore, ScriptedProvider,
};
use integration_tests::deps::{Ports, Tunables};
use integration_tests::fixtures;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

/// The provider's example call: started 15:30:00Z, ended 15:33:05Z.
pub const START_MS: i64 = 1_750_001_400_000;
pub const END_MS: i64 = 1_750_001_585_000;
/// Our clock's start: shortly after that call ended.
pub const NOW_MS: i64 = 1_750_001_600_000;

pub fn at_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("valid time")
}

/// The in-memory adapters, their fault wrappers and the plan that drives and counts them.
pub struct World {
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub secrets: Arc<MemorySecrets>,
    pub provider: Arc<ScriptedProvider>,
    pub clock: Arc<FixedClock>,
    pub plan: FaultPlan,
    pub tunables: Tunables,
}

pub use integration_tests::fixtures::Seeded;

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        World::at(at_ms(NOW_MS))
    }

    pub fn at(now: DateTime<Utc>) -> World {
        let clock = Arc::new(FixedClock::new(now));
        World {
            store: Arc::new(MemoryStore::new()),
            queue: Arc::new(MemoryQueue::new(clock.clone())),
            secrets: Arc::new(MemorySecrets::new()),
            provider: Arc::new(ScriptedProvider::new()),
            clock,
            plan: FaultPlan::new(),
            tunables: Tunables::default(),
        }
    }

    /// What the functions get: every adapter behind its fault wrapper.
    pub fn ports(&self) -> Ports {
        Ports {
            store: Arc::new(FaultyStore::new(self.store.clone(), self.plan.clone())),
            queue: Arc::new(FaultyQueue::new(self.queue.clone(), self.plan.clone())),
            secrets: Arc::new(FaultySecrets::new(self.secrets.clone(), self.plan.clone())),
            provider: Arc::new(FaultyProvider::new(
                self.provider.clone(),
                self.plan.clone(),
            )),
            clock: self.clock.clone(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An Agency account with API access on, a key and a default agent with a phone number.
    pub async fn agency(&self) -> Seeded {
        self.account_with(Plan::Agency, true).await
    }

    pub async fn account_with(&self, plan: Plan, with_default_agent: bool) -> Seeded {
        fixtures::seed(
            self.store.as_ref(),
            self.secrets.as_ref(),
            &self.tunables.secret_prefix,
            plan,
            with_default_agent,
            self.now(),
        )
        .await
    }

    pub async fn agent(&self, account_id: &str, name: &str, phone: Option<&str>) -> Agent {
        fixtures::agent(self.store.as_ref(), account_id, name, phone).await
    }

    pub async fn account(&self, id: &str) -> Account {
        self.store
            .account(id)
            .await
            .expect("read account")
            .expect("account exists")
    }

    /// Applies a change to the stored account.
    pub async fn update_account(&self, id: &str, f: impl FnOnce(&mut Account)) -> Account {
        fixtures::update_account(self.store.as_ref(), id, f).await
    }

    pub async fn call(&self, id: Uuid) -> Call {
        self.store
            .call(id)
            .await
            .expect("read call")
            .expect("call exists")
    }

    /// An outbound call as trigger-call leaves it: written, then dialing with the provider's id.
    pub async fn dialing_call(&self, seeded: &Seeded) -> Call {
        let now = at_ms(START_MS - 20_000);
        let call = Call {
            name: Some("Jane Smith".into()),
            ..Call::new(
                Uuid::new_v4(),
                seeded.account.id.clone(),
                seeded.agent.id,
                domain::model::Direction::Outbound,
                CallStatus::Queued,
                "+15551234567",
                now,
            )
        };
        self.store
            .create_call(&call, None, now)
            .await
            .expect("create call");
        let provider_id = format!("prov_{}", Uuid::new_v4().simple());
        self.store
            .mark_call_dialing(
                call.id,
                &provider_id,
                now,
                now + chrono::Duration::hours(2),
                None,
            )
            .await
            .expect("mark dialing");
        self.call(call.id).await
    }

    /// A completed call of the account with its stored `call.completed` event (the writes the
    /// call-completed function makes), straight into the store.
    pub async fn stored_event(&self, seeded: &Seeded) -> domain::model::EventRecord {
        let call = self.dialing_call(seeded).await;
        let obj: domain::callback::ProviderCallObject =
            serde_json::from_value(provider_call_json(&call, &seeded.agent, Stage::Analyzed))
                .expect("provider call object");
        let payload = domain::payload::CallCompleted::build(&call, &seeded.agent.name, &obj)
            .to_payload()
            .expect("payload");
        let now = self.now();
        let event = domain::model::EventRecord {
            id: Uuid::new_v4(),
            account_id: seeded.account.id.clone(),
            call_id: call.id,
            event_type: domain::event_type::EventType::CallCompleted,
            payload,
            created_at: now,
        };
        let completion = CallCompletion {
            summary: "Asked about pricing.",
            sentiment: "positive",
            event: &event,
            event_expires_at: now + chrono::Duration::days(30),
            event_due_at: now + chrono::Duration::days(30),
        };
        assert!(self
            .store
            .complete_call(call.id, &CallProgress::default(), &completion, now)
            .await
            .expect("complete call"));
        event
    }

    /// The account's delivery log, oldest first.
    pub async fn delivery_log(&self, account_id: &str) -> Vec<DeliveryAttempt> {
        let page = self
            .store
            .deliveries(
                account_id,
                &DeliveryQuery {
                    outcome: None,
                    limit: 100,
                    after: None,
                },
                self.now(),
            )
            .await
            .expect("read log");
        let mut rows = page.attempts;
        rows.reverse();
        rows
    }

    /// How many events the store holds.
    pub fn stored_event_count(&self) -> usize {
        self.store.events().len()
    }
}

/// The provider's stages of one call.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Stage {
    Started,
    Ended,
    Analyzed,
}

impl Stage {
    pub fn event(self) -> &'static str {
        match self {
            Stage::Started => "call_started",
            Stage::Ended => "call_ended",
            Stage::Analyzed => "call_analyzed",
        }
    }
}

/// The provider's call object for one of our outbound calls at `stage`.
pub fn provider_call_json(call: &Call, agent: &Agent, stage: Stage) -> Value {
    let mut obj = serde_json::json!({
        "call_id": call.provider_call_id.clone().unwrap_or_else(|| "prov_unset".into()),
        "agent_id": agent.provider_agent_id,
        "call_status": if stage == Stage::Started { "ongoing" } else { "ended" },
        "direction": "outbound",
        "from_number": "+14155550100",
        "to_number": call.phone_number,
        "start_timestamp": START_MS,
        "metadata": {"call_id": call.id.to_string(), "account_id": call.account_id},
    });
    if stage != Stage::Started {
        obj["end_timestamp"] = END_MS.into();
        obj["duration_ms"] = (END_MS - START_MS).into();
        obj["disconnection_reason"] = "user_hangup".into();
        obj["transcript_object"] = serde_json::json!([
            {"role": "agent", "content": "Hi, this is Ava from Northwind.", "words": []},
            {"role": "user", "content": "Hello, what is this about?", "words": []}
        ]);
    }
    if stage == Stage::Analyzed {
        obj["call_analysis"] = serde_json::json!({
            "call_summary": "The customer asked about pricing.",
            "user_sentiment": "Positive",
            "call_successful": true,
            "in_voicemail": false
        });
    }
    obj
}

/// `error.code` of an error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
