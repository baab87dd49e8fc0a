//! The one way tests build a function's `Deps`: the [`Ports`] a test chose (the emulator's
//! adapters, or in-memory ones, or a wrapper around either) plus the [`Tunables`] the
//! environment would set, turned into the function's `Config` and handed to its `Deps::new`,
//! the constructor `main.rs` goes through (nothing of a `Deps` is assembled here).
//!
//! Tests get their `Deps` from [`crate::app::TestApp`], which builds them here; a test builds
//! one itself only for a second instance of a function beside the app's:
//!
//! ```ignore
//! let ports = Ports::emulator(&emu, &store, &queue_url);
//! let deps = ports.webhook_delivery(&Tunables::for_account(&seeded));
//! // One part swapped, the rest as before:
//! let slow = Ports { secrets: held.clone(), ..ports.clone() }.settings(&tunables);
//! ```

use crate::fixtures::Seeded;
use crate::Emulator;
use async_trait::async_trait;
use aws_adapters::{DynamoStore, SqsQueue};
use domain::clock::{Clock, SystemClock};
use domain::config;
use domain::ports::provider::{CreatePhoneCall, ProviderCall, ProviderError, VoiceProvider};
use domain::ports::queue::EventQueue;
use domain::ports::secrets::{ProviderSecret, SecretStore};
use domain::ports::store::Store;
use domain::webhook::retry_schedule::{self, RetrySchedule};
use outbound::RetellClient;
use std::sync::Arc;
use std::time::Duration;

/// The adapters behind the domain's ports: what a function talks to.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn EventQueue>,
    pub secrets: Arc<dyn SecretStore>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
}

/// What the environment configures (`domain::config`'s variables), with test defaults.
#[derive(Clone, Debug)]
pub struct Tunables {
    /// `API_KEY_SECRET_PREFIX`; a seeded account's own prefix in most tests.
    pub secret_prefix: String,
    /// `WEBHOOK_SECRET_PREFIX` (account ids are unique per test, so the default is shared).
    pub webhook_secret_prefix: String,
    /// `WEBHOOK_SECRET_OVERLAP` (24 h).
    pub signing_secret_overlap: Duration,
    /// `ACCOUNT_ID_CLAIM`.
    pub account_claim: String,
    /// The provider secret's `api_key`: authenticates calls to the provider ([`retell`]) and
    /// signs its callbacks (call-completed).
    pub provider_key: String,
    /// `PROVIDER_TIMEOUT_MS`; trigger-call's idempotency wait is derived from it.
    pub provider_timeout: Duration,
    /// `WEBHOOK_TIMEOUT_MS`.
    pub webhook_timeout: Duration,
    /// `WEBHOOK_RETRY_DELAYS` (`30s,5m,30m`).
    pub retry_delays: String,
    /// `WEBHOOK_ALLOW_INSECURE_LOCAL`: on by default, since test receivers listen on loopback.
    pub allow_insecure_local: bool,
    /// `WEBHOOK_ACCOUNT_CONCURRENCY`: one account's deliveries at once.
    pub account_concurrency: usize,
    /// `WEBHOOK_REPARK_DELAY_MS`: how long a delivery over its account's cap waits.
    pub repark_delay: Duration,
    /// `CALL_ANALYSIS_GRACE`.
    pub analysis_grace: Duration,
    /// `DIAL_UNKNOWN_DEADLINE`.
    pub dial_unknown_deadline: Duration,
    /// `CALL_STALE_AFTER`.
    pub call_stale_after: Duration,
    /// `API_RATE_LIMIT_PER_MINUTE`.
    pub api_rate_limit: u32,
    /// `SETTINGS_RATE_LIMIT_PER_MINUTE`.
    pub settings_rate_limit: u32,
    /// `COSTLY_RATE_LIMIT_PER_MINUTE`.
    pub costly_rate_limit: u32,
    /// `RECONCILER_CONCURRENCY`, `SCHEDULED_CALLS_PER_SECOND`.
    pub reconciler_pace: reconciler::Pace,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            secret_prefix: config::DEFAULT_API_KEY_SECRET_PREFIX.into(),
            webhook_secret_prefix: config::DEFAULT_WEBHOOK_SECRET_PREFIX.into(),
            signing_secret_overlap: config::DEFAULT_WEBHOOK_SECRET_OVERLAP,
            account_claim: config::DEFAULT_ACCOUNT_ID_CLAIM.into(),
            provider_key: "provider-test-key".into(),
            provider_timeout: config::DEFAULT_PROVIDER_TIMEOUT,
            webhook_timeout: Duration::from_secs(5),
            retry_delays: retry_schedule::DEFAULT_DELAYS.into(),
            allow_insecure_local: true,
            account_concurrency: config::DEFAULT_ACCOUNT_CONCURRENCY,
            repark_delay: config::DEFAULT_REPARK_DELAY,
            analysis_grace: config::DEFAULT_CALL_ANALYSIS_GRACE,
            dial_unknown_deadline: config::DEFAULT_DIAL_UNKNOWN_DEADLINE,
            call_stale_after: config::DEFAULT_CALL_STALE_AFTER,
            api_rate_limit: domain::rate_limit::DEFAULT_API_PER_MINUTE,
            settings_rate_limit: domain::rate_limit::DEFAULT_SETTINGS_PER_MINUTE,
            costly_rate_limit: domain::rate_limit::DEFAULT_COSTLY_PER_MINUTE,
            reconciler_pace: reconciler::Pace::default(),
        }
    }
}

impl Tunables {
    /// The defaults, with the seeded account's secret prefix.
    pub fn for_account(seeded: &Seeded) -> Tunables {
        Tunables {
            secret_prefix: seeded.secret_prefix.clone(),
            ..Tunables::default()
        }
    }
}

impl Ports {
    /// The emulator's adapters: `store`'s table (through whatever client `store` was built
    /// with), the SQS queue at `queue_url` and Secrets Manager; the system clock; and a voice
    /// provider that refuses every call (trigger-call tests set `provider`, e.g. to [`retell`]).
    pub fn emulator(emu: &Emulator, store: &DynamoStore, queue_url: &str) -> Ports {
        Ports {
            store: Arc::new(store.clone()),
            queue: Arc::new(SqsQueue::new(emu.sqs(), queue_url)),
            secrets: Arc::new(emu.secrets()),
            provider: Arc::new(NoProvider),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn trigger_call(&self, t: &Tunables) -> trigger_call::Deps {
        let ports = trigger_call::Ports {
            store: self.store.clone(),
            provider: self.provider.clone(),
            clock: self.clock.clone(),
        };
        trigger_call::Deps::new(ports, &t.trigger_call())
    }

    pub fn settings(&self, t: &Tunables) -> settings::Deps {
        let ports = settings::Ports {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
        };
        settings::Deps::new(ports, &t.settings()).expect("settings deps")
    }

    pub fn call_completed(&self, t: &Tunables) -> call_completed::Deps {
        let ports = call_completed::Ports {
            store: self.store.clone(),
            queue: self.queue.clone(),
            provider_secret: ProviderSecret {
                api_key: t.provider_key.clone(),
            },
            clock: self.clock.clone(),
        };
        call_completed::Deps::new(ports, &t.call_completed())
    }

    pub fn reconciler(&self, t: &Tunables) -> reconciler::Deps {
        let ports = reconciler::Ports {
            store: self.store.clone(),
            queue: self.queue.clone(),
            provider: self.provider.clone(),
            clock: self.clock.clone(),
        };
        reconciler::Deps::new(ports, &t.reconciler())
    }

    pub fn webhook_delivery(&self, t: &Tunables) -> webhook_delivery::Deps {
        let ports = webhook_delivery::Ports {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            queue: self.queue.clone(),
            retries: None,
            clock: self.clock.clone(),
        };
        webhook_delivery::Deps::new(ports, &t.webhook_delivery()).expect("webhook-delivery deps")
    }
}

/// What the ports stand for in a test's `Config`: the adapters are the test's own, so the
/// names a function would build them from are never used.
const BY_PORTS: &str = "(the test's ports)";

impl Tunables {
    /// trigger-call's configuration with these tunables.
    pub fn trigger_call(&self) -> trigger_call::Config {
        trigger_call::Config {
            table_name: BY_PORTS.into(),
            provider_base_url: BY_PORTS.into(),
            provider_secret_name: BY_PORTS.into(),
            provider_timeout: self.provider_timeout,
            dial_unknown_deadline: span(self.dial_unknown_deadline),
            call_stale_after: span(self.call_stale_after),
            rate_limit_per_minute: self.api_rate_limit,
            account_claim: self.account_claim.clone(),
            settings_rate_limit: self.settings_rate_limit,
        }
    }

    /// The settings function's configuration with these tunables.
    pub fn settings(&self) -> settings::Config {
        settings::Config {
            table_name: BY_PORTS.into(),
            events_queue_url: BY_PORTS.into(),
            secret_prefix: self.secret_prefix.clone(),
            webhook_secret_prefix: self.webhook_secret_prefix.clone(),
            signing_secret_overlap: span(self.signing_secret_overlap),
            account_claim: self.account_claim.clone(),
            webhook_timeout: self.webhook_timeout,
            allow_insecure_local: self.allow_insecure_local,
            settings_rate_limit: self.settings_rate_limit,
            costly_rate_limit: self.costly_rate_limit,
        }
    }

    /// call-completed's configuration with these tunables.
    pub fn call_completed(&self) -> call_completed::Config {
        call_completed::Config {
            table_name: BY_PORTS.into(),
            events_queue_url: BY_PORTS.into(),
            provider_secret_name: BY_PORTS.into(),
            analysis_grace: span(self.analysis_grace),
            call_stale_after: span(self.call_stale_after),
        }
    }

    /// The reconciler's configuration with these tunables.
    pub fn reconciler(&self) -> reconciler::Config {
        reconciler::Config {
            table_name: BY_PORTS.into(),
            events_queue_url: BY_PORTS.into(),
            provider_base_url: BY_PORTS.into(),
            provider_secret_name: BY_PORTS.into(),
            provider_timeout: self.provider_timeout,
            dial_unknown_deadline: span(self.dial_unknown_deadline),
            call_stale_after: span(self.call_stale_after),
            pace: self.reconciler_pace,
        }
    }

    /// webhook-delivery's configuration with these tunables.
    pub fn webhook_delivery(&self) -> webhook_delivery::Config {
        webhook_delivery::Config {
            table_name: BY_PORTS.into(),
            events_queue_url: BY_PORTS.into(),
            retries_queue_url: None,
            secret_prefix: self.secret_prefix.clone(),
            webhook_secret_prefix: self.webhook_secret_prefix.clone(),
            webhook_timeout: self.webhook_timeout,
            allow_insecure_local: self.allow_insecure_local,
            schedule: RetrySchedule::parse(&self.retry_delays).expect("retry delays"),
            account_concurrency: self.account_concurrency,
            repark_delay: self.repark_delay,
        }
    }
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("a test duration")
}

/// The production provider client against `base_url` (a test server), with the tunables' key
/// and timeout, as trigger-call's `Deps::from_env` builds it.
pub fn retell(base_url: &str, t: &Tunables) -> Arc<dyn VoiceProvider> {
    Arc::new(
        RetellClient::new(base_url, t.provider_key.clone(), t.provider_timeout)
            .expect("provider client"),
    )
}

/// The provider of tests that place no calls: every call fails as unreachable.
pub struct NoProvider;

#[async_trait]
impl VoiceProvider for NoProvider {
    async fn create_phone_call(
        &self,
        _req: &CreatePhoneCall,
    ) -> Result<ProviderCall, ProviderError> {
        Err(ProviderError::Connect(
            "this test set no voice provider (Ports::provider)".into(),
        ))
    }
}

/// The variables a deployed function reads, as its `Config::VARS` declares them (by the
/// binary's name, as `template.yaml` and the Makefile name it); the drift tests read these.
pub fn declared_vars(binary: &str) -> &'static [config::Var] {
    match binary {
        "trigger-call" => trigger_call::Config::VARS,
        "settings" => settings::Config::VARS,
        "call-completed" => call_completed::Config::VARS,
        "webhook-delivery" => webhook_delivery::Config::VARS,
        "reconciler" => reconciler::Config::VARS,
        other => panic!("no function {other}"),
    }
}

/// `domain::config::check_vars` for the function `binary`: its `Config::from_env` reads
/// exactly its declared variables, with their declared defaults.
pub fn check_declared_vars(binary: &str) -> Result<(), String> {
    let vars = declared_vars(binary);
    match binary {
        "trigger-call" => config::check_vars(vars, trigger_call::Config::from_env),
        "settings" => config::check_vars(vars, settings::Config::from_env),
        "call-completed" => config::check_vars(vars, call_completed::Config::from_env),
        "webhook-delivery" => config::check_vars(vars, webhook_delivery::Config::from_env),
        "reconciler" => config::check_vars(vars, reconciler::Config::from_env),
        other => panic!("no function {other}"),
    }
}
