//! What the function runs on: the adapters (`Ports`) and what the configuration derives for
//! them (`Deps`), built once per cold start. Below every handler, which all take `&Deps`.

use crate::config::Config;
use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
use outbound::webhook_client::WebhookClient;
use std::sync::Arc;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    /// Where the account's API key (the webhook signing secret) is kept.
    pub secrets: Arc<dyn SecretStore>,
    pub clock: Arc<dyn Clock>,
    /// Secret name prefix; the account id is appended (`API_KEY_SECRET_PREFIX`).
    pub secret_prefix: String,
    /// The JWT claim that holds the account id (`ACCOUNT_ID_CLAIM`).
    pub account_claim: String,
    /// Local development only (`WEBHOOK_ALLOW_INSECURE_LOCAL`): admits http and loopback
    /// webhook URLs. Never set in AWS and never settable through the API.
    pub allow_insecure_local: bool,
    /// Redeliveries go through the delivery function via the events queue.
    pub queue: Arc<dyn EventQueue>,
    /// The same guarded client and key cache as the delivery function, for test sends.
    pub webhook_client: WebhookClient,
    pub key_cache: Arc<KeyCache>,
    /// The webhook signing secrets: where they are kept (`WEBHOOK_SECRET_PREFIX`), a cache by
    /// version, and how long a rotated-out one keeps signing (`WEBHOOK_SECRET_OVERLAP`).
    pub webhook_secret_prefix: String,
    pub secret_cache: Arc<SecretCache>,
    pub signing_secret_overlap: chrono::Duration,
    /// Settings API requests per minute per account (`SETTINGS_RATE_LIMIT_PER_MINUTE`).
    pub settings_rate_limit: u32,
    /// Test sends, redeliveries and recoveries per minute per account
    /// (`COSTLY_RATE_LIMIT_PER_MINUTE`).
    pub costly_rate_limit: u32,
}

/// The adapters the settings function talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub queue: Arc<dyn EventQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters from the SDK configuration: the table, Secrets Manager, the events
    /// queue.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Ports {
        Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            secrets: Arc::new(SecretsManager::from_sdk(sdk)),
            queue: Arc::new(SqsQueue::from_sdk(sdk, config.events_queue_url.clone())),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the tests): the adapters, the webhook client and the caches the configuration asks for.
    pub fn new(ports: Ports, config: &Config) -> Result<Deps, StartupError> {
        Ok(Deps {
            store: ports.store,
            secrets: ports.secrets,
            clock: ports.clock,
            secret_prefix: config.secret_prefix.clone(),
            account_claim: config.account_claim.clone(),
            allow_insecure_local: config.allow_insecure_local,
            queue: ports.queue,
            webhook_client: WebhookClient::new(config.webhook_timeout, config.allow_insecure_local)
                .map_err(|e| StartupError::Client {
                    what: "webhook",
                    reason: e.to_string(),
                })?,
            key_cache: Arc::new(KeyCache::new()),
            webhook_secret_prefix: config.webhook_secret_prefix.clone(),
            secret_cache: Arc::new(SecretCache::new()),
            signing_secret_overlap: config.signing_secret_overlap,
            settings_rate_limit: config.settings_rate_limit,
            costly_rate_limit: config.costly_rate_limit,
        })
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        if config.allow_insecure_local {
            tracing::warn!(
                "WEBHOOK_ALLOW_INSECURE_LOCAL is set: http and loopback webhook URLs are accepted (local development only)"
            );
        }
        Deps::new(Ports::aws(sdk, &config), &config)
    }
}
