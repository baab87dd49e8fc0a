//! The one way tests build a function's `Deps`: the [`Ports`] a test chose (the emulator's
//! adapters, or in-memory ones, or a wrapper around either) plus the [`Tunables`] the
//! environment would set, assembled as each function's `Deps::from_env` assembles them, with
//! the derived values taken from `domain::config` (never recomputed here).
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
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
use outbound::webhook_client::WebhookClient;
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

    fn webhook_client(&self) -> WebhookClient {
        WebhookClient::new(self.webhook_timeout, self.allow_insecure_local).expect("webhook client")
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
        trigger_call::Deps {
            store: self.store.clone(),
            provider: self.provider.clone(),
            clock: self.clock.clone(),
            idempotency_wait: config::idempotency_wait(t.provider_timeout),
            dial_unknown_deadline: span(t.dial_unknown_deadline),
            call_stale_after: span(t.call_stale_after),
            rate_limit_per_minute: t.api_rate_limit,
        }
    }

    pub fn settings(&self, t: &Tunables) -> settings::Deps {
        settings::Deps {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            secret_prefix: t.secret_prefix.clone(),
            account_claim: t.account_claim.clone(),
            allow_insecure_local: t.allow_insecure_local,
            queue: self.queue.clone(),
            webhook_client: t.webhook_client(),
            key_cache: Arc::new(KeyCache::new()),
            webhook_secret_prefix: t.webhook_secret_prefix.clone(),
            secret_cache: Arc::new(SecretCache::new()),
            signing_secret_overlap: span(t.signing_secret_overlap),
            settings_rate_limit: t.settings_rate_limit,
            costly_rate_limit: t.costly_rate_limit,
        }
    }

    pub fn call_completed(&self, t: &Tunables) -> call_completed::Deps {
        call_completed::Deps {
            store: self.store.clone(),
            queue: self.queue.clone(),
            provider_secret: ProviderSecret {
                api_key: t.provider_key.clone(),
            },
            clock: self.clock.clone(),
            analysis_grace: span(t.analysis_grace),
            call_stale_after: span(t.call_stale_after),
        }
    }

    pub fn reconciler(&self, t: &Tunables) -> reconciler::Deps {
        reconciler::Deps {
            store: self.store.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            provider: self.provider.clone(),
            dial_unknown_deadline: span(t.dial_unknown_deadline),
            call_stale_after: span(t.call_stale_after),
            pace: t.reconciler_pace,
        }
    }

    pub fn webhook_delivery(&self, t: &Tunables) -> webhook_delivery::Deps {
        webhook_delivery::Deps {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            key_cache: KeyCache::new(),
            secret_prefix: t.secret_prefix.clone(),
            secret_cache: SecretCache::new(),
            webhook_secret_prefix: t.webhook_secret_prefix.clone(),
            queue: self.queue.clone(),
            retries: None,
            client: t.webhook_client(),
            schedule: RetrySchedule::parse(&t.retry_delays).expect("retry delays"),
            clock: self.clock.clone(),
            claim_lease: config::claim_lease(),
            fairness: webhook_delivery::fair::Fairness::new(t.account_concurrency, t.repark_delay),
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
