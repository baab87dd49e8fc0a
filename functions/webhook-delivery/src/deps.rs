//! What the function runs on: the adapters (`Ports`) and what the configuration derives for
//! them (`Deps`), built once per cold start, and the queue a message goes back to. Below every
//! step of the pipeline, which all take `&Deps`.

use crate::config::Config;
use crate::slots;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::queue::{DeliveryMessage, EventQueue};
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::retry_schedule::RetrySchedule;
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
use outbound::webhook_client::WebhookClient;
use std::sync::Arc;
use std::time::Duration;

/// What the function needs, built once per cold start.
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub key_cache: KeyCache,
    pub secret_prefix: String,
    /// The webhook signing secrets (`webhook-signature`), cached by version.
    pub secret_cache: SecretCache,
    /// Secret name prefix of the signing secrets (`WEBHOOK_SECRET_PREFIX`).
    pub webhook_secret_prefix: String,
    /// The first-attempts queue (`EVENTS_QUEUE_URL`).
    pub queue: Arc<dyn EventQueue>,
    /// The retries lane's queue (`RETRIES_QUEUE_URL`); `None`: the retries share `queue`.
    pub retries: Option<Arc<dyn EventQueue>>,
    pub client: WebhookClient,
    pub schedule: RetrySchedule,
    pub clock: Arc<dyn Clock>,
    /// How long a claimed attempt is reserved for its sender: `config::claim_lease()`, the
    /// queue's visibility timeout.
    pub claim_lease: Duration,
    /// Per-account delivery slots (`WEBHOOK_ACCOUNT_CONCURRENCY`, `WEBHOOK_REPARK_DELAY_MS`).
    pub fairness: slots::Fairness,
}

/// The adapters webhook-delivery talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    /// The first-attempts queue.
    pub queue: Arc<dyn EventQueue>,
    /// The retries lane's queue; `None`: the retries share `queue`.
    pub retries: Option<Arc<dyn EventQueue>>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration: the table, Secrets Manager, both queues.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Ports {
        Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            secrets: Arc::new(SecretsManager::from_sdk(sdk)),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            retries: config
                .retries_queue_url
                .clone()
                .map(|url| Arc::new(SqsQueue::from_sdk(sdk, url)) as Arc<dyn EventQueue>),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests): the adapters, the webhook client, the caches and the fairness
    /// slots the configuration asks for.
    pub fn new(ports: Ports, config: &Config) -> Result<Deps, StartupError> {
        Ok(Deps {
            store: ports.store,
            secrets: ports.secrets,
            key_cache: KeyCache::new(),
            secret_prefix: config.secret_prefix.clone(),
            secret_cache: SecretCache::new(),
            webhook_secret_prefix: config.webhook_secret_prefix.clone(),
            queue: ports.queue,
            retries: ports.retries,
            client: WebhookClient::new(config.webhook_timeout, config.allow_insecure_local)
                .map_err(|e| StartupError::Client {
                    what: "webhook",
                    reason: e.to_string(),
                })?,
            schedule: config.schedule.clone(),
            clock: ports.clock,
            claim_lease: domain::config::claim_lease(),
            fairness: slots::Fairness::new(config.account_concurrency, config.repark_delay),
        })
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Deps::new(Ports::aws(sdk, &config), &config)
    }
}

impl Deps {
    /// The queue `msg` is sent to: the retries lane's for retries and diverted first
    /// attempts (`DeliveryMessage::on_retries_lane`) when there is one, the first-attempts
    /// queue otherwise.
    pub fn queue_for(&self, msg: &DeliveryMessage) -> &dyn EventQueue {
        match &self.retries {
            Some(retries) if msg.on_retries_lane() => retries.as_ref(),
            _ => self.queue.as_ref(),
        }
    }

    /// True when a hanging endpoint's first attempts can be moved off the first-attempts
    /// queue (there is a retries lane to move them to).
    pub fn has_retries_lane(&self) -> bool {
        self.retries.is_some()
    }
}
