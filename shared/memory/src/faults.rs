//! Fault-injecting wrappers around any adapter of a port.
//!
//! A [`FaultPlan`] is a shared, cloneable script of faults keyed by method name (the port
//! trait's method: `"finish_attempt"`, `"send"`, `"create_phone_call"`, `"put_version"`...),
//! plus a counter of calls per method. Each wrapper ([`FaultyStore`], [`FaultyQueue`],
//! [`FaultySecrets`], [`FaultyProvider`]) implements its port by delegating to the wrapped
//! adapter through the plan, so a test builds the real in-memory adapters, wraps them, hands
//! the wrappers to the code under test, and programs the plan:
//!
//! - [`FaultPlan::fail_nth`], [`FaultPlan::fail_next`], [`FaultPlan::fail_always`]: the call
//!   returns the port's backend error and the wrapped adapter is never called (a request that
//!   never reached the service, or that the service refused);
//! - [`FaultPlan::fail_after_effect`]: the wrapped adapter is called, its effect stays, and the
//!   caller still gets an error (a write that happened but whose answer was lost);
//! - [`FaultPlan::delay`]: the call sleeps first (`tokio::time::sleep`, so paused test time
//!   skips it);
//! - [`FaultPlan::hang`]: the call never completes (for the caller's timeouts);
//! - [`FaultPlan::calls`]: how many times a method was called through any wrapper of the plan.
//!
//! Call numbers start at 1 and count every call of the method, faulty or not. Method names of
//! all ports are distinct, so one plan can drive every wrapper of a test. A name that is no
//! port method is a mistake in the test: programming or counting it panics with the list of
//! names, instead of silently never matching.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::{QueueError, SecretError, StoreError};
use domain::ids::{AccountId, AgentId, CallId, EventId};
use domain::model::{
    Account, Agent, Call, CallStatus, DeliveryAttempt, DeliveryOutcome, IdempotencyRecord,
    KeyGrant, StoredResponse, WebhookSecretInfo,
};
use domain::ports::provider::{CreatePhoneCall, ProviderCall, ProviderError, VoiceProvider};
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::calls::{
    CallCompletion, CallPage, CallProgress, CallQuery, CreateCallOutcome,
};
use domain::ports::store::deliveries::{DeliveryPage, DeliveryQuery};
use domain::ports::store::due::{Due, DueKind, DueShard, DueStore};
use domain::ports::store::endpoints::{EndpointHealth, EndpointHealthStore};
use domain::ports::store::event_store::NewEvent;
use domain::ports::store::event_store::StoredEvent;
use domain::ports::store::suppressions::{SuppressionPage, SuppressionStore};
use domain::ports::store::{
    AccountStore, AttemptLedger, CallStore, Claim, DeliveryLog, EventStore, LedgerClaim, Store,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Implements port traits on a wrapper by running every required method through the plan,
/// under the method's name, or lists those names. The signatures come from the traits: each
/// port trait carries `#[port]` (crate `port-macro`), which derives `<trait>_methods!`, a
/// macro handing the trait's required methods to a callback; this macro is that callback,
/// walking the list of traits one at a time. So a method added to a port is wrapped and
/// counted with nothing to copy here (the types its signature names must be imported in this
/// module). Methods with a default body keep it: they reach the wrapper through the required
/// methods, and the plan sees those (`send_many` as single `send`s, `due` as `due_in_shard`).
///
/// - `through_plan!(impl Wrapper for a_methods b_methods ...)`: the impls;
/// - `through_plan!(names of a_methods b_methods ...)`: `&[...]`, every method's name.
macro_rules! through_plan {
    (impl $wrapper:ident for $($port:ident)*) => {
        $( domain::$port!(through_plan!(impl $wrapper)); )*
    };
    (
        (impl $wrapper:ident)
        $trait:ident { $( fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )* }
    ) => {
        #[async_trait]
        impl $trait for $wrapper {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    self.plan
                        .run(stringify!($method), self.inner.$method($($arg),*))
                        .await
                }
            )*
        }
    };
    (names of $($port:ident)*) => {
        through_plan!(names [] $($port)*)
    };
    (names [$($done:tt)*]) => {
        &[$($done)*]
    };
    (names [$($done:tt)*] $port:ident $($rest:ident)*) => {
        domain::$port!(through_plan!(names [$($done)*] $($rest)*))
    };
    (
        (names [$($done:tt)*] $($rest:ident)*)
        $trait:ident { $( fn $method:ident $args:tt -> $ret:ty; )* }
    ) => {
        through_plan!(names [$($done)* $(stringify!($method),)*] $($rest)*)
    };
}

/// The port traits that make up `Store` (as their `*_methods!` macros), appended to the
/// `through_plan!` invocation given.
macro_rules! store_ports {
    (through_plan!($($head:tt)*)) => {
        through_plan! {
            $($head)*
            account_store_methods
            call_store_methods
            event_store_methods
            delivery_log_methods
            attempt_ledger_methods
            due_store_methods
            suppression_store_methods
            endpoint_health_store_methods
        }
    };
}

/// Every method a wrapper counts, by port: the required methods of the port traits, read
/// from the traits themselves (see [`through_plan!`]).
pub const STORE_METHODS: &[&str] = store_ports!(through_plan!(names of));
pub const QUEUE_METHODS: &[&str] = through_plan!(names of event_queue_methods);
pub const SECRET_METHODS: &[&str] = through_plan!(names of secret_store_methods);
pub const PROVIDER_METHODS: &[&str] = through_plan!(names of voice_provider_methods);

/// The duration an injected provider timeout reports.
pub const INJECTED_TIMEOUT: Duration = Duration::from_secs(10);

fn known(method: &str) -> bool {
    [
        STORE_METHODS,
        QUEUE_METHODS,
        SECRET_METHODS,
        PROVIDER_METHODS,
    ]
    .iter()
    .any(|names| names.contains(&method))
}

fn check(method: &str) {
    assert!(
        known(method),
        "{method:?} is not a port method; known: {STORE_METHODS:?} {QUEUE_METHODS:?} \
         {SECRET_METHODS:?} {PROVIDER_METHODS:?}"
    );
}

/// Which stage an injected failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Before the wrapped adapter was called: nothing happened.
    Before,
    /// After the wrapped adapter succeeded: the effect happened, the answer is lost.
    AfterEffect,
    /// Before the wrapped adapter was called, as the service's throttling (DynamoDB's
    /// ThrottlingException, which the store maps to `Throttled`; a 429 from the provider).
    Throttled,
    /// Before the wrapped adapter was called, as an item that cannot be read back
    /// (`StoreError::Corrupt`; the other ports' backend error).
    Corrupt,
}

/// The error a port returns for an injected failure.
pub trait InjectedError {
    fn injected(stage: Injected, method: &str, call: u64) -> Self;
}

fn message(stage: Injected, method: &str, call: u64) -> String {
    match stage {
        Injected::Before => format!("injected fault: {method} call {call} failed"),
        Injected::AfterEffect => {
            format!("injected fault: {method} call {call} took effect, its answer was lost")
        }
        Injected::Throttled => format!("injected fault: {method} call {call} throttled"),
        Injected::Corrupt => format!("injected fault: {method} call {call} read a malformed item"),
    }
}

impl InjectedError for StoreError {
    fn injected(stage: Injected, method: &str, call: u64) -> Self {
        match stage {
            Injected::Throttled => StoreError::Throttled,
            Injected::Corrupt => StoreError::Corrupt(message(stage, method, call)),
            _ => StoreError::Backend(message(stage, method, call)),
        }
    }
}

impl InjectedError for QueueError {
    fn injected(stage: Injected, method: &str, call: u64) -> Self {
        QueueError::Backend(message(stage, method, call))
    }
}

impl InjectedError for SecretError {
    fn injected(stage: Injected, method: &str, call: u64) -> Self {
        SecretError::Backend(message(stage, method, call))
    }
}

/// Before: the provider was unreachable (`Connect`: proves no call was placed). After: the
/// call was placed but no answer came back in time (`Timeout`: the outcome is unknown).
impl InjectedError for ProviderError {
    fn injected(stage: Injected, method: &str, call: u64) -> Self {
        match stage {
            Injected::Before | Injected::Corrupt => {
                ProviderError::Connect(message(stage, method, call))
            }
            Injected::AfterEffect => ProviderError::Timeout(INJECTED_TIMEOUT),
            Injected::Throttled => ProviderError::Status {
                status: 429,
                excerpt: message(stage, method, call),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Nth(u64),
    /// The next call not yet served by an earlier `Next` rule (consumed when used).
    Next,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Fail,
    FailAfterEffect,
    Throttle,
    Corrupt,
    Delay(Duration),
    Hang,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    when: When,
    fault: Fault,
}

#[derive(Debug, Default)]
struct MethodPlan {
    calls: u64,
    rules: Vec<Rule>,
}

/// What one call does, from every rule that matched it.
#[derive(Debug, Default)]
struct Action {
    call: u64,
    delay: Duration,
    hang: bool,
    fail: Option<Injected>,
}

/// The shared fault script and call counters; clones share them.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    methods: Arc<Mutex<HashMap<String, MethodPlan>>>,
}

impl FaultPlan {
    pub fn new() -> Self {
        FaultPlan::default()
    }

    fn methods(&self) -> MutexGuard<'_, HashMap<String, MethodPlan>> {
        self.methods.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, method: &str, when: When, fault: Fault) -> &Self {
        check(method);
        self.methods()
            .entry(method.to_string())
            .or_default()
            .rules
            .push(Rule { when, fault });
        self
    }

    /// The `n`th call (1-based, counting every call) of `method` fails without effect.
    pub fn fail_nth(&self, method: &str, n: u64) -> &Self {
        self.add(method, When::Nth(n), Fault::Fail)
    }

    /// The next call of `method` fails without effect. Each `fail_next` is used by one call,
    /// so two in a row fail the next two calls.
    pub fn fail_next(&self, method: &str) -> &Self {
        self.add(method, When::Next, Fault::Fail)
    }

    /// Every call of `method` fails without effect, until [`FaultPlan::clear`].
    pub fn fail_always(&self, method: &str) -> &Self {
        self.add(method, When::Always, Fault::Fail)
    }

    /// The `n`th call of `method` takes effect, then fails. If the wrapped call itself fails,
    /// that error is returned.
    pub fn fail_after_effect(&self, method: &str, n: u64) -> &Self {
        self.add(method, When::Nth(n), Fault::FailAfterEffect)
    }

    /// Every call of `method` is throttled without effect (`StoreError::Throttled` for the
    /// store), until [`FaultPlan::clear`].
    pub fn throttle_always(&self, method: &str) -> &Self {
        self.add(method, When::Always, Fault::Throttle)
    }

    /// The `n`th call of `method` reads a malformed item (see [`FaultPlan::corrupt_always`]).
    pub fn corrupt_nth(&self, method: &str, n: u64) -> &Self {
        self.add(method, When::Nth(n), Fault::Corrupt)
    }

    /// Every call of `method` reads a malformed item, until [`FaultPlan::clear`]
    /// (`StoreError::Corrupt` for the store, the backend error elsewhere): a poison item.
    pub fn corrupt_always(&self, method: &str) -> &Self {
        self.add(method, When::Always, Fault::Corrupt)
    }

    /// The `n`th call of `method` sleeps `by` before it runs.
    pub fn delay(&self, method: &str, n: u64, by: Duration) -> &Self {
        self.add(method, When::Nth(n), Fault::Delay(by))
    }

    /// Every call of `method` sleeps `by` before it runs, until [`FaultPlan::clear`]: a
    /// store or service with that latency (the reconciler's bench).
    pub fn delay_always(&self, method: &str, by: Duration) -> &Self {
        self.add(method, When::Always, Fault::Delay(by))
    }

    /// The `n`th call of `method` never completes.
    pub fn hang(&self, method: &str, n: u64) -> &Self {
        self.add(method, When::Nth(n), Fault::Hang)
    }

    /// Removes every rule not yet used; the counters stay.
    pub fn clear(&self) {
        for m in self.methods().values_mut() {
            m.rules.clear();
        }
    }

    /// How many calls of `method` went through the plan's wrappers (faulty ones included).
    pub fn calls(&self, method: &str) -> u64 {
        check(method);
        self.methods().get(method).map_or(0, |m| m.calls)
    }

    /// Counts the call and decides its faults. A call that both fails before and after the
    /// effect fails before (nothing happens).
    fn enter(&self, method: &str) -> Action {
        let mut methods = self.methods();
        let m = methods.entry(method.to_string()).or_default();
        m.calls += 1;
        let mut action = Action {
            call: m.calls,
            ..Action::default()
        };
        let mut next_used = false;
        let call = m.calls;
        m.rules.retain(|rule| {
            let hit = match rule.when {
                When::Nth(n) => n == call,
                When::Always => true,
                When::Next => !next_used,
            };
            if !hit {
                return true;
            }
            match rule.fault {
                Fault::Fail => action.fail = Some(Injected::Before),
                Fault::Throttle => action.fail = Some(Injected::Throttled),
                Fault::Corrupt => action.fail = Some(Injected::Corrupt),
                Fault::FailAfterEffect => {
                    action.fail.get_or_insert(Injected::AfterEffect);
                }
                Fault::Delay(d) => action.delay += d,
                Fault::Hang => action.hang = true,
            }
            match rule.when {
                When::Next => {
                    next_used = true;
                    false
                }
                When::Nth(_) => false,
                When::Always => true,
            }
        });
        action
    }

    /// Runs one port call through the plan: count, delay, hang, fail before, or fail after the
    /// effect. `op` is not started unless the call gets that far.
    pub async fn run<T, E, F>(&self, method: &str, op: F) -> Result<T, E>
    where
        E: InjectedError,
        F: Future<Output = Result<T, E>>,
    {
        let action = self.enter(method);
        if !action.delay.is_zero() {
            tokio::time::sleep(action.delay).await;
        }
        if action.hang {
            return std::future::pending().await;
        }
        match action.fail {
            None => op.await,
            Some(stage @ (Injected::Before | Injected::Throttled | Injected::Corrupt)) => {
                Err(E::injected(stage, method, action.call))
            }
            Some(Injected::AfterEffect) => {
                op.await?;
                Err(E::injected(Injected::AfterEffect, method, action.call))
            }
        }
    }
}

/// A store whose calls fail, lose their answers, stall or hang as the plan says: DynamoDB
/// errors, a write that succeeded but whose response timed out, slow or stuck requests.
#[derive(Clone)]
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    plan: FaultPlan,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>, plan: FaultPlan) -> Self {
        FaultyStore { inner, plan }
    }
}

store_ports!(through_plan!(impl FaultyStore for));

/// A queue whose sends fail (SQS errors), go out but report failure (the response was lost,
/// so a retry sends a duplicate), stall or hang as the plan says.
#[derive(Clone)]
pub struct FaultyQueue {
    inner: Arc<dyn EventQueue>,
    plan: FaultPlan,
}

impl FaultyQueue {
    pub fn new(inner: Arc<dyn EventQueue>, plan: FaultPlan) -> Self {
        FaultyQueue { inner, plan }
    }
}

// `send_many` keeps the trait's default on purpose: each message goes through the plan as
// one `send`, so a fault hits single messages, as SQS fails single entries of a batch.
through_plan!(impl FaultyQueue for event_queue_methods);

/// A secret store whose calls fail (Secrets Manager errors), write a version but report
/// failure, stall or hang as the plan says.
#[derive(Clone)]
pub struct FaultySecrets {
    inner: Arc<dyn SecretStore>,
    plan: FaultPlan,
}

impl FaultySecrets {
    pub fn new(inner: Arc<dyn SecretStore>, plan: FaultPlan) -> Self {
        FaultySecrets { inner, plan }
    }
}

through_plan!(impl FaultySecrets for secret_store_methods);

/// A voice provider that is unreachable (`Connect`, no call placed), places the call but
/// never answers in time (`Timeout` after the wrapped provider took the request), is slow, or
/// hangs, as the plan says.
#[derive(Clone)]
pub struct FaultyProvider {
    inner: Arc<dyn VoiceProvider>,
    plan: FaultPlan,
}

impl FaultyProvider {
    pub fn new(inner: Arc<dyn VoiceProvider>, plan: FaultPlan) -> Self {
        FaultyProvider { inner, plan }
    }
}

through_plan!(impl FaultyProvider for voice_provider_methods);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedClock, MemoryQueue, MemorySecrets, MemoryStore, ScriptedProvider};
    use chrono::TimeZone;
    use domain::model::DeliveryOutcome;
    use domain::ports::store::deliveries::DeliveryQuery;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 0).unwrap()
    }

    fn store(plan: &FaultPlan) -> (Arc<MemoryStore>, FaultyStore) {
        let inner = Arc::new(MemoryStore::new());
        (inner.clone(), FaultyStore::new(inner, plan.clone()))
    }

    fn row(account: &str) -> DeliveryAttempt {
        DeliveryAttempt {
            trigger: Default::default(),
            account_id: account.into(),
            event_id: EventId::new_v4(),
            call_id: CallId::new_v4(),
            attempt: 1,
            attempted_at: t0(),
            url: None,
            outcome: DeliveryOutcome::Delivered,
            http_status: Some(200),
            duration_ms: 5,
            error_class: None,
            response_excerpt: None,
            next_attempt_at: None,
        }
    }

    async fn rows(store: &dyn Store) -> usize {
        let q = DeliveryQuery {
            outcome: None,
            limit: 100,
            after: None,
        };
        store
            .deliveries(&"acct".into(), &q, t0())
            .await
            .unwrap()
            .attempts
            .len()
    }

    #[tokio::test]
    async fn without_faults_the_wrapper_passes_the_contracts_and_counts() {
        let plan = FaultPlan::new();
        let (_, faulty) = store(&plan);
        crate::contract::store(&faulty, t0()).await.unwrap();
        assert!(plan.calls("create_call") > 5);
        assert_eq!(plan.calls("key_grant"), 8);
        assert_eq!(plan.calls("use_key"), 35);
        assert_eq!(plan.calls("count_use"), 5);
        let secrets = FaultySecrets::new(Arc::new(MemorySecrets::new()), plan.clone());
        crate::contract::secrets(&secrets).await.unwrap();
        assert!(plan.calls("put_version") > 3);
    }

    #[tokio::test]
    async fn the_nth_call_fails_without_effect() {
        let plan = FaultPlan::new();
        let (inner, faulty) = store(&plan);
        plan.fail_nth("record_attempt", 2);
        faulty.record_attempt(&row("acct")).await.unwrap();
        let second = faulty.record_attempt(&row("acct")).await;
        assert!(
            matches!(second, Err(StoreError::Backend(m)) if m.contains("record_attempt call 2"))
        );
        faulty.record_attempt(&row("acct")).await.unwrap();
        assert_eq!(
            rows(inner.as_ref()).await,
            2,
            "the failed write wrote nothing"
        );
        assert_eq!(plan.calls("record_attempt"), 3);
    }

    #[tokio::test]
    async fn a_throttled_call_is_the_store_throttling_error_without_effect() {
        let plan = FaultPlan::new();
        let (inner, faulty) = store(&plan);
        plan.throttle_always("record_attempt");
        for _ in 0..2 {
            assert!(matches!(
                faulty.record_attempt(&row("acct")).await,
                Err(StoreError::Throttled)
            ));
        }
        assert_eq!(
            rows(inner.as_ref()).await,
            0,
            "a throttled write writes nothing"
        );
        plan.clear();
        faulty.record_attempt(&row("acct")).await.unwrap();
        assert_eq!(rows(inner.as_ref()).await, 1);
        assert_eq!(plan.calls("record_attempt"), 3);
    }

    #[tokio::test]
    async fn fail_next_is_used_once_per_call_and_fail_always_until_cleared() {
        let plan = FaultPlan::new();
        let clock = Arc::new(FixedClock::new(t0()));
        let inner = Arc::new(MemoryQueue::new(clock));
        let queue = FaultyQueue::new(inner.clone(), plan.clone());
        let msg = DeliveryMessage::first(EventId::new_v4(), "acct", CallId::new_v4());
        plan.fail_next("send").fail_next("send");
        assert!(queue.send(&msg, Duration::ZERO).await.is_err());
        assert!(queue.send(&msg, Duration::ZERO).await.is_err());
        assert!(queue.send(&msg, Duration::ZERO).await.is_ok());
        plan.fail_always("send");
        for _ in 0..3 {
            assert!(queue.send(&msg, Duration::ZERO).await.is_err());
        }
        plan.clear();
        assert!(queue.send(&msg, Duration::ZERO).await.is_ok());
        assert_eq!(plan.calls("send"), 7);
        assert_eq!(
            inner.sent_count(),
            2,
            "only the calls without a fault were sent"
        );
    }

    #[tokio::test]
    async fn a_failure_after_the_effect_keeps_the_effect() {
        let plan = FaultPlan::new();
        let (inner, faulty) = store(&plan);
        plan.fail_after_effect("record_attempt", 1);
        assert!(matches!(
            faulty.record_attempt(&row("acct")).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(rows(inner.as_ref()).await, 1, "the write happened");

        let finished = row("acct");
        let event = finished.event_id;
        let lease = Duration::from_secs(60);
        faulty
            .claim_attempt(event, "original", 1, t0(), lease)
            .await
            .unwrap();
        plan.fail_after_effect("finish_attempt", 1);
        assert!(faulty.finish_attempt("original", &finished).await.is_err());
        let much_later = t0() + chrono::Duration::hours(1);
        assert_eq!(
            inner
                .claim_attempt(event, "original", 1, much_later, lease)
                .await
                .unwrap(),
            Claim::Done(Box::new(finished)),
            "the attempt was finished although the caller saw an error"
        );

        let secrets_inner = Arc::new(MemorySecrets::new());
        let secrets = FaultySecrets::new(secrets_inner.clone(), plan.clone());
        plan.fail_after_effect("put_version", 1);
        let id = "d".repeat(32);
        assert!(secrets.put_version("s", "value", &id).await.is_err());
        assert_eq!(secrets_inner.get_version("s", &id).await.unwrap(), "value");
    }

    #[tokio::test]
    async fn the_provider_places_the_call_but_the_answer_is_lost() {
        let plan = FaultPlan::new();
        let inner = Arc::new(ScriptedProvider::new());
        let provider = FaultyProvider::new(inner.clone(), plan.clone());
        let req = CreatePhoneCall {
            from_number: "+14155550100".into(),
            to_number: "+14155550123".into(),
            override_agent_id: "agent".into(),
            metadata: serde_json::json!({}),
            retell_llm_dynamic_variables: serde_json::Map::new(),
        };
        plan.fail_after_effect("create_phone_call", 1)
            .fail_nth("create_phone_call", 2);
        assert!(matches!(
            provider.create_phone_call(&req).await,
            Err(ProviderError::Timeout(INJECTED_TIMEOUT))
        ));
        assert_eq!(inner.request_count(), 1, "the call was placed");
        assert!(matches!(
            provider.create_phone_call(&req).await,
            Err(ProviderError::Connect(_))
        ));
        assert_eq!(
            inner.request_count(),
            1,
            "an unreachable provider placed nothing"
        );
        assert!(provider.create_phone_call(&req).await.is_ok());
        assert_eq!(plan.calls("create_phone_call"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_sleeps_in_tokio_time() {
        let plan = FaultPlan::new();
        let (_, faulty) = store(&plan);
        plan.delay("call", 1, Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        assert_eq!(faulty.call(CallId::new_v4()).await.unwrap(), None);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        faulty.call(CallId::new_v4()).await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "only the first call was delayed"
        );
        // A delay shorter than the caller's timeout passes, a longer one times out.
        plan.delay("call", 3, Duration::from_secs(5));
        let within = tokio::time::timeout(Duration::from_secs(10), faulty.call(CallId::new_v4()));
        assert!(within.await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_call_never_completes_and_is_counted() {
        let plan = FaultPlan::new();
        let (inner, faulty) = store(&plan);
        plan.hang("mark_call_dialing", 1);
        let hung = tokio::time::timeout(
            Duration::from_secs(3600),
            faulty.mark_call_dialing(CallId::new_v4(), "prov", t0(), t0(), None),
        )
        .await;
        assert!(hung.is_err(), "timed out");
        assert_eq!(plan.calls("mark_call_dialing"), 1);
        assert_eq!(rows(inner.as_ref()).await, 0);
    }

    #[test]
    #[should_panic(expected = "is not a port method")]
    fn a_misspelt_method_is_refused() {
        FaultPlan::new().fail_next("finish_atempt");
    }
}
