//! The integration page's API: the API key, the on/off switch, the webhook URL, the default
//! agent, the agent list, the delivery log, a test send and redelivery, the webhook signing
//! secret (`docs/settings-api.md`;
//! routes declared by each handler module, served by `router::ROUTES`).
//!
//! Who is calling was settled before the request got here: API Gateway's JWT authorizer
//! checked the dashboard session and put its claims in the request context; `caller` turns
//! them into the caller's account. Every route then works on that account only.
//!
//! `handle` takes every dependency explicitly, so the Lambda entry point, the local stack and
//! the tests run exactly the same code.

pub mod agents;
pub mod api_key;
pub mod caller;
pub mod calling_rules;
pub mod calls;
pub mod ctx;
pub mod deliveries;
pub mod health;
pub mod integration;
pub mod metrics;
pub mod redeliver;
pub mod resend_dropped;
pub mod router;
pub mod signing_secret;
pub mod suppressions;
pub mod test_send;
pub mod update;

use aws_adapters::{DynamoStore, SecretsManager, SqsQueue};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config;
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::queue::EventQueue;
use domain::ports::secrets::SecretStore;
use domain::ports::store::Store;
use domain::webhook::signing_key::KeyCache;
use domain::webhook::signing_secret::SecretCache;
use lambda_http::{Body, Request, Response};
use outbound::webhook_client::{WebhookClient, DEFAULT_TIMEOUT};
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

impl Deps {
    /// The composition root: the real adapters, built once per cold start from the SDK
    /// configuration and the environment (`main.rs`, the local stack and the bench).
    /// Configurable names default to `domain::config::DEFAULT_*`; the local-development flag
    /// is off unless set.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let allow_insecure_local = config::allow_insecure_local(env)?;
        let timeout = env.millis(config::WEBHOOK_TIMEOUT_MS, DEFAULT_TIMEOUT)?;
        if allow_insecure_local {
            tracing::warn!(
                "WEBHOOK_ALLOW_INSECURE_LOCAL is set: http and loopback webhook URLs are accepted (local development only)"
            );
        }
        Ok(Deps {
            store: Arc::new(DynamoStore::from_sdk(
                sdk,
                env.required(config::TABLE_NAME)?,
            )),
            secrets: Arc::new(SecretsManager::from_sdk(sdk)),
            clock: Arc::new(SystemClock),
            secret_prefix: env
                .optional(config::API_KEY_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_API_KEY_SECRET_PREFIX.to_string()),
            account_claim: env
                .optional(config::ACCOUNT_ID_CLAIM)
                .unwrap_or_else(|| config::DEFAULT_ACCOUNT_ID_CLAIM.to_string()),
            allow_insecure_local,
            queue: Arc::new(SqsQueue::from_sdk(
                sdk,
                env.required(config::EVENTS_QUEUE_URL)?,
            )),
            webhook_client: WebhookClient::new(timeout, allow_insecure_local).map_err(|e| {
                StartupError::Client {
                    what: "webhook",
                    reason: e.to_string(),
                }
            })?,
            key_cache: Arc::new(KeyCache::new()),
            webhook_secret_prefix: env
                .optional(config::WEBHOOK_SECRET_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_WEBHOOK_SECRET_PREFIX.to_string()),
            secret_cache: Arc::new(SecretCache::new()),
            signing_secret_overlap: env.span(
                config::WEBHOOK_SECRET_OVERLAP,
                config::DEFAULT_WEBHOOK_SECRET_OVERLAP,
            )?,
            settings_rate_limit: config::per_minute(
                env,
                config::SETTINGS_RATE_LIMIT_PER_MINUTE,
                domain::rate_limit::DEFAULT_SETTINGS_PER_MINUTE,
            )?,
            costly_rate_limit: config::per_minute(
                env,
                config::COSTLY_RATE_LIMIT_PER_MINUTE,
                domain::rate_limit::DEFAULT_COSTLY_PER_MINUTE,
            )?,
        })
    }
}

/// Serves one request: route, identify the caller, run the route, render the result.
pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    router::dispatch(&req, deps).await
}
