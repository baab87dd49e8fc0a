//! What the function runs on: the adapters (`Ports`) and what the configuration derives for
//! them (`Deps`), built once per cold start. Below every handler, which all take `&Deps`.

use crate::config::Config;
use aws_adapters::{DynamoStore, SecretsManager};
use aws_config::SdkConfig;
use domain::clock::{Clock, SystemClock};
use domain::config::Env;
use domain::error::StartupError;
use domain::ports::provider::VoiceProvider;
use domain::ports::secrets::ProviderSecret;
use domain::ports::store::Store;
use outbound::RetellClient;
use std::sync::Arc;
use std::time::Duration;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
    /// How long a request whose Idempotency-Key is held by a running request waits for that
    /// request's answer before giving up with 409.
    pub idempotency_wait: Duration,
    /// How long a `dial_unknown` call waits for a callback before the reconciler resolves it
    /// as failed (`DIAL_UNKNOWN_DEADLINE`).
    pub dial_unknown_deadline: chrono::Duration,
    /// How long a `dialing` call may go without the provider reporting it before the
    /// reconciler finishes it (`CALL_STALE_AFTER`).
    pub call_stale_after: chrono::Duration,
    /// Requests per minute per API key unless the account has its own
    /// (`API_RATE_LIMIT_PER_MINUTE`, default `rate_limit::DEFAULT_API_PER_MINUTE`).
    pub rate_limit_per_minute: u32,
    /// The JWT claim holding the dashboard caller's account id (`ACCOUNT_ID_CLAIM`), and the
    /// settings limit per account (`SETTINGS_RATE_LIMIT_PER_MINUTE`): `crate::DASHBOARD_ROUTES`
    /// only.
    pub account_claim: String,
    pub settings_rate_limit: u32,
}

/// The adapters trigger-call talks to: the real ones ([`Ports::aws`]) or a test's.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub provider: Arc<dyn VoiceProvider>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The real adapters, built once per cold start from the SDK configuration: the table,
    /// and the provider client with the key from the provider secret.
    pub async fn aws(sdk: &SdkConfig, config: &Config) -> Result<Ports, StartupError> {
        // The provider secret's round trip and the HTTP client's construction overlap: the
        // client is built once the fetch is on its way (docs/benchmarks.md, cold starts).
        let secrets = SecretsManager::from_sdk(sdk);
        let (secret, http) = tokio::join!(
            ProviderSecret::load(&secrets, &config.provider_secret_name),
            async {
                tokio::task::yield_now().await;
                RetellClient::http(config.provider_timeout)
            }
        );
        let http = http.map_err(|e| StartupError::Client {
            what: "voice provider",
            reason: e.to_string(),
        })?;
        let provider = RetellClient::with_http(
            http,
            &config.provider_base_url,
            secret?.api_key,
            config.provider_timeout,
        );
        Ok(Ports {
            store: Arc::new(DynamoStore::from_sdk(sdk, config.table_name.clone())),
            provider: Arc::new(provider),
            clock: Arc::new(SystemClock),
        })
    }
}

impl Deps {
    /// The one way `Deps` are built (`main.rs` through [`Deps::from_env`], the local stack,
    /// the bench, the tests): the adapters, and what the configuration derives for them.
    pub fn new(ports: Ports, config: &Config) -> Deps {
        Deps {
            store: ports.store,
            provider: ports.provider,
            clock: ports.clock,
            idempotency_wait: domain::config::idempotency_wait(config.provider_timeout),
            dial_unknown_deadline: config.dial_unknown_deadline,
            call_stale_after: config.call_stale_after,
            rate_limit_per_minute: config.rate_limit_per_minute,
            account_claim: config.account_claim.clone(),
            settings_rate_limit: config.settings_rate_limit,
        }
    }

    /// The composition root of a cold start: the configuration from `env`, the real adapters.
    pub async fn from_env(sdk: &SdkConfig, env: &Env) -> Result<Deps, StartupError> {
        let config = Config::from_env(env)?;
        Ok(Deps::new(Ports::aws(sdk, &config).await?, &config))
    }
}
