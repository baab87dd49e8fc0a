//! Fast rule tests: each function on the in-memory adapters (`in_memory`) and their fault
//! wrappers, no emulator, no AWS. Time is a `FixedClock`; the voice provider is a
//! `ScriptedProvider`; webhook receivers are real HTTP servers on 127.0.0.1, because the
//! delivery function's `WebhookClient` POSTs for real.
//!
//! Every test builds a [`World`]: the in-memory adapters (kept concrete, so tests can read
//! what was stored, queued and dialled) behind fault wrappers that share one [`FaultPlan`]
//! (so tests can inject faults and count port calls). Seeding writes to the adapters
//! directly, so the plan counts only what the function under test did.

mod call_completed;
mod settings;
mod trigger_call;
mod webhook_delivery;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::error::StoreError;
use domain::model::{
    Account, Agent, Call, CallStatus, DeliveryAttempt, DeliveryOutcome, IdempotencyRecord,
    KeyGrant, Plan, StoredResponse,
};
use domain::phone::PhoneNumber;
use domain::ports::store::calls::{CallCompletion, CallProgress, CreateCallOutcome};
use domain::ports::store::deliveries::{DeliveryPage, DeliveryQuery};
use domain::ports::store::events::StoredEvent;
use domain::ports::store::{
    AccountStore, AttemptLedger, CallStore, Claim, DeliveryLog, EventStore, Store,
};
use in_memory::{
    FaultPlan, FaultyProvider, FaultyQueue, FaultySecrets, FaultyStore, FixedClock, MemoryQueue,
    MemorySecrets, MemoryStore, ScriptedProvider,
};
use integration_tests::deps::{Ports, Tunables};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
    /// Store methods that answer `StoreError::Throttled` (the wrappers only inject `Backend`).
    pub throttle: Throttle,
    pub tunables: Tunables,
}

/// An account seeded into the world: Agency plan, API on, a key, a default agent with a number.
#[derive(Clone)]
pub struct Seeded {
    pub account: Account,
    pub api_key: String,
    pub agent: Agent,
}

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
            throttle: Throttle::default(),
            tunables: Tunables::default(),
        }
    }

    /// What the functions get: every adapter behind its fault wrapper.
    pub fn ports(&self) -> Ports {
        let store: Arc<dyn Store> = Arc::new(ThrottlingStore {
            inner: Arc::new(FaultyStore::new(self.store.clone(), self.plan.clone())),
            throttle: self.throttle.clone(),
        });
        Ports {
            store,
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
        let id = format!("acct_{}", Uuid::new_v4().simple());
        let account = Account::new(&id, "Northwind Sales", plan, self.now());
        self.store.create_account(&account).await.expect("create");
        let agent = self
            .agent(&id, "Sales Qualifier", Some("+14155550100"))
            .await;
        let mut next = account.clone();
        if with_default_agent {
            next.default_agent_id = Some(agent.id);
        }
        let account = self
            .store
            .save_account(&account, &next)
            .await
            .expect("default agent");
        let rotated = domain::key_rotation::rotate_api_key(
            self.store.as_ref(),
            self.secrets.as_ref(),
            &self.tunables.secret_prefix,
            &account,
            self.now(),
        )
        .await
        .expect("generate key");
        Seeded {
            account: rotated.account,
            api_key: rotated.key.plaintext,
            agent,
        }
    }

    pub async fn agent(&self, account_id: &str, name: &str, phone: Option<&str>) -> Agent {
        let agent = Agent {
            id: Uuid::new_v4(),
            account_id: account_id.to_string(),
            name: name.to_string(),
            provider_agent_id: format!("prov_agent_{}", Uuid::new_v4().simple()),
            phone_number: phone.map(|p| PhoneNumber::parse(p).expect("valid phone")),
        };
        self.store.put_agent(&agent).await.expect("put agent");
        agent
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
        let current = self.account(id).await;
        let mut next = current.clone();
        f(&mut next);
        self.store
            .save_account(&current, &next)
            .await
            .expect("save account")
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
            .mark_call_dialing(call.id, &provider_id, now, None)
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
            payload,
            created_at: now,
        };
        let completion = CallCompletion {
            summary: "Asked about pricing.",
            sentiment: "positive",
            event: &event,
            event_expires_at: now + chrono::Duration::days(30),
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

/// Store methods to answer `StoreError::Throttled`, shared by clones.
#[derive(Clone, Default)]
pub struct Throttle(Arc<Mutex<HashSet<&'static str>>>);

impl Throttle {
    pub fn on(&self, method: &'static str) {
        assert!(
            in_memory::faults::STORE_METHODS.contains(&method),
            "{method:?} is not a store method"
        );
        self.0.lock().expect("lock").insert(method);
    }

    fn check(&self, method: &'static str) -> Result<(), StoreError> {
        if self.0.lock().expect("lock").contains(method) {
            Err(StoreError::Throttled)
        } else {
            Ok(())
        }
    }
}

/// A store that answers `Throttled` (DynamoDB's ThrottlingException, as the adapter maps it)
/// for the chosen methods, before the wrapped store is called.
struct ThrottlingStore {
    inner: Arc<dyn Store>,
    throttle: Throttle,
}

macro_rules! throttled {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {{
        $self.throttle.check(stringify!($method))?;
        $self.inner.$method($($arg),*).await
    }};
}

#[async_trait]
impl AccountStore for ThrottlingStore {
    async fn key_grant(&self, key_hash: &str) -> Result<Option<KeyGrant>, StoreError> {
        throttled!(self.key_grant(key_hash))
    }
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        throttled!(self.account(id))
    }
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        throttled!(self.create_account(account))
    }
    async fn save_account(
        &self,
        previous: &Account,
        next: &Account,
    ) -> Result<Account, StoreError> {
        throttled!(self.save_account(previous, next))
    }
    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        throttled!(self.put_agent(agent))
    }
    async fn agent(&self, account_id: &str, agent_id: Uuid) -> Result<Option<Agent>, StoreError> {
        throttled!(self.agent(account_id, agent_id))
    }
    async fn agents(&self, account_id: &str) -> Result<Vec<Agent>, StoreError> {
        throttled!(self.agents(account_id))
    }
    async fn agent_by_provider_id(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        throttled!(self.agent_by_provider_id(id))
    }
}

#[async_trait]
impl CallStore for ThrottlingStore {
    async fn create_call(
        &self,
        call: &Call,
        idempotency: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<CreateCallOutcome, StoreError> {
        throttled!(self.create_call(call, idempotency, now))
    }
    async fn mark_call_dialing(
        &self,
        call_id: Uuid,
        provider_call_id: &str,
        at: DateTime<Utc>,
        idempotency: Option<(&IdempotencyRecord, &StoredResponse)>,
    ) -> Result<(), StoreError> {
        throttled!(self.mark_call_dialing(call_id, provider_call_id, at, idempotency))
    }
    async fn mark_call_failed(
        &self,
        call_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        throttled!(self.mark_call_failed(call_id, reason, at, idempotency))
    }
    async fn call(&self, id: Uuid) -> Result<Option<Call>, StoreError> {
        throttled!(self.call(id))
    }
    async fn idempotency(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        throttled!(self.idempotency(account_id, key, now))
    }
    async fn advance_call(
        &self,
        call_id: Uuid,
        to: CallStatus,
        progress: &CallProgress,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        throttled!(self.advance_call(call_id, to, progress, at))
    }
    async fn complete_call(
        &self,
        call_id: Uuid,
        progress: &CallProgress,
        completion: &CallCompletion<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        throttled!(self.complete_call(call_id, progress, completion, at))
    }
    async fn call_id_by_provider_call(&self, id: &str) -> Result<Option<Uuid>, StoreError> {
        throttled!(self.call_id_by_provider_call(id))
    }
    async fn create_inbound_call(&self, call: &Call) -> Result<Uuid, StoreError> {
        throttled!(self.create_inbound_call(call))
    }
}

#[async_trait]
impl EventStore for ThrottlingStore {
    async fn event(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        throttled!(self.event(id))
    }
    async fn mark_event_enqueued(&self, id: Uuid) -> Result<(), StoreError> {
        throttled!(self.mark_event_enqueued(id))
    }
}

#[async_trait]
impl DeliveryLog for ThrottlingStore {
    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError> {
        throttled!(self.record_attempt(attempt))
    }
    async fn deliveries(
        &self,
        account_id: &str,
        query: &DeliveryQuery,
        now: DateTime<Utc>,
    ) -> Result<DeliveryPage, StoreError> {
        throttled!(self.deliveries(account_id, query, now))
    }
}

#[async_trait]
impl AttemptLedger for ThrottlingStore {
    async fn claim_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        throttled!(self.claim_attempt(event_id, series, attempt, now, lease))
    }
    async fn finish_attempt(
        &self,
        event_id: Uuid,
        series: &str,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        throttled!(self.finish_attempt(event_id, series, attempt, outcome))
    }
}
