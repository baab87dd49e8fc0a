//! One test application, zero2prod's `spawn_app` idea: the five functions built the way
//! `main.rs` builds them (`Deps::new` from [`Ports`] and a `Config`, through
//! [`crate::deps`]), on one set of adapters, with request helpers that answer as the API
//! does. Two flavours share it:
//!
//! - [`TestApp::in_memory`]: the in-memory adapters, kept concrete so a test can read what
//!   was stored, queued and dialled, behind fault wrappers sharing one [`FaultPlan`] (faults
//!   to inject, port calls to count); a `FixedClock`; a `ScriptedProvider`.
//! - [`TestApp::emulator`]: the real AWS adapters on moto (a fresh table and queue), the
//!   provider a test gives (none by default), a clock a test gives (the system's by default).
//!
//! Each function's `Deps` are built on first use and then kept (their caches live as long
//! as the app, as in a warm Lambda); change the tunables with [`TestApp::retune`], which
//! drops them. A test that needs another port (a wrapped queue, a store through another
//! client, a provider) swaps it with [`TestApp::with_queue`] or [`TestApp::swap_ports`];
//! the functions are built again on the swapped ports.
//!
//! The scenario steps the tests share are here too, on both flavours: seeding and reading
//! through the adapters directly ([`TestApp::dialing_call`], [`TestApp::stored_event`],
//! [`TestApp::delivery_log`]...), a dashboard session's request ([`TestApp::session`]), the
//! provider's signed callbacks ([`TestApp::callback`]). Steps only one file needs are plain
//! functions of that file taking the app.

use crate::apigw::{parts, ApiRequest, Build};
use crate::deps::{NoProvider, Ports, Tunables};
use crate::fixtures::{self, at_ms, provider_call_json, Seeded, Stage, NOW_MS, START_MS};
use crate::sqs::event_for;
use crate::Emulator;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::clock::{Clock, SystemClock};
use domain::ids::{AccountId, AgentId, CallId, EventId};
use domain::model::{Account, Agent, Call, CallStatus, DeliveryAttempt, Plan};
use domain::ports::provider::VoiceProvider;
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::calls::{CallCompletion, CallProgress};
use domain::ports::store::deliveries::DeliveryQuery;
use domain::ports::store::Store;
use domain::signature::sign_provider_callback;
use in_memory::{
    FaultPlan, FaultyProvider, FaultyQueue, FaultySecrets, FaultyStore, FixedClock, MemoryQueue,
    MemorySecrets, MemoryStore, ScriptedProvider,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// The adapters behind an app: where its [`Ports`] come from.
pub trait Backing {
    /// What the functions get.
    fn ports(&self) -> Ports;
    /// The store and secrets as the tests seed and read them (no fault wrapper: the plan
    /// does not count), and the functions' clock.
    fn raw(&self) -> (&dyn Store, &dyn SecretStore, &dyn Clock);
}

/// The in-memory adapters, their fault wrappers and the plan that drives and counts them.
pub struct InMemory {
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub secrets: Arc<MemorySecrets>,
    pub provider: Arc<ScriptedProvider>,
    pub clock: Arc<FixedClock>,
    pub plan: FaultPlan,
}

impl Backing for InMemory {
    /// Every adapter behind its fault wrapper.
    fn ports(&self) -> Ports {
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

    fn raw(&self) -> (&dyn Store, &dyn SecretStore, &dyn Clock) {
        (
            self.store.as_ref(),
            self.secrets.as_ref(),
            self.clock.as_ref(),
        )
    }
}

/// The real adapters on the emulator: a fresh table and events queue, Secrets Manager.
pub struct OnEmulator {
    pub emu: Emulator,
    pub store: Arc<DynamoStore>,
    pub secrets: Arc<SecretsManager>,
    pub queue_url: String,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
    /// The clock, when a test fixed it ([`TestApp::fix_clock`]).
    fixed_clock: Option<Arc<FixedClock>>,
}

impl Backing for OnEmulator {
    fn ports(&self) -> Ports {
        Ports {
            store: self.store.clone(),
            queue: Arc::new(SqsQueue::new(self.emu.sqs(), &self.queue_url)),
            secrets: self.secrets.clone(),
            provider: self.provider.clone(),
            clock: self.clock.clone(),
        }
    }

    fn raw(&self) -> (&dyn Store, &dyn SecretStore, &dyn Clock) {
        (
            self.store.as_ref(),
            self.secrets.as_ref(),
            self.clock.as_ref(),
        )
    }
}

/// Each function's `Deps`, built on first use.
#[derive(Default)]
struct Built {
    trigger_call: OnceLock<trigger_call::Deps>,
    settings: OnceLock<settings::Deps>,
    call_completed: OnceLock<call_completed::Deps>,
    webhook_delivery: OnceLock<webhook_delivery::Deps>,
    reconciler: OnceLock<reconciler::Deps>,
}

/// The application under test on one [`Backing`]; reads through to the backing's adapters
/// (`app.store`, `app.clock`, ...).
pub struct TestApp<B> {
    pub backing: B,
    /// What the environment would set; change it with [`TestApp::retune`] once a function
    /// has served (its `Deps` are kept).
    pub tunables: Tunables,
    built: Built,
    /// The ports a test swapped ([`TestApp::swap_ports`]), applied over the backing's.
    swap: Option<PortSwap>,
}

/// A change of the backing's ports.
type PortSwap = Arc<dyn Fn(Ports) -> Ports + Send + Sync>;

impl<B> Deref for TestApp<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.backing
    }
}

impl<B: Backing> TestApp<B> {
    pub fn on(backing: B, tunables: Tunables) -> TestApp<B> {
        TestApp {
            backing,
            tunables,
            built: Built::default(),
            swap: None,
        }
    }

    /// What the functions get: [`Backing::ports`], with what the test swapped.
    pub fn ports(&self) -> Ports {
        let ports = self.backing.ports();
        match &self.swap {
            Some(swap) => swap(ports),
            None => ports,
        }
    }

    /// Swaps ports for every function from now on (they are built again), e.g. a store
    /// through another client: `app.swap_ports(move |p| Ports { store: other.clone(), ..p })`.
    /// Applied on top of earlier swaps.
    pub fn swap_ports(&mut self, swap: impl Fn(Ports) -> Ports + Send + Sync + 'static) {
        self.swap = Some(match self.swap.take() {
            Some(earlier) => Arc::new(move |p| swap(earlier(p))),
            None => Arc::new(swap),
        });
        self.built = Built::default();
    }

    /// The events queue every function gets from now on (e.g. a wrapper failing sends).
    pub fn with_queue(&mut self, queue: Arc<dyn EventQueue>) {
        self.swap_ports(move |p| Ports {
            queue: queue.clone(),
            ..p
        });
    }

    /// Drops the functions' `Deps` (their caches with them): each function's next request is
    /// a cold start, as a new invocation would be.
    pub fn restart(&mut self) {
        self.built = Built::default();
    }

    /// Changes the tunables; the functions are built again on their next request.
    pub fn retune(&mut self, change: impl FnOnce(&mut Tunables)) {
        change(&mut self.tunables);
        self.built = Built::default();
    }

    pub fn trigger_call_deps(&self) -> &trigger_call::Deps {
        self.built
            .trigger_call
            .get_or_init(|| self.ports().trigger_call(&self.tunables))
    }

    pub fn settings_deps(&self) -> &settings::Deps {
        self.built
            .settings
            .get_or_init(|| self.ports().settings(&self.tunables))
    }

    pub fn call_completed_deps(&self) -> &call_completed::Deps {
        self.built
            .call_completed
            .get_or_init(|| self.ports().call_completed(&self.tunables))
    }

    pub fn webhook_delivery_deps(&self) -> &webhook_delivery::Deps {
        self.built
            .webhook_delivery
            .get_or_init(|| self.ports().webhook_delivery(&self.tunables))
    }

    pub fn reconciler_deps(&self) -> &reconciler::Deps {
        self.built
            .reconciler
            .get_or_init(|| self.ports().reconciler(&self.tunables))
    }

    /// One request to trigger-call (`/api/trigger-call`, `/api/calls...`).
    pub async fn trigger_call(&self, req: ApiRequest) -> (u16, Value) {
        parts(&trigger_call::handle(req.build(), self.trigger_call_deps()).await)
    }

    /// One request to the settings API (give it the session's claims).
    pub async fn settings(&self, req: ApiRequest) -> (u16, Value) {
        parts(&settings::handle(req.build(), self.settings_deps()).await)
    }

    /// One provider callback to call-completed.
    pub async fn call_completed(&self, req: ApiRequest) -> (u16, Value) {
        parts(&call_completed::handle(req.build(), self.call_completed_deps()).await)
    }

    /// One SQS batch of these messages through webhook-delivery.
    pub async fn deliver(&self, msgs: &[DeliveryMessage]) -> SqsBatchResponse {
        webhook_delivery::handle(event_for(msgs), self.webhook_delivery_deps()).await
    }

    /// One reconciler pass.
    pub async fn reconcile(&self) -> reconciler::Report {
        reconciler::run(self.reconciler_deps()).await
    }

    /// A request of `seeded`'s dashboard session (the claims API Gateway's JWT authorizer
    /// passes on).
    pub fn session(&self, seeded: &Seeded, method: &str, path: &str) -> ApiRequest {
        self.in_session(&seeded.account.id, ApiRequest::new(method, path))
    }

    /// `req` (a query, a body...) made in the dashboard session of `account`, which need not
    /// be seeded: the session's claims, the account under the tunables' claim name.
    pub fn in_session(&self, account: &AccountId, req: ApiRequest) -> ApiRequest {
        req.claims(json!({"sub": "user-1", (self.tunables.account_claim.as_str()): account}))
    }

    /// A request of the public API with `seeded`'s key (`Authorization: Bearer`).
    pub fn api(&self, seeded: &Seeded, method: &str, path: &str) -> ApiRequest {
        ApiRequest::new(method, path).bearer(&seeded.api_key)
    }

    /// The provider's signature of `raw`, made now.
    pub fn sign_callback(&self, raw: &str) -> String {
        sign_provider_callback(
            &self.tunables.provider_key,
            raw.as_bytes(),
            self.now().timestamp_millis(),
        )
    }

    /// The provider's signed callback for `call` (of `agent`) at `stage`, as it sends it.
    pub fn signed_callback(&self, call: &Call, agent: &Agent, stage: Stage) -> ApiRequest {
        let raw = json!({"event": stage.event(), "call": provider_call_json(call, agent, stage)})
            .to_string();
        callback_request(&raw, Some(&self.sign_callback(&raw)))
    }

    /// Sends the provider's signed callback for `call` at `stage` to call-completed.
    pub async fn callback(&self, call: &Call, agent: &Agent, stage: Stage) -> (u16, Value) {
        self.call_completed(self.signed_callback(call, agent, stage))
            .await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.backing.raw().2.now()
    }

    fn raw_store(&self) -> &dyn Store {
        self.backing.raw().0
    }

    /// An account of `plan` with a key under the app's secret prefix (the tunables'), created
    /// now, with an agent (its default agent if `with_default_agent`).
    pub async fn account_with(&self, plan: Plan, with_default_agent: bool) -> Seeded {
        fixtures::seed(
            self.raw_store(),
            self.backing.raw().1,
            &self.tunables.secret_prefix,
            plan,
            with_default_agent,
            self.now(),
        )
        .await
    }

    pub async fn agent(&self, account_id: &AccountId, name: &str, phone: Option<&str>) -> Agent {
        fixtures::agent(self.raw_store(), account_id, name, phone).await
    }

    pub async fn account(&self, id: &AccountId) -> Account {
        self.raw_store()
            .account(id)
            .await
            .expect("read account")
            .expect("account exists")
    }

    /// Applies a change to the stored account.
    pub async fn update_account(&self, id: &AccountId, f: impl FnOnce(&mut Account)) -> Account {
        fixtures::update_account(self.raw_store(), id, f).await
    }

    pub async fn call(&self, id: CallId) -> Call {
        self.raw_store()
            .call(id)
            .await
            .expect("read call")
            .expect("call exists")
    }

    /// An outbound call as trigger-call leaves it: written, then dialing with the provider's id.
    pub async fn dialing_call(&self, seeded: &Seeded) -> Call {
        self.dialing_call_with(
            seeded,
            CallId::new_v4(),
            seeded.agent.id,
            serde_json::Map::new(),
        )
        .await
    }

    /// [`TestApp::dialing_call`] with its id, agent and metadata.
    pub async fn dialing_call_with(
        &self,
        seeded: &Seeded,
        id: CallId,
        agent_id: AgentId,
        metadata: serde_json::Map<String, Value>,
    ) -> Call {
        let now = at_ms(START_MS - 20_000);
        let call = Call {
            name: Some("Jane Smith".into()),
            metadata,
            ..Call::new(
                id,
                seeded.account.id.clone(),
                agent_id,
                domain::model::Direction::Outbound,
                CallStatus::Queued,
                "+15551234567",
                now,
            )
        };
        self.raw_store()
            .create_call(&call, None, now)
            .await
            .expect("create call");
        let provider_id = format!("prov_{}", Uuid::new_v4().simple());
        self.raw_store()
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
            id: EventId::new_v4(),
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
            .raw_store()
            .complete_call(call.id, &CallProgress::default(), &completion, now)
            .await
            .expect("complete call"));
        event
    }

    /// The account's delivery log, oldest first.
    pub async fn delivery_log(&self, account_id: &AccountId) -> Vec<DeliveryAttempt> {
        let page = self
            .raw_store()
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
}

/// The first delivery attempt's message of `event`.
pub fn first_attempt(event: &domain::model::EventRecord) -> DeliveryMessage {
    DeliveryMessage::first(event.id, event.account_id.clone(), event.call_id)
}

/// A callback to call-completed with this raw body and `x-retell-signature` (or none).
pub fn callback_request(raw: &str, signature: Option<&str>) -> ApiRequest {
    let mut req = ApiRequest::post("/hooks/voice-provider")
        .header("content-type", "application/json")
        .body(raw);
    if let Some(sig) = signature {
        req = req.header("x-retell-signature", sig);
    }
    req
}

impl Default for TestApp<InMemory> {
    /// [`TestApp::new`].
    fn default() -> Self {
        TestApp::new()
    }
}

impl TestApp<InMemory> {
    /// The in-memory flavour, its clock at `now`, the default tunables.
    pub fn in_memory(now: DateTime<Utc>) -> TestApp<InMemory> {
        let clock = Arc::new(FixedClock::new(now));
        TestApp::on(
            InMemory {
                store: Arc::new(MemoryStore::new()),
                queue: Arc::new(MemoryQueue::new(clock.clone())),
                secrets: Arc::new(MemorySecrets::new()),
                provider: Arc::new(ScriptedProvider::new()),
                clock,
                plan: FaultPlan::new(),
            },
            Tunables::default(),
        )
    }
}

impl TestApp<OnEmulator> {
    /// The emulator flavour: a fresh table and queue, the system clock, no voice provider,
    /// the default tunables.
    pub async fn emulator() -> TestApp<OnEmulator> {
        let emu = Emulator::connect().await;
        let store = emu.table().await;
        TestApp::emulator_with(emu, store).await
    }

    /// The emulator flavour on `store` (a table of `emu`'s reached through a client of the
    /// test's, e.g. one that counts its requests).
    pub async fn emulator_with(emu: Emulator, store: DynamoStore) -> TestApp<OnEmulator> {
        let queue_url = emu.queue().await;
        TestApp::emulator_on(emu, store, queue_url)
    }

    /// The emulator flavour on a table and an events queue of the test's (e.g. the local
    /// stack's resources, made by `local_stack::resources::ensure`).
    pub fn emulator_on(
        emu: Emulator,
        store: DynamoStore,
        queue_url: String,
    ) -> TestApp<OnEmulator> {
        let secrets = Arc::new(emu.secrets());
        TestApp::on(
            OnEmulator {
                emu,
                store: Arc::new(store),
                secrets,
                queue_url,
                provider: Arc::new(NoProvider),
                clock: Arc::new(SystemClock),
                fixed_clock: None,
            },
            Tunables::default(),
        )
    }

    /// An Agency account with API access on, a key and a default agent with a phone number,
    /// in the emulator's table and Secrets Manager; the tunables take its secret prefix.
    pub async fn agency(&mut self) -> Seeded {
        let seeded = fixtures::agency(self.store.as_ref(), self.secrets.as_ref()).await;
        let prefix = seeded.secret_prefix.clone();
        self.retune(|t| t.secret_prefix = prefix);
        seeded
    }

    /// The voice provider the functions get from now on (they are built again).
    pub fn set_provider(&mut self, provider: Arc<dyn VoiceProvider>) {
        self.backing.provider = provider;
        self.built = Built::default();
    }

    /// The clock the functions get from now on (they are built again).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.backing.clock = clock;
        self.backing.fixed_clock = None;
        self.built = Built::default();
    }

    /// A fixed clock at `at` for the functions from now on ([`TestApp::fixed_clock`] moves
    /// it).
    pub fn fix_clock(&mut self, at: DateTime<Utc>) {
        let clock = Arc::new(FixedClock::new(at));
        self.set_clock(clock.clone());
        self.backing.fixed_clock = Some(clock);
    }

    /// The clock [`TestApp::fix_clock`] set.
    pub fn fixed_clock(&self) -> &FixedClock {
        self.backing
            .fixed_clock
            .as_deref()
            .expect("the test fixed the clock (TestApp::fix_clock)")
    }

    /// Swaps the app's store for the same table reached through a client whose requests are
    /// atomic, as DynamoDB's are and moto's are not (see [`crate::atomic`]): for racing
    /// writers. Returns that store.
    pub fn atomic_store(&mut self) -> Arc<DynamoStore> {
        let store = Arc::new(DynamoStore::new(
            crate::atomic::atomic_dynamodb(&self.emu.config),
            self.store.table(),
        ));
        let swapped = store.clone();
        self.swap_ports(move |p| Ports {
            store: swapped.clone(),
            ..p
        });
        store
    }

    /// Every item of a `type` (`call`, `event`, ...) in the app's table.
    pub async fn items_of_type(&self, kind: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .store
                .client()
                .scan()
                .table_name(self.store.table())
                .filter_expression("#t = :t")
                .expression_attribute_names("#t", "type")
                .expression_attribute_values(":t", AttributeValue::S(kind.into()))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .expect("scan");
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return items,
            }
        }
    }

    /// Messages on the events queue (visible, in flight or delayed), without receiving them.
    pub async fn queue_depth(&self) -> u64 {
        crate::sqs::depth(&self.emu.sqs(), &self.queue_url).await
    }
}

/// What the rule tests read and seed: the in-memory adapters written directly, so the fault
/// plan counts only what the function under test did.
impl TestApp<InMemory> {
    /// The in-memory flavour at the provider example's "now" ([`NOW_MS`]).
    pub fn new() -> TestApp<InMemory> {
        TestApp::in_memory(at_ms(NOW_MS))
    }

    /// An Agency account with API access on, a key and a default agent with a phone number.
    pub async fn agency(&self) -> Seeded {
        self.account_with(Plan::Agency, true).await
    }

    /// Feeds the queue to the delivery function as its messages come due, the way the event
    /// source mapping would, until it is empty; every batch must succeed, and fewer than 20
    /// must empty it (the longest drain, a dropped event's four attempts, takes 4). Returns
    /// the batches fed.
    ///
    /// The clock is set to each batch's due time, or left where it is if the test already
    /// moved it past that: it never goes back. A test may queue messages and then advance the
    /// clock so that what the drain writes is strictly later than an instant it took (rules
    /// `resend_dropped::recover_twice_in_a_row...` reads the log rows after `t`; set back to
    /// the due time, its recovered series' rows would fall at `t` and be missed).
    pub async fn drain(&self) -> usize {
        let mut batches = 0;
        while let Some(due) = self.queue.next_due_at() {
            self.clock.set(due.max(self.now()));
            let msgs = self.queue.take_due();
            let res = self.deliver(&msgs).await;
            assert!(res.batch_item_failures.is_empty(), "batch {batches} failed");
            batches += 1;
            assert!(batches < 20, "the queue never drained");
        }
        batches
    }

    /// How many events the store holds.
    pub fn stored_event_count(&self) -> usize {
        self.store.events().len()
    }
}
